"""Reading footage with OpenCV: checks, frame times, rotation metadata."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import BackendError

VIDEO_SUFFIXES = {".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".mts", ".m2ts"}


@dataclasses.dataclass
class VideoInfo:
    path: Path
    width: int  # after rotation metadata is applied
    height: int
    fps: float
    frame_count: int  # as declared by the container (may be wrong for damaged files)
    rotation: int  # degrees from the file's metadata, already applied to frames


def open_video(path: str | Path):
    """An opened cv2.VideoCapture plus its VideoInfo, or a BackendError saying what is wrong."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise BackendError(f"{path}: no such file. Check the path.")
    if path.stat().st_size == 0:
        raise BackendError(f"{path} is empty (0 bytes). Export or copy the clip again.")
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    if not capture.isOpened():
        hint = "it does not look like a video file" if path.suffix.lower() not in VIDEO_SUFFIXES else "it may be damaged or in a codec OpenCV cannot decode"
        raise BackendError(f"{path} could not be opened as a video ({hint}). Convert it to H.264 MP4 and try again.")
    ok, first = capture.read()
    if not ok or first is None:
        capture.release()
        raise BackendError(f"{path} holds no readable frames (empty or truncated video). Re-export the clip.")
    capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
    fps = capture.get(cv2.CAP_PROP_FPS)
    info = VideoInfo(path=path, width=first.shape[1], height=first.shape[0], fps=fps if fps > 0 else 25.0,
                     frame_count=int(capture.get(cv2.CAP_PROP_FRAME_COUNT)),
                     rotation=int(capture.get(cv2.CAP_PROP_ORIENTATION_META) or 0))
    return capture, info


def read_frames(path: str | Path, start: float = 0.0, end: float | None = None,
                stride: int = 1) -> Iterator[tuple[int, float, np.ndarray]]:
    """(frame index, time in seconds, BGR uint8 frame) for frames with start <= time < end."""
    capture, info = open_video(path)
    index = 0
    try:
        while True:
            ok, frame = capture.read()
            if not ok or frame is None:
                break
            msec = capture.get(1)  # CAP_PROP_POS_MSEC: the timestamp of the frame just read
            time = msec / 1000.0 if msec > 0 or index == 0 else index / info.fps
            if end is not None and time >= end:
                break
            if time >= start and (index % stride) == 0:
                yield index, time, frame
            index += 1
    finally:
        capture.release()
