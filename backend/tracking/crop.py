"""One square crop per clip around the head, so every frame shares one camera.

The crop is chosen from the landmarks of all frames; results map back to the source frame
with `to_source`.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

HEAD_MARGIN = 2.1  # crop side / largest face extent: room for hair, ears and some neck


@dataclasses.dataclass
class Crop:
    x0: float  # source pixels, may be negative (the crop extends past the frame; padded)
    y0: float
    side: float  # source pixels
    size: int  # working resolution

    @property
    def scale(self) -> float:
        return self.size / self.side

    def to_crop(self, points: np.ndarray) -> np.ndarray:
        return (points - [self.x0, self.y0]) * self.scale

    def to_source(self, points: np.ndarray) -> np.ndarray:
        return points / self.scale + [self.x0, self.y0]

    def apply(self, frame: np.ndarray) -> np.ndarray:
        """The working-resolution crop of a source frame (edges replicated past the border)."""
        import cv2

        if self.scale < 1:  # warpAffine samples without an area filter: cut at source scale, then shrink
            full = dataclasses.replace(self, size=math.ceil(self.side)).apply(frame)
            return cv2.resize(full, (self.size, self.size), interpolation=cv2.INTER_AREA)
        # OpenCV puts pixel centres at integers, `to_crop` at i + 0.5: shift by half a pixel each side.
        shift = 0.5 * (self.scale - 1)
        matrix = np.array([[self.scale, 0, shift - self.x0 * self.scale],
                           [0, self.scale, shift - self.y0 * self.scale]])
        return cv2.warpAffine(frame, matrix, (self.size, self.size), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)

    def inside_source(self, width: int, height: int, resolution: int) -> np.ndarray:
        """[resolution, resolution] bool: the crop's pixels, at `resolution`, whose centres lie
        inside the width x height source frame."""
        centres = (np.arange(resolution) + 0.5) * self.side / resolution
        xs, ys = self.x0 + centres, self.y0 + centres
        return ((ys >= 0) & (ys < height))[:, None] & ((xs >= 0) & (xs < width))[None, :]

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def choose_crop(points: np.ndarray, found: np.ndarray, size: int) -> Crop:
    """points [F, L, 2] source pixels. Centre on the median face centre, shifted up a little for
    the hair; side from the 95th percentile face extent."""
    faces = points[found]
    lo, hi = np.nanmin(faces, axis=1), np.nanmax(faces, axis=1)  # [F', 2]
    centre = np.median((lo + hi) / 2, axis=0)
    extent = np.percentile((hi - lo).max(1), 95)
    side = HEAD_MARGIN * extent
    centre = centre + [0, -0.08 * side]
    return Crop(x0=float(centre[0] - side / 2), y0=float(centre[1] - side / 2), side=float(side), size=size)
