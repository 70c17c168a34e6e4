"""Head models: a model-agnostic file format, a differentiable forward, and the built-in head.

    head = load_head("default")          # the project's own procedural head (built once, cached)
    head = load_head("ict")              # ICT-FaceKit, once `headmodel import-ict` has imported it
    head = load_head("path/to/file.safetensors")
    out = head(expression=weights)       # HeadOutput(vertices, landmarks, joints)
"""

from __future__ import annotations

from pathlib import Path

from ..errors import BackendError
from .arkit import ARKIT_NAMES

BUILTIN_NAMES = ("default",)
IMPORTED_NAMES = ("ict",)  # written to the cache folder by `headmodel import-ict`


def load_head(name_or_path: str | Path = "default"):
    """A HeadModel from a head name (BUILTIN_NAMES, IMPORTED_NAMES) or a head-model file."""
    from .format import read_headmodel
    from .model import HeadModel

    return HeadModel(read_headmodel(head_path(name_or_path)))


def head_path(name_or_path: str | Path) -> Path:
    """The head-model file behind a head name or path; a BackendError saying what to do when absent."""
    if str(name_or_path) in BUILTIN_NAMES:
        from .builtin import builtin_head_path

        return builtin_head_path()
    if str(name_or_path) == "ict":
        from .ict import imported_ict_path

        return imported_ict_path()
    path = Path(name_or_path)
    if not path.exists():
        raise BackendError(f"head model '{name_or_path}' not found: use one of "
                           f"{', '.join(BUILTIN_NAMES + IMPORTED_NAMES)} or the path of a head-model file.")
    return path


__all__ = ["ARKIT_NAMES", "BUILTIN_NAMES", "IMPORTED_NAMES", "head_path", "load_head"]
