"""360-degree completion: Gaussians on the surfaces the footage never saw, so a turntable shows a closed head.

On the outer surface of the head (every part but the mouth interior, teeth, tongue and eyeballs):
1. symmetry: Gaussians of a seen triangle are mirrored (x -> -x) onto its mirror triangle when that
   one was never seen; their expression offsets move to the mirrored code (eyeBlinkLeft <-> Right);
2. inpainting: the colour map of the seen and mirrored Gaussians is inpainted in UV space from the
   seen texels of the same region over the rest (hair from seen hair continues over the back of the
   head, skin under the chin);
3. every triangle not seen squarely, here or in the mirror, gets one fresh Gaussian, opaque and flat,
   sized to close the surface and coloured from the inpainted map: alone where the footage never
   saw the surface (the Gaussians that sat there were never fitted and are dropped), under the
   fitted ones where it was seen only obliquely (they leave gaps seen edge-on).

Shapes: N Gaussians, V vertices, T triangles, E expression codes, S map size.
"""

from __future__ import annotations

import numpy as np
import torch

from .maps import bake, uv_raster, uv_to_texel
from .model import FLATNESS, SH_C0, GaussianAvatar, matrix_to_quat, quat_multiply, triangle_frames
from .observed import SEEN_COSINE, WELL_SEEN_COSINE, outer_triangles

MIRROR_TOLERANCE = 0.005  # metres between a triangle's reflected centroid and its mirror's
INPAINT_SIZE = 512  # texels of the colour map that is inpainted (a power of two)
SOURCE_BAND = 16  # texels: how far from the unseen surface the seen colours it is filled from lie
FILL_OPACITY = 0.95
FILL_SCALE = 0.6  # a fill Gaussian's in-plane standard deviation, in triangle sizes: neighbours overlap


def complete_avatar(avatar: GaussianAvatar, head, rest_vertices: torch.Tensor, cosines: np.ndarray) -> GaussianAvatar:
    """The avatar with its unseen outer surface filled. cosines [T]: how squarely the footage saw
    each triangle (observed.view_cosines); rest_vertices [V, 3]: the neutral mesh with the avatar's
    identity in head-model space (the mirror plane is its x = 0)."""
    outer = outer_triangles(head)
    mirror = mirror_triangles(head)
    mirror_cosines = np.where(mirror >= 0, cosines[np.maximum(mirror, 0)], 0)
    seen, mirror_seen = cosines > SEEN_COSINE, mirror_cosines > SEEN_COSINE
    triangle = avatar.triangle.cpu().numpy()
    kept = select(avatar, torch.from_numpy(seen[triangle] | ~outer[triangle]))
    source = (seen & outer & ~seen[np.maximum(mirror, 0)] & (mirror >= 0))[triangle]
    mirrored = mirror_gaussians(select(avatar, torch.from_numpy(source)), rest_vertices, head, mirror)
    colour = inpainted_colour(concatenate([kept, mirrored]), rest_vertices, head, seen | mirror_seen)
    not_squarely_seen = outer & (np.maximum(cosines, mirror_cosines) < WELL_SEEN_COSINE)
    return concatenate([kept, mirrored, fill_gaussians(np.flatnonzero(not_squarely_seen), colour, head, avatar)])


def mirror_triangles(head) -> np.ndarray:
    """[T] the triangle nearest each triangle's reflection across x = 0 in the template (by centroid;
    quads split along the same diagonal on both sides have no exact mirror), -1 beyond MIRROR_TOLERANCE."""
    from scipy.spatial import cKDTree

    centroids = head.template.cpu().numpy()[head.triangles.cpu().numpy()].mean(1)
    distance, mirror = cKDTree(centroids).query(centroids * [-1, 1, 1])
    return np.where(distance <= MIRROR_TOLERANCE, mirror, -1)


def mirror_codes(names: list[str]) -> list[int]:
    """[E] index of each expression code's mirror (eyeBlinkLeft <-> eyeBlinkRight; others map to themselves)."""
    swapped = [name.replace("Left", "\0").replace("Right", "Left").replace("\0", "Right") for name in names]
    return [names.index(name) if name in names else e for e, name in enumerate(swapped)]


def mirror_gaussians(avatar: GaussianAvatar, rest_vertices: torch.Tensor, head, mirror: np.ndarray) -> GaussianAvatar:
    """Each Gaussian reflected across x = 0 onto its triangle's mirror triangle; view-dependent
    colour is dropped (mirroring SH bands is not worth it for unseen surfaces)."""
    triangles = head.triangles.to(rest_vertices.device)
    centroid, frame, size = triangle_frames(rest_vertices, triangles)
    source = avatar.triangle
    target = torch.as_tensor(mirror, device=source.device)[source]
    reflect = torch.tensor([-1.0, 1.0, 1.0], device=source.device)
    to_world = lambda local, t: size[t, None] * (frame[t] @ local[..., None])[..., 0]
    to_local = lambda world, t: (frame[t].transpose(1, 2) @ world[..., None])[..., 0] / size[t, None]
    means = centroid[source] + to_world(avatar.offsets.detach(), source)
    offsets = to_local(means * reflect - centroid[target], target)
    world_quats = quat_multiply(matrix_to_quat(frame[source]), avatar.rotations.detach())
    frame_inverse = matrix_to_quat(frame[target]) * torch.tensor([1.0, -1, -1, -1], device=source.device)
    rotations = quat_multiply(frame_inverse, world_quats * torch.tensor([1.0, 1, -1, -1], device=source.device))
    expression = avatar.expression_offsets.detach().transpose(0, 1)  # [E, N, 3]
    moved = torch.stack([to_local(to_world(codes, source) * reflect, target) for codes in expression], 1)
    expression_offsets = torch.zeros_like(moved)
    expression_offsets[:, mirror_codes(head.expression_names)] = moved
    sh = torch.zeros_like(avatar.sh)
    sh[:, 0] = avatar.sh[:, 0].detach()
    log_scales = avatar.log_scales.detach() + (size[source] / size[target]).log()[:, None]
    return GaussianAvatar(target, offsets, rotations, log_scales, avatar.opacity_logits.detach().clone(), sh,
                          expression_offsets)


def inpainted_colour(avatar: GaussianAvatar, rest_vertices: torch.Tensor, head, known: np.ndarray) -> np.ndarray:
    """The avatar's linear colour map [S, S, 3], filled over texels whose triangle is not `known` [T]
    from the known texels of the same region nearest to them: the hair-covered scalp (when the head
    model names one) from seen hair only, so hair continues over the back of the head and skin
    under the chin."""
    colour = bake(avatar, rest_vertices, head, INPAINT_SIZE).image("colour").astype(np.float64)
    triangle_id = uv_raster(head, INPAINT_SIZE)[0]
    on_mesh, texel_triangle = triangle_id >= 0, np.maximum(triangle_id, 0)
    texel_known = on_mesh & known[texel_triangle]
    region = triangle_regions(head)[texel_triangle]
    filled = colour.copy()
    for r in np.unique(region[on_mesh & ~texel_known]):
        inside = on_mesh & (region == r)
        fill = inside & ~texel_known
        nearest = nearest_band(fill, texel_known & inside)
        filled[fill] = pull_push(colour, nearest if nearest.any() else texel_known)[fill]
    return filled


def nearest_band(fill: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """The `candidates` [S, S] texels within SOURCE_BAND texels of the one nearest to a `fill`
    texel: the seen surface next to the unseen one (the seen scalp's far edge is hair even where
    the real hairline sits further back than the head model's)."""
    import cv2

    if not candidates.any():
        return candidates
    distance = cv2.distanceTransform((~fill).astype(np.uint8), cv2.DIST_L2, 3)
    return candidates & (distance <= distance[candidates].min() + SOURCE_BAND)


def triangle_regions(head) -> np.ndarray:
    """[T] int: 1 for triangles of the hair-covered scalp (head part "scalp"), 0 for the rest."""
    if "scalp" not in head.part_names:
        return np.zeros(len(head.triangles), np.int64)
    scalp = head.part_mask("scalp").cpu().numpy()[head.triangles.cpu().numpy()]
    return (scalp.sum(-1) >= 2).astype(np.int64)


def pull_push(image: np.ndarray, known: np.ndarray) -> np.ndarray:
    """image [S, S, C] with every texel not `known` [S, S] replaced by a smooth blend of the known
    ones around it (averaged down a pyramid until each cell holds a known texel, then brought back
    up with bilinear interpolation; S a power of two)."""
    import cv2

    if known.all() or not known.any() or len(image) == 1:
        return image
    half = len(image) // 2
    weight = known.astype(np.float64).reshape(half, 2, half, 2).sum((1, 3))
    total = (image * known[..., None]).reshape(half, 2, half, 2, -1).sum((1, 3))
    coarse = pull_push(total / np.maximum(weight, 1)[..., None], weight > 0)
    up = cv2.resize(coarse, (len(image), len(image)), interpolation=cv2.INTER_LINEAR).reshape(image.shape)
    return np.where(known[..., None], image, up)


def fill_gaussians(triangles: np.ndarray, colour: np.ndarray, head, like: GaussianAvatar) -> GaussianAvatar:
    """One opaque, flat Gaussian at the centroid of each of `triangles` [M], coloured from the colour
    map [S, S, 3] at the centroid's UV; SH degree, codes and device as `like`'s."""
    device = like.triangle.device
    M, K, E = len(triangles), like.sh.shape[1], like.expression_offsets.shape[1]
    centroid_uv = head.uvs.cpu().numpy()[head.uv_triangles.cpu().numpy()[triangles]].mean(1)
    row, column = uv_to_texel(centroid_uv, len(colour))
    sh = torch.zeros(M, K, 3, device=device)
    sh[:, 0] = (torch.as_tensor(colour[row, column], device=device) - 0.5) / SH_C0
    log_scales = torch.tensor([FILL_SCALE, FILL_SCALE, FILL_SCALE * FLATNESS], device=device).log().expand(M, 3)
    rotations = torch.tensor([1.0, 0, 0, 0], device=device).expand(M, 4)
    opacity_logits = torch.logit(torch.full((M,), FILL_OPACITY, device=device))
    return GaussianAvatar(torch.as_tensor(triangles, device=device), torch.zeros(M, 3, device=device),
                          rotations.clone(), log_scales.clone(), opacity_logits, sh, torch.zeros(M, E, 3, device=device))


def select(avatar: GaussianAvatar, keep: torch.Tensor) -> GaussianAvatar:
    """The Gaussians where `keep` [N] is True, as a new avatar (detached)."""
    keep = keep.to(avatar.triangle.device)
    return GaussianAvatar(**{name: tensor.detach()[keep] for name, tensor in avatar.tensors().items()})


def concatenate(avatars: list[GaussianAvatar]) -> GaussianAvatar:
    """All Gaussians of `avatars`, in order, as one avatar."""
    names = avatars[0].tensors().keys()
    return GaussianAvatar(**{name: torch.cat([a.tensors()[name].detach() for a in avatars]) for name in names})
