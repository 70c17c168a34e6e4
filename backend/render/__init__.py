"""Gaussian-splat rasterisation: `rasterize(...) -> RasterOutput`, gsplat on CUDA, numba on CPU.

    out = rasterize(means, quats, scales, opacities, colors, viewmats, Ks, width, height)
    out.rgb, out.alpha, out.depth   # [C, H, W, 3], [C, H, W, 1], [C, H, W, 1]

Importing this package loads neither torch nor numba; the CPU kernels compile on first use
(cached on disk afterwards).
"""

from .rasterize import RasterOutput, rasterize

__all__ = ["RasterOutput", "rasterize"]
