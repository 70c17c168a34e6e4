"""Joints and skinning weights of the built-in head: neck, jaw, left and right eye.

The jaw takes the lower lip (below the lip-line slit), chin and under-jaw skin, lower teeth,
tongue and the lower half of the mouth cavity, fading out toward the cheeks, the jaw hinges
and the throat. The neck joint carries the whole head and fades down the neck.
"""

from __future__ import annotations

import numpy as np

from .anatomy import EYE_CENTRE, JAW_PIVOT, MOUTH_Y
from .assemble import Assembly
from .grid import THETA_MOUTH

JOINT_NAMES = ["neck", "jaw", "eyeLeft", "eyeRight"]
JOINT_PARENTS = [-1, 0, 0, 0]
NECK_JOINT = np.array([0.0, -0.075, -0.02])


def joints() -> np.ndarray:
    return np.array([NECK_JOINT, JAW_PIVOT, EYE_CENTRE, EYE_CENTRE * [-1, 1, 1]])


def smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def skin_jaw_weight(head: Assembly) -> np.ndarray:
    """Jaw weight of skin vertices: a smooth field, split exactly at the lip line near the mouth."""
    x, y, z = head.vertices[head.ranges["skin"]].T
    line = MOUTH_Y + np.clip(0.085 - z, 0, None) * 0.45  # the jaw's upper edge rises toward the hinge
    smooth = smoothstep((line - y) / 0.02 + 0.5)
    smooth *= smoothstep((z - 0.0) / 0.035)  # nothing behind the hinges
    smooth *= np.where(y < -0.095, smoothstep((z - 0.02) / 0.035), 1.0)  # the throat stays
    theta = head.grid.theta
    centre = (1 - np.clip(np.abs(theta) / THETA_MOUTH, 0, 1) ** 3) * (z > 0.06)
    side = head.mouth_side[head.ranges["skin"]]
    near_lips = np.abs(y - MOUTH_Y) < 0.02
    split = np.where(side < 0, 1.0, 0.0)
    return np.where(near_lips, centre * split + (1 - centre) * smooth, smooth)


def skin_weights(head: Assembly) -> np.ndarray:
    """[V, 4] weights for neck, jaw, eyeLeft, eyeRight; each row sums to the neck's share."""
    V = len(head.vertices)
    jaw = head.piece_jaw_weight.copy()
    jaw[head.ranges["skin"]] = skin_jaw_weight(head)
    y = head.vertices[:, 1]
    carried = smoothstep((y - (-0.19)) / 0.07)  # share that moves with the head (the whole face); the rest stays with the body
    weights = np.zeros((V, 4))
    weights[:, 1] = jaw * carried
    weights[:, 0] = carried - weights[:, 1]
    for column, name in ((2, "eyeball_left"), (3, "eyeball_right")):
        weights[head.ranges[name]] = 0.0
        weights[head.ranges[name], column] = 1.0
    return weights
