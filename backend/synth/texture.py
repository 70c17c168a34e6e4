"""Procedural albedo for synthetic footage: skin blotches and pores, hair strands, iris fibres.

The head's per-vertex colours give the layout (lips, brows, hair cap, iris, teeth); solid
noise on the model-space rest position adds per-pixel detail that moves with the skin, so
trackers and photometric fits have texture to lock on to. Hair is recognised by colour
(close to the crown's colour), which also gives brows a strand-like look.
"""

from __future__ import annotations

import numpy as np

from ..meshrender import Fragments
from .noise import ValueNoise

_SKIN_BLOTCH = 0.008  # metres per lattice cell of the slow skin-tone variation
_SKIN_PORE = 0.0025  # metres per lattice cell of the fine, trackable skin detail
_STRAND_ACROSS, _STRAND_ALONG = 0.0007, 0.015  # hair strands hang along model +Y
_IRIS_RINGS = 0.0015  # metres per cell along the iris radius; 64 cells around it


class ProceduralAlbedo:
    """albedo(fragments) -> [H, W, 3] linear albedo of one rasterised frame of the head."""

    def __init__(self, vertex_colors: np.ndarray, rest_vertices: np.ndarray, eye_centres: np.ndarray,
                 eyeball_vertices: np.ndarray, seed: int):
        """vertex_colors [V, 3] linear; rest_vertices [V, 3] model space (identity applied, no
        expression) so the texture sticks to the skin; eye_centres [2, 3] in the same space;
        eyeball_vertices [V] bool."""
        crown = vertex_colors[np.argmax(rest_vertices[:, 1])]
        skin = vertex_colors[np.argmax(rest_vertices[:, 2])]  # the nose tip
        towards_hair = (vertex_colors - skin) @ (crown - skin) / max(float(np.sum((crown - skin) ** 2)), 1e-6)
        hair = np.clip(2.0 * towards_hair - 0.5, 0.0, 1.0)
        nearest_eye = np.argmin(np.linalg.norm(rest_vertices[:, None] - eye_centres[None], axis=-1), axis=1)
        eye_offset = rest_vertices - eye_centres[nearest_eye]
        iris = np.clip(1.0 - _luminance(vertex_colors) / 0.35, 0.0, 1.0) * eyeball_vertices
        # One interpolation per frame: colour, rest position, hair and iris weights, eye offset.
        self._attributes = np.concatenate(
            [vertex_colors, rest_vertices, hair[:, None], iris[:, None], eye_offset], axis=1).astype(np.float32)
        self._noise = ValueNoise(3, seed)

    def __call__(self, fragments: Fragments) -> np.ndarray:
        mask = fragments.mask
        pixels = fragments.interpolate(self._attributes)[mask]
        colour, rest, hair, iris, eye_offset = np.split(pixels, [3, 6, 7, 8], axis=1)
        albedo = colour * self._skin(rest)[:, None]
        strands = hair[:, 0] > 0.01
        albedo[strands] *= 1.0 + hair[strands] * (self._strands(rest[strands])[:, None] - 1.0)
        fibres = iris[:, 0] > 0.01
        albedo[fibres] *= 1.0 + iris[fibres] * (self._fibres(eye_offset[fibres])[:, None] - 1.0)
        out = np.zeros(mask.shape + (3,), np.float32)
        out[mask] = np.clip(albedo, 0.0, 1.0)
        return out

    def _skin(self, rest: np.ndarray) -> np.ndarray:
        """Brightness factor around 1: slow blotches plus fine pores."""
        blotch = self._noise(rest / _SKIN_BLOTCH)
        pores = self._noise.fractal(rest / _SKIN_PORE + 31.0, octaves=2)
        return 1.0 + 0.3 * (blotch - 0.5) + 0.5 * (pores - 0.5)

    def _strands(self, rest: np.ndarray) -> np.ndarray:
        scaled = rest / np.array([_STRAND_ACROSS, _STRAND_ALONG, _STRAND_ACROSS], np.float32)
        return 0.4 + 1.8 * self._noise(scaled + 53.0)

    def _fibres(self, eye_offset: np.ndarray) -> np.ndarray:
        """Radial streaks around each eye's forward (+Z) axis."""
        around = (np.arctan2(eye_offset[:, 1], eye_offset[:, 0]) / (2 * np.pi) + 0.5) * self._noise.period
        radius = np.hypot(eye_offset[:, 0], eye_offset[:, 1]) / _IRIS_RINGS
        return 0.5 + self._noise(np.stack([around, radius, np.full_like(radius, 7.0)], axis=1))


def _luminance(colours: np.ndarray) -> np.ndarray:
    return colours @ np.array([0.2126, 0.7152, 0.0722], np.float32)
