"""Rendered frames to files: PNG RGBA, multilayer OpenEXR with depth, and an MP4 preview.

- PNG: 8-bit RGBA, sRGB-encoded colour, **straight** (unassociated) alpha, as PNG readers expect.
- EXR: linear scene colour (no view transform), **premultiplied** alpha as Blender writes and
  Nuke's Merge expects, 32-bit float, ZIP. Channels named as a Blender multilayer render:
  `ViewLayer.Combined.R/G/B/A` and `ViewLayer.Depth.Z` (camera-space Z in metres, planar, the
  alpha-weighted mean over the Gaussians; `EMPTY_DEPTH` where nothing was drawn).
- MP4: sRGB over a background colour, mp4v, for looking at, not for compositing.

Input everywhere: rgba [H, W, 4] linear float, premultiplied (the renderer's output), depth [H, W].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..colour import linear_to_srgb8
from ..errors import BackendError
from ..fileio import atomic_path
from .exr import read_exr, write_exr

LAYER = "ViewLayer"
COMBINED = tuple(f"{LAYER}.Combined.{c}" for c in "RGBA")
DEPTH = f"{LAYER}.Depth.Z"
EMPTY_DEPTH = 1e10  # "very far", as renderers write for the background; 0 would read as "at the lens"
FORMATS = ("png", "exr")


def write_png_rgba(path: str | Path, rgba: np.ndarray) -> Path:
    import cv2

    alpha = rgba[..., 3:]
    straight = np.where(alpha > 1e-6, rgba[..., :3] / np.maximum(alpha, 1e-6), 0)
    alpha8 = np.round(np.clip(alpha, 0, 1) * 255).astype(np.uint8)
    pixels = np.concatenate([linear_to_srgb8(straight)[..., ::-1], alpha8], -1)  # BGRA for OpenCV
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), pixels):
            raise BackendError(f"could not write {path}. Check that the folder is writable.")
    return Path(path)


def write_exr_layers(path: str | Path, rgba: np.ndarray, depth: np.ndarray) -> Path:
    channels = {name: rgba[..., i] for i, name in enumerate(COMBINED)}
    channels[DEPTH] = np.where(rgba[..., 3] > 0, depth, EMPTY_DEPTH)
    return write_exr(path, channels)


def read_exr_layers(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(rgba [H, W, 4] premultiplied linear, depth [H, W]) of a file `write_exr_layers` wrote."""
    channels = read_exr(path)
    missing = [name for name in (*COMBINED, DEPTH) if name not in channels]
    if missing:
        raise BackendError(f"{path} lacks the channels {', '.join(missing)}.")
    return np.stack([channels[name] for name in COMBINED], -1), channels[DEPTH]


def write_frame(path: str | Path, rgba: np.ndarray, depth: np.ndarray) -> Path:
    """PNG or EXR by the path's extension."""
    suffix = Path(path).suffix.lower()
    if suffix == ".png":
        return write_png_rgba(path, rgba)
    if suffix == ".exr":
        return write_exr_layers(path, rgba, depth)
    raise BackendError(f"cannot write {path}: frames are .png or .exr.")


def over_background(rgba: np.ndarray, background) -> np.ndarray:
    """sRGB uint8 [H, W, 3] of premultiplied rgba over a linear background colour [3]."""
    return linear_to_srgb8(rgba[..., :3] + (1 - rgba[..., 3:]) * np.asarray(background, np.float32))


class Mp4Writer:
    """Frames (sRGB uint8 [H, W, 3], RGB order) to an mp4, renamed into place on a clean exit.

        with Mp4Writer("preview.mp4", fps=25) as video:
            video.write(frame)
    """

    def __init__(self, path: str | Path, fps: float):
        self.path, self.fps = Path(path), fps
        self._writer = None

    def __enter__(self) -> "Mp4Writer":
        self._atomic = atomic_path(self.path)
        self._tmp = self._atomic.__enter__()
        return self

    def write(self, frame: np.ndarray) -> None:
        import cv2

        if self._writer is None:
            self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*"mp4v"), self.fps,
                                           (frame.shape[1], frame.shape[0]))
        self._writer.write(np.ascontiguousarray(frame[..., ::-1]))

    def __exit__(self, *exc) -> bool:
        if self._writer is not None:
            self._writer.release()
        return self._atomic.__exit__(*exc)
