"""`render --turntable N`: the avatar's neutral head turning a full circle about the vertical axis.

View i shows the head turned by yaw = 360 * i / N degrees about head-model +Y (0: facing the
camera, 180: seen from behind), with the fit's identity and a neutral expression, framed so that
the whole head fits. Also the check that a turntable shows a closed head: how much of the head
model's own silhouette the rendered alpha covers, and the largest hole.

    from backend.avatar.turntable import render_turntable
    rendered = render_turntable("out/avatar.safetensors", "turntable/", views=72)
    rendered.paths, rendered.worst_view()

Beside the views, turntable.json records per view its yaw, the share of the head model's
silhouette the alpha covers and the largest hole, so a pipeline can reject an incomplete head.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import torch

from ..progress import Progress
from .file import read_avatar
from .maps import rest_vertices

DISTANCE = 0.65  # metres from the camera to the head's centre, as the synthetic footage
MARGIN = 1.1  # the frame's half-width over the head's bounding radius
COVERED_ALPHA = 0.5  # a silhouette pixel counts as covered from this rendered alpha on
EDGE_PIXELS = 2  # silhouette border left out of the hole search (anti-aliased in both images)


@dataclasses.dataclass
class Turntable:
    yaws: np.ndarray  # [C] radians
    vertices: torch.Tensor  # [C, V, 3] the neutral head turned by each yaw, camera space
    K: np.ndarray  # [3, 3] intrinsics at `resolution`
    resolution: int


def turntable(head, identity: torch.Tensor, views: int, resolution: int) -> Turntable:
    """`views` camera-space meshes of the neutral head with `identity` [I], turning about +Y."""
    from ..headpose import facing_camera

    rest = rest_vertices(head, identity).cpu().double()
    centre = (rest.min(0).values + rest.max(0).values) / 2
    radius = float((rest - centre).norm(dim=-1).max())
    focal = resolution / 2 * DISTANCE / (MARGIN * radius)
    K = np.array([[focal, 0, resolution / 2], [0, focal, resolution / 2], [0, 0, 1]])
    yaws = np.arange(views) * 2 * math.pi / views
    rotations = torch.as_tensor(np.stack([facing_camera(yaw, 0.0, 0.0) for yaw in yaws]))
    vertices = (rest - centre) @ rotations.transpose(1, 2) + torch.tensor([0.0, 0.0, DISTANCE], dtype=torch.float64)
    return Turntable(yaws, vertices.float(), K, resolution)


REPORT_FILE = "turntable.json"


@dataclasses.dataclass
class RenderedTurntable:
    paths: list[Path]  # the views, in order
    report_path: Path  # REPORT_FILE
    views: list[dict]  # its per-view entries: view, yaw_degrees, silhouette_covered, largest_hole_pixels

    def worst_view(self) -> dict:
        """The entry of the view whose silhouette is least covered."""
        return min(self.views, key=lambda view: view["silhouette_covered"])

    @property
    def largest_hole(self) -> int:
        return max(view["largest_hole_pixels"] for view in self.views)


def render_turntable(avatar_path: str | Path, out_dir: str | Path, views: int = 72, resolution: int | None = None,
                     image_format: str = "png", device: str = "cpu",
                     progress: Progress | None = None) -> RenderedTurntable:
    """Render `views` views around the head (default: at the training resolution) to
    out_dir/turntable_NNN.<png|exr>, NNN the view number, and the coverage report REPORT_FILE."""
    from ..export.images import write_frame
    from ..fileio import write_json_atomic
    from ..headmodel import load_head

    progress = progress or Progress("none")
    saved = read_avatar(avatar_path, device)
    head = load_head(saved.meta["head"])
    table = turntable(head, saved.identity, views, resolution or int(saved.meta["resolution"]))
    paths, report = [], []
    with progress.stage("turntable", total=views) as step:
        for view in range(views):
            rendered = render_view(saved.gaussians, head, table, view, device)
            paths.append(write_frame(Path(out_dir) / f"turntable_{view:03d}.{image_format}", rendered.rgba,
                                     rendered.depth))
            share, hole = silhouette_coverage(np.asarray(rendered.rgba)[..., 3], head_silhouette(head, table, view))
            report.append({"view": view, "yaw_degrees": round(math.degrees(table.yaws[view]), 3),
                           "silhouette_covered": round(share, 5), "largest_hole_pixels": hole})
            step()
    write_json_atomic(Path(out_dir) / REPORT_FILE, {"resolution": table.resolution, "views": report})
    return RenderedTurntable(paths, Path(out_dir) / REPORT_FILE, report)


def render_view(gaussians, head, table: Turntable, view: int, device: str = "cpu"):
    """host.PosedRender (rgba [H, W, 4] premultiplied, depth [H, W]) of one turntable view."""
    from .host import BoundGaussians, render_posed

    bound = BoundGaussians(gaussians, table.vertices[view].numpy(), head.triangles.cpu().numpy(),
                           np.zeros(head.num_expressions, np.float32))
    return render_posed([bound], np.eye(4), table.K, table.resolution, table.resolution, device)


def head_silhouette(head, table: Turntable, view: int) -> np.ndarray:
    """[H, W] bool: where the head model's mesh covers the pixel centres in that view."""
    from ..meshrender import rasterize

    return rasterize(table.vertices[view].double().numpy(), head.triangles.cpu().numpy(), np.eye(4), table.K,
                     table.resolution, table.resolution).mask


def silhouette_coverage(alpha: np.ndarray, silhouette: np.ndarray) -> tuple[float, int]:
    """(share of the silhouette [H, W] bool where alpha [H, W] >= COVERED_ALPHA, the largest side in
    pixels of a hole's bounding box inside the silhouette, its anti-aliased border left out)."""
    import cv2

    covered = alpha >= COVERED_ALPHA
    share = float(covered[silhouette].mean()) if silhouette.any() else 1.0
    kernel = np.ones((2 * EDGE_PIXELS + 1, 2 * EDGE_PIXELS + 1), np.uint8)
    inner = cv2.erode(silhouette.astype(np.uint8), kernel).astype(bool)
    count, _, stats, _ = cv2.connectedComponentsWithStats((inner & ~covered).astype(np.uint8), connectivity=8)
    sides = stats[1:, [cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT]]
    return share, int(sides.max()) if count > 1 else 0
