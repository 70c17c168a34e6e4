"""Head orientations as an OpenCV camera sees them.

The head model faces +Z with +Y up; an OpenCV camera looks along +Z with +Y down. A head
facing the camera upright is therefore turned half a turn about X (`FLIP`), and scripted
yaw, pitch and roll are applied in model space before that turn. The numpy rotation conversions
(angles, axis-angle, matrices) that the rest of the backend shares live here too.
"""

from __future__ import annotations

import numpy as np

FLIP = np.diag([1.0, -1.0, -1.0])


def facing_camera(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """[3, 3] model-to-camera rotation FLIP @ Ry(yaw) @ Rx(pitch) @ Rz(roll), angles in radians.

    Positive yaw turns the face towards the subject's left (image right), positive pitch
    tips it down, positive roll tilts the top of the head towards the subject's right.
    """
    return FLIP @ angles_to_matrix(np.array([yaw, pitch, roll]))


def angles_to_matrix(angles: np.ndarray) -> np.ndarray:
    """yaw, pitch, roll [..., 3] -> Ry(yaw) @ Rx(pitch) @ Rz(roll) [..., 3, 3], in model space."""
    angles = np.asarray(angles, np.float64)
    return _about(1, angles[..., 0]) @ _about(0, angles[..., 1]) @ _about(2, angles[..., 2])


def matrix_to_angles(matrix: np.ndarray) -> np.ndarray:
    """The inverse of `angles_to_matrix`, pitch in [-pi/2, pi/2]: [..., 3, 3] -> [..., 3]."""
    m = np.asarray(matrix, np.float64)
    yaw = np.arctan2(m[..., 0, 2], m[..., 2, 2])
    pitch = np.arctan2(-m[..., 1, 2], np.hypot(m[..., 1, 0], m[..., 1, 1]))
    roll = np.arctan2(m[..., 1, 0], m[..., 1, 1])
    return np.stack([yaw, pitch, roll], -1)


def axis_angle_to_matrix(axis_angle: np.ndarray) -> np.ndarray:
    """[..., 3] axis-angle -> [..., 3, 3] rotation matrices (float64)."""
    from scipy.spatial.transform import Rotation

    axis_angle = np.asarray(axis_angle, np.float64)
    return Rotation.from_rotvec(axis_angle.reshape(-1, 3)).as_matrix().reshape(*axis_angle.shape[:-1], 3, 3)


def matrix_to_axis_angle(matrices: np.ndarray) -> np.ndarray:
    """[..., 3, 3] rotation matrices -> [..., 3] axis-angle (exact near half a turn too, where a
    camera-facing head is)."""
    from scipy.spatial.transform import Rotation

    matrices = np.asarray(matrices, np.float64)
    return Rotation.from_matrix(matrices.reshape(-1, 3, 3)).as_rotvec().reshape(*matrices.shape[:-2], 3)


def mean_rotation(axis_angle: np.ndarray) -> np.ndarray:
    """The mean [3] of rotations [F, 3] (axis-angle): the rotation nearest them all in the chordal sense."""
    from scipy.spatial.transform import Rotation

    return Rotation.from_rotvec(np.asarray(axis_angle, np.float64).reshape(-1, 3)).mean().as_rotvec()


def _about(axis: int, angle) -> np.ndarray:
    """[..., 3, 3] right-handed rotations by `angle` [...] about coordinate axis 0 (X), 1 (Y) or 2 (Z)."""
    c, s = np.cos(angle), np.sin(angle)
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    matrix = np.zeros((*np.shape(angle), 3, 3))
    matrix[..., axis, axis] = 1
    matrix[..., i, i], matrix[..., i, j], matrix[..., j, i], matrix[..., j, j] = c, -s, s, c
    return matrix
