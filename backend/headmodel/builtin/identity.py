"""Semantic identity directions of the built-in head: smooth, symmetric warps of space.

Each direction is a function of position, so the same warp moves vertices and joints (an eye
pivot follows its eyeball). One unit is about one standard deviation of adult variation.
"""

from __future__ import annotations

import numpy as np

from .anatomy import EAR_CENTRE, EYE_CENTRE, MOUTH_Y


def _s(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _bump(p, centre, radii):
    q = (p - np.asarray(centre)) / np.asarray(radii)
    return np.clip(1 - (q ** 2).sum(-1), 0, None) ** 3


def _mirror_bump(p, centre, radii):
    q = p * [1, 1, 1]
    q[:, 0] = np.abs(q[:, 0])
    return _bump(q, centre, radii)


def _plateau(p, centre, inner, outer):
    """1 within `inner` of centre (either side), fading to 0 at `outer`: moves a region rigidly."""
    q = p.copy()
    q[:, 0] = np.abs(q[:, 0])
    r = np.linalg.norm(q - np.asarray(centre), axis=-1)
    return _s((outer - r) / (outer - inner))


def _only(offsets_x=None, offsets_y=None, offsets_z=None, like=None):
    out = np.zeros_like(like)
    for axis, values in enumerate((offsets_x, offsets_y, offsets_z)):
        if values is not None:
            out[:, axis] = values
    return out


def identity_warps():
    """name -> function(points [P, 3], is_ear [P] bool) -> offsets [P, 3]."""
    x = lambda p: p[:, 0]
    y = lambda p: p[:, 1]
    z = lambda p: p[:, 2]
    sign_x = lambda p: np.sign(p[:, 0])
    jaw_band = lambda p: _s((-0.03 - y(p)) / 0.03) * _s((y(p) + 0.15) / 0.03)
    neck_band = lambda p: _s((-0.1 - y(p)) / 0.04)
    eyes = lambda p: _plateau(p, EYE_CENTRE, 0.016, 0.032)
    return {
        "headWidth": lambda p, ear: _only(0.05 * x(p), like=p),
        "headHeight": lambda p, ear: _only(offsets_y=0.05 * np.clip(y(p), 0, None), like=p),
        "headDepth": lambda p, ear: _only(offsets_z=0.06 * np.minimum(z(p), 0) * _s((y(p) + 0.12) / 0.06), like=p),
        "faceLength": lambda p, ear: _only(offsets_y=0.06 * np.clip(y(p), -0.125, 0), like=p),
        "jawWidth": lambda p, ear: _only(0.1 * x(p) * jaw_band(p), like=p),
        "chinProjection": lambda p, ear: _only(offsets_z=0.005 * _bump(p, [0, -0.1, 0.08], [0.03, 0.03, 0.04]), like=p),
        "noseLength": lambda p, ear: _only(offsets_y=-0.004 * _bump(p, [0, -0.03, 0.105], [0.016, 0.022, 0.03]),
                                           offsets_z=0.001 * _bump(p, [0, -0.03, 0.105], [0.016, 0.022, 0.03]), like=p),
        "noseWidth": lambda p, ear: _only(0.2 * x(p) * _bump(p, [0, -0.035, 0.095], [0.028, 0.018, 0.03]), like=p),
        "noseProjection": lambda p, ear: _only(offsets_z=0.005 * _bump(p, [0, -0.028, 0.11], [0.015, 0.025, 0.025]), like=p),
        "eyeSpacing": lambda p, ear: _only(0.003 * sign_x(p) * eyes(p), like=p),
        "eyeHeight": lambda p, ear: _only(offsets_y=0.003 * eyes(p), like=p),
        "mouthWidth": lambda p, ear: _only(0.12 * x(p) * _bump(p, [0, MOUTH_Y, 0.085], [0.04, 0.025, 0.04]), like=p),
        "lipFullness": lambda p, ear: _only(offsets_z=0.0025 * _bump(p, [0, MOUTH_Y, 0.092], [0.03, 0.015, 0.02]), like=p),
        "cheekFullness": lambda p, ear: 0.005 * _mirror_bump(p, [0.04, -0.045, 0.066], [0.025, 0.03, 0.035])[:, None]
        * _radial(p),
        "browRidge": lambda p, ear: _only(offsets_z=0.003 * _bump(p, [0, 0.025, 0.08], [0.06, 0.015, 0.04]), like=p),
        "earSize": lambda p, ear: 0.15 * (p - EAR_CENTRE * np.stack([sign_x(p), np.ones(len(p)), np.ones(len(p))], -1))
        * ear[:, None],
        "neckThickness": lambda p, ear: _only(0.07 * x(p) * neck_band(p), offsets_z=0.07 * (z(p) + 0.02) * neck_band(p), like=p),
        "foreheadSlope": lambda p, ear: _only(offsets_z=-0.004 * _s((y(p) - 0.02) / 0.06) * _s(z(p) / 0.05), like=p),
    }


def _radial(p):
    """Horizontal outward directions from the vertical axis through the head."""
    d = p * [1, 0, 1] - [0, 0, 0.02]
    d[:, 1] = 0
    return d / np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-9)


def build_identity(vertices: np.ndarray, is_ear: np.ndarray, joints: np.ndarray):
    """(names, vertex directions [I, V, 3], joint directions [I, J, 3])."""
    warps = identity_warps()
    no_ear = np.zeros(len(joints), bool)
    names = list(warps)
    return (names, np.stack([warps[n](vertices, is_ear) for n in names]),
            np.stack([warps[n](joints, no_ear) for n in names]))
