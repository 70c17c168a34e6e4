"""`fit`: a tracked clip (or a video, tracked first) in, DIR/avatar.safetensors + metrics out.

    from backend.avatar.fit import fit, FitConfig
    outputs = fit("track_dir_or_video.mp4", "out/", FitConfig(iterations=2000))

Gaussians go only where the training frames can see the surface (observed.fitted_triangles), so
none learns to show the face through the back of the head. The loop: one random training frame
per step, render and matted frame both over a random background colour, compared with L1 + D-SSIM (sRGB),
the render's alpha with the matte (L1; neither counts the crop's padding past the source frame),
plus regularisers on offsets, scales and the expression offsets; densification by
`SurfaceDensification`; the training frames' tracked pose, codes and body turn are refined alongside
(`refine.PerformanceRefinement`). DIR/checkpoint.safetensors (the Gaussians and those corrections)
is rewritten atomically every `checkpoint_seconds`, so a kill leaves a valid one for `resume=True`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import torch

from ..errors import BackendError
from ..progress import Progress
from .clip import Clip, load_clip
from .densify import SurfaceDensification
from .file import AVATAR_FILE, read_avatar, write_avatar
from .losses import l1, photometric
from .model import GaussianAvatar, initial_avatar, moving_offsets
from .refine import PerformanceRefinement, RefinementSettings, track_frames, tracking_plan

CHECKPOINT_FILE = "checkpoint.safetensors"
# After the 360-degree completion the whole avatar trains on for this share of the budget,
# densification off: the fills the training views do see (edge-on, at the silhouette) are fitted to
# them (left as completed they stick out past it, a bright or dark rim around the head), the unseen
# ones get no gradient and stay as completed.
POLISH_FRACTION = 0.15
# Densification stops once this share of a training run's iterations or time budget is spent
# (counting iterations alone, a time-budgeted fit densified to its end, never settling).
DENSIFY_FRACTION = 0.6


@dataclasses.dataclass
class LearningRates:
    offsets: float = 3e-3  # triangle units; decays to `final_fraction` of itself
    rotations: float = 3e-3
    log_scales: float = 1e-2
    opacity_logits: float = 5e-2
    sh: float = 1e-2
    expression_offsets: float = 1e-2  # they absorb much of the tracking error: +2 to 3 dB held out
    final_fraction: float = 0.1  # offsets' learning rate at the end, relative to the start


@dataclasses.dataclass
class Regularisation:
    ssim_weight: float = 0.2  # loss = (1 - w) L1 + w D-SSIM + the terms below
    offset_margin: float = 1.0  # offsets longer than this many triangle sizes are penalised
    offset_weight: float = 0.01
    scale_margin: float = 3.0  # scales larger than this many triangle sizes are penalised
    scale_weight: float = 1.0
    expression_weight: float = 0.1  # L2 on the expression offsets
    # L1 between the render's alpha and the matte: sharper silhouettes. address_512, 256 px, 760 s:
    # held-out masked 25.05 / 25.35 / 25.47 dB at 0.5 / 1.5 / 3 (on the matte's outline 17.6 / 18.3 / 18.7);
    # at 3 the brief 64 px test avatar's jawOpen moves a few pixels of the cheek's edge at eye height
    matte_weight: float = 1.5


@dataclasses.dataclass
class FitConfig:
    iterations: int = 3000
    time_budget: float | None = None  # seconds of fitting; stops early when spent
    resolution: int | None = None  # default: the track's working resolution
    head: str = "default"  # head model for tracking a video (a track folder keeps its own)
    sh_degree: int = 1  # view-dependent colour in the triangles' frames: the shading of a turning head
    initial_gaussians: int = 6000
    device: str = "cpu"
    seed: int = 0
    checkpoint_seconds: float = 30.0
    complete: bool = True  # fill the head's surfaces the footage never saw (complete.py)
    densify: SurfaceDensification = dataclasses.field(default_factory=SurfaceDensification)
    learning_rates: LearningRates = dataclasses.field(default_factory=LearningRates)
    regularisation: Regularisation = dataclasses.field(default_factory=Regularisation)
    refinement: RefinementSettings = dataclasses.field(default_factory=RefinementSettings)


def fit(source: str | Path, out_dir: str | Path, config: FitConfig = FitConfig(), progress: Progress | None = None,
        resume: bool = False) -> dict[str, Path]:
    """Fit an avatar to a track folder (or a video, tracked into out_dir/track first)."""
    from ..headmodel import load_head
    from ..tracking import read_track
    from .complete import complete_avatar
    from .evaluate import evaluate
    from .maps import rest_vertices
    from .observed import encode_cosines, fitted_triangles, view_cosines

    progress = progress or Progress("none")
    out_dir = Path(out_dir)
    if config.device == "cuda" and not torch.cuda.is_available():
        raise BackendError("--device cuda was asked for but torch sees no CUDA device. Use --device cpu.")
    track_folder = _track_folder(Path(source), out_dir, config, progress)
    track = read_track(track_folder)
    head = load_head(track.meta["head"])
    with progress.stage("load frames"):
        clip = load_clip(track, head, config.resolution or track.size, config.device)
    if not track.found.all():
        progress.warn(f"{int((~track.found).sum())} frames were lost during tracking; they are skipped")
    cosines = view_cosines(clip.vertices[clip.train], head.triangles, clip.K, clip.footage)
    fitted = torch.as_tensor(fitted_triangles(head, cosines), device=config.device)
    refinement = PerformanceRefinement(head, track, config.device) if config.refinement.enabled else None
    avatar, done, spent = _start(out_dir / CHECKPOINT_FILE, clip, head, config, resume, fitted, refinement)
    identity = torch.as_tensor(track.identity)
    save = lambda path, state=None, **extra: write_avatar(path, avatar, identity, track.meta["head"],
                                                          head.expression_names, clip.resolution, state,
                                                          training_view=training_view(track, clip), **extra)
    triangles, regions = head.triangles.to(config.device), expression_regions(head)
    train_on = lambda avatar, config, done, spent, checkpoint: train(
        avatar, clip, triangles, regions, refinement, config, progress, done, spent, checkpoint)
    iterations, seconds = train_on(avatar, _share(config, 1 - POLISH_FRACTION if config.complete else 1), done, spent,
                                   lambda iteration, elapsed: save(
                                       out_dir / CHECKPOINT_FILE, refinement.corrections() if refinement else None,
                                       iteration=iteration, seconds=elapsed))
    if config.complete:
        with progress.stage("complete"):
            avatar = complete_avatar(avatar.cpu(), head, rest_vertices(head, identity), cosines).to(config.device)
        polish = dataclasses.replace(_share(config, POLISH_FRACTION), densify=dataclasses.replace(
            config.densify, refine_stop=0))
        polished, polish_seconds = train_on(avatar, polish, 0, 0.0, lambda *_: None)
        iterations, seconds = iterations + polished, seconds + polish_seconds
    outputs = {"avatar": save(out_dir / AVATAR_FILE, iterations=iterations, seconds=seconds,
                              triangle_view_cosines=encode_cosines(cosines)),
               "tracking_dir": track_folder}
    if refinement and clip.heldout:
        with progress.stage("track held-out frames", total=tracking_plan(len(clip.heldout))[0]) as step:
            track_frames(avatar, clip, triangles, refinement, clip.heldout, config.regularisation.ssim_weight,
                         step=step)
    with progress.stage("evaluate"):
        outputs.update(evaluate(avatar, clip, triangles, out_dir, config.device,
                                {"iterations": iterations, "wall_seconds": round(seconds, 1)},
                                fps=float(track.meta["fps"]), refinement=refinement))
    return outputs


def _share(config: FitConfig, fraction: float) -> FitConfig:
    """`config` with `fraction` of its iterations and time budget."""
    budget = None if config.time_budget is None else config.time_budget * fraction
    return dataclasses.replace(config, iterations=max(1, round(config.iterations * fraction)), time_budget=budget)


def training_view(track, clip: Clip) -> dict:
    """What renders of performances use: the rotation the body keeps while the head turns on the neck
    (clip.body_rotation, axis-angle [3]) and, for performances without a camera or head position (a
    Live Link Face CSV), the training camera K [3, 3] at the avatar's resolution, the mean head
    position [3] over the training frames (metres, camera frame) and the clip's frame rate."""
    return {"K": clip.K.cpu().tolist(), "head_position": track.pose_translation[clip.train].mean(0).tolist(),
            "fps": float(track.meta.get("source_fps", track.meta["fps"])), "body_rotation": clip.body_rotation.tolist()}


def _track_folder(source: Path, out_dir: Path, config: FitConfig, progress: Progress) -> Path:
    from ..tracking import TrackOptions, track
    from ..tracking.trackfile import TRACK_FILE

    if source.is_dir() or source.suffix == ".safetensors":
        return source
    folder = out_dir / "track"
    if not (folder / TRACK_FILE).is_file():
        track(source, folder, TrackOptions(head=config.head, size=config.resolution or 512, device=config.device,
                                             overlay=False), progress)
    return folder


def _start(checkpoint: Path, clip: Clip, head, config: FitConfig, resume: bool, fitted: torch.Tensor,
           refinement: PerformanceRefinement | None) -> tuple[GaussianAvatar, int, float]:
    """(avatar, iterations done, seconds spent): from the checkpoint when resuming (with the training
    frames' corrections it kept loaded into `refinement`), else fresh Gaussians on the `fitted` [T]
    bool triangles."""
    if resume and checkpoint.is_file():
        saved = read_avatar(checkpoint, config.device)
        if saved.meta["resolution"] != clip.resolution or saved.meta["sh_degree"] != config.sh_degree:
            raise BackendError(f"{checkpoint} was fitted with another resolution or SH degree; "
                               "resume with the same options, or fit into a new folder.")
        if refinement is not None and saved.state:
            try:
                refinement.load_corrections(saved.state)
            except ValueError as error:
                raise BackendError(f"{checkpoint}: {error}; it was fitted from another track or by an earlier version. "
                                   "Resume with the same track, or fit into a new folder.") from None
        return saved.gaussians, int(saved.meta["iteration"]), float(saved.meta["seconds"])
    colours = None if head.vertex_colors is None else head.vertex_colors.to(config.device)
    rest = clip.vertices[clip.train[0]]
    avatar = initial_avatar(rest, head.triangles.to(config.device), config.initial_gaussians, config.sh_degree,
                            head.num_expressions, colours, config.seed, fitted)
    return avatar, 0, 0.0


def train(avatar: GaussianAvatar, clip: Clip, triangles: torch.Tensor, regions: torch.Tensor,
          refinement: PerformanceRefinement | None, config: FitConfig, progress: Progress, done: int, spent: float,
          checkpoint) -> tuple[int, float]:
    """Optimise `avatar` in place from iteration `done`; returns (iterations, seconds) at the end.
    regions [T, E]: where each code may move Gaussians (expression_regions); `refinement` corrects the
    training frames' tracked pose and codes alongside (None: the track as it is).

    Each step composites the frame and the render over a new random background colour, so the avatar
    must be as opaque as the matte says: over a fixed one a half-transparent face looks right, and
    then shows what lies behind it (the completed back of the head) once the head is whole."""
    from ..render import rasterize

    optimizer = torch.optim.Adam([{"params": [getattr(avatar, name)], "lr": lr, "name": name}
                                  for name, lr in dataclasses.asdict(config.learning_rates).items()
                                  if name != "final_fraction"], eps=1e-15, fused=True)
    densify = config.densify
    state = densify.initialize_state(avatar, clip.vertices[clip.train[0]], triangles)
    optimizers = [optimizer, *([refinement.optimizer(config.refinement)] if refinement else [])]
    generator = torch.Generator().manual_seed(config.seed + done)
    started, last_save = time.perf_counter() - spent, time.perf_counter()
    iteration = done
    with torch.no_grad():  # a completed or resumed avatar may carry offsets outside the regions; none grow there
        avatar.expression_offsets *= regions[avatar.triangle][..., None]
    paired, moving = None, None
    with progress.stage("optimise", total=config.iterations) as step:
        step(done)
        while iteration < config.iterations and not _out_of_time(started, config):
            iteration += 1
            fraction = _fraction_done(iteration, started, config)
            _schedule(optimizer, config, fraction)
            if fraction >= DENSIFY_FRACTION and densify.refine_stop > iteration:
                densify = dataclasses.replace(densify, refine_stop=iteration)
            frame = clip.train[int(torch.randint(len(clip.train), (1,), generator=generator))]
            vertices, expression = refinement.frame(frame) if refinement else (clip.vertices[frame],
                                                                                  clip.expression[frame])
            if paired is not avatar.triangle:  # densification replaced the Gaussians
                paired, moving = avatar.triangle, moving_offsets(regions[avatar.triangle])
            posed = avatar.pose(vertices, triangles, expression, moving)
            background = torch.rand(3, generator=generator).to(clip.K.device)
            raster = rasterize(posed.means, posed.quats, posed.scales, posed.opacities, posed.sh,
                               torch.eye(4, device=clip.K.device)[None], clip.K[None], clip.resolution,
                               clip.resolution, sh_degree=avatar.sh_degree, background=background[None])
            raster.means2d.retain_grad()
            target, matte = clip.targets([frame], background), clip.masks[[frame]]
            loss = (photometric(clip.only_footage(raster.rgb, target), target, config.regularisation.ssim_weight)
                    + config.regularisation.matte_weight * l1(clip.only_footage(raster.alpha[..., 0], matte), matte)
                    + regularisers(avatar, config))
            if refinement:
                loss = loss + refinement.penalty(frame, config.refinement)
            loss.backward()
            with torch.no_grad():
                densify.step_post_backward(avatar, optimizer, state, iteration, raster.means2d.grad, raster.radii,
                                           clip.resolution, clip.resolution)
            for each in optimizers:
                each.step()
                each.zero_grad(set_to_none=True)
            step()
            if time.perf_counter() - last_save > config.checkpoint_seconds:
                checkpoint(iteration, time.perf_counter() - started)
                last_save = time.perf_counter()
    checkpoint(iteration, time.perf_counter() - started)
    return iteration, time.perf_counter() - started


def expression_regions(head, threshold: float = 1e-4) -> torch.Tensor:
    """[T, E] bool: the triangles each code moves (by its shape or the joints it turns). A Gaussian's
    offset for a code stays zero elsewhere, so a code only ever changes its own part of the face."""
    with torch.no_grad():
        codes = torch.eye(head.num_expressions + 1, head.num_expressions, device=head.template.device).roll(1, 0)
        vertices = head(expression=codes).vertices
        moved = (vertices[1:] - vertices[:1]).norm(dim=-1) > threshold  # [E, V]
    return moved[:, head.triangles].any(-1).T


def regularisers(avatar: GaussianAvatar, config: FitConfig) -> torch.Tensor:
    r = config.regularisation
    offsets = torch.relu(avatar.offsets.norm(dim=-1) - r.offset_margin).mean()
    scales = torch.relu(avatar.log_scales.exp() - r.scale_margin).mean()
    return r.offset_weight * offsets + r.scale_weight * scales


def _out_of_time(started: float, config: FitConfig) -> bool:
    return config.time_budget is not None and time.perf_counter() - started >= config.time_budget


def _fraction_done(iteration: int, started: float, config: FitConfig) -> float:
    fraction = iteration / config.iterations
    if config.time_budget:
        fraction = max(fraction, (time.perf_counter() - started) / config.time_budget)
    return min(fraction, 1.0)


def _schedule(optimizer: torch.optim.Optimizer, config: FitConfig, fraction: float) -> None:
    """Exponential decay of the offsets' learning rate to `final_fraction` of its start, and the L2
    on the expression offsets, w * mean(x^2), as Adam's weight decay: the same gradient 2 w x / size
    without a pass over the largest array (size changes as densification grows and prunes)."""
    rates = config.learning_rates
    for group in optimizer.param_groups:
        if group["name"] == "offsets":
            group["lr"] = rates.offsets * math.exp(fraction * math.log(rates.final_fraction))
        if group["name"] == "expression_offsets":
            group["weight_decay"] = 2 * config.regularisation.expression_weight / group["params"][0].numel()
