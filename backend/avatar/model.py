"""The Gaussian head avatar: Gaussians rigged to head-model triangles (as in GaussianAvatars).

Each Gaussian n lives in the local frame of triangle `triangle[n]`: origin at the centroid,
axes from the first edge and the normal, unit length k = the triangle's mean edge length.
Posed in world space:

    mean     = centroid + k * R @ (offset + expression @ expression_offsets)
    rotation = R * local rotation
    scale    = k * exp(log_scale)
    colour   = SH coefficients turned by R (render.sh.rotate_sh)

so the Gaussians follow the mesh and grow or shrink with its triangles, and view-dependent colour
(the shading of a head turning under fixed lights) turns with them. The expression
offsets [N, E, 3] are a small linear correction per ARKit code (Blender can carry them as
shape keys). Shapes: N Gaussians, V vertices, T triangles, E expression codes, K SH coefficients.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import torch

from ..render.sh import rotate_sh

PARAMETERS = ("offsets", "rotations", "log_scales", "opacity_logits", "sh", "expression_offsets")


@dataclasses.dataclass
class PosedGaussians:
    means: torch.Tensor  # [N, 3] world
    quats: torch.Tensor  # [N, 4] wxyz
    scales: torch.Tensor  # [N, 3] linear
    opacities: torch.Tensor  # [N] in [0, 1]
    sh: torch.Tensor  # [N, K, 3]


class MovingOffsets(NamedTuple):
    """Which expression offsets may be non-zero, as flat indices (three per Gaussian and code: x, y, z)."""

    entry: torch.Tensor  # [3P] into expression_offsets.flatten()
    code: torch.Tensor  # [3P] the code of each
    local: torch.Tensor  # [3P] into offsets.flatten(): the Gaussian's own offset, same axis


def moving_offsets(allowed: torch.Tensor) -> MovingOffsets:
    """From allowed [N, E] bool, the codes that may move each Gaussian. A fitted face has about two
    codes per Gaussian of 52: posing with these skips the rest of the [N, E, 3] array."""
    gaussian, code = allowed.nonzero().unbind(1)
    spread = lambda index: (3 * index[:, None] + torch.arange(3, device=index.device)).flatten()
    return MovingOffsets(spread(gaussian * allowed.shape[1] + code), code.repeat_interleave(3), spread(gaussian))


class GaussianAvatar(torch.nn.Module):
    """Learnable Gaussians bound to triangles; `pose(vertices, expression)` places them."""

    def __init__(self, triangle: torch.Tensor, offsets: torch.Tensor, rotations: torch.Tensor,
                 log_scales: torch.Tensor, opacity_logits: torch.Tensor, sh: torch.Tensor,
                 expression_offsets: torch.Tensor):
        super().__init__()
        self.register_buffer("triangle", triangle.long())  # [N] index into the head's triangles
        self.offsets = torch.nn.Parameter(offsets)  # [N, 3] in triangle units
        self.rotations = torch.nn.Parameter(rotations)  # [N, 4] wxyz, local to the triangle frame
        self.log_scales = torch.nn.Parameter(log_scales)  # [N, 3] log of scale / triangle size
        self.opacity_logits = torch.nn.Parameter(opacity_logits)  # [N]
        self.sh = torch.nn.Parameter(sh)  # [N, K, 3]
        self.expression_offsets = torch.nn.Parameter(expression_offsets)  # [N, E, 3] triangle units per code

    @property
    def num_gaussians(self) -> int:
        return len(self.triangle)

    @property
    def sh_degree(self) -> int:
        return int(round(self.sh.shape[1] ** 0.5)) - 1

    def tensors(self) -> dict[str, torch.Tensor]:
        """Every array of the avatar by name (the file's contents)."""
        return {"triangle": self.triangle, **{name: getattr(self, name) for name in PARAMETERS}}

    def pose(self, vertices: torch.Tensor, triangles: torch.Tensor, expression: torch.Tensor,
             moving: MovingOffsets | None = None) -> PosedGaussians:
        """Gaussians in world space for one frame: vertices [V, 3], triangles [T, 3], expression [E].
        moving: the expression offsets that may be non-zero (`moving_offsets`); the rest count as zero
        and get no gradient."""
        used, slot = self._triangle_slots()
        centroid, frame, size = triangle_frames(vertices, triangles[used])
        frame_quats = matrix_to_quat(frame)[slot]
        centroid, frame, size = centroid[slot], frame[slot], size[slot]
        if moving is None:
            local = self.offsets + torch.matmul(expression, self.expression_offsets)  # [E] @ [N, E, 3]: faster than einsum
        else:
            moved = self.expression_offsets.flatten().gather(0, moving.entry) * expression.gather(0, moving.code)
            local = self.offsets.flatten().scatter_add(0, moving.local, moved).view_as(self.offsets)
        means = centroid + size[:, None] * (frame * local[:, None, :]).sum(-1)  # CPU bmm is slow on tiny matrices
        quats = quat_multiply(frame_quats, torch.nn.functional.normalize(self.rotations, dim=-1))
        scales = size[:, None] * self.log_scales.exp()
        return PosedGaussians(means, quats, scales, torch.sigmoid(self.opacity_logits), rotate_sh(self.sh, frame))

    def _triangle_slots(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(the triangles carrying Gaussians [U], each Gaussian's index into them [N]): a fitted avatar
        uses a fraction of the mesh. Kept until `triangle` is replaced or changed."""
        triangle, version, used, slot = getattr(self, "_slots", (None, None, None, None))
        if triangle is not self.triangle or version != self.triangle._version:
            used, slot = torch.unique(self.triangle, return_inverse=True)
            self._slots = (self.triangle, self.triangle._version, used, slot)
        return used, slot


def triangle_frames(vertices: torch.Tensor, triangles: torch.Tensor):
    """Per triangle: centroid [T, 3], rotation [T, 3, 3] (columns: edge, normal x edge, normal), size [T]."""
    a, b, c = (vertices[triangles[:, i]] for i in range(3))
    edge = torch.nn.functional.normalize(b - a, dim=-1, eps=1e-12)
    normal = torch.nn.functional.normalize(torch.cross(b - a, c - a, dim=-1), dim=-1, eps=1e-12)
    frame = torch.stack([edge, torch.cross(normal, edge, dim=-1), normal], dim=-1)
    size = ((b - a).norm(dim=-1) + (c - b).norm(dim=-1) + (a - c).norm(dim=-1)) / 3
    return (a + b + c) / 3, frame, size


def matrix_to_quat(matrix: torch.Tensor) -> torch.Tensor:
    """[..., 3, 3] rotation matrices -> [..., 4] wxyz (the numerically safe branch per element)."""
    weights, bias = _quat_candidate_map(matrix.device, matrix.dtype)
    # Row i is 4 * q * q_i, best conditioned where q_i is largest; its entries are affine in the matrix's.
    candidates = (matrix.flatten(-2) @ weights + bias).unflatten(-1, (4, 4))
    best = candidates.diagonal(dim1=-2, dim2=-1).contiguous().argmax(-1)
    chosen = torch.gather(candidates, -2, best[..., None, None].expand(*best.shape, 1, 4))[..., 0, :]
    return torch.nn.functional.normalize(chosen, dim=-1)


@functools.lru_cache
def _quat_candidate_map(device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """[9, 16] weights and [16] bias taking a row-major 3x3 rotation m to the 4x4 candidates
    (4 w^2, 4 wx, 4 wy, 4 wz; 4 xw, 4 x^2, ...): diagonal 1 +- m00 +- m11 +- m22, off the diagonal
    m21 -+ m12, m02 -+ m20, m10 -+ m01 (differences against w, sums between x, y, z)."""
    weights = torch.zeros(9, 4, 4, dtype=torch.float64)
    for k, signs in enumerate(((1, 1, 1), (1, -1, -1), (-1, 1, -1), (-1, -1, 1))):
        weights[[0, 4, 8], k, k] = torch.tensor(signs, dtype=torch.float64)
    for axis, (plus, minus) in enumerate(((7, 5), (2, 6), (3, 1)), start=1):
        weights[plus, 0, axis] = weights[plus, axis, 0] = 1
        weights[minus, 0, axis] = weights[minus, axis, 0] = -1
    for (row, column), pair in {(1, 2): [1, 3], (1, 3): [2, 6], (2, 3): [5, 7]}.items():
        weights[pair, row, column] = weights[pair, column, row] = 1
    return weights.flatten(1).to(device, dtype), torch.eye(4, dtype=dtype, device=device).flatten()


def quat_multiply(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product of wxyz quaternions [..., 4]: the 16 products a_j b_k summed by the unit table."""
    products = (a[..., :, None] * b[..., None, :]).flatten(-2)
    return products @ _hamilton_table(a.device, a.dtype)


@functools.lru_cache
def _hamilton_table(device, dtype) -> torch.Tensor:
    """[16, 4]: where e_j e_k lands, for the units e = (1, i, j, k) (i j = k, j i = -k, i i = -1, ...)."""
    units = (((1, 0), (1, 1), (1, 2), (1, 3)), ((1, 1), (-1, 0), (1, 3), (-1, 2)),
             ((1, 2), (-1, 3), (-1, 0), (1, 1)), ((1, 3), (1, 2), (-1, 1), (-1, 0)))
    table = torch.zeros(4, 4, 4, dtype=dtype)
    for j, row in enumerate(units):
        for k, (sign, unit) in enumerate(row):
            table[j, k, unit] = sign
    return table.flatten(0, 1).to(device)


SH_C0 = 0.2820947917738781  # the constant degree-0 basis: colour = SH_C0 * dc + 0.5
FLATNESS = 0.3  # initial thickness along the normal, relative to the in-plane scale


def sample_on_triangles(vertices: torch.Tensor, triangles: torch.Tensor, chosen: torch.Tensor,
                        generator: torch.Generator) -> torch.Tensor:
    """Uniform random points on the triangles `chosen` [M] of the mesh vertices [V, 3]:
    offsets [M, 3] in those triangles' units."""
    a, b, c = (vertices[triangles[chosen, i]] for i in range(3))
    u, v = torch.rand(2, len(chosen), generator=generator, device=vertices.device)
    flip = u + v > 1
    u, v = torch.where(flip, 1 - u, u), torch.where(flip, 1 - v, v)
    points = a + u[:, None] * (b - a) + v[:, None] * (c - a)
    centroid, frame, size = triangle_frames(vertices, triangles[chosen])
    return (frame.transpose(1, 2) @ (points - centroid)[:, :, None])[..., 0] / size[:, None]


def triangle_areas(vertices: torch.Tensor, triangles: torch.Tensor) -> torch.Tensor:
    a, b, c = (vertices[triangles[:, i]] for i in range(3))
    return torch.cross(b - a, c - a, dim=-1).norm(dim=-1) / 2


def initial_avatar(vertices: torch.Tensor, triangles: torch.Tensor, count: int, sh_degree: int,
                   num_expressions: int, vertex_colors: torch.Tensor | None, seed: int = 0,
                   allowed: torch.Tensor | None = None) -> GaussianAvatar:
    """`count` flat, half-opaque Gaussians spread by area over the rest mesh vertices [V, 3] (only
    on the `allowed` [T] bool triangles when given), coloured from the head's albedo (grey without one)."""
    generator = torch.Generator(device=vertices.device).manual_seed(seed)
    areas = triangle_areas(vertices, triangles)
    weights = areas if allowed is None else areas * allowed.to(areas.device)
    chosen = torch.multinomial(weights, count, replacement=True, generator=generator)
    offsets = sample_on_triangles(vertices, triangles, chosen, generator)
    _, _, size = triangle_frames(vertices, triangles)
    spacing = (weights.sum() / count).sqrt()
    log_scales = (spacing / size[chosen]).log()[:, None].repeat(1, 3)
    log_scales[:, 2] += torch.log(torch.tensor(FLATNESS))
    if vertex_colors is None:
        colour = torch.full((count, 3), 0.5, device=vertices.device)
    else:
        colour = vertex_colors[triangles[chosen]].mean(1)
    sh = torch.zeros(count, (sh_degree + 1) ** 2, 3, device=vertices.device)
    sh[:, 0] = (colour - 0.5) / SH_C0
    rotations = torch.zeros(count, 4, device=vertices.device)
    rotations[:, 0] = 1
    return GaussianAvatar(chosen, offsets, rotations, log_scales, torch.zeros(count, device=vertices.device), sh,
                          torch.zeros(count, num_expressions, 3, device=vertices.device))
