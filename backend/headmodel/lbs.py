"""Pure functions of the head-model forward pass (after smplx's lbs.py).

Shapes: F frames, V vertices, E expression codes, I identity coefficients, J joints,
L landmarks. Everything is batched over F, differentiable and dtype-generic.
"""

from __future__ import annotations

import torch


def blend_shapes(coefficients: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """Linear blend: coefficients [..., K] x directions [K, V, 3] -> offsets [..., V, 3] (one GEMM)."""
    K, V = directions.shape[:2]
    return (coefficients @ directions.reshape(K, V * 3)).reshape(*coefficients.shape[:-1], V, 3)


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula: [..., 3] -> [..., 3, 3], smooth (and exact) at zero angle."""
    theta2 = (axis_angle * axis_angle).sum(-1, keepdim=True)
    small = theta2 < 1e-12
    theta2_safe = torch.where(small, torch.ones_like(theta2), theta2)
    theta = theta2_safe.sqrt()
    # Taylor branches keep gradients finite at the identity rotation.
    sin_term = torch.where(small, 1 - theta2 / 6, torch.sin(theta) / theta)
    cos_term = torch.where(small, 0.5 - theta2 / 24, (1 - torch.cos(theta)) / theta2_safe)
    x, y, z = axis_angle.unbind(-1)
    zero = torch.zeros_like(x)
    skew = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(*axis_angle.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device).expand_as(skew)
    skew_squared = axis_angle[..., :, None] * axis_angle[..., None, :] - theta2[..., None] * eye  # K^2 = a a^T - |a|^2 I
    return eye + sin_term[..., None] * skew + cos_term[..., None] * skew_squared


def matrix_to_axis_angle(matrix: torch.Tensor) -> torch.Tensor:
    """The inverse of `axis_angle_to_matrix` for rotations below half a turn: [..., 3, 3] -> [..., 3],
    smooth at the identity (where the axis is undefined)."""
    vee = torch.stack([matrix[..., 2, 1] - matrix[..., 1, 2], matrix[..., 0, 2] - matrix[..., 2, 0],
                       matrix[..., 1, 0] - matrix[..., 0, 1]], -1) / 2  # sin(angle) * axis
    sine = vee.norm(dim=-1, keepdim=True)
    cosine = (matrix.diagonal(dim1=-2, dim2=-1).sum(-1, keepdim=True) - 1) / 2
    angle = torch.atan2(sine, cosine)
    small = sine < 1e-6
    return vee * torch.where(small, 1 + angle * angle / 6, angle / torch.where(small, torch.ones_like(sine), sine))


def turn_on_joint(rotation: torch.Tensor, translation: torch.Tensor, body_rotation: torch.Tensor,
                  joint: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A rigid pose x -> rotation x + translation ([F, 3, 3], [F, 3]) split into a body pose that keeps
    `body_rotation` [3, 3] and a turn about `joint` [3] (model space): returns (turn [F, 3, 3], body
    translation [F, 3]) with body_rotation (turn (x - joint) + joint) + body translation equal to the pose."""
    turn = matmul3(body_rotation.T.expand_as(rotation), rotation)
    return turn, translation + ((rotation - body_rotation) * joint).sum(-1)


def matmul3(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a [..., 3, 3] @ b [..., 3, k] as broadcast multiply-sum: CPU batched matmul is slow on
    millions of tiny matrices."""
    return (a[..., :, :, None] * b[..., None, :, :]).sum(-2)


def joint_transforms(rotations: torch.Tensor, joints: torch.Tensor, parents: list[int]) -> torch.Tensor:
    """World transforms of a joint chain rotating about rest positions.

    rotations [F, J, 3, 3] local rotations; joints [F, J, 3] rest positions; parents[j] < j or -1.
    Returns [F, J, 3, 4]: x -> R x + t maps a rest-pose point rigidly attached to joint j.
    """
    transforms: list[torch.Tensor] = []
    for j, parent in enumerate(parents):
        rotation = rotations[:, j]
        translation = joints[:, j] - matmul3(rotation, joints[:, j, :, None])[..., 0]
        local = torch.cat([rotation, translation[..., None]], -1)
        if parent >= 0:
            local = compose(transforms[parent], local)
        transforms.append(local)
    return torch.stack(transforms, 1)


def compose(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Rigid transforms [..., 3, 4]: (a o b)(x) = a(b(x))."""
    rotation = matmul3(a[..., :3], b[..., :3])
    translation = matmul3(a[..., :3], b[..., 3:])[..., 0] + a[..., 3]
    return torch.cat([rotation, translation[..., None]], -1)


def skin(vertices: torch.Tensor, weights: torch.Tensor, transforms: torch.Tensor) -> torch.Tensor:
    """Linear blend skinning with an implicit root.

    vertices [F, V, 3]; weights [V, J] with rows summing to at most 1 (the rest follows the
    root, i.e. stays put); transforms [F, J, 3, 4]. Returns [F, V, 3].
    """
    J = weights.shape[1]
    identity = torch.eye(3, 4, dtype=transforms.dtype, device=transforms.device)
    # blend the transforms per vertex (the root's is the identity), then apply once
    delta = (transforms - identity).reshape(-1, J, 12)  # [F, J, 12]
    blended = (weights @ delta).reshape(-1, weights.shape[0], 3, 4) + identity  # [F, V, 3, 4]
    return (blended[..., :3] * vertices[..., None, :]).sum(-1) + blended[..., 3]


def vertices_to_landmarks(vertices: torch.Tensor, triangles: torch.Tensor, barycentric: torch.Tensor) -> torch.Tensor:
    """Points on the mesh: vertices [F, V, 3], triangles [L, 3] vertex ids, barycentric [L, 3] -> [F, L, 3]."""
    corners = vertices[:, triangles]  # [F, L, 3, 3]
    return (corners * barycentric[None, :, :, None]).sum(2)
