"""The avatar on disk: one safetensors file with JSON metadata, written atomically.

Holds the Gaussians (`GaussianAvatar.tensors()`), the tracked identity [I] the triangles are
posed with, in a checkpoint the training state a resumed fit needs (arrays named "state.*": the
per-frame corrections of refine.PerformanceRefinement), and metadata: format name and version,
head-model id, expression code names, SH degree, training resolution, and a SHA-256 of the arrays
so that a tampered file is refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import torch

from ..errors import BackendError
from ..fileio import load_tensors, save_tensors
from .model import PARAMETERS, GaussianAvatar

FORMAT_NAME = "head-avatar-gaussians"
FORMAT_VERSION = 1
AVATAR_FILE = "avatar.safetensors"
STATE_PREFIX = "state."


@dataclasses.dataclass
class SavedAvatar:
    gaussians: GaussianAvatar
    identity: torch.Tensor  # [I] head-model identity coefficients
    meta: dict  # head, expression_names, sh_degree, resolution, plus what the writer added
    state: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)  # training state, by name


def write_avatar(path: str | Path, gaussians: GaussianAvatar, identity: torch.Tensor, head: str,
                 expression_names: list[str], resolution: int, state: dict[str, torch.Tensor] | None = None,
                 **extra) -> Path:
    """Save atomically; `state`: training state arrays by name; `extra` (JSON-serialisable) goes into the metadata."""
    arrays = {name: value.detach().cpu().numpy().astype(np.int64 if name == "triangle" else np.float32)
              for name, value in gaussians.tensors().items()}
    arrays.update({STATE_PREFIX + name: value.detach().cpu().numpy().astype(np.float32)
                   for name, value in (state or {}).items()})
    arrays["identity"] = identity.detach().cpu().numpy().astype(np.float32)
    meta = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "head": head,
            "expression_names": list(expression_names), "sh_degree": gaussians.sh_degree,
            "resolution": int(resolution), "num_gaussians": gaussians.num_gaussians,
            "sha256": _digest(arrays), **extra}
    save_tensors(path, arrays, meta)
    return Path(path)


def read_avatar(path: str | Path, device: str = "cpu") -> SavedAvatar:
    """Load and validate; a truncated, tampered or inconsistent file raises BackendError."""
    path = Path(path)
    if path.is_dir():
        path = path / AVATAR_FILE
    arrays, meta = load_tensors(path, "avatar")
    refit = "Fit the avatar again (python -m backend fit), or point to an intact avatar.safetensors."
    if meta.get("format") != FORMAT_NAME or meta.get("format_version") != FORMAT_VERSION:
        raise BackendError(f"{path} is not a version-{FORMAT_VERSION} avatar file "
                           f"(format {meta.get('format')!r}, version {meta.get('format_version')!r}). {refit}")
    missing = [name for name in ("triangle", "identity", *PARAMETERS) if name not in arrays]
    if missing:
        raise BackendError(f"{path} is missing {', '.join(missing)}. {refit}")
    if meta.get("sha256") != _digest(arrays):
        raise BackendError(f"{path} was modified after it was written (its checksum does not match). {refit}")
    _check_shapes(path, arrays, meta, refit)
    tensors = {name: torch.from_numpy(value.copy()).to(device) for name, value in arrays.items()}
    identity = tensors.pop("identity")
    state = {name[len(STATE_PREFIX):]: tensors.pop(name) for name in list(tensors) if name.startswith(STATE_PREFIX)}
    return SavedAvatar(GaussianAvatar(**tensors), identity, meta, state)


def _digest(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name in sorted(arrays):
        value = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{value.dtype}:{value.shape};".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def _check_shapes(path: Path, arrays: dict[str, np.ndarray], meta: dict, refit: str) -> None:
    N = len(arrays["triangle"])
    K = (int(meta.get("sh_degree", -1)) + 1) ** 2
    E = len(meta.get("expression_names", []))
    expected = {"offsets": (N, 3), "rotations": (N, 4), "log_scales": (N, 3), "opacity_logits": (N,),
                "sh": (N, K, 3), "expression_offsets": (N, E, 3)}
    for name, shape in expected.items():
        if arrays[name].shape != shape:
            raise BackendError(f"{path}: {name} has shape {arrays[name].shape}, expected {shape}. {refit}")
        if not np.isfinite(arrays[name]).all():
            raise BackendError(f"{path}: {name} holds NaN or infinite values. {refit}")
