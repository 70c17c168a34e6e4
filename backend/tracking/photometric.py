"""Refine the tracked head poses, then the head's shape, against the footage itself.

A landmark detector places points by appearance and by its own face prior: on a nod its nose
points move less than the nose does, so a landmark-only track under-reports pitch. Here the
fitted head's face vertices are projected into the frames, a contrast-normalised grey image is
sampled there, and the poses move so that each vertex sees the same thing in every frame (its
value is the mean over frames, re-estimated each round). `refine_poses` moves only the rigid
pose; `refine_identity` then fits the identity again, to the landmarks under the new poses and to
the footage, with the poses. Expressions and focal length stay as the landmark fit left them.
Coarse to fine: each level of an image pyramid starts from the last one's poses (the coarse levels
reach the larger landmark errors, the fine one places the head more exactly). Long clips are
refined on evenly spread key frames, and the corrections are interpolated between them.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ..headmodel.lbs import axis_angle_to_matrix, matmul3
from ..headmodel.model import HeadModel
from ..headpose import matrix_to_axis_angle
from .solver import ClipFit, Fit, SolverSettings, charbonnier, landmark_targets, project


@dataclasses.dataclass
class PhotometricSettings:
    # (resolution, feature_sigma) per pyramid level, coarse to fine: grey images are sampled at
    # that size, and feature_sigma (pixels at it) is the scale of the local contrast normalisation
    levels: tuple[tuple[int, float], ...] = ((64, 1.0), (128, 1.5), (256, 1.5))
    key_frames: int = 200  # at most this many frames are refined; the rest are interpolated
    samples: int = 120_000  # vertices x key frames sampled per step (the cost): short clips get more vertices
    max_vertices: int = 3000  # face vertices sampled, spread evenly over the face
    rounds: int = 5  # re-estimations of the vertices' values, per level
    steps: int = 20  # Adam steps per round
    robust_scale: float = 0.3  # Charbonnier scale, in normalised-contrast units
    rotation_lr: float = 0.006
    translation_lr: float = 0.001  # metres
    smooth: float = 10.0  # weight of the difference between consecutive key frames' corrections
    min_facing: float = 0.3  # cosine between normal and view ray below which a vertex is ignored
    # The identity pass (refine_identity) after the poses: the head's shape and poses move together, the
    # landmark solver's loss weighted by identity_landmark_weight beside the footage match, the poses' mean
    # held where the pose pass left it by mean_pose_weight (per radian^2 of rotation; x100 per m^2 of
    # translation). 8 synthetic clips, median rotation error: 1.28 degrees without the pass, 1.18 with it
    # (1.24 at a weight of 3e-3; 1.25 when only the poses move again).
    identity_lr: float = 0.01
    offset_lr: float = 1e-4  # metres, the per-landmark corrections (solver.ClipFit.offsets)
    identity_landmark_weight: float = 1e-3
    mean_pose_weight: float = 100.0

    def finest(self, size: int) -> int:
        """The grey images' size for working crops of `size` pixels."""
        return min(max(resolution for resolution, _ in self.levels), size)


def contrast_features(grey: np.ndarray, sigma: float) -> np.ndarray:
    """Local contrast of a grey image [H, W] (high-passed, divided by its local energy): smooth
    shading that changes as the head turns under fixed lights mostly cancels, texture stays."""
    import cv2

    grey = grey.astype(np.float32) / 255.0
    detail = grey - cv2.GaussianBlur(grey, (0, 0), 2 * sigma)
    detail /= np.sqrt(cv2.GaussianBlur(detail * detail, (0, 0), 4 * sigma)) + 0.02
    return cv2.GaussianBlur(detail, (0, 0), 0.5 * sigma)


def key_frames(valid: np.ndarray, count: int) -> np.ndarray:
    found = np.flatnonzero(valid)
    if len(found) <= count:
        return found
    return found[np.unique(np.linspace(0, len(found) - 1, count).round().astype(int))]


def interpolate_keys(frames, keys, values: np.ndarray) -> np.ndarray:
    """values [K, D] known at the ascending frame numbers `keys` -> [len(frames), D], linear in
    frame number (outside the keys' span, the nearest key's)."""
    return np.stack([np.interp(frames, keys, values[:, d]) for d in range(values.shape[1])], -1)


def refine_poses(head: HeadModel, layout: str, fit: Fit, greys: np.ndarray, valid: np.ndarray, principal,
                 size: int, settings: PhotometricSettings = PhotometricSettings(), step=None) -> Fit:
    """The landmark fit `fit` with its poses refined against `greys` [F, R, R] uint8, the working
    crops shrunk to R = settings.finest(size); valid [F] marks found frames."""
    keys = key_frames(valid, settings.key_frames)
    if len(keys) < 2:
        return fit
    for resolution, sigma in settings.levels:
        fit = _refine_level(head, layout, fit, keys, _features(greys, keys, resolution, sigma), principal, size,
                            settings, step)
    return fit


def _features(greys: np.ndarray, keys: np.ndarray, resolution: int, sigma: float) -> np.ndarray:
    """[K, R, R] contrast features of the key frames' grey images, shrunk to R = `resolution` (at most theirs)."""
    import cv2

    resolution = min(resolution, greys.shape[-1])
    shrunk = [cv2.resize(greys[k], (resolution, resolution), interpolation=cv2.INTER_AREA) for k in keys]
    return np.stack([contrast_features(grey, sigma) for grey in shrunk])


def _refine_level(head, layout, fit: Fit, keys, features: np.ndarray, principal, size: int,
                  settings: PhotometricSettings, step) -> Fit:
    """One pyramid level: the key frames' poses refined against their feature images [K, R, R]."""
    local, normals = _face_points(head, fit, keys, min(settings.max_vertices, settings.samples // len(keys)))
    base_rotation = axis_angle_to_matrix(torch.as_tensor(fit.pose_rotation[keys], dtype=torch.float32))
    base_translation = torch.as_tensor(fit.pose_translation[keys], dtype=torch.float32)
    pivot = local.mean((0, 1))
    delta_rotation = torch.zeros(len(keys), 3, requires_grad=True)
    delta_translation = torch.zeros(len(keys), 3, requires_grad=True)

    def posed_points():
        rotation = matmul3(axis_angle_to_matrix(delta_rotation), base_rotation)
        # rotate about the face, not the model origin behind it (see ClipFit)
        translation = base_translation + delta_translation + ((base_rotation - rotation) * pivot).sum(-1)
        return torch.matmul(local, rotation.transpose(1, 2)) + translation[:, None], rotation

    def smoothness():
        return settings.smooth * (((delta_rotation[1:] - delta_rotation[:-1]) ** 2).sum(-1).mean()
                                  + 100 * ((delta_translation[1:] - delta_translation[:-1]) ** 2).sum(-1).mean())

    _match_features(features, fit.focal, principal, size, posed_points, normals, smoothness,
                    [{"params": [delta_rotation], "lr": settings.rotation_lr},
                     {"params": [delta_translation], "lr": settings.translation_lr}], settings, step)
    return _apply_corrections(head, layout, fit, keys, delta_rotation.detach(), delta_translation.detach(),
                              pivot, principal)


def refine_identity(head: HeadModel, layout: str, fit: Fit, greys: np.ndarray, valid: np.ndarray, principal,
                    size: int, detected: np.ndarray, solver_settings: SolverSettings,
                    settings: PhotometricSettings = PhotometricSettings(), step=None) -> Fit:
    """`fit` (after refine_poses) with the head's identity, its landmark corrections and the poses fitted
    together, to the landmarks (detected [F, L, 2], as fit_clip takes them; weighted by
    settings.identity_landmark_weight) and to the footage (the same match as refine_poses). The shape was
    fitted to the landmarks under the landmark poses: once the poses move, it no longer fits them
    (address_512: landmark error 0.7% of the inter-ocular distance before refine_poses, 2.1% after, 1.2%
    after this pass), and the poses' match to the footage was made with that shape. The mean pose stays
    where refine_poses left it; codes and focal length stay. Same arguments as refine_poses otherwise."""
    keys = key_frames(valid, settings.key_frames)
    if len(keys) < 2:
        return fit
    model = head.landmark_submodel(layout, np.arange(detected.shape[1]))
    targets, weights = landmark_targets(model, layout, detected[keys], valid[keys], solver_settings)
    clip = ClipFit.from_fit(model, layout, fit, keys, principal, size, solver_settings)
    clip.expression.requires_grad_(False)
    chosen = _face_vertices(head, min(settings.max_vertices, settings.samples // len(keys)))
    face = head.vertex_submodel(chosen)
    _, normals = _face_points(head, fit, keys, len(chosen))
    start = clip.face_translation.detach().clone()

    def posed_points():
        rotation = clip.rotation()
        local = face(identity=clip.identity, expression=clip.expression).vertices
        return torch.matmul(local, rotation.transpose(1, 2)) + clip.translation()[:, None], rotation

    def held_to_landmarks():
        drift = (clip.delta_rotation.mean(0) ** 2).sum() + 100 * ((clip.face_translation - start).mean(0) ** 2).sum()
        return (settings.identity_landmark_weight * clip.loss(targets, weights, focal_fixed=True)
                + settings.mean_pose_weight * drift)

    groups = [{"params": [clip.identity], "lr": settings.identity_lr}, {"params": [clip.offsets], "lr": settings.offset_lr},
              {"params": [clip.delta_rotation], "lr": settings.rotation_lr},
              {"params": [clip.face_translation], "lr": settings.translation_lr}]
    for resolution, sigma in settings.levels:
        _match_features(_features(greys, keys, resolution, sigma), fit.focal, principal, size, posed_points, normals, held_to_landmarks, groups,
                        settings, step)
    shaped = dataclasses.replace(fit, identity=clip.identity.detach().numpy().copy(),
                                 landmark_offsets=clip.offsets.detach().numpy().copy())
    return _apply_corrections(head, layout, shaped, keys, clip.delta_rotation.detach(),
                              clip.face_translation.detach() - start, clip.pivot, principal)


def _match_features(features: np.ndarray, focal: float, principal, size: int, posed_points, normals, regulariser,
                    groups: list[dict], settings: PhotometricSettings, step) -> None:
    """Rounds of: each face point's template value, its mean over the key frames' feature images
    [K, R, R] where it faces the camera; then Adam steps on `groups` moving the camera-space points
    (posed_points() -> ([K, V, 3], rotations [K, 3, 3])) so each frame samples its template, plus
    regulariser(). normals [K, V, 3]: the points' model-space normals."""
    resolution = features.shape[-1]
    scale = resolution / size
    images = torch.as_tensor(features)[:, None]
    focal = torch.tensor(focal * scale, dtype=torch.float32)
    centre = torch.as_tensor(np.asarray(principal) * scale, dtype=torch.float32)

    def sample():
        camera, rotation = posed_points()
        grid = project(camera, focal, centre) / resolution * 2 - 1
        values = torch.nn.functional.grid_sample(images, grid[:, :, None], align_corners=False, padding_mode="border")
        return values[:, 0, :, 0], camera, rotation

    optimiser = torch.optim.Adam(groups)
    for _ in range(settings.rounds):
        with torch.no_grad():
            values, camera, rotation = sample()
            weights = _facing(normals, rotation, camera, settings.min_facing)
            template = (values * weights).sum(0) / weights.sum(0).clamp_min(1e-6)
        for _ in range(settings.steps):
            optimiser.zero_grad(set_to_none=True)
            values, _, _ = sample()
            photometric = (charbonnier(values - template, settings.robust_scale) * weights).sum() / weights.sum()
            (photometric + regulariser()).backward()
            optimiser.step()
        if step:
            step()


def _face_vertices(head: HeadModel, count: int) -> np.ndarray:
    """`count` face vertices, spread evenly over the face."""
    face = np.flatnonzero(head.part_mask("face").numpy())
    return face[np.linspace(0, len(face) - 1, min(count, len(face))).round().astype(int)]


def _face_points(head: HeadModel, fit: Fit, keys: np.ndarray, count: int):
    """Model-space positions and unit normals [K, V, 3] of `count` face vertices in the key frames."""
    chosen = _face_vertices(head, count)
    with torch.no_grad():
        vertices = head(identity=torch.as_tensor(fit.identity), expression=torch.as_tensor(fit.expression[keys])).vertices
    triangles = head.triangles[np.isin(head.triangles.numpy(), chosen).any(1)]  # those around the chosen vertices
    corners = vertices[:, triangles]  # [K, T, 3, 3]
    area_normals = torch.cross(corners[:, :, 1] - corners[:, :, 0], corners[:, :, 2] - corners[:, :, 0], dim=-1)
    normals = torch.zeros_like(vertices)
    for corner in range(3):
        normals.index_add_(1, triangles[:, corner], area_normals)
    chosen = torch.as_tensor(chosen)
    return vertices[:, chosen], torch.nn.functional.normalize(normals[:, chosen], dim=-1)


def _facing(normals, rotation, camera, min_facing: float) -> torch.Tensor:
    """[K, V] weight of each vertex in each frame: 0 when seen edge-on or from behind, up to 1 when facing."""
    turned = torch.matmul(normals, rotation.transpose(1, 2))
    cosine = -(turned * torch.nn.functional.normalize(camera, dim=-1)).sum(-1)
    return ((cosine - min_facing) / (1 - min_facing)).clamp(0, 1)


def _apply_corrections(head, layout, fit, keys, delta_rotation, delta_translation, pivot, principal) -> Fit:
    """Interpolate the key frames' corrections over all frames and re-project the landmarks."""
    frames = np.arange(len(fit.pose_rotation))
    dr, dt = (interpolate_keys(frames, keys, delta.numpy()) for delta in (delta_rotation, delta_translation))
    base_rotation = axis_angle_to_matrix(torch.as_tensor(fit.pose_rotation, dtype=torch.float32))
    rotation = matmul3(axis_angle_to_matrix(torch.as_tensor(dr, dtype=torch.float32)), base_rotation)
    translation = (torch.as_tensor(fit.pose_translation + dt, dtype=torch.float32)
                   + ((base_rotation - rotation) * pivot).sum(-1))
    model = head.landmark_submodel(layout)
    with torch.no_grad():
        marks = model(identity=torch.as_tensor(fit.identity), expression=torch.as_tensor(fit.expression)).landmarks[layout]
        marks = marks + torch.as_tensor(fit.landmark_offsets)
        camera = torch.matmul(marks, rotation.transpose(1, 2)) + translation[:, None]
        pixels = project(camera, torch.tensor(fit.focal), torch.as_tensor(np.asarray(principal), dtype=torch.float32))
    return dataclasses.replace(fit, pose_rotation=matrix_to_axis_angle(rotation.numpy()),
                               pose_translation=translation.numpy(), projected=pixels.numpy())
