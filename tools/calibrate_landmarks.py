"""Calibrate the built-in head's landmark embedding against mediapipe's face mesh.

Developer tool, run by hand after changing the head's geometry:

    .venv/bin/python tools/calibrate_landmarks.py

It renders synthetic clips of the built-in head (known identity, expressions and poses), runs
mediapipe on them, and for every landmark picks the skin vertex whose projections match the
detections best over all frames (lid-margin and inner-lip landmarks only choose among the
slit-edge vertices, so blinks and mouth opening keep their meaning). The chosen neutral
positions go to backend/headmodel/builtin/landmark_calibration.json, which the head builder
reads; building the head itself needs no mediapipe and stays deterministic.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.fileio import load_tensors, write_json_atomic  # noqa: E402
from backend.headmodel import landmark_layouts as mp  # noqa: E402
from backend.headmodel import load_head  # noqa: E402
from backend.synth import synthesize  # noqa: E402
from backend.synth.footage import forward_inputs  # noqa: E402
from backend.tracking.ingest import read_frames  # noqa: E402
from backend.tracking.landmarks import MediapipeMesh  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "backend/headmodel/builtin/landmark_calibration.json"
SEARCH_RADIUS = 0.012
SLIT_LANDMARKS = set(mp.MP_LEFT_EYE_UPPER + mp.MP_LEFT_EYE_LOWER + mp.MP_RIGHT_EYE_UPPER + mp.MP_RIGHT_EYE_LOWER
                     + mp.MP_LIPS_INNER_UPPER + mp.MP_LIPS_INNER_LOWER)
IRISES = set(mp.MP_LEFT_IRIS + mp.MP_RIGHT_IRIS)


def clips(head, seeds=(101, 202, 303), frames=80, size=512):
    """(projected vertices [F, V, 2], detections [F, 478, 2]) per synthetic clip."""
    for seed in seeds:
        with tempfile.TemporaryDirectory() as folder:
            paths = synthesize(Path(folder), frames=frames, size=size, seed=seed)
            truth, _ = load_tensors(paths["groundtruth"], "ground truth")
            with torch.no_grad():
                posed = head(**forward_inputs(head, truth)).vertices.numpy()
            cam = posed @ truth["viewmat"][:3, :3].T + truth["viewmat"][:3, 3]
            pixels = cam[..., :2] / cam[..., 2:] * np.diag(truth["K"])[:2] + truth["K"][:2, 2]
            mesh = MediapipeMesh()
            detections = np.full((frames, 478, 2), np.nan, np.float32)
            for f, (_, _, frame) in enumerate(read_frames(paths["video"])):
                faces = mesh(frame[..., ::-1].copy())
                if faces:
                    detections[f] = faces[0]
            mesh.close()
            print(f"clip {seed}: face found on {np.isfinite(detections[:, 0, 0]).sum()}/{frames} frames", flush=True)
            yield pixels, detections


def candidates(head, index: int, current: np.ndarray) -> np.ndarray:
    template = head.template.numpy()
    skin = head.part_mask("face", "eyelids", "scalp", "neck").numpy()
    if index in SLIT_LANDMARKS:
        upper = index in set(mp.MP_LEFT_EYE_UPPER + mp.MP_RIGHT_EYE_UPPER + mp.MP_LIPS_INNER_UPPER)
        allowed = slit_vertices(head, index, upper)
    else:
        allowed = np.flatnonzero(skin)
    radius = 0.035 if index in mp.MP_FACE_OVAL else SEARCH_RADIUS  # the oval's meaning differs most
    near = np.linalg.norm(template[allowed] - current, axis=1) < radius
    return allowed[near]


def slit_vertices(head, index, upper):
    from backend.headmodel.builtin.grid import build_grid, corner_columns

    grid = slit_vertices.grid = getattr(slit_vertices, "grid", None) or build_grid()
    eye = index in set(mp.MP_LEFT_EYE_UPPER + mp.MP_LEFT_EYE_LOWER + mp.MP_RIGHT_EYE_UPPER + mp.MP_RIGHT_EYE_LOWER)
    slits = list(grid.eye_slits.values()) if eye else [grid.mouth_slit]
    ids = [s.upper if upper else s.lower for s in slits]
    corners = [s.row * len(grid.column_theta) + c for s in slits for c in corner_columns(grid.column_theta, s)]
    return np.concatenate(ids + [np.array(corners)])


def main():
    head = load_head("default")
    marks = head.data.landmarks["mediapipe"]
    template = head.template.numpy()
    current = {int(i): template[v].T @ b for i, v, b in zip(marks.index, marks.vertices, marks.barycentric)}
    data = list(clips(head))
    result = {}
    for index, point in current.items():
        if index in IRISES:
            continue
        ids = candidates(head, index, point)
        errors = []
        for pixels, detections in data:
            target = detections[:, index]
            ok = np.isfinite(target[:, 0])
            errors.append(np.linalg.norm(pixels[ok][:, ids] - target[ok][:, None], axis=-1))
        error = np.median(np.concatenate(errors), axis=0)
        best = ids[np.argmin(error)]
        result[str(index)] = [round(float(v), 6) for v in template[best]]
        print(f"{index:4d}: moved {1000 * np.linalg.norm(template[best] - point):5.1f} mm, median error {error.min():5.2f} px")
    write_json_atomic(OUT, {"about": "mediapipe landmark positions on the neutral built-in head, from tools/calibrate_landmarks.py",
                            "positions": result})
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
