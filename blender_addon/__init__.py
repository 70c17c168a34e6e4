"""Head Avatar for Blender: glue between Blender and the Blender-free `backend` package.

Operators copy their properties into backend calls and turn `BackendError`s into reports;
nothing heavy (torch, mediapipe, OpenCV) is imported until an operator runs.
"""

import bpy

from . import fitting, operators, panel, preferences, properties

_CLASSES = (preferences.HeadAvatarPreferences, properties.HeadAvatarSceneSettings,
            operators.HEAD_AVATAR_OT_import_footage, fitting.HEAD_AVATAR_OT_fit, fitting.HEAD_AVATAR_OT_cancel,
            panel.HEAD_AVATAR_PT_main)


def register():
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.head_avatar = bpy.props.PointerProperty(type=properties.HeadAvatarSceneSettings)


def unregister():
    del bpy.types.Scene.head_avatar
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
