"""Export: 3DGS PLY, EXR (own writer, checked against OpenCV's OpenEXR), PNG, farm rendering in chunks."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from backend.export.exr import read_exr, write_exr
from backend.export.images import DEPTH, EMPTY_DEPTH, read_exr_layers
from backend.export.ply import PROPERTIES, read_splat_ply, write_splat_ply

ROOT = Path(__file__).resolve().parents[1]


def run_backend(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "backend", *args], cwd=ROOT, capture_output=True, text=True)


@pytest.mark.parametrize("compression", ["none", "zip", "zips"])
def test_exr_round_trip_and_opencv_reads_it(tmp_path, compression):
    rng = np.random.default_rng(0)
    smooth = np.linspace(0, 4, 37 * 29, dtype=np.float32).reshape(37, 29)  # compressible
    channels = {"R": smooth, "G": rng.uniform(-1, 2, (37, 29)).astype(np.float32), "B": smooth * 0.5,
                "A": np.clip(smooth / 4, 0, 1)}
    path = write_exr(tmp_path / "x.exr", channels, compression)
    back = read_exr(path)
    assert sorted(back) == ["A", "B", "G", "R"]
    for name, plane in channels.items():
        np.testing.assert_array_equal(back[name], plane)
    if compression != "none":
        assert path.stat().st_size < 4 * 4 * 37 * 29
    env = dict(os.environ, OPENCV_IO_ENABLE_OPENEXR="1")  # a second, independent decoder (libOpenEXR)
    script = (f"import cv2, numpy as np; image = cv2.imread({str(path)!r}, cv2.IMREAD_UNCHANGED); "
              f"np.save({str(tmp_path / 'cv.npy')!r}, image)")
    subprocess.run([sys.executable, "-c", script], env=env, check=True)
    image = np.load(tmp_path / "cv.npy")  # BGRA
    np.testing.assert_array_equal(image[..., [2, 1, 0, 3]], np.stack([channels[c] for c in "RGBA"], -1))


def test_ply_header_matches_the_standard_layout_and_loads_back(tmp_path):
    rng = np.random.default_rng(1)
    N = 50
    quats = rng.normal(size=(N, 4))
    sh = rng.normal(size=(N, 4, 3))  # degree 1: padded to degree 3, channel-major
    path = write_splat_ply(tmp_path / "s.ply", rng.normal(size=(N, 3)), quats, rng.uniform(0.001, 0.01, (N, 3)),
                           rng.uniform(0, 1, N), sh)
    data = path.read_bytes()
    header = data[:data.index(b"end_header\n") + 11].decode()
    assert header == "\n".join(["ply", "format binary_little_endian 1.0", f"element vertex {N}",
                                *(f"property float {p}" for p in PROPERTIES), "end_header"]) + "\n"
    assert len(PROPERTIES) == 62 and len(data) - len(header) == N * 248
    ply = read_splat_ply(path)
    np.testing.assert_allclose(ply["f_rest_0"], sh[:, 1, 0], rtol=1e-6)  # red, coefficient 1
    np.testing.assert_allclose(ply["f_rest_15"], sh[:, 1, 1], rtol=1e-6)  # green, coefficient 1
    np.testing.assert_allclose(ply["f_rest_32"], sh[:, 3, 2], rtol=1e-6)  # blue, coefficient 3
    assert not ply["f_rest_3"].any() and not ply["nx"].any()
    rot = np.stack([ply[f"rot_{i}"] for i in range(4)], 1)
    np.testing.assert_allclose(rot, quats / np.linalg.norm(quats, axis=1, keepdims=True), rtol=1e-5, atol=1e-6)


def test_avatar_ply_canonical_and_posed(small_avatar, synthetic_track, tmp_path):
    from backend.avatar import read_avatar

    saved = read_avatar(small_avatar)
    canonical = run_backend("export-ply", str(small_avatar), "--out", str(tmp_path / "c.ply"))
    posed = run_backend("export-ply", str(small_avatar), "--tracking", str(synthetic_track), "--frame", "10",
                        "--out", str(tmp_path / "p.ply"))
    assert canonical.returncode == 0 and posed.returncode == 0, canonical.stderr + posed.stderr
    for name, centre in (("c.ply", None), ("p.ply", 0.6)):
        ply = read_splat_ply(tmp_path / name)
        assert list(ply) == list(PROPERTIES) and len(ply["x"]) == saved.gaussians.num_gaussians
        xyz = np.stack([ply["x"], ply["y"], ply["z"]], 1)
        assert np.abs(xyz - xyz.mean(0)).max() < 0.25  # one head, metres
        if centre is None:
            assert np.abs(xyz.mean(0)).max() < 0.1  # head-model space: around the origin
        else:
            assert abs(xyz.mean(0)[2] - centre) < 0.2  # in front of the tracking camera
        scales = np.exp(np.stack([ply[f"scale_{i}"] for i in range(3)], 1))
        assert (scales > 1e-5).all() and (scales < 0.05).all()
        opacity = 1 / (1 + np.exp(-ply["opacity"]))
        np.testing.assert_allclose(np.sort(opacity), np.sort(saved.gaussians.opacity_logits.detach().sigmoid().numpy()),
                                   atol=1e-5)
        colour = 0.28209479177387814 * np.stack([ply[f"f_dc_{i}"] for i in range(3)], 1) + 0.5
        assert 0.1 < np.median(colour) < 0.9
    no_frame = run_backend("export-ply", str(small_avatar), "--tracking", str(synthetic_track),
                           "--out", str(tmp_path / "x.ply"))
    assert no_frame.returncode == 2 and "--frame" in no_frame.stderr


def render(avatar, out, *extra):
    result = run_backend("render", str(avatar), "--out", str(out), *extra)
    assert result.returncode == 0, result.stderr
    return result


@pytest.mark.parametrize("image_format", ["png", "exr"])
def test_chunked_farm_render_equals_one_run(small_avatar, synthetic_track, tmp_path, image_format):
    drive = ["--tracking", str(synthetic_track), "--format", image_format]
    render(small_avatar, tmp_path / "whole", *drive, "--frames", "3-6")
    render(small_avatar, tmp_path / "chunks", *drive, "--frames", "3-4")
    render(small_avatar, tmp_path / "chunks", *drive, "--frames", "5-6")
    whole = sorted((tmp_path / "whole").iterdir())
    assert [p.name for p in whole] == [f"frame_{n:06d}.{image_format}" for n in range(3, 7)]
    for path in whole:
        assert path.read_bytes() == (tmp_path / "chunks" / path.name).read_bytes(), path.name


def test_exr_frames_hold_linear_premultiplied_colour_and_depth(small_avatar, synthetic_track, tmp_path):
    import cv2

    from backend.colour import linear_to_srgb8

    drive = ["--tracking", str(synthetic_track), "--frames", "5"]
    render(small_avatar, tmp_path, *drive, "--format", "exr")
    render(small_avatar, tmp_path, *drive, "--format", "png", "--preview", str(tmp_path / "preview.mp4"))
    rgba, depth = read_exr_layers(tmp_path / "frame_000005.exr")
    assert sorted(read_exr(tmp_path / "frame_000005.exr")) == sorted(
        ["ViewLayer.Combined.A", "ViewLayer.Combined.B", "ViewLayer.Combined.G", "ViewLayer.Combined.R", DEPTH])
    alpha = rgba[..., 3]
    assert not rgba[alpha == 0].any()
    png = cv2.imread(str(tmp_path / "frame_000005.png"), cv2.IMREAD_UNCHANGED)
    solid, edge = alpha > 0.99, (alpha > 0.2) & (alpha < 0.8)
    assert solid.sum() > 100 and edge.sum() > 10
    # The PNG (straight alpha) is the sRGB encoding of the EXR's linear colour divided by alpha:
    # the EXR is premultiplied, and the two agree on solid and on half-covered pixels.
    expected = linear_to_srgb8(rgba[..., :3] / np.maximum(alpha, 1e-6)[..., None])[..., ::-1]
    assert np.abs(png[..., :3][solid | edge].astype(int) - expected[solid | edge]).max() <= 1
    assert np.abs(png[..., 3][edge] / 255 - alpha[edge]).max() < 0.003
    assert np.abs(rgba[..., :3][solid] - png[..., :3][solid][..., ::-1] / 255).mean() > 0.05  # not sRGB in the EXR
    assert np.all(depth[alpha == 0] == EMPTY_DEPTH)
    head_depth = depth[solid]
    assert 0.4 < np.median(head_depth) < 1.0 and head_depth.max() - head_depth.min() < 0.3  # metres
    assert (tmp_path / "preview.mp4").stat().st_size > 0


def test_render_from_a_csv_performance(small_avatar, synthetic_track, tmp_path):
    from backend.animation import Performance
    from backend.tracking import read_track

    performance = Performance.from_track(read_track(synthetic_track))
    performance.write_csv(tmp_path / "take.csv")
    render(small_avatar, tmp_path / "csv", "--performance", str(tmp_path / "take.csv"), "--frames", "2-3")
    render(small_avatar, tmp_path / "track", "--tracking", str(synthetic_track), "--frames", "2-3")
    import cv2

    for n in (2, 3):
        a, b = (cv2.imread(str(tmp_path / d / f"frame_{n:06d}.png"), cv2.IMREAD_UNCHANGED) for d in ("csv", "track"))
        # The CSV has no head position: the head sits at its mean training position, close to frame n's.
        overlap = ((a[..., 3] > 128) & (b[..., 3] > 128)).sum() / max((b[..., 3] > 128).sum(), 1)
        assert overlap > 0.8, overlap


def test_render_errors_are_one_line(small_avatar, tmp_path):
    (tmp_path / "bad.csv").write_text("Timecode,Foo\n00:00:00:00.000,1\n")
    cases = {"Foo": ["--performance", str(tmp_path / "bad.csv")],
             "absent.json": ["--performance", str(tmp_path / "absent.json")],
             "x-y": ["--performance", str(tmp_path / "bad.csv"), "--frames", "x-y"]}
    for named, args in cases.items():
        result = run_backend("render", str(small_avatar), "--out", str(tmp_path / "f"), *args)
        assert result.returncode == 2 and result.stderr.startswith("error:"), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and named in result.stderr, result.stderr
