"""Baking an avatar into UV maps and back (bake-maps / apply-maps), and painting on the colour map."""

import json
import shutil

import numpy as np
import pytest
import torch

MAP_SIZE = 512


@pytest.fixture(scope="module")
def baked(small_avatar, tmp_path_factory):
    """(avatar path, maps folder) baked through the CLI."""
    from backend.cli import main

    maps = tmp_path_factory.mktemp("maps")
    assert main(["bake-maps", str(small_avatar), "--out", str(maps), "--size", str(MAP_SIZE)]) == 0
    return small_avatar, maps


def _heldout_psnr(avatar_path, track_folder, out_dir) -> float:
    from backend.avatar.clip import load_clip
    from backend.avatar.evaluate import evaluate
    from backend.avatar.file import read_avatar
    from backend.headmodel import load_head
    from backend.tracking import read_track

    saved = read_avatar(avatar_path)
    head = load_head(saved.meta["head"])
    clip = load_clip(read_track(track_folder), head, saved.meta["resolution"])
    paths = evaluate(saved.gaussians, clip, head.triangles, out_dir, "cpu", {}, fps=25.0)
    return json.loads(paths["metrics"].read_text())["heldout_psnr_masked"]


def test_bake_then_apply_keeps_heldout_psnr(baked, synthetic_track, tmp_path):
    from backend.cli import main

    avatar, maps = baked
    manifest = json.loads((maps / "maps.json").read_text())
    assert {"colour", "opacity", "offset", "log_scale", "rotation", "expression_jawOpen"} <= set(manifest["maps"])
    assert (maps / "coverage.png").is_file() and (maps / "colour.exr").is_file()
    assert main(["apply-maps", str(avatar), "--maps", str(maps), "--out", str(tmp_path / "applied")]) == 0
    before = _heldout_psnr(avatar, synthetic_track, tmp_path / "before")
    after = _heldout_psnr(tmp_path / "applied" / "avatar.safetensors", synthetic_track, tmp_path / "after")
    assert abs(after - before) <= 0.5, (before, after)


def test_coverage_map_marks_the_face_seen_and_the_back_unseen(baked):
    import cv2

    coverage = cv2.imread(str(baked[1] / "coverage.png"), cv2.IMREAD_UNCHANGED) > 0
    _, face_row, face_column, back_row, back_column = _cheek_and_back_texels(MAP_SIZE)
    assert coverage[face_row, face_column]
    assert not coverage[back_row, back_column]


def _cheek_and_back_texels(size: int):
    """(head, row, column of the left cheek, row, column of the back of the head) in maps of `size`."""
    from backend.avatar.maps import uv_to_texel
    from backend.headmodel import load_head

    head = load_head("default")
    template, uvs = head.template.numpy(), head.uvs.numpy()
    corner_of = {int(v): int(u) for v, u in zip(head.triangles.numpy().ravel(), head.uv_triangles.numpy().ravel())}
    nearest = lambda point: uvs[corner_of[int(np.linalg.norm(template - point, axis=1).argmin())]]
    cheek, back = nearest([0.045, -0.03, 0.075]), nearest([0.0, 0.02, -0.11])
    return (head, *uv_to_texel(cheek, size), *uv_to_texel(back, size))


def test_red_square_on_the_colour_map_paints_the_cheek_only(baked, tmp_path):
    import cv2

    from backend.avatar.file import read_avatar
    from backend.avatar.mapfiles import apply_maps
    from backend.avatar.turntable import render_view, turntable

    avatar, maps = baked[0], tmp_path / "maps"
    shutil.copytree(baked[1], maps)
    head, row, column, _, _ = _cheek_and_back_texels(MAP_SIZE)
    half = MAP_SIZE // 50
    painted = cv2.imread(str(maps / "colour.png"))
    painted[row - half:row + half, column - half:column + half] = (0, 0, 255)  # BGR red
    cv2.imwrite(str(maps / "colour.png"), painted)
    apply_maps(avatar, maps, tmp_path / "painted.safetensors")
    saved, edited = read_avatar(avatar), read_avatar(tmp_path / "painted.safetensors")
    table = turntable(head, saved.identity, views=24, resolution=128)
    front = 22  # yaw -30 degrees: the left cheek turned towards the camera
    before = render_view(saved.gaussians, head, table, front).rgba
    after = render_view(edited.gaussians, head, table, front).rgba
    square = _uv_square_in_view(head, table, front, row, column, half)
    assert square.sum() > 10
    red, green_blue = after[square, 0].mean(), after[square, 1:3].mean()
    assert red > 0.5 and red > 3 * green_blue, (red, green_blue)  # red dominates where the square lands
    margin = cv2.dilate(square.astype(np.uint8), np.ones((17, 17), np.uint8)).astype(bool)  # the splats' own extent
    changed = np.abs(_srgb(after) - _srgb(before)).max(-1)
    assert changed[~margin].max() <= 2


def _srgb(rgba: np.ndarray) -> np.ndarray:
    from backend.colour import linear_to_srgb8

    return linear_to_srgb8(rgba[..., :3] + 1 - rgba[..., 3:]).astype(int)


def _uv_square_in_view(head, table, view, row, column, half) -> np.ndarray:
    """[H, W] bool: pixels of the view whose surface point's texel lies in the painted square."""
    from backend.avatar.maps import uv_to_texel
    from backend.meshrender import rasterize

    fragments = rasterize(table.vertices[view].double().numpy(), head.triangles.numpy(), np.eye(4), table.K,
                          table.resolution, table.resolution)
    corners = head.uvs.numpy()[head.uv_triangles.numpy()[np.maximum(fragments.triangle_id, 0)]]  # [H, W, 3, 2]
    texel_row, texel_column = uv_to_texel((fragments.barycentrics[..., None] * corners).sum(-2), MAP_SIZE)
    inside = (abs(texel_row - row + 0.5) < half) & (abs(texel_column - column + 0.5) < half)
    return fragments.mask & inside


def test_unedited_maps_resample_exactly(small_avatar):
    from backend.avatar.file import read_avatar
    from backend.avatar.maps import bake, resample, rest_vertices
    from backend.headmodel import load_head

    saved = read_avatar(small_avatar)
    head = load_head(saved.meta["head"])
    baked = bake(saved.gaussians, rest_vertices(head, saved.identity), head, 256)
    assert len(np.unique(baked.texels)) == saved.gaussians.num_gaussians
    images = {name: baked.image(name) for name in ("colour", "offset", "expression_jawOpen")}
    rebuilt = resample(saved.gaussians, baked.texels, images, head.expression_names)
    torch.testing.assert_close(rebuilt.sh, saved.gaussians.sh.detach())
    torch.testing.assert_close(rebuilt.offsets, saved.gaussians.offsets.detach())
    torch.testing.assert_close(rebuilt.expression_offsets, saved.gaussians.expression_offsets.detach())
