"""Paint the avatar: bake its Gaussians into UV maps, show the colour map on the head mesh for
Texture Paint (or any image editor), and apply the edited maps back to the splats."""

from pathlib import Path

import bpy

from .animation import avatar_objects
from .backend_link import backend_error, backend_module
from .bake import write_splat_attributes

MATERIAL_NAME = "Head Avatar Paint"
PAINTABLE = ("colour", "opacity")  # the maps baked as 8-bit PNGs that Apply Maps reads back


def _poll_baked_avatar(cls, context) -> bool:
    if avatar_objects(context) is None or not context.scene.head_avatar.avatar_path:
        cls.poll_message_set("Bake an avatar first")
        return False
    return True


class HEAD_AVATAR_OT_bake_maps(bpy.types.Operator):
    """Bake the avatar into UV maps and put the colour map on the head mesh for painting"""

    bl_idname = "head_avatar.bake_maps"
    bl_label = "Bake Maps"
    bl_options = {"REGISTER", "UNDO"}

    size: bpy.props.EnumProperty(name="Size", items=[(s, s, f"{s} x {s} texels") for s in ("512", "1024", "2048")],
                                 default="1024")

    @classmethod
    def poll(cls, context):
        return _poll_baked_avatar(cls, context)

    def execute(self, context):
        settings = context.scene.head_avatar
        folder = Path(bpy.path.abspath(settings.avatar_path)).parent / "maps"
        try:
            backend_module("avatar.mapfiles").bake_maps(settings.avatar_path, folder, int(self.size))
        except backend_error() as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        settings.maps_dir = str(folder)
        _, mesh = avatar_objects(context)
        _show_for_painting(mesh, bpy.data.images.load(str(folder / "colour.png"), check_existing=True))
        self.report({"INFO"}, f"Maps in {folder}: paint the colour map in Texture Paint, then Apply Maps")
        return {"FINISHED"}


def _show_for_painting(mesh, image) -> None:
    image.reload()
    material = bpy.data.materials.get(MATERIAL_NAME) or bpy.data.materials.new(MATERIAL_NAME)
    if material.node_tree is None:  # before Blender 5.0 a new material has no nodes until asked
        material.use_nodes = True
    nodes = material.node_tree.nodes
    texture = nodes.get("Colour Map") or nodes.new("ShaderNodeTexImage")
    texture.name, texture.image = "Colour Map", image
    material.node_tree.links.new(texture.outputs["Color"], nodes["Principled BSDF"].inputs["Base Color"])
    nodes.active = texture  # Texture Paint paints the active image node
    mesh.data.materials.clear()
    mesh.data.materials.append(material)


class HEAD_AVATAR_OT_apply_maps(bpy.types.Operator):
    """Update the splats from the (painted) maps: colour and opacity edits become the Gaussians' own"""

    bl_idname = "head_avatar.apply_maps"
    bl_label = "Apply Maps"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        if not context.scene.head_avatar.maps_dir:
            cls.poll_message_set("Bake Maps first")
            return False
        return _poll_baked_avatar(cls, context)

    def execute(self, context):
        settings = context.scene.head_avatar
        folder = Path(bpy.path.abspath(settings.maps_dir))
        _save_painted_images(folder)
        source = Path(bpy.path.abspath(settings.avatar_path))
        try:
            painted = backend_module("avatar.mapfiles").apply_maps(source, folder, source.parent / "painted")
            rig = backend_module("avatar.host").avatar_rig(painted)
        except backend_error() as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        splats = [o for o in context.scene.objects if o.type == "POINTCLOUD" and o.head_avatar_mesh
                  and o.head_avatar_mesh == avatar_objects(context)[1]]
        for obj in splats:
            write_splat_attributes(obj.data, rig)
            obj.data.update_tag()
        settings.avatar_path = str(painted)
        self.report({"INFO"}, f"Applied the maps; the painted avatar is {painted}")
        return {"FINISHED"}


def _save_painted_images(folder: Path) -> None:
    """Write the maps' images that Blender holds (painted in Texture Paint) back to their PNGs."""
    for image in bpy.data.images:
        path = Path(bpy.path.abspath(image.filepath)) if image.filepath else None
        if path and path.parent == folder and path.stem in PAINTABLE and image.is_dirty:
            image.save()


CLASSES = (HEAD_AVATAR_OT_bake_maps, HEAD_AVATAR_OT_apply_maps)
