"""`Performance`: what drives an avatar over time, independent of the footage it came from.

Per frame: ARKit expression codes, the head's rotation as yaw, pitch and roll relative to
facing the camera (`headpose.facing_camera`), the eyes' rotations and, when recorded, the
head's position. Frame numbers are Blender's (1-based, at `fps`): a track's frame n is its
source video's frame n - 1, as Import Footage lays the clip on the timeline.

Angles are stored, not axis-angle, because they are what the Live Link Face CSV holds: export
then import is exact. `pose_rotation` gives the backend's axis-angle (model -> camera).
Shapes: F frames, E expression codes.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from ..headpose import FLIP, angles_to_matrix, axis_angle_to_matrix, matrix_to_angles, matrix_to_axis_angle

EYE_JOINTS = ("eyeLeft", "eyeRight")  # the subject's own left and right


@dataclasses.dataclass
class Performance:
    fps: float
    frames: np.ndarray  # [F] int64 Blender frame numbers, increasing
    expression_names: list[str]  # [E]
    expression: np.ndarray  # [F, E] float64 in [0, 1]
    head_angles: np.ndarray  # [F, 3] yaw, pitch, roll in radians; zero = facing the camera upright
    eye_angles: np.ndarray  # [F, 2, 3] left, right eye: yaw, pitch, roll in radians, head-model space
    pose_translation: np.ndarray | None  # [F, 3] metres, camera frame; None = not recorded (CSV)

    def __post_init__(self):
        self.frames = np.asarray(self.frames, np.int64)
        F, E = len(self.frames), len(self.expression_names)
        expected = {"expression": (F, E), "head_angles": (F, 3), "eye_angles": (F, 2, 3), "pose_translation": (F, 3)}
        for name, shape in expected.items():
            if getattr(self, name) is None and name == "pose_translation":
                continue
            setattr(self, name, np.asarray(getattr(self, name), np.float64))
            if getattr(self, name).shape != shape:
                raise ValueError(f"Performance.{name} has shape {getattr(self, name).shape}, expected {shape}")
        if self.frames.shape != (F,) or np.any(np.diff(self.frames) <= 0):
            raise ValueError(f"Performance.frames must be increasing frame numbers [F], got shape {self.frames.shape}")
        if not self.fps > 0:
            raise ValueError(f"Performance.fps must be positive, got {self.fps}")

    @property
    def num_frames(self) -> int:
        return len(self.frames)

    @property
    def times(self) -> np.ndarray:
        """[F] seconds from Blender frame 1."""
        return (self.frames - 1) / self.fps

    @property
    def pose_rotation(self) -> np.ndarray:
        """[F, 3] axis-angle model -> camera (docs/conventions.md)."""
        return matrix_to_axis_angle(FLIP @ angles_to_matrix(self.head_angles))

    @classmethod
    def from_track(cls, track, head=None) -> "Performance":
        """The tracked performance (explicit joint rotations, zero from the tracker, are not kept:
        jaw and gaze come from the codes). `head` defaults to the track's head model."""
        from ..headmodel import load_head

        head = head or load_head(track.meta["head"])
        expression = np.asarray(track.expression, np.float64)
        eyes = [head.joint_names.index(name) for name in EYE_JOINTS]
        by_codes = np.einsum("fe,ejc->fjc", expression, head.expression_joint_rotations.double().numpy()[:, eyes])
        eye_rotation = axis_angle_to_matrix(np.asarray(track.joint_rotations, np.float64)[:, eyes] + by_codes)
        head_rotation = FLIP @ axis_angle_to_matrix(np.asarray(track.pose_rotation, np.float64))
        return cls(fps=float(track.meta.get("source_fps", track.meta["fps"])),
                   frames=np.asarray(track.frame_index, np.int64) + 1,
                   expression_names=list(track.meta["expression_names"]), expression=expression,
                   head_angles=matrix_to_angles(head_rotation), eye_angles=matrix_to_angles(eye_rotation),
                   pose_translation=np.asarray(track.pose_translation, np.float64))

    def write_csv(self, path: str | Path) -> Path:
        """Live Link Face layout (backend/animation/livelink.py)."""
        from .livelink import write_live_link_csv

        return write_live_link_csv(path, self)

    def write_json(self, path: str | Path) -> Path:
        from .files import write_performance_json

        return write_performance_json(path, self)

    def resample(self, fps: float) -> "Performance":
        """Linear interpolation onto every frame at `fps` within this performance's time span."""
        return sample_at(self.times, fps, self)

    def within(self, first: int, last: int) -> "Performance":
        """The frames numbered first..last (inclusive)."""
        keep = (self.frames >= first) & (self.frames <= last)
        return self.replace_rows(keep)

    def replace_rows(self, rows) -> "Performance":
        """A performance of the frames `rows` (a mask or index array) selects."""
        return dataclasses.replace(
            self, frames=self.frames[rows], expression=self.expression[rows], head_angles=self.head_angles[rows],
            eye_angles=self.eye_angles[rows],
            pose_translation=None if self.pose_translation is None else self.pose_translation[rows])

    def unknown_codes(self, names: list[str]) -> list[str]:
        """This performance's codes that are not among `names`."""
        return [name for name in self.expression_names if name not in names]

    def codes_for(self, names: list[str]) -> tuple[np.ndarray, list[str]]:
        """(expression [F, len(names)] in the order of `names`, names this performance lacks (left 0)).
        Raises ValueError when this performance has codes that `names` lacks."""
        if self.unknown_codes(names):
            raise ValueError(f"codes {', '.join(self.unknown_codes(names))} are not among the expression names")
        column = {name: i for i, name in enumerate(self.expression_names)}
        codes = np.zeros((self.num_frames, len(names)))
        for j, name in enumerate(names):
            if name in column:
                codes[:, j] = self.expression[:, column[name]]
        return codes, [name for name in names if name not in column]


def sample_at(times: np.ndarray, fps: float, source: Performance, first_frame: int = 1) -> Performance:
    """`source`'s rows, taken at `times` [F] seconds (increasing, time 0 = frame `first_frame`),
    interpolated onto the whole frames at `fps` that the times span."""
    positions = np.asarray(times, np.float64) * fps  # in frames after first_frame
    if np.allclose(positions, np.round(positions), rtol=0, atol=1e-6):
        grid = np.round(positions)  # already on whole frames: keep the values exactly
        pick = lambda values: values
    else:
        grid = np.arange(math.ceil(positions[0] - 1e-6), math.floor(positions[-1] + 1e-6) + 1, dtype=np.float64)
        pick = lambda values: _interpolate(positions, values, grid)
    return Performance(fps=float(fps), frames=grid.astype(np.int64) + first_frame,
                       expression_names=list(source.expression_names), expression=pick(source.expression),
                       head_angles=pick(source.head_angles), eye_angles=pick(source.eye_angles),
                       pose_translation=None if source.pose_translation is None else pick(source.pose_translation))


def _interpolate(x: np.ndarray, values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Linear interpolation of values [F, ...] sampled at x [F] onto `at` [G] -> [G, ...]."""
    flat = values.reshape(len(x), -1)
    out = np.stack([np.interp(at, x, column) for column in flat.T], -1)
    return out.reshape(len(at), *values.shape[1:])
