"""What a host application (the Blender add-on) needs from an avatar, as plain numpy arrays.

`avatar_rig` gives the head rig (rest mesh with the avatar's identity, expression shapes, joints,
skin weights, jaw and eye rotations per code) and the Gaussians' arrays; `render_posed` renders
Gaussians bound to meshes the host deformed itself. Host and backend then agree by construction:
whatever moves the host's mesh moves the Gaussians exactly as `GaussianAvatar.pose` would.

Shapes: V vertices, T triangles, E expression codes, J joints, N Gaussians.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from .file import read_avatar
from .model import PARAMETERS, GaussianAvatar


@dataclasses.dataclass
class AvatarRig:
    head: str  # head-model id the avatar was fitted on
    vertices: np.ndarray  # [V, 3] rest mesh with the avatar's identity, head-model space
    triangles: np.ndarray  # [T, 3]
    uvs: np.ndarray  # [U, 2]
    uv_triangles: np.ndarray  # [T, 3] index into uvs
    expression_names: list[str]
    expression_deltas: np.ndarray  # [E, V, 3] per-code vertex offsets (shape keys)
    joint_names: list[str]
    joint_parents: list[int]  # -1: the root
    joints: np.ndarray  # [J, 3] rest joint positions with the avatar's identity
    skin_weights: np.ndarray  # [V, J] rows sum to at most 1; the rest stays with the root
    expression_joint_rotations: np.ndarray  # [E, J, 3] axis-angle each code adds to each joint, per unit
    gaussians: dict[str, np.ndarray]  # GaussianAvatar.tensors(): triangle [N] and PARAMETERS
    rest_means: np.ndarray  # [N, 3] the Gaussians' centres on the neutral rest mesh, head-model space
    rest_sizes: np.ndarray  # [N] their largest scale there (for display)
    sh_degree: int
    resolution: int  # training resolution
    body_rotation: np.ndarray | None  # [3] axis-angle the body keeps while the head turns on the neck (None: older avatars)


def avatar_rig(avatar_path: str | Path) -> AvatarRig:
    from ..headmodel import load_head
    from ..headmodel.lbs import blend_shapes
    from .maps import rest_vertices

    saved = read_avatar(avatar_path)
    head = load_head(saved.meta["head"])
    with torch.no_grad():
        vertices = rest_vertices(head, saved.identity)
        joints = head.joints + blend_shapes(saved.identity[None], head.joint_identity_directions)[0]
        rest = saved.gaussians.pose(vertices, head.triangles, torch.zeros(head.num_expressions))
    return AvatarRig(
        head=saved.meta["head"], vertices=vertices.numpy(), triangles=head.triangles.numpy(),
        uvs=head.uvs.numpy(), uv_triangles=head.uv_triangles.numpy(),
        expression_names=list(head.expression_names), expression_deltas=head.expression_directions.numpy(),
        joint_names=list(head.joint_names), joint_parents=list(head.joint_parents), joints=joints.numpy(),
        skin_weights=head.skin_weights.numpy(), expression_joint_rotations=head.expression_joint_rotations.numpy(),
        gaussians={name: value.detach().numpy() for name, value in saved.gaussians.tensors().items()},
        rest_means=rest.means.numpy(), rest_sizes=rest.scales.max(1).values.numpy(),
        sh_degree=saved.gaussians.sh_degree, resolution=int(saved.meta["resolution"]),
        body_rotation=trained_body_rotation(saved.meta))


def trained_body_rotation(meta: dict) -> np.ndarray | None:
    """[3] axis-angle the avatar's body keeps while the head turns (training_view), None for avatars
    fitted before the head turned on the neck."""
    body = meta.get("training_view", {}).get("body_rotation")
    return None if body is None else np.array(body, np.float64)


def neck_pose(pose_rotation: np.ndarray, pose_translation: np.ndarray, body_rotation: np.ndarray,
              neck: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Head poses ([F, 3] axis-angle, [F, 3] metres) as the neck joint's turn ([F, 3] axis-angle, head-model
    space) and the body's translation [F, 3], the body keeping `body_rotation` [3] with the neck joint at
    `neck` [3] (model space): HeadModel.on_neck for hosts that pose their own rig."""
    from ..headmodel.lbs import axis_angle_to_matrix, matrix_to_axis_angle, turn_on_joint

    as_tensor = lambda a: torch.as_tensor(np.asarray(a, np.float32))
    turn, translation = turn_on_joint(axis_angle_to_matrix(as_tensor(pose_rotation)), as_tensor(pose_translation),
                                      axis_angle_to_matrix(as_tensor(body_rotation)), as_tensor(neck))
    return matrix_to_axis_angle(turn).numpy(), translation.numpy()


def gaussians_from_arrays(arrays: dict[str, np.ndarray]) -> GaussianAvatar:
    """The inverse of `AvatarRig.gaussians`, e.g. from a host's point-cloud attributes."""
    tensors = {name: torch.as_tensor(np.asarray(arrays[name], np.float32)) for name in PARAMETERS}
    return GaussianAvatar(torch.as_tensor(np.asarray(arrays["triangle"], np.int64)), **tensors)


@dataclasses.dataclass
class BoundGaussians:
    """One avatar's Gaussians on the host's deformed mesh for one frame."""

    gaussians: GaussianAvatar
    vertices: np.ndarray  # [V, 3] world space (backend conventions)
    triangles: np.ndarray  # [T, 3]
    expression: np.ndarray  # [E] the codes that drive the Gaussians' own offsets


@dataclasses.dataclass
class PosedRender:
    rgba: np.ndarray  # [H, W, 4] linear, premultiplied, float32
    depth: np.ndarray  # [H, W] camera-space z in metres, 0 where empty


def render_posed(bound: list[BoundGaussians], viewmat: np.ndarray, K: np.ndarray, width: int, height: int,
                 device: str = "cpu") -> PosedRender:
    """Render avatars together (they occlude each other) over a transparent background:
    viewmat [4, 4] world-to-camera (OpenCV), K [3, 3] in pixels."""
    from ..render import rasterize

    as_tensor = lambda a, dtype=torch.float32: torch.as_tensor(np.asarray(a), dtype=dtype, device=device)
    if not bound:
        return PosedRender(np.zeros((height, width, 4), np.float32), np.zeros((height, width), np.float32))
    degree = max(b.gaussians.sh_degree for b in bound)
    with torch.no_grad():
        posed = [b.gaussians.to(device).pose(as_tensor(b.vertices), as_tensor(b.triangles, torch.int64),
                                             as_tensor(b.expression)) for b in bound]
        sh = [torch.nn.functional.pad(p.sh, (0, 0, 0, (degree + 1) ** 2 - p.sh.shape[1])) for p in posed]
        out = rasterize(torch.cat([p.means for p in posed]), torch.cat([p.quats for p in posed]),
                        torch.cat([p.scales for p in posed]), torch.cat([p.opacities for p in posed]), torch.cat(sh),
                        as_tensor(viewmat)[None], as_tensor(K)[None], width, height, sh_degree=degree)
    rgba = torch.cat([out.rgb[0], out.alpha[0]], -1)
    return PosedRender(rgba.cpu().numpy(), out.depth[0, ..., 0].cpu().numpy())


def source_intrinsics(K: np.ndarray, crop: dict) -> np.ndarray:
    """Intrinsics [3, 3] of the source footage from a track's working-resolution K and its crop
    (Crop.as_dict()): the camera a host places over the original clip."""
    scale = crop["size"] / crop["side"]
    source = np.array(K, np.float64)
    source[:2] /= scale
    source[0, 2] += crop["x0"]
    source[1, 2] += crop["y0"]
    return source
