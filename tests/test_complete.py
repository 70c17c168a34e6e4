"""360-degree completion: the unseen back of the head is closed, mirroring is exact, turntables render."""

import json

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


def test_nothing_of_the_front_shows_through_the_back(small_avatar):
    """Seen from behind, the completed avatar looks the same with its fitted face removed: the
    unseen back is opaque, and no Gaussians behind the face learned to show it through."""
    from backend.avatar.complete import select
    from backend.avatar.file import read_avatar
    from backend.avatar.observed import VISIBLE_COSINE, decode_cosines
    from backend.avatar.turntable import head_silhouette, render_view, turntable
    from backend.headmodel import load_head

    saved = read_avatar(small_avatar)
    head = load_head(saved.meta["head"])
    cosines = decode_cosines(saved.meta, len(head.triangles))
    back_only = select(saved.gaussians, torch.from_numpy(cosines[saved.gaussians.triangle.numpy()] < VISIBLE_COSINE))
    assert 0 < back_only.num_gaussians < saved.gaussians.num_gaussians
    table = turntable(head, saved.identity, views=24, resolution=128)
    centre = head_silhouette(head, table, 12)
    centre[:, :48] = centre[:, 80:] = False  # the middle third: behind it lies the face
    whole = render_view(saved.gaussians, head, table, 12).rgba
    back = render_view(back_only, head, table, 12).rgba
    assert np.abs(whole - back)[centre].max() < 2 / 255


def test_hair_continues_over_the_back_of_the_head_and_skin_under_it(head):
    """Gaussians coloured with the built-in head's own albedo (a hair cap reaching the nape), seen
    only from the front: the completion fills the back of the scalp from the seen hair, and the
    back of the neck below it from the seen skin, with no skin on the scalp."""
    from backend.avatar.complete import complete_avatar, mirror_triangles, triangle_regions
    from backend.avatar.model import SH_C0, initial_avatar
    from backend.avatar.observed import SEEN_COSINE, view_cosines
    from backend.avatar.turntable import turntable

    avatar = initial_avatar(head.template, head.triangles, 20000, 0, head.num_expressions, head.vertex_colors)
    table = turntable(head, torch.zeros(head.num_identity), views=24, resolution=128)
    cosines = view_cosines(table.vertices[[23, 0, 1]], head.triangles, torch.as_tensor(table.K),
                           torch.ones(128, 128, dtype=torch.bool))  # yaw +-15
    completed = complete_avatar(avatar, head, head.template, cosines)
    triangle = completed.triangle.numpy()
    unseen = np.maximum(cosines, cosines[mirror_triangles(head)]) < SEEN_COSINE
    colour = (SH_C0 * completed.sh[:, 0].detach() + 0.5).numpy()
    regions = triangle_regions(head)[triangle]
    back_scalp, back_neck = unseen[triangle] & (regions == 1), unseen[triangle] & (regions == 0)
    albedo = head.vertex_colors.numpy()[head.triangles.numpy()].mean(1)[triangle]
    hair, skin = np.median(albedo[regions == 1], 0), np.median(albedo[regions == 0], 0)
    assert back_scalp.sum() > 500 and back_neck.sum() > 100
    luminance = lambda rgb: rgb.mean(-1)
    halfway = (luminance(hair) + luminance(skin)) / 2
    assert np.percentile(luminance(colour[back_scalp]), 95) < halfway, (hair, skin)
    assert np.abs(np.median(colour[back_scalp], 0) - hair).max() < 0.03
    assert np.median(luminance(colour[back_neck])) > halfway


def test_the_crops_padding_sees_nothing(head):
    """A neck running off the bottom of the source frame is seen only on the crop's padding: those
    triangles count as never seen (left to the completion), the rest as before."""
    from backend.avatar.observed import view_cosines
    from backend.avatar.turntable import turntable
    from backend.meshrender import project

    table = turntable(head, torch.zeros(head.num_identity), views=24, resolution=128)
    footage = torch.ones(128, 128, dtype=torch.bool)
    cropped = footage.clone()
    cropped[80:] = False  # rows past 80 are padding
    args = table.vertices[[0]], head.triangles, torch.as_tensor(table.K)
    whole, cut = view_cosines(*args, footage), view_cosines(*args, cropped)
    rows = project(table.vertices[0].double().numpy(), np.asarray(table.K, np.float64))[:, 1]
    triangle_rows = rows[head.triangles.numpy()]
    below, above = (triangle_rows > 82).all(-1) & (whole > 0), (triangle_rows < 78).all(-1) & (whole > 0)
    assert below.sum() > 100 and above.sum() > 100
    assert (cut[below] == 0).all()
    np.testing.assert_array_equal(cut[above], whole[above])


def test_pull_push_blends_the_nearest_known_texels():
    from backend.avatar.complete import pull_push

    image = np.zeros((16, 16, 1))
    known = np.zeros((16, 16), bool)
    image[:, :2], known[:, :2] = 1.0, True
    image[:, -2:], known[:, -2:] = 3.0, True
    filled = pull_push(image, known)[..., 0]
    assert (filled[:, :2] == 1).all() and (filled[:, -2:] == 3).all()
    assert np.all(np.diff(filled[8]) >= 0) and 1 <= filled.min() and filled.max() <= 3
    assert filled[8, 3] < 2 < filled[8, 12]


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
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"turntable_{i:03d}.png" for i in range(3)]
                                                                + ["turntable.json"])
    views = json.loads((tmp_path / "turntable.json").read_text())["views"]
    assert [v["yaw_degrees"] for v in views] == [0, 120, 240]
    assert all(0.9 < v["silhouette_covered"] <= 1 for v in views)
    assert build_parser().parse_args(["fit", "x", "--out", "y", "--no-complete"]).complete is False
