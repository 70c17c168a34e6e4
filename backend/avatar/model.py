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

    def pose(self, vertices: torch.Tensor, triangles: torch.Tensor, expression: torch.Tensor) -> PosedGaussians:
        """Gaussians in world space for one frame: vertices [V, 3], triangles [T, 3], expression [E]."""
        # Only the triangles that carry Gaussians: a fitted avatar uses a fraction of the mesh.
        used, slot = torch.unique(self.triangle, return_inverse=True)
        centroid, frame, size = triangle_frames(vertices, triangles[used])
        frame_quats = matrix_to_quat(frame)[slot]
        centroid, frame, size = centroid[slot], frame[slot], size[slot]
        local = self.offsets + torch.matmul(expression, self.expression_offsets)  # [E] @ [N, E, 3]: faster than einsum
        means = centroid + size[:, None] * (frame * local[:, None, :]).sum(-1)  # CPU bmm is slow on tiny matrices
        quats = quat_multiply(frame_quats, torch.nn.functional.normalize(self.rotations, dim=-1))
        scales = size[:, None] * self.log_scales.exp()
        return PosedGaussians(means, quats, scales, torch.sigmoid(self.opacity_logits), rotate_sh(self.sh, frame))


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
    m = matrix
    trace = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    candidates = torch.stack([
        torch.stack([1 + trace, m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1),
        torch.stack([m[..., 2, 1] - m[..., 1, 2], 1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2], m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0]], -1),
        torch.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 0, 1] + m[..., 1, 0], 1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2], m[..., 1, 2] + m[..., 2, 1]], -1),
        torch.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1], 1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2]], -1),
    ], -2)  # [..., 4, 4]: row i is 4 * q * q_i, best conditioned where q_i is largest
    diagonal = torch.stack([1 + trace, 1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
                            1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2], 1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2]], -1)
    best = diagonal.argmax(-1)
    chosen = torch.gather(candidates, -2, best[..., None, None].expand(*best.shape, 1, 4))[..., 0, :]
    return torch.nn.functional.normalize(chosen, dim=-1)


def quat_multiply(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product of wxyz quaternions [..., 4]."""
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack([aw * bw - ax * bx - ay * by - az * bz, aw * bx + ax * bw + ay * bz - az * by,
                        aw * by - ax * bz + ay * bw + az * bx, aw * bz + ax * by - ay * bx + az * bw], -1)


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
