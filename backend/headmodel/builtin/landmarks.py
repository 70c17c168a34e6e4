"""Landmark embeddings of the built-in head, placed by what each landmark means.

Lid margins and the inner lip line are the slit edges themselves; irises are eyeball
vertices; brows, the outer lip line, the nose and the face oval are points of known height
and width projected onto the skin from the front.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .. import landmark_layouts as mp
from ..format import Landmarks
from .anatomy import BROW_HALF_THICKNESS_DOWN, BROW_HALF_THICKNESS_UP, MOUTH_HALF_WIDTH, MOUTH_Y, brow_centre_y, vermilion_height
from .assemble import Assembly
from .grid import THETA_EYE_INNER, THETA_EYE_OUTER, THETA_MOUTH, Slit, corner_columns
from .parts import iris_vertex_ids
from .surface import cast, skin_distance

Embedding = tuple[np.ndarray, np.ndarray]  # ([3] vertex ids, [3] barycentric)
CALIBRATION = Path(__file__).with_name("landmark_calibration.json")


def slit_point(head: Assembly, slit: Slit, theta: float, upper: bool) -> Embedding:
    """The point of a slit's upper or lower edge at column angle `theta`."""
    grid = head.grid
    cols = grid.column_theta
    order = np.argsort(cols[slit.columns])
    first, last = corner_columns(cols, slit)
    chain_cols = np.concatenate([[first], slit.columns[order], [last]])
    copies = slit.upper if upper else slit.lower
    chain = np.concatenate([[slit.row * len(cols) + chain_cols[0]], copies[order], [slit.row * len(cols) + chain_cols[-1]]])
    angles = cols[chain_cols]
    k = int(np.clip(np.searchsorted(angles, theta) - 1, 0, len(chain) - 2))
    a = float(np.clip((theta - angles[k]) / (angles[k + 1] - angles[k]), 0, 1))
    return _on_edge(head, chain[k], chain[k + 1], a)


def _on_edge(head: Assembly, va: int, vb: int, a: float) -> Embedding:
    tri = head.triangles[np.flatnonzero((head.triangles == va).any(1) & (head.triangles == vb).any(1))[0]]
    bary = np.where(tri == va, 1 - a, np.where(tri == vb, a, 0.0))
    return tri.copy(), bary


def surface_point(head: Assembly, target: np.ndarray, side: int = 0) -> Embedding:
    """The skin triangle under `target` (a point on or near the skin) and its barycentrics.
    side=+1/-1 keeps to triangles above/below the lip line."""
    skin_tris = head.triangles[(head.triangles < head.ranges["skin"].stop).all(1)]
    if side:
        skin_tris = skin_tris[(head.mouth_side[skin_tris] == side).all(1)]
    a, b, c = (head.vertices[skin_tris[:, k]] for k in range(3))
    near = np.linalg.norm((a + b + c) / 3 - target, axis=1) < 0.01
    tris, a, b, c = skin_tris[near], a[near], b[near], c[near]
    normal = np.cross(b - a, c - a)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    offset = ((target - a) * normal).sum(1)
    foot = target - offset[:, None] * normal
    bary = _barycentric(foot, a, b, c)
    outside = np.clip(-bary, 0, None).sum(1)
    best = int(np.argmin(np.abs(offset) + 10 * outside))
    weights = np.clip(bary[best], 0, None)
    return tris[best].copy(), weights / weights.sum()


def _barycentric(p, a, b, c):
    v0, v1, v2 = b - a, c - a, p - a
    d00, d01, d11 = (v0 * v0).sum(1), (v0 * v1).sum(1), (v1 * v1).sum(1)
    d20, d21 = (v2 * v0).sum(1), (v2 * v1).sum(1)
    denom = d00 * d11 - d01 * d01
    v = (d11 * d20 - d01 * d21) / denom
    w = (d00 * d21 - d01 * d20) / denom
    return np.stack([1 - v - w, v, w], 1)


def frontal(x: float, y: float) -> np.ndarray:
    """The skin point seen at (x, y) from straight ahead (`cast` finds the crossing farthest
    from its origin, so the ray starts behind the head and points forward)."""
    point = cast(np.array([[0.0, 0.0, 1.0]]), np.array([x, y, -0.5]), far=0.8)[0]
    if abs(skin_distance(point[None])[0]) > 1e-4:
        raise AssertionError(f"no skin in front at x={x:.4f}, y={y:.4f}")
    return point


def face_oval_points(head: Assembly) -> list[np.ndarray]:
    """36 points around the face outline, from the top of the forehead toward the subject's left,
    just inside the frontal silhouette of the front half of the head."""
    skin = head.vertices[head.ranges["skin"]]
    front = skin[skin[:, 2] > 0.0]
    points = []
    for k in range(36):
        a = 2 * np.pi * k / 36
        y = -0.0255 + (0.093 if np.cos(a) >= 0 else 0.0935) * np.cos(a)
        band = front[np.abs(front[:, 1] - y) < 0.004]
        half_width = np.abs(band[:, 0]).max()
        points.append(frontal(0.94 * half_width * np.sin(a), y))
    return points


def mediapipe_embedding(head: Assembly, calibrated: bool = True) -> Landmarks:
    """Semantic placement, then (by default) the positions calibrated against mediapipe's own
    detections on renders of this head (tools/calibrate_landmarks.py)."""
    marks: dict[int, Embedding] = {}
    _eyes(head, marks)
    _irises(head, marks)
    _brows(head, marks)
    _lips(head, marks)
    for index, point in zip(mp.MP_FACE_OVAL, face_oval_points(head)):
        marks[index] = surface_point(head, point)
    for index, y in zip(mp.MP_NOSE_BRIDGE, (0.012, 0.0, -0.01, -0.017, -0.024, -0.031)):
        marks[index] = surface_point(head, frontal(0.0, y))
    for index, x in zip(mp.MP_NOSE_BASE, (-0.0145, -0.0055, 0.0, 0.0055, 0.0145)):
        marks[index] = surface_point(head, frontal(x, -0.0455 if x == 0 else -0.0425 if abs(x) < 0.01 else -0.04))
    if calibrated and CALIBRATION.is_file():
        _apply_calibration(head, marks, json.loads(CALIBRATION.read_text())["positions"])
    order = sorted(marks)
    return Landmarks(index=np.array(order, np.int64), vertices=np.array([marks[i][0] for i in order], np.int64),
                     barycentric=np.array([marks[i][1] for i in order], np.float32))


def _apply_calibration(head: Assembly, marks: dict, positions: dict) -> None:
    """Move each landmark to the calibrated vertex nearest its stored position, on the same side
    of a slit as its semantic placement (a lid margin stays a lid margin). Positions are first
    made symmetric with their left-right twins, so detector noise cannot skew the head."""
    twin = mp.mediapipe_mirror()
    stored = {int(k): np.asarray(v) for k, v in positions.items()}
    for index, position in stored.items():
        if index not in marks or twin.get(index) not in stored:
            continue
        position = 0.5 * (position + stored[twin[index]] * [-1, 1, 1])
        vertices, _ = marks[index]
        pool = _same_side_pool(head, vertices)
        nearest = pool[np.argmin(np.linalg.norm(head.vertices[pool] - np.asarray(position), axis=1))]
        marks[index] = (np.array([nearest] * 3), np.array([1.0, 0.0, 0.0]))


def _same_side_pool(head: Assembly, vertices: np.ndarray) -> np.ndarray:
    """Skin vertices with the same lip-line side and eye-row side as the given ones."""
    skin = np.arange(head.ranges["skin"].stop)
    grid = head.grid
    on_slit = [s for s in list(grid.eye_slits.values()) + [grid.mouth_slit]
               if np.isin(vertices, np.concatenate([s.upper, s.lower])).any()]
    if not on_slit:
        return skin
    slit = on_slit[0]
    upper = np.isin(vertices, slit.upper).any()
    corners = skin[(grid.row[skin] == slit.row) & ~np.isin(skin, np.concatenate([slit.upper, slit.lower]))]
    return np.concatenate([slit.upper if upper else slit.lower, corners])


def _eyes(head: Assembly, marks: dict) -> None:
    for sign, slit_name, lower, upper in ((-1, "right", mp.MP_RIGHT_EYE_LOWER, mp.MP_RIGHT_EYE_UPPER),
                                          (1, "left", mp.MP_LEFT_EYE_LOWER, mp.MP_LEFT_EYE_UPPER)):
        slit = head.grid.eye_slits[slit_name]
        thetas = sign * np.linspace(THETA_EYE_OUTER, THETA_EYE_INNER, 9)
        for contour, is_upper in ((lower, False), (upper, True)):
            for index, theta in zip(contour, thetas):
                marks[index] = slit_point(head, slit, theta, is_upper)


def _irises(head: Assembly, marks: dict) -> None:
    ids = iris_vertex_ids()
    for piece, indices in (("eyeball_right", mp.MP_RIGHT_IRIS), ("eyeball_left", mp.MP_LEFT_IRIS)):
        start = head.ranges[piece].start
        image_right, image_left = ("right", "left") if piece == "eyeball_left" else ("left", "right")  # mirrored piece
        for index, where in zip(indices, ("centre", image_right, "top", image_left, "bottom")):
            marks[index] = (np.array([start + ids[where]] * 3), np.array([1.0, 0.0, 0.0]))


def _brows(head: Assembly, marks: dict) -> None:
    inner_to_outer = np.linspace(0.014, 0.055, 5)
    for sign, upper, lower in ((-1, mp.MP_RIGHT_BROW_UPPER, mp.MP_RIGHT_BROW_LOWER),
                               (1, mp.MP_LEFT_BROW_UPPER, mp.MP_LEFT_BROW_LOWER)):
        for contour, offset in ((upper, BROW_HALF_THICKNESS_UP), (lower, -BROW_HALF_THICKNESS_DOWN)):
            for index, ax in zip(contour, inner_to_outer[::-1]):  # contours run outer -> inner
                marks[index] = surface_point(head, frontal(sign * ax, brow_centre_y(ax) + 0.8 * offset))


def _lips(head: Assembly, marks: dict) -> None:
    slit = head.grid.mouth_slit
    thetas = np.linspace(-THETA_MOUTH, THETA_MOUTH, 11)
    for index, theta in zip(mp.MP_LIPS_INNER_UPPER, thetas):
        marks[index] = slit_point(head, slit, theta, upper=True)
    for index, theta in zip(mp.MP_LIPS_INNER_LOWER, thetas):
        marks[index] = slit_point(head, slit, theta, upper=False)
    corner = MOUTH_HALF_WIDTH + 0.0015
    xs = np.linspace(-corner, corner, 11)
    for contour, upper in ((mp.MP_LIPS_OUTER_UPPER, True), (mp.MP_LIPS_OUTER_LOWER, False)):
        for index, x in zip(contour[1:-1], xs[1:-1]):
            height = float(vermilion_height(x, upper))
            y = MOUTH_Y + height if upper else MOUTH_Y - height
            marks[index] = surface_point(head, frontal(x, y), side=1 if upper else -1)
    for index, x in ((mp.MP_LIPS_OUTER_UPPER[0], -corner), (mp.MP_LIPS_OUTER_UPPER[-1], corner)):
        marks[index] = surface_point(head, frontal(x, MOUTH_Y))


def ibug_embedding(mediapipe: Landmarks) -> Landmarks:
    row_of = {int(i): k for k, i in enumerate(mediapipe.index)}
    rows = [row_of[i] for i in mp.IBUG68_FROM_MEDIAPIPE]
    return Landmarks(index=np.arange(68, dtype=np.int64), vertices=mediapipe.vertices[rows].copy(),
                     barycentric=mediapipe.barycentric[rows].copy())
