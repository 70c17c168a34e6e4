"""Where the add-on finds the `backend` package: vendored inside the extension, or on sys.path
(a development checkout, or a backend installed in Blender's Python)."""

import importlib


def backend_module(name: str):
    """Import `backend.<name>` (e.g. "tracking.ingest")."""
    try:
        return importlib.import_module(f"{__package__}.backend.{name}")
    except ModuleNotFoundError:
        return importlib.import_module(f"backend.{name}")


def backend_error():
    return backend_module("errors").BackendError
