"""Render a seeded synthetic performance of a head model to video plus exact ground truth."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..colour import linear_to_srgb8
from ..errors import BackendError
from ..fileio import atomic_path, save_tensors, write_json_atomic
from ..headpose import facing_camera, mean_rotation
from ..meshrender import project, render, to_camera
from .performance import MAX_PITCH, MAX_ROLL, MAX_YAW, script_performance
from .texture import ProceduralAlbedo

FORMAT_NAME = "head-avatar-synth-groundtruth"
FORMAT_VERSION = 1
DISTANCE = 0.65  # metres from the camera to the head-model origin
HEAD_FRACTION = 0.70  # crown-to-chin height as a fraction of the frame height
TOP_MARGIN = 0.05  # frame height above the crown in the neutral pose
SUPERSAMPLE = 2  # samples per pixel along each axis (anti-aliasing)
VISIBILITY_TOLERANCE = 0.01  # metres a landmark may lie behind the nearest surface and count as seen


def forward_inputs(model, truth: dict) -> dict:
    """The head-model forward arguments that pose the clip's frames from its ground truth: the head
    turning on the neck while the body keeps `body_rotation`, as a fit poses it (HeadModel.on_neck)."""
    import torch

    identity = torch.from_numpy(truth["identity"])
    return {"identity": identity, "expression": torch.from_numpy(truth["expression"]),
            **model.on_neck(identity, truth["pose_rotation"], truth["pose_translation"], truth["body_rotation"],
                            truth["joint_rotations"])}


def synthesize(out_dir: Path, frames: int = 120, size: int = 256, fps: float = 25.0, seed: int = 0,
               head: str = "default") -> dict[str, Path]:
    """Render `frames` frames of the head talking into out_dir; returns {label: path} of the files.

    Writes video.mp4 (sRGB, mp4v), groundtruth.safetensors (what the head-model forward needs,
    see forward_inputs(); camera, landmarks, visibility, masks) and groundtruth.json (a readable
    summary).
    """
    import torch

    from ..headmodel import load_head

    if frames < 1 or size < 16 or fps <= 0:
        raise BackendError(f"synth needs frames >= 1, size >= 16 and fps > 0; got {frames}, {size}, {fps}.")
    model = load_head(head)
    identity_seed, performance_seed, texture_seed = np.random.SeedSequence(seed).generate_state(3)
    truth, neutral = _script(model, frames, size, fps, identity_seed, performance_seed)
    with torch.no_grad():
        posed = model.forward(**forward_inputs(model, truth))
    out_dir = Path(out_dir)
    paths = {"video": out_dir / "video.mp4", "groundtruth": out_dir / "groundtruth.safetensors",
             "summary": out_dir / "groundtruth.json"}
    started = time.perf_counter()
    truth["masks"], depth = _write_video(paths["video"], posed.vertices.numpy(), model.triangles.numpy(), truth,
                                         size, fps, _albedo(model, neutral, int(texture_seed)))
    render_seconds = time.perf_counter() - started
    for layout in ("ibug68", "mediapipe"):
        pixels, visible = _landmarks_in_image(posed.landmarks[layout].numpy(), truth, depth)
        truth[f"landmarks_{layout}"], truth[f"landmarks_{layout}_visible"] = pixels, visible
    truth["landmarks_mediapipe_index"] = model.landmark_indices("mediapipe").numpy().astype(np.int64)
    metadata = _metadata(model, frames, size, fps, seed)
    save_tensors(paths["groundtruth"], truth, metadata)
    write_json_atomic(paths["summary"], _summary(truth, metadata, render_seconds))
    return paths


def _script(model, frames, size, fps, identity_seed, performance_seed):
    """The forward inputs, camera and head angles of the whole clip, and the neutral HeadOutput."""
    import torch

    identity = np.clip(np.random.default_rng(identity_seed).normal(0.0, 0.8, model.num_identity), -2.0, 2.0)
    identity = identity.astype(np.float32)
    performance = script_performance(model.expression_names, frames, fps, int(performance_seed))
    with torch.no_grad():
        neutral = model.forward(identity=torch.from_numpy(identity)[None])
    K, translation = _frame_camera(neutral, size)
    rotations = _pose_rotations(performance.head_angles)
    truth = {"identity": identity, "expression": performance.expression,
             "joint_rotations": np.zeros((frames, model.num_joints, 3), np.float32),
             "pose_rotation": rotations, "pose_translation": np.tile(translation, (frames, 1)),
             "body_rotation": mean_rotation(rotations).astype(np.float32),  # the body faces where the head does on average
             "head_angles": performance.head_angles, "K": K, "viewmat": np.eye(4, dtype=np.float32)}
    return truth, neutral


def _metadata(model, frames, size, fps, seed) -> dict:
    return {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "head": model.name, "fps": fps,
            "seed": seed, "frames": frames, "size": size, "expression_names": model.expression_names,
            "joint_names": model.joint_names, "masks": "255 = head and neck, 0 = background",
            "joint_rotations": "zero: jaw and eyes turn through their expression codes",
            "body_rotation": "axis-angle the body keeps while the head turns on the neck; pose with forward_inputs()",
            "head_angles": "yaw, pitch, roll (radians) about model +Y, +X, +Z; pose_rotation is "
                           "diag(1, -1, -1) @ Ry(yaw) @ Rx(pitch) @ Rz(roll) as axis-angle"}


def _pose_rotations(head_angles: np.ndarray) -> np.ndarray:
    """[F, 3] yaw, pitch, roll -> [F, 3] axis-angle of the head facing the camera."""
    import cv2

    return np.asarray([cv2.Rodrigues(facing_camera(*angles))[0][:, 0] for angles in head_angles.astype(np.float64)],
                      np.float32)


def _frame_camera(neutral, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Intrinsics [3, 3] and head translation [3] so the neutral head fills the frame as planned."""
    vertices = neutral.vertices[0].numpy()
    crown = float(vertices[:, 1].max())
    chin = float(neutral.landmarks["ibug68"][0, 8, 1])
    focal = HEAD_FRACTION * size * DISTANCE / (crown - chin)
    # Camera-space y of the crown is (t_y - crown); put it TOP_MARGIN below the top edge.
    t_y = crown + (TOP_MARGIN - 0.5) * size * DISTANCE / focal
    K = np.array([[focal, 0.0, size / 2], [0.0, focal, size / 2], [0.0, 0.0, 1.0]], np.float32)
    return K, np.array([0.0, t_y, DISTANCE], np.float32)


def _albedo(model, neutral, seed: int) -> ProceduralAlbedo:
    colours = model.vertex_colors
    if colours is None:  # heads without colours: a flat mid skin tone, still textured
        colours = np.full((model.num_vertices, 3), (0.45, 0.3, 0.25), np.float32)
    eyes = [model.joint_names.index(name) for name in ("eyeLeft", "eyeRight")]
    eyeballs = (model.part_mask("eyeballs").numpy() if "eyeballs" in model.part_names
                else np.zeros(model.num_vertices, bool))
    return ProceduralAlbedo(np.asarray(colours, np.float32), neutral.vertices[0].numpy(),
                            neutral.joints[0, eyes].numpy(), eyeballs, seed)


def _background(size: int) -> np.ndarray:
    """A soft vertical grey-blue gradient, linear RGB [size, size, 3]."""
    t = np.linspace(0.0, 1.0, size, dtype=np.float32)[:, None, None]
    top, bottom = np.array([0.30, 0.33, 0.38], np.float32), np.array([0.10, 0.11, 0.13], np.float32)
    return np.broadcast_to(top * (1 - t) + bottom * t, (size, size, 3))


def _write_video(path: Path, vertices, triangles, truth, size, fps, albedo):
    """Render and encode every frame; returns masks [F, size, size] uint8 (255 where at least
    half the pixel is covered) and the nearest depth of any sample [F, size, size]."""
    import cv2

    background = _background(size)
    masks = np.empty((len(vertices), size, size), np.uint8)
    depth = np.empty((len(vertices), size, size), np.float32)
    with atomic_path(path) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (size, size))
        if not writer.isOpened():
            raise BackendError(f"OpenCV cannot write mp4v video to {path.parent}; check the folder is writable.")
        try:
            for frame, frame_vertices in enumerate(vertices):
                image = render(frame_vertices, triangles, truth["viewmat"], truth["K"], size, size, albedo,
                               supersample=SUPERSAMPLE)
                rgb = image.rgb + (1.0 - image.alpha[..., None]) * background
                writer.write(linear_to_srgb8(rgb)[..., ::-1])
                masks[frame] = np.where(image.alpha >= 0.5, 255, 0)
                depth[frame] = image.depth
        finally:
            writer.release()
    return masks, depth


def _landmarks_in_image(world, truth, nearest_depth):
    """World landmarks [F, L, 3] -> pixels [F, L, 2] and visibility [F, L] uint8 (1 = not hidden)."""
    camera = to_camera(world, truth["viewmat"])
    pixels = project(camera, truth["K"])
    frames, height, width = nearest_depth.shape
    column, row = np.floor(pixels[..., 0]).astype(int), np.floor(pixels[..., 1]).astype(int)
    inside = (column >= 0) & (column < width) & (row >= 0) & (row < height)
    surface = nearest_depth[np.arange(frames)[:, None], np.clip(row, 0, height - 1), np.clip(column, 0, width - 1)]
    visible = inside & (camera[..., 2] <= surface + VISIBILITY_TOLERANCE)
    return pixels.astype(np.float32), visible.astype(np.uint8)


def _summary(truth, metadata, render_seconds) -> dict:
    """The metadata plus what a person checks first: ranges, peaks, visibility, camera."""
    degrees = np.degrees(truth["head_angles"]).round(1)
    peaks = truth["expression"].max(axis=0).round(3)
    return {**metadata, "render_seconds": round(render_seconds, 2),
            "files": {"video.mp4": "sRGB frames, mp4v", "groundtruth.safetensors": sorted(truth)},
            "identity": truth["identity"].round(3).tolist(), "K": truth["K"].round(3).tolist(),
            "viewmat": truth["viewmat"].tolist(), "pose_translation": truth["pose_translation"][0].round(4).tolist(),
            "head_angles_degrees_min_max": {name: [float(degrees[:, k].min()), float(degrees[:, k].max())]
                                            for k, name in enumerate(("yaw", "pitch", "roll"))},
            "head_angle_limits_degrees": np.degrees([MAX_YAW, MAX_PITCH, MAX_ROLL]).round(1).tolist(),
            "expression_peaks": {name: float(peak) for name, peak in zip(metadata["expression_names"], peaks) if peak},
            "landmarks_visible_fraction": {layout: round(float(truth[f"landmarks_{layout}_visible"].mean()), 3)
                                           for layout in ("ibug68", "mediapipe")}}
