"""How much of a fit's held-out error is misalignment: each rendered frame of heldout.mp4 warped onto
its real frame by dense optical flow.

Developer tool for work on the fit (the real-footage PSNR targets):

    .venv/bin/python tools/fit_alignment.py FIT_DIR [--track TRACK_DIR]

Reads FIT_DIR/heldout.mp4 (real | rendered, as `python -m backend fit` writes it; mp4 coding moves
PSNR by about 0.1 dB against metrics.json) and the track's mattes, and prints one JSON line: the
held-out masked PSNR as rendered and after warping (OpenCV Farneback flow on grey levels), the same
for the interior (the matte shrunk by INTERIOR_MARGIN pixels), and the median flow length there.
Flow only moves pixels, it adds no detail: the warped figure is what the avatar would score if its
frames were aligned, and the gap to the first is alignment's share of the error (pose, codes, the
face's deformation). On address_512 at 256 px (780 s fit): 24.3 dB -> 27.7, median flow 0.8 px.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.avatar.clip import load_clip  # noqa: E402
from backend.avatar.evaluate import MASK_THRESHOLD  # noqa: E402
from backend.headmodel import load_head  # noqa: E402
from backend.tracking import read_track  # noqa: E402

INTERIOR_MARGIN = 4  # pixels


def read_side_by_side(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(real, rendered) sRGB frames [F, H, W, 3] in [0, 1] from a real | rendered mp4."""
    import cv2

    capture, frames = cv2.VideoCapture(str(path)), []
    while True:
        found, frame = capture.read()
        if not found:
            break
        frames.append(frame[..., ::-1].astype(np.float32) / 255)
    capture.release()
    if not frames:
        raise SystemExit(f"{path}: no frames could be read")
    both = np.stack(frames)
    half = both.shape[2] // 2
    return both[:, :, :half], both[:, :, half:]


def warped_onto(rendered: np.ndarray, real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """rendered [H, W, 3] warped onto real, and the flow [H, W, 2] that did it."""
    import cv2

    grey = lambda image: cv2.cvtColor((image * 255).round().astype(np.uint8), cv2.COLOR_RGB2GRAY)
    flow = cv2.calcOpticalFlowFarneback(grey(real), grey(rendered), None, 0.5, 3, 9, 3, 5, 1.1, 0)
    rows, columns = np.mgrid[0:real.shape[0], 0:real.shape[1]].astype(np.float32)
    return cv2.remap(rendered, columns + flow[..., 0], rows + flow[..., 1], cv2.INTER_LINEAR), flow


def main() -> None:
    import cv2

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("fit_dir", type=Path)
    parser.add_argument("--track", type=Path,
                        help="the track the fit was made from (default FIT_DIR/track, where fit VIDEO puts it)")
    args = parser.parse_args()
    track_dir = args.track or args.fit_dir / "track"
    if not track_dir.is_dir():
        raise SystemExit(f"{track_dir} is no track folder: pass the track the fit was made from with --track")
    real, rendered = read_side_by_side(args.fit_dir / "heldout.mp4")
    track = read_track(track_dir)
    clip = load_clip(track, load_head(track.meta["head"]), real.shape[1])
    if len(clip.heldout) != len(real):
        raise SystemExit(f"heldout.mp4 has {len(real)} frames, the track {len(clip.heldout)} held-out ones: "
                         "pass the track the fit was made from")
    inside = ((clip.masks[clip.heldout] > MASK_THRESHOLD) & clip.footage).numpy()
    kernel = np.ones((2 * INTERIOR_MARGIN + 1,) * 2, np.uint8)
    interior = np.stack([cv2.erode(mask.astype(np.uint8), kernel) > 0 for mask in inside])
    errors = {"as_rendered": [], "warped": []}
    flows = []
    for frame_real, frame_rendered in zip(real, rendered):
        warped, flow = warped_onto(frame_rendered, frame_real)
        errors["as_rendered"].append(((frame_rendered - frame_real) ** 2).mean(-1))
        errors["warped"].append(((warped - frame_real) ** 2).mean(-1))
        flows.append(np.linalg.norm(flow, axis=-1))
    psnr = lambda squared, where: round(float(-10 * np.log10(np.stack(squared)[where].mean())), 2)
    print(json.dumps({"masked": psnr(errors["as_rendered"], inside), "masked_warped": psnr(errors["warped"], inside),
                      "interior": psnr(errors["as_rendered"], interior),
                      "interior_warped": psnr(errors["warped"], interior),
                      "median_flow_px": round(float(np.median(np.stack(flows)[interior])), 2)}))


if __name__ == "__main__":
    main()
