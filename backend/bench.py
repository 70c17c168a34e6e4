"""`python -m backend bench`: timing cases, one JSON line each on stdout.

Cases live in `CASES`: name -> function returning the JSON fields, or raising Unavailable
when this machine cannot run it (no CUDA, say). New capabilities add theirs here with
`@case("name")`, importing their heavy modules inside the function. Every case runs once
to warm up (numba compilation, CUDA kernels), then RUNS times; times are medians.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from typing import Callable

from .errors import BackendError

RUNS = 7
CASES: dict[str, Callable[[], dict]] = {}


class Unavailable(Exception):
    """A case this machine cannot run; the message says why."""


def case(name: str):
    """Register a benchmark case under `name`."""
    def register(function: Callable[[], dict]):
        CASES[name] = function
        return function
    return register


def run_benchmarks(cases: list[str] | None = None) -> None:
    """Run the named cases (all when None), printing one JSON line per case that ran."""
    names = cases or list(CASES)
    unknown = [name for name in names if name not in CASES]
    if unknown:
        raise BackendError(f"unknown benchmark case '{unknown[0]}': choose from {', '.join(CASES)}.")
    for name in names:
        try:
            result = CASES[name]()
        except Unavailable as reason:
            print(f"bench: {name} skipped: {reason}", file=sys.stderr)
            continue
        print(json.dumps({"case": name, **result}), flush=True)


def median_ms(step: Callable[[], None], synchronize: Callable[[], None] = lambda: None) -> float:
    """Median wall time of `step` in milliseconds over RUNS runs, after one warm-up run."""
    step()
    synchronize()
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        step()
        synchronize()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def head_scene(gaussians: int, width: int, height: int, device: str, seed: int = 0):
    """A head-like splat scene: Gaussians on a shell of radius 0.1 m, 1-5 mm scales,
    opacities 0.3-1, SH degree 3, seen from 0.5 m by a camera framing the head at ~70 %
    of the shorter image side. Returns rasterize's positional arguments."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    directions = torch.nn.functional.normalize(torch.randn(gaussians, 3, generator=generator), dim=-1)
    means = directions * (0.1 + 0.004 * (torch.rand(gaussians, 1, generator=generator) - 0.5))
    quats = torch.randn(gaussians, 4, generator=generator)
    scales = 0.001 + 0.004 * torch.rand(gaussians, 3, generator=generator)
    opacities = 0.3 + 0.7 * torch.rand(gaussians, generator=generator)
    sh = 0.1 * torch.randn(gaussians, 16, 3, generator=generator)
    sh[:, 0] = (torch.rand(gaussians, 3, generator=generator) - 0.5) / 0.28209479177387814
    viewmats = torch.eye(4)[None].clone()
    viewmats[0, 2, 3] = 0.5
    focal = 1.7 * min(width, height)
    Ks = torch.tensor([[[focal, 0.0, width / 2], [0.0, focal, height / 2], [0.0, 0.0, 1.0]]])
    tensors = [t.to(device) for t in (means, quats, scales, opacities, sh, viewmats, Ks)]
    return (*tensors, width, height)


def render_case(device: str, gaussians: int, width: int, height: int) -> dict:
    """Forward (parameters requiring grad, as in training) and forward + backward of
    `rasterize` on `head_scene`, loss = sum of rgb, alpha and depth."""
    import torch

    from .render import rasterize

    if device == "cuda" and not torch.cuda.is_available():
        raise Unavailable("needs CUDA")
    *tensors, width, height = head_scene(gaussians, width, height, device)
    params = [t.requires_grad_() for t in tensors[:5]]
    cameras = tensors[5:]

    def forward():
        return rasterize(*params, *cameras, width, height, sh_degree=3)

    def forward_backward():
        out = forward()
        (out.rgb.sum() + out.alpha.sum() + out.depth.sum()).backward()

    synchronize = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    return {"device": device, "gaussians": gaussians, "width": width, "height": height,
            "forward_ms": round(median_ms(forward, synchronize), 2),
            "forward_backward_ms": round(median_ms(forward_backward, synchronize), 2),
            "runs": RUNS, "sh_degree": 3}


@case("cpu-20k-256")
def _cpu_20k_256():
    return render_case("cpu", 20_000, 256, 256)


@case("cpu-100k-512")
def _cpu_100k_512():
    return render_case("cpu", 100_000, 512, 512)


@case("cuda-100k-512")
def _cuda_100k_512():
    return render_case("cuda", 100_000, 512, 512)


@case("cuda-300k-1080p")
def _cuda_300k_1080p():
    return render_case("cuda", 300_000, 1920, 1080)


FIT_GAUSSIANS = 32_000  # what a 256 px fit of address_512 grows to
FIT_STEPS = 20


@case("fit-256")
def _fit_256():
    """Training iterations of `fit` at 256 px on the CPU (render, loss, backward, Adam, the per-frame
    pose refinement; densification off): FIT_GAUSSIANS Gaussians on the head of a tracked 16-frame
    synthetic clip. Milliseconds per iteration: the median over runs of FIT_STEPS iterations."""
    import dataclasses
    import tempfile
    from pathlib import Path

    from .avatar.clip import load_clip
    from .avatar.fit import FitConfig, expression_regions, train
    from .avatar.model import initial_avatar
    from .avatar.refine import PerformanceRefinement
    from .headmodel import load_head
    from .progress import Progress
    from .synth import synthesize
    from .tracking import TrackOptions, read_track, track

    with tempfile.TemporaryDirectory() as folder:
        video = synthesize(Path(folder) / "clip", frames=16, size=256, seed=0)["video"]
        tracked = read_track(track(video, Path(folder) / "track", TrackOptions(size=256, overlay=False))["tracking"].parent)
        head = load_head(tracked.meta["head"])
        clip = load_clip(tracked, head, 256)
    avatar = initial_avatar(clip.vertices[clip.train[0]], head.triangles, FIT_GAUSSIANS, 1, head.num_expressions,
                            head.vertex_colors)
    config = FitConfig(iterations=FIT_STEPS, resolution=256)
    config = dataclasses.replace(config, densify=dataclasses.replace(config.densify, refine_stop=0))
    refinement, regions = PerformanceRefinement(head, tracked, "cpu"), expression_regions(head)
    iterate = lambda: train(avatar, clip, head.triangles, regions, refinement, config, Progress("none"), 0, 0.0,
                            lambda *_: None)
    milliseconds = median_ms(iterate) / FIT_STEPS
    return {"device": "cpu", "width": 256, "height": 256, "gaussians": FIT_GAUSSIANS,
            "ms_per_iteration": round(milliseconds, 1), "iterations_per_second": round(1000 / milliseconds, 2),
            "runs": RUNS, "iterations_per_run": FIT_STEPS}


TRACK_RUNS = 3


@case("track-1000-480")
def _track_1000_480():
    """End-to-end tracking of a 1000-frame 480x480 clip on the CPU (decode, landmarks, matte, fit,
    writing; no overlay): the first 1000 frames of shared/footage/expressive_480.mp4 when the
    repository sits beside shared/, else a synthetic 480x480 clip rendered once."""
    import tempfile
    from pathlib import Path

    from .tracking import TrackOptions, track

    with tempfile.TemporaryDirectory() as folder:
        video, end = _tracking_clip(Path(folder))
        seconds = []
        for run in range(TRACK_RUNS):
            start = time.perf_counter()
            track(video, Path(folder) / f"track{run}", TrackOptions(size=256, end=end, overlay=False))
            seconds.append(time.perf_counter() - start)
    median = statistics.median(seconds)
    return {"device": "cpu", "frames": 1000, "width": 480, "height": 480, "seconds": round(median, 2),
            "frames_per_second": round(1000 / median, 1), "runs": TRACK_RUNS, "source": str(video)}


def _tracking_clip(folder):
    from pathlib import Path

    shared = Path(__file__).resolve().parents[2] / "shared" / "footage" / "expressive_480.mp4"
    if shared.is_file():
        return shared, 1000 / 30.0 - 1e-3  # 30 fps: frames 0..999
    from .synth import synthesize

    return synthesize(folder / "clip", frames=1000, size=480, fps=30.0)["video"], None
