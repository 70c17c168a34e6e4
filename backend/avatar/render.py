"""`render`: an avatar driven by a performance, frame by frame, to PNG or multilayer EXR files.

    from backend.avatar.render import render_performance
    from backend.animation import read_performance
    paths = render_performance("out/avatar.safetensors", read_performance("take.csv", fps=25), "frames/",
                               frames=(1, 250), image_format="exr", preview="preview.mp4")

Files are named frame_NNNNNN.png|exr after the Blender frame number (a track's frame n is its
video's frame n - 1). Each frame is computed from its own performance row alone (a one-frame
head forward, one rasterize call through `host.render_posed`, the add-on's render path), so a
range rendered in one process or split over several gives identical pixels. The camera is the
track's (`track=`) or else the one the avatar was trained with (`training_view` in its file).
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

import numpy as np
import torch

from ..errors import BackendError
from ..progress import Progress
from .clip import BACKGROUND
from .file import SavedAvatar, read_avatar
from .host import BoundGaussians, PosedRender, render_posed, trained_body_rotation

REFIT = "Fit the avatar again (python -m backend fit) to store its training camera, or render with --tracking."


@dataclasses.dataclass
class Stage:
    """What stays fixed while a performance plays: the avatar, its head model and the camera."""

    saved: SavedAvatar
    head: torch.nn.Module  # HeadModel on the render device
    K: np.ndarray | None  # [3, 3] pixels at `resolution`; None: unknown (an avatar from before training_view)
    resolution: int
    head_position: np.ndarray | None  # [3] metres: where a performance without translation puts the head
    body_rotation: np.ndarray | None  # [3] axis-angle the body keeps as the head turns (None: turns with it)
    device: str


def load_stage(avatar_path: str | Path, device: str = "cpu", track=None) -> Stage:
    """The avatar with the camera of `track` (a Track) or, without one, of its training clip."""
    from ..headmodel import load_head

    saved = read_avatar(avatar_path, device)
    resolution = int(saved.meta["resolution"])
    view = saved.meta.get("training_view")
    if track is not None:
        K = np.array(track.K, np.float64)
        K[:2] *= resolution / track.size
    else:
        K = None if view is None else np.array(view["K"], np.float64)
    position = None if view is None else np.array(view["head_position"], np.float64)
    return Stage(saved, load_head(saved.meta["head"]).to(device), K, resolution, position,
                 trained_body_rotation(saved.meta), device)


def posed_mesh(stage: Stage, performance, row: int) -> tuple[torch.Tensor, np.ndarray]:
    """(vertices [V, 3] in the camera frame, codes [E] in the avatar's order) of one performance row."""
    single = performance.replace_rows([row])
    codes, _ = single.codes_for(stage.saved.meta["expression_names"])
    if single.pose_translation is not None:
        translation = single.pose_translation
    elif stage.head_position is not None:
        translation = stage.head_position[None]
    else:
        raise BackendError(f"the performance has no head position and the avatar does not know its own. {REFIT}")
    as_tensor = lambda a: torch.as_tensor(np.asarray(a, np.float32), device=stage.device)
    with torch.no_grad():
        rotation, translation = as_tensor(single.pose_rotation), as_tensor(translation)
        posed = {"pose_rotation": rotation, "pose_translation": translation}
        if stage.body_rotation is not None:
            posed = stage.head.on_neck(stage.saved.identity, rotation, translation, stage.body_rotation)
        out = stage.head(identity=stage.saved.identity, expression=as_tensor(codes), **posed)
    return out.vertices[0], codes[0]


def render_frame(stage: Stage, performance, row: int) -> PosedRender:
    """Linear premultiplied rgba [H, W, 4] and depth [H, W] of one performance row."""
    vertices, codes = posed_mesh(stage, performance, row)
    bound = BoundGaussians(stage.saved.gaussians, vertices.cpu().numpy(), stage.head.triangles.cpu().numpy(), codes)
    return render_posed([bound], np.eye(4), stage.K, stage.resolution, stage.resolution, stage.device)


def render_performance(avatar_path: str | Path, performance, out_dir: str | Path, frames: tuple[int, int] | None = None,
                       image_format: str = "png", preview: str | Path | None = None, track=None, device: str = "cpu",
                       progress: Progress | None = None) -> list[Path]:
    """Render the performance's frames within `frames` (first, last; Blender numbers, inclusive) to
    out_dir/frame_NNNNNN.<image_format>, and optionally an mp4 preview of them over the fit's background."""
    from ..export.images import FORMATS, Mp4Writer, over_background, write_frame

    if image_format not in FORMATS:
        raise BackendError(f"unknown image format {image_format!r}; use one of {', '.join(FORMATS)}.")
    progress = progress or Progress("none")
    stage = load_stage(avatar_path, device, track)
    if stage.K is None:
        raise BackendError(f"{avatar_path} does not record the camera it was trained with. {REFIT}")
    _check_codes(stage, performance, avatar_path, progress)
    if frames is not None:
        performance = performance.within(*frames)
        if not performance.num_frames:
            raise BackendError(f"the performance has no frames in {frames[0]}-{frames[1]}.")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    video = Mp4Writer(preview, performance.fps) if preview else contextlib.nullcontext()
    with progress.stage("render", total=performance.num_frames) as step, video:
        for row, frame in enumerate(performance.frames):
            rendered = render_frame(stage, performance, row)
            paths.append(write_frame(out_dir / f"frame_{int(frame):06d}.{image_format}", rendered.rgba, rendered.depth))
            if preview:
                video.write(over_background(rendered.rgba, BACKGROUND))
            step()
    return paths


def _check_codes(stage: Stage, performance, avatar_path, progress: Progress) -> None:
    unknown = performance.unknown_codes(stage.saved.meta["expression_names"])
    if unknown:
        raise BackendError(f"the performance drives {', '.join(unknown)}, which {avatar_path} does not have. "
                           "Track the clip with the avatar's head model.")
    _, missing = performance.codes_for(stage.saved.meta["expression_names"])
    if missing:
        progress.warn(f"the performance has no {', '.join(missing)}; they stay at 0")
