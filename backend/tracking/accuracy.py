"""How far a track of synthetic footage is from the clip's ground truth (synth.synthesize).

Rotation errors are split into a bias (the mean yaw, pitch and roll error over the clip, what a
wrong clip-wide landmark placement gives) and a spread (their standard deviation, per-frame
noise), because the two have different causes and different cures.
"""

from __future__ import annotations

import numpy as np

from ..headpose import FLIP, axis_angle_to_matrix, matrix_to_angles


def rotation_errors(truth_rotations: np.ndarray, rotations: np.ndarray) -> np.ndarray:
    """[F] angle in degrees of the rotation between each frame's true and tracked head
    orientation (both [F, 3] axis-angle, model to camera)."""
    from scipy.spatial.transform import Rotation

    error = Rotation.from_rotvec(truth_rotations).inv() * Rotation.from_rotvec(rotations)
    return np.degrees(error.magnitude())


def source_focal(meta: dict) -> float:
    """A track's focal length (tracking.json's, in working-crop pixels) in source-frame pixels."""
    return meta["focal"] * meta["crop"]["side"] / meta["crop"]["size"]


def track_accuracy(truth: dict, pose_rotation: np.ndarray, expression: np.ndarray, focal: float) -> dict:
    """Median rotation error, yaw/pitch/roll bias and spread (degrees), mean absolute expression
    error and the focal length (source pixels, see source_focal) over the true one, of a track
    against `truth` (groundtruth.safetensors)."""
    as_angles = lambda rotations: np.degrees(matrix_to_angles(FLIP @ axis_angle_to_matrix(rotations)))
    angle_error = as_angles(pose_rotation) - as_angles(truth["pose_rotation"])
    return {"rotation_median_deg": round(float(np.median(rotation_errors(truth["pose_rotation"], pose_rotation))), 3),
            "ypr_bias_deg": angle_error.mean(0).round(2).tolist(),
            "ypr_spread_deg": angle_error.std(0).round(2).tolist(),
            "expression_error": round(float(np.abs(expression - truth["expression"]).mean()), 4),
            "focal_ratio": round(focal / float(truth["K"][0, 0]), 3)}
