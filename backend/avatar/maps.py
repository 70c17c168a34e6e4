"""Bake the avatar's Gaussians into maps in the head model's UV layout, and rebuild them from maps.

Each Gaussian has a UV position: the point of its triangle under its in-plane offset (clamped into
the triangle), mapped through the head model's UV layout. Baking gives every Gaussian its own texel
there (the nearest free one when two fall into the same texel) and fills all other texels from the
nearest Gaussian's texel, so each map is continuous and paintable (FATE's baking). `resample` reads
the maps back at the Gaussians' texels; unedited maps give back exactly the values baked.

Maps are images [S, S, C], row 0 at the top (v = 1), as image files and Blender store them:
    colour      C=3  linear RGB of the SH DC term (SH_C0 * dc + 0.5)
    opacity     C=1  in [0, 1]
    offset      C=3  in the triangle's frame and units (see model.py)
    log_scale   C=3
    rotation    C=4  wxyz, local to the triangle's frame, w >= 0
    sh_<k>      C=3  SH coefficient k = 1 .. K-1 (view-dependent colour), when sh_degree > 0
    expression_<code>  C=3  the expression offset of one code
Shapes: N Gaussians, T triangles, S map size in texels, E expression codes.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ..errors import BackendError
from .model import SH_C0, GaussianAvatar, triangle_frames

MAX_FILL = 0.5  # at most this share of the texels may hold a Gaussian's own value
OPACITY_EPS = 1e-6  # opacities are clamped to [eps, 1 - eps] before the logit


@dataclasses.dataclass
class Bake:
    """Maps of one avatar, kept compact: per-Gaussian values plus, per texel, the Gaussian it shows."""

    texels: np.ndarray  # [N] flat texel index (row * S + column) each Gaussian samples
    owner: np.ndarray  # [S, S] the Gaussian whose texel is nearest each texel
    values: dict[str, np.ndarray]  # map name -> [N, C]

    @property
    def size(self) -> int:
        return self.owner.shape[0]

    def image(self, name: str) -> np.ndarray:
        """The map `name` as an image [S, S, C] float32."""
        return self.values[name][self.owner]


def bake(gaussians: GaussianAvatar, rest_vertices: torch.Tensor, head, size: int) -> Bake:
    """Bake Gaussians bound to the rest mesh [V, 3] of `head` into maps of `size` x `size` texels."""
    texels = assign_texels(gaussian_uvs(gaussians, rest_vertices, head), size)
    return Bake(texels, nearest_owner(texels, size), gaussian_values(gaussians, head.expression_names))


def resample(gaussians: GaussianAvatar, texels: np.ndarray, images: dict[str, np.ndarray],
             expression_names: list[str]) -> GaussianAvatar:
    """A copy of `gaussians` whose parameters are read from `images` (map name -> [S, S, C]) at
    `texels` [N]; parameters without a map keep their values, so a host may pass only colour."""
    samples = {}
    for name, image in images.items():
        if image.ndim != 3 or image.shape[0] != image.shape[1]:
            raise ValueError(f"map {name} must be [S, S, C], got {list(image.shape)}")
        samples[name] = image.reshape(-1, image.shape[-1])[texels]
    return with_values(gaussians, samples, expression_names)


def gaussian_values(gaussians: GaussianAvatar, expression_names: list[str]) -> dict[str, np.ndarray]:
    """Every map's value at each Gaussian: map name -> [N, C] float32 (the module docstring's list)."""
    as_numpy = lambda tensor: tensor.detach().cpu().double().numpy()
    sh = as_numpy(gaussians.sh)
    rotations = as_numpy(torch.nn.functional.normalize(gaussians.rotations, dim=-1))
    values = {"colour": SH_C0 * sh[:, 0] + 0.5,
              "opacity": 1 / (1 + np.exp(-as_numpy(gaussians.opacity_logits)[:, None])),
              "offset": as_numpy(gaussians.offsets), "log_scale": as_numpy(gaussians.log_scales),
              "rotation": np.where(rotations[:, :1] < 0, -rotations, rotations)}
    values.update({f"sh_{k}": sh[:, k] for k in range(1, sh.shape[1])})
    expression = as_numpy(gaussians.expression_offsets)
    values.update({f"expression_{code}": expression[:, e] for e, code in enumerate(expression_names)})
    return {name: value.astype(np.float32) for name, value in values.items()}


def with_values(gaussians: GaussianAvatar, values: dict[str, np.ndarray], expression_names: list[str]) -> GaussianAvatar:
    """A copy of `gaussians` with the maps' per-Gaussian `values` (name -> [N, C]) written back."""
    arrays = {name: tensor.detach().clone() for name, tensor in gaussians.tensors().items()}
    as_tensor = lambda name: torch.as_tensor(values[name], dtype=torch.float32, device=gaussians.triangle.device)
    if "colour" in values:
        arrays["sh"][:, 0] = (as_tensor("colour") - 0.5) / SH_C0
    if "opacity" in values:
        arrays["opacity_logits"] = torch.logit(as_tensor("opacity")[:, 0].double(), eps=OPACITY_EPS).float()
    for name, parameter in (("offset", "offsets"), ("log_scale", "log_scales"), ("rotation", "rotations")):
        if name in values:
            arrays[parameter] = as_tensor(name)
    for k in range(1, arrays["sh"].shape[1]):
        if f"sh_{k}" in values:
            arrays["sh"][:, k] = as_tensor(f"sh_{k}")
    for e, code in enumerate(expression_names):
        if f"expression_{code}" in values:
            arrays["expression_offsets"][:, e] = as_tensor(f"expression_{code}")
    return GaussianAvatar(**arrays)


def rest_vertices(head, identity: torch.Tensor) -> torch.Tensor:
    """[V, 3] the neutral head with `identity` [I] in head-model space: the mesh maps are baked on."""
    with torch.no_grad():
        return head(identity=identity.to(head.template.device)[None]).vertices[0]


def gaussian_uvs(gaussians: GaussianAvatar, rest_vertices: torch.Tensor, head) -> np.ndarray:
    """[N, 2] UV position of each Gaussian: its in-plane offset's point, clamped into its triangle."""
    triangles = head.triangles.to(rest_vertices.device)[gaussians.triangle]
    centroid, frame, size = triangle_frames(rest_vertices, triangles)
    corners = rest_vertices[triangles] - centroid[:, None]  # [N, 3, 3]
    corners_2d = (corners @ frame)[..., :2] / size[:, None, None]  # corners in the frame's in-plane axes
    weights = barycentric_2d(gaussians.offsets.detach()[:, :2], corners_2d).clamp(min=0)
    weights = weights / weights.sum(-1, keepdim=True)
    uv_corners = head.uvs.to(rest_vertices.device)[head.uv_triangles.to(rest_vertices.device)[gaussians.triangle]]
    return (weights[..., None] * uv_corners).sum(1).cpu().numpy()


def barycentric_2d(points: torch.Tensor, corners: torch.Tensor) -> torch.Tensor:
    """Barycentric weights [N, 3] of 2D points [N, 2] in triangles with corners [N, 3, 2]."""
    a, b, c = corners.unbind(1)
    e1, e2, d = b - a, c - a, points - a
    det = (e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]).clamp_min(1e-12)
    w1 = (d[:, 0] * e2[:, 1] - d[:, 1] * e2[:, 0]) / det
    w2 = (e1[:, 0] * d[:, 1] - e1[:, 1] * d[:, 0]) / det
    return torch.stack([1 - w1 - w2, w1, w2], -1)


def uv_to_texel(uvs: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) int arrays of the texels holding UV points [..., 2] (v up, row 0 at the top)."""
    column = np.clip(np.floor(uvs[..., 0] * size), 0, size - 1).astype(np.int64)
    row = np.clip(np.floor((1 - uvs[..., 1]) * size), 0, size - 1).astype(np.int64)
    return row, column


def assign_texels(uvs: np.ndarray, size: int) -> np.ndarray:
    """[N] distinct flat texel indices for UV points [N, 2]: each point's own texel, or for a later
    point landing on a taken texel the nearest free one (deterministic: in Gaussian order)."""
    if len(uvs) > MAX_FILL * size * size:
        raise BackendError(f"{len(uvs)} Gaussians do not fit in {size}x{size} maps; bake with a larger --size "
                           f"(at least {int(np.ceil(np.sqrt(len(uvs) / MAX_FILL)))}).")
    row, column = uv_to_texel(uvs, size)
    texels = row * size + column
    first = np.zeros(len(texels), bool)
    first[np.unique(texels, return_index=True)[1]] = True
    taken = np.zeros(size * size, bool)
    taken[texels[first]] = True
    for n in np.flatnonzero(~first):
        texels[n] = _nearest_free(taken, size, row[n], column[n])
        taken[texels[n]] = True
    return texels


def _nearest_free(taken: np.ndarray, size: int, row: int, column: int) -> int:
    """Flat index of the free texel nearest (row, column), searching square rings outwards."""
    grid = taken.reshape(size, size)
    for radius in range(1, size):
        top, left = max(row - radius, 0), max(column - radius, 0)
        window = grid[top:row + radius + 1, left:column + radius + 1]
        free_rows, free_columns = np.nonzero(~window)
        if len(free_rows):
            distance = (free_rows + top - row) ** 2 + (free_columns + left - column) ** 2
            best = np.argmin(distance)
            return int((free_rows[best] + top) * size + free_columns[best] + left)
    raise BackendError("no free texel left in the maps; bake with a larger --size.")


def nearest_owner(texels: np.ndarray, size: int) -> np.ndarray:
    """[S, S] index of the Gaussian whose texel (flat indices [N]) is nearest each texel."""
    from scipy.ndimage import distance_transform_edt

    if len(texels) == 0:
        raise BackendError("the avatar has no Gaussians to bake.")
    owner = np.full(size * size, -1, np.int64)
    owner[texels] = np.arange(len(texels))
    owner = owner.reshape(size, size)
    rows, columns = distance_transform_edt(owner < 0, return_distances=False, return_indices=True)
    return owner[rows, columns]


def uv_raster(head, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Which triangle covers each texel's centre in the UV layout: ids [S, S] (-1 for none) and
    barycentric weights [S, S, 3]. Where UV islands overlap, one of them wins."""
    from ..meshrender import rasterize

    corners = head.uvs.cpu().numpy()[head.uv_triangles.cpu().numpy()].reshape(-1, 2).astype(np.float64)
    row, column = (1 - corners[:, 1]) * size, corners[:, 0] * size
    flat = np.stack([column, row, np.ones_like(row)], -1)  # camera-space points at z = 1 with K = I
    fragments = rasterize(flat, np.arange(len(flat)).reshape(-1, 3), np.eye(4), np.eye(3), size, size)
    return fragments.triangle_id, fragments.barycentrics
