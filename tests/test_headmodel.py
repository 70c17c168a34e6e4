"""The head-model format, the forward function and the built-in head."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

from backend.errors import BackendError
from backend.headmodel import ARKIT_NAMES, landmark_layouts as mp
from backend.headmodel.arkit import mirror_name, side_pairs
from backend.headmodel.format import read_headmodel, write_headmodel
from backend.headmodel.model import HeadModel


def pose(head, name=None, weight=1.0, **kwargs):
    expression = torch.zeros(1, head.num_expressions)
    if name:
        expression[0, head.expression_names.index(name)] = weight
    return head(expression=expression, **kwargs)


def mp_point(head, out, index):
    row = int((head.landmark_indices("mediapipe") == index).nonzero()[0, 0])
    return out.landmarks["mediapipe"][0, row].detach().numpy()


# ---------------------------------------------------------------- format


def test_round_trip_is_bit_exact(head, tmp_path):
    path = tmp_path / "copy.safetensors"
    write_headmodel(head.data, path)
    again = read_headmodel(path)
    for field in ("template", "triangles", "uvs", "uv_triangles", "vertex_parts", "identity_directions",
                  "expression_directions", "joints", "joint_identity_directions", "skin_weights",
                  "expression_joint_rotations", "vertex_colors"):
        a, b = getattr(head.data, field), getattr(again, field)
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), field
    for field in ("name", "expression_names", "identity_names", "joint_names", "joint_parents", "part_names", "extra"):
        assert getattr(head.data, field) == getattr(again, field), field
    for layout, marks in head.data.landmarks.items():
        for field in ("index", "vertices", "barycentric"):
            assert getattr(marks, field).tobytes() == getattr(again.landmarks[layout], field).tobytes()


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "truncated, corrupt"),
    (lambda p: p.write_bytes(b"this is not a head model at all"), "truncated, corrupt"),
])
def test_damaged_file_is_rejected(head, tmp_path, damage, message):
    path = tmp_path / "head.safetensors"
    write_headmodel(head.data, path)
    damage(path)
    with pytest.raises(BackendError, match=message) as info:
        read_headmodel(path)
    assert str(path) in str(info.value)


def _tiny_copy(head, **changes):
    import dataclasses
    return dataclasses.replace(head.data, **changes)


def test_inconsistent_file_is_rejected(head, tmp_path):
    path = tmp_path / "bad.safetensors"
    bad = head.data.triangles.copy()
    bad[0, 0] = head.num_vertices + 5
    write_headmodel(_tiny_copy(head, triangles=bad), path)
    with pytest.raises(BackendError, match="triangles index vertices that do not exist"):
        read_headmodel(path)
    write_headmodel(_tiny_copy(head, skin_weights=head.data.skin_weights[:10]), path)
    with pytest.raises(BackendError, match=r"skin_weights has shape \[10, 4\]"):
        read_headmodel(path)


def test_wrong_version_is_rejected(head, tmp_path, monkeypatch):
    from backend.headmodel import format as fmt

    path = tmp_path / "future.safetensors"
    monkeypatch.setattr(fmt, "FORMAT_VERSION", 99)
    write_headmodel(head.data, path)
    monkeypatch.undo()
    with pytest.raises(BackendError, match="format version 99"):
        read_headmodel(path)


def test_missing_file_names_it(tmp_path):
    from backend.headmodel import load_head

    with pytest.raises(BackendError, match="nowhere.safetensors"):
        load_head(tmp_path / "nowhere.safetensors")


# ---------------------------------------------------------------- forward


def test_zero_codes_give_the_template(head):
    out = head()
    torch.testing.assert_close(out.vertices[0], head.template, rtol=0, atol=1e-7)  # skinning blends in float32


def test_forward_is_batched(head):
    g = torch.Generator().manual_seed(0)
    F = 3
    args = dict(identity=torch.randn(F, head.num_identity, generator=g),
                expression=torch.rand(F, head.num_expressions, generator=g),
                joint_rotations=0.2 * torch.randn(F, head.num_joints, 3, generator=g),
                pose_rotation=0.3 * torch.randn(F, 3, generator=g), pose_translation=torch.randn(F, 3, generator=g))
    batched = head(**args)
    for f in range(F):
        single = head(**{k: v[f:f + 1] for k, v in args.items()})
        torch.testing.assert_close(batched.vertices[f], single.vertices[0], rtol=0, atol=1e-6)
        torch.testing.assert_close(batched.landmarks["ibug68"][f], single.landmarks["ibug68"][0], rtol=0, atol=1e-6)


def test_pose_moves_the_head_rigidly(head):
    rotation = torch.tensor([[0.1, -0.4, 0.2]])
    out = head(pose_rotation=rotation, pose_translation=torch.tensor([[0.01, 0.02, 0.5]]))
    v = out.vertices[0]
    d_before = torch.cdist(head.template[:50], head.template[-50:])
    d_after = torch.cdist(v[:50], v[-50:])
    torch.testing.assert_close(d_before, d_after, rtol=0, atol=1e-6)


def test_gradcheck_double_precision(head):
    model = HeadModel(head.data).double()
    g = torch.Generator().manual_seed(1)
    inputs = (0.5 * torch.randn(2, head.num_identity, generator=g, dtype=torch.float64),
              torch.rand(2, head.num_expressions, generator=g, dtype=torch.float64),
              0.1 * torch.randn(2, head.num_joints, 3, generator=g, dtype=torch.float64),
              0.2 * torch.randn(2, 3, generator=g, dtype=torch.float64),
              torch.randn(2, 3, generator=g, dtype=torch.float64))
    inputs = tuple(t.requires_grad_() for t in inputs)
    landmarks = lambda *a: model(*a).landmarks["mediapipe"]
    assert torch.autograd.gradcheck(landmarks, inputs, fast_mode=True)


def test_gradcheck_at_the_identity_rotation(head):
    """Rodrigues' formula has a removable singularity at zero: gradients must stay exact there."""
    from backend.headmodel.lbs import axis_angle_to_matrix

    zero = torch.zeros(1, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(axis_angle_to_matrix, (zero,))


def test_matrix_to_axis_angle_inverts_rodrigues_with_exact_gradients():
    from backend.headmodel.lbs import axis_angle_to_matrix, matrix_to_axis_angle

    g = torch.Generator().manual_seed(3)
    rotations = torch.cat([torch.zeros(1, 3), 1e-7 * torch.randn(2, 3, generator=g), 1.2 * torch.randn(5, 3, generator=g)])
    torch.testing.assert_close(matrix_to_axis_angle(axis_angle_to_matrix(rotations.double())), rotations.double())
    near_identity = (1e-3 * torch.randn(2, 3, generator=g, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda r: matrix_to_axis_angle(axis_angle_to_matrix(r)), (near_identity,))


def test_head_turns_on_the_neck_and_the_body_keeps_its_rotation(head):
    """on_neck: what the neck carries lands where the plain pose puts it; what it does not carry
    keeps the body's rotation whatever the head does (only the body's translation follows the head)."""
    g = torch.Generator().manual_seed(4)
    identity = 0.5 * torch.randn(head.num_identity, generator=g)
    rotations = torch.tensor([[0.05, 0.3, -0.1], [-0.2, -0.25, 0.15]]) + torch.tensor([3.1, 0.0, 0.0])
    translations = torch.tensor([[0.01, 0.02, 0.6], [-0.02, 0.0, 0.65]])
    body = torch.tensor([3.0, 0.05, 0.0])
    plain = head(identity=identity, pose_rotation=rotations, pose_translation=translations).vertices
    posed = head.on_neck(identity, rotations, translations, body)
    turned = head(identity=identity, **posed).vertices
    carried, still = head.skin_weights.sum(1) > 1 - 1e-6, head.skin_weights.sum(1) < 1e-6
    assert carried.sum() > 1000 and still.sum() > 100
    torch.testing.assert_close(turned[:, carried], plain[:, carried], rtol=0, atol=2e-6)
    body_frame = turned[:, still] - posed["pose_translation"][:, None]
    torch.testing.assert_close(body_frame[0], body_frame[1], rtol=0, atol=2e-6)
    assert (plain[0, still] - plain[1, still] - (translations[0] - translations[1])).norm(dim=-1).max() > 0.02


# ---------------------------------------------------------------- the built-in head


def test_built_in_head_size_and_names(head):
    assert 5000 <= head.num_vertices <= 20000
    assert head.expression_names == list(ARKIT_NAMES) and len(ARKIT_NAMES) == 52
    assert head.joint_names == ["neck", "jaw", "eyeLeft", "eyeRight"]
    for part in ("face", "scalp", "ears", "neck", "eyeballs", "eyelids", "mouth_interior", "teeth", "gums", "tongue"):
        assert head.part_mask(part).sum() > 20, part


def test_identity_changes_shape_symmetrically(head):
    for i, name in enumerate(head.identity_names):
        coefficients = torch.zeros(head.num_identity)
        coefficients[i] = 1.0
        v = head(identity=coefficients).vertices[0].numpy()
        moved = np.linalg.norm(v - head.template.numpy(), axis=1).max()
        assert 0.001 < moved < 0.02, (name, moved)
        assert _set_distance(v * [-1, 1, 1], v) < 1e-6, name


def _set_distance(a, b):
    return max(cKDTree(a).query(b)[0].max(), cKDTree(b).query(a)[0].max())


@pytest.mark.parametrize("left, right", side_pairs() + [("jawLeft", "jawRight"), ("mouthLeft", "mouthRight")])
def test_left_shape_mirrors_right_twin(head, left, right):
    v_left = pose(head, left).vertices[0].detach().numpy()
    v_right = pose(head, right).vertices[0].detach().numpy()
    assert np.linalg.norm(v_left - head.template.numpy(), axis=1).max() > 0.001
    assert _set_distance(v_left * [-1, 1, 1], v_right) < 1e-5


def test_every_expression_moves_the_face(head):
    for name in ARKIT_NAMES:
        moved = np.linalg.norm(pose(head, name).vertices[0].detach().numpy() - head.template.numpy(), axis=1)
        assert moved.max() > 0.002, name


def test_blink_closes_the_left_eye_only(head):
    out = pose(head, "eyeBlinkLeft").vertices[0].detach().numpy()
    neutral = head.template.numpy()
    upper_lid = [mp_point(head, pose(head), i) for i in mp.MP_LEFT_EYE_UPPER[1:-1]]
    lower_lid_closed = np.array([mp_point(head, pose(head, "eyeBlinkLeft"), i) for i in mp.MP_LEFT_EYE_LOWER])
    upper_lid_closed = [mp_point(head, pose(head, "eyeBlinkLeft"), i) for i in mp.MP_LEFT_EYE_UPPER[1:-1]]
    gap = [_distance_to_polyline(p, lower_lid_closed) for p in upper_lid_closed]
    assert max(gap) < 0.0005, gap  # the upper lid lies on the lower lid's margin: the eye is shut
    drop = np.array(upper_lid)[:, 1] - np.array(upper_lid_closed)[:, 1]
    assert drop.max() > 0.005  # the upper lid came down
    right_eye_open = [mp_point(head, pose(head, "eyeBlinkLeft"), i) for i in (386, 374)]
    mouth = head.part_mask("teeth", "tongue").numpy() | (np.abs(neutral[:, 1] + 0.0615) < 0.015)
    assert np.abs(out[mouth] - neutral[mouth]).max() < 1e-6
    right = [mp_point(head, pose(head, "eyeBlinkLeft"), i) for i in (159, 145)]
    assert right[0][1] - right[1][1] > 0.007  # the right eye stays open
    assert right_eye_open[0][1] - right_eye_open[1][1] < 0.001


def _distance_to_polyline(point, polyline):
    a, b = polyline[:-1], polyline[1:]
    t = np.clip(((point - a) * (b - a)).sum(1) / ((b - a) ** 2).sum(1), 0, 1)
    return np.linalg.norm(a + t[:, None] * (b - a) - point, axis=1).min()


def test_jaw_open_separates_the_lips(head):
    neutral, opened = pose(head), pose(head, "jawOpen")
    width = np.linalg.norm(mp_point(head, neutral, 78) - mp_point(head, neutral, 308))
    gap = np.linalg.norm(mp_point(head, opened, 13) - mp_point(head, opened, 14))
    assert gap >= width / 3, (gap, width)
    assert np.linalg.norm(mp_point(head, neutral, 13) - mp_point(head, neutral, 14)) < 1e-6  # closed at rest


@pytest.mark.parametrize("code, landmark, axis, sign", [  # axis 0 x (subject's left), 1 up, 2 forward
    ("mouthSmileLeft", 291, 1, +1), ("mouthFrownLeft", 291, 1, -1), ("mouthStretchLeft", 291, 0, +1),
    ("browInnerUp", 336, 1, +1), ("browInnerUp", 107, 1, +1), ("browOuterUpLeft", 300, 1, +1),
    ("browDownLeft", 334, 1, -1), ("jawOpen", 152, 1, -1), ("jawForward", 152, 2, +1), ("jawLeft", 152, 0, +1),
    ("mouthLeft", 0, 0, +1), ("mouthPucker", 0, 2, +1), ("mouthUpperUpLeft", 267, 1, +1),
    ("mouthLowerDownLeft", 314, 1, -1), ("eyeLookUpLeft", 473, 1, +1), ("eyeLookDownLeft", 473, 1, -1),
    ("eyeLookOutLeft", 473, 0, +1), ("eyeLookInLeft", 473, 0, -1), ("eyeWideLeft", 386, 1, +1),
    ("eyeSquintLeft", 374, 1, +1), ("noseSneerLeft", 305, 1, +1),
])
def test_codes_move_the_named_region(head, code, landmark, axis, sign):
    delta = mp_point(head, pose(head, code), landmark) - mp_point(head, pose(head), landmark)
    assert sign * delta[axis] > 0.002, (code, delta)
    if code.endswith("Left"):  # the subject's right side of the face stays put
        twin = {291: 61, 336: 107, 300: 70, 334: 105, 473: 468, 386: 159, 374: 145, 267: 37, 314: 84, 305: 75}.get(landmark)
        if twin is not None:
            still = mp_point(head, pose(head, code), twin) - mp_point(head, pose(head), twin)
            assert np.abs(still).max() < 0.5 * np.abs(delta).max(), (code, still)


def test_landmarks_lie_on_their_parts(head):
    parts = np.array(head.part_names)[head.vertex_parts.numpy()]
    marks = head.data.landmarks["mediapipe"]
    index = list(marks.index)
    template = head.template.numpy()

    def where(i):
        row = index.index(i)
        return template[marks.vertices[row]].T @ marks.barycentric[row], set(parts[marks.vertices[row]])

    for i in mp.MP_LEFT_EYE_UPPER + mp.MP_LEFT_EYE_LOWER:
        point, on = where(i)
        assert point[0] > 0.015 and on <= {"eyelids"}, (i, point, on)
    for i in mp.MP_RIGHT_EYE_UPPER + mp.MP_RIGHT_EYE_LOWER:
        point, on = where(i)
        assert point[0] < -0.015 and on <= {"eyelids"}, (i, point, on)
    for i in mp.MP_LEFT_IRIS:
        point, on = where(i)
        assert on == {"eyeballs"} and point[0] > 0
    for i in mp.MP_LIPS_INNER_UPPER + mp.MP_LIPS_INNER_LOWER + mp.MP_LIPS_OUTER_UPPER:
        point, _ = where(i)
        assert abs(point[1] + 0.0615) < 0.012 and point[2] > 0.07, i
    for i in mp.MP_NOSE_BRIDGE:
        point, _ = where(i)
        assert abs(point[0]) < 2e-5 and point[2] > 0.08
    for i in mp.MP_LEFT_BROW_UPPER:
        point, on = where(i)
        assert point[0] > 0.01 and 0.01 < point[1] < 0.04 and on <= {"face", "eyelids"}
    chin, _ = where(152)
    assert chin[1] < -0.095 and abs(chin[0]) < 2e-5  # mediapipe puts 152 on the front of the chin
    assert len(index) >= 140 and len(head.data.landmarks["ibug68"].index) == 68
    np.testing.assert_allclose(marks.barycentric.sum(1), 1, atol=1e-6)


def test_ibug_is_the_mediapipe_subset(head):
    ibug = head().landmarks["ibug68"][0]
    mediapipe = head().landmarks["mediapipe"][0]
    order = list(head.landmark_indices("mediapipe").numpy())
    for k, i in enumerate(mp.IBUG68_FROM_MEDIAPIPE):
        torch.testing.assert_close(ibug[k], mediapipe[order.index(i)])


def test_mirror_names():
    assert mirror_name("eyeBlinkLeft") == "eyeBlinkRight" and mirror_name("jawLeft") == "jawRight"
    assert mirror_name("jawOpen") == "jawOpen" and len(side_pairs()) == 18


def test_cli_info_lists_counts_and_names():
    result = subprocess.run([sys.executable, "-m", "backend", "headmodel", "info", "default"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("vertices: ") and int(line.split()[1]) > 5000 for line in lines)
    assert any(line.startswith("triangles: ") for line in lines)
    assert lines[-52:] == list(ARKIT_NAMES)


def test_cli_error_is_one_line(tmp_path):
    bogus = tmp_path / "bogus.safetensors"
    bogus.write_bytes(b"nope")
    result = subprocess.run([sys.executable, "-m", "backend", "headmodel", "info", str(bogus)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr and str(bogus) in result.stderr
