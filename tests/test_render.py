"""The CPU rasteriser against its dense twin, finite differences and its contract."""

import math
import subprocess
import sys

import pytest
import torch

from backend.render import RasterOutput, rasterize
from backend.render._reference import rasterize_dense

FIELDS = ("rgb", "alpha", "depth")


def make_scene(N=40, C=2, width=33, height=17, sh_degree=None, seed=0, dtype=torch.float32,
               background=False, scale=(0.02, 0.15)):
    """Random Gaussians around z = 2 seen by C cameras in slightly different poses, with an
    off-centre principal point and non-square pixels; returns rasterize's arguments."""
    g = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return torch.rand(*shape, generator=g, dtype=torch.float64)

    means = (rand(N, 3) - 0.5) * torch.tensor([1.6, 1.0, 1.0]) + torch.tensor([0, 0, 2.0])
    if sh_degree is None:
        colors = rand(N, 3)
    else:
        colors = 0.4 * torch.randn(N, (sh_degree + 1) ** 2, 3, generator=g, dtype=torch.float64)
    viewmats = torch.stack([camera_pose(0.1 * c, (0.05 * c, -0.03 * c, 0.1 * c)) for c in range(C)])
    focal = 0.9 * width
    Ks = torch.tensor([[focal, 0, width / 2 + 0.3], [0, 1.1 * focal, height / 2 - 0.2], [0, 0, 1]]).repeat(C, 1, 1)
    scene = dict(means=means, quats=torch.randn(N, 4, generator=g, dtype=torch.float64),
                 scales=scale[0] + (scale[1] - scale[0]) * rand(N, 3), opacities=0.1 + 0.85 * rand(N),
                 colors=colors, viewmats=viewmats, Ks=Ks, background=rand(C, 3) if background else None)
    scene = {k: (v.to(dtype) if v is not None else None) for k, v in scene.items()}
    return dict(scene, width=width, height=height, sh_degree=sh_degree)


def camera_pose(angle, shift):
    """World-to-camera [4, 4]: a rotation by `angle` radians about x, then a shift."""
    cos, sin = math.cos(angle), math.sin(angle)
    return torch.tensor([[1, 0, 0, shift[0]], [0, cos, -sin, shift[1]], [0, sin, cos, shift[2]], [0, 0, 0, 1]],
                        dtype=torch.float64)


def assert_outputs_close(a: RasterOutput, b: RasterOutput, atol=1e-4):
    for field in FIELDS:
        error = (getattr(a, field) - getattr(b, field)).abs().max().item()
        assert error <= atol, f"{field}: max abs error {error:.2e}"
    assert torch.equal(a.radii, b.radii)
    torch.testing.assert_close(a.means2d, b.means2d)


def gradients(render, scene, names=("means", "quats", "scales", "opacities", "colors", "viewmats")):
    """d(random weighted sum of rgb, alpha, depth)/d(inputs), and means2d's gradient."""
    leaves = {k: scene[k].clone().requires_grad_() for k in names}
    out = render(**{**scene, **leaves})
    out.means2d.retain_grad()
    g = torch.Generator().manual_seed(7)
    loss = sum((getattr(out, f) * torch.randn(getattr(out, f).shape, generator=g, dtype=out.rgb.dtype)).sum()
               for f in FIELDS)
    loss.backward()
    return {**{k: v.grad for k, v in leaves.items()}, "means2d": out.means2d.grad}


@pytest.mark.parametrize("width,height,sh_degree,background", [
    (33, 17, None, False), (32, 24, 3, True), (16, 16, 1, False), (47, 31, 2, True)])
def test_matches_dense_reference(width, height, sh_degree, background):
    scene = make_scene(N=60, C=2, width=width, height=height, sh_degree=sh_degree, background=background,
                       seed=width)
    fast, dense = rasterize(**scene), rasterize_dense(**scene)
    assert fast.rgb.shape == (2, height, width, 3) and fast.alpha.shape == (2, height, width, 1)
    assert fast.depth.shape == (2, height, width, 1) and fast.means2d.shape == (2, 60, 2)
    assert fast.radii.shape == (2, 60) and fast.radii.dtype == torch.int32
    assert fast.alpha.max() > 0.9  # the scene really overlaps
    assert_outputs_close(fast, dense)


def test_stacked_opaque_gaussians_stop_like_gsplat():
    """Many opaque Gaussians on one line of sight: the 1e-4 transmittance stop and the
    0.999 alpha clamp decide the result."""
    scene = make_scene(N=30, C=1, width=20, height=12, seed=3, dtype=torch.float64)
    scene["means"][:, :2] = 0.01 * scene["means"][:, :2]
    scene["opacities"][:] = torch.linspace(0.9, 1.0, 30, dtype=torch.float64)
    (fx, _, cx), (_, fy, cy), _ = scene["Ks"][0].tolist()
    for n, (u, v) in enumerate([(9.5, 5.5), (10.5, 5.5), (10.5, 6.5)]):  # centred on pixels: alpha clamps
        scene["means"][n, :2] = torch.tensor([(u - cx) / fx, (v - cy) / fy]) * scene["means"][n, 2]
        scene["opacities"][n] = 1.0
    fast, dense = rasterize(**scene), rasterize_dense(**scene)
    assert fast.alpha.max() > 1 - 2e-4
    assert_outputs_close(fast, dense, atol=1e-10)
    fast_grads, dense_grads = gradients(rasterize, scene), gradients(rasterize_dense, scene)
    for name, grad in dense_grads.items():
        torch.testing.assert_close(fast_grads[name], grad, rtol=1e-7, atol=1e-9, msg=name)


@pytest.mark.parametrize("dtype,tolerance", [(torch.float64, 1e-8), (torch.float32, 2e-4)])
def test_gradients_match_dense_reference(dtype, tolerance):
    scene = make_scene(N=50, C=2, width=31, height=23, sh_degree=2, background=True, seed=11, dtype=dtype)
    fast, dense = gradients(rasterize, scene), gradients(rasterize_dense, scene)
    assert set(fast) == {"means", "quats", "scales", "opacities", "colors", "viewmats", "means2d"}
    for name, grad in dense.items():
        scale = grad.abs().max().item()
        assert scale > 0, name
        error = (fast[name] - grad).abs().max().item()
        assert error <= tolerance * scale, f"{name}: {error:.2e} vs scale {scale:.2e}"


@pytest.mark.parametrize("sh_degree", [None, 3])
def test_gradcheck_float64(sh_degree):
    scene = make_scene(N=5, C=2, width=8, height=6, sh_degree=sh_degree, background=True, seed=5,
                       dtype=torch.float64, scale=(0.2, 0.5))
    names = ("means", "quats", "scales", "opacities", "colors", "viewmats", "background")

    def render(*tensors):
        out = rasterize(**{**scene, **dict(zip(names, tensors))})
        return out.rgb, out.alpha, out.depth

    inputs = tuple(scene[k].clone().requires_grad_() for k in names)
    assert torch.autograd.gradcheck(render, inputs, eps=1e-6, atol=1e-5, rtol=1e-4)


def test_projection_and_sh_match_gsplats_torch_twin():
    """Our projection and SH against gsplat's own pure-torch reference (values and gradients),
    including Gaussians far off-axis, where gsplat clamps the perspective Jacobian."""
    twin = pytest.importorskip("gsplat.cuda._torch_impl")
    from backend.render._project import project
    from backend.render.sh import sh_colors

    scene = make_scene(N=100, C=2, width=64, height=48, sh_degree=3, seed=3, dtype=torch.float64)
    scene["means"][:20, 0] = torch.linspace(-4, 4, 20, dtype=torch.float64)
    scene["scales"][:20] = 1.0
    names = ("means", "quats", "scales", "colors", "viewmats")

    def ours(means, quats, scales, colors, viewmats):
        p = project(means, quats, scales, scene["opacities"], viewmats, scene["Ks"], 64, 48)
        return p.means2d, p.conics, p.depths, sh_colors(3, means, colors, viewmats), p.radii

    def gsplats(means, quats, scales, colors, viewmats):
        covars, _ = twin._quat_scale_to_covar_preci(quats, scales, compute_preci=False)
        radii, means2d, depths, conics, _ = twin._fully_fused_projection(means, covars, viewmats, scene["Ks"],
                                                                          64, 48)
        dirs = means[None] - torch.linalg.inv(viewmats)[:, None, :3, 3]
        rgb = twin._spherical_harmonics(3, dirs, colors.expand(2, -1, -1, -1)).add(0.5).clamp_min(0)
        return means2d, conics, depths, rgb, radii

    with torch.no_grad():  # compare where both keep the Gaussian (our radii are opacity-aware)
        inputs = [scene[k] for k in names]
        visible = (ours(*inputs)[-1] > 0).all(-1) & (gsplats(*inputs)[-1] > 0).all(-1)
    assert visible[:, :20].sum() > 20 and visible.sum() > 150
    g = torch.Generator().manual_seed(1)
    weights = [torch.randn(2, 100, d, generator=g, dtype=torch.float64) for d in (2, 3, 1, 3)]
    results = []
    for function in (ours, gsplats):
        leaves = [scene[k].clone().requires_grad_() for k in names]
        values = [v.reshape(2, 100, -1) for v in function(*leaves)[:-1]]
        sum((v * w)[visible].sum() for v, w in zip(values, weights)).backward()
        results.append(([v.detach()[visible] for v in values], [leaf.grad for leaf in leaves]))
    (our_values, our_grads), (values, grads) = results
    for mine, theirs in zip(our_values, values):
        torch.testing.assert_close(mine, theirs)
    for name, mine, theirs in zip(names, our_grads, grads):
        torch.testing.assert_close(mine, theirs, msg=name)


def test_empty_scene():
    scene = make_scene(N=0, C=3, width=9, height=5, background=True)
    out = rasterize(**scene)
    assert out.rgb.shape == (3, 5, 9, 3) and out.alpha.shape == out.depth.shape == (3, 5, 9, 1)
    assert out.means2d.shape == (3, 0, 2) and out.radii.shape == (3, 0)
    torch.testing.assert_close(out.rgb, scene["background"][:, None, None].expand(3, 5, 9, 3))
    assert out.alpha.abs().max() == 0 and out.depth.abs().max() == 0
    assert rasterize(**dict(scene, background=None)).rgb.abs().max() == 0


def test_culled_gaussians_change_nothing():
    """Gaussians behind the camera, at its centre, beyond the near plane or off screen get
    radii 0, leave the image untouched and get zero (finite) gradients."""
    scene = make_scene(N=20, C=1, width=24, height=16, seed=2, dtype=torch.float64)
    hidden = make_scene(N=5, C=1, width=24, height=16, seed=9, dtype=torch.float64)
    hidden["means"] = torch.tensor([[0.0, 0, -1], [0.0, 0, 0], [0.1, 0, 0.005], [30.0, 0, 2], [0.0, -9, 1]],
                                   dtype=torch.float64)
    both = dict(scene, **{k: torch.cat([scene[k], hidden[k]]) for k in
                          ("means", "quats", "scales", "opacities", "colors")})
    alone, mixed = rasterize(**scene), rasterize(**both)
    assert (mixed.radii[0, 20:] == 0).all() and (mixed.radii[0, :20] == alone.radii[0]).all()
    for field in FIELDS:
        torch.testing.assert_close(getattr(mixed, field), getattr(alone, field), rtol=0, atol=1e-12)
    grads = gradients(rasterize, both)
    for name in ("means", "quats", "scales", "opacities", "colors"):
        assert torch.isfinite(grads[name]).all(), name
        assert grads[name][20:].abs().max() == 0, name


def test_very_large_and_very_small_scales():
    scene = make_scene(N=12, C=2, width=21, height=15, seed=4, dtype=torch.float64)
    scene["scales"][:4] = 1e-7  # a point: only the 0.3 px low-pass gives it a footprint
    scene["scales"][4:6] = 20.0  # much larger than the view
    scene["means"][4:6, 2] = 3.0
    fast, dense = rasterize(**scene), rasterize_dense(**scene)
    assert (fast.radii[:, :4] > 0).all() and (fast.radii[:, :4] <= 2).all()
    assert (fast.radii[:, 4:6] > 100).all()
    assert_outputs_close(fast, dense, atol=1e-10)
    fast_grads, dense_grads = gradients(rasterize, scene), gradients(rasterize_dense, scene)
    for name, grad in dense_grads.items():
        assert torch.isfinite(fast_grads[name]).all(), name
        torch.testing.assert_close(fast_grads[name], grad, rtol=1e-7, atol=1e-9, msg=name)


def test_cameras_are_independent():
    scene = make_scene(N=30, C=3, width=17, height=13, sh_degree=1, background=True, seed=6)
    together = rasterize(**scene)
    for c in range(3):
        single = rasterize(**dict(scene, viewmats=scene["viewmats"][c:c + 1], Ks=scene["Ks"][c:c + 1],
                                  background=scene["background"][c:c + 1]))
        for field in FIELDS + ("means2d",):
            torch.testing.assert_close(getattr(together, field)[c:c + 1], getattr(single, field), msg=field)
        assert torch.equal(together.radii[c:c + 1], single.radii)


def test_expected_depth_and_premultiplied_colour():
    """One Gaussian facing the camera at z = 2: depth is 2 wherever alpha > 0 and 0 elsewhere;
    rgb is colour * alpha plus (1 - alpha) * background."""
    scene = make_scene(N=1, C=1, width=15, height=11, background=True, seed=1, dtype=torch.float64)
    scene["means"][:] = torch.tensor([0.0, 0.0, 2.0])
    scene["scales"][:] = 0.1
    out = rasterize(**scene)
    covered = out.alpha[..., 0] > 0
    assert covered.any() and not covered.all()
    torch.testing.assert_close(out.depth[..., 0][covered], torch.full_like(out.depth[..., 0][covered], 2.0))
    assert out.depth[..., 0][~covered].abs().max() == 0
    expected = scene["colors"][0] * out.alpha + (1 - out.alpha) * scene["background"][:, None, None]
    torch.testing.assert_close(out.rgb, expected)


def test_sh_degree_zero_is_a_plain_colour():
    scene = make_scene(N=25, C=2, width=14, height=10, seed=8, dtype=torch.float64)
    sh = ((scene["colors"] - 0.5) / 0.2820947917738781)[:, None, :]
    plain, from_sh = rasterize(**scene), rasterize(**dict(scene, colors=sh, sh_degree=0))
    for field in FIELDS:
        torch.testing.assert_close(getattr(plain, field), getattr(from_sh, field))


@pytest.mark.parametrize("degree", [1, 2, 3])
def test_rotated_sh_give_the_local_colour_along_the_rotated_direction(degree):
    from scipy.spatial.transform import Rotation

    from backend.render.sh import rotate_sh, sh_bases

    generator = torch.Generator().manual_seed(degree)
    local = torch.randn(6, (degree + 1) ** 2, 3, generator=generator, dtype=torch.float64)
    frames = torch.from_numpy(Rotation.random(6, random_state=degree).as_matrix())
    world = rotate_sh(local, frames)
    directions = torch.nn.functional.normalize(torch.randn(6, 9, 3, generator=generator, dtype=torch.float64), dim=-1)
    in_frames = torch.einsum("nmd,ndj->nmj", directions, frames)  # R^T d
    seen_in_world = torch.einsum("nmk,nkc->nmc", sh_bases(degree, directions), world)
    seen_locally = torch.einsum("nmk,nkc->nmc", sh_bases(degree, in_frames), local)
    torch.testing.assert_close(seen_in_world, seen_locally, atol=1e-10, rtol=0)
    assert not torch.allclose(world, local)  # the coefficients did change
    torch.testing.assert_close(world[:, 0], local[:, 0])  # the base colour does not turn


def test_degree_one_sh_turn_in_closed_form_as_by_sampling():
    from scipy.spatial.transform import Rotation

    from backend.render.sh import _rotate_sh_sampled, rotate_sh

    local = torch.randn(7, 4, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    frames = torch.from_numpy(Rotation.random(7, random_state=4).as_matrix())
    torch.testing.assert_close(rotate_sh(local, frames), _rotate_sh_sampled(local, frames), atol=1e-12, rtol=0)


@pytest.mark.parametrize("change,message", [
    (dict(means=torch.zeros(5, 2)), "means must be [N, 3] float, got [5, 2]"),
    (dict(means=torch.zeros(5, 3, dtype=torch.int64)), "means must be [N, 3] float, got [5, 3] int64"),
    (dict(quats=torch.zeros(4, 4)), "quats must be [N, 4] float with N = 5"),
    (dict(opacities=torch.zeros(5, 1)), "opacities must be [N] float, got [5, 1]"),
    (dict(colors=torch.zeros(5, 4, 3)), "colors must be [N, 3] float (RGB; pass sh_degree"),
    (dict(colors=torch.zeros(5, 4, 3), sh_degree=2), "colors must be [N, K, 3] float with K >= 9 for sh_degree 2"),
    (dict(sh_degree=4), "sh_degree must be None or an int from 0 to 3"),
    (dict(viewmats=torch.zeros(2, 3, 4)), "viewmats must be [C, 4, 4] float, got [2, 3, 4]"),
    (dict(Ks=torch.zeros(3, 3, 3)), "Ks must be [C, 3, 3] float with C = 2"),
    (dict(background=torch.zeros(2, 4)), "background must be [C, 3] float, got [2, 4]"),
    (dict(width=0), "width must be a positive int, got 0"),
    (dict(height=12.0), "height must be a positive int, got 12.0"),
    (dict(scales=-torch.ones(5, 3)), "scales must be >= 0"),
    (dict(opacities=torch.full((5,), 2.0)), "opacities must lie in [0, 1]"),
    (dict(means=torch.zeros(5, 3, dtype=torch.float64)), "quats must be torch.float64 on cpu like means"),
])
def test_bad_input_is_rejected_with_a_clear_error(change, message):
    scene = make_scene(N=5, C=2, width=8, height=6)
    with pytest.raises(ValueError) as error:
        rasterize(**dict(scene, **change))
    assert message in str(error.value)


@pytest.mark.parametrize("name", ["means", "quats", "scales", "opacities", "colors", "viewmats", "Ks"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_nan_and_inf_are_rejected(name, value):
    scene = make_scene(N=5, C=2, width=8, height=6)
    scene[name] = scene[name].clone()
    scene[name].view(-1)[1] = value
    with pytest.raises(ValueError, match=f"^{name} contains NaN or inf"):
        rasterize(**scene)


def test_import_is_cheap():
    code = "import sys, backend.render; print(sorted({'torch', 'numba', 'numpy'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_bench_registry_rejects_unknown_cases():
    from backend.bench import CASES, run_benchmarks
    from backend.errors import BackendError

    assert {"cpu-20k-256", "cpu-100k-512", "cuda-100k-512", "cuda-300k-1080p", "track-1000-480", "fit-256"} <= set(CASES)
    with pytest.raises(BackendError, match="unknown benchmark case 'nope'"):
        run_benchmarks(["nope"])
