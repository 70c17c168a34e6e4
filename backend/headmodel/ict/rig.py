"""Joints and skinning of the imported ICT head.

ICT-FaceKit has no skeleton: its jaw codes are blend shapes and its eye-look codes move only
the lids. The importer adds the project's four joints: eye pivots at the centres of spheres
fitted to the scleras (the eyeballs are rigid to them, and the eye-look codes turn them as in
the built-in head), and a neck and a jaw joint placed relative to the eyes as in the built-in
head. The jaw joint carries no vertices: ICT's jaw shapes already move the lower teeth and chin.
"""

from __future__ import annotations

import numpy as np

from ..arkit import ARKIT_NAMES, mirror_name
from ..builtin.anatomy import EYE_CENTRE, JAW_PIVOT
from ..builtin.expressions import joint_rotations as builtin_joint_rotations
from ..builtin.rig import JOINT_NAMES, NECK_JOINT, smoothstep

NECK_FULL_BELOW_JOINT, NECK_NONE_BELOW_JOINT = 0.015, 0.085  # metres: the neck joint's share fades between


def sphere_centre(points: np.ndarray) -> np.ndarray:
    """Centre of the least-squares sphere through points [N, 3]."""
    system = np.c_[2 * points, np.ones(len(points))]
    solution = np.linalg.lstsq(system, (points ** 2).sum(1), rcond=None)[0]
    return solution[:3]


def eye_pivots(vertices: np.ndarray, scleras: dict[str, np.ndarray]) -> np.ndarray:
    """[2, 3] eye rotation centres (eyeLeft, eyeRight) of a mesh: the scleras' fitted sphere centres."""
    return np.stack([sphere_centre(vertices[scleras[eye]]) for eye in ("eyeLeft", "eyeRight")])


def head_origin(pivots: np.ndarray) -> np.ndarray:
    """The model-space origin for these eye pivots: where it sits relative to the eyes in the
    built-in head (between the ears at eye height)."""
    middle = pivots.mean(0)
    return middle - [0.0, EYE_CENTRE[1], EYE_CENTRE[2]]


def joint_positions(pivots: np.ndarray) -> np.ndarray:
    """[4, 3] neck, jaw, eyeLeft, eyeRight for eye pivots already in model space."""
    origin = head_origin(pivots)
    return np.stack([origin + NECK_JOINT, origin + JAW_PIVOT, pivots[0], pivots[1]])


def skin_weights(vertices: np.ndarray, eyeballs: dict[str, np.ndarray], neck: np.ndarray) -> np.ndarray:
    """[V, 4]: the head follows the neck joint, fading out down the neck; eyeballs follow their eye."""
    drop = neck[1] - vertices[:, 1]
    span = NECK_NONE_BELOW_JOINT - NECK_FULL_BELOW_JOINT
    weights = np.zeros((len(vertices), len(JOINT_NAMES)))
    weights[:, 0] = smoothstep((NECK_NONE_BELOW_JOINT - drop) / span)
    for eye, ids in eyeballs.items():
        weights[ids] = 0.0
        weights[ids, JOINT_NAMES.index(eye)] = 1.0
    return weights


def expression_joint_rotations() -> np.ndarray:
    """[E, 4, 3] axis-angle per ARKit code at weight 1: only the eye-look codes turn joints, by the
    built-in head's angles."""
    left_gaze = {name: turns["eyeLeft"] for name, turns in builtin_joint_rotations().items() if "eyeLeft" in turns}
    rotations = np.zeros((len(ARKIT_NAMES), len(JOINT_NAMES), 3))
    for name, axis_angle in left_gaze.items():
        rotations[ARKIT_NAMES.index(name), JOINT_NAMES.index("eyeLeft")] = axis_angle
        # A left-right mirror flips the Y and Z components of an axis-angle.
        rotations[ARKIT_NAMES.index(mirror_name(name)), JOINT_NAMES.index("eyeRight")] = np.multiply(axis_angle, [1, -1, -1])
    return rotations
