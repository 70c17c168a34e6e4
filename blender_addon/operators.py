"""Operators. Each copies its properties into a backend call and reports BackendErrors."""

import os

import bpy
from bpy_extras.io_utils import ImportHelper

from . import convert
from .backend_link import backend_error, backend_module

DEFAULT_FOV_FOCAL = 1.2  # focal in units of the larger image side, until the clip is tracked
CAMERA_NAME = "Head Avatar Camera"


class HEAD_AVATAR_OT_import_footage(bpy.types.Operator, ImportHelper):
    """Load a video: match the scene's frame rate, range and resolution to it and show it behind a camera"""

    bl_idname = "head_avatar.import_footage"
    bl_label = "Import Footage"
    bl_options = {"REGISTER", "UNDO"}

    filter_glob: bpy.props.StringProperty(default="*.mp4;*.mov;*.m4v;*.avi;*.mkv;*.webm;*.mpg;*.mpeg",
                                          options={"HIDDEN"})

    def execute(self, context):
        try:
            _, info = backend_module("tracking.ingest").open_video(self.filepath)
        except backend_error() as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        scene = context.scene
        scene.render.fps, scene.render.fps_base = convert.fps_settings(info.fps)
        scene.frame_start, scene.frame_end = 1, max(1, info.frame_count)
        scene.render.resolution_x, scene.render.resolution_y = info.width, info.height
        scene.render.resolution_percentage = 100
        clip = bpy.data.movieclips.load(os.path.abspath(self.filepath), check_existing=True)
        camera = footage_camera(scene, clip, info.width, info.height)
        scene.camera = camera
        scene.head_avatar.footage_path = os.path.abspath(self.filepath)
        self.report({"INFO"}, f"Footage: {info.width}x{info.height}, {info.fps:.3g} fps, {info.frame_count} frames")
        return {"FINISHED"}


def tracking_camera(scene):
    """The add-on's camera (made once): the tracking camera, at the origin looking along +Y
    (convert.BACKEND_TO_BLENDER)."""
    camera = bpy.data.objects.get(CAMERA_NAME)
    if camera is None:
        camera = bpy.data.objects.new(CAMERA_NAME, bpy.data.cameras.new(CAMERA_NAME))
        scene.collection.objects.link(camera)
    camera.location = (0.0, 0.0, 0.0)
    camera.rotation_euler = convert.CAMERA_ROTATION_EULER
    camera.data.sensor_fit = "AUTO"
    return camera


def footage_camera(scene, clip, width: int, height: int):
    """The tracking camera with the clip as its background."""
    camera = tracking_camera(scene)
    data = camera.data
    data.lens = convert.lens_from_focal(DEFAULT_FOV_FOCAL * max(width, height), width, height, data.sensor_width)
    data.show_background_images = True
    background = data.background_images[0] if data.background_images else data.background_images.new()
    background.source = "MOVIE_CLIP"
    background.clip = clip
    background.frame_method = "FIT"
    return camera


class HEAD_AVATAR_OT_bake(bpy.types.Operator):
    """Build the avatar as Blender data: rig with ARKit shape keys, splat point cloud, keyframed performance"""

    bl_idname = "head_avatar.bake"
    bl_label = "Bake Avatar"
    bl_options = {"REGISTER", "UNDO"}

    filepath: bpy.props.StringProperty(name="Avatar", subtype="FILE_PATH",
                                       description="avatar.safetensors (default: the scene's fitted avatar)")
    tracking: bpy.props.StringProperty(name="Tracking", subtype="DIR_PATH",
                                       description="Track folder whose performance is keyframed (default: the scene's)")

    @classmethod
    def poll(cls, context):
        if context.mode != "OBJECT":
            cls.poll_message_set("Switch to Object Mode to bake")
            return False
        return True

    def execute(self, context):
        from .bake import bake_avatar

        settings = context.scene.head_avatar
        avatar = bpy.path.abspath(self.filepath or settings.avatar_path)
        tracking = bpy.path.abspath(self.tracking or settings.tracking_dir) or None
        if not avatar:
            self.report({"ERROR"}, "No avatar to bake: fit one first, or give the operator a filepath.")
            return {"CANCELLED"}
        try:
            rig = bake_avatar(context, avatar, tracking)
        except backend_error() as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        settings.avatar_path, settings.tracking_dir = avatar, tracking or ""
        self.report({"INFO"}, f"Baked {rig.name}" + (" with the tracked performance" if tracking else ""))
        return {"FINISHED"}
