"""A tracked clip as tensors for fitting and evaluation: frames, mattes, camera, posed meshes.

Shapes: F tracked frames, H = W = the working resolution, V vertices, E expression codes.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from ..errors import BackendError
from ..tracking.crop import Crop
from ..tracking.matte import snap_to_edges
from ..tracking.trackfile import Track

HELDOUT_FRACTION = 0.15  # the last 15% of frames are never trained on
BACKGROUND = (1.0, 1.0, 1.0)  # fixed colour behind the matted frames and the renders


@dataclasses.dataclass
class Clip:
    images: torch.Tensor  # [F, H, W, 3] linear RGB in [0, 1]
    masks: torch.Tensor  # [F, H, W] float matte in [0, 1], the track's snapped to these frames' edges
    K: torch.Tensor  # [3, 3] intrinsics at this resolution (the viewmat is the identity)
    vertices: torch.Tensor  # [F, V, 3] posed head-model vertices, world space
    expression: torch.Tensor  # [F, E]
    train: list[int]  # tracked frames used for fitting
    heldout: list[int]  # the last HELDOUT_FRACTION of the clip, tracked frames only
    footage: torch.Tensor  # [H, W] bool: inside the source frame (where the crop runs past it, it is padding)
    body_rotation: np.ndarray  # [3] axis-angle the body keeps while the head turns on the neck (see body_rotation())

    @property
    def resolution(self) -> int:
        return self.images.shape[1]

    def targets(self, frames: list[int], background: torch.Tensor) -> torch.Tensor:
        """[C, H, W, 3]: the frames' foreground composited over background [3]."""
        mask = self.masks[frames][..., None]
        return self.images[frames] * mask + background * (1 - mask)

    def only_footage(self, rendered: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """`rendered` [C, S, S, ...] (any S) with `target`'s values on the padding: no loss or metric
        counts those pixels (the crop's replicated border is no footage of anything)."""
        footage = resize_mask(self.footage, rendered.shape[1])
        return torch.where(footage.reshape(*footage.shape, *[1] * (rendered.dim() - 3)), rendered, target)


def load_clip(track: Track, head, resolution: int, device: str = "cpu", with_images: bool = True) -> Clip:
    """Read the tracked frames of `track`'s source video at `resolution` and pose the head for each."""
    scale = resolution / track.size
    K = torch.as_tensor(track.K, dtype=torch.float32).clone()
    K[:2] *= scale
    masks = np.stack([_resize(mask, resolution) for mask in track.masks]).astype(np.float32) / 255
    if with_images:
        frames = read_crops(track, resolution)
        masks = np.stack([snap_to_edges(frame, mask) for frame, mask in zip(frames, masks)])
        images = srgb8_to_linear(frames)
    else:
        images = np.zeros((*masks.shape, 3), np.float32)
    train, heldout = split_frames(track.found)
    body = body_rotation(track)
    with torch.no_grad():
        head = head.to(device)
        posed = head.on_neck(track.identity, track.pose_rotation, track.pose_translation, body, track.joint_rotations)
        vertices = head(identity=torch.as_tensor(track.identity, device=device),
                        expression=torch.as_tensor(track.expression, device=device), **posed).vertices
    footage = Crop(**track.meta["crop"]).inside_source(*track.meta["source_size"], resolution)
    return Clip(torch.from_numpy(images).to(device), torch.from_numpy(masks).to(device), K.to(device), vertices,
                torch.as_tensor(track.expression, dtype=torch.float32, device=device), train, heldout,
                torch.from_numpy(footage).to(device), body)


def body_rotation(track: Track) -> np.ndarray:
    """[3] axis-angle, model -> camera: the training frames' mean head rotation. Posed for fitting and
    rendering, the head turns on its neck and the body keeps this rotation (HeadModel.on_neck): the
    neck and shoulders in the footage barely turn with the head."""
    from ..headpose import mean_rotation

    train, _ = split_frames(track.found)
    return mean_rotation(np.asarray(track.pose_rotation)[train])


def resize_mask(mask: torch.Tensor, size: int) -> torch.Tensor:
    """A square bool mask [S, S] at [size, size], nearest pixel."""
    if mask.shape[0] == size:
        return mask
    return torch.nn.functional.interpolate(mask[None, None].float(), (size, size))[0, 0] > 0.5


def split_frames(found: np.ndarray) -> tuple[list[int], list[int]]:
    """(train, held-out) frame numbers: the last HELDOUT_FRACTION held out, lost frames dropped."""
    F = len(found)
    first_heldout = F - max(1, int(np.ceil(HELDOUT_FRACTION * F)))
    train = [f for f in range(first_heldout) if found[f]]
    if not train:
        raise BackendError("the track has no usable training frames (the face was lost in all of the first "
                           f"{first_heldout} frames). Track a clip where the face is visible.")
    return train, [f for f in range(first_heldout, F) if found[f]]


def srgb8_to_linear(image: np.ndarray) -> np.ndarray:
    """sRGB-encoded uint8 -> linear float32 in [0, 1] (the inverse of colour.linear_to_srgb8)."""
    encoded = image.astype(np.float32) / 255
    return np.where(encoded <= 0.04045, encoded / 12.92, ((encoded + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(image: torch.Tensor) -> torch.Tensor:
    """Linear float -> sRGB-encoded float in [0, 1], for metrics on what a viewer sees."""
    return encode_srgb(image.clamp(0, 1))


def encode_srgb(linear: torch.Tensor) -> torch.Tensor:
    """The sRGB transfer curve on linear values >= 0, unclipped above 1 (so that a loss on it still
    has a gradient where a render overshoots)."""
    return torch.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear.clamp(min=0.0031308) ** (1 / 2.4) - 0.055)


def read_crops(track: Track, resolution: int) -> np.ndarray:
    """The tracked frames' crops [F, H, W, 3], sRGB uint8 in RGB order."""
    from ..tracking.ingest import read_frames

    crop = Crop(**track.meta["crop"])
    options = track.meta["options"]
    wanted = {int(index): f for f, index in enumerate(track.frame_index)}
    images = np.zeros((track.num_frames, resolution, resolution, 3), np.uint8)
    source = Path(track.meta["source"])
    read = 0
    for index, _, frame in read_frames(source, options["start"], options["end"], options["stride"]):
        if index in wanted:
            images[wanted[index]] = _resize(crop.apply(frame), resolution)[..., ::-1]
            read += 1
    if read < track.num_frames:
        raise BackendError(f"{source} has {read} of the {track.num_frames} tracked frames; it changed since "
                           "tracking. Track the clip again.")
    return images


def _resize(image: np.ndarray, resolution: int) -> np.ndarray:
    import cv2

    if image.shape[0] == resolution:
        return image
    return cv2.resize(image, (resolution, resolution), interpolation=cv2.INTER_AREA)
