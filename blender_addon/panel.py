"""The "Head Avatar" tab in the 3D View's sidebar."""

import bpy


class HEAD_AVATAR_PT_main(bpy.types.Panel):
    bl_label = "Head Avatar"
    bl_idname = "HEAD_AVATAR_PT_main"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Head Avatar"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.head_avatar
        layout.operator("head_avatar.import_footage", icon="FILE_MOVIE")
        if settings.footage_path:
            layout.label(text=bpy.path.basename(settings.footage_path), icon="SEQUENCE")
        if settings.job_running:
            layout.progress(factor=settings.job_fraction, text=settings.job_stage.capitalize())
            layout.operator("head_avatar.cancel", icon="CANCEL")
        else:
            layout.operator("head_avatar.fit", icon="SHADERFX")
        layout.operator("head_avatar.bake", icon="OUTLINER_OB_POINTCLOUD")
        if settings.avatar_path:
            layout.label(text=bpy.path.basename(settings.avatar_path), icon="USER")
        column = layout.column(align=True)
        column.label(text="Animate")
        column.operator("head_avatar.apply_performance", icon="ACTION")
        column.operator("head_avatar.smooth_curves", icon="SMOOTHCURVE")
        column.operator("head_avatar.exaggerate", icon="FULLSCREEN_ENTER")
        column.operator("head_avatar.reset_neutral", icon="LOOP_BACK")
        column = layout.column(align=True)
        column.label(text="Paint")
        column.operator("head_avatar.bake_maps", icon="TEXTURE")
        column.operator("head_avatar.apply_maps", icon="BRUSH_DATA")
