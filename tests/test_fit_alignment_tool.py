"""tools/fit_alignment.py: the side-by-side video it reads and the warp it measures alignment with."""

import importlib.util
from pathlib import Path

import numpy as np
import torch

from backend.avatar.evaluate import write_side_by_side


def load_tool():
    path = Path(__file__).resolve().parents[1] / "tools" / "fit_alignment.py"
    spec = importlib.util.spec_from_file_location("fit_alignment", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def textured(shift: float) -> np.ndarray:
    """A smooth colour texture [64, 64, 3] in [0, 1], moved `shift` pixels to the right."""
    rows, columns = np.mgrid[0:64, 0:64].astype(np.float32)
    columns = columns - shift
    return np.stack([0.5 + 0.4 * np.sin(columns / 3 + rows / 5), 0.5 + 0.4 * np.cos(rows / 4),
                     0.5 + 0.3 * np.sin((columns + rows) / 6)], -1).astype(np.float32)


def test_warping_a_shifted_render_onto_the_real_frame_removes_most_of_its_error():
    tool = load_tool()
    real, rendered = textured(0.0), textured(1.5)
    warped, flow = tool.warped_onto(rendered, real)
    inner = (slice(8, -8), slice(8, -8))  # away from the border the shift leaves uncovered
    before = ((rendered - real)[inner] ** 2).mean()
    after = ((warped - real)[inner] ** 2).mean()
    assert after < 0.2 * before
    assert abs(np.median(flow[inner][..., 0]) - 1.5) < 0.3  # the flow found the shift, in the right direction


def test_the_side_by_side_video_splits_back_into_real_and_rendered(tmp_path):
    tool = load_tool()
    real = torch.from_numpy(np.stack([textured(0.0)] * 3))
    rendered = torch.from_numpy(np.stack([textured(0.0)[..., ::-1].copy()] * 3))
    path = write_side_by_side(tmp_path / "heldout.mp4", real, rendered, fps=25.0)
    read_real, read_rendered = tool.read_side_by_side(path)
    assert read_real.shape == read_rendered.shape == (3, 64, 64, 3)
    assert np.abs(read_real - real.numpy()).mean() < 0.05  # mp4 coding loses a little
    assert np.abs(read_rendered - rendered.numpy()).mean() < 0.05
