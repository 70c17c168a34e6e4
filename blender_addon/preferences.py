"""Add-on preferences: device, where the backend runs, cache folder, head model."""

import bpy


class HeadAvatarPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    device: bpy.props.EnumProperty(
        name="Device", default="AUTO",
        items=[("AUTO", "Auto", "CUDA when an NVIDIA GPU is available, else CPU"),
               ("CUDA", "CUDA", "NVIDIA GPU"), ("CPU", "CPU", "Processor only")])
    backend_runtime: bpy.props.EnumProperty(
        name="Backend", default="BUNDLED",
        items=[("BUNDLED", "Bundled", "The wheels shipped inside this extension, in Blender's Python"),
               ("EXTERNAL", "External Python", "A separate Python interpreter or virtual environment")])
    python_path: bpy.props.StringProperty(name="Python", subtype="FILE_PATH",
                                          description="Interpreter of the external backend (e.g. .venv/bin/python)")
    cache_dir: bpy.props.StringProperty(name="Cache Folder", subtype="DIR_PATH",
                                        description="Where tracks, avatars and renders go (empty: next to the .blend)")
    head_model: bpy.props.StringProperty(name="Head Model", default="default",
                                         description="'default', 'ict' (after importing ICT-FaceKit) or a head-model file")

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "device")
        layout.prop(self, "backend_runtime")
        if self.backend_runtime == "EXTERNAL":
            layout.prop(self, "python_path")
        layout.prop(self, "cache_dir")
        layout.prop(self, "head_model")
