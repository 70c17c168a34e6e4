"""Tools the expression and identity builders share: smooth regions, normals, mirroring."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from .assemble import Assembly


class Sculpt:
    """Neutral geometry plus the masks that displacement fields are built from."""

    def __init__(self, head: Assembly):
        self.head = head
        self.p = head.vertices
        self.skin = np.zeros(len(self.p), bool)
        self.skin[head.ranges["skin"]] = True
        self.upper = self.skin & (head.mouth_side > 0)
        self.lower = self.skin & (head.mouth_side < 0)
        self.normals = vertex_normals(self.p, head.triangles)

    def bump(self, centre, radii, mask=None) -> np.ndarray:
        """[V] smooth compact weight, 1 at `centre` falling to 0 at the ellipsoid of `radii`."""
        r2 = (((self.p - np.asarray(centre)) / np.asarray(radii)) ** 2).sum(-1)
        w = np.clip(1 - r2, 0, None) ** 3
        return w * (self.skin if mask is None else mask)

    def both_sides(self, centre, radii, mask=None) -> np.ndarray:
        """A bump and its mirror image (for centred codes built from side regions)."""
        mirrored = np.asarray(centre) * [-1, 1, 1]
        return np.maximum(self.bump(centre, radii, mask), self.bump(mirrored, radii, mask))

    def move(self, weight, offset) -> np.ndarray:
        return weight[:, None] * np.asarray(offset, float)[None, :]

    def piece(self, name: str) -> np.ndarray:
        mask = np.zeros(len(self.p), bool)
        mask[self.head.ranges[name]] = True
        return mask


def vertex_normals(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    a, b, c = (points[triangles[:, k]] for k in range(3))
    face = np.cross(b - a, c - a)
    normals = np.zeros_like(points)
    for k in range(3):
        np.add.at(normals, triangles[:, k], face)
    return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)


def mirror_map(head: Assembly) -> np.ndarray:
    """[V] index of each vertex's left-right mirror image (exact: the head is built symmetric).

    Slit copies share positions with their twins across a closed lip line, so the side of the
    lip line joins the position in the lookup.
    """
    key = np.concatenate([head.vertices, head.mouth_side[:, None]], 1)
    mirrored = key * [-1, 1, 1, 1]
    distance, index = cKDTree(key).query(mirrored)
    if distance.max() > 1e-7:
        raise AssertionError(f"built-in head is not symmetric (worst mismatch {distance.max():.2e} m)")
    return index


def mirror_offsets(offsets: np.ndarray, mirror: np.ndarray) -> np.ndarray:
    """The offset field of the mirrored shape: [V, 3] -> [V, 3]."""
    return offsets[mirror] * [-1, 1, 1]
