"""Expression curves as a Live Link Face take CSV (Epic's iOS app; the layout other tools read).

Columns, exactly as the app writes them (see the fact sheet in the shared specs):
`Timecode`, `BlendshapeCount` (61), the 52 ARKit codes in PascalCase in Live Link Face's order
(which has JawRight before JawLeft and MouthRight before MouthLeft), then HeadYaw, HeadPitch,
HeadRoll, LeftEyeYaw, LeftEyePitch, LeftEyeRoll, RightEyeYaw, RightEyePitch, RightEyeRoll.

Our choices where the app's own files leave room:
- Rotations are radians, in `Performance`'s convention: head yaw, pitch and roll relative to
  facing the camera (0 = looking straight into it; an app take with head rotation off reads so);
  eye angles in head-model space. Eye columns are informative: the codes drive the avatar's eyes.
- Head position is not in the layout: a performance read from CSV has none, and renders place
  the head where it was in the avatar's training clip.
- Timecode `HH:MM:SS:FF.fff` at a nominal rate of round(fps) frames per second, starting at
  00:00:00:00.000 for the first row. On reading, the rate is the smallest of 24, 25, 30, 48,
  50, 60 above every FF seen (60 for the app's takes; a take shorter than a second may be read
  at a lower rate), the capture rate is that over the median step, and the first row lands on
  `first_frame`. Uneven rows are interpolated onto whole frames.
- Values are written with the fewest digits that read back to the same float64: export then
  import is exact. Headers are matched ignoring case (both `BlendshapeCount` and
  `BlendShapeCount` occur); an unknown or a missing column is an error naming it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import BackendError
from ..fileio import write_bytes_atomic
from ..headmodel.arkit import ARKIT_NAMES
from .performance import Performance, sample_at

COUNT_COLUMN = "BlendshapeCount"
ROTATION_COLUMNS = ("HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
                    "RightEyeYaw", "RightEyePitch", "RightEyeRoll")
TIMECODE_RATES = (24, 25, 30, 48, 50, 60)
_SWAPPED = {"jawLeft": "jawRight", "jawRight": "jawLeft", "mouthLeft": "mouthRight", "mouthRight": "mouthLeft"}


def live_link_order() -> list[str]:
    """The 52 ARKit names in the CSV's column order (camelCase)."""
    return [_SWAPPED.get(name, name) for name in ARKIT_NAMES]


def header() -> list[str]:
    codes = [name[0].upper() + name[1:] for name in live_link_order()]
    return ["Timecode", COUNT_COLUMN, *codes, *ROTATION_COLUMNS]


def write_live_link_csv(path: str | Path, performance: Performance) -> Path:
    """Write the performance as a Live Link Face CSV (LF line ends), atomically."""
    unknown = performance.unknown_codes(list(ARKIT_NAMES))
    if unknown:
        raise BackendError(f"cannot write {path}: the Live Link Face layout has only the 52 ARKit codes, not "
                           f"{', '.join(unknown)}. Write JSON instead.")
    codes, _ = performance.codes_for(list(ARKIT_NAMES))
    order = [ARKIT_NAMES.index(name) for name in live_link_order()]
    rotations = np.concatenate([performance.head_angles, performance.eye_angles.reshape(-1, 6)], 1)
    rate = max(1, round(performance.fps))
    lines = [",".join(header())]
    for row, frame in enumerate(performance.frames):
        values = [*codes[row, order], *rotations[row]]
        timecode = _timecode(int(frame - performance.frames[0]), rate)
        lines.append(",".join([timecode, str(len(values)), *map(_number, values)]))
    write_bytes_atomic(path, ("\n".join(lines) + "\n").encode())
    return Path(path)


def read_live_link_csv(path: str | Path, first_frame: int = 1) -> Performance:
    """Read a Live Link Face CSV; its first row becomes frame `first_frame`."""
    path = Path(path)
    try:
        lines = [line for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise BackendError(f"cannot read {path} as a CSV text file ({exc}). Point to a Live Link Face .csv.") from None
    if len(lines) < 2:
        raise BackendError(f"{path} has no data rows. Export the take again.")
    column = _columns(path, lines[0].split(","))
    rows = [_row(path, number, line, len(column)) for number, line in enumerate(lines[1:], start=2)]
    seconds, rate = _seconds(path, [row[0] for row in rows])
    values = np.array([row[1:] for row in rows], np.float64)
    take = lambda names: values[:, [column[name.lower()] - 1 for name in names]]
    codes = take([name[0].upper() + name[1:] for name in ARKIT_NAMES])
    rotations = take(list(ROTATION_COLUMNS))
    fps = _capture_rate(path, seconds, rate)
    raw = Performance(fps=fps, frames=np.arange(len(rows), dtype=np.int64) + first_frame,
                      expression_names=list(ARKIT_NAMES), expression=codes, head_angles=rotations[:, :3],
                      eye_angles=rotations[:, 3:].reshape(-1, 2, 3), pose_translation=None)
    return sample_at(seconds - seconds[0], fps, raw, first_frame)


def _columns(path: Path, names: list[str]) -> dict[str, int]:
    """Lower-cased column name -> position; raises BackendError naming unknown, missing or repeated columns."""
    names = [name.strip() for name in names]
    expected = {name.lower(): name for name in header()}
    expected["blendshapecount"] = "BlendshapeCount (or BlendShapeCount)"
    lowered = [name.lower() for name in names]
    unknown = [name for name in names if name.lower() not in expected]
    missing = [expected[name] for name in expected if name not in lowered]
    repeated = sorted({name for name in names if lowered.count(name.lower()) > 1})
    problems = [f"{label}: {', '.join(found)}" for label, found in
                (("unknown columns", unknown), ("missing columns", missing), ("repeated columns", repeated)) if found]
    if problems:
        raise BackendError(f"{path} is not in the Live Link Face CSV layout ({'; '.join(problems)}). Expected the "
                           "header Timecode, BlendshapeCount, the 52 ARKit codes and 9 head and eye rotations.")
    if lowered[0] != "timecode":
        raise BackendError(f"{path}: the first column must be Timecode, found {names[0]!r}.")
    return {name: i for i, name in enumerate(lowered)}


def _row(path: Path, number: int, line: str, width: int) -> list:
    """[timecode string, *floats without the timecode] of one data line."""
    fields = line.split(",")
    if len(fields) != width:
        raise BackendError(f"{path} line {number} has {len(fields)} values, the header {width}. Export the take again.")
    try:
        return [fields[0].strip(), *(float(field) for field in fields[1:])]
    except ValueError:
        raise BackendError(f"{path} line {number} holds a value that is not a number. Export the take again.") from None


def _timecode(frames: int, rate: int) -> str:
    seconds, frame = divmod(frames, rate)
    minutes, second = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours:02d}:{minute:02d}:{second:02d}:{frame:02d}.000"


def _seconds(path: Path, timecodes: list[str]) -> tuple[np.ndarray, int]:
    """([F] seconds from midnight, unwrapped past it, timecode rate) of HH:MM:SS:FF.fff strings."""
    try:
        parts = np.array([[float(value) for value in code.replace(";", ":").split(":")] for code in timecodes])
        if parts.shape[1] != 4:
            raise ValueError
    except ValueError:
        raise BackendError(f"{path}: a Timecode is not HH:MM:SS:FF.fff (first one: {timecodes[0]!r}).") from None
    frame_numbers = parts[:, 3]
    rate = next((r for r in TIMECODE_RATES if frame_numbers.max() < r), None)
    if rate is None:
        raise BackendError(f"{path}: timecode frame numbers reach {int(frame_numbers.max())}, above any timecode "
                           "rate (at most 60).")
    seconds = parts[:, 0] * 3600 + parts[:, 1] * 60 + parts[:, 2] + frame_numbers / rate
    return seconds + 86400 * np.cumsum(np.diff(seconds, prepend=seconds[0]) < 0), rate


def _capture_rate(path: Path, seconds: np.ndarray, rate: int) -> float:
    steps = np.diff(seconds) * rate
    if np.any(steps <= 0):
        raise BackendError(f"{path}: timecodes repeat or go backwards. Export the take again.")
    return rate / max(1, round(float(np.median(steps)))) if len(steps) else float(rate)


def _number(value: float) -> str:
    return np.format_float_positional(float(value), unique=True, trim="0")
