"""Performances on disk: JSON (ours, complete), the Live Link Face CSV, or a track folder.

    from backend.animation import read_performance
    performance = read_performance("take.csv", fps=25, progress=progress)   # resampled, with a warning

JSON holds every field of `Performance` as plain numbers (float64 written by Python's json,
so it reads back exactly), `pose_translation` null when not recorded.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import BackendError
from ..fileio import write_json_atomic
from ..progress import Progress
from .livelink import read_live_link_csv
from .performance import Performance

FORMAT_NAME = "head-avatar-performance"
FORMAT_VERSION = 1
_ARRAYS = ("frames", "expression", "head_angles", "eye_angles", "pose_translation")


def write_performance_json(path: str | Path, performance: Performance) -> Path:
    arrays = {name: None if getattr(performance, name) is None else getattr(performance, name).tolist()
              for name in _ARRAYS}
    write_json_atomic(path, {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "fps": performance.fps,
                             "expression_names": performance.expression_names, **arrays})
    return Path(path)


def read_performance_json(path: str | Path) -> Performance:
    path = Path(path)
    redo = "Write it again with `python -m backend export-curves`."
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BackendError(f"cannot read {path} as JSON ({exc}). {redo}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME or data.get("format_version") != FORMAT_VERSION:
        raise BackendError(f"{path} is not a version-{FORMAT_VERSION} performance file. {redo}")
    missing = [key for key in ("fps", "expression_names", *_ARRAYS) if key not in data]
    if missing:
        raise BackendError(f"{path} is missing {', '.join(missing)}. {redo}")
    try:
        arrays = {name: None if data[name] is None else np.asarray(data[name], np.float64) for name in _ARRAYS}
        arrays["frames"] = arrays["frames"].astype(np.int64)
        return Performance(fps=float(data["fps"]), expression_names=[str(n) for n in data["expression_names"]],
                           **arrays)
    except (ValueError, TypeError, AttributeError) as exc:
        raise BackendError(f"{path} holds inconsistent arrays ({exc}). {redo}") from None


def read_performance(path: str | Path, fps: float | None = None, progress: Progress | None = None) -> Performance:
    """A performance from .json, a Live Link Face .csv or a track folder; resampled to `fps`
    (when given and different) with a warning through `progress`."""
    from ..tracking import read_track
    from ..tracking.trackfile import TRACK_FILE

    path = Path(path)
    if path.is_dir() or path.name == TRACK_FILE:
        performance = Performance.from_track(read_track(path))
    elif not path.is_file():
        raise BackendError(f"performance file not found: {path}")
    elif path.suffix.lower() == ".csv":
        performance = read_live_link_csv(path)
    elif path.suffix.lower() == ".json":
        performance = read_performance_json(path)
    else:
        raise BackendError(f"{path} is not a performance: expected a .csv (Live Link Face), a .json "
                           "(export-curves) or a track folder.")
    if fps is not None and not np.isclose(fps, performance.fps, rtol=0, atol=1e-9):
        (progress or Progress("none")).warn(f"{path.name} runs at {performance.fps:g} fps; resampled to {fps:g} fps")
        performance = performance.resample(fps)
    return performance
