import numpy as np
import pytest

from backend.meshrender import (Fragments, _interpolate_reference, _rasterize_reference, project, rasterize, render,
                                shade, to_camera, vertex_normals)

K32 = np.array([[100.0, 0.0, 16.0], [0.0, 100.0, 16.0], [0.0, 0.0, 1.0]])  # 32x32 image, centre at 16
QUAD = np.array([[0, 1, 2], [0, 2, 3]])


def square(half: float, z: float) -> np.ndarray:
    """Camera-space square in the plane Z = z, corners counter-clockwise in the image."""
    return np.array([[-half, -half, z], [half, -half, z], [half, half, z], [-half, half, z]])


def sphere(radius=0.1, centre=(0.0, 0.0, 0.5), rings=12, segments=16):
    theta = np.linspace(0, np.pi, rings + 1)[:, None]
    phi = np.linspace(0, 2 * np.pi, segments, endpoint=False)[None, :]
    points = np.stack([np.sin(theta) * np.cos(phi), np.cos(theta) + 0 * phi, np.sin(theta) * np.sin(phi)], -1)
    vertices = radius * points.reshape(-1, 3) + centre
    i, j = np.meshgrid(np.arange(rings), np.arange(segments), indexing="ij")
    a, b = i * segments + j, i * segments + (j + 1) % segments
    c, d = a + segments, b + segments
    triangles = np.concatenate([np.stack([a, b, c], -1), np.stack([b, d, c], -1)]).reshape(-1, 3)
    return vertices, triangles


def test_square_covers_exactly_the_pixels_whose_centres_it_contains():
    # Corners at pixel coordinates 11.2 and 20.8: centres 11.5 .. 20.5 are inside.
    fragments = rasterize(square(0.048, 1.0), QUAD, np.eye(4), K32, 32, 32)
    expected = np.zeros((32, 32), bool)
    expected[11:21, 11:21] = True
    np.testing.assert_array_equal(fragments.mask, expected)
    np.testing.assert_allclose(fragments.depth[expected], 1.0, rtol=1e-6)
    assert np.isinf(fragments.depth[~expected]).all()
    np.testing.assert_allclose(fragments.barycentrics[expected].sum(-1), 1.0, rtol=1e-6)


def test_winding_does_not_matter():
    front = rasterize(square(0.05, 1.0), QUAD, np.eye(4), K32, 32, 32)
    back = rasterize(square(0.05, 1.0), QUAD[:, ::-1], np.eye(4), K32, 32, 32)
    np.testing.assert_array_equal(front.mask, back.mask)


def test_depth_of_a_tilted_plane_matches_ray_intersection():
    # Plane Z = 1 + 0.5 X, seen through every pixel centre.
    corners = square(0.1, 1.0)
    corners[:, 2] += 0.5 * corners[:, 0]
    fragments = rasterize(corners, QUAD, np.eye(4), K32, 32, 32)
    ys, xs = np.nonzero(fragments.mask)
    ray_x = (xs + 0.5 - 16) / 100  # X / Z along the ray
    np.testing.assert_allclose(fragments.depth[ys, xs], 1.0 / (1.0 - 0.5 * ray_x), rtol=1e-5)


def test_barycentrics_are_perspective_correct():
    # Interpolated camera-space positions must lie on each pixel's own ray; affine
    # (screen-space) interpolation on this steep plane would miss by pixels.
    corners = square(0.1, 1.0)
    corners[:, 2] += 3.0 * corners[:, 1]
    fragments = rasterize(corners, QUAD, np.eye(4), K32, 32, 32)
    points = fragments.interpolate(corners)[fragments.mask]
    ys, xs = np.nonzero(fragments.mask)
    np.testing.assert_allclose(project(points, K32), np.stack([xs, ys], -1) + 0.5, atol=1e-3)
    np.testing.assert_allclose(points[:, 2], fragments.depth[fragments.mask], rtol=1e-5)


@pytest.mark.parametrize("near_first", [True, False])
def test_nearer_surface_wins_whatever_the_order(near_first):
    near, far = square(0.05, 1.0), square(0.3, 2.0)
    vertices = np.concatenate([near, far] if near_first else [far, near])
    triangles = np.concatenate([QUAD, QUAD + 4])
    fragments = rasterize(vertices, triangles, np.eye(4), K32, 32, 32)
    near_ids = {0, 1} if near_first else {2, 3}
    assert set(np.unique(fragments.triangle_id[14:18, 14:18])) <= near_ids
    np.testing.assert_allclose(fragments.depth[16, 16], 1.0, rtol=1e-6)
    np.testing.assert_allclose(fragments.depth[4, 4], 2.0, rtol=1e-6)  # the far square shows around


def test_empty_scene_and_mesh_behind_camera_render_nothing():
    for vertices, triangles in [(np.zeros((0, 3)), np.zeros((0, 3), int)), (square(0.05, -1.0), QUAD)]:
        fragments = rasterize(vertices, triangles, np.eye(4), K32, 32, 32)
        assert not fragments.mask.any()
        assert np.isinf(fragments.depth).all()
        assert not fragments.barycentrics.any()


def test_viewmat_moves_the_world_into_the_camera():
    viewmat = np.eye(4)
    viewmat[:3, :3] = np.diag([1.0, -1.0, -1.0])  # camera turned round, 2 m behind the origin
    viewmat[:3, 3] = [0.0, 0.0, 2.0]
    world = square(0.05, 0.5)
    seen = rasterize(world, QUAD, viewmat, K32, 32, 32)
    direct = rasterize(to_camera(world, viewmat), QUAD, np.eye(4), K32, 32, 32)
    np.testing.assert_array_equal(seen.triangle_id, direct.triangle_id)
    np.testing.assert_allclose(seen.depth[seen.mask], 1.5, rtol=1e-6)


def test_matches_the_slow_reference_on_a_sphere():
    vertices, triangles = sphere()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(triangles))
    K = np.array([[80.0, 0.0, 20.0], [0.0, 90.0, 23.0], [0.0, 0.0, 1.0]])
    fast = rasterize(vertices, triangles[order], np.eye(4), K, 40, 48)
    slow = _rasterize_reference(vertices, triangles[order], np.eye(4), K, 40, 48)
    np.testing.assert_array_equal(fast.triangle_id, slow.triangle_id)
    np.testing.assert_allclose(fast.depth, slow.depth, rtol=1e-6)
    np.testing.assert_allclose(fast.barycentrics, slow.barycentrics, atol=1e-6)
    # Closed surface: no holes inside the silhouette, an ellipse of pi * rx * ry pixels.
    area = np.pi * 80 * 90 * 0.1**2 / (0.5**2 - 0.1**2)
    assert abs(fast.mask.sum() - area) < 0.05 * area


def test_interpolate_matches_the_slow_reference():
    vertices, triangles = sphere()
    fragments = rasterize(vertices, triangles, np.eye(4), K32, 32, 32)
    values = np.random.default_rng(1).normal(size=(len(vertices), 5))
    np.testing.assert_allclose(fragments.interpolate(values), _interpolate_reference(fragments, values), atol=1e-6)


def test_vertex_normals_of_a_sphere_point_outwards():
    vertices, triangles = sphere(centre=(0.0, 0.0, 0.0), rings=24, segments=32)
    normals = vertex_normals(vertices, triangles)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, rtol=1e-6)
    assert np.all(np.sum(normals * vertices, axis=1) / 0.1 > 0.98)


def test_render_supersamples_coverage_at_the_edges():
    # Corners at pixel 11.4 and 20.6: one of two sample columns of pixels 11 and 20 is inside.
    half = 0.046
    image = render(square(half, 1.0), QUAD, np.eye(4), K32, 32, 32, lambda f: f.interpolate(np.ones((4, 3))),
                   supersample=2)
    assert image.alpha[16, 16] == 1.0 and image.alpha[16, 11] == 0.5 and image.alpha[11, 11] == 0.25
    assert image.alpha[16, 10] == 0.0 and np.isinf(image.depth[16, 10])
    assert image.alpha.sum() == 9 * 9
    np.testing.assert_allclose(image.rgb[16, 11], 0.5 * image.rgb[16, 16], rtol=1e-2)  # premultiplied


def test_shade_lights_from_the_key_side_and_keeps_background_black():
    vertices, triangles = sphere(rings=24, segments=32)
    fragments = rasterize(vertices, triangles, np.eye(4), K32, 32, 32)
    albedo = np.full((32, 32, 3), 0.5, np.float32)
    image = shade(fragments, albedo)
    assert image.shape == (32, 32, 3) and image.dtype == np.float32
    assert not image[~fragments.mask].any()
    lum = image.mean(-1)
    assert lum[12, 12] > lum[20, 20]  # the default key light is up and to the image left


def test_interpolate_checks_its_input():
    fragments = rasterize(square(0.05, 1.0), QUAD, np.eye(4), K32, 32, 32)
    assert isinstance(fragments, Fragments)
    with pytest.raises(ValueError, match="values"):
        fragments.interpolate(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="viewmat"):
        rasterize(square(0.05, 1.0), QUAD, np.eye(3), K32, 32, 32)
