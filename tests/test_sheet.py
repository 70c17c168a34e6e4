import cv2
import numpy as np
import pytest

from backend.headmodel import load_head
from backend.headmodel.sheet import COLUMNS, _view, write_sheet
from backend.meshrender import project, to_camera

CELL = 96


@pytest.fixture(scope="module")
def head():
    return load_head("default")


@pytest.fixture(scope="module")
def sheet(head, tmp_path_factory):
    path = write_sheet(head, tmp_path_factory.mktemp("sheet") / "sheet.png", cell=CELL)
    return cv2.imread(str(path)).astype(np.float32)


def cell(sheet, head, name):
    index = 4 + head.expression_names.index(name)  # after the four neutral views
    row, column = divmod(index, COLUMNS)
    return sheet[row * CELL:(row + 1) * CELL, column * CELL:(column + 1) * CELL]


def region(head, ibug: slice) -> tuple[slice, slice]:
    """Pixel box of the neutral ibug68 landmarks `ibug` in a face cell, grown by 3 px."""
    landmarks = head.forward().landmarks["ibug68"][0].detach().numpy()
    viewmat, K = _view(landmarks, 0.0, 0.0, CELL, fill=0.75)
    pixels = project(to_camera(landmarks[ibug], viewmat), K)
    low, high = np.floor(pixels.min(0)).astype(int) - 3, np.ceil(pixels.max(0)).astype(int) + 3
    return slice(low[1], high[1]), slice(low[0], high[0])


def change(a, b, box) -> float:
    return float(np.abs(a[box] - b[box]).mean())


def test_sheet_is_a_grid_of_labelled_cells(sheet, head):
    cells = 4 + head.num_expressions
    assert sheet.shape == (-(-cells // COLUMNS) * CELL, COLUMNS * CELL, 3)
    label_band = sheet[CELL - 8:CELL, :CELL]
    assert label_band.max() > 200  # white text on the dark band


def test_jaw_open_changes_the_mouth_and_blink_the_eye(sheet, head):
    mouth, left_eye = region(head, slice(48, 68)), region(head, slice(42, 48))
    jaw_open, blink, brows = (cell(sheet, head, n) for n in ("jawOpen", "eyeBlinkLeft", "browInnerUp"))
    assert change(jaw_open, brows, mouth) > 10 * max(change(blink, brows, mouth), 0.5)
    assert change(blink, brows, left_eye) > 10 * max(change(jaw_open, brows, left_eye), 0.5)
    # The subject's left eye is on the image right.
    assert left_eye[1].start > CELL // 2
