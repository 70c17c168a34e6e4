"""Bake an avatar into native Blender data: armature + head mesh (shape keys) + splat point cloud,
with the tracked performance as keyframes.

The rig reproduces the backend's head-model forward exactly: shape keys are the identity-shaped
rest mesh plus each code's offsets; vertex groups hold the LBS weights (a "root" group takes the
remainder, because Blender normalises weights per vertex); the jaw and eye bones are driven from
the shape-key values by the head model's per-code rotations, in axis-angle like the backend; the
armature object's transform is the body's pose and the head turns on the neck bone, as the backend
poses the avatar (HeadModel.on_neck; avatars fitted before it turn the whole armature). The render
engine poses the Gaussians on the evaluated mesh, so any deformation an animator adds moves them too.
"""

import numpy as np

import bpy
from bpy_extras import anim_utils

from . import convert
from .backend_link import backend_module

ROOT_BONE = "root"
BONE_LENGTH = 0.02  # metres; only for display
BODY_ROTATION = "head_avatar_body_rotation"  # armature property: the avatar's body rotation (AvatarRig.body_rotation)
NECK_BONE = "neck"
SPLAT_PARAMETERS = ("offset", "rotation", "log_scale", "opacity")  # point attributes besides sh_* and offset_<code>


def bake_avatar(context, avatar_path: str, tracking_dir: str | None = None):
    """Create the avatar's objects in a new collection; keyframe the track when given. Returns the armature."""
    rig = backend_module("avatar.host").avatar_rig(avatar_path)
    track = _matching_track(tracking_dir, rig) if tracking_dir else None
    collection = bpy.data.collections.new("Head Avatar")
    context.scene.collection.children.link(collection)
    armature = _armature(context, collection, rig)
    if rig.body_rotation is not None:
        armature[BODY_ROTATION] = rig.body_rotation.tolist()
    mesh = _head_mesh(collection, rig, armature)
    _drive_joints(armature, mesh, rig)
    _splats(collection, rig, mesh)
    if track is not None:
        keyframe_performance(armature, mesh, backend_module("animation").Performance.from_track(track))
        _match_camera(context.scene, track)
    context.scene.render.engine = "HEAD_AVATAR"
    return armature


def _matching_track(tracking_dir: str, rig):
    track = backend_module("tracking").read_track(tracking_dir)
    if list(track.meta["expression_names"]) != rig.expression_names:
        raise backend_module("errors").BackendError(
            f"{tracking_dir} was tracked with another head model than the avatar ({rig.head}); "
            "track the clip with the avatar's head model.")
    return track


def _armature(context, collection, rig):
    data = bpy.data.armatures.new("Head Avatar Rig")
    armature = bpy.data.objects.new("Head Avatar Rig", data)
    collection.objects.link(armature)
    joints = convert.model_to_object(rig.joints)
    previous = context.view_layer.objects.active
    context.view_layer.objects.active = armature
    bpy.ops.object.mode_set(mode="EDIT")
    root = data.edit_bones.new(ROOT_BONE)
    root.head, root.tail = (0.0, 0.0, 0.0), (0.0, 0.0, BONE_LENGTH)
    bones = []
    for name, parent, position in zip(rig.joint_names, rig.joint_parents, joints):
        bone = data.edit_bones.new(name)
        bone.head, bone.tail = position, position + np.array([0.0, -BONE_LENGTH, 0.0])  # pointing out of the face
        bone.parent = bones[parent] if parent >= 0 else root
        bone.use_deform = True
        bones.append(bone)
    bpy.ops.object.mode_set(mode="OBJECT")
    context.view_layer.objects.active = previous
    for bone in armature.pose.bones:
        bone.rotation_mode = "AXIS_ANGLE"  # the backend sums per-code rotations as axis-angle vectors
    return armature


def _head_mesh(collection, rig, armature):
    data = bpy.data.meshes.new("Head Avatar")
    data.from_pydata(convert.model_to_object(rig.vertices).tolist(), [], rig.triangles.tolist())
    uv = data.uv_layers.new(name="UVMap")
    uv.data.foreach_set("uv", rig.uvs[rig.uv_triangles].reshape(-1).astype(np.float32))
    mesh = bpy.data.objects.new("Head Avatar", data)
    collection.objects.link(mesh)
    mesh.parent = armature
    _skin(mesh, rig)
    modifier = mesh.modifiers.new("Armature", "ARMATURE")
    modifier.object, modifier.use_vertex_groups, modifier.use_bone_envelopes = armature, True, False
    mesh.shape_key_add(name="Basis", from_mix=False)
    for name, delta in zip(rig.expression_names, rig.expression_deltas):
        key = mesh.shape_key_add(name=name, from_mix=False)
        key.data.foreach_set("co", convert.model_to_object(rig.vertices + delta).astype(np.float32).reshape(-1))
        key.slider_min, key.slider_max = 0.0, 1.0
    return mesh


def _skin(mesh, rig) -> None:
    weights = np.concatenate([1 - rig.skin_weights.sum(1, keepdims=True), rig.skin_weights], 1)
    for name, column in zip([ROOT_BONE, *rig.joint_names], weights.T):
        group = mesh.vertex_groups.new(name=name)
        for weight in np.unique(column[column > 0]):
            group.add(np.flatnonzero(column == weight).tolist(), float(weight), "REPLACE")


def _drive_joints(armature, mesh, rig) -> None:
    """Each joint some codes rotate gets four drivers (angle, axis) summing code * rotation."""
    key = mesh.data.shape_keys
    for j, name in enumerate(rig.joint_names):
        codes = np.flatnonzero(np.abs(rig.expression_joint_rotations[:, j]).max(1) > 0)
        if len(codes) == 0:
            continue
        rest = armature.data.bones[name].matrix_local.to_3x3()
        per_code = convert.bone_rotation(rig.expression_joint_rotations[codes, j], np.array(rest))  # [codes, 3]
        components = [" + ".join(f"{c:.9g}*v{i}" for i, c in enumerate(per_code[:, axis]) if c != 0) or "0"
                      for axis in range(3)]
        expressions = [f"sqrt({' + '.join(f'pow({c}, 2)' for c in components)})", *components]
        bone = armature.pose.bones[name]
        for channel, expression in enumerate(expressions):
            driver = bone.driver_add("rotation_axis_angle", channel).driver
            driver.type, driver.expression = "SCRIPTED", expression
            for i, code in enumerate(codes):
                variable = driver.variables.new()
                variable.name, variable.type = f"v{i}", "SINGLE_PROP"
                variable.targets[0].id_type, variable.targets[0].id = "KEY", key
                variable.targets[0].data_path = f'key_blocks["{rig.expression_names[code]}"].value'


def _splats(collection, rig, mesh):
    """The Gaussians as a point cloud parented to the head, shown at their neutral positions."""
    data = bpy.data.meshes.new("Head Avatar Splats")
    data.vertices.add(len(rig.rest_means))
    data.vertices.foreach_set("co", convert.model_to_object(rig.rest_means).astype(np.float32).reshape(-1))
    write_splat_attributes(data, rig)
    splats = bpy.data.objects.new("Head Avatar Splats", data)
    collection.objects.link(splats)
    _convert_to_pointcloud(splats)
    splats.parent = mesh
    splats.head_avatar_mesh = mesh
    radius = splats.data.attributes.new("radius", "FLOAT", "POINT")
    radius.data.foreach_set("value", rig.rest_sizes.astype(np.float32))
    return splats


def write_splat_attributes(data, rig) -> None:
    """Create or overwrite the Gaussians' point attributes of `data` (a mesh or point cloud) from a rig."""
    for name, kind, values in splat_attributes(rig):
        attribute = data.attributes.get(name) or data.attributes.new(name, kind, "POINT")
        attribute.data.foreach_set(attribute_field(kind), values.astype(attribute_dtype(kind)).reshape(-1))


def splat_attributes(rig):
    """(name, Blender type, values) per point attribute: the Gaussians' parameters, SH coefficients
    sh_0..sh_K-1 and one offset_<code> per expression code."""
    g = rig.gaussians
    yield "triangle", "INT", g["triangle"]
    yield "offset", "FLOAT_VECTOR", g["offsets"]
    yield "rotation", "QUATERNION", g["rotations"]
    yield "log_scale", "FLOAT_VECTOR", g["log_scales"]
    yield "opacity", "FLOAT", 1 / (1 + np.exp(-g["opacity_logits"]))
    for k in range(g["sh"].shape[1]):
        yield f"sh_{k}", "FLOAT_VECTOR", g["sh"][:, k]
    for e, code in enumerate(rig.expression_names):
        yield f"offset_{code}", "FLOAT_VECTOR", g["expression_offsets"][:, e]


def attribute_dtype(kind: str):
    return np.int32 if kind == "INT" else np.float32


def attribute_field(kind: str) -> str:
    """The per-element property foreach_get/foreach_set address for an attribute type."""
    return "vector" if kind == "FLOAT_VECTOR" else "value"


def _convert_to_pointcloud(obj) -> None:
    """Blender has no API to size a point cloud; a mesh of loose vertices converts into one."""
    view_layer = bpy.context.view_layer
    previous = view_layer.objects.active
    selected = [o for o in view_layer.objects if o.select_get()]
    for o in selected:
        o.select_set(False)
    view_layer.objects.active = obj
    obj.select_set(True)
    mesh = obj.data
    bpy.ops.object.convert(target="POINTCLOUD")
    bpy.data.meshes.remove(mesh)
    obj.select_set(False)
    for o in selected:
        o.select_set(True)
    view_layer.objects.active = previous


def keyframe_performance(armature, mesh, performance, action_name: str | None = None) -> None:
    """Keys for a backend Performance on its Blender frames: one F-curve per code (the shape keys'
    values) and the head pose (the armature's Euler rotation, and its location when the
    performance records one). New actions take the keys, so earlier ones stay in the file."""
    frames = np.asarray(performance.frames, np.float64)
    key = mesh.data.shape_keys
    key_curves = _channelbag(key, f"{action_name or 'Head Avatar'} Expressions", "KEY")
    codes = {name: e for e, name in enumerate(performance.expression_names)}
    for block in key.key_blocks[1:]:
        if block.name in codes:
            _set_keys(key_curves.fcurves.new(f'key_blocks["{block.name}"].value'), frames,
                      performance.expression[:, codes[block.name]])
    rig_curves = _channelbag(armature, f"{action_name or 'Head Avatar'} Pose", "OBJECT")
    pose_rotation, translation = performance.pose_rotation, performance.pose_translation
    placed = translation if translation is not None else np.zeros((len(frames), 3))
    if armature.get(BODY_ROTATION) is not None and NECK_BONE in armature.pose.bones:
        pose_rotation, placed = _turn_on_neck(armature, rig_curves, frames, pose_rotation, placed)
    rotation = backend_module("headpose").axis_angle_to_matrix(pose_rotation)
    matrices = [convert.head_object_matrix(r, t) for r, t in zip(rotation, placed)]
    armature.rotation_mode = "XYZ"
    eulers, previous = [], None
    for matrix in matrices:
        previous = _mathutils_matrix(matrix).to_euler("XYZ", *([previous] if previous else []))
        eulers.append(tuple(previous))
    for axis in range(3):
        _set_keys(rig_curves.fcurves.new("rotation_euler", index=axis), frames, [e[axis] for e in eulers])
        if translation is not None:
            _set_keys(rig_curves.fcurves.new("location", index=axis), frames, [m[axis, 3] for m in matrices])


def _turn_on_neck(armature, rig_curves, frames, pose_rotation, translation):
    """Key the neck bone's turn for head poses; returns the body's pose (rotation [F, 3] axis-angle,
    translation [F, 3]) for the armature object, as the backend poses the avatar (HeadModel.on_neck)."""
    body = np.asarray(armature[BODY_ROTATION], np.float64)
    bone = armature.data.bones[NECK_BONE]
    turns, body_translation = backend_module("avatar.host").neck_pose(
        pose_rotation, translation, body, convert.object_to_model(np.array(bone.head_local)))
    local = convert.bone_rotation(turns, np.array(bone.matrix_local.to_3x3()))  # [F, 3] rotation vectors
    channels = np.concatenate([np.linalg.norm(local, axis=1, keepdims=True), local], 1)  # Blender's angle, axis
    armature.pose.bones[NECK_BONE].rotation_mode = "AXIS_ANGLE"
    for channel in range(4):
        _set_keys(rig_curves.fcurves.new(f'pose.bones["{NECK_BONE}"].rotation_axis_angle', index=channel), frames,
                  channels[:, channel])
    return np.tile(body, (len(frames), 1)), body_translation


def _mathutils_matrix(matrix):
    from mathutils import Matrix

    return Matrix(np.asarray(matrix).tolist())


def _channelbag(owner, action_name: str, id_type: str):
    """F-curves container of a new action assigned to `owner`: the action itself before Blender 4.4,
    its slot's channelbag with slotted actions."""
    action = bpy.data.actions.new(action_name)
    animation = owner.animation_data or owner.animation_data_create()
    animation.action = action
    if not hasattr(action, "slots"):
        return action
    slot = animation.action_slot or action.slots.new(id_type=id_type, name=owner.name)
    animation.action_slot = slot
    return anim_utils.action_ensure_channelbag_for_slot(action, slot)


def _set_keys(curve, frames: np.ndarray, values) -> None:
    curve.keyframe_points.add(len(frames))
    co = np.stack([frames, np.asarray(values, np.float64)], 1).astype(np.float32)
    curve.keyframe_points.foreach_set("co", co.reshape(-1))
    curve.update()


def _match_camera(scene, track) -> None:
    """The tracking camera over the source footage, at the origin looking along +Y."""
    from .operators import tracking_camera

    width, height = track.meta["source_size"]
    camera = tracking_camera(scene)
    K = backend_module("avatar.host").source_intrinsics(track.K, track.meta["crop"])
    camera.data.lens, camera.data.shift_x, camera.data.shift_y = convert.camera_from_intrinsics(
        K, width, height, camera.data.sensor_width)
    scene.camera = camera
