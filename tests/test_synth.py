import cv2
import numpy as np
import pytest

from backend.fileio import load_tensors
from backend.headmodel import ARKIT_NAMES
from backend.headpose import facing_camera
from backend.synth.performance import MAX_PITCH, MAX_ROLL, MAX_YAW, script_performance

FRAMES, SIZE = 12, 96
FRONTAL_IBUG = np.r_[17:68]  # brows, nose, eyes, lips: never on the silhouette


def column(performance, name):
    return performance.expression[:, ARKIT_NAMES.index(name)]


def test_long_performance_stays_in_range_and_moves():
    performance = script_performance(list(ARKIT_NAMES), 500, 25.0, seed=4)
    assert performance.expression.shape == (500, 52)
    assert performance.expression.min() >= 0.0 and performance.expression.max() <= 1.0
    yaw, pitch, roll = performance.head_angles.T
    assert np.abs(yaw).max() <= MAX_YAW and np.abs(pitch).max() <= MAX_PITCH and np.abs(roll).max() <= MAX_ROLL
    assert np.abs(yaw).max() > np.radians(5) and np.abs(pitch).max() > np.radians(2)
    assert np.abs(np.diff(performance.head_angles, axis=0)).max() < np.radians(2)  # smooth at 25 fps
    blink = column(performance, "eyeBlinkLeft")
    closings = np.sum((blink[1:] > 0.8) & (blink[:-1] <= 0.8))
    assert 4 <= closings <= 11  # every 2-5 s over 20 s
    np.testing.assert_array_equal(blink, column(performance, "eyeBlinkRight"))
    assert column(performance, "jawOpen").std() > 0.05
    for name in ("mouthFunnel", "mouthPucker", "browInnerUp", "eyeLookOutLeft", "mouthSmileLeft"):
        assert column(performance, name).max() > 0.1, name


def test_performance_depends_only_on_the_seed():
    a, b = (script_performance(list(ARKIT_NAMES), 100, 25.0, seed=1) for _ in range(2))
    c = script_performance(list(ARKIT_NAMES), 100, 25.0, seed=2)
    np.testing.assert_array_equal(a.expression, b.expression)
    np.testing.assert_array_equal(a.head_angles, b.head_angles)
    assert not np.allclose(a.expression, c.expression)


def test_performance_fills_only_the_codes_a_head_has():
    performance = script_performance(["jawOpen", "notAnArkitCode"], 50, 25.0, seed=0)
    assert performance.expression[:, 0].max() > 0 and not performance.expression[:, 1].any()


def test_synthesize_rejects_impossible_requests(tmp_path):
    from backend.errors import BackendError
    from backend.synth import synthesize

    with pytest.raises(BackendError, match="frames"):
        synthesize(tmp_path, frames=0)
    assert not any(tmp_path.iterdir())


def synth(tmp_path_factory, seed):
    from backend.synth import synthesize

    out = tmp_path_factory.mktemp(f"synth{seed}")
    paths = synthesize(out, frames=FRAMES, size=SIZE, fps=25.0, seed=seed)
    truth, metadata = load_tensors(paths["groundtruth"], "ground truth")
    return paths, truth, metadata


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return synth(tmp_path_factory, seed=3)


def decode(path):
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            return np.array(frames)
        frames.append(frame)


def test_video_has_the_asked_frames_and_size(clip):
    paths, _, metadata = clip
    frames = decode(paths["video"])
    assert frames.shape == (FRAMES, SIZE, SIZE, 3)
    assert metadata["frames"] == FRAMES and metadata["size"] == SIZE and metadata["fps"] == 25.0
    assert sorted(p.name for p in paths["video"].parent.iterdir()) == [
        "groundtruth.json", "groundtruth.safetensors", "video.mp4"]


def test_ground_truth_shapes_and_ranges(clip):
    _, truth, metadata = clip
    expression_count, joint_count = len(metadata["expression_names"]), len(metadata["joint_names"])
    assert truth["expression"].shape == (FRAMES, expression_count)
    assert truth["expression"].min() >= 0 and truth["expression"].max() <= 1
    assert truth["joint_rotations"].shape == (FRAMES, joint_count, 3)
    assert truth["pose_rotation"].shape == truth["pose_translation"].shape == (FRAMES, 3)
    assert truth["K"].shape == (3, 3) and truth["viewmat"].shape == (4, 4)
    assert truth["identity"].ndim == 1 and np.abs(truth["identity"]).max() <= 2 and truth["identity"].any()
    assert truth["landmarks_ibug68"].shape == (FRAMES, 68, 2)
    count = len(truth["landmarks_mediapipe_index"])
    assert truth["landmarks_mediapipe"].shape == (FRAMES, count, 2) and count > 0
    assert truth["masks"].shape == (FRAMES, SIZE, SIZE) and truth["masks"].dtype == np.uint8
    coverage = (truth["masks"] > 0).mean()
    assert 0.2 < coverage < 0.7


def test_pose_turns_the_head_to_face_the_camera(clip):
    import torch

    from backend.headmodel.lbs import axis_angle_to_matrix

    _, truth, _ = clip
    rotations = axis_angle_to_matrix(torch.from_numpy(truth["pose_rotation"]).double()).numpy()
    expected = np.array([facing_camera(*angles) for angles in truth["head_angles"].astype(np.float64)])
    np.testing.assert_allclose(rotations, expected, atol=1e-5)
    ibug = truth["landmarks_ibug68"]
    assert np.all(ibug[:, 36, 0] < ibug[:, 45, 0])  # subject's right eye corner on the image left
    assert np.all(ibug[:, 27, 1] < ibug[:, 8, 1])  # nose bridge above the chin


def test_landmarks_fall_inside_the_masks(clip):
    _, truth, _ = clip
    masks = np.array([cv2.dilate(mask, np.ones((5, 5), np.uint8)) for mask in truth["masks"]])
    for layout, landmarks in [("ibug68", truth["landmarks_ibug68"][:, FRONTAL_IBUG]),
                              ("mediapipe", truth["landmarks_mediapipe"])]:
        column, row = np.floor(landmarks).astype(int).transpose(2, 0, 1)
        assert column.min() >= 0 and row.min() >= 0 and column.max() < SIZE and row.max() < SIZE, layout
        frame = np.arange(FRAMES)[:, None]
        assert np.all(masks[frame, row, column] > 0), layout
    assert truth["landmarks_ibug68_visible"][:, 30].all()  # the nose tip


def test_ground_truth_reproduces_the_landmarks(clip):
    import torch

    from backend.headmodel import load_head
    from backend.meshrender import project

    _, truth, metadata = clip
    head = load_head(metadata["head"])
    from backend.synth.footage import forward_inputs

    with torch.no_grad():
        out = head.forward(**forward_inputs(head, truth))
    np.testing.assert_allclose(project(out.landmarks["ibug68"].numpy(), truth["K"]), truth["landmarks_ibug68"],
                               atol=1e-3)


def test_same_seed_same_clip_other_seed_other_clip(clip, tmp_path_factory):
    paths, truth, metadata = clip
    again_paths, again, again_metadata = synth(tmp_path_factory, seed=3)
    assert metadata == again_metadata
    for name in truth:
        np.testing.assert_array_equal(truth[name], again[name], err_msg=name)
    np.testing.assert_array_equal(decode(paths["video"]), decode(again_paths["video"]))
    _, other, _ = synth(tmp_path_factory, seed=4)
    assert not np.allclose(truth["identity"], other["identity"])
    assert not np.allclose(truth["expression"], other["expression"])
