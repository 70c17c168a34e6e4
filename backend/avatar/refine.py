"""Joint refinement of the tracked performance while the avatar fits.

Landmark tracking leaves a degree or two of head-pose error and some code error per frame; the
photometric loss sees it. `PerformanceRefinement` learns a small correction per training frame
(head rotation and translation, expression codes, the body's turn about the neck) and a head
rotation and translation per unit of each tracked code, shared by all frames; its own optimiser
(FrameAdam: a frame's corrections move only on the steps that train on it), small learning rates
and an L2 pull back to the track. Held-out frames are never fitted on; once the avatar is fitted,
`track_frames` tracks them photometrically against it (the avatar and the shared corrections
frozen, only their own corrections move), as a photometric tracker would have before the fit.
Shapes: F tracked frames, E codes, V vertices.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ..headmodel.lbs import axis_angle_to_matrix
from .clip import body_rotation


@dataclasses.dataclass
class RefinementSettings:
    enabled: bool = True
    rotation_rate: float = 3e-3  # radians per step of a frame (FrameAdam: a frame moves only when it is trained on)
    body_rate: float = 3e-3  # radians per step of a frame: the shoulders' turn about the neck
    translation_rate: float = 1e-3  # metres per step of a frame
    expression_rate: float = 1e-2
    code_pose_rate: float = 1e-3  # radians (translation: a tenth, in metres) per code unit per step, shared
    weight: float = 1.0  # L2 on the pose corrections, in radians and metres / 10 mm
    code_weight: float = 1.0  # L2 on the code corrections, in code units
    # L2 on the code-driven corrections, in the pose's units. Unpulled, rarely shown codes grew 5 degrees and
    # 15 mm per unit; expressive_480, 256 px, 500 s, held-out masked: 19.86 dB without them, 19.87 unpulled, 20.24 at 1
    code_pose_weight: float = 1.0


# Tracking frames against a fitted avatar: pose, body turn and codes, with the fit's steps and a
# looser pull to the track than while fitting (the avatar no longer moves under it). This is what a
# photometric tracker that saw these frames gives (the protocol of the published avatars' held-out
# figures); freeing the codes raised held-out PSNR on address_512 from 24.2 to 25.0 dB (pose only)
# and moved the demo clip's codes little from the truth (error 0.043 -> 0.046). Reenactments still
# drive the avatar with the tracked codes, and evaluate reports PSNR with the landmark track too.
# The pose is pulled far less than the codes: the landmark track's pose is off by degrees, its codes by
# less. Held-out masked PSNR, one avatar each (tools/heldout_tracking.py), pose / code weight 0.1 / 0.1
# -> 0.001 / 0.1: address_512 25.57 -> 26.00 dB, expressive_480 20.31 -> 21.08, the demo clip 31.24 ->
# 31.52 with its codes' error unchanged (0.044). Codes pulled at 0.001 too: +0.06 to 0.14 dB more, but the
# demo's code error rises to 0.069 (the codes start to explain what the avatar renders wrong); nothing
# pulled: 25.29 on address_512.
FRAME_TRACKING = dataclasses.replace(RefinementSettings(), weight=0.001, code_weight=0.1)
FRAME_TRACKING_RESOLUTION = 256  # pixels: frames are tracked at most this large (128 left the hair outline too coarse to pin the pose)
# Each step renders the avatar once with its gradient. A run of frames gets about FRAME_TRACKING_BUDGET steps:
# FRAME_TRACKING_STEPS per frame on a short run, down to FRAME_TRACKING_MIN_STEPS on a long one (each frame
# starts from the last one's corrections), and past FRAME_TRACKING_KEYS frames evenly spread keys are tracked
# and the rest interpolated. Corrections change from one frame to the next more than interpolation follows:
# expressive_480's 152 held-out frames, one avatar: 60 keys x 20 steps 19.84 dB, 120 x 10 19.92, all x 10 20.11.
# address_512's 30, one avatar: 20 steps each 25.54 dB (100 s), 40 steps 25.68 (180 s), 60 steps 25.72 (230 s);
# within a fixed 15 minutes the 80 s for 40 steps cost the fit about what they gain, so 20 it stays.
FRAME_TRACKING_BUDGET = 1200
FRAME_TRACKING_STEPS = 20
FRAME_TRACKING_MIN_STEPS = 10
FRAME_TRACKING_KEYS = 160


def tracking_plan(count: int) -> tuple[int, int]:
    """(frames tracked, steps for each) when tracking a run of `count` frames."""
    steps = FRAME_TRACKING_BUDGET // max(count, 1)
    return min(count, FRAME_TRACKING_KEYS), min(FRAME_TRACKING_STEPS, max(FRAME_TRACKING_MIN_STEPS, steps))


class PerformanceRefinement(torch.nn.Module):
    """Per-frame corrections on top of a track, posing the head model for one frame at a time."""

    def __init__(self, head, track, device: str):
        super().__init__()
        self.head = head
        as_tensor = lambda a: torch.as_tensor(a, dtype=torch.float32, device=device)
        self.register_buffer("identity", as_tensor(track.identity))
        self.register_buffer("expression", as_tensor(track.expression))  # [F, E]
        self.register_buffer("joint_rotations", as_tensor(track.joint_rotations))
        self.register_buffer("pose_rotation", as_tensor(track.pose_rotation))
        self.register_buffer("pose_matrix", axis_angle_to_matrix(self.pose_rotation))  # [F, 3, 3]
        self.register_buffer("pose_translation", as_tensor(track.pose_translation))
        self.register_buffer("body_rotation", as_tensor(body_rotation(track)))
        F, E = self.expression.shape
        self.rotation = torch.nn.Parameter(torch.zeros(F, 3, device=device))
        self.translation = torch.nn.Parameter(torch.zeros(F, 3, device=device))
        self.code = torch.nn.Parameter(torch.zeros(F, E, device=device))
        # The body's turn about the neck: the track gives the whole clip one (clip.body_rotation), but
        # shoulders shrug and turn a little while a person talks; unmatched, their outline misses the matte.
        self.body = torch.nn.Parameter(torch.zeros(F, 3, device=device))
        # A landmark track tilts and shifts the head a little as the face moves (the detector's points and
        # the model's slide differently with each code): a rigid correction per unit of each tracked code,
        # shared by all frames, so it learns from every step where the per-frame ones see their frame a few times.
        self.code_rotation = torch.nn.Parameter(torch.zeros(E, 3, device=device))
        self.code_translation = torch.nn.Parameter(torch.zeros(E, 3, device=device))
        # Rotations turn about the face (its rest centroid), not the model origin behind it: about the
        # origin a small turn and a sideways shift look alike and Adam crawls along that valley.
        self.register_buffer("pivot", head.template[head.part_mask("face")].mean(0).to(device)
                             if "face" in head.part_names else head.template.mean(0).to(device))

    def frame_corrections(self) -> dict[str, torch.Tensor]:
        """The per-frame corrections [F, ...] by name."""
        return {"rotation": self.rotation, "translation": self.translation, "code": self.code, "body": self.body}

    def shared_corrections(self) -> dict[str, torch.Tensor]:
        """The code-driven corrections [E, 3] by name."""
        return {"code_rotation": self.code_rotation, "code_translation": self.code_translation}

    def corrections(self) -> dict[str, torch.Tensor]:
        """All corrections by name, per frame and shared (what a checkpoint keeps)."""
        return {**self.frame_corrections(), **self.shared_corrections()}

    def load_corrections(self, saved: dict[str, torch.Tensor]) -> None:
        """Take the corrections of a checkpoint; ValueError when they belong to another track."""
        for name, correction in self.corrections().items():
            if name not in saved or saved[name].shape != correction.shape:
                raise ValueError(f"the saved {name} corrections do not match this track's frames and codes")
        with torch.no_grad():
            for name, correction in self.corrections().items():
                correction.copy_(saved[name])

    def optimizer(self, settings: RefinementSettings) -> torch.optim.Optimizer:
        """FrameAdam over all corrections (the frozen ones, without gradients, stay where they are)."""
        return FrameAdam([{"params": [self.rotation], "lr": settings.rotation_rate},
                          {"params": [self.translation], "lr": settings.translation_rate},
                          {"params": [self.code], "lr": settings.expression_rate},
                          {"params": [self.body], "lr": settings.body_rate},
                          {"params": [self.code_rotation], "lr": settings.code_pose_rate},
                          {"params": [self.code_translation], "lr": settings.code_pose_rate / 10}])

    def frame(self, f: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(posed vertices [V, 3], expression codes [E]) of frame f with its corrections."""
        expression = (self.expression[f] + self.code[f]).clamp(0, 1)
        rotation = self.pose_rotation[f] + self.rotation[f] + self.expression[f] @ self.code_rotation
        turned = self.pose_matrix[f] - axis_angle_to_matrix(rotation)
        translation = (self.pose_translation[f] + self.translation[f] + self.expression[f] @ self.code_translation
                       + turned @ self.pivot)
        posed = self.head.on_neck(self.identity, rotation[None], translation[None], self.body_rotation + self.body[f],
                                  self.joint_rotations[f:f + 1])
        return self.head(identity=self.identity, expression=expression[None], **posed).vertices[0], expression

    def frames(self, frames: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """(posed vertices [C, V, 3], codes [C, E]) of `frames` with their corrections, no gradients."""
        with torch.no_grad():
            vertices, codes = zip(*[self.frame(f) for f in frames])
        return torch.stack(vertices), torch.stack(codes)

    def start_from(self, source: int, f: int) -> None:
        """Set frame f's corrections to frame `source`'s."""
        with torch.no_grad():
            for correction in self.frame_corrections().values():
                correction[f] = correction[source]

    def fill_between(self, keys: list[int], frames: list[int]) -> None:
        """Set the corrections of `frames` by linear interpolation, in frame number, between those
        of `keys` (ascending; outside their span the nearest key's)."""
        from ..tracking.photometric import interpolate_keys

        with torch.no_grad():
            for correction in self.frame_corrections().values():
                filled = interpolate_keys(frames, keys, correction[keys].cpu().numpy())
                correction[frames] = torch.as_tensor(filled, dtype=correction.dtype, device=correction.device)

    def penalty(self, f: int, settings: RefinementSettings) -> torch.Tensor:
        pose = (self.rotation[f].square().sum() + self.body[f].square().sum()
                + (100 * self.translation[f]).square().sum())
        shared = self.code_rotation.square().sum() + (100 * self.code_translation).square().sum()
        return (settings.weight * pose + settings.code_weight * self.code[f].square().mean()
                + settings.code_pose_weight * shared)


class FrameAdam(torch.optim.Optimizer):
    """Adam for per-frame corrections [F, ...] of which each step touches a frame or two: only the
    rows that got a gradient move, each with its own step count. Dense Adam moves every row on
    every step by its decaying momentum, so a frame seen once in a hundred steps went on drifting
    for dozens of steps after each visit, many times further than its learning rate says."""

    def __init__(self, groups, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        super().__init__(groups, {"betas": betas, "eps": eps})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for parameter in group["params"]:
                if parameter.grad is None:
                    continue
                grad = parameter.grad.reshape(len(parameter), -1)
                rows = grad.ne(0).any(-1).nonzero()[:, 0]
                if not len(rows):
                    continue
                state = self.state[parameter]
                if not state:
                    state.update(mean=torch.zeros_like(grad), square=torch.zeros_like(grad),
                                 count=torch.zeros(len(grad), dtype=grad.dtype, device=grad.device))
                count = state["count"][rows] + 1
                mean = beta1 * state["mean"][rows] + (1 - beta1) * grad[rows]
                square = beta2 * state["square"][rows] + (1 - beta2) * grad[rows].square()
                state["count"][rows], state["mean"][rows], state["square"][rows] = count, mean, square
                unbiased_mean = mean / (1 - beta1 ** count)[:, None]
                unbiased_square = square / (1 - beta2 ** count)[:, None]
                update = group["lr"] * unbiased_mean / (unbiased_square.sqrt() + group["eps"])
                parameter.view(len(parameter), -1)[rows] -= update
        return None


def track_frames(avatar, clip, triangles: torch.Tensor, refinement: PerformanceRefinement, frames: list[int],
                 ssim_weight: float, settings: RefinementSettings = FRAME_TRACKING, step=lambda: None) -> None:
    """Fit `refinement`'s corrections of `frames` (in clip order) to their images (avatar.Clip) with
    the avatar and the code-driven corrections frozen: as many frames, for as many steps each, as
    tracking_plan says, and the corrections of untracked frames in between interpolated. Each tracked
    frame starts from the previous one's corrections and gets a fresh Adam, so the corrections of
    frames not in `frames` stay as they are."""
    from ..render import rasterize
    from ..tracking.photometric import key_frames
    from .clip import BACKGROUND
    from .losses import photometric

    background = torch.tensor(BACKGROUND, device=clip.K.device)
    viewmat = torch.eye(4, device=clip.K.device)[None]
    size = min(clip.resolution, FRAME_TRACKING_RESOLUTION)
    K = clip.K.clone()
    K[:2] *= size / clip.resolution
    frozen = [p for p in (*avatar.parameters(), *refinement.shared_corrections().values()) if p.requires_grad]
    count, steps = tracking_plan(len(frames))
    keys = [frames[i] for i in key_frames(np.ones(len(frames), bool), count)]
    for parameter in frozen:
        parameter.requires_grad_(False)
    try:
        for previous, f in zip([None, *keys], keys):
            if previous is not None:
                refinement.start_from(previous, f)
            optimizer = refinement.optimizer(settings)
            target = torch.nn.functional.interpolate(clip.targets([f], background).permute(0, 3, 1, 2), (size, size),
                                                     mode="area").permute(0, 2, 3, 1)
            for _ in range(steps):
                vertices, expression = refinement.frame(f)
                posed = avatar.pose(vertices, triangles, expression)
                rgb = rasterize(posed.means, posed.quats, posed.scales, posed.opacities, posed.sh, viewmat, K[None],
                                size, size, sh_degree=avatar.sh_degree, background=background[None]).rgb
                (photometric(clip.only_footage(rgb, target), target, ssim_weight)
                 + refinement.penalty(f, settings)).backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            step()
    finally:
        for parameter in frozen:
            parameter.requires_grad_(True)
    refinement.fill_between(keys, frames)
