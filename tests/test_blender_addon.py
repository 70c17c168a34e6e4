"""The Blender add-on, headless through the bpy module."""

import sys
from pathlib import Path

import pytest

bpy = pytest.importorskip("bpy")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import blender_addon  # noqa: E402
from blender_addon import convert  # noqa: E402


@pytest.fixture()
def addon():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    blender_addon.register()
    yield
    blender_addon.unregister()


def test_register_unregister_register():
    blender_addon.register()
    assert hasattr(bpy.types.Scene, "head_avatar") and hasattr(bpy.ops.head_avatar, "import_footage")
    blender_addon.unregister()
    assert not hasattr(bpy.types.Scene, "head_avatar")
    blender_addon.register()
    blender_addon.unregister()


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    from backend.synth import synthesize

    return synthesize(tmp_path_factory.mktemp("addon") / "clip", frames=12, size=96, fps=24.0)["video"]


def test_import_footage_matches_the_scene_to_the_clip(addon, clip):
    scene = bpy.context.scene
    assert bpy.ops.head_avatar.import_footage(filepath=str(clip)) == {"FINISHED"}
    assert (scene.render.fps, scene.render.fps_base) == (24, 1.0)
    assert (scene.frame_start, scene.frame_end) == (1, 12)
    assert (scene.render.resolution_x, scene.render.resolution_y) == (96, 96)
    camera = scene.camera
    assert camera is not None and camera.data.show_background_images
    assert camera.data.background_images[0].clip.filepath.endswith("video.mp4")
    forward = camera.matrix_world.to_3x3() @ __import__("mathutils").Vector((0, 0, -1))
    assert forward.y > 0.999  # looks along +Y, the backend's forward
    assert scene.head_avatar.footage_path == str(clip)
    assert bpy.ops.head_avatar.import_footage(filepath=str(clip)) == {"FINISHED"}
    assert len([o for o in bpy.data.objects if o.type == "CAMERA"]) == 1  # re-import reuses the camera


def test_import_footage_reports_bad_files(addon, tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    with pytest.raises(RuntimeError, match="notes.mp4"):
        bpy.ops.head_avatar.import_footage(filepath=str(bad))
    assert bpy.context.scene.camera is None


def test_camera_conversions_round_trip():
    lens = convert.lens_from_focal(600.0, 1920, 1080, 36.0)
    assert abs(lens - 11.25) < 1e-9
    assert abs(convert.focal_from_lens(lens, 1920, 1080, 36.0) - 600.0) < 1e-9
    fps, base = convert.fps_settings(29.97)
    assert fps == 30 and abs(fps / base - 29.97) < 1e-9


def test_fit_is_disabled_until_footage_is_imported(addon):
    assert not bpy.ops.head_avatar.fit.poll()
    assert not bpy.ops.head_avatar.cancel.poll()


def test_fit_runs_in_the_background_and_cancels(addon, clip):
    import time

    from blender_addon import fitting

    bpy.ops.head_avatar.import_footage(filepath=str(clip))
    assert bpy.ops.head_avatar.fit.poll()
    bpy.ops.head_avatar.fit()
    scene = bpy.context.scene
    assert scene.name in fitting.JOBS and scene.head_avatar.job_running
    assert not bpy.ops.head_avatar.fit.poll()  # one fit at a time
    job = fitting.JOBS[scene.name]
    deadline = time.monotonic() + 60
    while job.running and job.stage == "starting" and time.monotonic() < deadline:
        time.sleep(0.1)
    fitting.poll_job(scene)
    assert job.running, job.error  # it is working (tracking first) when we cancel
    assert scene.head_avatar.job_stage == job.stage != "starting"
    started = time.monotonic()
    bpy.ops.head_avatar.cancel()
    assert time.monotonic() - started < 2.0
    assert scene.name not in fitting.JOBS and not scene.head_avatar.job_running
