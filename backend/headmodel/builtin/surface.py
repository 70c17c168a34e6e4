"""The skin of the built-in head as a signed-distance field, and ray casting onto it.

The field is a smooth union of ellipsoids and capsules for skull, face, jaw, neck, nose,
lips and brows, with eye sockets carved out and eyelid shells around the eyeballs. It is
evaluated in numpy; the mesh samples it along rays from the head centre, so the skin is
one closed sheet however the primitives overlap.
"""

from __future__ import annotations

import numpy as np

from .anatomy import EYE_CENTRE, EYE_RADIUS, LID_GAP, NECK_BOTTOM_Y


def ellipsoid(p, centre, radii):
    """Approximate signed distance to an ellipsoid (exact on the surface, smooth elsewhere)."""
    q = (p - centre) / radii
    k0 = np.linalg.norm(q, axis=-1)
    k1 = np.linalg.norm(q / radii, axis=-1)
    return k0 * (k0 - 1.0) / np.maximum(k1, 1e-12)


def capsule(p, a, b, radius_a, radius_b):
    """Distance to a round cone from a (radius_a) to b (radius_b), linearly interpolated."""
    ab = b - a
    t = np.clip(((p - a) @ ab) / (ab @ ab), 0.0, 1.0)
    closest = a + t[..., None] * ab
    return np.linalg.norm(p - closest, axis=-1) - (radius_a + t * (radius_b - radius_a))


def neck(p):
    q = (p - np.array([0.0, 0.0, -0.02])) / np.array([0.053, 1.0, 0.048])
    radial = (np.hypot(q[..., 0], q[..., 2]) - 1.0) * 0.05
    cap = NECK_BOTTOM_Y - p[..., 1]
    top = p[..., 1] - (-0.03)
    return np.maximum(np.maximum(radial, cap), top)


def smooth_union(a, b, k):
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b + (a - b) * h - k * h * (1.0 - h)


def smooth_subtract(a, b, k):
    """a minus b."""
    return -smooth_union(-a, b, k)


def mirrored(fn):
    """Evaluate a left-side primitive on both sides (|x|)."""
    def both(p):
        q = p.copy()
        q[..., 0] = np.abs(q[..., 0])
        return fn(q)
    return both


V = np.array
_left_eye_socket = mirrored(lambda p: ellipsoid(p, V([0.032, 0.004, 0.079]), V([0.0175, 0.0135, 0.016])))
_left_lid_shell = mirrored(lambda p: np.linalg.norm(p - EYE_CENTRE, axis=-1) - (EYE_RADIUS + LID_GAP))
_left_cheekbone = mirrored(lambda p: ellipsoid(p, V([0.046, -0.016, 0.05]), V([0.018, 0.014, 0.02])))
_left_cheek = mirrored(lambda p: ellipsoid(p, V([0.034, -0.046, 0.058]), V([0.021, 0.022, 0.02])))
_left_ala = mirrored(lambda p: ellipsoid(p, V([0.0128, -0.0385, 0.0935]), V([0.0082, 0.0068, 0.0078])))
_left_jaw = mirrored(lambda p: capsule(p, V([0.045, -0.068, -0.004]), V([0.019, -0.104, 0.06]), 0.011, 0.013))


def skin_distance(p: np.ndarray) -> np.ndarray:
    """Signed distance (approximately metres) to the neutral skin; negative inside. p [..., 3]."""
    d = ellipsoid(p, V([0.0, 0.018, -0.008]), V([0.0745, 0.1, 0.099]))  # cranium
    d = smooth_union(d, ellipsoid(p, V([0.0, -0.028, 0.026]), V([0.0625, 0.06, 0.057])), 0.02)  # midface
    d = smooth_union(d, _left_cheekbone(p), 0.02)
    d = smooth_union(d, _left_jaw(p), 0.025)
    d = smooth_union(d, ellipsoid(p, V([0.0, -0.1, 0.072]), V([0.02, 0.018, 0.016])), 0.015)  # chin
    d = smooth_union(d, ellipsoid(p, V([0.0, -0.054, 0.059]), V([0.03, 0.03, 0.031])), 0.018)  # muzzle
    d = smooth_union(d, ellipsoid(p, V([0.0, -0.094, 0.036]), V([0.04, 0.02, 0.04])), 0.02)  # under the jaw
    d = smooth_union(d, _left_cheek(p), 0.02)
    d = smooth_union(d, neck(p), 0.025)
    d = smooth_union(d, ellipsoid(p, V([0.0, 0.025, 0.069]), V([0.056, 0.0145, 0.0225])), 0.012)  # brow ridge
    d = smooth_subtract(d, _left_eye_socket(p), 0.006)
    d = smooth_union(d, _left_lid_shell(p), 0.0035)
    d = smooth_union(d, capsule(p, V([0.0, 0.006, 0.086]), V([0.0, -0.026, 0.105]), 0.0058, 0.0072), 0.007)  # nose bridge
    d = smooth_union(d, ellipsoid(p, V([0.0, -0.0315, 0.1045]), V([0.0095, 0.0095, 0.011])), 0.004)  # nose tip
    d = smooth_union(d, _left_ala(p), 0.004)
    d = smooth_union(d, capsule(p, V([0.0, -0.036, 0.103]), V([0.0, -0.045, 0.09]), 0.0045, 0.0055), 0.005)  # columella
    arched = p + np.stack([0 * p[..., 0], 0 * p[..., 0], p[..., 0] ** 2 / 0.07], -1)  # lips follow the teeth
    d = smooth_union(d, ellipsoid(arched, V([0.0, -0.0555, 0.0895]), V([0.024, 0.0072, 0.0085])), 0.006)  # upper lip
    d = smooth_union(d, ellipsoid(arched, V([0.0, -0.0685, 0.0875]), V([0.0215, 0.0072, 0.0082])), 0.006)  # lower lip
    return d


def ray_origin(phi: np.ndarray) -> np.ndarray:
    """Rays for lower rows start lower on the vertical axis, so nose base, lips, the underside
    of the jaw and the neck are met head-on rather than at grazing angles. The origin only
    descends as phi descends, so neighbouring rays never cross. phi [...] -> [..., 3]"""
    x = np.clip(-np.asarray(phi) / np.radians(50), 0.0, 1.0)
    y = -0.07 * x * x * (3 - 2 * x)
    return np.stack([np.zeros_like(y), y, np.zeros_like(y)], -1)


def directions(theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Unit rays: theta around +Y from +Z toward +X (subject's left), phi elevation. -> [..., 3]"""
    return np.stack([np.cos(phi) * np.sin(theta), np.sin(phi), np.cos(phi) * np.cos(theta)], -1)


def cast_grid(theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Skin points of grid rays (theta, phi) [R] -> [R, 3]."""
    return cast(directions(theta, phi), ray_origin(phi))


def cast(rays: np.ndarray, origin=(0.0, 0.0, 0.0), far=0.35, iterations=120) -> np.ndarray:
    """Outermost skin point along each ray from `origin` ([3] or [R, 3]). rays [R, 3] -> [R, 3].

    Sphere tracing inward from `far` gets close; a fine scan from just outside then finds the
    first crossing, so thin features are not stepped over, and bisection pins it down.
    """
    origin = np.asarray(origin, dtype=float)
    t = np.full(len(rays), far)
    for _ in range(iterations):
        t = t - np.maximum(skin_distance(origin + t[:, None] * rays), 1e-4) * 0.6
    scan = t[:, None] + 0.012 - np.arange(0.0, 0.03, 2.5e-4)[None, :]  # [R, S] outside -> inside
    inside = skin_distance(origin[..., None, :] + scan[..., None] * rays[:, None, :]) < 0
    first = np.argmax(inside, axis=1)
    hi, lo = scan[np.arange(len(rays)), np.maximum(first - 1, 0)], scan[np.arange(len(rays)), first]
    for _ in range(20):
        mid = 0.5 * (lo + hi)
        outside = skin_distance(origin + mid[:, None] * rays) > 0
        hi, lo = np.where(outside, mid, hi), np.where(outside, lo, mid)
    return origin + (0.5 * (lo + hi))[:, None] * rays
