"""The CUDA path (gsplat) against the CPU path on the same scene; skipped without CUDA and gsplat."""

import importlib.util

import pytest
import torch

from backend.render import rasterize
from test_render import make_scene

HAS_CUDA_GSPLAT = torch.cuda.is_available() and importlib.util.find_spec("gsplat") is not None

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not HAS_CUDA_GSPLAT, reason="needs CUDA and gsplat")]


def on_cuda(scene):
    return {k: v.cuda() if isinstance(v, torch.Tensor) else v for k, v in scene.items()}


@pytest.mark.parametrize("sh_degree,background", [(None, False), (3, True)])
def test_cuda_matches_cpu(sh_degree, background):
    scene = make_scene(N=100, C=2, width=64, height=48, sh_degree=sh_degree, background=background, seed=12)
    cpu, cuda = rasterize(**scene), rasterize(**on_cuda(scene))
    for field in ("rgb", "alpha"):
        error = (getattr(cpu, field) - getattr(cuda, field).cpu()).abs().max().item()
        assert error <= 1e-3, f"{field}: max abs error {error:.2e}"
    assert cuda.means2d.shape == cpu.means2d.shape and cuda.radii.shape == cpu.radii.shape
    visible = (cpu.radii > 0) & (cuda.radii.cpu() > 0)
    torch.testing.assert_close(cuda.means2d.cpu()[visible], cpu.means2d[visible], rtol=0, atol=1e-3)


def test_cuda_means2d_gradient_is_exposed():
    scene = on_cuda(make_scene(N=50, C=1, width=32, height=24, seed=13))
    means = scene["means"].clone().requires_grad_()
    out = rasterize(**dict(scene, means=means))
    out.means2d.retain_grad()
    out.rgb.sum().backward()
    assert out.means2d.grad.shape == (1, 50, 2) and out.means2d.grad.abs().sum() > 0
