"""Atomic writes and the safetensors + JSON container used for every saved asset.

Every file the backend writes goes to a temporary name in the target folder and is
renamed into place, so a crash or Ctrl-C never leaves a half-written file under the
final name. Tensors are stored with safetensors and metadata as JSON inside its
header; nothing is ever unpickled.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import BackendError

_METADATA_KEY = "head_avatar"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Keep the extension last: writers such as cv2.VideoWriter pick the format from it.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".part{target.suffix}", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; finished ones get the usual mode
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(path: str | os.PathLike, obj) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def save_tensors(path: str | os.PathLike, tensors: dict[str, np.ndarray], metadata: dict) -> None:
    """Write numpy arrays plus a JSON-serialisable metadata dict to one safetensors file."""
    from safetensors.numpy import save

    arrays = {name: np.ascontiguousarray(value) for name, value in tensors.items()}
    blob = save(arrays, metadata={_METADATA_KEY: json.dumps(metadata, sort_keys=True)})
    write_bytes_atomic(path, blob)


def load_tensors(path: str | os.PathLike, what: str) -> tuple[dict[str, np.ndarray], dict]:
    """Read a file written by `save_tensors`. `what` names the asset in error messages."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    path = Path(path)
    if not path.is_file():
        raise BackendError(f"{what} file not found: {path}")
    try:
        data = path.read_bytes()
        tensors = load(data)
        header_len = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + header_len])
        metadata = json.loads(header.get("__metadata__", {})[_METADATA_KEY])
    except (SafetensorError, ValueError, KeyError, TypeError, OSError) as exc:
        raise BackendError(
            f"{path} is not a valid {what} file (it is truncated, corrupt or of another kind: {exc}). "
            "Re-create it, or point to the right file."
        ) from None
    return tensors, metadata


@contextlib.contextmanager
def staged_folder(folder: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty staging folder beside `folder`; on success its files move into `folder`.

    A failure or Ctrl-C part-way leaves `folder` exactly as it was (and removes it again if
    this call created it), so a job never leaves half its outputs behind.
    """
    import shutil

    target = Path(folder)
    created = not target.exists()
    target.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target))
    try:
        yield staging
        for item in sorted(staging.iterdir()):
            os.replace(item, target / item.name)
    except BaseException:
        if created:
            shutil.rmtree(target, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
