"""Meshes of the built-in head that are not skin: eyeballs, mouth cavity, teeth, gums, tongue, ears.

Each builder returns a `Piece` in model space. All are made for the left side or the centre;
`mirror_piece` gives the right side.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .anatomy import CORNEA_HEIGHT, EAR_CENTRE, EYE_CENTRE, EYE_RADIUS, IRIS_RADIUS, MOUTH_Y

IRIS_ANGLE = np.arcsin(IRIS_RADIUS / EYE_RADIUS)
EYE_LONGITUDES = 24  # multiple of 4: iris ring points at right, top, left, bottom are vertices


@dataclasses.dataclass
class Piece:
    part: np.ndarray  # [V] part name per vertex (str)
    vertices: np.ndarray  # [V, 3]
    triangles: np.ndarray  # [T, 3]
    uvs: np.ndarray  # [V, 2] in the piece's own unit square, placed in the atlas later
    colors: np.ndarray  # [V, 3] linear albedo
    jaw_weight: np.ndarray  # [V]


def revolve(ring_count: int, longitudes: int, start_pole: bool, end_pole: bool):
    """Triangles and UVs of a surface of revolution.

    Vertex layout: [start pole?, ring 0 (longitudes), ring 1, ..., end pole?].
    Returns (triangles [T, 3], uvs [V, 2]).
    """
    offset = 1 if start_pole else 0
    vid = lambda r, k: offset + r * longitudes + (k % longitudes)
    tris = []
    for r in range(ring_count - 1):
        for k in range(longitudes):
            a, b, c, d = vid(r, k), vid(r, k + 1), vid(r + 1, k + 1), vid(r + 1, k)
            tris += [(a, d, c), (a, c, b)]
    if start_pole:
        tris += [(0, vid(0, k), vid(0, k + 1)) for k in range(longitudes)]
    if end_pole:
        end = offset + ring_count * longitudes
        tris += [(end, vid(ring_count - 1, k + 1), vid(ring_count - 1, k)) for k in range(longitudes)]
    u, v = np.meshgrid(np.arange(longitudes) / longitudes, np.linspace(0.0, 1.0, ring_count))
    uvs = [np.stack([u, v], -1).reshape(-1, 2)]
    uvs = ([np.array([[0.5, 0.0]])] if start_pole else []) + uvs + ([np.array([[0.5, 1.0]])] if end_pole else [])
    return np.array(tris, np.int64), np.concatenate(uvs)


def eyeball() -> Piece:
    """Left eyeball looking along +Z: front pole is the iris centre, a ring lies on the iris edge."""
    polar = np.concatenate([np.linspace(0, IRIS_ANGLE, 5)[1:], np.linspace(IRIS_ANGLE, np.pi, 12)[1:]])
    lon = np.arange(EYE_LONGITUDES) * 2 * np.pi / EYE_LONGITUDES  # 0 = +X (subject's left, image right)
    P, L = np.meshgrid(polar, lon, indexing="ij")
    radius = EYE_RADIUS + CORNEA_HEIGHT * np.clip(1 - (P / IRIS_ANGLE) ** 2, 0, None)
    ring_points = np.stack([np.sin(P) * np.cos(L), np.sin(P) * np.sin(L), np.cos(P)], -1) * radius[..., None]
    points = np.concatenate([[[0, 0, EYE_RADIUS + CORNEA_HEIGHT]], ring_points.reshape(-1, 3)]) + EYE_CENTRE
    triangles, uvs = revolve(len(polar), EYE_LONGITUDES, start_pole=True, end_pole=False)
    angle = np.concatenate([[0.0], P.reshape(-1)])
    colors = np.where((angle < 0.42 * IRIS_ANGLE)[:, None], [0.01, 0.01, 0.012],
                      np.where((angle <= IRIS_ANGLE + 1e-6)[:, None], [0.11, 0.065, 0.035], [0.72, 0.69, 0.66]))
    n = len(points)
    return Piece(np.full(n, "eyeballs"), points, _outward(triangles, points, EYE_CENTRE), uvs, colors, np.zeros(n))


def iris_vertex_ids() -> dict[str, int]:
    """Vertex ids inside `eyeball()` of the iris centre and the iris ring at right/top/left/bottom."""
    ring = 1 + 3 * EYE_LONGITUDES  # polar index 3 is IRIS_ANGLE (after 3 cornea rings)
    q = EYE_LONGITUDES // 4
    return {"centre": 0, "right": ring, "top": ring + q, "left": ring + 2 * q, "bottom": ring + 3 * q}


def mouth_cavity() -> Piece:
    """The inside of the mouth: an ellipsoid open toward the lips; its lower half rides the jaw."""
    centre, radii = np.array([0.0, MOUTH_Y - 0.001, 0.06]), np.array([0.027, 0.02, 0.03])
    polar = np.linspace(0.75, np.pi, 14)  # from the front opening (polar 0 = +Z) to the back pole
    lon = np.arange(24) * 2 * np.pi / 24
    P, L = np.meshgrid(polar, lon, indexing="ij")
    unit = np.stack([np.sin(P) * np.cos(L), np.sin(P) * np.sin(L), np.cos(P)], -1).reshape(-1, 3)
    points = np.concatenate([unit * radii + centre, [[0, 0, -1] * radii + centre]])
    triangles, uvs = revolve(len(polar), 24, start_pole=False, end_pole=True)
    jaw = _smoothstep((MOUTH_Y - points[:, 1]) / 0.012 + 0.5)
    colors = np.tile([0.22, 0.045, 0.05], (len(points), 1))
    return Piece(np.full(len(points), "mouth_interior"), points, triangles, uvs, colors, jaw)


def dental_arch(top_y: float, bottom_y: float, front_z: float, gum_on_top: bool, jaw: float) -> Piece:
    """One row of teeth with its gum band: a thick strip bent along a parabolic arch."""
    x = np.linspace(-0.025, 0.025, 25)
    z = front_z - x ** 2 / 0.05
    gum = 0.006
    heights = [top_y + gum, top_y, bottom_y] if gum_on_top else [top_y, bottom_y, bottom_y - gum]
    sections = []
    for depth in (0.0, 0.0065):  # front face, back face
        for y in heights:
            sections.append(np.stack([x * (1 - depth / 0.03), np.full_like(x, y), z - depth], -1))
    grid = np.array(sections)  # [6, 25, 3]: rows front-top..front-bottom, back-top..back-bottom
    order = [0, 1, 2, 5, 4, 3, 0]  # around the cross-section
    tris = []
    n = len(x)
    for a, b in zip(order[:-1], order[1:]):
        for i in range(n - 1):
            tris += [(a * n + i, b * n + i, b * n + i + 1), (a * n + i, b * n + i + 1, a * n + i + 1)]
    points = grid.reshape(-1, 3)
    is_gum = np.zeros((6, n), bool)
    is_gum[[0, 3] if gum_on_top else [2, 5]] = True
    part = np.where(is_gum.reshape(-1), "gums", "teeth")
    colors = np.where(is_gum.reshape(-1)[:, None], [0.42, 0.1, 0.1], [0.78, 0.75, 0.66])
    uvs = np.stack(np.meshgrid(np.linspace(0, 1, n), np.linspace(0, 1, 6)), -1).reshape(-1, 2)
    return Piece(part, points, np.array(tris, np.int64), uvs, colors, np.full(len(points), jaw))


def tongue() -> Piece:
    centre, radii = np.array([0.0, MOUTH_Y - 0.0085, 0.062]), np.array([0.019, 0.0062, 0.025])
    polar = np.linspace(0, np.pi, 12)[1:-1]
    lon = np.arange(20) * 2 * np.pi / 20
    P, L = np.meshgrid(polar, lon, indexing="ij")
    unit = np.stack([np.sin(P) * np.cos(L), np.cos(P), np.sin(P) * np.sin(L)], -1).reshape(-1, 3)  # poles on Y
    points = np.concatenate([[[0, 1, 0]], unit, [[0, -1, 0]]]) * radii + centre
    triangles, uvs = revolve(len(polar), 20, start_pole=True, end_pole=True)
    colors = np.tile([0.5, 0.16, 0.16], (len(points), 1))
    return Piece(np.full(len(points), "tongue"), points, _outward(triangles, points, centre), uvs, colors,
                 np.ones(len(points)))


def ear() -> Piece:
    """Left ear: a cupped plate facing out and a little forward, with a rolled rim."""
    u = np.linspace(0, 1, 9)[1:]
    v = np.arange(24) * 2 * np.pi / 24
    U, A = np.meshgrid(u, v, indexing="ij")
    half_height, half_width = 0.031, 0.0165
    up = np.array([0.0, 1.0, 0.0])
    yaw = np.radians(25)  # the ear's outer face turns a little toward the front
    out = np.array([np.cos(yaw), 0.0, np.sin(yaw)])
    back = np.cross(out, up)
    radial = U * (1.0 + 0.15 * np.sin(A))  # fuller at the top
    cup = 0.012 * U ** 1.5 - 0.004 * np.clip(U - 0.85, 0, None) / 0.15  # rim stands out, then rolls back
    points = (EAR_CENTRE + half_height * (radial * np.sin(A))[..., None] * up
              + half_width * (radial * np.cos(A) + 0.35)[..., None] * back + cup[..., None] * out)
    points = np.concatenate([[EAR_CENTRE + 0.35 * half_width * back], points.reshape(-1, 3)])
    triangles, uvs = revolve(len(u), 24, start_pole=True, end_pole=False)
    colors = np.tile([0.47, 0.28, 0.22], (len(points), 1))
    return Piece(np.full(len(points), "ears"), points, triangles, uvs, colors, np.zeros(len(points)))


def mirror_piece(piece: Piece) -> Piece:
    flipped = piece.vertices * np.array([-1.0, 1.0, 1.0])
    return dataclasses.replace(piece, vertices=flipped, triangles=piece.triangles[:, ::-1].copy())


def _outward(triangles: np.ndarray, points: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Flip triangles whose normal points toward `centre`."""
    a, b, c = (points[triangles[:, k]] for k in range(3))
    inward = np.einsum("ij,ij->i", np.cross(b - a, c - a), (a + b + c) / 3 - centre) < 0
    triangles = triangles.copy()
    triangles[inward] = triangles[inward][:, ::-1]
    return triangles


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)
