"""Image losses and metrics on [C, H, W, 3] tensors: L1, SSIM (11 x 11 Gaussian window) and PSNR."""

from __future__ import annotations

import torch

from .clip import encode_srgb

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_C1 = 0.01 ** 2
SSIM_C2 = 0.03 ** 2


def l1(rendered: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (rendered - target).abs().mean()


def ssim_map(rendered: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-pixel SSIM [C, H, W] of images [C, H, W, 3] in [0, 1] (channel mean; zero padding, as 3DGS)."""
    x, y = rendered.permute(0, 3, 1, 2), target.permute(0, 3, 1, 2)
    mu_x, mu_y, xx, yy, xy = _gaussian_blur(torch.cat([x, y, x * x, y * y, x * y], 1)).split(x.shape[1], 1)
    var_x, var_y, cov = xx - mu_x ** 2, yy - mu_y ** 2, xy - mu_x * mu_y
    ssim = ((2 * mu_x * mu_y + SSIM_C1) * (2 * cov + SSIM_C2)
            / ((mu_x ** 2 + mu_y ** 2 + SSIM_C1) * (var_x + var_y + SSIM_C2)))
    return ssim.mean(1)


def _ssim_map_reference(rendered: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Slow twin of `ssim_map`: each blur sums the 11 x 11 window directly, one image at a time."""
    coords = torch.arange(SSIM_WINDOW, dtype=rendered.dtype) - SSIM_WINDOW // 2
    weights = torch.exp(-coords ** 2 / (2 * SSIM_SIGMA ** 2))
    window = (weights[:, None] * weights[None, :] / weights.sum() ** 2).expand(3, 1, SSIM_WINDOW, SSIM_WINDOW)
    half = SSIM_WINDOW // 2
    blur = lambda image: torch.nn.functional.conv2d(torch.nn.functional.pad(image, (half,) * 4), window, groups=3)
    x, y = rendered.permute(0, 3, 1, 2), target.permute(0, 3, 1, 2)
    mu_x, mu_y = blur(x), blur(y)
    var_x, var_y, cov = blur(x * x) - mu_x ** 2, blur(y * y) - mu_y ** 2, blur(x * y) - mu_x * mu_y
    ssim = ((2 * mu_x * mu_y + SSIM_C1) * (2 * cov + SSIM_C2)
            / ((mu_x ** 2 + mu_y ** 2 + SSIM_C1) * (var_x + var_y + SSIM_C2)))
    return ssim.mean(1)


def d_ssim(rendered: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The structural dissimilarity (1 - SSIM) / 2 used as a loss."""
    return (1 - ssim_map(rendered, target).mean()) / 2


def photometric(rendered: torch.Tensor, target: torch.Tensor, ssim_weight: float) -> torch.Tensor:
    """The fit's image loss on linear images, (1 - w) L1 + w D-SSIM of their sRGB encodings: the
    metrics and a viewer see sRGB, where an error in the dark (hair, eyes, a suit) weighs up to 13
    times what it does in linear values."""
    rendered, target = encode_srgb(rendered), encode_srgb(target)
    return (1 - ssim_weight) * l1(rendered, target) + ssim_weight * d_ssim(rendered, target)


def psnr(rendered: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """PSNR in dB over all pixels, or over the pixels where mask [C, H, W] is true."""
    squared = ((rendered - target) ** 2).mean(-1)
    mse = squared.mean() if mask is None else squared[mask].mean()
    return float(-10 * torch.log10(mse.clamp(min=1e-12)))


def _gaussian_blur(images: torch.Tensor) -> torch.Tensor:
    """The SSIM window over each channel of [C, K, H, W], zero padded: the 11 x 11 Gaussian as a row
    pass and a column pass (the same sums, a fifth of the work of the 2D kernel)."""
    coords = torch.arange(SSIM_WINDOW, dtype=images.dtype, device=images.device) - SSIM_WINDOW // 2
    kernel = torch.exp(-coords ** 2 / (2 * SSIM_SIGMA ** 2))
    kernel = kernel / kernel.sum()
    channels, half = images.shape[1], SSIM_WINDOW // 2
    rows = torch.nn.functional.conv2d(images, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, SSIM_WINDOW),
                                      padding=(0, half), groups=channels)
    return torch.nn.functional.conv2d(rows, kernel.view(1, 1, -1, 1).expand(channels, 1, SSIM_WINDOW, 1),
                                      padding=(half, 0), groups=channels)
