"""A small, vectorised reader for ICT-FaceKit's OBJ files.

Every ICT mesh shares one topology, so only the neutral mesh is read in full (positions,
texture coordinates, polygons and their materials); for the other 150-odd meshes only the
positions are read, which takes a few tens of milliseconds per file.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np

from ...errors import BackendError

_POSITION = re.compile(rb"^v\s+([^\n]*)", re.M)
_UV = re.compile(rb"^vt\s+([^\n]*)", re.M)
_POLYGON = re.compile(rb"^f\s+([^\n]*)", re.M)
_MATERIAL = re.compile(rb"^usemtl\s+([^\n]*)", re.M)


@dataclasses.dataclass
class ObjMesh:
    positions: np.ndarray  # [V, 3] float64, in the file's units
    uvs: np.ndarray  # [U, 2] float64
    triangles: np.ndarray  # [T, 3] int64 vertex ids: polygons fan-triangulated, in file order
    uv_triangles: np.ndarray  # [T, 3] int64 ids into uvs
    materials: list[str]  # names given by `usemtl`, in order of first use ("" before the first)
    triangle_materials: np.ndarray  # [T] int64 into materials


def read_positions(path: Path) -> np.ndarray:
    """[V, 3] float64 vertex positions of an OBJ file."""
    return _floats(_read(path), _POSITION, 3, path, "vertex positions")


def read_mesh(path: Path) -> ObjMesh:
    text = _read(path)
    positions = _floats(text, _POSITION, 3, path, "vertex positions")
    uvs = _floats(text, _UV, 2, path, "texture coordinates")
    triangles, uv_triangles, triangle_materials, materials = [], [], [], []
    starts = [m.start() for m in _MATERIAL.finditer(text)]
    names = [m.group(1).strip().decode() for m in _MATERIAL.finditer(text)]
    for begin, end, name in zip([0] + starts, starts + [len(text)], [""] + names):
        corners = [line.split() for line in _POLYGON.findall(text, begin, end)]
        if not corners:
            continue
        if name not in materials:
            materials.append(name)
        vertex_ids, uv_ids = _fan_triangles(corners, path)
        triangles.append(vertex_ids)
        uv_triangles.append(uv_ids)
        triangle_materials.append(np.full(len(vertex_ids), materials.index(name)))
    if not triangles:
        raise BackendError(f"{path} has no polygons: it is not a complete ICT-FaceKit mesh.")
    return ObjMesh(positions, uvs, np.concatenate(triangles), np.concatenate(uv_triangles), materials,
                   np.concatenate(triangle_materials))


def _read(path: Path) -> bytes:
    text = path.read_bytes()
    if text.startswith(b"version https://git-lfs"):
        raise BackendError(f"{path} is a Git LFS pointer, not the mesh: run `git lfs pull` in the ICT-FaceKit checkout.")
    return text


def _floats(text: bytes, pattern: re.Pattern, width: int, path: Path, what: str) -> np.ndarray:
    rows = pattern.findall(text)
    try:
        values = np.array(b" ".join(rows).split(), dtype=np.float64).reshape(len(rows), -1)[:, :width]
    except ValueError:
        raise BackendError(f"{path} has malformed {what}: re-download it from ICT-FaceKit.") from None
    if rows and values.shape[1] != width:
        raise BackendError(f"{path} has malformed {what}: re-download it from ICT-FaceKit.")
    return values.reshape(-1, width)


def _fan_triangles(polygons: list[list[bytes]], path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Corners `v/vt[/vn]` of polygons -> ([T, 3] vertex ids, [T, 3] uv ids), 0-based."""
    try:
        vertex_ids = [[int(c.split(b"/")[0]) - 1 for c in polygon] for polygon in polygons]
        uv_ids = [[int(c.split(b"/")[1]) - 1 for c in polygon] for polygon in polygons]
    except (ValueError, IndexError):
        raise BackendError(f"{path} has polygons without texture coordinates or malformed ones: "
                           "re-download it from ICT-FaceKit.") from None
    sizes = np.array([len(p) for p in polygons])
    if sizes.min() < 3:
        raise BackendError(f"{path} has a polygon with fewer than three corners: re-download it from ICT-FaceKit.")
    flat_vertices, flat_uvs = np.concatenate(vertex_ids), np.concatenate(uv_ids)
    first = np.repeat(np.cumsum(sizes) - sizes, sizes - 2)  # offset of each triangle's polygon
    step = np.arange(len(first)) - np.repeat(np.cumsum(sizes - 2) - (sizes - 2), sizes - 2)  # 0.. per polygon
    corners = np.stack([first, first + step + 1, first + step + 2], 1)
    return flat_vertices[corners], flat_uvs[corners]
