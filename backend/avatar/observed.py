"""How well the footage saw each head-model triangle, kept in the avatar's metadata.

A vertex is visible in a frame when it projects into the footage (not onto the crop's padding past
the source frame) and no nearer surface hides it (a mesh z-buffer, with VISIBILITY_TOLERANCE); how
squarely it was seen is the cosine between its normal and the direction to the camera. A triangle's score is the best such cosine of its vertices over
the training frames (0: never visible). Below VISIBLE_COSINE the fit gives a triangle no Gaussians
(there is nothing to fit there: Gaussians behind the face would only learn to shine through it and
show the face from behind); above SEEN_COSINE it counts as observed (the bake's coverage map; its
fitted Gaussians are kept); below WELL_SEEN_COSINE the 360-degree completion closes the surface under it.
"""

from __future__ import annotations

import base64

import numpy as np
import torch

META_KEY = "triangle_view_cosines"  # base64 of uint8 [T]: the best cosine * 255
SAMPLED_FRAMES = 24  # training frames tested, spread evenly over the clip
RASTER_SIZE = 256  # z-buffer resolution of the test, whatever the fit's resolution
VISIBILITY_TOLERANCE = 0.005  # metres a vertex may lie behind the nearest surface and count as visible
VISIBLE_COSINE = 0.05  # seen at most this edge-on, a surface covers no pixel of the training frames
SEEN_COSINE = 0.3  # seen more obliquely than ~73 degrees, a surface is too thin in the image to fit at all
WELL_SEEN_COSINE = 0.5  # seen more obliquely than 60 degrees, its fitted Gaussians leave gaps edge-on


INTERIOR_PARTS = ("eyeballs", "mouth_interior", "teeth", "gums", "tongue", "gums_and_tongue", "eye_sockets",
                  "lacrimal_fluid", "eye_blend", "eye_occlusion", "eyelashes")


def outer_triangles(head) -> np.ndarray:
    """[T] bool: triangles of the head's outer surface (not in INTERIOR_PARTS, which the views test
    cannot judge: they show through openings, and the mouth may open only in held-out frames)."""
    interior = head.part_mask(*[p for p in INTERIOR_PARTS if p in head.part_names]).cpu().numpy()
    return ~interior[head.triangles.cpu().numpy()].any(-1)


def fitted_triangles(head, cosines: np.ndarray) -> np.ndarray:
    """[T] bool: the triangles the fit places Gaussians on: every visible or interior one."""
    return (cosines >= VISIBLE_COSINE) | ~outer_triangles(head)


def view_cosines(vertices: torch.Tensor, triangles: torch.Tensor, K: torch.Tensor, footage: torch.Tensor) -> np.ndarray:
    """[T] the best cosine at which each triangle was visible in the posed meshes [F, V, 3] (camera
    space, identity viewmat) through intrinsics K [3, 3]; 0 if never. footage [S, S] bool: the pixels
    of the frames that show the source video (Clip.footage; S is K's resolution). The crop's padding
    sees nothing: a neck running off the bottom of the frame is left to the completion."""
    from ..meshrender import project, rasterize, vertex_normals
    from .clip import resize_mask

    triangles = triangles.cpu().numpy()
    K = K.cpu().double().numpy().copy()
    K[:2] *= RASTER_SIZE / footage.shape[0]
    footage = resize_mask(footage.cpu(), RASTER_SIZE).numpy()
    frames = np.unique(np.linspace(0, len(vertices) - 1, min(SAMPLED_FRAMES, len(vertices))).round().astype(int))
    best = np.zeros(vertices.shape[1])
    for frame_vertices in vertices[frames].cpu().double().numpy():
        depth = rasterize(frame_vertices, triangles, np.eye(4), K, RASTER_SIZE, RASTER_SIZE).depth
        pixels = np.floor(project(frame_vertices, K)).astype(np.int64)
        inside = ((pixels >= 0) & (pixels < RASTER_SIZE)).all(-1) & (frame_vertices[:, 2] > 0)
        column, row = np.where(inside[:, None], pixels, 0).T
        visible = inside & footage[row, column] & (frame_vertices[:, 2] <= depth[row, column] + VISIBILITY_TOLERANCE)
        towards_camera = -frame_vertices / np.linalg.norm(frame_vertices, axis=-1, keepdims=True)
        cosine = (vertex_normals(frame_vertices, triangles) * towards_camera).sum(-1)
        best = np.maximum(best, np.where(visible, cosine, 0))
    return best[triangles].max(-1)


def encode_cosines(cosines: np.ndarray) -> str:
    """[T] cosines in [0, 1] -> a short string for the avatar's JSON metadata."""
    return base64.b64encode(np.round(np.clip(cosines, 0, 1) * 255).astype(np.uint8).tobytes()).decode("ascii")


def decode_cosines(meta: dict, num_triangles: int) -> np.ndarray | None:
    """[T] cosines from an avatar's metadata, or None for avatars fitted before they were recorded."""
    if META_KEY not in meta:
        return None
    cosines = np.frombuffer(base64.b64decode(meta[META_KEY]), np.uint8).astype(np.float64) / 255
    if len(cosines) != num_triangles:
        raise ValueError(f"{META_KEY} holds {len(cosines)} triangles, the head model {num_triangles}")
    return cosines
