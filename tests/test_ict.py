"""The ICT-FaceKit importer: on a small folder in ICT's layout written here, and on the real data
in ../shared/headmodels/ict-facekit/ when it is present."""

import json
import math
import shutil
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest
import torch

from backend.errors import BackendError
from backend.headmodel import ARKIT_NAMES, landmark_layouts, load_head
from backend.headmodel.format import write_headmodel
from backend.headmodel.ict.build import FLOAT16_TOLERANCE, build_ict_head, compact
from backend.headmodel.ict.fetch import fetch_ict
from backend.headmodel.ict.obj import read_positions
from backend.headmodel.ict.topology import Topology, arkit_name
from backend.headmodel.model import HeadModel

from conftest import SHARED

REAL = SHARED / "headmodels" / "ict-facekit"
EYE_CENTRES = {"left": np.array([3.1, 3.6, 8.0]), "right": np.array([-3.1, 3.6, 8.0])}  # centimetres, like ICT
EYE_RADIUS = 1.2


# ---------------------------------------------------------------- a small folder in ICT's layout


class Mesh:
    """Vertices, UVs and polygons (corner lists of (vertex, uv) ids) grouped by material."""

    def __init__(self):
        self.positions, self.uvs, self.groups = [], [], {}

    def add(self, positions, uvs, polygons, material):
        """polygons index the new positions and uvs from 0; returns the new vertex ids."""
        v0, t0 = len(self.positions), len(self.uvs)
        self.positions += list(positions)
        self.uvs += list(uvs)
        self.groups.setdefault(material, []).extend([[(v0 + v, t0 + t) for v, t in p] for p in polygons])
        return range(v0, len(self.positions))


def grid(mesh, nx, ny, x, y, z, tile, material):
    xs, ys = np.meshgrid(np.linspace(*x, nx), np.linspace(*y, ny))
    positions = np.stack([xs.ravel(), ys.ravel(), z(xs.ravel(), ys.ravel())], 1)
    uvs = np.stack([tile + (xs.ravel() - x[0]) / (x[1] - x[0]) * 0.9 + 0.05, (ys.ravel() - y[0]) / (y[1] - y[0])], 1)
    at = lambda i, j: (j * nx + i, j * nx + i)
    quads = [[at(i, j), at(i + 1, j), at(i + 1, j + 1), at(i, j + 1)] for j in range(ny - 1) for i in range(nx - 1)]
    quads[0] = quads[0][:3]  # one triangle among the quads, as in ICT
    return mesh.add(positions, uvs, quads, material)


def sphere_points(centre, radius, thetas, phis):
    """Points at polar angle theta from +Z (the front) and azimuth phi; UVs centred on the front pole."""
    theta, phi = np.meshgrid(thetas, phis, indexing="ij")
    theta, phi = theta.ravel(), phi.ravel()
    direction = np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], 1)
    uvs = 0.5 + 0.45 * (theta / np.pi)[:, None] * np.stack([np.cos(phi), np.sin(phi)], 1)
    return centre + radius * direction, uvs


def eyeball(mesh, side):
    """A sclera (front pole, five rings, back pole) and an iris cap in front of it."""
    centre, name = EYE_CENTRES[side], side.capitalize()
    phis = np.linspace(0, 2 * np.pi, 10, endpoint=False)
    rings, uvs = sphere_points(centre, EYE_RADIUS, np.linspace(0.35, np.pi - 0.35, 5), phis)
    poles, pole_uvs = sphere_points(centre, EYE_RADIUS, [0.0, np.pi], [0.0])
    n = len(rings)
    ring = lambda r, k: 1 + r * 10 + k % 10
    polygons = [[(0, 0), (ring(0, k), ring(0, k)), (ring(0, k + 1), ring(0, k + 1))] for k in range(10)]
    polygons += [[(ring(r, k), ring(r, k)), (ring(r + 1, k), ring(r + 1, k)), (ring(r + 1, k + 1), ring(r + 1, k + 1)),
                  (ring(r, k + 1), ring(r, k + 1))] for r in range(4) for k in range(10)]
    polygons += [[(n + 1, n + 1), (ring(4, k + 1), ring(4, k + 1)), (ring(4, k), ring(4, k))] for k in range(10)]
    sclera = mesh.add(np.r_[poles[:1], rings, poles[1:]], np.r_[pole_uvs[:1], uvs, pole_uvs[1:]], polygons,
                      f"M_Sclera{name}")
    cap, cap_uvs = sphere_points(centre, EYE_RADIUS + 0.01, [0.0, 0.2], phis)
    cap, cap_uvs = cap[9:], cap_uvs[9:]  # the pole once, then one ring
    iris = mesh.add(cap, cap_uvs, [[(0, 0), (1 + k, 1 + k), (1 + (k + 1) % 10, 1 + (k + 1) % 10)] for k in range(10)],
                    f"M_Iris{name}")
    return sclera, iris


def write_obj(path, mesh, positions):
    lines = ["# ICT-style test mesh", "mtllib ICTFaceModelMaterial.mtl"]
    lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in positions]
    lines += [f"vt {u:.6f} {v:.6f}" for u, v in mesh.uvs]
    for material, polygons in mesh.groups.items():
        lines.append(f"usemtl {material}")
        lines += ["f " + " ".join(f"{v + 1}/{t + 1}" for v, t in p) for p in polygons]
    path.write_text("\n".join(lines) + "\n")


class SmallIct:
    """Writes FaceXModel/ with a neutral mesh, three expressions (+ one listed without a file, as
    newer ICT releases list shapes ARKit lacks), two identities and vertex_indices.json."""

    def __init__(self, root):
        mesh = Mesh()
        face = grid(mesh, 12, 10, (-6, 6), (-8, 8), lambda x, y: 9 - 0.05 * x ** 2, 0, "M_Face")
        head = grid(mesh, 6, 5, (-6, 6), (-8, 8), lambda x, y: -8 + 0 * x, 1, "M_BackHead")
        left, right = eyeball(mesh, "left"), eyeball(mesh, "right")
        lashes = grid(mesh, 4, 2, (2, 5), (4.5, 5), lambda x, y: 9.5 + 0 * x, 6, "M_EyeLashes")
        self.mesh, self.neutral = mesh, np.round(np.array(mesh.positions), 6)
        self.quads = sum(len(p) == 4 for g in mesh.groups.values() for p in g)
        self.polygon_triangles = sum(len(p) - 2 for g in mesh.groups.values() for p in g)
        self.lashes = lashes
        self.topology = Topology(
            vertex_count=len(self.neutral),
            parts={"face": (face,), "head_and_neck": (head,), "eyeballs": (range(left[0].start, left[1].stop),
                                                                         range(right[0].start, right[1].stop)),
                   "eyelashes": (lashes,)},
            optional_parts=("eyelashes",), eyes={"eyeLeft": left, "eyeRight": right})
        rng = np.random.default_rng(0)
        x = self.neutral[:, 0]
        in_face = np.isin(np.arange(len(x)), face)
        brow = lambda side: (in_face & (side * x > 0))[:, None] * [0.0, 0.5, 0.1]
        self.targets = {"browInnerUp_L": brow(1), "browInnerUp_R": brow(-1),
                        "mouthSmile_L": in_face[:, None] * rng.normal(0, 0.3, self.neutral.shape),
                        "identity000": 0.02 * (self.neutral - [0, 3.6, 1.7]),
                        "identity001": in_face[:, None] * rng.normal(0, 0.1, self.neutral.shape)}
        self.model = root / "FaceXModel"
        self.model.mkdir(parents=True)
        write_obj(self.model / "generic_neutral_mesh.obj", mesh, self.neutral)
        for name, offset in self.targets.items():
            write_obj(self.model / f"{name}.obj", mesh, self.neutral + offset)
        self.landmarks = [int(i) for i in np.arange(68) + 20]
        expressions = ["browInnerUp_L", "browInnerUp_R", "mouthSmile_L", "PupilDilate_L"]
        (self.model / "vertex_indices.json").write_text(json.dumps({"expressions": expressions,
                                                                    "idx_to_landmark_verts": self.landmarks}))
        self.root = root

    def delta_metres(self, name):
        return (np.round(self.neutral + self.targets[name], 6) - self.neutral) * 0.01

    def build(self, **kwargs):
        return build_ict_head(self.root, topology=self.topology, **kwargs)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return SmallIct(tmp_path_factory.mktemp("ict") / "ICT-FaceKit")


@pytest.fixture(scope="module")
def small_head(small):
    return small.build()


def test_ict_names_map_to_arkit():
    assert arkit_name("browDown_L") == "browDownLeft" and arkit_name("eyeLookOut_R") == "eyeLookOutRight"
    assert arkit_name("jawOpen") == "jawOpen" and arkit_name("mouthLeft") == "mouthLeft"
    assert arkit_name("browInnerUp_R") == "browInnerUp" and arkit_name("cheekPuff_L") == "cheekPuff"
    assert arkit_name("PupilDilate_L") is None and arkit_name("cheekRaiser_R") is None


def test_small_folder_names_and_provenance(small_head):
    data = small_head
    assert data.expression_names == list(ARKIT_NAMES)
    assert data.identity_names == ["identity000", "identity001"]
    assert data.extra["merged_expressions"] == {"browInnerUp": ["browInnerUp_L", "browInnerUp_R"]}
    assert data.extra["unused_ict_expressions"] == ["PupilDilate_L"]
    assert "tongueOut" in data.extra["zero_expressions"] and "mouthSmileLeft" not in data.extra["zero_expressions"]
    assert data.extra["dropped_parts"] == ["eyelashes"] and data.extra["licence"].startswith("MIT")


def test_small_folder_is_triangulated_and_trimmed(small, small_head):
    data = small_head
    lashes = small.topology.parts["eyelashes"][0]
    lash_triangles = sum(len(p) - 2 for p in small.mesh.groups["M_EyeLashes"])
    assert len(data.template) == small.topology.vertex_count - len(lashes)
    assert len(data.triangles) == small.polygon_triangles - lash_triangles
    assert data.triangles.dtype == np.int32 and data.triangles.max() < len(data.template)
    # every quad became two triangles over its own four corners, covering its area
    area = lambda tris, points: 0.5 * np.linalg.norm(np.cross(points[tris[:, 1]] - points[tris[:, 0]],
                                                              points[tris[:, 2]] - points[tris[:, 0]]), axis=1).sum()
    face_quads = [[v for v, _ in p] for p in small.mesh.groups["M_Face"] if len(p) == 4]
    quad_area = sum(area(np.array([q[:3], [q[0], q[2], q[3]]]), small.neutral * 0.01) for q in face_quads)
    face_tris = data.triangles[(data.triangles < len(small.topology.parts["face"][0])).all(1)]
    assert len(face_tris) == 2 * len(face_quads) + 1
    assert area(face_tris, data.template) == pytest.approx(quad_area + area(face_tris[:1], data.template), rel=1e-5)


def test_small_folder_units_origin_and_eyes(small, small_head):
    data = small_head
    origin = (EYE_CENTRES["left"] + EYE_CENTRES["right"]) / 2 - [0, 0, 6.3]
    kept = np.r_[0:small.lashes.start]
    np.testing.assert_allclose(data.template, (small.neutral[kept] - origin) * 0.01, atol=1e-7)
    np.testing.assert_allclose(data.joints[2], (EYE_CENTRES["left"] - origin) * 0.01, atol=1e-6)
    np.testing.assert_allclose(data.joints[3], (EYE_CENTRES["right"] - origin) * 0.01, atol=1e-6)
    assert data.joint_names == ["neck", "jaw", "eyeLeft", "eyeRight"] and data.joint_parents == [-1, 0, 0, 0]
    # identity000 scales the head by 2 %: the eye pivots follow
    np.testing.assert_allclose(data.joint_identity_directions[0, 2], 0.02 * (EYE_CENTRES["left"] - [0, 3.6, 1.7]) * 0.01,
                               atol=1e-6)
    eyeballs = data.vertex_parts == data.part_names.index("eyeballs")
    assert (data.skin_weights[eyeballs].sum(1) == 1).all() and (data.skin_weights[:, 1] == 0).all()


def test_small_folder_deltas_are_exact_to_float16(small, small_head):
    data = small_head
    kept = np.r_[0:small.lashes.start]
    assert data.expression_directions.dtype == np.float16 and data.identity_directions.dtype == np.float16
    expected = {"browInnerUp": small.delta_metres("browInnerUp_L") + small.delta_metres("browInnerUp_R"),
                "mouthSmileLeft": small.delta_metres("mouthSmile_L")}
    for name, delta in expected.items():
        stored = data.expression_directions[ARKIT_NAMES.index(name)].astype(np.float64)
        np.testing.assert_allclose(stored, delta[kept], rtol=2 ** -11, atol=1e-7)
        assert np.abs(stored - delta[kept]).max() <= FLOAT16_TOLERANCE
    for k in range(2):
        np.testing.assert_allclose(data.identity_directions[k].astype(np.float64),
                                   small.delta_metres(f"identity{k:03d}")[kept], rtol=2 ** -11, atol=1e-7)
    assert not data.expression_directions[ARKIT_NAMES.index("tongueOut")].any()


def test_compact_keeps_float32_when_float16_is_too_coarse():
    fine = np.full((1, 2, 3), 0.01)
    coarse = np.full((1, 2, 3), 1.0 + 2 ** -12)  # float16 rounds this by 0.24 mm
    assert compact(fine).dtype == np.float16 and compact(coarse).dtype == np.float32


def test_small_folder_landmarks(small, small_head):
    head = HeadModel(small_head)
    out = head()
    ibug = out.landmarks["ibug68"][0].numpy()
    np.testing.assert_allclose(ibug, head.template.numpy()[small.landmarks], atol=1e-7)
    order = list(head.landmark_indices("mediapipe").numpy())
    mediapipe = out.landmarks["mediapipe"][0].numpy()
    assert set(order) == set(landmark_layouts.IBUG68_FROM_MEDIAPIPE) | {468, 473}
    for k, index in enumerate(landmark_layouts.IBUG68_FROM_MEDIAPIPE):
        np.testing.assert_array_equal(mediapipe[order.index(index)], ibug[k])
    for index, eye in ((473, 2), (468, 3)):  # the pupils: in front of their eye's pivot
        offset = mediapipe[order.index(index)] - head.joints[eye].numpy()
        np.testing.assert_allclose(offset, [0, 0, EYE_RADIUS * 0.01], atol=1e-6)


def test_small_folder_eye_look_turns_the_eyeball(small_head):
    head = HeadModel(small_head)
    order = list(head.landmark_indices("mediapipe").numpy())
    expression = torch.zeros(2, 52)
    expression[1, ARKIT_NAMES.index("eyeLookUpLeft")] = 1.0
    pupils = head(expression=expression).landmarks["mediapipe"][:, [order.index(473), order.index(468)]].numpy()
    assert pupils[1, 0, 1] - pupils[0, 0, 1] > 0.004  # the left pupil rose
    np.testing.assert_allclose(pupils[1, 1], pupils[0, 1], atol=1e-7)  # the right eye stayed


def test_small_folder_uv_atlas(small_head):
    data = small_head
    assert data.uvs.min() >= 0 and data.uvs.max() <= 1 and data.uvs.dtype == np.float32
    assert len(data.extra["uv_atlas"]) == 6  # face, back of head, sclera and iris of each eye
    # the eyes' materials each fill the unit square in ICT: after packing no two materials overlap
    corners = data.uvs[data.uv_triangles].astype(np.float64)
    side = math.ceil(math.sqrt(len(data.extra["uv_atlas"])))
    cell_counts = []
    for cell in range(len(data.extra["uv_atlas"])):
        low = np.array([cell % side, cell // side]) / side
        cell_counts.append(((corners >= low - 1e-6) & (corners <= low + 1 / side + 1e-6)).all((1, 2)).sum())
    assert sum(cell_counts) == len(data.triangles) and min(cell_counts) > 0


def test_optional_parts_are_kept_when_asked(small):
    data = small.build(with_parts=("eyelashes",))
    assert len(data.template) == small.topology.vertex_count and "eyelashes" in data.part_names
    with pytest.raises(BackendError, match="unknown ICT part"):
        small.build(with_parts=("hair",))


def test_missing_files_are_named(small, tmp_path):
    with pytest.raises(BackendError, match="generic_neutral_mesh.obj.*vertex_indices.json.*git"):
        build_ict_head(tmp_path, topology=small.topology)
    broken = tmp_path / "ICT-FaceKit"
    shutil.copytree(small.root, broken)
    (broken / "FaceXModel" / "mouthSmile_L.obj").unlink()
    with pytest.raises(BackendError, match="incomplete: mouthSmile_L.obj missing"):
        build_ict_head(broken, topology=small.topology)
    with pytest.raises(BackendError, match="identity002.obj, identity003.obj missing.*at most 2 identities"):
        small.build(identities=4)


def test_wrong_topology_is_named(small, tmp_path):
    broken = tmp_path / "ICT-FaceKit"
    shutil.copytree(small.root, broken)
    (broken / "FaceXModel" / "identity001.obj").write_text("v 0 0 0\n")
    with pytest.raises(BackendError, match=r"identity001.obj has 1 vertices"):
        build_ict_head(broken, topology=small.topology)


def test_head_name_ict_reads_the_cache(small_head, tmp_path, monkeypatch):
    monkeypatch.setenv("HEAD_AVATAR_CACHE", str(tmp_path))
    with pytest.raises(BackendError, match="import-ict"):
        load_head("ict")
    write_headmodel(small_head, tmp_path / "ict.safetensors")
    assert load_head("ict").num_vertices == len(small_head.template)


def test_cli_import_names_the_missing_files(tmp_path):
    result = subprocess.run([sys.executable, "-m", "backend", "headmodel", "import-ict", str(tmp_path), "--out",
                             str(tmp_path / "x.safetensors")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "generic_neutral_mesh.obj" in result.stderr and "Traceback" not in result.stderr


def test_fetch_fails_fast_offline(tmp_path):
    start = time.perf_counter()
    with pytest.raises(BackendError, match="git clone https://github.com/ICT-VGL/ICT-FaceKit.*import-ict"):
        fetch_ict(tmp_path / "ICT-FaceKit", url="http://127.0.0.1:9/ICT-FaceKit.zip")  # nothing listens there
    assert time.perf_counter() - start < 10


def test_fetch_unpacks_the_model_folder(small, tmp_path):
    archive = tmp_path / "archive.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in small.model.iterdir():
            bundle.write(path, f"ICT-FaceKit-main/FaceXModel/{path.name}")
        bundle.writestr("ICT-FaceKit-main/LICENSE", "MIT")
        bundle.writestr("ICT-FaceKit-main/Scripts/face_model.py", "# not needed")
        bundle.comment = b"da5f95a607f5e6b37755b38d3385d7f2853732e5"
    commit = fetch_ict(tmp_path / "ICT-FaceKit", url=archive.as_uri())
    assert commit == "da5f95a607f5e6b37755b38d3385d7f2853732e5"
    unpacked = sorted(p.relative_to(tmp_path / "ICT-FaceKit").as_posix() for p in (tmp_path / "ICT-FaceKit").rglob("*"))
    assert unpacked == sorted(["FaceXModel", "LICENSE"] + [f"FaceXModel/{p.name}" for p in small.model.iterdir()])
    assert build_ict_head(tmp_path / "ICT-FaceKit", topology=small.topology, commit=commit).extra["commit"] == commit


# ---------------------------------------------------------------- the real ICT-FaceKit


needs_real = pytest.mark.skipif(not (REAL / "FaceXModel" / "generic_neutral_mesh.obj").is_file(),
                                reason=f"ICT-FaceKit is not in {REAL} (see shared/headmodels/SOURCES.md)")


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """Imported once through the CLI into a temporary cache: (HeadModel, seconds the import took)."""
    from backend.cli import main

    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HEAD_AVATAR_CACHE", str(cache))
        start = time.perf_counter()
        assert main(["headmodel", "import-ict", str(REAL)]) == 0
        seconds = time.perf_counter() - start
        head = load_head("ict")
    return head, seconds


@needs_real
def test_real_import_is_quick_and_counts_match_the_readme(real):
    head, seconds = real
    assert seconds < 60
    # README topology table: parts #0-#8 (face .. eyeball right) are vertices [0:24590] and
    # polygons [0:24691]; those polygons are 24144 quads and 548 triangles.
    assert head.num_vertices == 24591
    assert head.num_triangles == 2 * 24144 + 548
    assert head.part_names == ["face", "head_and_neck", "mouth_interior", "eye_sockets", "gums_and_tongue", "teeth",
                               "eyeballs"]
    assert head.num_identity == len(list((REAL / "FaceXModel").glob("identity*.obj")))


@needs_real
def test_real_expressions_are_all_arkit(real):
    head, _ = real
    assert head.expression_names == list(ARKIT_NAMES)
    extra = head.data.extra
    assert extra["zero_expressions"] == ["tongueOut"] and extra["unused_ict_expressions"] == []
    assert set(extra["merged_expressions"]) == {"browInnerUp", "cheekPuff"}
    moved = head.expression_directions.abs().amax((1, 2))
    assert (moved[[n != "tongueOut" for n in ARKIT_NAMES]] > 0.001).all() and moved[ARKIT_NAMES.index("tongueOut")] == 0


@needs_real
def test_real_zero_codes_give_the_neutral_mesh(real):
    head, _ = real
    neutral = read_positions(REAL / "FaceXModel" / "generic_neutral_mesh.obj")[:24591]
    origin = np.array(head.data.extra["origin_in_ict_units"])
    vertices = head().vertices[0].numpy()
    np.testing.assert_allclose(vertices, (neutral - origin) * 0.01, atol=2e-7)
    assert abs(vertices[:, 0].mean()) < 1e-3  # centred left-right
    ibug = head().landmarks["ibug68"][0].numpy()
    assert ibug[45, 0] > 0.03 > -0.03 > ibug[36, 0]  # landmark 45 (outer corner of the subject's left eye) at +X
    assert ibug[30, 2] > 0.1 and abs(ibug[30, 1] + 0.03) < 0.01  # nose tip in front, below the eyes


@needs_real
def test_real_deltas_are_within_float16_tolerance(real):
    head, _ = real
    folder = REAL / "FaceXModel"
    neutral = read_positions(folder / "generic_neutral_mesh.obj")[:24591]
    jaw_open = (read_positions(folder / "jawOpen.obj")[:24591] - neutral) * 0.01
    stored = head.data.expression_directions[ARKIT_NAMES.index("jawOpen")].astype(np.float64)
    assert np.abs(stored - jaw_open).max() <= FLOAT16_TOLERANCE


@needs_real
def test_real_jaw_open_opens_the_mouth(real):
    head, _ = real
    expression = torch.zeros(2, 52)
    expression[1, ARKIT_NAMES.index("jawOpen")] = 1.0
    lips = head(expression=expression).landmarks["ibug68"][:, [62, 66]].numpy()  # inner lip, top and bottom centre
    gap = np.linalg.norm(lips[:, 0] - lips[:, 1], axis=1)
    assert gap[0] < 0.002 and gap[1] > 0.015, gap


@needs_real
def test_real_identity_changes_the_head(real):
    head, _ = real
    identity = torch.zeros(head.num_identity)
    identity[0] = 3.0
    moved = np.linalg.norm(head(identity=identity).vertices[0].numpy() - head.template.numpy(), axis=1)
    assert moved.max() > 0.01 and np.median(moved) > 0.002


@needs_real
def test_real_eyes_turn_about_their_pivots(real):
    head, _ = real
    pivots = head.joints[2:].numpy()
    assert np.allclose(np.abs(pivots[:, 0]), 0.031, atol=0.003) and (pivots[:, 2] > 0.05).all()
    order = list(head.landmark_indices("mediapipe").numpy())
    expression = torch.zeros(3, 52)
    expression[1, ARKIT_NAMES.index("eyeLookOutLeft")] = 1.0
    expression[2, ARKIT_NAMES.index("eyeLookOutRight")] = 1.0
    pupils = head(expression=expression).landmarks["mediapipe"][:, [order.index(473), order.index(468)]].numpy()
    assert pupils[1, 0, 0] - pupils[0, 0, 0] > 0.004 and pupils[2, 1, 0] - pupils[0, 1, 0] < -0.004
    lids = head().landmarks["ibug68"][0, 42:48].numpy().mean(0)  # the subject's left eye opening
    assert np.linalg.norm((pupils[0, 0] - lids)[:2]) < 0.002  # the pupil sits in it


@needs_real
def test_real_sheet_renders(real, tmp_path):
    sheet = pytest.importorskip("backend.headmodel.sheet")
    import cv2

    head, _ = real
    path = sheet.write_sheet(head, tmp_path / "ict.png", cell=64)
    image = cv2.imread(str(path))
    assert image is not None and image.shape[1] == 64 * sheet.COLUMNS and image.std() > 10
