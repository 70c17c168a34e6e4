"""The slow, obviously correct twin of the CPU rasteriser, for tests.

Every pixel evaluates every visible Gaussian in depth order with the same alpha, skip and
stop rules as the tiled kernels, in plain torch: gradients come from autograd. Memory is
C * H * W * N, so keep scenes and images small.
"""

from __future__ import annotations

import torch

from ._cpu import MAX_ALPHA, MIN_TRANSMITTANCE
from ._project import ALPHA_THRESHOLD, Projection
from .rasterize import RasterOutput, check_inputs, render_with


def rasterize_dense(means, quats, scales, opacities, colors, viewmats, Ks, width: int, height: int,
                    sh_degree: int | None = None, background=None) -> RasterOutput:
    """Same arguments and result as `rasterize`, always on this slow path."""
    check_inputs(means, quats, scales, opacities, colors, viewmats, Ks, width, height, sh_degree, background)
    return render_with(composite_dense, means, quats, scales, opacities, colors, viewmats, Ks,
                       width, height, sh_degree, background)


def composite_dense(projection: Projection, features: torch.Tensor, opacities: torch.Tensor,
                    width: int, height: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Blend features [C, N, D] with opacities [C, N] into images [C, H, W, D] and alpha [C, H, W, 1]."""
    C, N, D = features.shape
    order = torch.argsort(projection.depths, dim=1, stable=True)  # [C, N]

    def take(tensor):  # reorder dim 1 (Gaussians) front to back
        return torch.gather(tensor, 1, order.view(C, N, *[1] * (tensor.dim() - 2)).expand_as(tensor))

    means2d, conics, features, opacities = map(take, (projection.means2d, projection.conics, features, opacities))
    visible = take(projection.radii.any(-1))
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    pixels = torch.stack([xs, ys], -1).reshape(-1, 2).to(means2d) + 0.5  # [P, 2]
    delta = means2d[:, None] - pixels[None, :, None]  # [C, P, N, 2]
    dx, dy = delta.unbind(-1)
    a, b, c = conics[:, None].unbind(-1)
    sigma = 0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy
    alpha = torch.clamp_max(opacities[:, None] * torch.exp(-sigma), MAX_ALPHA)
    alpha = torch.where(visible[:, None] & (sigma >= 0) & (alpha >= ALPHA_THRESHOLD), alpha, 0.0)
    # Pixel stops at the first Gaussian that would take T to 1e-4 or below; T only falls,
    # so "the running product after me is still above 1e-4" marks exactly the ones before.
    after = torch.cumprod(1 - alpha, dim=-1)
    used = after > MIN_TRANSMITTANCE
    before = torch.cat([torch.ones_like(after[..., :1]), after[..., :-1]], -1)
    weights = torch.where(used, alpha * before, 0.0)  # [C, P, N]
    image = torch.einsum("cpn,cnd->cpd", weights, features).reshape(C, height, width, D)
    transmittance = torch.where(used, 1 - alpha, 1.0).prod(-1)
    return image, (1 - transmittance).reshape(C, height, width, 1)
