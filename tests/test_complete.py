"""360-degree completion: the unseen back of the head is closed, mirroring is exact, turntables render."""

import numpy as np
import torch

BACK_VIEWS = range(10, 15)  # of 24 views: yaw 150, 165, 180, 195, 210 degrees


def test_back_views_cover_the_head_silhouette(small_avatar):
    """The synthetic clip's yaw stays within 30 degrees; seen from behind, the completed avatar
    still covers the head model's silhouette (98%, no hole over 2 px at 128 px = 4 px at 256)."""
    from backend.avatar.file import read_avatar
    from backend.avatar.turntable import head_silhouette, render_view, silhouette_coverage, turntable
    from backend.headmodel import load_head

    saved = read_avatar(small_avatar)
    head = load_head(saved.meta["head"])
    table = turntable(head, saved.identity, views=24, resolution=128)
    for view in BACK_VIEWS:
        alpha = render_view(saved.gaussians, head, table, view).rgba[..., 3]
        share, hole = silhouette_coverage(alpha, head_silhouette(head, table, view))
        assert share >= 0.98 and hole <= 2, (view, share, hole)


def test_silhouette_coverage_finds_a_hole():
    from backend.avatar.turntable import silhouette_coverage

    silhouette = np.zeros((40, 40), bool)
    silhouette[5:35, 5:35] = True
    alpha = silhouette.astype(np.float32)
    alpha[15:21, 18:22] = 0  # 6 x 4 hole
    share, hole = silhouette_coverage(alpha, silhouette)
    assert hole == 6 and share == 1 - 24 / 900


def test_mirror_triangles_pair_up_on_the_builtin_head(head):
    from backend.avatar.complete import mirror_codes, mirror_triangles

    mirror = mirror_triangles(head)
    assert (mirror >= 0).all()
    assert (mirror[mirror] == np.arange(len(mirror))).mean() > 0.99
    codes = mirror_codes(head.expression_names)
    names = head.expression_names
    assert names[codes[names.index("eyeBlinkLeft")]] == "eyeBlinkRight"
    assert codes[names.index("jawOpen")] == names.index("jawOpen")


def test_mirrored_gaussians_are_reflections(head, small_avatar):
    from backend.avatar.complete import mirror_gaussians, mirror_triangles, select
    from backend.avatar.file import read_avatar
    from backend.avatar.maps import rest_vertices

    saved = read_avatar(small_avatar)
    some = select(saved.gaussians, torch.arange(saved.gaussians.num_gaussians) < 50)
    rest = rest_vertices(head, torch.zeros(head.num_identity))  # the template: exactly symmetric
    mirrored = mirror_gaussians(some, rest, head, mirror_triangles(head))
    expression = torch.zeros(head.num_expressions)
    original, reflected = some.pose(rest, head.triangles, expression), mirrored.pose(rest, head.triangles, expression)
    torch.testing.assert_close(reflected.means, original.means * torch.tensor([-1.0, 1, 1]), atol=1e-6, rtol=0)
    torch.testing.assert_close(reflected.scales, original.scales, atol=1e-6, rtol=1e-4)
    flip = torch.tensor([1.0, 1, -1, -1])  # a rotation reflected across x = 0
    same = (reflected.quats - original.quats * flip).abs().amax(-1) < 1e-4
    opposite = (reflected.quats + original.quats * flip).abs().amax(-1) < 1e-4
    assert (same | opposite).all()


def test_turntable_cli_writes_the_views(small_avatar, tmp_path):
    from backend.cli import build_parser, main

    assert main(["render", str(small_avatar), "--turntable", "3", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"turntable_{i:03d}.png" for i in range(3)]
    assert build_parser().parse_args(["fit", "x", "--out", "y", "--no-complete"]).complete is False
