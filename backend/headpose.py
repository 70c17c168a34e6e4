"""Head orientations as an OpenCV camera sees them.

The head model faces +Z with +Y up; an OpenCV camera looks along +Z with +Y down. A head
facing the camera upright is therefore turned half a turn about X (`FLIP`), and scripted
yaw, pitch and roll are applied in model space before that turn.
"""

from __future__ import annotations

import numpy as np

FLIP = np.diag([1.0, -1.0, -1.0])


def facing_camera(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """[3, 3] model-to-camera rotation FLIP @ Ry(yaw) @ Rx(pitch) @ Rz(roll), angles in radians.

    Positive yaw turns the face towards the subject's left (image right), positive pitch
    tips it down, positive roll tilts the top of the head towards the subject's right.
    """
    return FLIP @ _about(1, yaw) @ _about(0, pitch) @ _about(2, roll)


def _about(axis: int, angle: float) -> np.ndarray:
    """Right-handed rotation by `angle` about coordinate axis 0 (X), 1 (Y) or 2 (Z)."""
    c, s = np.cos(angle), np.sin(angle)
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    matrix = np.eye(3)
    matrix[i, i], matrix[i, j], matrix[j, i], matrix[j, j] = c, -s, s, c
    return matrix
