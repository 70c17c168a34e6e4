"""The maps folder: `bake-maps` writes it, `apply-maps` reads it back, painted or not.

    DIR/maps.json      manifest: format, size, avatar checksum, map names, the PNGs' checksums
    DIR/colour.png     sRGB 8-bit, for painting;  DIR/colour.exr the same in linear float (R, G, B)
    DIR/opacity.png    8-bit grey, for painting;  DIR/opacity.exr float (Y)
    DIR/<map>.exr      every other map of maps.py: offset, log_scale, rotation (R, G, B, A = w, x, y, z),
                       sh_<k>, expression_<code>; channels R, G, B (A) hold the map's components in order
    DIR/coverage.png   255 where the footage saw the surface, 0 where it did not (when the avatar records it)

A PNG whose bytes changed since the bake is an edit: its texels that differ from the EXR (once
encoded to 8 bits) replace the EXR's values; everywhere else the float maps are used, so an
unedited folder rebuilds the avatar exactly.

    from backend.avatar.mapfiles import bake_maps, apply_maps
    bake_maps("out/avatar.safetensors", "maps/", size=1024)
    apply_maps("out/avatar.safetensors", "maps/", "painted/avatar.safetensors")
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from ..errors import BackendError
from ..fileio import atomic_path, staged_folder, write_json_atomic
from .file import read_avatar, write_avatar
from .maps import assign_texels, bake, gaussian_uvs, resample, rest_vertices, uv_raster
from .observed import SEEN_COSINE, decode_cosines

FORMAT_NAME = "head-avatar-maps"
FORMAT_VERSION = 1
MANIFEST = "maps.json"
CHANNELS = {1: ("Y",), 3: ("R", "G", "B"), 4: ("R", "G", "B", "A")}
WRITTEN_BY_WRITE_AVATAR = ("format", "format_version", "head", "expression_names", "sh_degree", "resolution",
                           "num_gaussians", "sha256")


def bake_maps(avatar_path: str | Path, out_dir: str | Path, size: int = 1024) -> dict[str, Path]:
    """Write the avatar's maps to out_dir (all or nothing); returns {label: path}."""
    from ..headmodel import load_head

    saved = read_avatar(avatar_path)
    head = load_head(saved.meta["head"])
    baked = bake(saved.gaussians, rest_vertices(head, saved.identity), head, size)
    cosines = decode_cosines(saved.meta, head.num_triangles)
    manifest = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "size": size,
                "avatar_sha256": saved.meta["sha256"], "maps": sorted(baked.values), "png_sha256": {}}
    with staged_folder(out_dir) as staging:
        for name in baked.values:
            _write_exr(staging / f"{name}.exr", baked.image(name))
        manifest["png_sha256"]["colour"] = _write_png(staging / "colour.png", _encode("colour", baked.image("colour")))
        manifest["png_sha256"]["opacity"] = _write_png(staging / "opacity.png", _encode("opacity", baked.image("opacity")))
        if cosines is not None:
            triangle_id = uv_raster(head, size)[0]
            coverage = (triangle_id >= 0) & (cosines[np.maximum(triangle_id, 0)] > SEEN_COSINE)
            _write_png(staging / "coverage.png", (coverage * 255).astype(np.uint8))
        write_json_atomic(staging / MANIFEST, manifest)
    out_dir = Path(out_dir)
    labels = ["colour.png", "colour.exr", "opacity.png", *(["coverage.png"] if cosines is not None else []), MANIFEST]
    return {label: out_dir / label for label in labels}


def apply_maps(avatar_path: str | Path, maps_dir: str | Path, out_path: str | Path) -> Path:
    """Rebuild the avatar's Gaussians from the maps in maps_dir (edited or not) into out_path."""
    from ..headmodel import load_head

    saved = read_avatar(avatar_path)
    head = load_head(saved.meta["head"])
    images, manifest = read_maps(maps_dir)
    uvs = gaussian_uvs(saved.gaussians, rest_vertices(head, saved.identity), head)
    gaussians = resample(saved.gaussians, assign_texels(uvs, manifest["size"]), images, head.expression_names)
    extra = {key: value for key, value in saved.meta.items() if key not in WRITTEN_BY_WRITE_AVATAR}
    out_path = Path(out_path)
    if out_path.suffix != ".safetensors":
        out_path = out_path / "avatar.safetensors"
    return write_avatar(out_path, gaussians, saved.identity, saved.meta["head"], saved.meta["expression_names"],
                        saved.meta["resolution"], **extra)


def read_maps(maps_dir: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    """(map name -> image [S, S, C] with edited PNG texels merged in, the manifest)."""
    maps_dir = Path(maps_dir)
    try:
        manifest = json.loads((maps_dir / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise BackendError(f"{maps_dir} is not a maps folder from bake-maps ({exc}). Bake the avatar first.") from None
    if manifest.get("format") != FORMAT_NAME or manifest.get("format_version") != FORMAT_VERSION:
        raise BackendError(f"{maps_dir / MANIFEST} is not a version-{FORMAT_VERSION} maps manifest. Bake again.")
    images = {name: _read_exr(maps_dir / f"{name}.exr", manifest["size"]) for name in manifest["maps"]}
    for name, digest in manifest["png_sha256"].items():
        painted = maps_dir / f"{name}.png"
        if painted.is_file() and _sha256(painted.read_bytes()) != digest:
            pixels = _read_png(painted, manifest["size"])
            if name == "opacity" and pixels.ndim == 3:
                pixels = pixels[..., 0]  # saved as RGB by the paint program
            images[name] = _merge_painted(name, images[name], pixels)
    return images, manifest


def _encode(name: str, image: np.ndarray) -> np.ndarray:
    """A paintable map [S, S, C] as the 8-bit pixels of its PNG (colour sRGB, opacity linear grey)."""
    from ..colour import linear_to_srgb8

    if name == "colour":
        return linear_to_srgb8(image)
    return np.round(np.clip(image[..., 0], 0, 1) * 255).astype(np.uint8)


def _decode(name: str, pixels: np.ndarray) -> np.ndarray:
    from .clip import srgb8_to_linear

    if name == "colour":
        return srgb8_to_linear(pixels)
    return (pixels.astype(np.float32) / 255)[..., None]


def _merge_painted(name: str, image: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """The float map [S, S, C] with the PNG's value wherever the PNG no longer matches it."""
    edited = (_encode(name, image) != pixels).reshape(*pixels.shape[:2], -1).any(-1)
    return np.where(edited[..., None], _decode(name, pixels), image)


def _write_png(path: Path, pixels: np.ndarray) -> str:
    """Write RGB or grey uint8 pixels; returns the file's SHA-256."""
    import cv2

    ok, data = cv2.imencode(".png", pixels[..., ::-1] if pixels.ndim == 3 else pixels)
    if not ok:
        raise BackendError(f"could not encode {path}.")
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.tobytes())
    return _sha256(data.tobytes())


def _read_png(path: Path, size: int) -> np.ndarray:
    import cv2

    pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if pixels is None or pixels.shape[:2] != (size, size) or pixels.dtype != np.uint8:
        raise BackendError(f"{path} is not an 8-bit {size}x{size} PNG; save the painted map at the size it was "
                           "baked, 8 bits per channel.")
    if pixels.ndim == 3:
        return pixels[..., 2::-1]  # BGR(A) -> RGB; a painter's alpha channel is ignored
    return pixels


def _write_exr(path: Path, image: np.ndarray) -> None:
    from ..export.exr import write_exr

    write_exr(path, dict(zip(CHANNELS[image.shape[-1]], np.moveaxis(image, -1, 0))))


def _read_exr(path: Path, size: int) -> np.ndarray:
    from ..export.exr import read_exr

    if not path.is_file():
        raise BackendError(f"{path} is missing; bake the maps again.")
    channels = read_exr(path)
    names = next((names for names in CHANNELS.values() if set(names) == set(channels)), None)
    if names is None or channels[names[0]].shape != (size, size):
        raise BackendError(f"{path} does not hold a {size}x{size} map with channels Y, RGB or RGBA. Bake again.")
    return np.stack([channels[name] for name in names], -1)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
