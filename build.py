#!/usr/bin/env python3
"""Set-up, tests, demo and benchmarks in one place.

    python3 build.py setup      create .venv with the pinned dependencies (idempotent)
    python3 build.py test [ARGS] set up if needed, then pytest (exit code is pytest's)
    python3 build.py demo        set up if needed, then the main job on the built-in default
    python3 build.py bench       set up if needed, then the benchmark cases, one JSON line each

Only the standard library is used here, so it runs on a bare Python 3.11.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
REQUIREMENTS = ROOT / "requirements.txt"
STAMP = VENV / ".requirements.sha256"


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def pins_hash() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()


def setup() -> None:
    if STAMP.is_file() and STAMP.read_text().strip() == pins_hash() and venv_python().exists():
        return
    if sys.version_info[:2] != (3, 11):
        sys.exit(f"build.py: Python 3.11 is required (bpy 5.0 is built for it); this is {sys.version.split()[0]}.")
    print("build.py: creating .venv with the pinned dependencies (first time: several minutes)...", flush=True)
    if not venv_python().exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
    pip = [str(venv_python()), "-m", "pip", "--disable-pip-version-check"]
    run(pip + ["install", "--quiet", "--upgrade", "pip"])
    run(pip + ["install", "--quiet", "-r", str(REQUIREMENTS)])
    STAMP.write_text(pins_hash() + "\n")
    print("build.py: .venv ready.", flush=True)


def run(cmd: list[str]) -> int:
    code = subprocess.call(cmd, cwd=ROOT)
    if code != 0 and cmd[1:3] == ["-m", "pip"]:
        sys.exit(f"build.py: '{' '.join(cmd[3:])}' failed with exit code {code}; see pip's message above.")
    return code


def backend(*args: str) -> int:
    return run([str(venv_python()), "-m", "backend", *args])


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(__doc__)
        return 0
    command, rest = argv[0], argv[1:]
    if command not in {"setup", "test", "demo", "bench"}:
        print(f"build.py: unknown command '{command}'.\n{__doc__}", file=sys.stderr)
        return 2
    setup()
    if command == "test":
        return run([str(venv_python()), "-m", "pytest", "tests", *rest])
    if command == "demo":
        return backend("demo", "--out", str(ROOT / "demo_out"), *rest)
    if command == "bench":
        return backend("bench", *rest)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
