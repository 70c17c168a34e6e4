"""Curve clean-up for expression animation: smoothing, per-group exaggeration, reset to neutral.

Plain numpy on sampled values [F] (or [F, E]), so the add-on's Graph Editor tools and scripts
share them.
"""

from __future__ import annotations

import numpy as np

GROUP_PREFIXES = {"mouth": ("mouth", "jaw", "cheek", "tongue"), "eyes": ("eye",), "brows": ("brow",)}


def group_codes(names: list[str], group: str) -> list[str]:
    """The ARKit codes of a face group ("mouth", "eyes", "brows") among `names`."""
    return [name for name in names if name.startswith(GROUP_PREFIXES[group])]


def savitzky_golay(values: np.ndarray, strength: float) -> np.ndarray:
    """Smooth values [F, ...] along F with a quadratic Savitzky-Golay filter whose half-window is
    `strength` frames (0: unchanged). Ends are handled by mirroring, so keys keep their count."""
    half = int(round(strength))
    values = np.asarray(values, np.float64)
    if half < 1 or len(values) < 3:
        return values.copy()
    half = min(half, (len(values) - 1) // 2)
    offsets = np.arange(-half, half + 1)
    design = np.stack([np.ones_like(offsets), offsets, offsets ** 2], 1).astype(np.float64)
    weights = np.linalg.pinv(design)[0]  # the fitted polynomial's value at the window's centre
    padded = np.concatenate([values[half:0:-1], values, values[-2:-half - 2:-1]])
    return sum(w * padded[k:k + len(values)] for k, w in enumerate(weights))


def exaggerate(values: np.ndarray, factor: float) -> np.ndarray:
    """Codes scaled by `factor` about neutral (0), kept in the ARKit range [0, 1]."""
    return np.clip(np.asarray(values, np.float64) * factor, 0.0, 1.0)
