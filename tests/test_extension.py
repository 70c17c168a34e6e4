"""`python3 build.py extension`: the zip passes Blender's validator, installs from the zip into the bpy
module and enables. The install runs in a subprocess with a throw-away Blender user folder, so neither
this process's bpy nor the real user profile is touched. The first run downloads this platform's
wheels from PyPI into wheels/; later runs reuse them (about 20 s in all)."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLENDER_PLATFORMS = {"linux": "linux-x64", "win32": "windows-x64", "darwin": "macos-arm64"}

INSTALL_AND_ENABLE = """
import importlib, json, os, sys
import bpy

installed = bpy.ops.extensions.package_install_files(filepath=sys.argv[1], repo="user_default",
                                                     enable_on_install=True)
bpy.context.scene.render.engine = "HEAD_AVATAR"  # raises when the engine is not registered
site_packages = bpy.utils.user_resource("EXTENSIONS", path=".local/lib/python3.11/site-packages")
print(json.dumps({
    "installed": sorted(installed),
    "enabled": "bl_ext.user_default.head_avatar" in bpy.context.preferences.addons,
    "operators": sorted(dir(bpy.ops.head_avatar)),
    "engine": bpy.context.scene.render.engine,
    "backend": importlib.import_module("bl_ext.user_default.head_avatar.backend.errors").__file__,
    "wheel_modules": sorted(os.listdir(site_packages)),
}))
"""


def blender_ext_tool() -> Path:
    bpy_dir = Path(importlib.util.find_spec("bpy").origin).parent
    return next(bpy_dir.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))


@pytest.fixture(scope="module")
def extension_zip(tmp_path_factory) -> Path:
    zip_path = tmp_path_factory.mktemp("extension") / "head_avatar.zip"
    command = [sys.executable, str(ROOT / "build.py"), "extension",
               "--platform", BLENDER_PLATFORMS[sys.platform], "--out", str(zip_path)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (
        "build.py extension failed. Its first run downloads the wheels from PyPI into wheels/: "
        f"without network, copy them there by hand.\n{result.stdout}\n{result.stderr}")
    return zip_path


def test_zip_passes_blenders_validator(extension_zip):
    result = subprocess.run([sys.executable, str(blender_ext_tool()), "validate", str(extension_zip)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success" in result.stdout


def test_zip_installs_and_enables(extension_zip, tmp_path):
    environment = {**os.environ, "BLENDER_USER_RESOURCES": str(tmp_path / "blender_user")}
    result = subprocess.run([sys.executable, "-c", INSTALL_AND_ENABLE, str(extension_zip)], env=environment,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["installed"] == ["FINISHED"] and report["enabled"]
    assert {"bake", "import_footage", "fit"} <= set(report["operators"])
    assert report["engine"] == "HEAD_AVATAR"
    assert Path(report["backend"]).is_relative_to(tmp_path)
    assert {"cv2", "mediapipe", "numba", "safetensors", "scipy"} <= set(report["wheel_modules"])
