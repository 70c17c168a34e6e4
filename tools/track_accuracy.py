"""Tracking accuracy on several synthetic clips, stage by stage, against their ground truth.

Developer tool for work on the tracker (one clip, the demo's, says little: a change that helps
it often hurts others):

    .venv/bin/python tools/track_accuracy.py [--seeds 0 101 7 3] [--frames 120] [--size 256] [--out DIR]

For each seed it synthesises a clip (kept in DIR/seedN, reused on the next run) and prints one
JSON line per stage, each with backend.tracking.accuracy.track_accuracy's figures:
- "landmarks": the landmark solver alone (no photometric pose refinement);
- "refined": the full tracker, as `python -m backend track` runs it;
- "refined_from_truth": the photometric pose refinement started from the ground truth itself
  (true shape, codes, poses and focal length): whatever error it ends with is its own.
A last line gives each stage's mean over the seeds.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.fileio import load_tensors  # noqa: E402
from backend.headmodel import load_head  # noqa: E402
from backend.synth import synthesize  # noqa: E402
from backend.tracking import TrackOptions, read_track, track  # noqa: E402
from backend.tracking.accuracy import source_focal, track_accuracy  # noqa: E402
from backend.tracking.photometric import PhotometricSettings, refine_poses  # noqa: E402
from backend.tracking.solver import Fit  # noqa: E402


def tracked_stages(video: Path, folder: Path, size: int) -> dict[str, tuple]:
    """{stage: (pose_rotation, expression, focal)} of the landmark-only and the full tracker."""
    stages = {}
    for stage, refinement in (("landmarks", None), ("refined", PhotometricSettings())):
        outputs = track(video, folder / f"track_{stage}", TrackOptions(size=size, overlay=False,
                                                                       pose_refinement=refinement))
        result = read_track(outputs["tracking"])
        stages[stage] = (result.pose_rotation, result.expression, source_focal(result.meta))
    return stages


def refined_from_truth(head, video: Path, truth: dict, size: int) -> tuple:
    """The photometric refinement's result when it starts from the ground truth (the clip's frames
    are the working crops: the synthetic camera is centred on them)."""
    import cv2

    from backend.tracking.ingest import read_frames

    settings = PhotometricSettings()
    greys = np.stack([cv2.resize(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), (settings.finest(size),) * 2,
                                 interpolation=cv2.INTER_AREA) for _, _, frame in read_frames(video)])
    frames, landmarks = len(greys), len(head.landmark_indices("mediapipe"))
    start = Fit(identity=truth["identity"], expression=truth["expression"], pose_rotation=truth["pose_rotation"],
                pose_translation=truth["pose_translation"], focal=float(truth["K"][0, 0]),
                landmark_offsets=np.zeros((landmarks, 3), np.float32),
                projected=np.zeros((frames, landmarks, 2), np.float32))
    refined = refine_poses(head, "mediapipe", start, greys, np.ones(frames, bool), truth["K"][:2, 2], size, settings)
    return refined.pose_rotation, refined.expression, refined.focal


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 101, 7, 3])
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "track_accuracy")
    args = parser.parse_args()
    head = load_head("default")
    by_stage: dict[str, list[dict]] = {}
    for seed in args.seeds:
        folder = args.out / f"seed{seed}"
        clip = folder / "synth"
        if not (clip / "groundtruth.safetensors").is_file():
            synthesize(clip, frames=args.frames, size=args.size, seed=seed)
        truth, _ = load_tensors(clip / "groundtruth.safetensors", "ground truth")
        stages = tracked_stages(clip / "video.mp4", folder, args.size)
        stages["refined_from_truth"] = refined_from_truth(head, clip / "video.mp4", truth, args.size)
        for stage, result in stages.items():
            accuracy = track_accuracy(truth, *result)
            by_stage.setdefault(stage, []).append(accuracy)
            print(json.dumps({"seed": seed, "stage": stage, **accuracy}), flush=True)
    print(json.dumps({"seeds": args.seeds, "mean_rotation_median_deg": {
        stage: round(float(np.mean([a["rotation_median_deg"] for a in results])), 3)
        for stage, results in by_stage.items()}}))


if __name__ == "__main__":
    main()
