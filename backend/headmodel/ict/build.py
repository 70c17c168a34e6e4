"""ICT-FaceKit as a HeadModelData: parts kept, units and origin converted, deltas stored compactly.

ICT's axes already match the project's (+X the subject's left, +Y up, +Z forward); its units are
centimetres. The model is moved so that its origin sits where the built-in head's does relative
to the eyes. Expression and identity deltas are `target mesh - neutral mesh`, as in ICT's own
scripts; vertex i of the result is ICT vertex i for the default parts (all dropped parts come
after them in ICT's numbering).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import BackendError
from .. import landmark_layouts
from ..arkit import ARKIT_NAMES
from ..builtin.rig import JOINT_NAMES, JOINT_PARENTS
from ..format import HeadModelData, Landmarks
from . import rig
from .atlas import pack_atlas
from .obj import ObjMesh, read_mesh, read_positions
from .topology import ICT_LIGHT, NEUTRAL, REPOSITORY, IctFolder, Topology, open_folder

METRES_PER_UNIT = 0.01  # ICT-FaceKit is in centimetres
FLOAT16_TOLERANCE = 5e-5  # metres: deltas are stored as float16 when rounding moves no vertex further
IRIS_CENTRES = {"eyeRight": 468, "eyeLeft": 473}  # mediapipe's iris-centre landmark per eye joint


def build_ict_head(path: str | Path, identities: int | None = None, with_parts: tuple[str, ...] = (),
                   topology: Topology = ICT_LIGHT, commit: str | None = None) -> HeadModelData:
    """Read an ICT-FaceKit checkout (or its FaceXModel folder). `identities`: how many identity
    modes to keep (all present when None); `with_parts`: optional parts to keep (eyelashes, ...)."""
    unknown = sorted(set(with_parts) - set(topology.optional_parts))
    if unknown:
        raise BackendError(f"unknown ICT part(s) {', '.join(unknown)}: choose from {', '.join(topology.optional_parts)}.")
    folder = open_folder(Path(path), identities)
    mesh = read_mesh(folder.model / NEUTRAL)
    _check_vertex_count(mesh.positions, folder.model / NEUTRAL, topology)
    part_names = [p for p in topology.parts if p not in topology.optional_parts or p in with_parts]
    kept = np.sort(np.concatenate([_ids(r) for p in part_names for r in topology.parts[p]]))
    new_id = np.full(topology.vertex_count, -1)
    new_id[kept] = np.arange(len(kept))
    vertex_parts = np.zeros(topology.vertex_count, np.uint8)
    for index, part in enumerate(part_names):
        for r in topology.parts[part]:
            vertex_parts[_ids(r)] = index
    in_kept = (new_id[mesh.triangles] >= 0).all(1)
    uvs, uv_triangles, atlas_cells = pack_atlas(mesh.uvs, mesh.uv_triangles[in_kept], mesh.triangle_materials[in_kept],
                                                mesh.materials)

    neutral = mesh.positions[kept] * METRES_PER_UNIT
    scleras = {eye: new_id[_ids(sclera)] for eye, (sclera, _) in topology.eyes.items()}
    origin = rig.head_origin(rig.eye_pivots(neutral, scleras))
    template = neutral - origin
    joint_positions = lambda vertices: rig.joint_positions(rig.eye_pivots(vertices, scleras))
    joints = joint_positions(template)
    delta = lambda paths: sum(_delta(p, mesh.positions, topology)[kept] for p in paths) * METRES_PER_UNIT
    expressions = np.zeros((len(ARKIT_NAMES), len(kept), 3))
    for name, paths in folder.expression_files.items():
        expressions[ARKIT_NAMES.index(name)] = delta(paths)
    identity = np.array([delta([p]) for p in folder.identity_files]).reshape(-1, len(kept), 3)
    eyeballs = {eye: new_id[np.r_[_ids(sclera), _ids(iris)]] for eye, (sclera, iris) in topology.eyes.items()}
    pupils = {eye: new_id[_pupil(mesh, sclera)] for eye, (sclera, _) in topology.eyes.items()}

    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)
    return HeadModelData(
        name="ict", description=f"ICT-FaceKit light model (MIT, USC ICT), imported: {len(identity)} identity "
                                "modes, ARKit expressions.",
        template=f32(template), triangles=new_id[mesh.triangles[in_kept]].astype(np.int32),
        uvs=uvs, uv_triangles=uv_triangles, part_names=part_names, vertex_parts=vertex_parts[kept],
        identity_names=[p.stem for p in folder.identity_files], identity_directions=compact(identity),
        expression_names=list(ARKIT_NAMES), expression_directions=compact(expressions),
        joint_names=list(JOINT_NAMES), joint_parents=list(JOINT_PARENTS), joints=f32(joints),
        joint_identity_directions=f32(np.array([joint_positions(template + d) - joints for d in identity])
                                      .reshape(-1, len(JOINT_NAMES), 3)),
        skin_weights=f32(rig.skin_weights(template, eyeballs, joints[0])),
        expression_joint_rotations=f32(rig.expression_joint_rotations()),
        landmarks=_landmarks(new_id[folder.landmark_vertices], pupils),
        extra=_provenance(folder, part_names, topology, origin, atlas_cells, commit or folder.commit))


def compact(directions: np.ndarray) -> np.ndarray:
    """float16 when that moves no vertex by more than FLOAT16_TOLERANCE, else float32."""
    half = directions.astype(np.float16)
    error = np.abs(half.astype(np.float64) - directions).max(initial=0.0)
    return half if error <= FLOAT16_TOLERANCE else directions.astype(np.float32)


def _ids(vertex_range: range) -> np.ndarray:
    return np.arange(vertex_range.start, vertex_range.stop)


def _check_vertex_count(positions: np.ndarray, path: Path, topology: Topology) -> None:
    if len(positions) != topology.vertex_count:
        raise BackendError(f"{path} has {len(positions)} vertices, ICT-FaceKit's light model has "
                           f"{topology.vertex_count}: re-download it from {REPOSITORY}.")


def _delta(path: Path, neutral: np.ndarray, topology: Topology) -> np.ndarray:
    positions = read_positions(path)
    _check_vertex_count(positions, path, topology)
    return positions - neutral


def _pupil(mesh: ObjMesh, sclera: range) -> int:
    """The ICT vertex at the pupil: the sclera (and cornea) vertex nearest the centre of its texture,
    where ICT's eye textures draw the pupil."""
    corners = mesh.triangles.ravel()
    on_sclera = (corners >= sclera.start) & (corners < sclera.stop)
    uv = mesh.uvs[mesh.uv_triangles.ravel()[on_sclera]]
    return int(corners[on_sclera][np.argmin(np.linalg.norm(uv - np.floor(uv) - 0.5, axis=1))])


def _landmarks(ibug_vertices: np.ndarray, iris_centres: dict[str, int]) -> dict[str, Landmarks]:
    """iBUG-68 on ICT's Multi-PIE vertices; mediapipe where iBUG has a counterpart, plus the pupils."""
    if (ibug_vertices < 0).any():
        raise BackendError("ICT's landmark vertices lie on a dropped part: keep the face part.")
    on_vertex = lambda ids: (np.repeat(np.asarray(ids, np.int64)[:, None], 3, 1),
                             np.tile(np.array([1.0, 0.0, 0.0], np.float32), (len(ids), 1)))
    mediapipe = dict(zip(landmark_layouts.IBUG68_FROM_MEDIAPIPE, ibug_vertices))
    mediapipe.update({IRIS_CENTRES[eye]: vertex for eye, vertex in iris_centres.items()})
    order = sorted(mediapipe)
    return {"ibug68": Landmarks(np.arange(68, dtype=np.int64), *on_vertex(ibug_vertices)),
            "mediapipe": Landmarks(np.array(order, np.int64), *on_vertex([mediapipe[i] for i in order]))}


def _provenance(folder: IctFolder, part_names: list[str], topology: Topology, origin: np.ndarray,
                atlas_cells: list[str], commit: str | None) -> dict:
    present = set(folder.expression_files)
    extra = {
        "source": f"ICT-FaceKit light model ({REPOSITORY}), imported from {folder.model}",
        "licence": "MIT, Copyright (c) 2020 USC Institute for Creative Technologies",
        "units": "metres (ICT's centimetres x 0.01)",
        "axes": "+X subject's left, +Y up, +Z forward (ICT's own axes)",
        "origin_in_ict_units": [round(float(c), 5) for c in origin / METRES_PER_UNIT],
        "kept_parts": part_names,
        "dropped_parts": [p for p in topology.parts if p not in part_names],
        "merged_expressions": {name: [p.stem for p in paths] for name, paths in folder.expression_files.items()
                               if len(paths) > 1},
        "zero_expressions": [name for name in ARKIT_NAMES if name not in present],
        "unused_ict_expressions": folder.unused_expressions,
        "eye_look": "eyeLook* codes keep ICT's lid shapes and also turn the eyeballs about their pivots",
        "jaw": "ICT's jaw codes are blend shapes; the jaw joint carries no vertices",
        "landmarks": "ibug68: ICT's Multi-PIE 68 vertices; mediapipe: their mediapipe counterparts, and the iris centres (468, 473) at the pupils",
        "uv_atlas": atlas_cells,
    }
    if extra["zero_expressions"]:
        extra["zero_expressions_note"] = "ICT-FaceKit has no such shape: stored as zero offsets"
    if commit:
        extra["commit"] = commit
    return extra
