"""One [0, 1] UV atlas from ICT's UV layout.

ICT lays its textures out as UDIM-style tiles (u in [0, 7)) and gives each eye material the
whole unit square, so several materials overlap. Each (material, tile) pair becomes one cell of
a square grid, in order of first use; the cells keep the tiles' aspect ratio.
"""

from __future__ import annotations

import math

import numpy as np


def pack_atlas(uvs: np.ndarray, uv_triangles: np.ndarray, triangle_materials: np.ndarray,
               materials: list[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """uvs [U, 2], uv_triangles [T, 3], triangle_materials [T] -> (atlas uvs [U', 2] float32,
    atlas uv_triangles [T, 3] int32, cell names "material tile u,v" in cell order)."""
    tiles = np.floor(uvs[uv_triangles].mean(1)).astype(np.int64)  # [T, 2]: the tile each triangle lies in
    keys = np.c_[triangle_materials, tiles]
    _, first, cell_of_triangle = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)  # cells numbered in order of first use
    cell_of_triangle = np.argsort(order)[cell_of_triangle.reshape(-1)]
    side = math.ceil(math.sqrt(len(order)))
    corner_cells = np.repeat(cell_of_triangle[:, None], 3, 1)
    pairs, new_ids = np.unique(np.stack([uv_triangles.ravel(), corner_cells.ravel()], 1), axis=0, return_inverse=True)
    uv_ids, cells = pairs[:, 0], pairs[:, 1]
    cell_tiles = tiles[first[order]][cells]
    cell_offset = np.stack([cells % side, cells // side], 1)
    atlas = (uvs[uv_ids] - cell_tiles + cell_offset) / side
    names = [f"{materials[m]} tile {u},{v}" for m, u, v in keys[first[order]]]
    return atlas.astype(np.float32), new_ids.reshape(-1, 3).astype(np.int32), names
