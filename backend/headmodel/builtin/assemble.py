"""Put the skin grid and the other pieces into one mesh: vertices, triangles, UV atlas, parts, albedo."""

from __future__ import annotations

import dataclasses

import numpy as np

from . import parts as P
from .anatomy import (BROW_HALF_THICKNESS_DOWN, BROW_HALF_THICKNESS_UP, MOUTH_HALF_WIDTH, MOUTH_Y, brow_centre_y, hairline_y,
                      vermilion_height)
from .grid import COLUMNS, SkinGrid, build_grid, mouth_side

PART_NAMES = ["face", "scalp", "ears", "neck", "eyeballs", "eyelids", "mouth_interior", "teeth", "gums", "tongue"]
SKIN_RGB = np.array([0.46, 0.29, 0.22])
LIP_RGB = np.array([0.42, 0.14, 0.13])
HAIR_RGB = np.array([0.045, 0.03, 0.022])
BROW_RGB = np.array([0.06, 0.04, 0.03])
LASH_RGB = np.array([0.03, 0.02, 0.015])


@dataclasses.dataclass
class Assembly:
    grid: SkinGrid
    vertices: np.ndarray  # [V, 3]
    triangles: np.ndarray
    uvs: np.ndarray
    uv_triangles: np.ndarray
    part: np.ndarray  # [V] str
    colors: np.ndarray  # [V, 3]
    piece_jaw_weight: np.ndarray  # [V] jaw weights of the non-skin pieces (0 on skin)
    ranges: dict[str, slice]
    mouth_side: np.ndarray  # [V] +1 upper / -1 lower side of the lip line on skin, 0 elsewhere

    def ids(self, name: str) -> np.ndarray:
        return np.arange(self.ranges[name].start, self.ranges[name].stop)


def pieces() -> dict[str, P.Piece]:
    eye = P.eyeball()
    ear = P.ear()
    return {"eyeball_left": eye, "eyeball_right": P.mirror_piece(eye), "mouth_cavity": P.mouth_cavity(),
            "teeth_upper": P.dental_arch(MOUTH_Y + 0.0105, MOUTH_Y - 0.0005, 0.0855, gum_on_top=True, jaw=0.0),
            "teeth_lower": P.dental_arch(MOUTH_Y - 0.0015, MOUTH_Y - 0.0105, 0.0835, gum_on_top=False, jaw=1.0),
            "tongue": P.tongue(), "ear_left": ear, "ear_right": P.mirror_piece(ear)}


def assemble() -> Assembly:
    grid = build_grid()
    skin_count = len(grid.vertices)
    vertices, triangles, uvs, uv_triangles = [grid.vertices], [grid.triangles], [grid.uvs], [grid.uv_triangles]
    part, colors, jaw = [skin_parts(grid)], [skin_albedo(grid)], [np.zeros(skin_count)]
    ranges = {"skin": slice(0, skin_count)}
    start, uv_start = skin_count, len(grid.uvs)
    for cell, (name, piece) in enumerate(pieces().items()):
        n = len(piece.vertices)
        vertices.append(piece.vertices)
        triangles.append(piece.triangles + start)
        uvs.append(atlas_cell(cell) + piece.uvs * np.array([0.115, 0.28]))
        uv_triangles.append(piece.triangles + uv_start)
        part.append(piece.part)
        colors.append(piece.colors)
        jaw.append(piece.jaw_weight)
        ranges[name] = slice(start, start + n)
        start, uv_start = start + n, uv_start + n
    side = np.zeros(start)
    side[:skin_count] = mouth_side(grid)
    return Assembly(grid, np.concatenate(vertices), np.concatenate(triangles), np.concatenate(uvs),
                    np.concatenate(uv_triangles), np.concatenate(part), np.concatenate(colors),
                    np.concatenate(jaw), ranges, side)


def atlas_cell(k: int) -> np.ndarray:
    """Lower-left corner of the k-th cell in the strip below the skin's UV area (v < 0.3)."""
    return np.array([0.005 + 0.125 * k, 0.01])


def skin_parts(grid: SkinGrid) -> np.ndarray:
    x, y, z = grid.vertices.T
    theta = grid.theta
    part = np.full(len(x), "face", dtype=object)
    part[y > hairline_y(theta)] = "scalp"
    jaw_line = np.interp(np.abs(theta), np.radians([0, 30, 60, 90, 180]), [-0.121, -0.112, -0.095, -0.075, -0.07])
    part[(y < jaw_line) & ~((np.abs(theta) < np.radians(35)) & (z > 0.05))] = "neck"
    for slit in grid.eye_slits.values():
        slit_theta = grid.theta[slit.upper]
        near_eye = (theta >= slit_theta.min() - 0.03) & (theta <= slit_theta.max() + 0.03)  # the canthi too
        lids = near_eye & (np.abs(grid.row - slit.row) <= 6)
        part[lids] = "eyelids"
    return part.astype(str)


def skin_albedo(grid: SkinGrid) -> np.ndarray:
    """Skin with red lips, dark brows and a hair cap; boundaries blend over a few millimetres so
    per-vertex colour does not show the grid as stair steps."""
    x, y, z = grid.vertices.T
    color = np.tile(SKIN_RGB, (len(x), 1))
    color = color * (1 + 0.06 * np.clip((y + 0.04) / 0.08, -1, 1))[:, None]  # forehead a touch lighter
    side = mouth_side(grid)
    lips = _ramp(z - 0.06, 0.004) * _ramp(MOUTH_HALF_WIDTH - 0.001 - np.abs(x), 0.002)  # between the corners
    upper_lip = (side > 0) * _ramp(vermilion_height(x, upper=True) - (y - MOUTH_Y), 0.0012)
    lower_lip = (side < 0) * _ramp(vermilion_height(x, upper=False) - (MOUTH_Y - y), 0.0012)
    color = _blend(color, LIP_RGB, lips * np.maximum(upper_lip, lower_lip))
    brow_offset = y - brow_centre_y(x)
    taper = np.clip(np.minimum(np.abs(x) - 0.012, 0.058 - np.abs(x)) / 0.006, 0, 1)
    brow = (_ramp(BROW_HALF_THICKNESS_UP * taper - brow_offset, 0.0012)
            * _ramp(brow_offset + BROW_HALF_THICKNESS_DOWN * taper, 0.0012) * _ramp(z - 0.04, 0.004))
    color = _blend(color, BROW_RGB, brow)
    # Lash lines: closed lids meet in a dark line, which is how a landmark detector sees a blink.
    for slit in grid.eye_slits.values():  # the upper margin, the row above it (rows count upward), the lower margin
        for vertices, amount in ((slit.upper, 1.0), (slit.upper + COLUMNS, 0.7), (slit.lower, 0.6)):
            color[vertices] += (LASH_RGB - color[vertices]) * amount
    return _blend(color, HAIR_RGB, _ramp(y - hairline_y(grid.theta), 0.004))


def _ramp(signed_distance, width):
    """0 -> 1 across `width` around a boundary (positive distance = inside)."""
    return np.clip(0.5 + signed_distance / width, 0.0, 1.0)


def _blend(color, target, amount):
    return color + (np.asarray(target) - color) * np.asarray(amount)[:, None]
