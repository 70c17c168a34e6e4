"""Held-out PSNR of a fitted avatar with the held-out frames tracked again under other settings.

Developer tool for tuning refine.track_frames without refitting (a minute or two where a fit takes
fifteen):

    .venv/bin/python tools/heldout_tracking.py TRACK_DIR FIT_DIR [--weight 0.001 0.1] [--code-weight 0.1]

For each (weight, code weight) pair it tracks the held-out frames of FIT_DIR/avatar.safetensors
against it as `fit` does (refine.FRAME_TRACKING with those pulls to the track), and prints one JSON
line: the held-out masked PSNR (all, interior, outline) and the seconds the tracking took. The
code-driven corrections come from FIT_DIR/checkpoint.safetensors, written before the fit's last
polish, so the figures differ a little from the fit's own metrics.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.avatar.clip import load_clip  # noqa: E402
from backend.avatar.evaluate import evaluate  # noqa: E402
from backend.avatar.file import read_avatar  # noqa: E402
from backend.avatar.fit import CHECKPOINT_FILE  # noqa: E402
from backend.avatar.refine import FRAME_TRACKING, PerformanceRefinement, track_frames  # noqa: E402
from backend.errors import BackendError  # noqa: E402
from backend.headmodel import load_head  # noqa: E402
from backend.tracking import read_track  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("track", type=Path)
    parser.add_argument("fit", type=Path)
    parser.add_argument("--weight", type=float, nargs="+", default=[FRAME_TRACKING.weight])
    parser.add_argument("--code-weight", type=float, nargs="+", default=[FRAME_TRACKING.code_weight])
    parser.add_argument("--ssim-weight", type=float, default=0.2)
    args = parser.parse_args()
    try:
        track = read_track(args.track)
        head = load_head(track.meta["head"])
        saved = read_avatar(args.fit)
        corrections = read_avatar(args.fit / CHECKPOINT_FILE).state
    except BackendError as error:
        sys.exit(f"error: {error}")
    clip = load_clip(track, head, int(saved.meta["resolution"]))
    for weight in args.weight:
        for code_weight in args.code_weight:
            refinement = PerformanceRefinement(head, track, "cpu")
            refinement.load_corrections(corrections)
            settings = dataclasses.replace(FRAME_TRACKING, weight=weight, code_weight=code_weight)
            started = time.perf_counter()
            track_frames(saved.gaussians, clip, head.triangles, refinement, clip.heldout, args.ssim_weight, settings)
            seconds = time.perf_counter() - started
            with tempfile.TemporaryDirectory() as out:
                evaluate(saved.gaussians, clip, head.triangles, Path(out), "cpu", {}, float(track.meta["fps"]),
                         refinement)
                metrics = json.loads((Path(out) / "metrics.json").read_text())
            print(json.dumps({"weight": weight, "code_weight": code_weight, "seconds": round(seconds, 1),
                              **{key: metrics[key] for key in ("heldout_psnr_masked", "heldout_psnr_masked_interior",
                                                               "heldout_psnr_masked_outline")}}), flush=True)


if __name__ == "__main__":
    main()
