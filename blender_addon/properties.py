"""Per-scene state of the add-on."""

import bpy


class HeadAvatarSceneSettings(bpy.types.PropertyGroup):
    footage_path: bpy.props.StringProperty(name="Footage", subtype="FILE_PATH")
    tracking_dir: bpy.props.StringProperty(name="Track", subtype="DIR_PATH")
    avatar_path: bpy.props.StringProperty(name="Avatar", subtype="FILE_PATH")
    maps_dir: bpy.props.StringProperty(name="Maps", subtype="DIR_PATH")
    job_stage: bpy.props.StringProperty(name="Stage", default="")
    job_fraction: bpy.props.FloatProperty(name="Progress", min=0.0, max=1.0, subtype="FACTOR")
    job_running: bpy.props.BoolProperty(name="Running", default=False)
