"""The 52 ARKit expression shapes of the built-in head.

Left shapes and centred shapes are sculpted here as displacement fields on the neutral mesh;
each Right shape is the exact mirror of its Left twin. Lids move by re-sampling the lid
sheet that drapes the eyeball, so a blink slides over the eye. Eye-look codes and jawOpen,
jawLeft, jawRight also rotate joints (`expression_joint_rotations`), which Blender drives
as bones.
"""

from __future__ import annotations

import numpy as np

from ..arkit import ARKIT_NAMES, mirror_name
from .anatomy import JAW_OPEN_ANGLE, JAW_PIVOT, MOUTH_Y
from .assemble import Assembly
from .grid import THETA_MOUTH
from .rig import JOINT_NAMES
from .sculpt import Sculpt, mirror_map, mirror_offsets

EYE_LOOK_VERTICAL, EYE_LOOK_HORIZONTAL = 0.38, 0.42  # radians at weight 1
JAW_SIDE_ANGLE = 0.09
JAW_GLIDE = 0.005  # the jaw slides forward as it opens


def joint_rotations() -> dict[str, dict[str, list[float]]]:
    """Per code, axis-angle per joint added at weight 1 (Left codes; Right ones are mirrored)."""
    return {
        "jawOpen": {"jaw": [JAW_OPEN_ANGLE, 0, 0]},
        "jawLeft": {"jaw": [0, JAW_SIDE_ANGLE, 0]},
        "jawRight": {"jaw": [0, -JAW_SIDE_ANGLE, 0]},
        "eyeLookUpLeft": {"eyeLeft": [-EYE_LOOK_VERTICAL, 0, 0]},
        "eyeLookDownLeft": {"eyeLeft": [EYE_LOOK_VERTICAL, 0, 0]},
        "eyeLookInLeft": {"eyeLeft": [0, -EYE_LOOK_HORIZONTAL, 0]},
        "eyeLookOutLeft": {"eyeLeft": [0, EYE_LOOK_HORIZONTAL, 0]},
    }


def lid_shape(s: Sculpt, upper_scale=1.0, lower_scale=1.0, close_at=None) -> np.ndarray:
    """Offsets of the left lids moved to scaled neutral margins, or both closed at `close_at`
    (a fraction of the neutral lower margin)."""
    grid = s.head.grid
    upper, lower = grid.margins("left")
    if close_at is not None:
        upper = lower = close_at * lower
    else:
        upper, lower = upper_scale * upper, lower_scale * lower
    phi = grid.lid_phi(left=(upper, lower))
    ids = np.flatnonzero(np.abs(phi - grid.phi) > 1e-9)
    offsets = np.zeros_like(s.p)
    offsets[ids] = grid.resample(phi, ids) - grid.vertices[ids]
    return offsets


def rotate_about_jaw(points: np.ndarray, angle: float) -> np.ndarray:
    c, s_ = np.cos(angle), np.sin(angle)
    rel = points - JAW_PIVOT
    return JAW_PIVOT + np.stack([rel[:, 0], c * rel[:, 1] - s_ * rel[:, 2], s_ * rel[:, 1] + c * rel[:, 2]], -1)


def sculpt_left_and_centre(s: Sculpt, jaw_weight: np.ndarray) -> dict[str, np.ndarray]:
    """Offset fields [V, 3] of the Left and centred codes."""
    corner = s.p[_mouth_corner(s)]
    lips = lambda mask, centre, radii: s.bump(centre, radii, mask)
    shapes = {
        "eyeBlinkLeft": lid_shape(s, close_at=0.8),
        "eyeWideLeft": lid_shape(s, 1.45, 1.12),
        "eyeSquintLeft": lid_shape(s, 0.85, 0.45) + s.move(s.bump([0.034, -0.022, 0.06], [0.018, 0.014, 0.03]), [0, 0.0015, 0.0005]),
        "eyeLookUpLeft": lid_shape(s, 1.25, 0.92),
        "eyeLookDownLeft": lid_shape(s, 0.45, 1.1),
        "eyeLookInLeft": np.zeros_like(s.p),
        "eyeLookOutLeft": np.zeros_like(s.p),
        "jawOpen": s.move(jaw_weight, [0, 0, JAW_GLIDE]),
        "jawForward": s.move(jaw_weight, [0, 0, 0.008]),
        "jawLeft": np.zeros_like(s.p),
        "mouthClose": _mouth_close(s, jaw_weight),
        "mouthFunnel": _funnel(s, forward=0.006, pinch=0.25, opening=(0.0025, -0.0035)),
        "mouthPucker": _funnel(s, forward=0.008, pinch=0.35, opening=(-0.001, 0.001)),
        "mouthLeft": s.move(s.bump([0, MOUTH_Y, 0.085], [0.045, 0.03, 0.05]), [0.008, 0, 0]),
        "mouthSmileLeft": s.move(s.bump(corner, [0.025, 0.022, 0.03]), [0.004, 0.0065, -0.003])
        + s.move(s.bump([0.036, -0.035, 0.065], [0.02, 0.02, 0.03]), [0.001, 0.003, 0.0015]),
        "mouthFrownLeft": s.move(s.bump(corner, [0.025, 0.022, 0.03]), [0.002, -0.006, -0.001]),
        "mouthDimpleLeft": s.move(s.bump(corner, [0.02, 0.018, 0.03]), [0.003, 0.0005, -0.004]),
        "mouthStretchLeft": s.move(s.bump(corner, [0.03, 0.02, 0.03]), [0.007, -0.0025, -0.002]),
        "mouthRollLower": s.move(lips(s.lower, [0, MOUTH_Y - 0.004, 0.092], [0.026, 0.01, 0.02]), [0, 0.0015, -0.005]),
        "mouthRollUpper": s.move(lips(s.upper, [0, MOUTH_Y + 0.004, 0.094], [0.027, 0.01, 0.02]), [0, -0.0015, -0.005]),
        "mouthShrugLower": s.move(lips(s.lower, [0, -0.08, 0.09], [0.03, 0.03, 0.03]), [0, 0.004, 0.003]),
        "mouthShrugUpper": s.move(lips(s.upper, [0, -0.055, 0.095], [0.028, 0.015, 0.025]), [0, 0.003, 0.002]),
        "mouthPressLeft": s.move(lips(s.lower, [0.012, MOUTH_Y, 0.09], [0.02, 0.01, 0.02]), [0, 0.0025, -0.001])
        + s.move(lips(s.upper, [0.012, MOUTH_Y, 0.09], [0.02, 0.01, 0.02]), [0, -0.0015, -0.001]),
        "mouthLowerDownLeft": s.move(lips(s.lower, [0.01, MOUTH_Y - 0.006, 0.09], [0.022, 0.016, 0.03]), [0, -0.0065, 0.001]),
        "mouthUpperUpLeft": s.move(lips(s.upper, [0.01, MOUTH_Y + 0.008, 0.09], [0.02, 0.016, 0.03]), [0, 0.006, 0.001]),
        "browDownLeft": s.move(s.bump([0.032, 0.026, 0.075], [0.03, 0.016, 0.04]), [-0.0015, -0.005, 0.001]),
        "browInnerUp": s.move(s.bump([0, 0.028, 0.09], [0.032, 0.018, 0.04]), [0, 0.0065, 0]),
        "browOuterUpLeft": s.move(s.bump([0.048, 0.028, 0.062], [0.022, 0.018, 0.04]), [0, 0.007, 0]),
        "cheekPuff": 0.008 * s.both_sides([0.038, -0.05, 0.068], [0.022, 0.024, 0.03])[:, None] * s.normals,
        "cheekSquintLeft": s.move(s.bump([0.038, -0.022, 0.072], [0.02, 0.016, 0.03]), [0, 0.0035, 0.001]),
        "noseSneerLeft": s.move(s.bump([0.013, -0.034, 0.095], [0.014, 0.018, 0.03]), [0.001, 0.004, 0])
        + s.move(s.bump([0.014, 0.02, 0.085], [0.012, 0.01, 0.03]), [0, -0.002, 0]),
        "tongueOut": _tongue_out(s),
    }
    return shapes


def _mouth_corner(s: Sculpt) -> int:
    """Vertex id of the left mouth corner (the slit's shared end vertex)."""
    grid = s.head.grid
    column = int(np.argmin(np.abs(grid.column_theta - THETA_MOUTH)))
    return grid.mouth_slit.row * len(grid.column_theta) + column


def _mouth_close(s: Sculpt, jaw_weight: np.ndarray) -> np.ndarray:
    """Lips meet while the jaw stays open: the lower lip undoes the jaw's motion."""
    lower = s.bump([0, MOUTH_Y - 0.003, 0.09], [0.03, 0.014, 0.03], s.lower)
    undo_jaw = rotate_about_jaw(s.p, -JAW_OPEN_ANGLE) - s.p - [0, 0, JAW_GLIDE]
    upper = s.bump([0, MOUTH_Y + 0.003, 0.09], [0.03, 0.012, 0.03], s.upper)
    return lower[:, None] * undo_jaw + s.move(upper, [0, -0.0015, 0])


def _funnel(s: Sculpt, forward: float, pinch: float, opening: tuple[float, float]) -> np.ndarray:
    w = s.bump([0, MOUTH_Y, 0.09], [0.034, 0.022, 0.03])
    offsets = s.move(w, [0, 0, forward])
    offsets[:, 0] -= pinch * s.p[:, 0] * w
    centre = s.bump([0, MOUTH_Y, 0.09], [0.02, 0.014, 0.03])
    offsets[:, 1] += np.where(s.upper, opening[0], np.where(s.lower, opening[1], 0.0)) * centre
    return offsets


def _tongue_out(s: Sculpt) -> np.ndarray:
    tongue = s.piece("tongue")
    reach = np.clip((s.p[:, 2] - 0.037) / 0.05, 0.2, 1.0) * tongue
    offsets = s.move(reach, [0, -0.004, 0.03])
    offsets += s.move(s.bump([0, MOUTH_Y, 0.09], [0.018, 0.012, 0.02], s.lower), [0, -0.005, 0.001])
    offsets += s.move(s.bump([0, MOUTH_Y, 0.09], [0.018, 0.012, 0.02], s.upper), [0, 0.002, 0])
    return offsets


def build_expressions(head: Assembly, jaw_weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(directions [E, V, 3], joint rotations [E, J, 3]) in ARKIT_NAMES order."""
    s = Sculpt(head)
    mirror = mirror_map(head)
    sculpted = sculpt_left_and_centre(s, jaw_weight)
    rotations = joint_rotations()
    directions = np.zeros((len(ARKIT_NAMES), len(s.p), 3))
    joint_rot = np.zeros((len(ARKIT_NAMES), len(JOINT_NAMES), 3))
    for e, name in enumerate(ARKIT_NAMES):
        if name in sculpted:
            directions[e] = sculpted[name]
        else:
            directions[e] = mirror_offsets(sculpted[mirror_name(name)], mirror)
        for joint, axis_angle in _rotations_of(name, rotations).items():
            joint_rot[e, JOINT_NAMES.index(joint)] = axis_angle
    return directions, joint_rot


def _rotations_of(name: str, rotations: dict) -> dict[str, np.ndarray]:
    if name in rotations:
        return {j: np.asarray(v, float) for j, v in rotations[name].items()}
    twin = mirror_name(name)
    if twin in rotations:  # a mirrored rotation flips its Y and Z components, and the joint's side
        return {mirror_name(j): np.asarray(v, float) * [1, -1, -1] for j, v in rotations[twin].items()}
    return {}
