"""Bake and the Head Avatar render engine, headless through the bpy module."""

import os
import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "1")

import blender_addon  # noqa: E402
from blender_addon import convert  # noqa: E402

PARITY_FRAMES = (5, 40)  # tracked frame numbers (0-based) compared with the backend


@pytest.fixture(scope="module")
def baked(small_avatar, synthetic_track):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    blender_addon.register()
    result = bpy.ops.head_avatar.bake(filepath=str(small_avatar), tracking=str(synthetic_track))
    assert result == {"FINISHED"}
    yield bpy.context.scene
    blender_addon.unregister()


def test_bake_creates_the_rig_splats_and_one_key_per_tracked_frame(baked, small_avatar, synthetic_track):
    from backend.avatar import read_avatar
    from backend.headmodel import ARKIT_NAMES
    from backend.tracking import read_track

    track = read_track(synthetic_track)
    mesh, rig, splats = (bpy.data.objects[name] for name in ("Head Avatar", "Head Avatar Rig", "Head Avatar Splats"))
    assert [k.name for k in mesh.data.shape_keys.key_blocks[1:]] == list(ARKIT_NAMES)
    assert splats.type == "POINTCLOUD" and len(splats.data.points) == read_avatar(small_avatar).gaussians.num_gaussians
    assert splats.head_avatar_mesh == mesh and mesh.parent == rig
    assert {"root", "neck", "jaw", "eyeLeft", "eyeRight"} <= set(rig.data.bones.keys())
    key_curves = _fcurves(mesh.data.shape_keys)
    assert len(key_curves) == len(ARKIT_NAMES)
    assert all(len(c.keyframe_points) == track.num_frames for c in key_curves)
    pose_curves = {(c.data_path, c.array_index) for c in _fcurves(rig)}
    assert {("location", i) for i in range(3)} | {("rotation_euler", i) for i in range(3)} <= pose_curves
    assert all(len(c.keyframe_points) == track.num_frames for c in _fcurves(rig))
    assert baked.render.engine == "HEAD_AVATAR"


def test_blender_rig_matches_the_backend_forward(baked, synthetic_track):
    from backend.avatar.clip import load_clip
    from backend.headmodel import load_head
    from backend.tracking import read_track

    from blender_addon.engine import world_vertices

    track = read_track(synthetic_track)
    clip = load_clip(track, load_head("default"), 64, with_images=False)
    for frame in PARITY_FRAMES:
        baked.frame_set(int(track.frame_index[frame]) + 1)
        mesh = bpy.data.objects["Head Avatar"].evaluated_get(bpy.context.evaluated_depsgraph_get())
        error = np.abs(world_vertices(mesh) - clip.vertices[frame].numpy()).max()
        assert error < 2e-5, f"frame {frame}: Blender's rig is {error * 1000:.4f} mm off the backend"


@pytest.fixture(scope="module")
def crop_camera(baked, synthetic_track):
    """The scene rendered like the backend renders the track: the crop's camera at 64 px."""
    from backend.tracking import read_track

    track = read_track(synthetic_track)
    K = np.array(track.K, np.float64)
    K[:2] *= 64 / track.size
    scene = baked
    scene.render.resolution_x = scene.render.resolution_y = 64
    scene.render.resolution_percentage = 100
    camera = scene.camera
    camera.data.lens, camera.data.shift_x, camera.data.shift_y = convert.camera_from_intrinsics(
        K, 64, 64, camera.data.sensor_width)
    scene.render.film_transparent = True
    return K


def test_camera_conversion_is_exact(baked, crop_camera):
    from blender_addon.engine import camera_view, render_size

    scene = baked
    view = camera_view(scene.camera, bpy.context.evaluated_depsgraph_get(), *render_size(scene), scene)
    assert np.allclose(view["K"], crop_camera, atol=1e-4)
    assert np.allclose(view["viewmat"], np.eye(4), atol=1e-6)  # the tracking camera is the backend's world


def test_engine_render_matches_the_backend(baked, crop_camera, small_avatar, synthetic_track, tmp_path):
    for frame in PARITY_FRAMES:
        blender = _render_still(baked, _blender_frame(synthetic_track, frame), tmp_path / f"parity_{frame}.exr")
        backend = _backend_render(small_avatar, synthetic_track, frame)
        mse = float(np.mean((blender - backend) ** 2))
        psnr = 10 * np.log10(1 / max(mse, 1e-12))
        print(f"frame {frame}: Blender vs backend PSNR {psnr:.1f} dB")
        assert psnr >= 45, f"frame {frame}: Blender vs backend PSNR {psnr:.1f} dB"
        assert backend[..., 3].max() > 0.5  # the avatar is in view, so the comparison means something


def test_jaw_open_key_changes_the_mouth_only(baked, crop_camera, synthetic_track, tmp_path):
    frame = _blender_frame(synthetic_track, PARITY_FRAMES[0])
    before = _render_still(baked, frame, tmp_path / "before.exr")
    curve = next(c for c in _fcurves(bpy.data.objects["Head Avatar"].data.shape_keys)
                 if c.data_path == 'key_blocks["jawOpen"].value')
    key = next(k for k in curve.keyframe_points if k.co[0] == frame)
    key.co[1] = key.handle_left[1] = key.handle_right[1] = 1.0
    curve.update()
    after = _render_still(baked, frame, tmp_path / "after.exr")
    key.co[1] = key.handle_left[1] = key.handle_right[1] = 0.0
    curve.update()
    changed = np.abs(after - before).max(-1) > 2 / 255
    assert changed.sum() > 10, "opening the jaw changed nothing"
    mouth_x, mouth_y = _mouth_centre(synthetic_track, PARITY_FRAMES[0])
    rows = np.arange(changed.shape[0])[:, None] + 0.5
    # Above the nose (15 px at 64 px): the cheeks beside it tilt as the jaw opens, and their shading with them.
    assert not changed[(rows < mouth_y - 15).repeat(changed.shape[1], 1)].any(), "the upper face changed"
    assert abs(np.median(np.nonzero(changed)[1]) + 0.5 - mouth_x) < 8, "the change is not around the mouth"


def _mouth_centre(synthetic_track, frame: int) -> np.ndarray:
    """Pixel (x, y) at 64 px between the inner lips (mediapipe 13 and 14) as tracked."""
    from backend.tracking import read_track

    track = read_track(synthetic_track)
    lips = [list(track.landmark_index).index(i) for i in (13, 14)]
    return track.landmarks_fitted[frame, lips].mean(0) * 64 / track.size


def _blender_frame(synthetic_track, frame: int) -> int:
    from backend.tracking import read_track

    return int(read_track(synthetic_track).frame_index[frame]) + 1


def _render_still(scene, frame: int, path: Path) -> np.ndarray:
    """[H, W, 4] linear premultiplied RGBA of the engine's Combined pass at `frame`."""
    import cv2

    scene.frame_set(frame)
    settings = scene.render.image_settings
    if hasattr(settings, "media_type"):
        settings.media_type = "IMAGE"
    settings.file_format, settings.color_mode, settings.color_depth = "OPEN_EXR", "RGBA", "32"
    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image is not None, f"the engine wrote no image to {path}"
    return image[..., [2, 1, 0, 3]]


def _backend_render(avatar_path, synthetic_track, frame: int) -> np.ndarray:
    import torch

    from backend.avatar import read_avatar
    from backend.avatar.clip import load_clip
    from backend.avatar.evaluate import render_frames
    from backend.headmodel import load_head
    from backend.tracking import read_track

    saved = read_avatar(avatar_path)
    track = read_track(synthetic_track)
    track.identity = saved.identity.numpy()
    head = load_head("default")
    clip = load_clip(track, head, 64, with_images=False)
    rgb, alpha = render_frames(saved.gaussians, clip.vertices[frame:frame + 1], clip.expression[frame:frame + 1],
                               head.triangles, clip.K, 64, torch.zeros(3))
    return torch.cat([rgb[0], alpha[0]], -1).numpy()


def _fcurves(owner):
    action = owner.animation_data.action
    if not hasattr(action, "slots"):
        return list(action.fcurves)
    from bpy_extras import anim_utils

    return list(anim_utils.action_get_channelbag_for_slot(action, owner.animation_data.action_slot).fcurves)


def test_animation_render_writes_png_exr_and_mp4(baked, crop_camera, synthetic_track, tmp_path):
    import cv2

    scene = baked
    scene.frame_start, scene.frame_end = 1, 3
    scene.view_layers[0].use_pass_z = True
    outputs = {"png": ("IMAGE", "PNG"), "exr": ("MULTI_LAYER_IMAGE", "OPEN_EXR_MULTILAYER"), "mp4": ("VIDEO", "FFMPEG")}
    for name, (media, file_format) in outputs.items():
        settings = scene.render.image_settings
        if hasattr(settings, "media_type"):
            settings.media_type = media
        settings.file_format = file_format
        if name == "mp4":
            scene.render.ffmpeg.format, scene.render.ffmpeg.codec = "MPEG4", "H264"
        else:
            settings.color_mode, settings.color_depth = "RGBA", "8" if name == "png" else "32"
        scene.render.filepath = str(tmp_path / name / "frame_")
        bpy.ops.render.render(animation=True)
    pngs = sorted((tmp_path / "png").glob("frame_*.png"))
    assert [p.name for p in pngs] == ["frame_0001.png", "frame_0002.png", "frame_0003.png"]
    rgba = cv2.imread(str(pngs[0]), cv2.IMREAD_UNCHANGED)
    assert rgba.shape == (64, 64, 4) and rgba[..., 3].min() == 0 and rgba[..., 3].max() == 255
    exrs = sorted((tmp_path / "exr").glob("frame_*.exr"))
    assert len(exrs) == 3
    channels = _exr_channel_names(exrs[0])
    assert {"ViewLayer.Combined.R", "ViewLayer.Combined.A", "ViewLayer.Depth.Z"} <= set(channels), channels
    videos = list((tmp_path / "mp4").glob("*.mp4"))
    assert len(videos) == 1
    capture = cv2.VideoCapture(str(videos[0]))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 3


def _exr_channel_names(path: Path) -> list[str]:
    """Channel names from every part header of an OpenEXR file (single or multi-part)."""
    import struct

    data = path.read_bytes()
    assert data[:4] == b"\x76\x2f\x31\x01", f"{path} is not OpenEXR"
    position, names = 8, []
    while data[position] != 0:  # one header per part; an empty name ends a header, an empty header the list
        while data[position] != 0:
            name_end = data.index(b"\0", position)
            type_end = data.index(b"\0", name_end + 1)
            size = struct.unpack_from("<i", data, type_end + 1)[0]
            value = data[type_end + 5:type_end + 5 + size]
            if data[position:name_end] == b"channels":
                cursor = 0
                while value[cursor] != 0:
                    end = value.index(b"\0", cursor)
                    names.append(value[cursor:end].decode())
                    cursor = end + 1 + 16
            position = type_end + 5 + size
        position += 1
        if not data[5] & 0x10:  # the multi-part flag (bit 12 of the version field) is off: one header only
            break
    return names


def test_apply_performance_keeps_the_original_action(baked, tmp_path):
    from backend.animation import Performance
    from backend.headmodel import ARKIT_NAMES

    mesh = bpy.data.objects["Head Avatar"]
    original = mesh.data.shape_keys.animation_data.action
    frames = np.arange(1, 11)
    expression = np.zeros((10, len(ARKIT_NAMES)))
    expression[:, ARKIT_NAMES.index("jawOpen")] = np.linspace(0, 1, 10)
    take = Performance(fps=baked.render.fps / baked.render.fps_base, frames=frames, expression_names=list(ARKIT_NAMES),
                       expression=expression, head_angles=np.zeros((10, 3)), eye_angles=np.zeros((10, 2, 3)),
                       pose_translation=None)
    take.write_csv(tmp_path / "phone_take.csv")
    assert bpy.ops.head_avatar.apply_performance(filepath=str(tmp_path / "phone_take.csv")) == {"FINISHED"}
    applied = mesh.data.shape_keys.animation_data.action
    assert applied != original and original.name in bpy.data.actions
    baked.frame_set(10)
    assert mesh.data.shape_keys.key_blocks["jawOpen"].value == pytest.approx(1.0, abs=1e-6)
    assert mesh.data.shape_keys.key_blocks["mouthSmileLeft"].value == 0.0
    mesh.data.shape_keys.animation_data.action = original  # the original take is still there to go back to


def test_curve_tools_smooth_scale_and_reset(baked):
    from blender_addon.animation import expression_curves

    mesh = bpy.data.objects["Head Avatar"]
    bpy.context.view_layer.objects.active = mesh
    values = lambda group: np.array([[k.co[1] for k in c.keyframe_points] for c in expression_curves(mesh, group)])
    before = values("ALL")
    roughness = lambda v: np.abs(np.diff(v, 2, axis=1)).mean()
    assert bpy.ops.head_avatar.smooth_curves(strength=3) == {"FINISHED"}
    assert roughness(values("ALL")) < 0.7 * roughness(before)
    brows, mouth = values("brows"), values("mouth")
    assert bpy.ops.head_avatar.exaggerate(group="brows", factor=1.5) == {"FINISHED"}
    assert np.allclose(values("brows"), np.clip(brows * 1.5, 0, 1), atol=1e-6)
    assert np.allclose(values("mouth"), mouth)  # other groups untouched
    assert bpy.ops.head_avatar.reset_neutral(group="mouth", frame_start=5, frame_end=10) == {"FINISHED"}
    frames = np.array([k.co[0] for k in expression_curves(mesh, "mouth")[0].keyframe_points])
    inside = (frames >= 5) & (frames <= 10)
    assert np.all(values("mouth")[:, inside] == 0) and np.allclose(values("mouth")[:, ~inside], mouth[:, ~inside])


@pytest.mark.parametrize("media, file_format", [("IMAGE", "PNG"), ("MULTI_LAYER_IMAGE", "OPEN_EXR_MULTILAYER")])
def test_chunked_blender_render_equals_one_run(baked, crop_camera, tmp_path, media, file_format):
    scene = baked
    settings = scene.render.image_settings
    if hasattr(settings, "media_type"):
        settings.media_type = media
    settings.file_format, settings.color_mode = file_format, "RGBA"
    settings.color_depth = "16" if file_format == "PNG" else "32"
    scene.render.use_stamp = False
    for folder, (start, end) in {"whole": (1, 4), "chunks": (1, 2), "chunks2": (3, 4)}.items():
        scene.frame_start, scene.frame_end = start, end
        scene.render.filepath = str(tmp_path / ("chunks" if folder.startswith("chunks") else "whole") / "frame_")
        bpy.ops.render.render(animation=True)
    whole, chunks = sorted((tmp_path / "whole").iterdir()), sorted((tmp_path / "chunks").iterdir())
    assert [p.name for p in whole] == [p.name for p in chunks] and len(whole) == 4
    for a, b in zip(whole, chunks):
        assert np.array_equal(_pixels(a), _pixels(b)), f"{b.name} differs between the chunked and the single run"


def _pixels(path: Path) -> np.ndarray:
    """Decoded pixels (PNG), or the file's bytes after the header (EXR; Blender's header holds a date)."""
    import cv2

    if path.suffix == ".png":
        return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    data = path.read_bytes()
    return np.frombuffer(data[data.index(b"ViewLayer.Combined.R"):], np.uint8)


def test_painted_colour_map_recolours_only_the_painted_splats(baked, crop_camera, small_avatar, tmp_path):
    from backend.avatar import read_avatar
    from backend.avatar.maps import gaussian_uvs, rest_vertices
    from backend.headmodel import load_head

    scene = baked
    scene.head_avatar.avatar_path = str(small_avatar)
    mesh = bpy.data.objects["Head Avatar"]
    bpy.context.view_layer.objects.active = mesh
    assert not bpy.ops.head_avatar.apply_maps.poll()  # nothing baked yet
    assert bpy.ops.head_avatar.bake_maps(size="512") == {"FINISHED"}
    image = mesh.data.materials[0].node_tree.nodes["Colour Map"].image
    pixels = np.array(image.pixels[:], np.float32).reshape(512, 512, 4)  # bottom-up rows, linear in Blender
    painted = np.zeros((512, 512), bool)
    painted[:, :256] = True  # u < 0.5
    pixels[painted] = (1.0, 0.0, 0.0, 1.0)
    image.pixels.foreach_set(pixels.reshape(-1))
    before = _sh_dc(bpy.data.objects["Head Avatar Splats"])
    assert bpy.ops.head_avatar.apply_maps() == {"FINISHED"}
    after = _sh_dc(bpy.data.objects["Head Avatar Splats"])
    saved = read_avatar(small_avatar)
    head = load_head("default")
    u = gaussian_uvs(saved.gaussians, rest_vertices(head, saved.identity), head)[:, 0]
    changed = np.abs(after - before).max(1) > 1e-4
    red = (after[:, 0] > after[:, 1] + 1) & (after[:, 0] > after[:, 2] + 1)  # SH DC: red well above green, blue
    assert changed[u < 0.49].mean() > 0.9 and red[u < 0.49].mean() > 0.9
    assert changed[u > 0.51].mean() < 0.05


def _sh_dc(splats) -> np.ndarray:
    values = np.zeros(len(splats.data.points) * 3, np.float32)
    splats.data.attributes["sh_0"].data.foreach_get("vector", values)
    return values.reshape(-1, 3)
