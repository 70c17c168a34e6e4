"""The head-model file: safetensors tensors + JSON metadata, versioned (docs/headmodel_format.md).

`write_headmodel` and `read_headmodel` move a `HeadModelData` (plain numpy arrays and names)
to and from disk; `read_headmodel` rejects anything malformed with a message naming the
file and the problem.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ..errors import BackendError
from ..fileio import load_tensors, save_tensors

FORMAT_NAME = "head-avatar-headmodel"
FORMAT_VERSION = 1


@dataclasses.dataclass
class Landmarks:
    """An embedding of one landmark layout: each landmark is a point on a triangle."""

    index: np.ndarray  # [L] int: which landmark of the layout (mediapipe: a subset of 0..477)
    vertices: np.ndarray  # [L, 3] int: the triangle's vertex ids
    barycentric: np.ndarray  # [L, 3] float: weights of those vertices, rows sum to 1


@dataclasses.dataclass
class HeadModelData:
    name: str
    description: str
    template: np.ndarray  # [V, 3] float32, metres, +X subject's left, +Y up, +Z forward
    triangles: np.ndarray  # [T, 3] int32
    uvs: np.ndarray  # [U, 2] float32 in [0, 1]
    uv_triangles: np.ndarray  # [T, 3] int32 into uvs (face-varying UVs, seams allowed)
    part_names: list[str]
    vertex_parts: np.ndarray  # [V] uint8 into part_names
    identity_names: list[str]
    identity_directions: np.ndarray  # [I, V, 3] offsets per unit coefficient (about one s.d.)
    expression_names: list[str]
    expression_directions: np.ndarray  # [E, V, 3] offsets at weight 1
    joint_names: list[str]
    joint_parents: list[int]  # parent index per joint, -1 for children of the root
    joints: np.ndarray  # [J, 3] rest positions
    joint_identity_directions: np.ndarray  # [I, J, 3]
    skin_weights: np.ndarray  # [V, J], rows sum to <= 1 (the rest follows the root)
    expression_joint_rotations: np.ndarray  # [E, J, 3] axis-angle added per unit weight
    landmarks: dict[str, Landmarks]
    vertex_colors: np.ndarray | None = None  # [V, 3] linear albedo, optional
    extra: dict = dataclasses.field(default_factory=dict)  # free-form JSON (licence, source, ...)


_ARRAYS = ("template", "triangles", "uvs", "uv_triangles", "vertex_parts", "identity_directions",
           "expression_directions", "joints", "joint_identity_directions", "skin_weights",
           "expression_joint_rotations")
_NAMES = ("part_names", "identity_names", "expression_names", "joint_names", "joint_parents")


def write_headmodel(data: HeadModelData, path: str | Path) -> None:
    tensors = {name: getattr(data, name) for name in _ARRAYS}
    if data.vertex_colors is not None:
        tensors["vertex_colors"] = data.vertex_colors
    for layout, marks in data.landmarks.items():
        for field in ("index", "vertices", "barycentric"):
            tensors[f"landmarks.{layout}.{field}"] = getattr(marks, field)
    metadata = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "name": data.name,
                "description": data.description, "landmark_layouts": sorted(data.landmarks),
                "extra": data.extra, **{key: list(getattr(data, key)) for key in _NAMES}}
    save_tensors(path, tensors, metadata)


def read_headmodel(path: str | Path) -> HeadModelData:
    path = Path(path)
    tensors, meta = load_tensors(path, "head-model")
    if meta.get("format") != FORMAT_NAME:
        raise BackendError(f"{path} is not a head-model file (format is {meta.get('format')!r}).")
    if meta.get("format_version") != FORMAT_VERSION:
        raise BackendError(
            f"{path} is head-model format version {meta.get('format_version')}, this backend reads "
            f"version {FORMAT_VERSION}. Re-import or re-build the head model with this version.")
    try:
        data = HeadModelData(
            name=str(meta["name"]), description=str(meta.get("description", "")),
            **{key: tensors[key] for key in _ARRAYS}, **{key: list(meta[key]) for key in _NAMES},
            landmarks={layout: Landmarks(*(tensors[f"landmarks.{layout}.{f}"] for f in ("index", "vertices", "barycentric")))
                       for layout in meta["landmark_layouts"]},
            vertex_colors=tensors.get("vertex_colors"), extra=dict(meta.get("extra", {})))
    except KeyError as exc:
        raise BackendError(f"{path} is missing {exc} and cannot be used as a head model.") from None
    problem = validation_problem(data)
    if problem:
        raise BackendError(f"{path} is a malformed head model: {problem}.")
    return data


def validation_problem(data: HeadModelData) -> str | None:
    """The first inconsistency found in `data`, or None."""
    V, T = len(data.template), len(data.triangles)
    I, E, J = len(data.identity_names), len(data.expression_names), len(data.joint_names)
    expected = {"template": (V, 3), "triangles": (T, 3), "uv_triangles": (T, 3), "vertex_parts": (V,),
                "identity_directions": (I, V, 3), "expression_directions": (E, V, 3), "joints": (J, 3),
                "joint_identity_directions": (I, J, 3), "skin_weights": (V, J),
                "expression_joint_rotations": (E, J, 3)}
    for key, shape in expected.items():
        if tuple(getattr(data, key).shape) != shape:
            return f"{key} has shape {list(getattr(data, key).shape)}, expected {list(shape)}"
    if data.uvs.ndim != 2 or data.uvs.shape[1] != 2:
        return f"uvs has shape {list(data.uvs.shape)}, expected [U, 2]"
    if data.vertex_colors is not None and data.vertex_colors.shape != (V, 3):
        return f"vertex_colors has shape {list(data.vertex_colors.shape)}, expected [{V}, 3]"
    if data.triangles.size and (data.triangles.min() < 0 or data.triangles.max() >= V):
        return "triangles index vertices that do not exist"
    if data.uv_triangles.size and (data.uv_triangles.min() < 0 or data.uv_triangles.max() >= len(data.uvs)):
        return "uv_triangles index UVs that do not exist"
    if data.vertex_parts.size and data.vertex_parts.max() >= len(data.part_names):
        return "vertex_parts index parts that are not named"
    if len(data.joint_parents) != J or any(not -1 <= p < j for j, p in enumerate(data.joint_parents)):
        return "joint_parents must list one earlier joint (or -1) per joint"
    for key in ("template", "identity_directions", "expression_directions", "joints", "skin_weights"):
        if not np.isfinite(getattr(data, key)).all():
            return f"{key} holds NaN or infinite values"
    for layout, marks in data.landmarks.items():
        L = len(marks.index)
        if marks.vertices.shape != (L, 3) or marks.barycentric.shape != (L, 3):
            return f"landmarks '{layout}' arrays disagree in shape"
        if L and (marks.vertices.min() < 0 or marks.vertices.max() >= V):
            return f"landmarks '{layout}' index vertices that do not exist"
    return None
