"""Real spherical harmonics up to degree 3, with gsplat's constants and basis order.

Shapes: C cameras, N Gaussians, K = (degree + 1) ** 2 coefficients or more.
Plain torch, differentiable in the directions and the coefficients.
"""

from __future__ import annotations

from functools import lru_cache

import torch


def sh_bases(degree: int, dirs: torch.Tensor) -> torch.Tensor:
    """Basis values at unit directions: dirs [..., 3] -> [..., (degree + 1) ** 2].

    Sloan's "Efficient Spherical Harmonic Evaluation" (JCGT 2013), as in gsplat's
    `_eval_sh_bases_fast`.
    """
    x, y, z = dirs.unbind(-1)
    bases = [torch.full_like(x, 0.2820947917738781)]
    if degree >= 1:
        a = -0.48860251190292
        bases += [a * y, -a * z, a * x]
    if degree >= 2:
        z2 = z * z
        b = -1.092548430592079 * z
        a = 0.5462742152960395
        c1 = x * x - y * y
        s1 = 2 * x * y
        bases += [a * s1, b * y, 0.9461746957575601 * z2 - 0.3153915652525201, b * x, a * c1]
    if degree >= 3:
        c = -2.285228997322329 * z2 + 0.4570457994644658
        b = 1.445305721320277 * z
        a = -0.5900435899266435
        c2 = x * c1 - y * s1
        s2 = x * s1 + y * c1
        bases += [a * s2, b * s1, c * y, z * (1.865881662950577 * z2 - 1.119528997770346), c * x,
                  b * c1, a * c2]
    return torch.stack(bases, -1)


def sh_colors(degree: int, means: torch.Tensor, coeffs: torch.Tensor, viewmats: torch.Tensor) -> torch.Tensor:
    """View-dependent RGB of each Gaussian in each camera, as gsplat computes it.

    means [N, 3] world positions; coeffs [N, K, 3] with K >= (degree + 1) ** 2 (extra bands
    are ignored); viewmats [C, 4, 4] world-to-camera. Returns [C, N, 3]: the SH value along
    the unit direction from the camera centre to the mean, plus 0.5, clamped at 0.
    """
    centres = torch.linalg.inv(viewmats)[:, :3, 3]  # [C, 3]
    dirs = torch.nn.functional.normalize(means[None] - centres[:, None], dim=-1)  # [C, N, 3]
    num_bases = (degree + 1) ** 2
    values = torch.einsum("cnk,nkd->cnd", sh_bases(degree, dirs), coeffs[:, :num_bases])
    return torch.clamp_min(values + 0.5, 0.0)


def rotate_sh(coeffs: torch.Tensor, rotations: torch.Tensor) -> torch.Tensor:
    """Coefficients [N, K, 3] of colours defined in local frames -> the same colours in world space.

    rotations [N, 3, 3]: each frame's axes as columns (world = R @ local). The world coefficients
    reproduce the local colour at every direction: c_world . Y(d) = c_local . Y(R^T d). Degree 1
    in closed form: its band is a . (w . d) with w = (c3, c1, -c2), a vector that turns with R.
    Higher degrees by `_rotate_sh_sampled`.
    """
    K = coeffs.shape[1]
    if K == 1:
        return coeffs
    if K > 4:
        return _rotate_sh_sampled(coeffs, rotations)
    local = torch.stack([coeffs[:, 3], coeffs[:, 1], -coeffs[:, 2]], 1)  # [N, 3 (w), 3 (colour)]
    world = torch.bmm(rotations, local)
    return torch.stack([coeffs[:, 0], world[:, 1], -world[:, 2], world[:, 0]], 1)


def _rotate_sh_sampled(coeffs: torch.Tensor, rotations: torch.Tensor) -> torch.Tensor:
    """`rotate_sh` for any degree, and its slow twin at degree 1. Each band rotates within itself, so
    the map is found exactly by sampling: evaluate the local colours at fixed directions taken into
    the local frames, then solve for the world coefficients there."""
    degree = round(coeffs.shape[1] ** 0.5) - 1
    directions, solve = _sampling_directions(degree, coeffs.device, coeffs.dtype)
    local = torch.einsum("md,ndj->nmj", directions, rotations)  # rows s^T R = (R^T s)^T
    values = torch.einsum("nmk,nkc->nmc", sh_bases(degree, local), coeffs)
    return torch.einsum("km,nmc->nkc", solve, values)


@lru_cache
def _sampling_directions(degree: int, device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """2K unit directions on a Fibonacci sphere [2K, 3] and the least-squares solve [K, 2K] that
    recovers SH coefficients from values there."""
    count = 2 * (degree + 1) ** 2
    index = torch.arange(count, dtype=torch.float64) + 0.5
    z = 1 - 2 * index / count
    angle = index * torch.pi * (3 - 5 ** 0.5)
    ring = (1 - z * z).sqrt()
    directions = torch.stack([ring * angle.cos(), ring * angle.sin(), z], -1)
    solve = torch.linalg.pinv(sh_bases(degree, directions))
    return directions.to(device, dtype), solve.to(device, dtype)
