"""Photometric tracking of frames against a fitted avatar (refine.track_frames)."""

import torch


def test_tracking_against_the_avatar_undoes_a_pose_error(synthetic_track, small_avatar):
    """Frames the avatar was fitted on, their head turned 2.5 degrees and moved 4 mm off: tracked
    against the avatar, they match their images better than before and than with the landmark track
    itself; the avatar and the other frames stay as they were."""
    from backend.avatar.clip import BACKGROUND, load_clip
    from backend.avatar.evaluate import render_frames
    from backend.avatar.file import read_avatar
    from backend.avatar.losses import psnr
    from backend.avatar.refine import PerformanceRefinement, track_frames
    from backend.headmodel import load_head
    from backend.tracking import read_track

    saved = read_avatar(small_avatar)
    track = read_track(synthetic_track)
    head = load_head(track.meta["head"])
    clip = load_clip(track, head, int(saved.meta["resolution"]))
    frames = clip.train[20:23]
    background = torch.tensor(BACKGROUND)
    match = lambda refinement: psnr(render_frames(saved.gaussians, *refinement.frames(frames), head.triangles,
                                                  clip.K, clip.resolution, background)[0],
                                    clip.targets(frames, background))
    as_tracked = match(PerformanceRefinement(head, track, "cpu"))
    refinement = PerformanceRefinement(head, track, "cpu")
    refinement.pose_rotation[frames] += torch.tensor([0.0, 0.044, 0.0])
    refinement.pose_translation[frames] += torch.tensor([0.004, 0.0, 0.0])
    perturbed = match(refinement)
    before = {name: tensor.detach().clone() for name, tensor in saved.gaussians.tensors().items()}
    track_frames(saved.gaussians, clip, head.triangles, refinement, frames, ssim_weight=0.2)
    assert match(refinement) > max(perturbed + 0.4, as_tracked), (as_tracked, perturbed, match(refinement))
    assert all(torch.equal(before[name], tensor) for name, tensor in saved.gaussians.tensors().items())
    untouched = [f for f in range(len(track.found)) if f not in frames]
    assert refinement.rotation[untouched].abs().max() == 0 and refinement.code.abs().max() == 0


def test_corrections_between_tracked_frames_are_interpolated(synthetic_track, head):
    from backend.avatar.refine import PerformanceRefinement
    from backend.tracking import read_track

    refinement = PerformanceRefinement(head, read_track(synthetic_track), "cpu")
    with torch.no_grad():
        refinement.rotation[[10, 20]] = torch.tensor([[0.0, 0.02, 0.0], [0.0, 0.04, 0.0]])
        refinement.code[[10, 20], 3] = torch.tensor([0.1, 0.3])
    refinement.fill_between([10, 20], [8, 10, 15, 18, 20, 25])
    torch.testing.assert_close(refinement.rotation[[8, 10, 15, 18, 20, 25], 1],
                               torch.tensor([0.02, 0.02, 0.03, 0.036, 0.04, 0.04]))
    torch.testing.assert_close(refinement.code[15, 3], torch.tensor(0.2))
    assert refinement.rotation[[9, 21]].abs().max() == 0 and refinement.translation.abs().max() == 0
