"""Animating a baked avatar: apply another performance (a clip, a Live Link Face CSV, a JSON, a
track) into new actions, and clean up the expression curves (smooth, exaggerate, reset)."""

from pathlib import Path

import numpy as np

import bpy

from .backend_link import backend_error, backend_module
from .bake import keyframe_performance
from .fitting import JOBS, BackendJobOperator, device_arguments, output_folder

VIDEO_SUFFIXES = {".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm", ".mpg", ".mpeg"}
GROUP_ITEMS = [("ALL", "All", "Every expression code"), ("mouth", "Mouth", "Jaw, mouth, cheeks and tongue"),
               ("eyes", "Eyes", "Blinks, gaze, squint and wide"), ("brows", "Brows", "Brow codes")]


def avatar_objects(context):
    """(armature, head mesh) of the avatar the active object belongs to, else the scene's first; None if none."""
    for obj in [context.active_object, *context.scene.objects]:
        found = _avatar_of(obj) if obj else None
        if found:
            return found
    return None


def _avatar_of(obj):
    if obj.type == "POINTCLOUD":
        mesh = obj.head_avatar_mesh
    elif obj.type == "ARMATURE":
        mesh = next((child for child in obj.children if child.type == "MESH"), None)
    else:
        mesh = obj if obj.type == "MESH" else None
    if mesh and mesh.data.shape_keys and mesh.parent and mesh.parent.type == "ARMATURE":
        return mesh.parent, mesh
    return None


def _poll_avatar(cls, context) -> bool:
    if avatar_objects(context) is None:
        cls.poll_message_set("Bake an avatar first")
        return False
    return True


class HEAD_AVATAR_OT_apply_performance(BackendJobOperator, bpy.types.Operator):
    """Drive the avatar with another performance, keyed into new actions (the current ones stay).
    A video is tracked and retargeted in the background; a CSV (Live Link Face), JSON or track folder is read at once"""

    bl_idname = "head_avatar.apply_performance"
    bl_label = "Apply Performance from Clip"
    bl_options = {"REGISTER", "UNDO"}

    filepath: bpy.props.StringProperty(name="Performance", subtype="FILE_PATH",
                                       description="A video, a Live Link Face .csv, a performance .json or a track folder")
    filter_glob: bpy.props.StringProperty(default="*.mp4;*.mov;*.m4v;*.avi;*.mkv;*.webm;*.csv;*.json",
                                          options={"HIDDEN"})

    @classmethod
    def poll(cls, context):
        if context.scene.name in JOBS:
            cls.poll_message_set("A job is already running; cancel it first")
            return False
        return _poll_avatar(cls, context)

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        path = Path(bpy.path.abspath(self.filepath))
        if path.suffix.lower() in VIDEO_SUFFIXES:
            avatar = context.scene.head_avatar.avatar_path
            if not avatar:
                self.report({"ERROR"}, "The scene has no fitted avatar file to retarget onto; bake one first.")
                return {"CANCELLED"}
            out = output_folder(context).parent / f"retarget_{path.stem}"
            return self.start_job(context, ["retarget", str(path), "--avatar", avatar, "--out", str(out),
                                            *device_arguments(context)],
                                  lambda scene, outputs: apply_performance_file(scene, outputs["performance"]))
        try:
            name = apply_performance_file(context.scene, path, context)
        except backend_error() as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Applied {path.name} as '{name}'")
        return {"FINISHED"}


def apply_performance_file(scene, path, context=None) -> str:
    """Key the performance in `path` onto the scene's avatar in new actions named after the file."""
    armature, mesh = avatar_objects(context or bpy.context)
    performance = backend_module("animation").read_performance(path, fps=scene.render.fps / scene.render.fps_base)
    name = Path(path).stem
    keyframe_performance(armature, mesh, performance, action_name=name)
    return name


def expression_curves(mesh, group: str) -> list:
    """The F-curves of the codes in `group` ("ALL" for every code) in the shape keys' active action."""
    animation = mesh.data.shape_keys.animation_data
    if animation is None or animation.action is None:
        return []
    codes = [block.name for block in mesh.data.shape_keys.key_blocks[1:]]
    wanted = set(codes if group == "ALL" else backend_module("animation.curves").group_codes(codes, group))
    action = animation.action
    if hasattr(action, "slots"):
        from bpy_extras import anim_utils

        curves = anim_utils.action_get_channelbag_for_slot(action, animation.action_slot).fcurves
    else:
        curves = action.fcurves
    return [c for c in curves if c.data_path.startswith('key_blocks["') and c.data_path.split('"')[1] in wanted]


def edit_keys(curve, change, frame_range: tuple[float, float] | None = None) -> None:
    """values' = change(values) for the keys inside frame_range (all keys without one); handles follow."""
    count = len(curve.keyframe_points)
    co = np.zeros(2 * count, np.float32)
    curve.keyframe_points.foreach_get("co", co)
    co = co.reshape(count, 2)
    inside = np.ones(count, bool) if frame_range is None else (co[:, 0] >= frame_range[0]) & (co[:, 0] <= frame_range[1])
    co[inside, 1] = change(co[inside, 1])
    curve.keyframe_points.foreach_set("co", co.reshape(-1))
    for point in curve.keyframe_points:
        point.handle_left_type = point.handle_right_type = "AUTO_CLAMPED"
    curve.update()


class _CurveTool:
    bl_options = {"REGISTER", "UNDO"}

    group: bpy.props.EnumProperty(name="Group", items=GROUP_ITEMS, default="ALL")

    @classmethod
    def poll(cls, context):
        return _poll_avatar(cls, context)

    def execute(self, context):
        _, mesh = avatar_objects(context)
        curves = expression_curves(mesh, self.group)
        if not curves:
            self.report({"WARNING"}, "No expression keys to edit in this group")
            return {"CANCELLED"}
        for curve in curves:
            edit_keys(curve, self.change, self.frame_range(context))
        return {"FINISHED"}

    def frame_range(self, context):
        return None


class HEAD_AVATAR_OT_smooth_curves(_CurveTool, bpy.types.Operator):
    """Smooth the expression curves (Savitzky-Golay); strength is the half-window in frames"""

    bl_idname = "head_avatar.smooth_curves"
    bl_label = "Smooth Expressions"

    strength: bpy.props.FloatProperty(name="Strength", default=2.0, min=0.0, max=15.0)

    def change(self, values):
        return backend_module("animation.curves").savitzky_golay(values, self.strength)


class HEAD_AVATAR_OT_exaggerate(_CurveTool, bpy.types.Operator):
    """Scale a face group's expression codes (above 1 exaggerates, below 1 calms), kept in 0-1"""

    bl_idname = "head_avatar.exaggerate"
    bl_label = "Scale Expressions"

    factor: bpy.props.FloatProperty(name="Factor", default=1.25, min=0.0, max=4.0)

    def change(self, values):
        return backend_module("animation.curves").exaggerate(values, self.factor)


class HEAD_AVATAR_OT_reset_neutral(_CurveTool, bpy.types.Operator):
    """Set a group's codes to neutral (0) over a frame range"""

    bl_idname = "head_avatar.reset_neutral"
    bl_label = "Reset to Neutral"

    frame_start: bpy.props.IntProperty(name="Start", default=1)
    frame_end: bpy.props.IntProperty(name="End", default=250)

    def invoke(self, context, event):
        self.frame_start, self.frame_end = context.scene.frame_start, context.scene.frame_end
        return context.window_manager.invoke_props_dialog(self)

    def change(self, values):
        return np.zeros_like(values)

    def frame_range(self, context):
        return (self.frame_start, self.frame_end)


CLASSES = (HEAD_AVATAR_OT_apply_performance, HEAD_AVATAR_OT_smooth_curves, HEAD_AVATAR_OT_exaggerate,
           HEAD_AVATAR_OT_reset_neutral)
