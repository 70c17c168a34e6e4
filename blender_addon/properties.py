"""Per-scene state of the add-on."""

import bpy


class HeadAvatarSceneSettings(bpy.types.PropertyGroup):
    footage_path: bpy.props.StringProperty(name="Footage", subtype="FILE_PATH")
    tracking_dir: bpy.props.StringProperty(name="Track", subtype="DIR_PATH")
    avatar_path: bpy.props.StringProperty(name="Avatar", subtype="FILE_PATH")
