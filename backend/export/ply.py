"""The avatar as a standard 3D Gaussian Splatting PLY (the INRIA/graphdeco layout splat viewers open).

One `vertex` element of 62 little-endian float32 properties per Gaussian, in graphdeco's order:
x y z, nx ny nz (zeros), f_dc_0..2, f_rest_0..44, opacity (logit), scale_0..2 (log),
rot_0..3 (w x y z, normalised). SH are padded to degree 3 channel-major (f_rest_[c*15 + k-1] is
coefficient k of colour c), since several viewers expect exactly 45; our SH convention is
graphdeco's (colour = 0.28209479 * f_dc + 0.5 + higher bands).

Frames: a posed export is in the tracking camera's OpenCV frame (x right, y down, z forward,
metres), like splats trained from COLMAP cameras; the canonical export is the rest head
(avatar identity, neutral codes, no pose) in head-model space (+Y up, +Z out of the face).

    write_avatar_ply("avatar.safetensors", "canonical.ply")
    write_avatar_ply("avatar.safetensors", "frame40.ply", performance, frame=40)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import BackendError
from ..fileio import write_bytes_atomic

SH_DEGREE = 3
REST_PER_CHANNEL = (SH_DEGREE + 1) ** 2 - 1
PROPERTIES = ("x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2",
              *(f"f_rest_{i}" for i in range(3 * REST_PER_CHANNEL)), "opacity",
              "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3")
OPACITY_EPS = 1e-6  # keeps the logit finite for opacities of exactly 0 or 1


def write_splat_ply(path: str | Path, means: np.ndarray, quats: np.ndarray, scales: np.ndarray,
                    opacities: np.ndarray, sh: np.ndarray) -> Path:
    """means [N, 3], quats [N, 4] wxyz, scales [N, 3] linear, opacities [N] in [0, 1], sh [N, K, 3]
    (K <= 16) -> a binary little-endian 3DGS PLY, written atomically."""
    N = len(means)
    for name, value, shape in (("means", means, (N, 3)), ("quats", quats, (N, 4)), ("scales", scales, (N, 3)),
                               ("opacities", opacities, (N,))):
        if np.shape(value) != shape:
            raise ValueError(f"{name} has shape {np.shape(value)}, expected {shape}")
    if np.ndim(sh) != 3 or len(sh) != N or sh.shape[2] != 3 or sh.shape[1] > REST_PER_CHANNEL + 1:
        raise ValueError(f"sh has shape {np.shape(sh)}, expected [{N}, K <= 16, 3]")
    rest = np.zeros((N, 3, REST_PER_CHANNEL))
    rest[:, :, :sh.shape[1] - 1] = np.transpose(sh[:, 1:], (0, 2, 1))  # channel-major
    opacity = np.clip(opacities, OPACITY_EPS, 1 - OPACITY_EPS)
    columns = [means, np.zeros((N, 3)), sh[:, 0], rest.reshape(N, -1), np.log(opacity / (1 - opacity))[:, None],
               np.log(scales), quats / np.linalg.norm(quats, axis=1, keepdims=True)]
    table = np.concatenate([np.asarray(c, np.float64) for c in columns], 1).astype("<f4")
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {N}",
              *(f"property float {name}" for name in PROPERTIES), "end_header"]
    write_bytes_atomic(path, ("\n".join(header) + "\n").encode() + table.tobytes())
    return Path(path)


def read_splat_ply(path: str | Path) -> dict[str, np.ndarray]:
    """{property name: [N] float32} of a binary little-endian PLY with one float `vertex` element."""
    path = Path(path)
    data = path.read_bytes()
    end = data.find(b"end_header\n")
    if not data.startswith(b"ply\n") or end < 0:
        raise BackendError(f"{path} is not a PLY file.")
    lines = data[:end].decode("ascii").splitlines()
    if "format binary_little_endian 1.0" not in lines:
        raise BackendError(f"{path} is not a binary little-endian PLY.")
    count = next(int(line.split()[2]) for line in lines if line.startswith("element vertex"))
    names = [line.split()[2] for line in lines if line.startswith("property float ")]
    table = np.frombuffer(data, "<f4", count * len(names), end + len(b"end_header\n")).reshape(count, len(names))
    return {name: table[:, i].copy() for i, name in enumerate(names)}


def write_avatar_ply(avatar_path: str | Path, out: str | Path, performance=None, frame: int | None = None,
                     track=None) -> Path:
    """The avatar at Blender frame `frame` of `performance` (posed, camera frame) or, without a
    performance, canonical (rest head, head-model space)."""
    from ..avatar.render import load_stage, posed_mesh

    stage = load_stage(avatar_path, track=track)
    gaussians = stage.saved.gaussians
    if performance is None:
        with torch.no_grad():
            vertices = stage.head(identity=stage.saved.identity).vertices[0]
        codes = np.zeros(len(stage.saved.meta["expression_names"]))
    else:
        rows = np.flatnonzero(performance.frames == frame)
        if not len(rows):
            raise BackendError(f"the performance has no frame {frame} (it runs from {performance.frames[0]} to "
                               f"{performance.frames[-1]}).")
        vertices, codes = posed_mesh(stage, performance, int(rows[0]))
    with torch.no_grad():
        posed = gaussians.pose(vertices, stage.head.triangles, torch.as_tensor(codes, dtype=torch.float32))
    to_numpy = lambda t: t.detach().cpu().numpy().astype(np.float64)
    return write_splat_ply(out, to_numpy(posed.means), to_numpy(posed.quats), to_numpy(posed.scales),
                           to_numpy(posed.opacities), to_numpy(posed.sh))
