"""A labelled contact sheet of a head model: the neutral head from four sides, then every
expression code at full weight on a front view zoomed on the face."""

from __future__ import annotations

from pathlib import Path

import numpy as np

COLUMNS = 8
_DISTANCE = 1.0  # metres from the camera to the framed points
_FILL = 0.84  # fraction of the cell the framed points span
_BACKGROUND = np.array([0.16, 0.17, 0.19], np.float32)
_VIEWS = {"front": (0.0, 0.0), "side": (np.pi / 2, 0.0), "back": (np.pi, 0.0), "top": (0.0, np.pi / 2)}
_PART_COLOURS = np.array([[0.55, 0.36, 0.28], [0.20, 0.35, 0.60], [0.60, 0.55, 0.20], [0.30, 0.55, 0.30],
                          [0.65, 0.65, 0.65], [0.60, 0.25, 0.30], [0.40, 0.25, 0.55]], np.float32)


def write_sheet(head, path: Path, cell: int = 160) -> Path:
    """Render the sheet of `head` (a HeadModel) to the PNG `path`, `cell` pixels per view."""
    import cv2
    import torch

    from ..colour import linear_to_srgb8
    from ..fileio import write_bytes_atomic

    with torch.no_grad():
        neutral = head.forward().vertices[0].numpy()
        posed = head.forward(expression=torch.eye(head.num_expressions)).vertices.numpy()
        face = head.forward().landmarks["ibug68"][0].numpy()
    colours = _colours(head)
    triangles = head.triangles.numpy()
    cells = [(f"neutral {view}", neutral, _view(neutral, *angles, cell)) for view, angles in _VIEWS.items()]
    face_view = _view(face, 0.0, 0.0, cell, fill=0.75)
    cells += [(name, vertices, face_view) for name, vertices in zip(head.expression_names, posed)]
    rows = -(-len(cells) // COLUMNS)
    sheet = np.zeros((rows * cell, COLUMNS * cell, 3), np.uint8)
    for index, (label, vertices, (viewmat, K)) in enumerate(cells):
        row, column = divmod(index, COLUMNS)
        image = _render_cell(vertices, triangles, colours, viewmat, K, cell)
        sheet[row * cell:(row + 1) * cell, column * cell:(column + 1) * cell] = _label(linear_to_srgb8(image), label)
    ok, png = cv2.imencode(".png", sheet[..., ::-1])
    if not ok:
        raise RuntimeError("OpenCV could not encode the sheet as PNG")
    path = Path(path)
    write_bytes_atomic(path, png.tobytes())
    return path


def _colours(head) -> np.ndarray:
    """[V, 3] linear albedo: the head's own colours, or one colour per part."""
    if head.vertex_colors is not None:
        return head.vertex_colors.numpy()
    return _PART_COLOURS[head.vertex_parts.numpy() % len(_PART_COLOURS)]


def _view(points: np.ndarray, yaw: float, pitch: float, cell: int, fill: float = _FILL):
    """viewmat [4, 4] and K [3, 3] that show model-space `points` turned by yaw and pitch,
    centred in the part of a `cell` x `cell` image above the label band, spanning `fill` of it."""
    from ..headpose import facing_camera

    rotation = facing_camera(yaw, pitch, 0.0)
    turned = points @ rotation.T
    low, high = turned.min(axis=0), turned.max(axis=0)
    viewmat = np.eye(4)
    viewmat[:3, :3] = rotation
    viewmat[:3, 3] = [-(low[0] + high[0]) / 2, -(low[1] + high[1]) / 2, _DISTANCE - (low[2] + high[2]) / 2]
    free = cell - _band_height(cell)
    focal = fill * free * _DISTANCE / max(high[0] - low[0], high[1] - low[1])
    K = np.array([[focal, 0.0, cell / 2], [0.0, focal, free / 2], [0.0, 0.0, 1.0]])
    return viewmat, K


def _render_cell(vertices, triangles, colours, viewmat, K, cell) -> np.ndarray:
    from ..meshrender import render

    image = render(vertices, triangles, viewmat, K, cell, cell, lambda f: f.interpolate(colours), supersample=2)
    return image.rgb + (1.0 - image.alpha[..., None]) * _BACKGROUND


def _label(image: np.ndarray, text: str) -> np.ndarray:
    """Write `text` on a dark band along the bottom of the cell."""
    import cv2

    cell = image.shape[0]
    scale = 0.38 * cell / 160
    thickness = max(1, round(cell / 160))
    band = _band_height(cell)
    image = image.copy()
    image[-band:] = image[-band:] // 3
    (width, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    origin = ((cell - width) // 2, cell - band // 2 + round(4 * cell / 160))
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return image


def _band_height(cell: int) -> int:
    return max(14, round(cell * 0.11))
