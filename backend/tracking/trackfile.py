"""The tracked performance on disk: DIR/tracking.safetensors (+ a readable DIR/tracking.json).

Everything the fit, the renderer and the Blender add-on need about a clip: which frames,
where the crop sits in the source, the camera, one identity, per-frame ARKit codes and head
pose, the landmarks and the foreground mattes.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ..errors import BackendError
from ..fileio import load_tensors, save_tensors

FORMAT_NAME = "head-avatar-tracking"
FORMAT_VERSION = 1
TRACK_FILE = "tracking.safetensors"


@dataclasses.dataclass
class Track:
    frame_index: np.ndarray  # [F] int64 index in the source video
    frame_time: np.ndarray  # [F] float64 seconds
    found: np.ndarray  # [F] bool: the face was detected (False: lost, values come from the priors)
    confidence: np.ndarray  # [F] float32
    identity: np.ndarray  # [I]
    expression: np.ndarray  # [F, E] in [0, 1]
    joint_rotations: np.ndarray  # [F, J, 3] explicit joint rotations (axis-angle)
    pose_rotation: np.ndarray  # [F, 3] axis-angle, model -> camera
    pose_translation: np.ndarray  # [F, 3] metres
    K: np.ndarray  # [3, 3] intrinsics at the working resolution (camera = world, viewmat identity)
    landmarks_detected: np.ndarray  # [F, L, 2] working-resolution pixels, NaN where lost
    landmarks_fitted: np.ndarray  # [F, M, 2] the model's embedded landmarks, projected
    landmark_index: np.ndarray  # [M] which detected landmarks the model embeds
    landmark_offsets: np.ndarray  # [M, 3] per-clip corrections, model space
    masks: np.ndarray  # [F, S, S] uint8 foreground matte (255 = person)
    meta: dict  # source, crop, fps, size, layout, head, names, statistics, timings, warnings

    @property
    def size(self) -> int:
        return int(self.meta["size"])

    @property
    def num_frames(self) -> int:
        return len(self.frame_index)


_ARRAYS = [f.name for f in dataclasses.fields(Track) if f.name != "meta"]


def write_track(folder: Path, track: Track) -> Path:
    path = Path(folder) / TRACK_FILE
    tensors = {name: np.asarray(getattr(track, name)) for name in _ARRAYS}
    tensors["found"] = tensors["found"].astype(np.uint8)
    save_tensors(path, tensors, {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **track.meta})
    return path


def read_track(folder_or_file: str | Path) -> Track:
    path = Path(folder_or_file)
    if path.is_dir():
        path = path / TRACK_FILE
    tensors, meta = load_tensors(path, "tracking")
    if meta.get("format") != FORMAT_NAME or meta.get("format_version") != FORMAT_VERSION:
        raise BackendError(f"{path} is not a version-{FORMAT_VERSION} tracking file. Track the clip again.")
    missing = [name for name in _ARRAYS if name not in tensors]
    if missing:
        raise BackendError(f"{path} is missing {', '.join(missing)}. Track the clip again.")
    F = len(tensors["frame_index"])
    for name in ("found", "expression", "pose_rotation", "pose_translation", "masks"):
        if len(tensors[name]) != F:
            raise BackendError(f"{path} is inconsistent ({name} has {len(tensors[name])} frames, expected {F}).")
    meta = {k: v for k, v in meta.items() if k not in ("format", "format_version")}
    arrays = {name: tensors[name] for name in _ARRAYS}
    arrays["found"] = arrays["found"].astype(bool)
    return Track(**arrays, meta=meta)
