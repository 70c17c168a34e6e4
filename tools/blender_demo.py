"""The demo's Blender half (run by `python3 build.py demo` after `python -m backend demo`):
bake the demo avatar into DEMO_OUT/demo.blend and render a few frames through the Head Avatar engine.

    .venv/bin/python tools/blender_demo.py demo_out
"""

import sys
from pathlib import Path

import bpy

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import blender_addon  # noqa: E402

PREVIEW_FRAMES = (1, 40, 80)


def main(out: Path) -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    blender_addon.register()
    _check(bpy.ops.head_avatar.import_footage(filepath=str(out / "synth" / "video.mp4")))
    _check(bpy.ops.head_avatar.bake(filepath=str(out / "avatar" / "avatar.safetensors"), tracking=str(out / "track")))
    scene = bpy.context.scene
    scene.render.film_transparent = True
    scene.render.image_settings.file_format, scene.render.image_settings.color_mode = "PNG", "RGBA"
    blend = out / "demo.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    print(f"blender scene: {blend} (open it in Blender 4.2+ with the Head Avatar extension enabled)")
    for frame in PREVIEW_FRAMES:
        scene.frame_set(frame)
        scene.render.filepath = str(out / "blender_frames" / f"frame_{frame:04d}.png")
        bpy.ops.render.render(write_still=True)
        print(f"blender render: {scene.render.filepath}")


def _check(result: set) -> None:
    if result != {"FINISHED"}:
        sys.exit(f"blender demo: an operator ended with {result}; see the report above.")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "demo_out").resolve())
