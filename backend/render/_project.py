"""EWA projection of 3D Gaussians into each camera, after gsplat's fused projection.

Shapes: N Gaussians, C cameras. Plain torch: O(C * N) work, differentiable by autograd in
the Gaussians and the camera pose. Both CPU compositors (tiled and dense) start from here.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

NEAR_PLANE = 0.01
FAR_PLANE = 1e10
EPS2D = 0.3  # pixels^2 added to the 2D covariance: gsplat's low-pass filter
ALPHA_THRESHOLD = 1.0 / 255.0
MAX_EXTENT = 3.33  # gsplat's bound on the footprint in standard deviations


class Projection(NamedTuple):
    """Per-camera screen-space Gaussians; entries with radii == 0 are culled and zeroed."""

    means2d: torch.Tensor  # [C, N, 2] pixels
    conics: torch.Tensor  # [C, N, 3] inverse 2D covariance (xx, xy, yy)
    depths: torch.Tensor  # [C, N] camera-space z
    radii: torch.Tensor  # [C, N, 2] int32 footprint half-size in x and y, 0 = culled


def project(means: torch.Tensor, quats: torch.Tensor, scales: torch.Tensor, opacities: torch.Tensor,
            viewmats: torch.Tensor, Ks: torch.Tensor, width: int, height: int) -> Projection:
    """Project Gaussians (means [N, 3], quats [N, 4], scales [N, 3], opacities [N]) into
    cameras (viewmats [C, 4, 4] world-to-camera, Ks [C, 3, 3]) of width x height pixels.

    Culls like gsplat: depth outside [NEAR_PLANE, FAR_PLANE], a degenerate 2D covariance,
    opacity below 1/255, or a footprint entirely off the image. Intermediate tensors keep
    the Gaussian index last ([C, 3, N] rather than [C, N, 3]) so that every elementwise op
    runs over contiguous memory, several times faster on a CPU.
    """
    rotations = viewmats[:, :3, :3]
    x, y, z = (rotations @ means.T + viewmats[:, :3, 3:]).unbind(1)  # [C, N] each
    in_depth = (z >= NEAR_PLANE) & (z <= FAR_PLANE)
    # Culled Gaussians divide by 1 instead of ~0 so that their (unused) gradients stay finite.
    z_safe = torch.where(in_depth, z, torch.ones_like(z))
    fx, fy, cx, cy = (Ks[:, i, j, None] for i, j in ((0, 0), (1, 1), (0, 2), (1, 2)))  # [C, 1] each
    means2d = torch.stack([fx * x / z_safe + cx, fy * y / z_safe + cy], -1)
    axes = torch.einsum("cik,kjn->cijn", rotations, _axes(quats, scales))  # [C, 3, 3, N]
    row_x, row_y = _image_rows(x, y, z_safe, fx, fy, cx, cy, width, height, axes)
    xx = (row_x * row_x).sum(1) + EPS2D
    xy = (row_x * row_y).sum(1)
    yy = (row_y * row_y).sum(1) + EPS2D
    det = xx * yy - xy * xy
    valid = in_depth & (det > 0)
    det = torch.where(valid, det, torch.ones_like(det))
    conics = torch.stack([yy / det, -xy / det, xx / det], -1)
    radii = _radii(means2d.detach(), xx.detach(), yy.detach(), opacities.detach(), valid, width, height)
    visible = (radii > 0).any(-1, keepdim=True)
    zero = means2d.new_zeros(())
    return Projection(torch.where(visible, means2d, zero), torch.where(visible, conics, zero),
                      torch.where(visible[..., 0], z, zero), radii)


def _axes(quats: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """R(q) diag(s) [3, 3, N] from wxyz quaternions [N, 4] (normalised here) and scales [N, 3]:
    column j is the Gaussian's j-th axis, scaled by its standard deviation."""
    q = quats.T
    w, x, y, z = q / q.norm(dim=0).clamp_min(1e-12)
    rotation = torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ]).reshape(3, 3, -1)
    return rotation * scales.T


def _image_rows(x, y, z, fx, fy, cx, cy, width: int, height: int, axes):
    """Rows [C, 3, N] of J @ axes, J the perspective Jacobian d(pixel)/d(camera point), so
    that cov2d = rows @ rows.T. As gsplat, J uses x/z and y/z clamped a little beyond the
    image, so Gaussians far outside the view do not get huge, distorted footprints."""
    margin_x, margin_y = 0.15 * width / fx, 0.15 * height / fy
    slope_x = torch.clamp(x / z, min=-(cx / fx + margin_x), max=(width - cx) / fx + margin_x)[:, None]
    slope_y = torch.clamp(y / z, min=-(cy / fy + margin_y), max=(height - cy) / fy + margin_y)[:, None]
    return ((fx / z)[:, None] * (axes[:, 0] - slope_x * axes[:, 2]),
            (fy / z)[:, None] * (axes[:, 1] - slope_y * axes[:, 2]))


def _radii(means2d, xx, yy, opacities, valid, width: int, height: int) -> torch.Tensor:
    """Footprint half-sizes [C, N, 2] (int32, 0 = culled) from blurred variances xx, yy [C, N].

    The extent is where opacity * exp(-sigma) falls to 1/255 (at most MAX_EXTENT standard
    deviations), so every pixel a Gaussian can touch lies inside its box.
    """
    strong = opacities >= ALPHA_THRESHOLD  # [N]
    ratio = torch.where(strong, opacities / ALPHA_THRESHOLD, torch.ones_like(opacities))
    extent = torch.sqrt(2 * torch.log(ratio)).clamp(max=MAX_EXTENT)
    radii = torch.stack([torch.ceil(extent * xx.sqrt()), torch.ceil(extent * yy.sqrt())], -1)
    on_screen = ((means2d + radii > 0) & (means2d - radii < means2d.new_tensor([width, height]))).all(-1)
    keep = valid & strong & on_screen & (radii > 0).any(-1)
    return torch.where(keep[..., None], radii, torch.zeros_like(radii)).int()
