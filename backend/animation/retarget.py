"""`retarget`: another performer's clip drives an avatar (reenactment).

    from backend.animation.retarget import retarget
    outputs = retarget("driver.mp4", "avatar/avatar.safetensors", "out/")

The driver is tracked with the avatar's head model (its own identity is fitted and then
dropped: the avatar keeps its shape and look). Codes transfer as ARKit weights, each taken
relative to the driver's neutral, so a performer with a resting smile does not make the avatar
smile:

    neutral = the NEUTRAL_QUANTILE-quantile of the code over the clip's tracked frames
    code    = clip((tracked - neutral) / (1 - neutral), 0, 1)

A low quantile rather than the minimum, so that a few mis-tracked frames do not set the
neutral; the division keeps the code's range: a full expression still reaches 1. Head pose is
the driver's as tracked (rotation and position in its camera), or with `relative_pose` the
avatar's training head position facing its camera, moved by the driver's motion since the
first frame.

Writes DIR/track/ (the driver's track), DIR/performance.json (complete: render it with
`render AVATAR --performance DIR/performance.json`), DIR/performance.csv (Live Link Face layout)
and DIR/frames/ + DIR/preview.mp4 (the avatar performing, PNG and mp4).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ..errors import BackendError
from ..headpose import FLIP, angles_to_matrix, matrix_to_angles
from ..progress import Progress
from .performance import Performance

NEUTRAL_QUANTILE = 0.05


def retarget(video: str | Path, avatar_path: str | Path, out_dir: str | Path, relative_pose: bool = False,
             size: int = 512, device: str = "cpu", progress: Progress | None = None) -> dict[str, Path]:
    """Track `video` (at working resolution `size`), map it onto the avatar, render a preview; {label: path}."""
    from ..avatar import read_avatar
    from ..avatar.render import render_performance
    from ..tracking import TrackOptions, read_track, track
    from ..tracking.trackfile import TRACK_FILE

    progress = progress or Progress("none")
    out_dir = Path(out_dir)
    saved = read_avatar(avatar_path)
    folder = out_dir / "track"
    if not (folder / TRACK_FILE).is_file():
        track(video, folder, TrackOptions(head=saved.meta["head"], size=size, device=device, overlay=False), progress)
    driver = read_track(folder)
    performance = relative_to_neutral(Performance.from_track(driver), driver.found)
    if relative_pose:
        if "training_view" not in saved.meta:
            raise BackendError(f"{avatar_path} does not record its training head position, which --relative-pose "
                               "needs. Fit the avatar again (python -m backend fit).")
        performance = relative_to_first_frame(performance, np.asarray(saved.meta["training_view"]["head_position"]))
    outputs = {"track": folder, "performance": performance.write_json(out_dir / "performance.json"),
               "curves": performance.write_csv(out_dir / "performance.csv"), "preview": out_dir / "preview.mp4"}
    render_performance(avatar_path, performance, out_dir / "frames", preview=outputs["preview"], device=device,
                       progress=progress)
    outputs["frames"] = out_dir / "frames"
    return outputs


def relative_to_neutral(performance: Performance, found: np.ndarray) -> Performance:
    """Each code relative to its neutral (module docstring); `found` [F] marks the frames that count."""
    codes = performance.expression
    neutral = np.quantile(codes[found] if found.any() else codes, NEUTRAL_QUANTILE, axis=0)
    relative = (codes - neutral) / np.maximum(1 - neutral, 1e-6)
    return dataclasses.replace(performance, expression=np.clip(relative, 0, 1))


def relative_to_first_frame(performance: Performance, head_position: np.ndarray) -> Performance:
    """The head facing the camera at `head_position` [3] on the first frame, then turning and moving
    as the driver did since its first frame."""
    rotation = FLIP @ angles_to_matrix(performance.head_angles)  # [F, 3, 3] model -> camera
    since_first = rotation @ rotation[0].T
    translation = performance.pose_translation - performance.pose_translation[0] + head_position
    return dataclasses.replace(performance, head_angles=matrix_to_angles(FLIP @ since_first @ FLIP),
                               pose_translation=translation)
