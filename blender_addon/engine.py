"""The "Head Avatar" render engine: F12 stills and animations, and viewport Rendered shading.

Per frame it reads each splat point cloud, the head mesh it is bound to as Blender evaluated
it (shape keys, bones, any other deformation) and the shape-key values, converts the Blender
camera, and renders through the backend (`avatar.host.render_posed`: gsplat on CUDA, the CPU
rasteriser otherwise). Passes: Combined (linear, premultiplied RGBA) and Depth (camera-space z
in metres; 1e10 where nothing was hit, like Cycles' background).
"""

import concurrent.futures

import numpy as np

import bpy

from . import convert
from .backend_link import backend_module
from .bake import attribute_dtype, attribute_field

EMPTY_DEPTH = 1e10
VIEWPORT_MAX_SIDE = 640  # viewport renders are made at most this large and scaled up: interactive on a CPU


class HEAD_AVATAR_RE_engine(bpy.types.RenderEngine):
    bl_idname = "HEAD_AVATAR"
    bl_label = "Head Avatar"
    bl_use_preview = False
    bl_use_postprocess = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._viewport = None

    def __del__(self):
        viewport = getattr(self, "_viewport", None)
        if viewport is not None:
            viewport.close()

    def update_render_passes(self, scene=None, renderlayer=None):
        self.register_pass(scene, renderlayer, "Combined", 4, "RGBA", "COLOR")
        if renderlayer.use_pass_z:
            self.register_pass(scene, renderlayer, "Depth", 1, "Z", "VALUE")

    def render(self, depsgraph):
        scene = depsgraph.scene
        width, height = render_size(scene)
        camera = scene.camera.evaluated_get(depsgraph) if scene.camera else None
        if camera is None:
            self.report({"ERROR"}, "The scene has no camera: add one (or import footage) to render the avatar.")
            return
        try:
            image = render_scene(depsgraph, camera_view(camera, depsgraph, width, height, scene), device(bpy.context))
        except backend_module("errors").BackendError as error:
            self.report({"ERROR"}, str(error))
            return
        rgba = over_world(image.rgba, scene)
        result = self.begin_result(0, 0, width, height)
        layer = result.layers[0]
        layer.passes["Combined"].rect = np.ascontiguousarray(rgba[::-1].reshape(-1, 4))
        if "Depth" in layer.passes:
            depth = np.where(image.rgba[..., 3] > 0, image.depth, EMPTY_DEPTH)
            layer.passes["Depth"].rect = np.ascontiguousarray(depth[::-1].reshape(-1, 1))
        self.end_result(result)

    def view_update(self, context, depsgraph):
        if self._viewport is None:
            self._viewport = ViewportRenderer()
        self._viewport.invalidate()

    def view_draw(self, context, depsgraph):
        if self._viewport is None:
            self._viewport = ViewportRenderer()
        self._viewport.draw(self, context, depsgraph)


def render_size(scene) -> tuple[int, int]:
    scale = scene.render.resolution_percentage / 100
    return max(1, int(scene.render.resolution_x * scale)), max(1, int(scene.render.resolution_y * scale))


def device(context) -> str:
    """"cuda" or "cpu" from the preferences; a BackendError for people when torch is missing here."""
    BackendError = backend_module("errors").BackendError
    try:
        import torch
    except ModuleNotFoundError:
        raise BackendError("The Head Avatar engine renders inside Blender and needs torch in Blender's Python: "
                           "install the extension built with `python3 build.py extension --with-torch`.") from None
    addon = context.preferences.addons.get(__package__)
    wanted = addon.preferences.device if addon else "AUTO"
    if wanted == "CPU":
        return "cpu"
    if wanted == "CUDA" and not torch.cuda.is_available():
        raise BackendError("The CUDA device was chosen but torch sees no CUDA GPU; "
                           "choose CPU or Auto in the add-on's preferences.")
    return "cuda" if torch.cuda.is_available() else "cpu"


def camera_view(camera, depsgraph, width: int, height: int, scene) -> dict:
    """viewmat [4, 4] (backend world to OpenCV camera), K [3, 3] and the image size for a Blender camera,
    through Blender's own projection (sensor fit, shift, pixel aspect)."""
    projection = camera.calc_matrix_camera(depsgraph, x=width, y=height, scale_x=scene.render.pixel_aspect_x,
                                           scale_y=scene.render.pixel_aspect_y)
    return {"viewmat": convert.opencv_viewmat(np.array(camera.matrix_world.inverted())),
            "K": convert.intrinsics_from_projection(np.array(projection), width, height),
            "width": width, "height": height}


def render_scene(depsgraph, view: dict, device_name: str = "cpu"):
    """Every visible splat object of the depsgraph in one render (they occlude each other)."""
    host = backend_module("avatar.host")
    bound = [bound_splats(obj, depsgraph) for obj in splat_objects(depsgraph)]
    return host.render_posed(bound, view["viewmat"], view["K"], view["width"], view["height"], device_name)


def splat_objects(depsgraph):
    for instance in depsgraph.object_instances:
        obj = instance.object
        if obj.type == "POINTCLOUD" and instance.show_self and obj.original.head_avatar_mesh is not None:
            yield obj


def bound_splats(splats, depsgraph):
    """The backend's BoundGaussians for an evaluated splat object: its Gaussians, the evaluated head
    mesh in backend world coordinates and the shape-key values as expression codes."""
    host = backend_module("avatar.host")
    mesh = splats.original.head_avatar_mesh.evaluated_get(depsgraph)
    arrays = read_points(splats.data)
    return host.BoundGaussians(host.gaussians_from_arrays(arrays), world_vertices(mesh), mesh_triangles(mesh),
                               expression_values(mesh, depsgraph, arrays["expression_names"]))


def read_points(pointcloud) -> dict:
    """The Gaussians' arrays (backend names) from a splat point cloud's attributes."""
    attributes = pointcloud.attributes
    get = lambda name, width: _attribute(attributes[name], len(pointcloud.points), width)
    codes = [a.name[len("offset_"):] for a in attributes if a.name.startswith("offset_")]
    sh = sorted((a.name for a in attributes if a.name.startswith("sh_")), key=lambda n: int(n[3:]))
    opacity = np.clip(get("opacity", 1), 1e-6, 1 - 1e-6)
    return {"triangle": get("triangle", 1), "offsets": get("offset", 3), "rotations": get("rotation", 4),
            "log_scales": get("log_scale", 3), "opacity_logits": np.log(opacity / (1 - opacity)),
            "sh": np.stack([get(name, 3) for name in sh], 1),
            "expression_offsets": np.stack([get(f"offset_{c}", 3) for c in codes], 1), "expression_names": codes}


def _attribute(attribute, count: int, width: int) -> np.ndarray:
    values = np.zeros(count * width, attribute_dtype(attribute.data_type))
    attribute.data.foreach_get(attribute_field(attribute.data_type), values)
    return values.reshape(count, width) if width > 1 else values


def world_vertices(mesh) -> np.ndarray:
    """[V, 3] evaluated vertex positions in backend world coordinates."""
    local = np.zeros(len(mesh.data.vertices) * 3, np.float32)
    mesh.data.vertices.foreach_get("co", local)
    matrix = np.array(mesh.matrix_world)
    world = local.reshape(-1, 3) @ matrix[:3, :3].T + matrix[:3, 3]
    return convert.blender_to_backend(world)


def mesh_triangles(mesh) -> np.ndarray:
    polygons = mesh.data.polygons
    corners = np.zeros(len(polygons) * 3, np.int32)
    polygons.foreach_get("vertices", corners)
    return corners.reshape(-1, 3)


def expression_values(mesh, depsgraph, codes: list[str]) -> np.ndarray:
    """[E] the shape-key values at this depsgraph's frame, for the codes in `codes`' order."""
    key = mesh.original.data.shape_keys
    blocks = key.evaluated_get(depsgraph).key_blocks if key else {}
    return np.array([blocks[c].value if c in blocks else 0.0 for c in codes], np.float32)


def over_world(rgba: np.ndarray, scene) -> np.ndarray:
    """Transparent film keeps premultiplied alpha; otherwise composite over the world colour."""
    if scene.render.film_transparent:
        return rgba
    world = np.array(scene.world.color if scene.world else (0.05, 0.05, 0.05), np.float32)
    opaque = rgba.copy()
    opaque[..., :3] += (1 - rgba[..., 3:]) * world
    opaque[..., 3] = 1
    return opaque


class ViewportRenderer:
    """Viewport Rendered shading: the scene is read on the main thread, rendered on a worker
    thread at most VIEWPORT_MAX_SIDE pixels across, and the newest image drawn as a texture."""

    def __init__(self):
        self._worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="head-avatar-view")
        self._pending = None
        self._pending_key = None
        self._texture = None
        self._shown_key = None

    def invalidate(self) -> None:
        self._shown_key = None

    def close(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)

    def draw(self, engine, context, depsgraph) -> None:
        region, view3d = context.region, context.region_data
        scale = min(1.0, VIEWPORT_MAX_SIDE / max(region.width, region.height))
        width, height = max(1, int(region.width * scale)), max(1, int(region.height * scale))
        view = {"viewmat": convert.opencv_viewmat(np.array(view3d.view_matrix)),
                "K": convert.intrinsics_from_projection(np.array(view3d.window_matrix), width, height),
                "width": width, "height": height}
        key = (view["viewmat"].tobytes(), view["K"].tobytes(), depsgraph.scene.frame_current)
        self._collect_finished()
        if key != self._shown_key and key != self._pending_key and self._pending is None:
            self._submit(key, view, context, depsgraph)
        self._draw_texture(engine, context, region)

    def _submit(self, key, view: dict, context, depsgraph) -> None:
        try:
            render_device = device(context)
        except backend_module("errors").BackendError as error:
            self._shown_key = key  # F12 reports the message; the viewport stays empty instead of retrying
            print(f"Head Avatar viewport: {error}")
            return
        bound = [bound_splats(obj, depsgraph) for obj in splat_objects(depsgraph)]
        self._pending_key = key
        self._pending = self._worker.submit(backend_module("avatar.host").render_posed, bound, view["viewmat"],
                                            view["K"], view["width"], view["height"], render_device)
        bpy.app.timers.register(self._redraw_when_done, first_interval=0.05)

    def _collect_finished(self) -> None:
        if self._pending is None or not self._pending.done():
            return
        image, self._pending = self._pending.result(), None
        self._shown_key, self._pending_key = self._pending_key, None
        import gpu

        height, width = image.rgba.shape[:2]
        buffer = gpu.types.Buffer("FLOAT", width * height * 4, np.ascontiguousarray(image.rgba[::-1]).reshape(-1))
        self._texture = gpu.types.GPUTexture((width, height), format="RGBA16F", data=buffer)

    def _redraw_when_done(self):
        if self._pending is not None and not self._pending.done():
            return 0.05
        for window in bpy.context.window_manager.windows:
            for area in window.screen.areas:
                if area.type == "VIEW_3D":
                    area.tag_redraw()
        return None

    def _draw_texture(self, engine, context, region) -> None:
        if self._texture is None:
            return
        import gpu
        from gpu_extras.presets import draw_texture_2d

        gpu.state.blend_set("ALPHA_PREMULT")
        engine.bind_display_space_shader(context.scene)
        draw_texture_2d(self._texture, (0, 0), region.width, region.height)
        engine.unbind_display_space_shader()
        gpu.state.blend_set("NONE")
