"""Shared fixtures. The built-in head is built once per machine and cached (see backend.headmodel.builtin).

`synthetic_track` and `small_avatar` are made once per test session and shared by every module
that needs a tracked clip or a fitted avatar (they cost tens of seconds each).
"""

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def head():
    from backend.headmodel import load_head

    return load_head("default")


@pytest.fixture(scope="session")
def synthetic_track(tmp_path_factory) -> Path:
    """A tracked 60-frame synthetic clip at 128x128 (seed 3): the track folder."""
    from backend.synth import synthesize
    from backend.tracking import TrackOptions, track

    folder = tmp_path_factory.mktemp("synthetic")
    paths = synthesize(folder / "clip", frames=60, size=128, seed=3)
    outputs = track(paths["video"], folder / "track", TrackOptions(size=128, overlay=False))
    return outputs["tracking"].parent


@pytest.fixture(scope="session")
def small_avatar(synthetic_track, tmp_path_factory) -> Path:
    """avatar.safetensors fitted briefly on `synthetic_track` at 64x64 (recognisable, not good)."""
    from backend.avatar import FitConfig, fit

    config = FitConfig(iterations=200, resolution=64, initial_gaussians=3000)
    return fit(synthetic_track, tmp_path_factory.mktemp("avatar"), config)["avatar"]
