"""Colour encodings: linear float inside the backend, sRGB only in 8-bit files."""

from __future__ import annotations

import numpy as np


def linear_to_srgb8(image: np.ndarray) -> np.ndarray:
    """Linear RGB floats (any shape, clipped to [0, 1]) -> sRGB-encoded uint8."""
    linear = np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0)
    encoded = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * np.power(linear, 1 / 2.4) - 0.055)
    return np.round(encoded * 255.0).astype(np.uint8)
