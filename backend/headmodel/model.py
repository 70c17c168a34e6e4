"""HeadModel: the head-model file as torch buffers plus a batched, differentiable forward."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from . import lbs
from .format import FORMAT_VERSION, HeadModelData, Landmarks


@dataclasses.dataclass
class HeadOutput:
    vertices: torch.Tensor  # [F, V, 3] world space (after the head pose)
    landmarks: dict[str, torch.Tensor]  # layout -> [F, L, 3] world space
    joints: torch.Tensor  # [F, J, 3] posed joint positions, world space


class HeadModel(torch.nn.Module):
    """template + identity + expression offsets, joint rotations by LBS, then the head pose.

    forward(identity [I] or [F, I], expression [F, E], joint_rotations [F, J, 3] axis-angle,
    pose_rotation [F, 3] axis-angle, pose_translation [F, 3]); any of them may be None (zero).
    Expression codes may also rotate joints (`expression_joint_rotations`): that is how the
    built-in head realises jawOpen and the eye-look codes, so Blender can drive bones from them.
    """

    def __init__(self, data: HeadModelData):
        super().__init__()
        self.data = data
        self.name = data.name
        self.format_version = FORMAT_VERSION
        self.expression_names = list(data.expression_names)
        self.identity_names = list(data.identity_names)
        self.joint_names = list(data.joint_names)
        self.joint_parents = list(data.joint_parents)
        self.part_names = list(data.part_names)
        self.layouts = sorted(data.landmarks)
        as_float = lambda a: torch.from_numpy(np.asarray(a, dtype=np.float32))
        as_long = lambda a: torch.from_numpy(np.asarray(a, dtype=np.int64))
        self.register_buffer("template", as_float(data.template))
        self.register_buffer("triangles", as_long(data.triangles))
        self.register_buffer("uvs", as_float(data.uvs))
        self.register_buffer("uv_triangles", as_long(data.uv_triangles))
        self.register_buffer("vertex_parts", as_long(data.vertex_parts))
        self.register_buffer("identity_directions", as_float(data.identity_directions))
        self.register_buffer("expression_directions", as_float(data.expression_directions))
        self.register_buffer("joints", as_float(data.joints))
        self.register_buffer("joint_identity_directions", as_float(data.joint_identity_directions))
        self.register_buffer("skin_weights", as_float(data.skin_weights))
        self.register_buffer("expression_joint_rotations", as_float(data.expression_joint_rotations))
        self.register_buffer("vertex_colors", None if data.vertex_colors is None else as_float(data.vertex_colors))
        for layout, marks in data.landmarks.items():
            self.register_buffer(f"_lm_{layout}_index", as_long(marks.index))
            self.register_buffer(f"_lm_{layout}_vertices", as_long(marks.vertices))
            self.register_buffer(f"_lm_{layout}_barycentric", as_float(marks.barycentric))

    num_vertices = property(lambda self: self.template.shape[0])
    num_triangles = property(lambda self: self.triangles.shape[0])
    num_identity = property(lambda self: len(self.identity_names))
    num_expressions = property(lambda self: len(self.expression_names))
    num_joints = property(lambda self: len(self.joint_names))

    def landmark_indices(self, layout: str) -> torch.Tensor:
        """[L] which landmarks of `layout` the model embeds (mediapipe: a subset of 0..477)."""
        return getattr(self, f"_lm_{layout}_index")

    def landmark_embedding(self, layout: str) -> tuple[torch.Tensor, torch.Tensor]:
        """([L, 3] vertex ids, [L, 3] barycentric weights) of `layout`."""
        return getattr(self, f"_lm_{layout}_vertices"), getattr(self, f"_lm_{layout}_barycentric")

    def landmark_submodel(self, layout: str, wanted: np.ndarray | None = None) -> "HeadModel":
        """A small HeadModel holding only the vertices that `layout`'s landmarks (optionally only
        the landmark indices in `wanted`) sit on: its landmarks equal this model's, at a fraction of
        the cost. Trackers fit with it."""
        marks = self.data.landmarks[layout]
        keep = np.ones(len(marks.index), bool) if wanted is None else np.isin(marks.index, wanted)
        corners = np.where(marks.barycentric[keep] > 0, marks.vertices[keep], -1)  # zero-weight corners are not needed
        corners = np.where(corners < 0, corners.max(1, keepdims=True), corners)
        used, remapped = np.unique(corners, return_inverse=True)
        d = self.data
        sub = HeadModelData(
            name=f"{d.name}[{layout} landmarks]", description=d.description, template=d.template[used],
            triangles=np.zeros((0, 3), np.int32), uvs=np.zeros((0, 2), np.float32), uv_triangles=np.zeros((0, 3), np.int32),
            part_names=d.part_names, vertex_parts=d.vertex_parts[used], identity_names=d.identity_names,
            identity_directions=d.identity_directions[:, used], expression_names=d.expression_names,
            expression_directions=d.expression_directions[:, used], joint_names=d.joint_names,
            joint_parents=d.joint_parents, joints=d.joints, joint_identity_directions=d.joint_identity_directions,
            skin_weights=d.skin_weights[used], expression_joint_rotations=d.expression_joint_rotations,
            landmarks={layout: Landmarks(marks.index[keep], remapped.reshape(-1, 3), marks.barycentric[keep])})
        return HeadModel(sub).to(self.template.device)

    def part_mask(self, *parts: str) -> torch.Tensor:
        """[V] bool: vertices belonging to any of `parts`."""
        ids = [self.part_names.index(p) for p in parts]
        return torch.isin(self.vertex_parts, torch.tensor(ids, device=self.vertex_parts.device))

    def on_neck(self, identity, pose_rotation, pose_translation, body_rotation, joint_rotations=None) -> dict:
        """Forward arguments that pose the head as `pose_rotation` [F, 3] and `pose_translation` [F, 3]
        do, turning it on the neck joint while the body (what the neck does not carry) keeps
        `body_rotation` [3] (axis-angle, model -> camera): a turning head does not swing the shoulders.
        Vertices the neck carries whole land exactly where the plain pose puts them. Heads without
        a "neck" joint get the plain pose."""
        as_tensor = lambda a: torch.as_tensor(a, dtype=self.template.dtype, device=self.template.device)
        pose_rotation, pose_translation = as_tensor(pose_rotation), as_tensor(pose_translation)
        F = len(pose_rotation)
        joint_rotations = (torch.zeros(F, self.num_joints, 3, dtype=pose_rotation.dtype, device=pose_rotation.device)
                           if joint_rotations is None else as_tensor(joint_rotations).expand(F, -1, -1))
        if "neck" not in self.joint_names:
            return {"joint_rotations": joint_rotations, "pose_rotation": pose_rotation, "pose_translation": pose_translation}
        neck = self.joint_names.index("neck")
        joint = (self.joints + lbs.blend_shapes(as_tensor(identity).reshape(1, -1), self.joint_identity_directions))[0, neck]
        turn, body_translation = lbs.turn_on_joint(lbs.axis_angle_to_matrix(pose_rotation), pose_translation,
                                                   lbs.axis_angle_to_matrix(as_tensor(body_rotation)), joint)
        turn = lbs.matmul3(turn, lbs.axis_angle_to_matrix(joint_rotations[:, neck]))
        joint_rotations = torch.cat([joint_rotations[:, :neck], lbs.matrix_to_axis_angle(turn)[:, None],
                                     joint_rotations[:, neck + 1:]], 1)
        return {"joint_rotations": joint_rotations, "pose_rotation": as_tensor(body_rotation).expand(F, 3),
                "pose_translation": body_translation}

    def forward(self, identity=None, expression=None, joint_rotations=None,
                pose_rotation=None, pose_translation=None) -> HeadOutput:
        F = _batch_size(expression, joint_rotations, pose_rotation, pose_translation,
                        identity if identity is not None and identity.ndim == 2 else None)
        dtype, device = self.template.dtype, self.template.device
        identity = _coefficients(identity, F, self.num_identity, "identity", dtype, device, shared=True)
        expression = _coefficients(expression, F, self.num_expressions, "expression", dtype, device)
        joint_rotations = _batched(joint_rotations, F, (self.num_joints, 3), "joint_rotations", dtype, device)
        pose_rotation = _batched(pose_rotation, F, (3,), "pose_rotation", dtype, device)
        pose_translation = _batched(pose_translation, F, (3,), "pose_translation", dtype, device)

        rest = (self.template + lbs.blend_shapes(identity, self.identity_directions)
                + lbs.blend_shapes(expression, self.expression_directions))
        joints = (self.joints + lbs.blend_shapes(identity, self.joint_identity_directions)).expand(F, -1, -1)
        local = joint_rotations + torch.einsum("fe,ejc->fjc", expression, self.expression_joint_rotations)
        transforms = lbs.joint_transforms(lbs.axis_angle_to_matrix(local), joints, self.joint_parents)
        posed = lbs.skin(rest, self.skin_weights, transforms)
        posed_joints = (transforms[..., :3] * joints[..., None, :]).sum(-1) + transforms[..., 3]

        rotation = lbs.axis_angle_to_matrix(pose_rotation)  # [F, 3, 3]
        to_world = lambda points: (points[..., None, :] * rotation[:, None]).sum(-1) + pose_translation[:, None]
        vertices = to_world(posed)
        landmarks = {layout: lbs.vertices_to_landmarks(vertices, *self.landmark_embedding(layout))
                     for layout in self.layouts}
        return HeadOutput(vertices=vertices, landmarks=landmarks, joints=to_world(posed_joints))


def _batch_size(*tensors) -> int:
    sizes = {t.shape[0] for t in tensors if t is not None}
    if len(sizes) > 1:
        raise ValueError(f"forward arguments disagree on the number of frames: {sorted(sizes)}")
    return sizes.pop() if sizes else 1


def _coefficients(value, F, K, name, dtype, device, shared=False) -> torch.Tensor:
    """[F, K] coefficients; with `shared`, a [K] value (one identity for all frames) becomes [1, K]
    so its blend is computed once and broadcast."""
    if value is None:
        return torch.zeros(1 if shared else F, K, dtype=dtype, device=device)
    value = torch.as_tensor(value, dtype=dtype, device=device)
    if value.ndim == 1:
        value = value[None] if shared else value.expand(F, -1)
    return _check(value, (len(value) if shared and len(value) == 1 else F, K), name)


def _check(value, shape, name):
    if tuple(value.shape) != shape:
        raise ValueError(f"{name} must be [{shape[-1]}] or [F, {shape[-1]}], got {list(value.shape)}")
    return value


def _batched(value, F, shape, name, dtype, device) -> torch.Tensor:
    if value is None:
        return torch.zeros(F, *shape, dtype=dtype, device=device)
    value = torch.as_tensor(value, dtype=dtype, device=device)
    if tuple(value.shape) != (F, *shape):
        raise ValueError(f"{name} must be [F, {', '.join(map(str, shape))}], got {list(value.shape)}")
    return value
