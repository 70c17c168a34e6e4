"""Photometric tracking of frames against a fitted avatar (refine.track_frames)."""

import torch


def _fitted(synthetic_track, small_avatar):
    """(saved avatar, track, head model, clip at the avatar's resolution) of the small test avatar."""
    from backend.avatar.clip import load_clip
    from backend.avatar.file import read_avatar
    from backend.headmodel import load_head
    from backend.tracking import read_track

    saved = read_avatar(small_avatar)
    track = read_track(synthetic_track)
    head = load_head(track.meta["head"])
    return saved, track, head, load_clip(track, head, int(saved.meta["resolution"]))


def _match(saved, head, clip, refinement, frames) -> float:
    """PSNR of the avatar posed by `refinement` against the frames' images."""
    from backend.avatar.clip import BACKGROUND
    from backend.avatar.evaluate import render_frames
    from backend.avatar.losses import psnr

    background = torch.tensor(BACKGROUND)
    return psnr(render_frames(saved.gaussians, *refinement.frames(frames), head.triangles, clip.K, clip.resolution,
                              background)[0], clip.targets(frames, background))


def test_tracking_against_the_avatar_undoes_a_pose_error(synthetic_track, small_avatar):
    """Frames the avatar was fitted on, their head turned 2.5 degrees and moved 4 mm off: tracked
    against the avatar, they match their images better than before and than with the landmark track
    itself; the avatar and the other frames stay as they were."""
    from backend.avatar.refine import PerformanceRefinement, track_frames

    saved, track, head, clip = _fitted(synthetic_track, small_avatar)
    frames = clip.train[20:23]
    match = lambda refinement: _match(saved, head, clip, refinement, frames)
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
    assert refinement.rotation[untouched].abs().max() == 0 and refinement.code[untouched].abs().max() == 0
    assert refinement.code[frames].abs().max() > 0


def test_tracking_frames_lets_the_pose_leave_the_track_further_than_fitting_does(synthetic_track, small_avatar):
    """Held-out frames are tracked with the pose pulled to the landmark track far less than while
    fitting (refine.FRAME_TRACKING): a 3-degree turn of the track is undone further than with the
    fit's pull, and the avatar's render of the frames gets closer to them."""
    from backend.avatar.refine import FRAME_TRACKING, PerformanceRefinement, RefinementSettings, track_frames

    saved, track, head, clip = _fitted(synthetic_track, small_avatar)
    frames, turn = clip.train[30:33], 0.052

    def tracked(settings):
        refinement = PerformanceRefinement(head, track, "cpu")
        refinement.pose_rotation[frames] += torch.tensor([0.0, turn, 0.0])
        track_frames(saved.gaussians, clip, head.triangles, refinement, frames, ssim_weight=0.2, settings=settings)
        left = float((refinement.rotation[frames, 1].detach() + turn).abs().mean())
        return left, _match(saved, head, clip, refinement, frames)

    loose, pulled = tracked(FRAME_TRACKING), tracked(RefinementSettings())
    assert FRAME_TRACKING.weight < FRAME_TRACKING.code_weight
    # Measured: 0.016 rad of the 0.052 left, 20.0 dB; with the fit's pull 0.027 rad, 17.7 dB.
    assert loose[0] < 0.8 * pulled[0] and loose[1] > pulled[1], (loose, pulled)


def test_long_runs_track_every_frame_for_fewer_steps_up_to_a_cap():
    """A short run gets the full steps per frame; a longer one tracks every frame with fewer steps
    (about the same work in all); only past the cap are frames interpolated."""
    from backend.avatar.refine import FRAME_TRACKING_KEYS, FRAME_TRACKING_MIN_STEPS, FRAME_TRACKING_STEPS, tracking_plan

    assert tracking_plan(30) == (30, FRAME_TRACKING_STEPS)
    frames, steps = tracking_plan(152)
    assert frames == 152 and FRAME_TRACKING_MIN_STEPS <= steps < FRAME_TRACKING_STEPS
    assert tracking_plan(5000) == (FRAME_TRACKING_KEYS, FRAME_TRACKING_MIN_STEPS)


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


def test_frame_adam_moves_only_the_frames_it_was_given():
    """Per-frame corrections, one frame stepped at a time: that frame's row follows plain Adam on
    it alone, and frames stepped earlier stay where their last step left them (dense Adam would
    carry them on with their momentum)."""
    from backend.avatar.refine import FrameAdam

    generator = torch.Generator().manual_seed(0)
    corrections = torch.nn.Parameter(torch.zeros(6, 3))
    alone = torch.nn.Parameter(torch.zeros(1, 3))
    frame_adam, adam = FrameAdam([{"params": [corrections], "lr": 0.01}]), torch.optim.Adam([alone], lr=0.01)
    targets = torch.randn(6, 3, generator=generator)
    for visit in range(8):
        for f in (1, 4):
            ((corrections[f] - targets[f]) ** 2).sum().backward()
            frame_adam.step()
            frame_adam.zero_grad(set_to_none=True)
        ((alone[0] - targets[4]) ** 2).sum().backward()
        adam.step()
        adam.zero_grad(set_to_none=True)
    assert torch.allclose(corrections[4], alone[0], atol=1e-6)
    after_visits = corrections.detach().clone()
    for _ in range(20):  # only frame 4 from now on
        ((corrections[4] - targets[4]) ** 2).sum().backward()
        frame_adam.step()
        frame_adam.zero_grad(set_to_none=True)
    assert torch.equal(corrections[1], after_visits[1]) and corrections[1].abs().min() > 0
    assert corrections[[0, 2, 3, 5]].abs().max() == 0


def test_a_body_correction_turns_the_shoulders_and_leaves_the_head(synthetic_track, head):
    """The body's per-frame turn about the neck moves what the neck does not carry (the base of the
    neck, towards the shoulders) and leaves the face where the head pose puts it."""
    from backend.avatar.refine import PerformanceRefinement
    from backend.tracking import read_track

    refinement = PerformanceRefinement(head, read_track(synthetic_track), "cpu")
    before, neighbour = refinement.frames([12, 11])[0]
    with torch.no_grad():
        refinement.body[12] = torch.tensor([0.0, 0.0, 0.05])
    after, neighbour_after = refinement.frames([12, 11])[0]
    moved = (after - before).norm(dim=-1)
    assert moved[head.part_mask("face")].max() < 1e-5
    assert moved[head.part_mask("neck")].max() > 1e-3
    assert torch.equal(neighbour_after, neighbour)  # the correction is frame 12's alone
    assert "body" in refinement.corrections()


def test_a_tilt_that_follows_a_code_is_learned_for_frames_never_trained_on(synthetic_track, small_avatar):
    """A track whose head tilts with one code (as landmark tracks do when the face moves): training
    with the avatar frozen learns the code's share of the correction from the training frames, and
    the held-out frames, which no step sees, get closer to their images by it."""
    import dataclasses

    from backend.avatar.densify import SurfaceDensification
    from backend.avatar.fit import FitConfig, LearningRates, expression_regions, train
    from backend.avatar.refine import PerformanceRefinement, RefinementSettings
    from backend.progress import Progress

    saved, track, head, clip = _fitted(synthetic_track, small_avatar)
    refinement = PerformanceRefinement(head, track, "cpu")
    code = int(refinement.expression[clip.train].std(0).argmax())
    weight = refinement.expression[:, code] / refinement.expression[:, code].max()
    with torch.no_grad():
        refinement.pose_rotation += weight[:, None] * torch.tensor([0.0, 0.08, 0.0])
    held_out = clip.heldout
    match = lambda: _match(saved, head, clip, refinement, held_out)
    tilted = match()
    frozen = LearningRates(**{name: 0.0 for name in dataclasses.asdict(LearningRates()) if name != "final_fraction"})
    config = FitConfig(iterations=150, learning_rates=frozen, refinement=RefinementSettings(code_pose_weight=0.0),
                       densify=dataclasses.replace(SurfaceDensification(), refine_stop=0))  # the mechanism, unpulled
    train(saved.gaussians, clip, head.triangles, expression_regions(head), refinement, config, Progress("none"), 0,
          0.0, lambda *_: None)
    assert refinement.rotation[held_out].abs().max() == 0  # only the shared correction moved them
    assert refinement.code_rotation[code, 1] < -0.02, refinement.code_rotation[code]
    assert match() > tilted + 0.3, (tilted, match())
