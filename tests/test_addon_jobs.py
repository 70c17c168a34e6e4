"""The add-on's background backend process: progress, errors, cancel (no Blender needed)."""

import time
from pathlib import Path

import pytest

from blender_addon.jobs import BackendJob

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    from backend.synth import synthesize

    return synthesize(tmp_path_factory.mktemp("jobs") / "clip", frames=16, size=96)["video"]


def test_job_reports_progress_in_order_and_outputs(clip, tmp_path):
    job = BackendJob(["track", str(clip), "--out", str(tmp_path / "out"), "--size", "96", "--iterations", "20"],
                     backend_root=ROOT)
    assert job.finish(timeout=300) == 0, job.error
    stages = [e["stage"] for e in job.events if e["event"] == "stage" and e["status"] == "start"]
    assert stages == ["landmarks", "matte", "fit", "pose", "overlay"]
    assert job.stage == "overlay" and job.fraction == 1.0
    assert Path(job.outputs["tracking"]).is_file()


def test_job_error_is_the_backend_message(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    job = BackendJob(["track", str(bad), "--out", str(tmp_path / "out")], backend_root=ROOT)
    assert job.finish(timeout=120) == 2
    assert "notes.mp4" in job.error and "Traceback" not in job.error
    assert not (tmp_path / "out").exists()


def test_cancel_stops_within_two_seconds_and_leaves_nothing(clip, tmp_path):
    out = tmp_path / "out"
    job = BackendJob(["track", str(clip), "--out", str(out), "--size", "96", "--iterations", "5000"], backend_root=ROOT)
    deadline = time.monotonic() + 120
    while job.stage != "fit" and time.monotonic() < deadline:  # cancel in the middle of the work
        time.sleep(0.05)
    assert job.stage == "fit", job.events
    started = time.monotonic()
    job.cancel()
    assert time.monotonic() - started < 2.0
    assert not job.running and job.error == "cancelled"
    assert not out.exists() or not any(out.iterdir())
