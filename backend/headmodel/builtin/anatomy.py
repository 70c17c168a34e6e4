"""Landmark positions and proportions of the built-in head, in metres (model space).

One place for the numbers every other module of the generator reads. Values are for the
subject's left side (+X); the right side mirrors them.
"""

import numpy as np

EYE_CENTRE = np.array([0.0315, 0.0, 0.063])  # left eyeball centre
EYE_RADIUS = 0.0122
CORNEA_HEIGHT = 0.0008  # bulge of the cornea over the eyeball sphere
IRIS_RADIUS = 0.0058
LID_GAP = 0.0013  # eyelid skin sits this far outside the eyeball sphere
EYE_INNER_X, EYE_OUTER_X = 0.0196, 0.0438  # canthi, x: inside the eyeball's outline seen from the front
EYE_OPEN_UP, EYE_OPEN_DOWN = 0.0052, 0.0042  # lid margins above/below the eye centre at their widest

MOUTH_Y = -0.0615  # lip line
MOUTH_HALF_WIDTH = 0.0245  # mouth corner x
JAW_PIVOT = np.array([0.0, -0.012, 0.004])  # axis between the jaw hinges (x ignored)
JAW_OPEN_ANGLE = 0.30  # radians of jaw rotation at jawOpen = 1

NOSE_TIP = np.array([0.0, -0.031, 0.1155])
SUBNASALE = np.array([0.0, -0.0445, 0.0955])
CHIN = np.array([0.0, -0.1025, 0.0885])
MENTON = np.array([0.0, -0.119, 0.072])
EAR_CENTRE = np.array([0.0745, -0.008, -0.012])
NECK_BOTTOM_Y = -0.22
HAIRLINE_Y = 0.062  # forehead hairline height at the midline


def brow_centre_y(x):
    """Height of the eyebrow's centre line at |x| (inner end 0.012, outer end 0.058)."""
    t = np.clip((np.abs(x) - 0.012) / 0.046, 0.0, 1.0)
    return 0.0215 + 0.0085 * np.sin(np.pi * t ** 0.8) - 0.002 * t


BROW_HALF_THICKNESS_UP, BROW_HALF_THICKNESS_DOWN = 0.0038, 0.0032


def vermilion_height(x, upper: bool):
    """Height of the red of the lips above (upper) or below (lower) the lip line at x."""
    if upper:
        s = np.clip(1 - (np.asarray(x) / MOUTH_HALF_WIDTH) ** 2, 0, None)
        return 0.0082 * s ** 0.55 - 0.0014 * np.exp(-(np.asarray(x) / 0.0045) ** 2)
    s = np.clip(1 - (np.asarray(x) / (MOUTH_HALF_WIDTH - 0.001)) ** 2, 0, None)
    return 0.0092 * s ** 0.7


def hairline_y(theta):
    """Height of the hairline around the head (theta 0 front, +-pi back)."""
    a = np.abs(np.asarray(theta))
    return np.interp(a, np.radians([0, 30, 55, 75, 105, 140, 180]),
                     [HAIRLINE_Y, 0.058, 0.045, 0.028, 0.02, -0.04, -0.062])
