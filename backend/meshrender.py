"""CPU triangle-mesh rendering with a z-buffer: coverage, barycentrics, depth, simple shading.

Used for synthetic footage, the head-model sheet and overlays. `rasterize` finds, per
pixel, the nearest triangle, its perspective-correct barycentrics and the camera-space
depth; `Fragments.interpolate` turns per-vertex values into images; `shade` lights an
albedo image. Triangles are double-sided (no back-face culling). Triangles with a vertex
closer than `near` to the camera plane are dropped rather than clipped, which is fine for
scenes kept in front of the camera.

The raster and interpolation loops live in `meshrender_kernels` (numba, compiled on first
use and cached on disk); `_rasterize_reference` and `_interpolate_reference` here are their
slow numpy twins for tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

_EDGE_EPS = 1e-9  # tolerance on barycentric edge tests so shared edges never leave gaps


@dataclass(frozen=True)
class Fragments:
    """What `rasterize` saw at every pixel of one image."""

    triangle_id: np.ndarray  # [H, W] int32, -1 for background
    barycentrics: np.ndarray  # [H, W, 3] float32, perspective-correct, 0 on background
    depth: np.ndarray  # [H, W] float32 camera-space Z in metres, inf on background
    triangles: np.ndarray  # [T, 3] int64, as given to rasterize
    camera_vertices: np.ndarray  # [V, 3] float64 camera-space vertices

    @property
    def mask(self) -> np.ndarray:
        """[H, W] bool, True where a triangle covers the pixel centre."""
        return self.triangle_id >= 0

    def interpolate(self, values: np.ndarray) -> np.ndarray:
        """Per-vertex `values` [V, C] -> [H, W, C] float32, zero on background."""
        values = np.asarray(values, dtype=np.float32)
        if values.ndim != 2 or values.shape[0] != len(self.camera_vertices):
            raise ValueError(f"values must be [V={len(self.camera_vertices)}, C], got {values.shape}")
        from .meshrender_kernels import interpolate_loop

        out = np.zeros(self.triangle_id.shape + (values.shape[1],), np.float32)
        interpolate_loop(self.triangle_id, self.barycentrics, self.triangles, values, out)
        return out


@dataclass(frozen=True)
class Lighting:
    """Lights in camera space (OpenCV: +X right, +Y down, +Z forward).

    Each light is (direction towards the light, linear RGB intensity). Rim light brightens
    surfaces seen edge-on, which keeps silhouettes readable against dark backgrounds.
    """

    lights: tuple = (
        ((-0.45, -0.55, -0.70), (0.85, 0.82, 0.78)),  # key: upper image-left, near the camera
        ((0.70, -0.10, -0.70), (0.30, 0.32, 0.36)),  # fill: image-right, cooler
    )
    ambient: tuple = (0.22, 0.22, 0.24)
    rim: float = 0.25
    rim_power: float = 3.0


@dataclass(frozen=True)
class MeshImage:
    """A shaded, anti-aliased mesh image, ready to composite: rgb + (1 - alpha) * background."""

    rgb: np.ndarray  # [H, W, 3] linear, premultiplied by alpha
    alpha: np.ndarray  # [H, W] float32 fraction of the pixel's samples that hit the mesh
    depth: np.ndarray  # [H, W] float32 nearest camera Z among the pixel's samples, inf if none


def to_camera(points: np.ndarray, viewmat: np.ndarray) -> np.ndarray:
    """World `points` [..., 3] -> camera space [..., 3] with world-to-camera `viewmat` [4, 4]."""
    viewmat = np.asarray(viewmat, dtype=np.float64)
    if viewmat.shape != (4, 4):
        raise ValueError(f"viewmat must be [4, 4], got {viewmat.shape}")
    return np.asarray(points, dtype=np.float64) @ viewmat[:3, :3].T + viewmat[:3, 3]


def project(camera_points: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Camera-space points [..., 3] -> pixel coordinates [..., 2] (pixel centres at i + 0.5)."""
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3):
        raise ValueError(f"K must be [3, 3], got {K.shape}")
    homogeneous = np.asarray(camera_points, dtype=np.float64) @ K.T
    return homogeneous[..., :2] / homogeneous[..., 2:3]


def rasterize(vertices: np.ndarray, triangles: np.ndarray, viewmat: np.ndarray, K: np.ndarray,
              width: int, height: int, near: float = 1e-3) -> Fragments:
    """Z-buffer the mesh into a `height` x `width` image.

    vertices [V, 3] world space (pass an identity `viewmat` for camera-space vertices);
    triangles [T, 3] vertex indices; viewmat [4, 4] world-to-camera; K [3, 3] intrinsics.
    """
    camera_vertices, triangles, screen = _prepare(vertices, triangles, viewmat, K, near)
    triangle_id, barycentrics, depth = _empty_buffers(width, height)
    from .meshrender_kernels import raster_loop  # compiles on first call, cached on disk

    raster_loop(screen, triangles, width, height, triangle_id, barycentrics, depth)
    return Fragments(triangle_id, barycentrics, depth, triangles, camera_vertices)


def vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals [V, 3] of `vertices` [V, 3] (zero for lone vertices)."""
    vertices = np.asarray(vertices, dtype=np.float64)
    corners = vertices[triangles]
    face_normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    corner_ids = triangles.T.ravel()  # every triangle once per corner
    normals = np.stack([np.bincount(corner_ids, np.tile(face_normals[:, c], 3), minlength=len(vertices))
                        for c in range(3)], axis=1)
    return _normalized(normals)


def shade(fragments: Fragments, albedo: np.ndarray, lighting: Lighting = Lighting()) -> np.ndarray:
    """Light the linear `albedo` image [H, W, 3]; returns linear RGB [H, W, 3], zero on background.

    Normals are interpolated vertex normals, flipped towards the camera (double-sided).
    """
    if albedo.shape != fragments.triangle_id.shape + (3,):
        raise ValueError(f"albedo must be [H, W, 3] matching the fragments, got {albedo.shape}")
    mask = fragments.mask
    per_vertex = np.concatenate([vertex_normals(fragments.camera_vertices, fragments.triangles),
                                 fragments.camera_vertices], axis=1)
    normals, surface = np.split(fragments.interpolate(per_vertex)[mask], 2, axis=1)
    normals = _normalized(normals)
    facing = -np.einsum("pc,pc->p", normals, _normalized(surface))[:, None]  # cosine to the eye
    normals *= np.where(facing < 0, -1.0, 1.0)
    facing = np.abs(facing)

    radiance = np.broadcast_to(np.asarray(lighting.ambient, np.float32), normals.shape).copy()
    for direction, colour in lighting.lights:
        direction = np.asarray(direction, np.float32) / np.linalg.norm(direction)
        radiance += np.maximum(normals @ direction, 0.0)[:, None] * np.asarray(colour, np.float32)
    rim = lighting.rim * (1.0 - facing) ** lighting.rim_power
    out = np.zeros_like(albedo, dtype=np.float32)
    out[mask] = albedo[mask] * radiance + rim
    return out


def render(vertices: np.ndarray, triangles: np.ndarray, viewmat: np.ndarray, K: np.ndarray,
           width: int, height: int, albedo: Callable[[Fragments], np.ndarray],
           lighting: Lighting = Lighting(), supersample: int = 1) -> MeshImage:
    """Rasterise, colour with `albedo(fragments)` -> [h, w, 3], shade, and box-filter
    `supersample` x `supersample` samples per pixel (anti-aliasing).

    vertices [V, 3] world space; triangles [T, 3]; viewmat [4, 4]; K [3, 3] for the
    `width` x `height` output image. `albedo` gets the supersampled fragments, e.g.
    `lambda f: f.interpolate(vertex_colors)`.
    """
    scale = np.diag([supersample, supersample, 1.0])
    fragments = rasterize(vertices, triangles, viewmat, scale @ np.asarray(K, np.float64),
                          width * supersample, height * supersample)
    rgb = shade(fragments, albedo(fragments), lighting)
    samples = supersample * supersample
    return MeshImage(rgb=_pool(rgb, supersample, np.add) / samples,
                     alpha=_pool(fragments.mask.astype(np.float32), supersample, np.add) / samples,
                     depth=_pool(fragments.depth, supersample, np.minimum))


def _normalized(vectors: np.ndarray) -> np.ndarray:
    """Rows of `vectors` [P, 3] scaled to unit length (zero rows stay zero)."""
    length = np.sqrt(np.einsum("pc,pc->p", vectors, vectors))[:, None]
    return vectors / np.maximum(length, 1e-20)


def _pool(image: np.ndarray, factor: int, combine) -> np.ndarray:
    """Combine each factor x factor block of `image` [H * factor, W * factor, ...] into one pixel."""
    return combine.reduce([image[i::factor, j::factor] for i in range(factor) for j in range(factor)])


def _prepare(vertices, triangles, viewmat, K, near):
    """Check shapes; return camera-space vertices, int64 triangles and screen (u, v, z) [V, 3]."""
    vertices = np.asarray(vertices, dtype=np.float64)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"vertices must be [V, 3], got {vertices.shape}")
    triangles = np.ascontiguousarray(triangles, dtype=np.int64)
    if triangles.ndim != 2 or triangles.shape[1] != 3:
        raise ValueError(f"triangles must be [T, 3], got {triangles.shape}")
    if triangles.size and (triangles.min() < 0 or triangles.max() >= len(vertices)):
        raise ValueError(f"triangles index outside 0..{len(vertices) - 1}")
    camera_vertices = to_camera(vertices, viewmat)
    z = camera_vertices[:, 2:3]
    safe_z = np.where(z > near, z, np.nan)  # NaN marks vertices too close or behind the camera
    screen = np.concatenate([project(camera_vertices / safe_z, K), safe_z], axis=1)
    return camera_vertices, triangles, np.ascontiguousarray(screen)


def _empty_buffers(width: int, height: int):
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    triangle_id = np.full((height, width), -1, np.int32)
    barycentrics = np.zeros((height, width, 3), np.float32)
    depth = np.full((height, width), np.inf, np.float32)
    return triangle_id, barycentrics, depth


def _rasterize_reference(vertices, triangles, viewmat, K, width, height, near=1e-3) -> Fragments:
    """Slow twin of `rasterize`: the same maths, one triangle at a time in plain numpy."""
    camera_vertices, triangles, screen = _prepare(vertices, triangles, viewmat, K, near)
    triangle_id, barycentrics, depth = _empty_buffers(width, height)
    ys, xs = np.mgrid[0:height, 0:width] + 0.5
    for t, (a, b, c) in enumerate(triangles):
        (ax, ay, az), (bx, by, bz), (cx, cy, cz) = screen[a], screen[b], screen[c]
        area = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
        if not np.isfinite(area) or abs(area) < 1e-12:
            continue
        w0 = ((cx - bx) * (ys - by) - (cy - by) * (xs - bx)) / area
        w1 = ((ax - cx) * (ys - cy) - (ay - cy) * (xs - cx)) / area
        w2 = 1.0 - w0 - w1
        inside = (w0 >= -_EDGE_EPS) & (w1 >= -_EDGE_EPS) & (w2 >= -_EDGE_EPS)
        weights = np.stack([np.maximum(w0, 0) / az, np.maximum(w1, 0) / bz, np.maximum(w2, 0) / cz], -1)
        inverse_depth = weights.sum(-1)
        z = 1.0 / np.where(inside, inverse_depth, 1.0)
        nearer = inside & (z < depth)
        depth[nearer] = z[nearer]
        triangle_id[nearer] = t
        barycentrics[nearer] = (weights / inverse_depth[..., None])[nearer]
    return Fragments(triangle_id, barycentrics, depth, triangles, camera_vertices)


def _interpolate_reference(fragments: Fragments, values: np.ndarray) -> np.ndarray:
    """Slow twin of `Fragments.interpolate`."""
    values = np.asarray(values, dtype=np.float32)
    out = np.zeros(fragments.triangle_id.shape + (values.shape[1],), np.float32)
    mask = fragments.mask
    corners = values[fragments.triangles[fragments.triangle_id[mask]]]  # [P, 3, C]
    out[mask] = np.einsum("pk,pkc->pc", fragments.barycentrics[mask], corners)
    return out
