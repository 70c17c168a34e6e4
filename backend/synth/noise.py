"""Seeded value noise on a periodic lattice, in any number of dimensions."""

from __future__ import annotations

import itertools
import math

import numpy as np


class ValueNoise:
    """Smoothly interpolated random values on an integer lattice that repeats every `period`."""

    def __init__(self, dims: int, seed: int, period: int = 64):
        self.dims = dims
        self.period = period
        self._values = np.random.default_rng(seed).random(period**dims, dtype=np.float32)
        self._strides = period ** np.arange(dims - 1, -1, -1)

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """points [P, D] in lattice units -> [P] in [0, 1]."""
        if points.ndim != 2 or points.shape[1] != self.dims:
            raise ValueError(f"points must be [P, {self.dims}], got {points.shape}")
        base = np.floor(points.T)  # [D, P]: contiguous rows per axis
        t = (points.T - base).astype(np.float32)
        t = t * t * (3.0 - 2.0 * t)  # smoothstep: no creases at lattice lines
        low = base.astype(np.int64) % self.period
        strides = self._strides[:, None]
        offsets = (low * strides, (low + 1) % self.period * strides)  # parts of the flat index
        weights = (1.0 - t, t)
        out = np.zeros(len(points), np.float32)
        for corner in itertools.product((0, 1), repeat=self.dims):
            index = sum(offsets[c][d] for d, c in enumerate(corner))
            out += math.prod(weights[c][d] for d, c in enumerate(corner)) * self._values[index]
        return out

    def fractal(self, points: np.ndarray, octaves: int) -> np.ndarray:
        """Octaves at doubling frequency and halving amplitude, normalised to [0, 1]."""
        total = np.zeros(len(points), np.float32)
        for octave in range(octaves):
            # An odd shift per octave keeps the octaves' lattices from lining up.
            total += 0.5**octave * self(points * 2.0**octave + 17.3 * octave)
        return total / (2.0 - 0.5 ** (octaves - 1))
