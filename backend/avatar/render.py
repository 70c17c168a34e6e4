"""`render`: an avatar driven by a track's per-frame codes and pose, to RGBA PNGs (sRGB, straight alpha).

    from backend.avatar.render import render_avatar
    paths = render_avatar("out/avatar.safetensors", "track_dir/", "frames/")
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from ..errors import BackendError
from ..progress import Progress
from .clip import load_clip
from .evaluate import render_frames
from .file import read_avatar


def render_avatar(avatar_path: str | Path, track_folder: str | Path, out_dir: str | Path, device: str = "cpu",
                  progress: Progress | None = None) -> list[Path]:
    """Render every tracked frame at the avatar's training resolution to out_dir/frame_NNNNNN.png."""
    import cv2

    from ..colour import linear_to_srgb8
    from ..fileio import atomic_path
    from ..headmodel import load_head
    from ..tracking import read_track

    progress = progress or Progress("none")
    saved = read_avatar(avatar_path, device)
    track = read_track(track_folder)
    if track.meta["expression_names"] != saved.meta["expression_names"]:
        raise BackendError(f"{track_folder} was tracked with other expression codes than {avatar_path} was fitted "
                           "with. Track the clip with the avatar's head model.")
    track = dataclasses.replace(track, identity=saved.identity.cpu().numpy())  # the avatar's own shape
    head = load_head(saved.meta["head"])
    clip = load_clip(track, head, saved.meta["resolution"], device, with_images=False)
    triangles = head.triangles.to(device)
    no_background = torch.zeros(3, device=device)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    with progress.stage("render", total=track.num_frames) as step:
        for f, index in enumerate(track.frame_index):
            rgb, alpha = render_frames(saved.gaussians, clip.vertices[f:f + 1], clip.expression[f:f + 1],
                                       triangles, clip.K, clip.resolution, no_background)
            rgb, alpha = rgb[0].cpu().numpy(), alpha[0].cpu().numpy()
            straight = np.where(alpha > 1e-6, rgb / np.maximum(alpha, 1e-6), 0)
            rgba = np.concatenate([linear_to_srgb8(straight)[..., ::-1], np.round(alpha * 255).astype(np.uint8)], -1)
            paths.append(out_dir / f"frame_{int(index):06d}.png")
            with atomic_path(paths[-1]) as tmp:
                if not cv2.imwrite(str(tmp), rgba):
                    raise BackendError(f"could not write {paths[-1]}. Check that the folder is writable.")
            step()
    return paths
