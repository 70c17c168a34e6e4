"""Head models: a model-agnostic file format, a differentiable forward, and the built-in head.

    head = load_head("default")          # the project's own procedural head (built once, cached)
    head = load_head("path/to/file.safetensors")
    out = head(expression=weights)       # HeadOutput(vertices, landmarks, joints)
"""

from __future__ import annotations

from pathlib import Path

from ..errors import BackendError
from .arkit import ARKIT_NAMES

BUILTIN_NAMES = ("default",)


def load_head(name_or_path: str | Path = "default"):
    """A HeadModel from a built-in name or a head-model file."""
    from .format import read_headmodel
    from .model import HeadModel

    if str(name_or_path) in BUILTIN_NAMES:
        from .builtin import builtin_head_path

        return HeadModel(read_headmodel(builtin_head_path()))
    path = Path(name_or_path)
    if not path.exists():
        raise BackendError(
            f"head model '{name_or_path}' not found: use one of {', '.join(BUILTIN_NAMES)} or the path of a head-model file.")
    return HeadModel(read_headmodel(path))


__all__ = ["ARKIT_NAMES", "BUILTIN_NAMES", "load_head"]
