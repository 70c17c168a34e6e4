"""The numba raster loop behind `backend.meshrender.rasterize`.

Imported only when the first mesh is rasterised, so importing the backend never loads
numba; compiled code is cached on disk. The image is split into bands of rows that are
filled in parallel; inside a band triangles are visited in index order, so results do not
depend on the number of threads.
"""

from __future__ import annotations

import numba
import numpy as np

from .meshrender import _EDGE_EPS

_BAND_ROWS = 8  # image rows per parallel work item


@numba.njit(cache=True)
def _pixel_weights(screen, a, b, c, px, py):
    """Is (px, py) inside triangle (a, b, c)? Returns (inside, depth, b0, b1, b2), perspective-correct."""
    ax, ay, az = screen[a, 0], screen[a, 1], screen[a, 2]
    bx, by, bz = screen[b, 0], screen[b, 1], screen[b, 2]
    cx, cy, cz = screen[c, 0], screen[c, 1], screen[c, 2]
    area = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
    w0 = ((cx - bx) * (py - by) - (cy - by) * (px - bx)) / area
    w1 = ((ax - cx) * (py - cy) - (ay - cy) * (px - cx)) / area
    w2 = 1.0 - w0 - w1
    if w0 < -_EDGE_EPS or w1 < -_EDGE_EPS or w2 < -_EDGE_EPS:
        return False, 0.0, 0.0, 0.0, 0.0
    # Screen-space weights over camera z interpolate 1/z linearly: perspective correction.
    p0, p1, p2 = max(w0, 0.0) / az, max(w1, 0.0) / bz, max(w2, 0.0) / cz
    inverse_depth = p0 + p1 + p2
    return True, 1.0 / inverse_depth, p0 / inverse_depth, p1 / inverse_depth, p2 / inverse_depth


@numba.njit(cache=True, parallel=True)
def _pixel_bounds(screen, triangles, width, height):
    """[T, 4] inclusive pixel ranges x0, x1, y0, y1 whose centres may be covered; x0 > x1 = skip."""
    count = triangles.shape[0]
    bounds = np.empty((count, 4), np.int64)
    for t in numba.prange(count):
        a, b, c = triangles[t, 0], triangles[t, 1], triangles[t, 2]
        u0, u1, u2 = screen[a, 0], screen[b, 0], screen[c, 0]
        v0, v1, v2 = screen[a, 1], screen[b, 1], screen[c, 1]
        area = (u1 - u0) * (v2 - v0) - (v1 - v0) * (u2 - u0)
        if not np.isfinite(area) or abs(area) < 1e-12:  # NaN: a vertex behind the near plane
            bounds[t, 0], bounds[t, 1], bounds[t, 2], bounds[t, 3] = 1, 0, 1, 0
            continue
        bounds[t, 0] = max(0, int(np.ceil(min(u0, u1, u2) - 0.5)))
        bounds[t, 1] = min(width - 1, int(np.floor(max(u0, u1, u2) - 0.5)))
        bounds[t, 2] = max(0, int(np.ceil(min(v0, v1, v2) - 0.5)))
        bounds[t, 3] = min(height - 1, int(np.floor(max(v0, v1, v2) - 0.5)))
    return bounds


@numba.njit(cache=True, parallel=True)
def raster_loop(screen, triangles, width, height, triangle_id, barycentrics, depth):
    """Fill the buffers in place. screen [V, 3] (u, v, camera z); triangles [T, 3] int64."""
    bounds = _pixel_bounds(screen, triangles, width, height)
    bands = (height + _BAND_ROWS - 1) // _BAND_ROWS
    for band in numba.prange(bands):
        row0 = band * _BAND_ROWS
        row1 = min(height - 1, row0 + _BAND_ROWS - 1)
        for t in range(triangles.shape[0]):
            y0, y1 = max(bounds[t, 2], row0), min(bounds[t, 3], row1)
            if y0 > y1 or bounds[t, 0] > bounds[t, 1]:
                continue
            a, b, c = triangles[t, 0], triangles[t, 1], triangles[t, 2]
            for y in range(y0, y1 + 1):
                for x in range(bounds[t, 0], bounds[t, 1] + 1):
                    inside, z, b0, b1, b2 = _pixel_weights(screen, a, b, c, x + 0.5, y + 0.5)
                    if inside and z < depth[y, x]:
                        depth[y, x] = z
                        triangle_id[y, x] = t
                        barycentrics[y, x, 0] = b0
                        barycentrics[y, x, 1] = b1
                        barycentrics[y, x, 2] = b2


@numba.njit(cache=True, parallel=True)
def interpolate_loop(triangle_id, barycentrics, triangles, values, out):
    """out[y, x] = sum_k barycentrics[y, x, k] * values[triangles[t, k]] where covered (in place)."""
    height, width = triangle_id.shape
    for y in numba.prange(height):
        for x in range(width):
            t = triangle_id[y, x]
            if t < 0:
                continue
            for channel in range(values.shape[1]):
                total = 0.0
                for k in range(3):
                    total += barycentrics[y, x, k] * values[triangles[t, k], channel]
                out[y, x, channel] = total
