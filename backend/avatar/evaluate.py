"""Held-out evaluation: DIR/metrics.json and DIR/heldout.mp4 (real | rendered, side by side).

Metrics are computed on sRGB-encoded images (what a viewer sees), both composited over the
fit's background: PSNR and SSIM inside the matte and over the full frame for the held-out
frames, and PSNR over the training frames. "Full frame" is the source frame's part of the crop:
where the crop runs past the frame's border it holds padding, not footage, and no metric counts
it. With a `PerformanceRefinement`, frames are posed with its corrections (the training frames'
as fitted, the held-out frames' from photometric tracking against the finished avatar,
refine.track_frames), and the held-out PSNR with the landmark track
alone is reported beside (`*_landmark_track`). The masked held-out PSNR is also split into the matte's
outline (pixels within OUTLINE_PIXELS of its 0.5 contour) and the interior, with the outline's share of
the squared error: on our clips a third to two thirds of the error sits on that thin band (hair, ears,
shoulders against the background), which a single masked figure hides.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..fileio import atomic_path, write_json_atomic
from .clip import BACKGROUND, Clip, linear_to_srgb
from .losses import psnr, ssim_map
from .model import GaussianAvatar
from .refine import PerformanceRefinement

MASK_THRESHOLD = 0.5
OUTLINE_PIXELS = 2


def render_frames(avatar: GaussianAvatar, vertices: torch.Tensor, expression: torch.Tensor, triangles: torch.Tensor,
                  K: torch.Tensor, resolution: int, background: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Linear renders [F, H, W, 3] and alpha [F, H, W, 1] of the avatar for posed vertices [F, V, 3]
    and expression [F, E], over background [3]."""
    from ..render import rasterize

    rgb, alpha = [], []
    with torch.no_grad():
        for frame_vertices, frame_expression in zip(vertices, expression):
            posed = avatar.pose(frame_vertices, triangles, frame_expression)
            out = rasterize(posed.means, posed.quats, posed.scales, posed.opacities, posed.sh,
                            torch.eye(4, device=K.device)[None], K[None], resolution, resolution,
                            sh_degree=avatar.sh_degree, background=background[None])
            rgb.append(out.rgb[0])
            alpha.append(out.alpha[0])
    return torch.stack(rgb), torch.stack(alpha)


def evaluate(avatar: GaussianAvatar, clip: Clip, triangles: torch.Tensor, out_dir: Path, device: str,
             extra: dict, fps: float, refinement: PerformanceRefinement | None = None) -> dict[str, Path]:
    """Write metrics.json (with `extra` merged in) and heldout.mp4; returns their paths."""
    background = torch.tensor(BACKGROUND, device=clip.K.device)
    landmark_pose = lambda frames: (clip.vertices[frames], clip.expression[frames])
    pose = landmark_pose if refinement is None else refinement.frames
    render = lambda frames, posing: linear_to_srgb(render_frames(avatar, *posing(frames), triangles, clip.K,
                                                                 clip.resolution, background)[0])
    real = lambda frames: linear_to_srgb(clip.targets(frames, background))
    train_sample = clip.train[:: max(1, len(clip.train) // 10)]
    footage = lambda frames: clip.footage.expand(len(frames), -1, -1)
    metrics = {"train_psnr": psnr(render(train_sample, pose), real(train_sample), footage(train_sample)),
               "gaussians": avatar.num_gaussians, "device": device, "resolution": clip.resolution,
               "train_frames": len(clip.train), "heldout_frames": len(clip.heldout), **extra}
    paths = {"metrics": Path(out_dir) / "metrics.json"}
    if clip.heldout:
        target, full = real(clip.heldout), footage(clip.heldout)
        matte = clip.masks[clip.heldout] > MASK_THRESHOLD
        inside = matte & full
        if refinement is not None:
            tracked = render(clip.heldout, landmark_pose)
            metrics.update(heldout_psnr_masked_landmark_track=psnr(tracked, target, inside),
                           heldout_psnr_full_landmark_track=psnr(tracked, target, full))
        rendered = render(clip.heldout, pose)
        ssim = ssim_map(rendered, target)
        metrics.update(heldout_psnr_masked=psnr(rendered, target, inside), heldout_psnr_full=psnr(rendered, target, full),
                       heldout_ssim_masked=float(ssim[inside].mean()), heldout_ssim_full=float(ssim[full].mean()),
                       **outline_split(rendered, target, inside, matte))
        paths["heldout"] = write_side_by_side(Path(out_dir) / "heldout.mp4", target, rendered, fps)
    write_json_atomic(paths["metrics"], {k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()})
    return paths


def outline_split(rendered: torch.Tensor, target: torch.Tensor, inside: torch.Tensor, matte: torch.Tensor) -> dict:
    """Masked PSNR on the matte's outline band and in the interior, and the outline's share of the
    squared error; images [F, H, W, 3], `inside` [F, H, W] bool (the masked metric's pixels), matte
    [F, H, W] bool (the thresholded matte, whose contour the band follows)."""
    outline = outline_band(matte, OUTLINE_PIXELS) & inside
    squared = ((rendered - target) ** 2).mean(-1)
    return {"heldout_psnr_masked_outline": psnr(rendered, target, outline),
            "heldout_psnr_masked_interior": psnr(rendered, target, inside & ~outline),
            "heldout_outline_error_share": float(squared[outline].sum() / squared[inside].sum().clamp(min=1e-12))}


def outline_band(mask: torch.Tensor, width: int) -> torch.Tensor:
    """[F, H, W] bool: pixels within `width` pixels (a square window) of the boundary of mask [F, H, W]
    bool, on either side; the image border is no boundary."""
    pool = lambda x: torch.nn.functional.max_pool2d(x[:, None], 2 * width + 1, stride=1, padding=width)[:, 0]
    grown, shrunk = pool(mask.float()) > 0, -pool(-mask.float()) > 0
    return grown & ~shrunk


def write_side_by_side(path: Path, left: torch.Tensor, right: torch.Tensor, fps: float) -> Path:
    """An mp4 of sRGB float frames [F, H, W, 3]: left | right."""
    import cv2

    frames = (torch.cat([left, right], dim=2).clamp(0, 1).cpu().numpy() * 255).round().astype(np.uint8)
    with atomic_path(path) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (frames.shape[2], frames.shape[1]))
        for frame in frames:
            writer.write(np.ascontiguousarray(frame[..., ::-1]))
        writer.release()
    return path
