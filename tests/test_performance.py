"""Performances: from a track, Live Link Face CSV and JSON round trips, resampling, errors for people."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from backend.animation import Performance, read_performance
from backend.animation.livelink import header, live_link_order
from backend.headpose import matrix_to_angles
from backend.errors import BackendError
from backend.headmodel.arkit import ARKIT_NAMES
from backend.progress import Progress

ROOT = Path(__file__).resolve().parents[1]


def random_performance(frames=40, fps=25.0, first=1, seed=0, translation=True) -> Performance:
    rng = np.random.default_rng(seed)
    return Performance(fps=fps, frames=np.arange(first, first + frames), expression_names=list(ARKIT_NAMES),
                       expression=rng.uniform(0, 1, (frames, 52)), head_angles=rng.uniform(-0.5, 0.5, (frames, 3)),
                       eye_angles=rng.uniform(-0.3, 0.3, (frames, 2, 3)),
                       pose_translation=rng.uniform(-0.1, 0.7, (frames, 3)) if translation else None)


def assert_same(a: Performance, b: Performance, translation=True):
    assert a.fps == b.fps and a.expression_names == b.expression_names
    for name in ("frames", "expression", "head_angles", "eye_angles") + (("pose_translation",) if translation else ()):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_csv_export_then_import_is_exact(tmp_path):
    original = random_performance()
    path = original.write_csv(tmp_path / "take.csv")
    back = read_performance(path)
    assert back.pose_translation is None  # not in the layout
    assert_same(original, back, translation=False)
    lines = path.read_text().splitlines()
    assert lines[0].split(",") == header() and len(lines) == 41
    assert lines[1].startswith("00:00:00:00.000,61,") and lines[26].startswith("00:00:01:00.000,61,")


def test_json_export_then_import_is_exact(tmp_path):
    original = random_performance(first=7)
    assert_same(original, read_performance(original.write_json(tmp_path / "take.json")))
    no_translation = random_performance(translation=False)
    assert read_performance(no_translation.write_json(tmp_path / "b.json")).pose_translation is None


def test_csv_columns_follow_live_link_face_order():
    names = header()
    assert len(names) == 63 and names[:2] == ["Timecode", "BlendshapeCount"]
    assert names[17:19] == ["JawRight", "JawLeft"] and names[23:25] == ["MouthRight", "MouthLeft"]
    assert names[54:] == ["HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
                          "RightEyeYaw", "RightEyePitch", "RightEyeRoll"]
    assert sorted(live_link_order()) == sorted(ARKIT_NAMES)


def live_link_take(rows: int, step: int = 2) -> tuple[str, np.ndarray]:
    """A take as the app writes it (source B's spelling): 30 fps capture, 60 fps time-of-day timecode,
    10 decimals; returns (text, the codes [rows, 52] in ARKit order)."""
    rng = np.random.default_rng(5)
    codes = np.round(rng.uniform(0, 1, (rows, 52)), 10)
    names = [("BlendShapeCount" if n == "BlendshapeCount" else n) for n in header()]
    order = [ARKIT_NAMES.index(name) for name in live_link_order()]
    lines = [",".join(names)]
    for row in range(rows):
        frames = 47 + row * step  # rolls over the second
        second, frame = divmod(frames, 60)
        values = [f"{v:.10f}" for v in codes[row, order]] + ["0.0000000000"] * 3 + ["0.1700000000"] * 6
        lines.append(f"12:27:{47 + second:02d}:{frame:02d}.169,61," + ",".join(values))
    return "\r\n".join(lines) + "\r\n", codes


def test_a_live_link_face_take_imports(tmp_path):
    text, codes = live_link_take(40)
    (tmp_path / "take.csv").write_bytes(text.encode())
    performance = read_performance(tmp_path / "take.csv")
    assert performance.fps == 30 and list(performance.frames) == list(range(1, 41))
    np.testing.assert_allclose(performance.expression, codes, atol=1e-12)
    jaw_left = ARKIT_NAMES.index("jawLeft")
    assert performance.expression[3, jaw_left] == codes[3, jaw_left]  # mapped by name, not position
    np.testing.assert_array_equal(performance.head_angles, 0)
    np.testing.assert_allclose(performance.eye_angles, 0.17)


def test_a_different_frame_rate_is_resampled_and_said_so(tmp_path):
    text, codes = live_link_take(31)
    (tmp_path / "take.csv").write_bytes(text.encode())
    progress = Progress("none")
    performance = read_performance(tmp_path / "take.csv", fps=25, progress=progress)
    assert performance.fps == 25 and len(performance.frames) == 26  # 1 s at 25 fps, both ends included
    assert any("30 fps" in w and "25 fps" in w for w in progress.warnings), progress.warnings
    np.testing.assert_allclose(performance.expression[0], codes[0])
    np.testing.assert_allclose(performance.expression[-1], codes[-1])
    # frame 2 at 25 fps is 0.04 s = 1.2 frames at 30 fps
    np.testing.assert_allclose(performance.expression[1], 0.8 * codes[1] + 0.2 * codes[2])
    assert read_performance(tmp_path / "take.csv", fps=30, progress=progress).fps == 30
    assert len(progress.warnings) == 1


@pytest.mark.parametrize("change, named", [
    (lambda h: h.replace(",TongueOut", ""), "TongueOut"),
    (lambda h: h.replace(",HeadYaw", ",HeadYawn"), "HeadYawn"),
    (lambda h: h + ",Extra", "Extra"),
])
def test_unknown_or_missing_columns_are_named(tmp_path, change, named):
    text, _ = live_link_take(3)
    head, *rows = text.split("\r\n")
    (tmp_path / "bad.csv").write_text("\n".join([change(head), *rows]))
    with pytest.raises(BackendError, match=named):
        read_performance(tmp_path / "bad.csv")


def test_bad_files_give_one_line_errors(tmp_path):
    (tmp_path / "take.txt").write_text("x")
    (tmp_path / "take.json").write_text("{\"format\": \"something else\"}")
    for path in (tmp_path / "take.txt", tmp_path / "take.json", tmp_path / "absent.csv"):
        with pytest.raises(BackendError, match=path.name):
            read_performance(path)


def test_track_becomes_a_performance(synthetic_track, head):
    from backend.fileio import load_tensors
    from backend.tracking import read_track

    track = read_track(synthetic_track)
    performance = Performance.from_track(track, head)
    assert list(performance.frames) == list(track.frame_index + 1) and performance.fps == 25
    np.testing.assert_allclose(performance.pose_rotation, track.pose_rotation, atol=1e-5)
    truth, _ = load_tensors(synthetic_track.parent / "clip" / "groundtruth.safetensors", "truth")
    assert np.abs(performance.head_angles - truth["head_angles"]).mean() < np.radians(3)
    looking_left = performance.expression[:, ARKIT_NAMES.index("eyeLookOutLeft")] > 0.3
    if looking_left.any():  # gaze to the subject's left is positive eye yaw
        assert performance.eye_angles[looking_left, 0, 0].mean() > 0


def test_resampling_to_the_same_rate_keeps_values_and_angles_invert():
    performance = random_performance()
    assert_same(performance, performance.resample(25.0))
    half = performance.resample(12.5)
    np.testing.assert_array_equal(half.frames, np.arange(1, 21))
    np.testing.assert_allclose(half.expression, performance.expression[::2], atol=1e-12)
    from backend.headpose import angles_to_matrix

    np.testing.assert_allclose(matrix_to_angles(angles_to_matrix(performance.head_angles)), performance.head_angles,
                               atol=1e-12)


def test_export_curves_command(synthetic_track, tmp_path):
    for name in ("curves.csv", "curves.json"):
        result = subprocess.run([sys.executable, "-m", "backend", "export-curves", str(synthetic_track),
                                 "--out", str(tmp_path / name)], cwd=ROOT, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert read_performance(tmp_path / name).num_frames == 60
    bad = subprocess.run([sys.executable, "-m", "backend", "export-curves", str(synthetic_track),
                          "--out", str(tmp_path / "curves.txt")], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("error:") and len(bad.stderr.strip().splitlines()) == 1
