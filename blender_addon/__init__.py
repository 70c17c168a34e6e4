"""Head Avatar for Blender: glue between Blender and the Blender-free `backend` package.

Operators copy their properties into backend calls and turn `BackendError`s into reports;
nothing heavy (torch, mediapipe, OpenCV) is imported until an operator runs.
"""

import bpy

from . import animation, engine, fitting, maps, operators, panel, preferences, properties

_CLASSES = (preferences.HeadAvatarPreferences, properties.HeadAvatarSceneSettings,
            operators.HEAD_AVATAR_OT_import_footage, fitting.HEAD_AVATAR_OT_fit, fitting.HEAD_AVATAR_OT_cancel,
            operators.HEAD_AVATAR_OT_bake, *animation.CLASSES, *maps.CLASSES, engine.HEAD_AVATAR_RE_engine, panel.HEAD_AVATAR_PT_main)


def register():
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.head_avatar = bpy.props.PointerProperty(type=properties.HeadAvatarSceneSettings)
    bpy.types.Object.head_avatar_mesh = bpy.props.PointerProperty(
        type=bpy.types.Object, name="Head Mesh", description="The head mesh these splats are bound to")


def unregister():
    del bpy.types.Object.head_avatar_mesh
    del bpy.types.Scene.head_avatar
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
