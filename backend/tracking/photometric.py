"""Refine the tracked head poses against the footage itself.

A landmark detector places points by appearance and by its own face prior: on a nod its nose
points move less than the nose does, so a landmark-only track under-reports pitch. Here the
fitted head's face vertices are projected into the frames, a contrast-normalised grey image is
sampled there, and the poses move so that each vertex sees the same thing in every frame (its
value is the mean over frames, re-estimated each round). Only the rigid pose changes: identity,
expressions and focal length stay as the landmark fit left them. Coarse to fine: each level of
an image pyramid starts from the last one's poses (the coarse levels reach the larger landmark
errors, the fine one places the head more exactly). Long clips are refined on evenly spread key
frames, and the corrections are interpolated between them.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ..headmodel.lbs import axis_angle_to_matrix, matmul3
from ..headmodel.model import HeadModel
from ..headpose import matrix_to_axis_angle
from .solver import Fit, charbonnier, project


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
    import cv2

    keys = key_frames(valid, settings.key_frames)
    if len(keys) < 2:
        return fit
    for resolution, sigma in settings.levels:
        resolution = min(resolution, greys.shape[-1])
        shrunk = [cv2.resize(greys[k], (resolution, resolution), interpolation=cv2.INTER_AREA) for k in keys]
        features = np.stack([contrast_features(grey, sigma) for grey in shrunk])
        fit = _refine_level(head, layout, fit, keys, features, principal, size, settings, step)
    return fit


def _refine_level(head, layout, fit: Fit, keys, features: np.ndarray, principal, size: int,
                  settings: PhotometricSettings, step) -> Fit:
    """One pyramid level: the key frames' poses refined against their feature images [K, R, R]."""
    resolution = features.shape[-1]
    scale = resolution / size
    images = torch.as_tensor(features)[:, None]
    local, normals = _face_points(head, fit, keys, min(settings.max_vertices, settings.samples // len(keys)))
    base_rotation = axis_angle_to_matrix(torch.as_tensor(fit.pose_rotation[keys], dtype=torch.float32))
    base_translation = torch.as_tensor(fit.pose_translation[keys], dtype=torch.float32)
    pivot = local.mean((0, 1))
    focal = torch.tensor(fit.focal * scale, dtype=torch.float32)
    centre = torch.as_tensor(np.asarray(principal) * scale, dtype=torch.float32)
    delta_rotation = torch.zeros(len(keys), 3, requires_grad=True)
    delta_translation = torch.zeros(len(keys), 3, requires_grad=True)

    def posed():
        rotation = matmul3(axis_angle_to_matrix(delta_rotation), base_rotation)
        # rotate about the face, not the model origin behind it (see ClipFit)
        translation = base_translation + delta_translation + ((base_rotation - rotation) * pivot).sum(-1)
        return rotation, translation

    def sample(rotation, translation):
        camera = torch.matmul(local, rotation.transpose(1, 2)) + translation[:, None]
        grid = project(camera, focal, centre) / resolution * 2 - 1
        values = torch.nn.functional.grid_sample(images, grid[:, :, None], align_corners=False, padding_mode="border")
        return values[:, 0, :, 0], camera

    optimiser = torch.optim.Adam([{"params": [delta_rotation], "lr": settings.rotation_lr},
                                  {"params": [delta_translation], "lr": settings.translation_lr}])
    for _ in range(settings.rounds):
        with torch.no_grad():
            rotation, translation = posed()
            values, camera = sample(rotation, translation)
            weights = _facing(normals, rotation, camera, settings.min_facing)
            template = (values * weights).sum(0) / weights.sum(0).clamp_min(1e-6)
        for _ in range(settings.steps):
            optimiser.zero_grad(set_to_none=True)
            values, _ = sample(*posed())
            photometric = (charbonnier(values - template, settings.robust_scale) * weights).sum() / weights.sum()
            smooth = (((delta_rotation[1:] - delta_rotation[:-1]) ** 2).sum(-1).mean()
                      + 100 * ((delta_translation[1:] - delta_translation[:-1]) ** 2).sum(-1).mean())
            (photometric + settings.smooth * smooth).backward()
            optimiser.step()
        if step:
            step()
    return _apply_corrections(head, layout, fit, keys, delta_rotation.detach(), delta_translation.detach(),
                              pivot, principal)


def _face_points(head: HeadModel, fit: Fit, keys: np.ndarray, count: int):
    """Model-space positions and unit normals [K, V, 3] of `count` face vertices in the key frames."""
    face = np.flatnonzero(head.part_mask("face").numpy())
    chosen = face[np.linspace(0, len(face) - 1, min(count, len(face))).round().astype(int)]
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
