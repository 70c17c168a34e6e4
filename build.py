#!/usr/bin/env python3
"""Set-up, tests, demo and benchmarks in one place.

    python3 build.py setup      create .venv with the pinned dependencies (idempotent)
    python3 build.py test [ARGS] set up if needed, then pytest (exit code is pytest's)
    python3 build.py demo        set up if needed, then the main job on the built-in default, ending in Blender
    python3 build.py bench       set up if needed, then the benchmark cases, one JSON line each
    python3 build.py extension [--platform P]... [--with-torch]
                                 set up if needed, then dist/head_avatar-<version>.zip, the installable
                                 Blender extension with its platform wheels (cached in wheels/)

Only the standard library is used here, so it runs on a bare Python 3.11.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
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


def blender_demo() -> int:
    """The demo's Blender half: demo_out/demo.blend and frames rendered by the add-on's engine."""
    return run([str(venv_python()), str(ROOT / "tools" / "blender_demo.py"), str(ROOT / "demo_out")])


# --- python3 build.py extension -------------------------------------------------------------------

ADDON = ROOT / "blender_addon"
WHEELS = ROOT / "wheels"
DIST = ROOT / "dist"

# Blender's platform names and the pip wheel tags that run there (Blender 4.2+: glibc 2.28, macOS 11+).
WHEEL_TAGS = {
    "linux-x64": ["manylinux2014_x86_64", *(f"manylinux_2_{minor}_x86_64" for minor in range(17, 29))],
    "windows-x64": ["win_amd64"],
    "macos-arm64": [*(f"macosx_{major}_0_{arch}" for major in range(11, 15) for arch in ("arm64", "universal2")),
                    *(f"macosx_10_{minor}_universal2" for minor in range(9, 16))],
}
# What the backend imports inside Blender, at the versions .venv runs (numpy is Blender's own).
BUNDLED_PACKAGES = (
    "safetensors", "opencv-python-headless", "scipy", "numba", "llvmlite",
    "mediapipe", "absl-py", "attrs", "flatbuffers", "protobuf",
    # mediapipe.solutions imports matplotlib
    "matplotlib", "contourpy", "cycler", "fonttools", "kiwisolver", "packaging", "pillow", "pyparsing",
    "python-dateutil", "tzdata",
)
TORCH_PACKAGES = ("torch", "typing-extensions", "sympy", "mpmath", "networkx", "jinja2", "markupsafe", "filelock", "fsspec")
VERSION_SOURCE = {"opencv-python-headless": "opencv-python"}  # .venv has the GUI build of the same release
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"  # PyPI's Linux torch is the CUDA build


def venv_output(code: str, *args: str) -> str:
    return subprocess.check_output([str(venv_python()), "-c", code, *args], text=True).strip()


def venv_versions(packages: tuple[str, ...]) -> dict[str, str]:
    code = "import sys, importlib.metadata as m; print(*(m.version(n) for n in sys.argv[1:]))"
    versions = venv_output(code, *(VERSION_SOURCE.get(name, name) for name in packages)).split()
    return dict(zip(packages, versions))


def blender_ext_tool() -> Path:
    """Blender's own extension builder and validator, shipped inside the bpy module."""
    bpy_dir = Path(venv_output("import importlib.util; print(importlib.util.find_spec('bpy').origin)")).parent
    return next(bpy_dir.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))


def pin_for(platform: str, name: str, version: str) -> str:
    if name == "torch" and platform != "linux-x64":
        version = version.split("+")[0]  # the Windows and macOS wheels on PyPI are the CPU builds
    return f"{name}=={version}"


def cached_wheels(folder: Path, pin: str) -> list[Path]:
    name, version = pin.split("==")
    prefix = f"{re.sub(r'[-_.]+', '_', name)}-{version}-".lower()
    return sorted(path for path in folder.glob("*.whl") if path.name.lower().startswith(prefix))


def download_wheels(platform: str, pins: list[str]) -> None:
    folder = WHEELS / platform
    missing = [pin for pin in pins if not cached_wheels(folder, pin)]
    if not missing:
        return
    print(f"build.py: downloading {len(missing)} wheels for {platform} into {folder}...", flush=True)
    tags = [arg for tag in WHEEL_TAGS[platform] for arg in ("--platform", tag)]
    pip_download = [str(venv_python()), "-m", "pip", "download", "--disable-pip-version-check", "--quiet",
                    "--no-deps", "--only-binary=:all:", "--python-version", "3.11", *tags, "--dest", str(folder)]
    cpu_builds = [pin for pin in missing if pin.endswith("+cpu")]
    if cpu_builds:
        run(pip_download + ["--extra-index-url", TORCH_CPU_INDEX, *cpu_builds])
    if len(cpu_builds) < len(missing):
        run(pip_download + [pin for pin in missing if pin not in cpu_builds])


def platform_wheels(platform: str, with_torch: bool) -> list[Path]:
    packages = BUNDLED_PACKAGES + (TORCH_PACKAGES if with_torch else ())
    pins = [pin_for(platform, name, version) for name, version in venv_versions(packages).items()]
    download_wheels(platform, pins)
    return [wheel for pin in pins for wheel in cached_wheels(WHEELS / platform, pin)]


def built_manifest(platforms: list[str], wheel_names: list[str]) -> str:
    """The committed manifest plus the platforms and wheels of this build (top-level keys go before the tables)."""
    lines = (ADDON / "blender_manifest.toml").read_text().splitlines()
    first_table = next(i for i, line in enumerate(lines) if line.startswith("["))
    generated = [f"platforms = {json.dumps(platforms)}",
                 "wheels = [", *(f'  "./wheels/{name}",' for name in wheel_names), "]", ""]
    return "\n".join(lines[:first_table] + generated + lines[first_table:]) + "\n"


def not_backend_code(folder: str, names: list[str]) -> list[str]:
    """shutil.copytree's filter: keep the backend's modules and small JSON tables, skip caches."""
    return [name for name in names
            if name == "__pycache__" or (Path(folder, name).is_file() and not name.endswith((".py", ".json")))]


def stage_extension(stage: Path, platforms: list[str], with_torch: bool) -> None:
    """The zip's contents: the add-on at the root, the backend's code beside it, the wheels, the manifest."""
    shutil.copytree(ADDON, stage, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "backend", stage / "backend", ignore=not_backend_code)
    wheels = {wheel.name: wheel for platform in platforms for wheel in platform_wheels(platform, with_torch)}
    (stage / "wheels").mkdir()
    for name, wheel in wheels.items():
        shutil.copyfile(wheel, stage / "wheels" / name)
    (stage / "blender_manifest.toml").write_text(built_manifest(platforms, sorted(wheels)))


def extension(args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="build.py extension", description="Build the installable Blender extension zip.")
    parser.add_argument("--platform", action="append", choices=sorted(WHEEL_TAGS),
                        help="bundle wheels for this platform (repeatable; default: all three)")
    parser.add_argument("--with-torch", action="store_true",
                        help="bundle the CPU torch wheels (else the add-on runs the backend in an external Python)")
    parser.add_argument("--out", type=Path, help="the zip to write (default: dist/<id>-<version>.zip)")
    options = parser.parse_args(args)
    manifest = tomllib.loads((ADDON / "blender_manifest.toml").read_text())
    zip_path = (options.out or DIST / f"{manifest['id']}-{manifest['version']}.zip").resolve()
    tool = str(blender_ext_tool())
    DIST.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=DIST) as temporary:
        stage = Path(temporary) / manifest["id"]
        stage_extension(stage, sorted(set(options.platform or WHEEL_TAGS)), options.with_torch)
        code = run([str(venv_python()), tool, "build", "--source-dir", str(stage), "--output-filepath", str(zip_path)])
    code = code or run([str(venv_python()), tool, "validate", str(zip_path)])
    if code == 0:
        print(f"build.py: extension {zip_path} ({zip_path.stat().st_size / 2**20:.0f} MiB)", flush=True)
    return code


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(__doc__)
        return 0
    command, rest = argv[0], argv[1:]
    if command not in {"setup", "test", "demo", "bench", "extension"}:
        print(f"build.py: unknown command '{command}'.\n{__doc__}", file=sys.stderr)
        return 2
    setup()
    if command == "test":
        return run([str(venv_python()), "-m", "pytest", "tests", *rest])
    if command == "demo":
        return backend("demo", "--out", str(ROOT / "demo_out"), *rest) or blender_demo()
    if command == "bench":
        return backend("bench", *rest)
    if command == "extension":
        return extension(rest)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
