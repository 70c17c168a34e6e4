"""Fit the head model to 2D landmarks of a whole clip at once.

One identity, one focal length and one small per-landmark correction (the detector's idea of
a landmark and the model's differ by a fixed amount) for the clip; per frame the ARKit codes
in [0, 1] and the head pose. Robust (Charbonnier) reprojection loss, priors, temporal
smoothness; all frames in one batch, so it costs a few hundred small tensor steps.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ..headmodel.lbs import axis_angle_to_matrix, matmul3
from ..headmodel.model import HeadModel
from ..headpose import matrix_to_axis_angle


# code -> the code it may not exceed. mouthClose closes the lips against an open jaw (ARKit uses it
# together with jawOpen): beyond jawOpen it pushes the lips through each other. Unbounded, the
# solver mixed the two to move the lower lip (mouthClose 0.08 too high and jawOpen 0.03 too low on
# synthetic clips), and the wrong jaw tilted the tracked head.
BOUNDED_CODES = {"mouthClose": "jawOpen"}


@dataclasses.dataclass
class SolverSettings:
    iterations: int = 125
    focal_candidates: tuple[float, ...] = (0.9, 1.3, 1.9, 2.8, 4.0)  # x image size, tried before the fit
    focal_trial_iterations: int = 40  # of the short fit that scores each candidate
    robust_scale_px: float = 1.0  # Charbonnier scale at 256 px
    identity_prior: float = 2e-3
    expression_l1: float = 0.03
    expression_smooth: float = 0.2
    pose_smooth: float = 1.0
    offset_prior: float = 0.05  # per mm^2 of landmark correction
    low_weight_landmarks: tuple[int, ...] = ()  # e.g. the face oval, whose semantics slide with yaw
    low_weight: float = 0.3
    baseline_quantile: float = 0.05  # codes' clip baseline, moved into the landmark corrections


@dataclasses.dataclass
class Fit:
    identity: np.ndarray  # [I]
    expression: np.ndarray  # [F, E]
    pose_rotation: np.ndarray  # [F, 3] axis-angle, model -> camera
    pose_translation: np.ndarray  # [F, 3] metres, camera space
    focal: float  # pixels at the working resolution
    landmark_offsets: np.ndarray  # [L, 3] metres, model space, per embedded landmark
    projected: np.ndarray  # [F, L, 2] fitted landmarks in pixels


def camera_matrix(focal: float, principal: np.ndarray) -> np.ndarray:
    return np.array([[focal, 0, principal[0]], [0, focal, principal[1]], [0, 0, 1]], np.float64)


def solve_pnp(model_points: np.ndarray, image_points: np.ndarray, valid: np.ndarray, focal: float, principal):
    """Per-frame rigid pose from neutral model landmarks; lost frames copy their nearest found frame."""
    import cv2

    F = len(image_points)
    rotations, translations = np.zeros((F, 3)), np.zeros((F, 3))
    K = camera_matrix(focal, principal)
    for f in np.flatnonzero(valid):
        ok, rvec, tvec = cv2.solvePnP(model_points.astype(np.float64), image_points[f].astype(np.float64), K, None,
                                      flags=cv2.SOLVEPNP_SQPNP)
        rotations[f], translations[f] = rvec[:, 0], tvec[:, 0]
    found = np.flatnonzero(valid)
    nearest = found[np.abs(np.arange(F)[:, None] - found[None, :]).argmin(1)]
    return rotations[nearest], translations[nearest]


def charbonnier(residual: torch.Tensor, scale: float) -> torch.Tensor:
    return scale * scale * (torch.sqrt(1 + (residual / scale) ** 2) - 1)


def project(points: torch.Tensor, focal: torch.Tensor, principal: torch.Tensor) -> torch.Tensor:
    """[F, L, 3] camera-space points -> [F, L, 2] pixels."""
    z = points[..., 2:].clamp_min(1e-3)
    return focal * points[..., :2] / z + principal


class ClipFit(torch.nn.Module):
    """The unknowns of one clip, and the loss they are fitted with."""

    def __init__(self, model: HeadModel, layout: str, rotations, translations, focal, principal, size, settings):
        super().__init__()
        F, L = len(rotations), len(model.landmark_indices(layout))
        self.model, self.layout, self.size, self.settings = model, layout, size, settings
        self.principal = torch.as_tensor(principal, dtype=torch.float32)
        self.base_rotation = axis_angle_to_matrix(torch.as_tensor(rotations, dtype=torch.float32))
        # Rotating about the face (not the model origin behind it) keeps rotation and translation
        # from trading off along a long narrow valley, which Adam would crawl along.
        self.pivot = model().landmarks[layout][0].mean(0).detach()
        self.delta_rotation = torch.nn.Parameter(torch.zeros(F, 3))
        start = torch.as_tensor(translations, dtype=torch.float32)
        self.face_translation = torch.nn.Parameter(start + (self.base_rotation * self.pivot).sum(-1))
        self.identity = torch.nn.Parameter(torch.zeros(model.num_identity))
        self.expression = torch.nn.Parameter(torch.full((F, model.num_expressions), 0.02))
        self.log_focal = torch.nn.Parameter(torch.tensor(float(np.log(focal))))
        self.offsets = torch.nn.Parameter(torch.zeros(L, 3))
        self.offset_anchor = torch.zeros(L, 3)  # what the offsets are pulled toward
        names = model.expression_names
        self.bounded = [(names.index(code), names.index(bound)) for code, bound in BOUNDED_CODES.items()
                        if code in names and bound in names]

    def rotation(self) -> torch.Tensor:
        return matmul3(axis_angle_to_matrix(self.delta_rotation), self.base_rotation)

    def translation(self) -> torch.Tensor:
        """[F, 3] model-origin translation: x_cam = R x + t."""
        return self.face_translation - (self.rotation() * self.pivot).sum(-1)

    def landmarks_camera(self) -> torch.Tensor:
        local = self.model(identity=self.identity, expression=self.expression).landmarks[self.layout]
        local = local + self.offsets - self.pivot
        return (local[..., None, :] * self.rotation()[:, None]).sum(-1) + self.face_translation[:, None]

    def loss(self, targets: torch.Tensor, weights: torch.Tensor, focal_fixed: bool) -> torch.Tensor:
        s = self.settings
        focal = self.log_focal.detach().exp() if focal_fixed else self.log_focal.exp()
        pixels = project(self.landmarks_camera(), focal, self.principal)
        scale = 256.0 / self.size
        residual = ((pixels - targets) * scale).nan_to_num(0.0)
        data = (charbonnier(residual, s.robust_scale_px).sum(-1) * weights).sum() / weights.sum().clamp_min(1)
        expression = self.expression
        prior = (s.identity_prior * (self.identity ** 2).sum()
                 + s.expression_l1 * expression.sum(-1).mean()
                 + s.expression_smooth * ((expression[1:] - expression[:-1]) ** 2).sum(-1).mean()
                 + s.pose_smooth * ((self.delta_rotation[1:] - self.delta_rotation[:-1]) ** 2).sum(-1).mean()
                 + s.pose_smooth * 100 * ((self.face_translation[1:] - self.face_translation[:-1]) ** 2).sum(-1).mean()
                 + s.offset_prior * (((self.offsets - self.offset_anchor) * 1000) ** 2).sum(-1).mean())
        return data + prior

    @torch.no_grad()
    def move_baseline_to_offsets(self, valid: np.ndarray, quantile: float) -> None:
        """A code that never drops to zero over the clip is explaining a fixed difference between
        the detector's landmarks and the model's, not a performance: move each code's baseline into
        the per-landmark corrections (and anchor them there), keeping the fit where it is."""
        baseline = torch.quantile(self.expression[torch.as_tensor(valid)], quantile, dim=0)
        with_baseline = self.model(identity=self.identity, expression=baseline[None]).landmarks[self.layout][0]
        without = self.model(identity=self.identity).landmarks[self.layout][0]
        self.offsets += with_baseline - without
        self.offset_anchor = self.offsets.detach().clone()
        self.expression -= baseline
        self.keep_codes_in_range()

    @torch.no_grad()
    def keep_codes_in_range(self) -> None:
        """Every code in [0, 1], and each of BOUNDED_CODES at most its bound."""
        self.expression.clamp_(0.0, 1.0)
        for code, bound in self.bounded:
            self.expression[:, code] = torch.minimum(self.expression[:, code], self.expression[:, bound])

    def optimise(self, targets, weights, iterations: int, focal_fixed: bool, step=None) -> None:
        groups = [{"params": [self.expression], "lr": 0.04}, {"params": [self.delta_rotation], "lr": 0.01},
                  {"params": [self.face_translation], "lr": 0.002}, {"params": [self.identity], "lr": 0.05},
                  {"params": [self.offsets], "lr": 0.0003}, {"params": [self.log_focal], "lr": 0.01}]
        optimiser = torch.optim.Adam(groups)
        iterations = max(iterations, 4)  # the one-cycle schedule needs a step up and a step down
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=[g["lr"] for g in groups],
                                                       total_steps=iterations, pct_start=max(0.1, 2 / iterations))
        for _ in range(iterations):
            optimiser.zero_grad(set_to_none=True)
            self.loss(targets, weights, focal_fixed).backward()
            optimiser.step()
            schedule.step()
            self.keep_codes_in_range()
            if step:
                step()


def fit_clip(head: HeadModel, layout: str, detected: np.ndarray, valid: np.ndarray, size: int, principal,
             focal: float | None = None, settings: SolverSettings = SolverSettings(), step=None) -> Fit:
    """detected [F, L_layout, 2] pixels at the working resolution (NaN where lost); valid [F];
    principal: the source image's centre in working pixels (the crop need not be centred on it)."""
    model = head.landmark_submodel(layout, np.arange(detected.shape[1]))
    index = model.landmark_indices(layout).numpy()
    targets = torch.as_tensor(detected[:, index], dtype=torch.float32)
    weights = torch.ones(len(index))
    weights[np.isin(index, settings.low_weight_landmarks)] = settings.low_weight
    weights = weights[None, :] * torch.as_tensor(valid, dtype=torch.float32)[:, None]
    neutral = model().landmarks[layout][0].numpy()
    focal_given = focal is not None
    if not focal_given:
        focal = choose_focal(model, layout, neutral, targets, weights, detected[:, index], valid, size, principal, settings)
    rotations, translations = solve_pnp(neutral, detected[:, index], valid, focal, principal)
    clip = ClipFit(model, layout, rotations, translations, focal, principal, size, settings)
    first = settings.iterations * 2 // 3
    clip.optimise(targets, weights, first, focal_fixed=focal_given, step=step)
    clip.move_baseline_to_offsets(valid, settings.baseline_quantile)
    clip.optimise(targets, weights, settings.iterations - first, focal_fixed=focal_given, step=step)
    with torch.no_grad():
        pixels = project(clip.landmarks_camera(), clip.log_focal.exp(), clip.principal)
        rotation = clip.rotation()
    return Fit(identity=clip.identity.detach().numpy().copy(), expression=clip.expression.detach().numpy().copy(),
               pose_rotation=matrix_to_axis_angle(rotation.numpy()), pose_translation=clip.translation().detach().numpy().copy(),
               focal=float(clip.log_focal.detach().exp()), landmark_offsets=clip.offsets.detach().numpy().copy(),
               projected=pixels.numpy())


def choose_focal(model, layout, neutral, targets, weights, detected, valid, size, principal, settings) -> float:
    """The focal length candidate that explains a sample of frames best after a short fit."""
    sample = np.flatnonzero(valid)[:: max(1, int(valid.sum()) // 40)]
    best, best_loss = None, np.inf
    for factor in settings.focal_candidates:
        focal = factor * size
        rotations, translations = solve_pnp(neutral, detected[sample], valid[sample], focal, principal)
        clip = ClipFit(model, layout, rotations, translations, focal, principal, size, settings)
        clip.optimise(targets[sample], weights[sample], settings.focal_trial_iterations, focal_fixed=True)
        with torch.no_grad():
            loss = float(clip.loss(targets[sample], weights[sample], focal_fixed=True))
        if loss < best_loss:
            best, best_loss = focal, loss
    return best
