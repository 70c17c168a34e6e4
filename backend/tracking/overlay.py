"""overlay.mp4: the fitted head drawn over the footage, with detected (green) and fitted (red)
landmarks, so a person can judge the track at a glance."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..fileio import atomic_path


def write_overlay(path: Path, video: Path, head, track, crop, step) -> Path:
    import cv2
    import torch

    from .. import meshrender
    from .ingest import read_frames

    size = track.size
    viewmat = np.eye(4)
    options = track.meta["options"]
    triangles = head.triangles.numpy()
    albedo = np.tile([0.55, 0.75, 0.95], (head.num_vertices, 1)).astype(np.float32)
    with atomic_path(path) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), float(track.meta["fps"]), (size, size))
        frames = read_frames(Path(track.meta["source"]), options["start"], options["end"], options["stride"])
        for f, (_, _, frame) in enumerate(frames):
            if f >= track.num_frames:
                break
            with torch.no_grad():
                vertices = head(identity=torch.as_tensor(track.identity), expression=torch.as_tensor(track.expression[f:f + 1]),
                                pose_rotation=torch.as_tensor(track.pose_rotation[f:f + 1]),
                                pose_translation=torch.as_tensor(track.pose_translation[f:f + 1])).vertices[0].numpy()
            image = crop.apply(frame).astype(np.float32) / 255.0
            mesh = meshrender.render(vertices, triangles, viewmat, track.K, size, size,
                                    albedo=lambda fragments: fragments.interpolate(albedo))
            shaded = np.clip(mesh.rgb[..., ::-1], 0, 1)
            image = image * (1 - 0.45 * mesh.alpha[..., None]) + 0.45 * shaded
            canvas = (image * 255).astype(np.uint8)
            _dots(canvas, track.landmarks_detected[f], (0, 220, 0))
            _dots(canvas, track.landmarks_fitted[f], (40, 40, 255))
            if not track.found[f]:
                cv2.putText(canvas, "face lost", (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 255), 2)
            writer.write(canvas)
            step()
        writer.release()
    return path


def _dots(canvas, points, colour):
    import cv2

    for x, y in points:
        if np.isfinite(x) and np.isfinite(y):
            cv2.circle(canvas, (int(x), int(y)), 1, colour, -1)
