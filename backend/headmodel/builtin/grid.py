"""The skin mesh: a latitude-longitude grid around the head centre, dense on the face.

Columns run around the vertical axis (theta, 0 = front, + toward the subject's left), rows
bottom to top (phi, elevation). The eyes and the mouth are slits along grid rows: the
vertices of a slit row are doubled, upper copies serving the triangles above and lower
copies those below, so lids and lips can part and meet. The eye slits are opened in the
neutral pose by pushing the rows around them apart in phi; the mouth is closed.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .anatomy import EYE_CENTRE, EYE_INNER_X, EYE_OPEN_DOWN, EYE_OPEN_UP, EYE_OUTER_X, MOUTH_HALF_WIDTH, MOUTH_Y
from .surface import cast_grid, ray_origin

COLUMNS = 136
ROWS = 118
EYE_BAND = np.radians(13.0)  # rows within this angle of the eye slit are pushed apart
EYE_DISTANCE = np.linalg.norm(EYE_CENTRE) + 0.012
THETA_EYE_INNER = np.arctan2(EYE_INNER_X, 0.074)
THETA_EYE_OUTER = np.arctan2(EYE_OUTER_X, 0.067)
THETA_MOUTH = np.arctan2(MOUTH_HALF_WIDTH, 0.083)


def _mouth_phi() -> float:
    """The row whose ray meets the lip line (origins move with phi, so solve by bisection)."""
    lo, hi = np.radians(-60), 0.0
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        height = ray_origin(mid)[1] + 0.0925 * np.tan(mid)
        lo, hi = (mid, hi) if height < MOUTH_Y else (lo, mid)
    return 0.5 * (lo + hi)


PHI_MOUTH = _mouth_phi()


@dataclasses.dataclass
class Slit:
    row: int
    columns: np.ndarray  # interior columns (the two corner columns stay shared)
    lower: np.ndarray  # vertex ids of the lower copies, aligned with `columns`

    @property
    def upper(self) -> np.ndarray:
        return self.row * COLUMNS + self.columns


@dataclasses.dataclass
class SkinGrid:
    theta: np.ndarray  # [Vs] column angle per vertex
    phi: np.ndarray  # [Vs] neutral (warped) elevation per vertex
    row: np.ndarray  # [Vs] grid row (-1 bottom pole, ROWS top pole)
    side: np.ndarray  # [Vs] +1 above a slit row or its upper copy, -1 below or lower copy
    vertices: np.ndarray  # [Vs, 3]
    triangles: np.ndarray  # [Ts, 3]
    uvs: np.ndarray
    uv_triangles: np.ndarray
    eye_slits: dict[str, Slit]  # "left", "right"
    mouth_slit: Slit
    column_theta: np.ndarray  # [COLUMNS]
    row_phi: np.ndarray  # [ROWS] unwarped

    def margins(self, side: str) -> tuple[np.ndarray, np.ndarray]:
        """Neutral (upper, lower) lid-margin offsets in phi of one eye, per vertex (0 off the eye)."""
        theta = self.theta if side == "left" else -self.theta
        return (EYE_OPEN_UP / EYE_DISTANCE * lid_profile(theta, 0.85),
                -EYE_OPEN_DOWN / EYE_DISTANCE * lid_profile(theta, 1.25))

    def lid_phi(self, **margins: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """Elevation of every vertex with the lid margins of `left`/`right` moved to the given
        (upper, lower) offsets; eyes not named keep their neutral margins."""
        base = self.row_phi[np.clip(self.row, 0, ROWS - 1)]
        falloff = np.clip(1.0 - np.abs(base) / EYE_BAND, 0.0, 1.0) ** 2 * (self.row >= 0) * (self.row < ROWS)
        phi = base.copy()
        for side in ("left", "right"):
            upper, lower = margins.get(side, self.margins(side))
            phi += np.where(self.side > 0, upper, lower) * falloff
        phi[self.row == -1] = -np.pi / 2
        phi[self.row == ROWS] = np.pi / 2
        return phi

    def resample(self, phi: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Skin points for vertices `ids` at elevations phi[ids]."""
        return cast_grid(self.theta[ids], phi[ids])


def corner_columns(column_theta: np.ndarray, slit: Slit) -> tuple[int, int]:
    """The shared columns at the two ends of a slit (lower theta first)."""
    inside = column_theta[slit.columns]
    below = np.flatnonzero(column_theta < inside.min() - 1e-12)
    above = np.flatnonzero(column_theta > inside.max() + 1e-12)
    return int(below[np.argmax(column_theta[below])]), int(above[np.argmin(column_theta[above])])


def nodes(density, lo, hi, count, samples=20001) -> np.ndarray:
    """`count` values from lo to hi spaced inversely to `density`."""
    x = np.linspace(lo, hi, samples)
    cdf = np.concatenate([[0], np.cumsum(0.5 * (density(x[1:]) + density(x[:-1])) * np.diff(x))])
    return np.interp(np.linspace(0, cdf[-1], count), cdf, x)


def snap(values: np.ndarray, targets) -> np.ndarray:
    values = values.copy()
    for target in targets:
        values[np.argmin(np.abs(values - target))] = target
    return values


def column_angles() -> np.ndarray:
    density = lambda t: 1.0 + 6.0 * np.exp(-((t / np.radians(44)) ** 4))
    half = nodes(density, 0.0, np.pi, COLUMNS // 2 + 1)
    half = snap(half, [THETA_EYE_INNER, THETA_EYE_OUTER, THETA_MOUTH])
    return np.concatenate([half[:-1], -half[:0:-1]])  # 0 .. pi, then -pi.. exclusive, mirrored


def row_angles() -> np.ndarray:
    def density(p):
        face = np.exp(-(((p - np.radians(-12)) / np.radians(38)) ** 4))
        eye = np.exp(-((p / np.radians(11)) ** 2))
        mouth = np.exp(-(((p - PHI_MOUTH) / np.radians(9)) ** 2))
        return 1.0 + 4.0 * face + 2.5 * eye + 2.0 * mouth
    phi = nodes(density, np.radians(-88), np.radians(88), ROWS)
    return snap(phi, [0.0, PHI_MOUTH])


def lid_profile(theta: np.ndarray, exponent: float) -> np.ndarray:
    """Almond shape across the eye: 0 at the canthi, 1 at the widest; theta on the left side."""
    u = np.clip((theta - THETA_EYE_INNER) / (THETA_EYE_OUTER - THETA_EYE_INNER), 0.0, 1.0)
    return np.sin(np.pi * u ** exponent) ** 0.75


def build_grid() -> SkinGrid:
    cols, rows = column_angles(), row_angles()
    theta = np.tile(cols, ROWS)
    row = np.repeat(np.arange(ROWS), COLUMNS)
    eye_row = int(np.argmin(np.abs(rows)))
    mouth_row = int(np.argmin(np.abs(rows - PHI_MOUTH)))

    def interior(lo, hi):
        return np.flatnonzero((cols > lo + 1e-9) & (cols < hi - 1e-9))

    slit_columns = {"left": interior(THETA_EYE_INNER, THETA_EYE_OUTER),
                    "right": interior(-THETA_EYE_OUTER, -THETA_EYE_INNER),
                    "mouth": interior(-THETA_MOUTH, THETA_MOUTH)}
    next_id = ROWS * COLUMNS + 2  # after the grid and the two poles
    slits = {}
    for name, columns in slit_columns.items():
        slit_row = mouth_row if name == "mouth" else eye_row
        slits[name] = Slit(slit_row, columns, np.arange(next_id, next_id + len(columns)))
        next_id += len(columns)

    theta = np.concatenate([theta, [0.0, 0.0]] + [cols[s.columns] for s in slits.values()])
    row = np.concatenate([row, [-1, ROWS]] + [np.full(len(s.columns), s.row) for s in slits.values()])
    side = np.ones(len(theta))
    side[row < eye_row] = -1  # sides of the eye row; `mouth_side` gives those of the lip line
    for s in slits.values():
        side[s.lower] = -1
    triangles, uvs, uv_triangles = _triangulate(cols, slits)

    grid = SkinGrid(theta=theta, phi=np.zeros_like(theta), row=row, side=side, vertices=None,
                    triangles=triangles, uvs=uvs, uv_triangles=uv_triangles,
                    eye_slits={"left": slits["left"], "right": slits["right"]}, mouth_slit=slits["mouth"],
                    column_theta=cols, row_phi=rows)
    grid.phi = grid.lid_phi()
    grid.vertices = cast_grid(grid.theta, grid.phi)
    return grid


def mouth_side(grid: SkinGrid) -> np.ndarray:
    """+1 for vertices on the upper-lip side of the mouth row, -1 for the lower side."""
    side = np.where(grid.row >= grid.mouth_slit.row, 1.0, -1.0)
    side[grid.mouth_slit.lower] = -1.0
    return side


def _triangulate(cols, slits):
    vid = lambda j, i: j * COLUMNS + (i % COLUMNS)
    lower_copy = {}
    for s in slits.values():
        for column, lower in zip(s.columns, s.lower):
            lower_copy[(s.row, column)] = lower
    bottom, top = ROWS * COLUMNS, ROWS * COLUMNS + 1
    tris, uv_tris = [], []
    uv_of = lambda j, i: j * (COLUMNS + 1) + i  # UV grid has a seam column
    for j in range(ROWS - 1):
        for i in range(COLUMNS):
            # a quad whose top row is a slit row lies below the slit: it takes the lower copies
            v00, v01 = vid(j, i), vid(j, i + 1)
            v10 = lower_copy.get((j + 1, i), vid(j + 1, i))
            v11 = lower_copy.get((j + 1, (i + 1) % COLUMNS), vid(j + 1, i + 1))
            u00, u01, u10, u11 = uv_of(j, i), uv_of(j, i + 1), uv_of(j + 1, i), uv_of(j + 1, i + 1)
            mid = 0.5 * (cols[i] + cols[(i + 1) % COLUMNS]) if i < COLUMNS - 1 else np.pi
            if mid >= 0:
                tris += [(v00, v01, v11), (v00, v11, v10)]
                uv_tris += [(u00, u01, u11), (u00, u11, u10)]
            else:
                tris += [(v00, v01, v10), (v01, v11, v10)]
                uv_tris += [(u00, u01, u10), (u01, u11, u10)]
    pole_uv = ROWS * (COLUMNS + 1)
    for i in range(COLUMNS):
        tris += [(bottom, vid(0, i + 1), vid(0, i)), (top, vid(ROWS - 1, i), vid(ROWS - 1, i + 1))]
        uv_tris += [(pole_uv + i, uv_of(0, i + 1), uv_of(0, i)),
                    (pole_uv + COLUMNS + i, uv_of(ROWS - 1, i), uv_of(ROWS - 1, i + 1))]
    u = np.linspace(0.0, 1.0, COLUMNS + 1)
    v = np.linspace(0.3, 1.0, ROWS + 2)[1:-1]
    grid_uv = np.stack(np.meshgrid(u, v), -1).reshape(-1, 2)
    pole_u = (np.arange(COLUMNS) + 0.5) / COLUMNS
    pole_uvs = np.concatenate([np.stack([pole_u, np.full(COLUMNS, 0.3)], -1), np.stack([pole_u, np.full(COLUMNS, 1.0)], -1)])
    return np.array(tris, np.int64), np.concatenate([grid_uv, pole_uvs]), np.array(uv_tris, np.int64)
