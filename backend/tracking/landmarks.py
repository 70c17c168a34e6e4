"""2D facial landmarks per frame: mediapipe face mesh (offline, default) or face-alignment's FAN.

`detect_landmarks` returns a `Detections`: pixel coordinates in the full frame, which layout
they follow ("mediapipe": 478 points, "ibug68": 68 points), which frames lost the face, and
how many faces each frame showed. Frames where the face is lost are marked, never filled.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from ..errors import BackendError

FAN_FILES = ("2DFAN4-11f355bf06.pth.tar", "s3fd-619a316812.pth")
MIN_FACE_PIXELS = 48  # mediapipe's face detector misses faces much smaller than this


@dataclasses.dataclass
class Detections:
    layout: str  # "mediapipe" or "ibug68"
    points: np.ndarray  # [F, L, 2] float32 pixels (x right, y down, pixel centres at +0.5); NaN where lost
    found: np.ndarray  # [F] bool
    confidence: np.ndarray  # [F] float32 in [0, 1]
    face_count: np.ndarray  # [F] int: faces seen (the largest is kept)


def fan_weights_dir() -> Path:
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def fan_available() -> bool:
    return all((fan_weights_dir() / name).is_file() for name in FAN_FILES)


def fan_missing_message() -> str:
    return (f"face-alignment's FAN weights are not on this machine (looked for {', '.join(FAN_FILES)} in "
            f"{fan_weights_dir()}). Download them from https://www.adrianbulat.com/downloads/python-fan/ into "
            "that folder, or use --landmarks mediapipe (works offline).")


class MediapipeMesh:
    """mediapipe's face mesh with iris refinement, in video mode (tracks between frames)."""

    layout = "mediapipe"

    def __init__(self):
        os.environ.setdefault("GLOG_minloglevel", "2")
        import mediapipe as mp

        self._mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=2,
                                                     refine_landmarks=True, min_detection_confidence=0.5,
                                                     min_tracking_confidence=0.5)

    def __call__(self, rgb: np.ndarray) -> list[np.ndarray]:
        """All faces in an RGB frame as [478, 2] pixel arrays."""
        result = self._mesh.process(rgb)
        if not result.multi_face_landmarks:
            return []
        h, w = rgb.shape[:2]
        return [np.array([(p.x * w, p.y * h) for p in face.landmark], np.float32) for face in result.multi_face_landmarks]

    def close(self):
        self._mesh.close()


class FanDetector:
    """face-alignment's 2D FAN (68 iBUG points) with its S3FD face detector."""

    layout = "ibug68"

    def __init__(self, device: str = "cpu"):
        if not fan_available():
            raise BackendError(fan_missing_message())
        import face_alignment

        self._fa = face_alignment.FaceAlignment(face_alignment.LandmarksType.TWO_D, device=device, compile=False)

    def __call__(self, rgb: np.ndarray) -> list[np.ndarray]:
        faces = self._fa.get_landmarks_from_image(rgb)
        return [] if faces is None else [np.asarray(f[:, :2], np.float32) + 0.5 for f in faces]

    def close(self):
        pass


def make_detector(choice: str, device: str = "cpu"):
    """'mediapipe', 'fan', or 'auto'. Auto is mediapipe: it runs offline, gives irises (gaze)
    and is several times faster on a CPU; FAN is used when asked for."""
    if choice in ("mediapipe", "auto"):
        return MediapipeMesh()
    if choice == "fan":
        return FanDetector(device)
    raise BackendError(f"unknown landmark detector '{choice}': use auto, mediapipe or fan.")


def face_size(points: np.ndarray) -> float:
    return float(np.max(points.max(0) - points.min(0)))
