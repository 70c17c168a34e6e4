"""Avatar fitting: quality on synthetic footage, resume after a kill, lost frames, file checks, render."""

import dataclasses
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from backend.avatar import FitConfig, fit, read_avatar, write_avatar
from backend.avatar.densify import SurfaceDensification
from backend.avatar.losses import d_ssim, ssim_map
from backend.avatar.model import initial_avatar, matrix_to_quat, moving_offsets, quat_multiply, triangle_frames
from backend.errors import BackendError
from backend.tracking import read_track
from backend.tracking.trackfile import write_track

ROOT = Path(__file__).resolve().parents[1]
QUALITY_SECONDS = 240  # the issue allows 5 minutes of fitting at 128 px on CPU
# The target is 30 dB held-out PSNR inside the matte; measured 29.99 dB in the 240 s at
# 7321402 (4739 iterations; 29.4 dB in 2441 before it), with the held-out frames' head pose tracked
# against the finished avatar (28.2 dB with the landmark track alone); train PSNR 31.9. Variants (a
# 7,000 cap, ten times the expression-offset L2, 280 s) gave 29.8 to 30.0: this is the plateau.
# The floors guard against regressions with a margin for a loaded machine (fewer iterations).
HELDOUT_MASKED_PSNR_FLOOR = 29.0
# Over the full frame: measured 33.1 dB; 25.7 dB when the completion's fills stuck out past the silhouette.
HELDOUT_FULL_PSNR_FLOOR = 31.5


@pytest.fixture()
def tracked(synthetic_track):
    return synthetic_track


def tiny(**changes) -> FitConfig:
    """A fit config that runs in seconds (for the robustness tests, not quality)."""
    return dataclasses.replace(FitConfig(iterations=6, resolution=64, initial_gaussians=500), **changes)


def test_synthetic_fit_reaches_heldout_psnr(tracked, tmp_path):
    outputs = fit(tracked, tmp_path, FitConfig(iterations=100000, time_budget=QUALITY_SECONDS))
    metrics = json.loads(outputs["metrics"].read_text())
    print(metrics)
    assert {"avatar", "metrics", "heldout"} <= set(outputs)
    assert outputs["heldout"].stat().st_size > 0
    for key in ("heldout_psnr_masked", "heldout_psnr_full", "heldout_ssim_masked", "heldout_ssim_full",
                "train_psnr", "gaussians", "iterations", "wall_seconds", "device"):
        assert key in metrics, key
    assert metrics["heldout_frames"] == 9 and metrics["train_frames"] == 51
    assert metrics["heldout_psnr_masked"] >= HELDOUT_MASKED_PSNR_FLOOR, metrics
    assert metrics["heldout_psnr_full"] >= HELDOUT_FULL_PSNR_FLOOR, metrics
    assert metrics["heldout_psnr_masked"] > metrics["heldout_psnr_masked_landmark_track"], metrics
    # the masked figure is a pixel-weighted mean of its two parts
    parts = metrics["heldout_psnr_masked_outline"], metrics["heldout_psnr_masked_interior"]
    assert min(parts) <= metrics["heldout_psnr_masked"] <= max(parts) and 0 < metrics["heldout_outline_error_share"] < 1
    # Measured on address_512: mean 0.005, 99th percentile 0.09 (0.03 and 0.31 when fitted over a fixed background).
    difference = completion_showing_through_the_face(outputs["avatar"], tracked)
    worst = float(torch.quantile(difference, 0.99))
    assert difference.mean() < 0.012 and worst < 0.2, (float(difference.mean()), worst)


def test_outline_band_follows_the_matte_contour():
    from backend.avatar.evaluate import outline_band, outline_split

    square = torch.zeros(1, 20, 20, dtype=torch.bool)
    square[0, 5:15, 5:15] = True
    band = outline_band(square, 2)
    assert band.sum() == 14 * 14 - 6 * 6 and band[0, 3:17, 3:17].sum() == band.sum() and not band[0, 7:13, 7:13].any()
    left_half = torch.zeros(1, 20, 20, dtype=torch.bool)
    left_half[0, :, :10] = True  # the image border is no outline: only the band along column 10 counts
    assert outline_band(left_half, 2)[0].nonzero()[:, 1].unique().tolist() == [8, 9, 10, 11]

    target = torch.zeros(1, 20, 20, 3)
    rendered = torch.where(square[..., None], 0.1, 0.0).expand(1, 20, 20, 3)
    split = outline_split(rendered, target, square, square)
    assert abs(split["heldout_psnr_masked_outline"] - 20) < 1e-4 and abs(split["heldout_psnr_masked_interior"] - 20) < 1e-4
    assert abs(split["heldout_outline_error_share"] - 64 / 100) < 1e-6  # 64 of the square's 100 pixels are on the band


def test_padding_counts_in_no_loss():
    from backend.avatar.clip import Clip

    footage = torch.ones(8, 8, dtype=torch.bool)
    footage[:, :2] = False
    clip = Clip(images=torch.zeros(1, 8, 8, 3), masks=torch.ones(1, 8, 8), K=torch.eye(3),
                vertices=torch.zeros(1, 3, 3), expression=torch.zeros(1, 2), train=[0], heldout=[], footage=footage,
                body_rotation=np.zeros(3))
    rendered, target = torch.rand(2, 1, 8, 8, 3).unbind(0)
    kept = clip.only_footage(rendered, target)
    assert torch.equal(kept[:, :, 2:], rendered[:, :, 2:]) and torch.equal(kept[:, :, :2], target[:, :, :2])
    alpha, matte = torch.rand(2, 1, 4, 4).unbind(0)  # a smaller render, as held-out tracking's
    kept = clip.only_footage(alpha, matte)
    assert torch.equal(kept[..., 1:], alpha[..., 1:]) and torch.equal(kept[..., :1], matte[..., :1])


def completion_showing_through_the_face(avatar_path, track_dir) -> torch.Tensor:
    """Per face pixel of some training frames, how much the rendered colour changes when the Gaussians
    on never-seen triangles (the completed back of the head, behind the face) are removed."""
    import cv2

    from backend.avatar.clip import BACKGROUND, load_clip
    from backend.avatar.complete import select
    from backend.avatar.evaluate import render_frames
    from backend.avatar.observed import decode_cosines, fitted_triangles
    from backend.headmodel import load_head

    track, saved = read_track(track_dir), read_avatar(avatar_path)
    head = load_head(track.meta["head"])
    clip = load_clip(track, head, saved.meta["resolution"], with_images=False)
    frames = clip.train[::10]
    fitted = torch.from_numpy(fitted_triangles(head, decode_cosines(saved.meta, len(head.triangles))))
    posing = (clip.vertices[frames], clip.expression[frames], head.triangles, clip.K, clip.resolution,
              torch.tensor(BACKGROUND))
    whole = render_frames(saved.gaussians, *posing)[0]
    front = render_frames(select(saved.gaussians, fitted[saved.gaussians.triangle]), *posing)[0]
    scale = clip.resolution / track.size
    faces = np.zeros((len(frames), clip.resolution, clip.resolution), np.uint8)
    for face, landmarks in zip(faces, track.landmarks_fitted[frames]):
        cv2.fillConvexPoly(face, cv2.convexHull((landmarks * scale).astype(np.int32)), 1)
    faces = cv2.erode(faces.transpose(1, 2, 0), np.ones((5, 5), np.uint8)).reshape(faces.shape[1], faces.shape[2], -1)
    inside = torch.from_numpy(faces.transpose(2, 0, 1) > 0)
    return (whole - front).abs().amax(-1)[inside]


def test_killed_fit_resumes_from_a_valid_checkpoint(tracked, tmp_path):
    script = (f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
              "from backend.avatar import FitConfig, fit\n"
              f"fit({str(tracked)!r}, {str(tmp_path)!r}, FitConfig(iterations=100000, resolution=64, "
              "initial_gaussians=500, checkpoint_seconds=0))\n")
    process = subprocess.Popen([sys.executable, "-c", script])
    checkpoint = tmp_path / "checkpoint.safetensors"
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        if checkpoint.is_file() and read_avatar(checkpoint).meta["iteration"] >= 10:
            break
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed = read_avatar(checkpoint)  # valid after the kill
    killed_at = killed.meta["iteration"]
    assert killed_at >= 10
    corrected = (killed.state["rotation"] != 0).any(-1)  # the frames trained on keep a pose correction
    assert corrected.sum() > 3
    # without the completion, whose polish share of the iterations would make the count depend on killed_at
    outputs = fit(tracked, tmp_path, tiny(iterations=killed_at + 3, complete=False), resume=True)
    saved = read_avatar(outputs["avatar"])
    assert saved.meta["iterations"] == killed_at + 3
    resumed = read_avatar(checkpoint).state  # rewritten by the resumed fit
    kept = (resumed["rotation"][corrected] == killed.state["rotation"][corrected]).all(-1)
    assert int(kept.sum()) >= int(corrected.sum()) - 3  # at most the 3 frames trained on since have moved
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name]  # no temporary files left


def test_resume_from_another_tracks_checkpoint_is_refused(tracked, tmp_path):
    fit(tracked, tmp_path, tiny())
    checkpoint = tmp_path / "checkpoint.safetensors"
    saved = read_avatar(checkpoint)
    other = {name: value[:-1] for name, value in saved.state.items()}  # a track one frame shorter
    write_avatar(checkpoint, saved.gaussians, saved.identity, saved.meta["head"], saved.meta["expression_names"],
                 saved.meta["resolution"], other, iteration=saved.meta["iteration"], seconds=saved.meta["seconds"])
    with pytest.raises(BackendError, match="another track"):
        fit(tracked, tmp_path, tiny(iterations=10), resume=True)


def test_lost_frames_are_skipped(tracked, tmp_path):
    lossy = read_track(tracked)
    lossy.found[[2, 5, 58]] = False
    write_track(tmp_path / "track", lossy)
    outputs = fit(tmp_path / "track", tmp_path / "fit", tiny())
    metrics = json.loads(outputs["metrics"].read_text())
    assert metrics["train_frames"] == 49 and metrics["heldout_frames"] == 8


def test_fit_refuses_a_track_without_usable_frames(tracked, tmp_path):
    lost = read_track(tracked)
    lost.found[:] = False
    write_track(tmp_path / "track", lost)
    with pytest.raises(BackendError, match="no usable training frames"):
        fit(tmp_path / "track", tmp_path / "fit", tiny())


@pytest.fixture()
def avatar_file(head, tmp_path):
    gaussians = initial_avatar(head.template, head.triangles, 300, 1, head.num_expressions, head.vertex_colors)
    return write_avatar(tmp_path / "avatar.safetensors", gaussians, torch.zeros(head.num_identity), "default",
                        head.expression_names, 128)


def test_avatar_file_round_trips(avatar_file, head):
    saved = read_avatar(avatar_file)
    assert saved.gaussians.num_gaussians == 300 and saved.gaussians.sh_degree == 1
    assert saved.meta["expression_names"] == head.expression_names and saved.meta["resolution"] == 128


def test_truncated_avatar_is_rejected(avatar_file):
    data = avatar_file.read_bytes()
    avatar_file.write_bytes(data[: len(data) // 2])
    with pytest.raises(BackendError, match="truncated"):
        read_avatar(avatar_file)


def test_tampered_avatar_is_rejected(avatar_file):
    data = bytearray(avatar_file.read_bytes())
    data[-100] ^= 0xFF  # flip bits inside the tensor data
    avatar_file.write_bytes(bytes(data))
    with pytest.raises(BackendError, match="modified after it was written"):
        read_avatar(avatar_file)


def test_render_command_writes_one_png_per_frame(tracked, avatar_file, tmp_path):
    result = subprocess.run([sys.executable, "-m", "backend", "render", str(avatar_file), "--tracking", str(tracked),
                             "--out", str(tmp_path / "frames")], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    import cv2

    frames = sorted((tmp_path / "frames").glob("frame_*.png"))
    assert len(frames) == 60
    rgba = cv2.imread(str(frames[0]), cv2.IMREAD_UNCHANGED)
    assert rgba.shape == (128, 128, 4) and rgba[64, 64, 3] > 200 and rgba[2, 2, 3] == 0


def test_render_command_reports_a_bad_avatar_in_one_line(tracked, tmp_path):
    bad = tmp_path / "avatar.safetensors"
    bad.write_bytes(b"not an avatar")
    result = subprocess.run([sys.executable, "-m", "backend", "render", str(bad), "--tracking", str(tracked),
                             "--out", str(tmp_path / "frames")], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.startswith("error:") and "Traceback" not in result.stderr


def test_gaussians_follow_their_triangles(head):
    gaussians = initial_avatar(head.template, head.triangles, 200, 0, head.num_expressions, None)
    expression = torch.zeros(head.num_expressions)
    rest = gaussians.pose(head.template, head.triangles, expression)
    scale, shift = 2.0, torch.tensor([0.1, -0.2, 0.3])
    moved = gaussians.pose(head.template * scale + shift, head.triangles, expression)
    torch.testing.assert_close(moved.means, rest.means * scale + shift, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(moved.scales, rest.scales * scale, atol=1e-6, rtol=1e-4)
    _, frames, _ = triangle_frames(head.template, head.triangles[:50])
    torch.testing.assert_close(frames @ frames.transpose(1, 2), torch.eye(3).expand(50, 3, 3), atol=1e-4, rtol=0)



def test_quaternions_agree_with_scipy():
    from scipy.spatial.transform import Rotation

    turns = Rotation.random(200, random_state=3)
    # near 180 degrees about each axis, where the branch of matrix_to_quat changes
    turns = Rotation.concatenate([turns, Rotation.from_rotvec(np.eye(3) * (np.pi - 1e-3)), Rotation.identity()])
    scalar_first = lambda rotations: torch.from_numpy(np.roll(rotations.as_quat(), 1, -1))
    found, expected = matrix_to_quat(torch.from_numpy(turns.as_matrix())), scalar_first(turns)
    torch.testing.assert_close(found * torch.sign((found * expected).sum(-1, keepdim=True)), expected)
    others = Rotation.random(len(turns), random_state=4)
    torch.testing.assert_close(quat_multiply(scalar_first(turns), scalar_first(others)), scalar_first(turns * others))


def test_posing_with_the_moving_offsets_only_matches_the_full_sum(head):
    """Training poses with the (Gaussian, code) entries its regions allow: the same means, and no
    gradient for the entries outside them."""
    from backend.avatar.fit import expression_regions

    gaussians = initial_avatar(head.template, head.triangles, 500, 1, head.num_expressions, None)
    allowed = expression_regions(head)[gaussians.triangle]
    assert 0 < allowed.float().mean() < 0.5
    with torch.no_grad():
        gaussians.expression_offsets.normal_(generator=torch.Generator().manual_seed(1))
        gaussians.expression_offsets *= allowed[..., None]
    codes = torch.rand(head.num_expressions, generator=torch.Generator().manual_seed(2))
    full = gaussians.pose(head.template, head.triangles, codes)
    moving = gaussians.pose(head.template, head.triangles, codes, moving_offsets(allowed))
    torch.testing.assert_close(moving.means, full.means)
    assert not torch.allclose(full.means, gaussians.pose(head.template, head.triangles, codes * 0).means)
    moving.means.sum().backward()
    gradient = gaussians.expression_offsets.grad
    assert gradient[~allowed].abs().max() == 0 and gradient[allowed].abs().min() > 0

def test_view_dependent_colour_turns_with_the_head(head):
    """SH live in the triangles' frames: turning the head and the camera together changes nothing."""
    import math

    from backend.headmodel.lbs import axis_angle_to_matrix
    from backend.headpose import FLIP
    from backend.render import rasterize

    gaussians = initial_avatar(head.template, head.triangles, 3000, 1, head.num_expressions, None)
    with torch.no_grad():
        gaussians.sh[:, 1:] = torch.randn(3000, 3, 3, generator=torch.Generator().manual_seed(0))
    expression = torch.zeros(head.num_expressions)
    K = torch.tensor([[200.0, 0, 48], [0, 200.0, 48], [0, 0, 1]])
    turn = axis_angle_to_matrix(torch.tensor([0.0, math.radians(25), 0.0]))

    def image(vertices, camera_rotation):
        posed = gaussians.pose(vertices, head.triangles, expression)
        viewmat = torch.eye(4)
        viewmat[:3, :3] = torch.as_tensor(FLIP, dtype=torch.float32) @ camera_rotation  # the model faces the camera
        viewmat[2, 3] = 0.7
        return rasterize(posed.means, posed.quats, posed.scales, posed.opacities, posed.sh, viewmat[None],
                         K[None], 96, 96, sh_degree=1).rgb

    with torch.no_grad():
        still = image(head.template, torch.eye(3))
        turned = image(head.template @ turn.T, turn.T)
    torch.testing.assert_close(turned, still, atol=2e-3, rtol=0)
    assert still.std() > 0.05


def test_densification_grows_prunes_and_keeps_the_optimizer_in_step(head):
    gaussians = initial_avatar(head.template, head.triangles, 100, 0, head.num_expressions, None)
    optimizer = torch.optim.Adam(gaussians.parameters(), lr=1e-3)
    sum(p.sum() for p in gaussians.parameters()).backward()
    optimizer.step()
    with torch.no_grad():
        gaussians.opacity_logits[:10] = -10  # transparent: pruned
    strategy = SurfaceDensification(refine_start=1, refine_every=1, max_gaussians=150, max_relative_scale=100)
    state = strategy.initialize_state(gaussians, head.template, head.triangles)
    grad = torch.zeros(1, 100, 2)
    grad[0, 50:] = 1.0  # high screen-space gradient on half of them
    strategy.step_post_backward(gaussians, optimizer, state, 1, grad, torch.ones(1, 100, dtype=torch.int32), 64, 64)
    assert gaussians.num_gaussians == 90 + int(0.15 * 100)
    for parameter in gaussians.parameters():
        assert optimizer.state[parameter]["exp_avg"].shape == parameter.shape
    assert all(p in {id(q) for q in gaussians.parameters()} for p in map(id, optimizer.param_groups[0]["params"]))


def test_ssim_is_one_for_equal_images_and_falls_with_noise():
    image = torch.rand(1, 32, 32, 3, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(ssim_map(image, image), torch.ones(1, 32, 32), atol=1e-5)
    assert float(d_ssim(image, (image + 0.2 * torch.randn_like(image)).clamp(0, 1))) > 0.05


def test_ssim_matches_a_direct_two_dimensional_window():
    """The separable blur gives the same SSIM as summing the 11 x 11 window directly (zero padded)."""
    from backend.avatar.losses import _ssim_map_reference

    rendered, target = torch.rand(2, 2, 19, 23, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert torch.allclose(ssim_map(rendered, target), _ssim_map_reference(rendered, target), atol=1e-10)


def test_the_image_loss_compares_srgb_encodings():
    """The same linear error weighs far more in the dark, as it does in the metrics, and a render that
    overshoots 1 still has a gradient back down."""
    from backend.avatar.losses import photometric

    dark, bright = torch.full((1, 8, 8, 3), 0.01), torch.full((1, 8, 8, 3), 0.5)
    dark_error = float(photometric(dark + 0.01, dark, ssim_weight=0.0))
    bright_error = float(photometric(bright + 0.01, bright, ssim_weight=0.0))
    assert dark_error > 5 * bright_error
    overshoot = torch.full((1, 8, 8, 3), 1.2, requires_grad=True)
    photometric(overshoot, torch.ones(1, 8, 8, 3), ssim_weight=0.2).backward()
    assert (overshoot.grad > 0).all()


def test_a_time_budgeted_fit_stops_densifying(tracked, tmp_path, monkeypatch):
    """Densification ends after 60% of the time budget, as it does after 60% of the iterations."""
    calls = []
    densify = SurfaceDensification.step_post_backward
    monkeypatch.setattr(SurfaceDensification, "step_post_backward",
                        lambda self, avatar, optimizer, state, step, *rest: (
                            calls.append((step, self.refine_stop, time.perf_counter())),
                            densify(self, avatar, optimizer, state, step, *rest)))
    fit(tracked, tmp_path, tiny(iterations=10**6, time_budget=4.0, complete=False))
    refining = [stop > step for step, stop, _ in calls]
    assert refining[0] and not refining[-1] and sorted(refining, reverse=True) == refining
    first, stopped, last = calls[0][2], calls[refining.index(False)][2], calls[-1][2]
    assert 0.45 < (stopped - first) / (last - first) < 0.75
