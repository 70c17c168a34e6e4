"""Import ICT-FaceKit (MIT; light-stage scans, 100 identity modes, 53 ARKit-named shapes) into the
head-model format.

    python -m backend headmodel import-ict PATH/TO/ICT-FaceKit      # writes cache_dir()/ict.safetensors
    head = load_head("ict")

Nothing from ICT-FaceKit ships with this project: users point the importer at their own copy
(`headmodel fetch-ict` downloads one). See docs/headmodel_format.md for what the file holds.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import BackendError

CACHE_NAME = "ict.safetensors"


def ict_cache_path() -> Path:
    """Where `import-ict` writes the head that `load_head("ict")` reads."""
    from ..builtin import cache_dir

    return cache_dir() / CACHE_NAME


def imported_ict_path() -> Path:
    """The imported ICT head, or a BackendError saying how to import it."""
    path = ict_cache_path()
    if not path.is_file():
        raise BackendError(
            f"the ICT-FaceKit head is not imported yet ({path} is missing): run `python -m backend headmodel "
            "import-ict PATH/TO/ICT-FaceKit` on a clone of https://github.com/ICT-VGL/ICT-FaceKit, or "
            "`python -m backend headmodel fetch-ict` to download and import it.")
    return path


def import_ict(source: str | Path, out: str | Path | None = None, identities: int | None = None,
               with_parts: tuple[str, ...] = (), commit: str | None = None) -> Path:
    """Convert an ICT-FaceKit folder and write it to `out` (default: the cache, as head 'ict')."""
    from ..format import write_headmodel
    from .build import build_ict_head

    path = Path(out) if out is not None else ict_cache_path()
    write_headmodel(build_ict_head(source, identities, tuple(with_parts), commit=commit), path)
    return path
