"""Tiled front-to-back compositing on the CPU: numba kernels and their autograd Function.

Shapes: C cameras, N Gaussians, H, W image size; 4 features per Gaussian (RGB and depth).

The image is cut into 16x16 tiles; each tile holds the ids of the Gaussians whose box
touches it, front to back. Forward and backward run in parallel over tiles, on as many
threads as torch uses. Inside a tile each pixel row is composited Gaussian by Gaussian,
visiting only the run of pixels where the Gaussian can reach alpha >= 1/255, until every
pixel of the row is done. The forward keeps, per pixel, the final transmittance and how
many list entries it used; the backward walks the same entries back to front (gsplat's
scheme). Each thread owns a fixed set of tiles and adds gradients into its own
per-Gaussian buffer, so no two threads write the same memory; the buffers are summed
afterwards, which keeps the result deterministic.

The kernels compute in float64 whatever the input dtype: one compiled signature, exact
enough for gradcheck, and cheap here because the code is scalar, not vectorised. numba
compiles them on first use and caches the machine code next to this file.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import numba
import numpy as np
import torch

from ._project import ALPHA_THRESHOLD, Projection

TILE_SIZE = 16
MAX_ALPHA = 0.999  # gsplat's clamp on one Gaussian's alpha
MIN_TRANSMITTANCE = 1e-4  # a pixel stops before its transmittance would reach this
FEATURES = 4  # RGB and camera-space z, blended alike
# Below this many pixels one thread composites: waking others costs more than the work
# (tens of microseconds on an idle machine, milliseconds on a busy one).
PARALLEL_MIN_PIXELS = 128 * 128

# Columns of the per-Gaussian table the kernels read.
X, Y, CONIC_XX, CONIC_XY, CONIC_YY, OPACITY, SIGMA_MAX, INV_XX, CONIC_DET, EXP_NEG_XX, FEATURE0 = range(11)
# Columns of a gradient row: d/d(mean x, y, conic xx, xy, yy, opacity), then the features.
GRAD_OPACITY, GRAD_FEATURE0 = 5, 6


def composite_tiles(projection: Projection, features: torch.Tensor, opacities: torch.Tensor,
                    width: int, height: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Blend features [C, N, 4] with opacities [C, N] into images [C, H, W, 4] and alpha [C, H, W, 1]."""
    return _CompositeTiles.apply(projection.means2d, projection.conics, features, opacities,
                                 projection.depths, projection.radii, width, height)


class _CompositeTiles(torch.autograd.Function):
    @staticmethod
    def forward(ctx, means2d, conics, features, opacities, depths, radii, width, height):
        C = features.shape[0]
        tiles_x, tiles_y = -(-width // TILE_SIZE), -(-height // TILE_SIZE)
        order = torch.argsort(torch.where(radii.any(-1), depths, math.inf), dim=1, stable=True)
        offsets, ids = _bin_tiles(_numpy(means2d), radii.numpy(), order.numpy(), tiles_x, tiles_y)
        table = _splat_table(means2d, conics, opacities, features)
        image = np.empty((C, height, width, FEATURES))
        transmittance = np.empty((C, height, width))
        used = np.empty((C, height, width), np.int32)
        by_cost = np.argsort(-np.diff(offsets), kind="stable")
        _in_parallel(_forward, _worker_count(transmittance.size), table, offsets, ids, tiles_x, by_cost, image,
                     transmittance, used)
        ctx.tiles = (table, offsets, ids, tiles_x, by_cost, transmittance, used)
        dtype = features.dtype
        return torch.from_numpy(image).to(dtype), torch.from_numpy(1.0 - transmittance[..., None]).to(dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, v_image, v_alpha):
        table, offsets, ids, tiles_x, by_cost, transmittance, used = ctx.tiles
        workers = _worker_count(transmittance.size)
        grads = np.zeros((workers, len(table), GRAD_FEATURE0 + FEATURES))
        _in_parallel(_backward, workers, table, offsets, ids, tiles_x, by_cost, transmittance, used,
                     _numpy(v_image), _numpy(v_alpha[..., 0]), grads)
        grads = torch.from_numpy(grads.sum(0)).to(v_image.dtype).reshape(len(v_image), -1, grads.shape[-1])
        return (grads[..., 0:2], grads[..., 2:5], grads[..., GRAD_FEATURE0:], grads[..., GRAD_OPACITY],
                None, None, None, None)


def _worker_count(pixels: int) -> int:
    """Threads for one kernel call: torch's intra-op count, or 1 for small images."""
    return torch.get_num_threads() if pixels >= PARALLEL_MIN_PIXELS else 1


def _in_parallel(kernel, workers: int, *args) -> None:
    """Run kernel(worker, workers, *args) for each worker, on threads: the kernels are
    compiled nogil, so they run truly in parallel. Plain threads rather than numba's
    parallel=True: they compile faster and add no second OpenMP runtime next to torch's."""
    helpers = [_pool(workers - 1).submit(kernel, worker, workers, *args) for worker in range(1, workers)]
    kernel(0, workers, *args)
    for helper in helpers:
        helper.result()


@lru_cache
def _pool(threads: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(threads, thread_name_prefix="splat")


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(tensor.detach().numpy(), dtype=np.float64)


def _splat_table(means2d, conics, opacities, features) -> np.ndarray:
    """[C * N, 15] float64 rows with the columns named above. SIGMA_MAX is the largest sigma
    that can still give alpha >= 1/255, plus a margin so that rejecting beyond it never
    changes a decision; INV_XX, CONIC_DET and EXP_NEG_XX speed up the row spans."""
    conics = _numpy(conics)
    opacity = _numpy(opacities)[..., None]
    xx, xy, yy = conics[..., 0:1], conics[..., 1:2], conics[..., 2:3]
    with np.errstate(divide="ignore"):  # culled rows (zero conic) are never read
        sigma_max = np.log(opacity / ALPHA_THRESHOLD) + 1e-6
        inv_xx = 1.0 / xx
    table = np.concatenate([_numpy(means2d), conics, opacity, sigma_max, inv_xx, xx * yy - xy * xy,
                            np.exp(-xx), _numpy(features)], -1)
    return table.reshape(-1, table.shape[-1])


@numba.njit(cache=True)
def _bin_tiles(means2d, radii, order, tiles_x, tiles_y):
    """Tile lists of visible Gaussians, front to back.

    means2d [C, N, 2], radii [C, N, 2], order [C, N] (Gaussians by depth). Returns
    offsets [C * tiles + 1] and ids [entries] (flat c * N + n): tile t's list is
    ids[offsets[t]:offsets[t + 1]].
    """
    C, N = radii.shape[0], radii.shape[1]
    tiles = tiles_x * tiles_y
    counts = np.zeros(C * tiles + 1, np.int64)
    for c in range(C):
        for n in range(N):
            x0, x1, y0, y1 = _tile_rect(means2d, radii, c, n, tiles_x, tiles_y)
            for ty in range(y0, y1):
                for tx in range(x0, x1):
                    counts[c * tiles + ty * tiles_x + tx + 1] += 1
    offsets = np.cumsum(counts)
    ids = np.empty(offsets[-1], np.int64)
    fill = offsets[:-1].copy()
    for c in range(C):
        for n in order[c]:
            x0, x1, y0, y1 = _tile_rect(means2d, radii, c, n, tiles_x, tiles_y)
            for ty in range(y0, y1):
                for tx in range(x0, x1):
                    tile = c * tiles + ty * tiles_x + tx
                    ids[fill[tile]] = c * N + n
                    fill[tile] += 1
    return offsets, ids


@numba.njit(cache=True, inline="always")
def _tile_rect(means2d, radii, c, n, tiles_x, tiles_y):
    """Tile range [x0, x1) x [y0, y1) of a footprint, as gsplat's isect_tiles; empty if culled."""
    if radii[c, n, 0] <= 0 and radii[c, n, 1] <= 0:
        return 0, 0, 0, 0
    x, y = means2d[c, n, 0] / TILE_SIZE, means2d[c, n, 1] / TILE_SIZE
    rx, ry = radii[c, n, 0] / TILE_SIZE, radii[c, n, 1] / TILE_SIZE
    x0 = min(max(0, math.floor(x - rx)), tiles_x)
    x1 = min(max(0, math.ceil(x + rx)), tiles_x)
    y0 = min(max(0, math.floor(y - ry)), tiles_y)
    y1 = min(max(0, math.ceil(y + ry)), tiles_y)
    return x0, x1, y0, y1


# The helpers below take (array, index) rather than a row view: views in hot loops cost
# reference counting that numba does not always remove.


@numba.njit(cache=True, inline="always")
def _gather(table, ids, start, end):
    """Copy one tile's table rows into a contiguous array, in list order."""
    local = np.empty((end - start, table.shape[1]))
    for k in range(end - start):
        for f in range(table.shape[1]):
            local[k, f] = table[ids[start + k], f]
    return local


@numba.njit(cache=True, inline="always")
def _row_span(local, k, py, j0, j1):
    """Columns [lo, hi) within [j0, j1) of the pixel row at height py where Gaussian k's
    sigma can be at most SIGMA_MAX: a superset (by 1e-3 px) of where it is visible, so the
    test in _falloff still makes every decision."""
    dy = local[k, Y] - py
    disc = 2.0 * local[k, CONIC_XX] * local[k, SIGMA_MAX] - local[k, CONIC_DET] * dy * dy
    if disc < 0.0:
        return j0, j0
    centre = local[k, X] + local[k, CONIC_XY] * dy * local[k, INV_XX] - 0.5
    half = math.sqrt(disc) * local[k, INV_XX] + 1e-3
    lo = min(max(centre - half, j0 - 1.0), j1 + 1.0)
    hi = min(max(centre + half, j0 - 1.0), j1 + 1.0)
    return max(j0, int(math.ceil(lo))), min(j1, int(math.floor(hi)) + 1)


@numba.njit(cache=True, inline="always")
def _span_start(local, k, px, py):
    """exp(-sigma) of Gaussian k at pixel centre (px, py) and its ratio to the next pixel's.

    Along a row sigma is quadratic in px with second difference CONIC_XX, so each next
    pixel's exp(-sigma) is one product away: vis *= ratio; ratio *= EXP_NEG_XX. Forward and
    backward walk the same spans from the same start, so they see the same values.
    """
    dx, dy = local[k, X] - px, local[k, Y] - py
    xx, xy = local[k, CONIC_XX], local[k, CONIC_XY]
    sigma = 0.5 * (xx * dx * dx + local[k, CONIC_YY] * dy * dy) + xy * dx * dy
    return math.exp(-sigma), math.exp(xx * dx + xy * dy - 0.5 * xx)


@numba.njit(cache=True, inline="always")
def _falloff(local, k, vis, px, py):
    """(alpha, dx, dy) of Gaussian k at a pixel centre given its exp(-sigma); alpha is 0
    where gsplat skips the pair (sigma < 0 or alpha < 1/255)."""
    dx, dy = local[k, X] - px, local[k, Y] - py
    sigma = 0.5 * (local[k, CONIC_XX] * dx * dx + local[k, CONIC_YY] * dy * dy) + local[k, CONIC_XY] * dx * dy
    alpha = min(MAX_ALPHA, local[k, OPACITY] * vis)
    if sigma < 0.0 or alpha < ALPHA_THRESHOLD:
        return 0.0, dx, dy
    return alpha, dx, dy


@numba.njit(nogil=True, cache=True)
def _forward(worker, workers, table, offsets, ids, tiles_x, by_cost, image, transmittance, used):
    """Fill image [C, H, W, 4], final transmittance and used entries per pixel [C, H, W] on
    this worker's tiles: by_cost lists the tiles from longest list to shortest and each of
    the workers takes every workers-th of them, which balances the load."""
    for t in range(worker, by_cost.size, workers):
        _forward_tile(table, offsets, ids, tiles_x, by_cost[t], image, transmittance, used)


@numba.njit(cache=True)
def _forward_tile(table, offsets, ids, tiles_x, tile, image, transmittance, used):
    local = _gather(table, ids, offsets[tile], offsets[tile + 1])
    c, i0, i1, j0, j1 = _tile_box(tile, tiles_x, transmittance.shape)
    pixels, T = np.empty((j1 - j0, FEATURES)), np.empty(j1 - j0)
    count, done = np.empty(j1 - j0, np.int32), np.empty(j1 - j0, np.bool_)
    for i in range(i0, i1):
        _forward_row(local, i + 0.5, j0, pixels, T, count, done)
        image[c, i, j0:j1] = pixels
        transmittance[c, i, j0:j1] = T
        used[c, i, j0:j1] = count


@numba.njit(cache=True, inline="always")
def _tile_box(tile, tiles_x, shape):
    """(camera, row range, column range) of a tile in images of shape [C, H, W]."""
    _, H, W = shape
    per_image = tiles_x * ((H + TILE_SIZE - 1) // TILE_SIZE)
    c, ty, tx = tile // per_image, (tile % per_image) // tiles_x, tile % tiles_x
    return c, ty * TILE_SIZE, min(H, (ty + 1) * TILE_SIZE), tx * TILE_SIZE, min(W, (tx + 1) * TILE_SIZE)


@numba.njit(cache=True, inline="always")
def _forward_row(local, py, j0, pixels, T, count, done):
    """Composite the tile row at height py, columns j0 onwards, Gaussian by Gaussian, into
    pixels [n, 4], transmittance T [n] and used entries count [n]."""
    n = T.size
    pixels[:] = 0.0
    T[:] = 1.0
    count[:] = 0
    done[:] = False
    active = n
    for k in range(local.shape[0]):
        lo, hi = _row_span(local, k, py, j0, j0 + n)
        if lo >= hi:
            continue
        next_vis, ratio = _span_start(local, k, lo + 0.5, py)
        for p in range(lo - j0, hi - j0):
            vis, next_vis, ratio = next_vis, next_vis * ratio, ratio * local[k, EXP_NEG_XX]
            if done[p]:
                continue
            alpha = _falloff(local, k, vis, j0 + p + 0.5, py)[0]
            if alpha == 0.0:
                continue
            next_T = T[p] * (1.0 - alpha)
            if next_T <= MIN_TRANSMITTANCE:
                done[p] = True
                active -= 1
                if active == 0:
                    return
                continue
            weight = alpha * T[p]
            for f in range(FEATURES):
                pixels[p, f] += local[k, FEATURE0 + f] * weight
            T[p] = next_T
            count[p] = k + 1


@numba.njit(nogil=True, cache=True)
def _backward(worker, workers, table, offsets, ids, tiles_x, by_cost, transmittance, used, v_image, v_alpha,
              grads):
    """Add this worker's gradients into grads[worker] [C * N, 10] (zeroed by the caller), from
    v_image [C, H, W, 4] and v_alpha [C, H, W], on its tiles as in _forward."""
    for t in range(worker, by_cost.size, workers):
        _backward_tile(table, offsets, ids, tiles_x, by_cost[t], transmittance, used, v_image, v_alpha,
                       grads[worker])


@numba.njit(cache=True)
def _backward_tile(table, offsets, ids, tiles_x, tile, transmittance, used, v_image, v_alpha, grads):
    local_ids = ids[offsets[tile]:offsets[tile + 1]]
    local = _gather(table, ids, offsets[tile], offsets[tile + 1])
    c, i0, i1, j0, j1 = _tile_box(tile, tiles_x, transmittance.shape)
    T, behind = np.empty(j1 - j0), np.empty((j1 - j0, FEATURES))
    row = np.empty(GRAD_FEATURE0 + FEATURES)
    for i in range(i0, i1):
        T[:] = transmittance[c, i, j0:j1]
        behind[:] = 0.0
        _backward_row(local, c, i, j0, T, behind, row, transmittance, used, v_image, v_alpha, grads, local_ids)


@numba.njit(cache=True, inline="always")
def _backward_row(local, c, i, j0, T, behind, row, transmittance, used, v_image, v_alpha, grads, local_ids):
    """Walk row i of a tile (columns j0 onwards) back to front, Gaussian by Gaussian,
    recovering each pixel's transmittance T from its final value; add Gaussian k's
    gradient to grads[local_ids[k]]. behind [n, 4] holds what the Gaussians behind added."""
    py, n = i + 0.5, T.size
    for k in range(used[c, i, j0:j0 + n].max() - 1, -1, -1):
        lo, hi = _row_span(local, k, py, j0, j0 + n)
        if lo >= hi:
            continue
        row[:] = 0.0
        next_vis, ratio = _span_start(local, k, lo + 0.5, py)
        for j in range(lo, hi):
            vis, next_vis, ratio = next_vis, next_vis * ratio, ratio * local[k, EXP_NEG_XX]
            if k >= used[c, i, j]:
                continue
            alpha, dx, dy = _falloff(local, k, vis, j + 0.5, py)
            if alpha == 0.0:
                continue
            p = j - j0
            ra = 1.0 / (1.0 - alpha)
            T[p] *= ra
            weight = alpha * T[p]
            v_a = transmittance[c, i, j] * ra * v_alpha[c, i, j]
            for f in range(FEATURES):
                v_pixel = v_image[c, i, j, f]
                row[GRAD_FEATURE0 + f] += weight * v_pixel
                v_a += (local[k, FEATURE0 + f] * T[p] - behind[p, f] * ra) * v_pixel
                behind[p, f] += local[k, FEATURE0 + f] * weight
            _splat_grads(local, k, vis, v_a, dx, dy, row)
        for f in range(row.size):
            grads[local_ids[k], f] += row[f]


@numba.njit(cache=True, inline="always")
def _splat_grads(local, k, vis, v_alpha, dx, dy, row):
    """Add d(loss)/d(mean, conic, opacity) of Gaussian k given d(loss)/d(alpha); none where
    alpha is clamped, as in gsplat."""
    opacity = local[k, OPACITY]
    if opacity * vis > MAX_ALPHA:
        return
    v_sigma = -opacity * vis * v_alpha
    row[0] += v_sigma * (local[k, CONIC_XX] * dx + local[k, CONIC_XY] * dy)
    row[1] += v_sigma * (local[k, CONIC_XY] * dx + local[k, CONIC_YY] * dy)
    row[2] += 0.5 * v_sigma * dx * dx
    row[3] += v_sigma * dx * dy
    row[4] += 0.5 * v_sigma * dy * dy
    row[GRAD_OPACITY] += vis * v_alpha
