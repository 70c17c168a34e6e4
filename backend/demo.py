"""`python -m backend demo`: the built-in head end to end, printing where every output went."""

from __future__ import annotations

import time
from pathlib import Path


DEMO_FIT_SECONDS = 90  # a short fit at 128 px: enough to see the avatar, far from converged


def run_demo(out: Path) -> None:
    """Synthesise a clip into out/synth/, draw the head-model sheet to out/headmodel_sheet.png,
    track the clip into out/track/ (comparing the track with the clip's ground truth) and fit
    an avatar into out/avatar/ (printing its held-out metrics)."""
    import json

    from .avatar import FitConfig, fit
    from .headmodel import load_head
    from .headmodel.sheet import write_sheet
    from .synth import synthesize
    from .tracking import TrackOptions, read_track, track

    out = Path(out)
    started = time.perf_counter()
    outputs = synthesize(out / "synth", frames=120, size=256)
    _report("synth", started, outputs)
    started = time.perf_counter()
    sheet = write_sheet(load_head("default"), out / "headmodel_sheet.png")
    _report("head-model", started, {"sheet": sheet})
    started = time.perf_counter()
    tracked = track(outputs["video"], out / "track", TrackOptions(size=256))
    _report("track", started, tracked)
    _compare_with_truth(read_track(tracked["tracking"]), outputs["groundtruth"])
    started = time.perf_counter()
    fitted = fit(out / "track", out / "avatar", FitConfig(resolution=128, time_budget=DEMO_FIT_SECONDS))
    _report("fit", started, fitted)
    metrics = json.loads(fitted["metrics"].read_text())
    print("fit metrics: " + ", ".join(f"{key} {value}" for key, value in sorted(metrics.items())))


def _compare_with_truth(result, groundtruth: Path) -> None:
    from .fileio import load_tensors
    from .tracking.accuracy import source_focal, track_accuracy

    truth, _ = load_tensors(groundtruth, "ground truth")
    accuracy = track_accuracy(truth, result.pose_rotation, result.expression, source_focal(result.meta))
    print(f"track vs ground truth: median head rotation error {accuracy['rotation_median_deg']:.2f} deg "
          f"(yaw/pitch/roll bias {accuracy['ypr_bias_deg']}), mean expression error {accuracy['expression_error']:.3f}, "
          f"median landmark error {result.meta['landmark_error']['median_working_px']:.2f} px")


def _report(step: str, started: float, outputs: dict[str, Path]) -> None:
    for label, path in outputs.items():
        print(f"{step} {label}: {path}")
    print(f"{step} took {time.perf_counter() - started:.1f} s")
