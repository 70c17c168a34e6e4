"""Tracking: synthetic accuracy against ground truth, real footage, outputs, bad input."""

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from backend.errors import BackendError
from backend.fileio import load_tensors
from backend.tracking import TrackOptions, read_track, track
from backend.tracking.accuracy import rotation_errors

from conftest import SHARED

FOOTAGE = SHARED / "footage"


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    from backend.synth import synthesize

    folder = tmp_path_factory.mktemp("synthetic")
    paths = synthesize(folder / "clip", frames=60, size=256, seed=7)
    outputs = track(paths["video"], folder / "track", TrackOptions(size=256))
    truth, _ = load_tensors(paths["groundtruth"], "ground truth")
    return paths, outputs, truth, read_track(outputs["tracking"])


def test_synthetic_track_matches_ground_truth(synthetic):
    _, _, truth, result = synthetic
    rotation_error = np.median(rotation_errors(truth["pose_rotation"], result.pose_rotation))
    expression_error = np.abs(result.expression - truth["expression"]).mean()
    # Measured: 0.99 degrees (3.3 from landmarks alone, before pose refinement), 0.036 and 0.91 px;
    # the targets are 1 degree, 0.05 and 1 px.
    assert rotation_error < 1.7, rotation_error
    assert expression_error < 0.07, expression_error
    assert result.meta["landmark_error"]["median_working_px"] < 1.0
    names = result.meta["expression_names"]
    assert (result.expression[:, names.index("mouthClose")] <= result.expression[:, names.index("jawOpen")]).all()
    for code in ("jawOpen", "eyeBlinkLeft", "eyeBlinkRight"):  # blinks measured 0.92 (0.71, 0.19 without lash lines)
        index = names.index(code)
        assert np.corrcoef(result.expression[:, index], truth["expression"][:, index])[0, 1] > 0.8, code




def test_pose_refinement_undoes_a_varying_pose_error(synthetic, head):
    """Ground-truth shape and camera, poses knocked off by a few degrees that change over the clip
    (what a landmark track gets wrong): matching the footage to itself brings them back."""
    from backend.tracking.photometric import PhotometricSettings, refine_poses
    from backend.tracking.solver import Fit

    paths, _, truth, _ = synthetic
    frames = len(truth["expression"])
    settings = PhotometricSettings()
    greys = np.stack([cv2.resize(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), (settings.finest(256),) * 2,
                                 interpolation=cv2.INTER_AREA) for frame in _synthetic_frames(synthetic, frames)])
    phase = 2 * np.pi * np.arange(frames) / frames
    knock = np.radians(np.stack([2.0 * np.cos(phase), 3.0 * np.sin(phase), 0.0 * phase], -1))
    knocked = (Rotation.from_rotvec(truth["pose_rotation"]) * Rotation.from_rotvec(knock)).as_rotvec()
    offsets = np.zeros((len(head.landmark_indices("mediapipe")), 3), np.float32)
    start = Fit(identity=truth["identity"], expression=truth["expression"], pose_rotation=knocked,
                pose_translation=truth["pose_translation"], focal=float(truth["K"][0, 0]), landmark_offsets=offsets,
                projected=np.zeros((frames, len(offsets), 2), np.float32))
    valid = np.ones(frames, bool)
    valid[10] = False  # a lost frame gets its pose from its neighbours
    refined = refine_poses(head, "mediapipe", start, greys, valid, truth["K"][:2, 2], 256, settings)
    before = np.median(rotation_errors(truth["pose_rotation"], knocked))
    after = np.median(rotation_errors(truth["pose_rotation"], refined.pose_rotation))
    assert after < 0.4 * before, (before, after)
    assert np.isfinite(refined.pose_rotation).all() and np.isfinite(refined.projected).all()
    assert refined.projected.shape == (frames, len(offsets), 2)


def test_key_frames_spread_over_found_frames():
    from backend.tracking.photometric import key_frames

    valid = np.ones(1000, bool)
    valid[[0, 500, 501]] = False
    keys = key_frames(valid, 120)
    assert len(keys) == 120 and keys[0] == 1 and keys[-1] == 999
    assert valid[keys].all() and (np.diff(keys) > 0).all() and np.diff(keys).max() <= 10
    assert (key_frames(valid[:50], 120) == np.flatnonzero(valid[:50])).all()


def test_snapped_matte_follows_the_frame_edges():
    from backend.tracking.matte import snap_to_edges

    rng = np.random.default_rng(0)
    size = 256
    ys, xs = np.mgrid[:size, :size] + 0.5
    inside = ((xs - 128) / 80) ** 2 + ((ys - 120) / 96) ** 2 < 1
    blocks = cv2.resize(rng.integers(60, 255, (16, 16, 3), dtype=np.uint8), (size, size),
                        interpolation=cv2.INTER_NEAREST)  # a busy backdrop
    hair = cv2.GaussianBlur(rng.integers(10, 60, (size, size, 3), dtype=np.uint8), (3, 3), 0)
    frame = np.where(inside[..., None], hair, blocks)
    # a segmenter's outline: coarse, rounded and a little off
    coarse = cv2.resize(cv2.resize(inside.astype(np.float32), (32, 32), interpolation=cv2.INTER_AREA), (size, size))
    coarse = np.roll(coarse, (2, -2), axis=(0, 1))
    snapped = snap_to_edges(frame, coarse)
    band = np.ones((9, 9), np.uint8)
    edge = cv2.dilate(inside.astype(np.uint8), band) != cv2.erode(inside.astype(np.uint8), band)
    outline_error = lambda matte: ((matte > 0.5) ^ inside).mean()  # pixels on the wrong side of the outline
    assert snapped.dtype == np.float32 and snapped.min() >= 0 and snapped.max() <= 1
    assert outline_error(snapped) < 0.5 * outline_error(coarse), (outline_error(snapped), outline_error(coarse))
    assert np.abs(snapped - inside)[~edge].mean() < 0.01


def test_snapped_matte_is_closer_to_the_true_silhouette(synthetic):
    from backend.avatar.clip import read_crops
    from backend.tracking.crop import Crop
    from backend.tracking.matte import snap_to_edges

    _, _, truth, result = synthetic
    frames = read_crops(result, result.size)[::6]
    raw = result.masks[::6].astype(np.float32) / 255
    snapped = np.stack([snap_to_edges(frame, matte) for frame, matte in zip(frames, raw)])
    crop = Crop(**result.meta["crop"])
    silhouette = np.stack([crop.apply(mask) for mask in truth["masks"][::6]]) > 127
    outline_error = lambda matte: ((matte > 0.5) ^ silhouette).mean()
    assert outline_error(snapped) < 0.95 * outline_error(raw), (outline_error(snapped), outline_error(raw))


def test_outputs_are_complete(synthetic):
    paths, outputs, truth, result = synthetic
    assert set(outputs) == {"tracking", "summary", "overlay"}
    assert result.num_frames == 60 and result.found.all()
    assert result.masks.shape == (60, 256, 256) and result.masks.dtype == np.uint8
    assert ((result.expression >= 0) & (result.expression <= 1)).all()
    summary = json.loads(outputs["summary"].read_text())
    for key in ("source", "crop", "fps", "frame_count", "lost_frames", "landmark_error", "timings", "focal"):
        assert key in summary, key
    assert {"landmarks", "matte", "fit"} <= set(summary["timings"])
    overlay = cv2.VideoCapture(str(outputs["overlay"]))
    assert int(overlay.get(cv2.CAP_PROP_FRAME_COUNT)) == 60
    # the matte covers the head: the crop's centre (the face) is foreground, a corner is not
    assert result.masks[:, 128, 128].min() > 200 and result.masks[:, 2, 2].max() < 50


def test_crop_maps_back_to_the_source(synthetic):
    from backend.tracking.crop import Crop

    _, _, truth, result = synthetic
    crop = Crop(**result.meta["crop"])
    detected = crop.to_source(result.landmarks_detected[:, 4])  # nose tip, source pixels
    expected = truth["landmarks_mediapipe"][:, list(truth["landmarks_mediapipe_index"]).index(4)]
    assert np.median(np.linalg.norm(detected - expected, axis=1)) < 3.0


def test_padding_past_the_source_frame_is_not_footage():
    from backend.tracking.crop import Crop

    crop = Crop(x0=-50.0, y0=10.0, side=200.0, size=100)  # over a 160 x 180 source frame
    footage = crop.inside_source(160, 180, 100)  # columns from x = -50, rows past y = 180 are padding
    assert not footage[:, :25].any() and not footage[85:].any()
    assert footage[:85, 25:].all()


def test_damaged_track_file_is_rejected(synthetic, tmp_path):
    _, outputs, _, _ = synthetic
    data = outputs["tracking"].read_bytes()
    (tmp_path / "tracking.safetensors").write_bytes(data[: len(data) // 3])
    with pytest.raises(BackendError, match="not a valid tracking file"):
        read_track(tmp_path)


def run_cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "backend", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=Path(__file__).resolve().parents[1])


def test_progress_events_arrive_in_order(synthetic, tmp_path):
    paths, _, _, _ = synthetic
    result = run_cli("track", paths["video"], "--out", tmp_path / "out", "--size", 128, "--iterations", 30,
                     "--end", 0.5, "--progress", "json")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    started = [e["stage"] for e in events if e["event"] == "stage" and e["status"] == "start"]
    assert started == ["landmarks", "matte", "fit", "pose", "overlay"]
    assert events[-1]["event"] == "done" and Path(events[-1]["outputs"]["tracking"]).is_file()
    progress = [e for e in events if e["event"] == "progress" and e["stage"] == "fit"]
    assert progress and progress[-1]["done"] == progress[-1]["total"] == 30  # both solver stages counted


def _write_video(path, frames, fps=25):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, frames[0].shape[1::-1])
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def _synthetic_frames(synthetic, count=10):
    paths = synthetic[0]
    capture = cv2.VideoCapture(str(paths["video"]))
    return [capture.read()[1] for _ in range(count)]


def _bad_inputs(synthetic, folder):
    frames = _synthetic_frames(synthetic)
    real = synthetic[0]["video"].read_bytes()
    text = folder / "notes.txt"
    text.write_text("not a video")
    renamed = folder / "renamed.mp4"
    renamed.write_bytes(b"\x00\x01garbage" * 100)
    empty = folder / "empty.mp4"
    empty.write_bytes(b"")
    truncated = folder / "truncated.mp4"
    truncated.write_bytes(real[:1500])
    rng = np.random.default_rng(0)
    noise = _write_video(folder / "noface.mp4", [rng.integers(0, 255, (240, 320, 3), dtype=np.uint8) for _ in range(8)])
    tiny = [cv2.copyMakeBorder(cv2.resize(f, (40, 40), interpolation=cv2.INTER_AREA), 0, 440, 0, 600,
                               cv2.BORDER_CONSTANT, value=(90, 90, 90)) for f in frames]
    tiny_face = _write_video(folder / "tiny.mp4", tiny)
    return {"not a video": (text, "could not be opened as a video"),
            "renamed garbage": (renamed, "could not be opened as a video|no readable frames"),
            "empty": (empty, "empty"), "truncated": (truncated, "could not be opened|no readable frames"),
            "no face": (noise, "no face found"), "tiny face": (tiny_face, "too small")}


@pytest.mark.parametrize("case", ["not a video", "renamed garbage", "empty", "truncated", "no face", "tiny face"])
def test_bad_input_gives_one_line_and_leaves_nothing(synthetic, tmp_path, case):
    import re

    video, expected = _bad_inputs(synthetic, tmp_path)[case]
    out = tmp_path / "out"
    result = run_cli("track", video, "--out", out, "--size", 128, "--iterations", 20)
    assert result.returncode == 2, result.stderr
    lines = [l for l in result.stderr.splitlines() if l.startswith("error:")]
    assert len(lines) == 1 and str(video) in lines[0] and re.search(expected, lines[0]), result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_two_faces_tracks_the_larger_and_says_so(synthetic, tmp_path):
    frames = _synthetic_frames(synthetic)
    pair = [np.concatenate([f, cv2.copyMakeBorder(cv2.resize(f, (160, 160)), 48, 48, 0, 0, cv2.BORDER_REPLICATE)], 1)
            for f in frames]
    video = _write_video(tmp_path / "two.mp4", pair)
    outputs = track(video, tmp_path / "out", TrackOptions(size=128, overlay=False))
    result = read_track(outputs["tracking"])
    assert any("more than one face" in w for w in result.meta["warnings"])
    assert np.nanmedian(result.landmarks_detected[:, 1, 0]) > 0  # the larger (left) face is the one tracked
    crop = result.meta["crop"]
    assert crop["x0"] + crop["side"] / 2 < 256, crop


@pytest.mark.skipif(not (FOOTAGE / "address_512.mp4").is_file(), reason="shared footage not present")
def test_real_address_clip(tmp_path):
    outputs = track(FOOTAGE / "address_512.mp4", tmp_path / "address", TrackOptions(size=256, overlay=False))
    result = read_track(outputs["tracking"])
    assert result.found.all() and result.num_frames == 200
    assert result.meta["landmark_error"]["median_fraction_of_iod"] <= 0.03


@pytest.mark.skipif(not (FOOTAGE / "expressive_480.mp4").is_file(), reason="shared footage not present")
def test_real_expressive_clip_jaw_and_blinks(tmp_path):
    outputs = track(FOOTAGE / "expressive_480.mp4", tmp_path / "expressive", TrackOptions(size=256, overlay=False))
    result = read_track(outputs["tracking"])
    names = result.meta["expression_names"]
    code = lambda name, frame: result.expression[frame, names.index(name)]
    assert result.found.all()
    assert result.meta["landmark_error"]["median_fraction_of_iod"] <= 0.03
    for frame in (352, 368, 720):  # mouth wide open (picked by eye)
        assert code("jawOpen", frame) > 0.5, (frame, code("jawOpen", frame))
    for frame in (0, 16, 32):  # lips closed
        assert code("jawOpen", frame) < 0.2, (frame, code("jawOpen", frame))
    for side in ("Left", "Right"):  # both eyes shut at frame 208
        assert code(f"eyeBlink{side}", 208) > 0.5, (side, code(f"eyeBlink{side}", 208))
        assert code(f"eyeBlink{side}", 16) < 0.3


def test_given_focal_length_is_kept(synthetic, head):
    """--focal overrides the estimate: the solver keeps it instead of refining it."""
    from backend.tracking.solver import SolverSettings, fit_clip

    _, _, truth, result = synthetic
    given = 1.2 * float(truth["K"][0, 0])
    fit = fit_clip(head, result.meta["layout"], result.landmarks_detected, result.found, result.meta["size"],
                   result.K[:2, 2], focal=given, settings=SolverSettings(iterations=12))
    assert fit.focal == pytest.approx(given, rel=1e-5)
    estimated = fit_clip(head, result.meta["layout"], result.landmarks_detected, result.found, result.meta["size"],
                         result.K[:2, 2], focal=None, settings=SolverSettings(iterations=12, focal_trial_iterations=5))
    assert estimated.focal != pytest.approx(given, rel=1e-3)
