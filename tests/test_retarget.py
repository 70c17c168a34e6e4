"""Retarget: synthetic clip B (another identity, tinted blue) drives the avatar fitted on clip A."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from backend.animation import Performance, read_performance
from backend.animation.retarget import relative_to_first_frame, relative_to_neutral
from backend.fileio import load_tensors
from backend.headmodel.arkit import ARKIT_NAMES

ROOT = Path(__file__).resolve().parents[1]
MAX_CODE_ERROR = 0.07  # the acceptance bound on B's codes


@pytest.fixture(scope="module")
def clip_b(tmp_path_factory) -> Path:
    """Clip B: seed 11 (other identity and performance), red and blue swapped so that its colours
    tell it apart from clip A's (the synthetic heads share a skin tone)."""
    import cv2

    from backend.synth import synthesize

    folder = tmp_path_factory.mktemp("clip_b")
    paths = synthesize(folder, frames=40, size=128, seed=11)
    capture = cv2.VideoCapture(str(paths["video"]))
    writer = cv2.VideoWriter(str(folder / "blue.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 25, (128, 128))
    ok, frame = capture.read()
    while ok:
        writer.write(np.ascontiguousarray(frame[..., ::-1]))
        ok, frame = capture.read()
    writer.release()
    return folder


@pytest.fixture(scope="module")
def retargeted(clip_b, small_avatar, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("retarget")
    result = subprocess.run([sys.executable, "-m", "backend", "retarget", str(clip_b / "blue.mp4"), "--avatar",
                             str(small_avatar), "--out", str(out), "--size", "128", "--progress", "none"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return out


def test_driver_codes_match_its_ground_truth(retargeted, clip_b):
    truth, meta = load_tensors(clip_b / "groundtruth.safetensors", "truth")
    performance = read_performance(retargeted / "performance.json")
    codes, missing = performance.codes_for(meta["expression_names"])
    assert not missing and performance.num_frames == 40
    error = np.abs(codes - truth["expression"]).mean()
    print(f"retargeted code MAE vs B's ground truth: {error:.4f}")
    assert error <= MAX_CODE_ERROR
    jaw = meta["expression_names"].index("jawOpen")
    assert np.corrcoef(codes[:, jaw], truth["expression"][:, jaw])[0, 1] > 0.8
    csv = read_performance(retargeted / "performance.csv")
    np.testing.assert_array_equal(csv.expression, performance.codes_for(list(ARKIT_NAMES))[0])


def face_colour(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean sRGB colour [3] (RGB order) of the pixels under mask, in [0, 1]."""
    return rgb[mask].reshape(-1, 3).mean(0) / 255


def test_frames_show_the_avatars_appearance(retargeted, clip_b, small_avatar, synthetic_track, tmp_path):
    import cv2

    frames = sorted((retargeted / "frames").glob("frame_*.png"))
    assert len(frames) == 40 and (retargeted / "preview.mp4").stat().st_size > 0
    rendered = [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in frames[::8]]
    retarget_colour = np.mean([face_colour(f[..., 2::-1], f[..., 3] > 200) for f in rendered], 0)
    subprocess.run([sys.executable, "-m", "backend", "render", str(small_avatar), "--tracking", str(synthetic_track),
                    "--frames", "1-40", "--out", str(tmp_path)], cwd=ROOT, check=True, capture_output=True)
    own = [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in sorted(tmp_path.glob("frame_*.png"))[::8]]
    avatar_colour = np.mean([face_colour(f[..., 2::-1], f[..., 3] > 200) for f in own], 0)
    truth, _ = load_tensors(clip_b / "groundtruth.safetensors", "truth")
    capture = cv2.VideoCapture(str(clip_b / "blue.mp4"))
    driver = [capture.read()[1][..., ::-1] for _ in range(40)][::8]
    driver_colour = np.mean([face_colour(f, m > 128) for f, m in zip(driver, truth["masks"][::8])], 0)
    print("retarget", retarget_colour, "avatar", avatar_colour, "driver", driver_colour)
    assert retarget_colour[0] > retarget_colour[2]  # skin, not the driver's blue
    assert np.abs(retarget_colour - avatar_colour).max() < 0.05
    assert np.abs(retarget_colour - driver_colour).max() > 0.1


def test_relative_pose_starts_facing_the_camera_at_the_training_position(retargeted):
    from backend.headpose import angles_to_matrix

    performance = read_performance(retargeted / "performance.json")
    home = np.array([0.01, 0.02, 0.7])
    relative = relative_to_first_frame(performance, home)
    np.testing.assert_allclose(relative.head_angles[0], 0, atol=1e-9)
    np.testing.assert_allclose(relative.pose_translation[0], home)
    turn = lambda p, f: angles_to_matrix(p.head_angles[f]) @ angles_to_matrix(p.head_angles[0]).T
    angle = lambda m: np.arccos(np.clip((np.trace(m) - 1) / 2, -1, 1))
    assert abs(angle(turn(relative, 30)) - angle(turn(performance, 30))) < 1e-9  # the same motion


def test_codes_are_taken_relative_to_the_drivers_neutral():
    F = 100
    smile = np.full(F, 0.3)
    smile[60:70] = 1.0  # a resting smile of 0.3 with one full smile
    jaw = np.linspace(0, 0.8, F)
    expression = np.zeros((F, 52))
    expression[:, ARKIT_NAMES.index("mouthSmileLeft")], expression[:, ARKIT_NAMES.index("jawOpen")] = smile, jaw
    performance = Performance(25.0, np.arange(1, F + 1), list(ARKIT_NAMES), expression, np.zeros((F, 3)),
                              np.zeros((F, 2, 3)), None)
    found = np.ones(F, bool)
    found[:3] = False  # lost frames do not set the neutral
    relative = relative_to_neutral(performance, found)
    mapped = relative.expression[:, ARKIT_NAMES.index("mouthSmileLeft")]
    assert mapped[:60].max() == 0 and mapped[65] == 1
    mapped_jaw = relative.expression[:, ARKIT_NAMES.index("jawOpen")]
    assert mapped_jaw[-1] == pytest.approx(1.0 * (0.8 - jaw[3:][4]) / (1 - jaw[3:][4]), rel=0.05)
    assert (relative.expression >= 0).all() and (relative.expression <= 1).all()


def test_retarget_reports_a_bad_avatar_in_one_line(clip_b, tmp_path):
    (tmp_path / "avatar.safetensors").write_bytes(b"nope")
    result = subprocess.run([sys.executable, "-m", "backend", "retarget", str(clip_b / "blue.mp4"), "--avatar",
                             str(tmp_path / "avatar.safetensors"), "--out", str(tmp_path / "out")],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.startswith("error:") and "Traceback" not in result.stderr
    assert json.dumps(result.stderr).count("\\n") == 1
