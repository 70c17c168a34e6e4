"""`rasterize`: 3D Gaussians to images, batched over cameras, on CUDA (gsplat) or CPU.

Shapes: N Gaussians, C cameras, K SH coefficients per colour channel, H, W image size.
Conventions as gsplat's (docs/conventions.md): OpenCV cameras, world-to-camera viewmats,
wxyz quaternions, activated (linear) scales and opacities, premultiplied RGB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import torch

MAX_SH_DEGREE = 3
MIN_ALPHA_FOR_DEPTH = 1e-10  # gsplat's clamp when normalising expected depth


@dataclass(frozen=True)
class RasterOutput:
    """Images and per-Gaussian screen data from one `rasterize` call."""

    rgb: torch.Tensor  # [C, H, W, 3] premultiplied colour, plus (1 - alpha) * background
    alpha: torch.Tensor  # [C, H, W, 1] accumulated opacity
    depth: torch.Tensor  # [C, H, W, 1] expected camera-space z: sum(w * z) / alpha, 0 where alpha = 0
    means2d: torch.Tensor  # [C, N, 2] projected centres in pixels (0 where culled)
    radii: torch.Tensor  # [C, N] int32 footprint half-size in pixels (larger of x and y), 0 = culled


def rasterize(means: torch.Tensor, quats: torch.Tensor, scales: torch.Tensor, opacities: torch.Tensor,
              colors: torch.Tensor, viewmats: torch.Tensor, Ks: torch.Tensor, width: int, height: int,
              sh_degree: int | None = None, background: torch.Tensor | None = None) -> RasterOutput:
    """Render N Gaussians into C cameras, differentiably in the Gaussians, viewmats and background.

    Args:
        means: [N, 3] centres in world space (metres).
        quats: [N, 4] rotations, wxyz, normalised here.
        scales: [N, 3] standard deviations along the rotated axes (linear, not log).
        opacities: [N] in [0, 1] (after the sigmoid).
        colors: [N, 3] linear RGB if sh_degree is None, else [N, K, 3] SH coefficients with
            K >= (sh_degree + 1) ** 2; colour = SH(direction from camera) + 0.5, clamped at 0.
        viewmats: [C, 4, 4] world-to-camera (OpenCV: +z forward, +y down).
        Ks: [C, 3, 3] intrinsics in pixels; pixel centres at integer + 0.5.
        width, height: image size in pixels.
        sh_degree: 0 to 3, or None for plain RGB colours.
        background: [C, 3] optional; rgb = premultiplied colour + (1 - alpha) * background.

    CUDA tensors go through `gsplat.rasterization`, CPU tensors through this package's
    tiled kernels; both follow gsplat's rules (0.3 px low-pass, near plane 0.01, alpha
    clamped at 0.999, pairs below 1/255 skipped, a pixel stops before its transmittance
    reaches 1e-4). The CPU path also takes float64, for gradcheck.

    The screen-space gradient used for densification: call `out.means2d.retain_grad()`
    before `backward()` (needs means or viewmats to require grad); `out.means2d.grad`
    [C, N, 2] then holds d(loss)/d(projected centre), as gsplat's `meta["means2d"].grad`.

    Raises ValueError naming the argument for wrong shapes or dtypes, NaN or inf, negative
    scales, or opacities outside [0, 1].
    """
    check_inputs(means, quats, scales, opacities, colors, viewmats, Ks, width, height, sh_degree, background)
    if len(means) == 0:
        return _empty_scene(viewmats, width, height, background)
    if means.is_cuda:
        return _rasterize_gsplat(means, quats, scales, opacities, colors, viewmats, Ks, width, height,
                                 sh_degree, background)
    from ._cpu import composite_tiles

    return render_with(composite_tiles, means, quats, scales, opacities, colors, viewmats, Ks,
                       width, height, sh_degree, background)


def render_with(composite: Callable, means, quats, scales, opacities, colors, viewmats, Ks,
                width: int, height: int, sh_degree: int | None, background) -> RasterOutput:
    """The torch pipeline around a compositor: project, colour, composite, finish.

    `composite(projection, features [C, N, 4], opacities [C, N], width, height)` returns
    images [C, H, W, 4] (RGB and z, premultiplied) and alpha [C, H, W, 1].
    """
    import torch

    from ._project import project
    from .sh import sh_colors

    projection = project(means, quats, scales, opacities, viewmats, Ks, width, height)
    C, N = projection.depths.shape
    rgb = colors.expand(C, N, 3) if sh_degree is None else sh_colors(sh_degree, means, colors, viewmats)
    features = torch.cat([rgb, projection.depths[..., None]], -1)
    image, alpha = composite(projection, features, opacities.expand(C, N), width, height)
    rgb = image[..., :3]
    if background is not None:
        rgb = rgb + (1 - alpha) * background[:, None, None]
    depth = image[..., 3:] / alpha.clamp_min(MIN_ALPHA_FOR_DEPTH)
    return RasterOutput(rgb, alpha, depth, projection.means2d, projection.radii.amax(-1))


def _rasterize_gsplat(means, quats, scales, opacities, colors, viewmats, Ks, width, height,
                      sh_degree, background) -> RasterOutput:
    from gsplat import rasterization

    image, alpha, meta = rasterization(means, quats, scales, opacities, colors, viewmats, Ks, width, height,
                                       sh_degree=sh_degree, backgrounds=background, packed=False,
                                       render_mode="RGB+ED")
    return RasterOutput(image[..., :3], alpha, image[..., 3:], meta["means2d"], meta["radii"].amax(-1))


def _empty_scene(viewmats, width: int, height: int, background) -> RasterOutput:
    import torch

    C = len(viewmats)
    rgb = viewmats.new_zeros((C, height, width, 3))
    if background is not None:
        rgb = rgb + background[:, None, None]
    return RasterOutput(rgb, viewmats.new_zeros((C, height, width, 1)), viewmats.new_zeros((C, height, width, 1)),
                        viewmats.new_zeros((C, 0, 2)), torch.zeros((C, 0), dtype=torch.int32, device=viewmats.device))


def check_inputs(means, quats, scales, opacities, colors, viewmats, Ks, width, height, sh_degree,
                 background) -> None:
    """Raise ValueError naming the first argument that does not fit `rasterize`'s contract."""
    for name, value in (("width", width), ("height", height)):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if sh_degree is not None and (not isinstance(sh_degree, int) or not 0 <= sh_degree <= MAX_SH_DEGREE):
        raise ValueError(f"sh_degree must be None or an int from 0 to {MAX_SH_DEGREE}, got {sh_degree!r}")
    sizes: dict[str, int] = {}
    _check_tensor("means", means, ("N", 3), sizes)
    _check_tensor("quats", quats, ("N", 4), sizes, means)
    if _check_tensor("scales", scales, ("N", 3), sizes, means)[0] < 0:
        raise ValueError("scales must be >= 0 (linear standard deviations; apply exp to log-scales)")
    low, high = _check_tensor("opacities", opacities, ("N",), sizes, means)
    if low < 0 or high > 1:
        raise ValueError("opacities must lie in [0, 1] (apply a sigmoid to logits)")
    _check_tensor("viewmats", viewmats, ("C", 4, 4), sizes, means)
    _check_tensor("Ks", Ks, ("C", 3, 3), sizes, means)
    if sh_degree is None:
        _check_tensor("colors", colors, ("N", 3), sizes, means, hint=" (RGB; pass sh_degree for SH coefficients)")
    else:
        hint = f" with K >= {(sh_degree + 1) ** 2} for sh_degree {sh_degree}"
        _check_tensor("colors", colors, ("N", "K", 3), sizes, means, hint=hint)
        if sizes["K"] < (sh_degree + 1) ** 2:
            raise ValueError(f"colors must be [N, K, 3] float{hint}, got {_describe(colors)}")
    if background is not None:
        _check_tensor("background", background, ("C", 3), sizes, means)


def _check_tensor(name: str, tensor, shape: tuple, sizes: dict[str, int], like=None,
                  hint: str = "") -> tuple[float, float]:
    """Check a finite float tensor against a shape of ints and letters, binding letters in
    `sizes`; return its smallest and largest value."""
    import torch

    expected = f"{name} must be [{', '.join(map(str, shape))}] float{hint}"
    if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point() or tensor.dim() != len(shape):
        raise ValueError(f"{expected}, got {_describe(tensor)}")
    for letter, size in zip(shape, tensor.shape):
        if isinstance(letter, int) and size != letter:
            raise ValueError(f"{expected}, got {_describe(tensor)}")
        if isinstance(letter, str) and sizes.setdefault(letter, size) != size:
            raise ValueError(f"{expected} with {letter} = {sizes[letter]} as in the arguments before it, "
                             f"got {_describe(tensor)}")
    if like is not None and (tensor.dtype != like.dtype or tensor.device != like.device):
        raise ValueError(f"{name} must be {like.dtype} on {like.device} like means, "
                         f"got {tensor.dtype} on {tensor.device}")
    if tensor.numel() == 0:
        return 0.0, 0.0
    # min and max propagate NaN and show inf; much faster than isfinite().all() on a CPU
    low, high = torch.stack(torch.aminmax(tensor.detach())).tolist()
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"{name} contains NaN or inf")
    return low, high


def _describe(value) -> str:
    import torch

    if not isinstance(value, torch.Tensor):
        return type(value).__name__
    shape = f"[{', '.join(map(str, value.shape))}]"
    return shape if value.is_floating_point() else f"{shape} {str(value.dtype).removeprefix('torch.')}"
