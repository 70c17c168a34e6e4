"""Foreground matte per frame: mediapipe selfie segmentation, kept to the tracked person's head,
hair, neck and shoulders; `snap_to_edges` moves its outline onto the frame's own edges."""

from __future__ import annotations

import os

import numpy as np

SEGMENTER_INPUT = 256
EDGE_WINDOW = 1 / 64  # guided filter radius as a share of the crop side: 4 pixels at 256
EDGE_EPS = 1e-3  # guided filter regulariser (sRGB in [0, 1]): lower follows fainter edges
COEFFICIENT_SIZE = 256  # the filter's coefficients are computed at most this large, then upsampled


class Matter:
    def __init__(self):
        os.environ.setdefault("GLOG_minloglevel", "2")
        import mediapipe as mp

        self._segmenter = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)

    def __call__(self, rgb: np.ndarray, face_points: np.ndarray | None) -> np.ndarray:
        """Soft matte [H, W] float32 in [0, 1] for an RGB crop; face_points [L, 2] in crop pixels."""
        import cv2

        h, w = rgb.shape[:2]
        small = cv2.resize(rgb, (SEGMENTER_INPUT, SEGMENTER_INPUT), interpolation=cv2.INTER_AREA)
        soft = self._segmenter.process(small).segmentation_mask
        soft = cv2.resize(soft, (w, h), interpolation=cv2.INTER_LINEAR)
        if face_points is not None and np.isfinite(face_points).all():
            soft = soft * person_region(soft > 0.5, face_points)
        return np.clip(soft, 0.0, 1.0).astype(np.float32)

    def close(self):
        self._segmenter.close()


def person_region(binary: np.ndarray, face_points: np.ndarray) -> np.ndarray:
    """The connected part of the mask that holds the face, cut a little below the shoulders' top."""
    import cv2

    count, labels = cv2.connectedComponents(binary.astype(np.uint8))
    centre = np.clip(face_points.mean(0).astype(int), 0, np.array(binary.shape[::-1]) - 1)
    keep = labels == labels[centre[1], centre[0]] if count > 1 and labels[centre[1], centre[0]] else binary
    top, bottom = face_points[:, 1].min(), face_points[:, 1].max()
    cut = bottom + 0.9 * (bottom - top)
    region = keep.astype(np.float32)
    region[int(np.clip(cut, 0, binary.shape[0])):] = 0.0
    return cv2.GaussianBlur(cv2.dilate(region, np.ones((5, 5), np.uint8)), (5, 5), 0)


def snap_to_edges(rgb: np.ndarray, soft: np.ndarray) -> np.ndarray:
    """The soft matte [H, W] in [0, 1] filtered with the sRGB frame rgb [H, W, 3] uint8 as guide
    (colour guided filter, He et al. 2013; coefficients at most COEFFICIENT_SIZE wide, as in their
    fast variant). The segmenter sees the frame at 256 pixels and draws a blobby outline that
    wanders from frame to frame across the hair; after filtering the outline follows the colour
    edges of hair, skin and background, so the targets a fit trains on keep one consistent shape."""
    import cv2

    height, width = soft.shape
    step = max(1, -(-max(height, width) // COEFFICIENT_SIZE))
    small = (width // step, height // step)
    shrink = lambda image: cv2.resize(image, small, interpolation=cv2.INTER_AREA) if step > 1 else image
    guide = rgb.astype(np.float32) / 255
    coefficients, offset = _guided_coefficients(shrink(guide), shrink(soft.astype(np.float32)),
                                                max(1, round(EDGE_WINDOW * max(small))))
    if step > 1:
        coefficients = cv2.resize(coefficients, (width, height), interpolation=cv2.INTER_LINEAR)
        offset = cv2.resize(offset, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip((coefficients * guide).sum(-1) + offset, 0.0, 1.0)


def _guided_coefficients(guide: np.ndarray, soft: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Window-averaged linear model soft ~ coefficients . guide + offset: ([H, W, 3], [H, W])."""
    import cv2

    mean = lambda image: cv2.boxFilter(image, -1, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT)
    mean_guide, mean_soft = mean(guide), mean(soft)
    covariance = mean(guide * soft[..., None]) - mean_guide * mean_soft[..., None]
    pairs = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))
    variance = mean(np.stack([guide[..., i] * guide[..., j] for i, j in pairs], -1)) \
        - np.stack([mean_guide[..., i] * mean_guide[..., j] for i, j in pairs], -1)
    a, b, c, d, e, f = np.moveaxis(variance + EDGE_EPS * np.array([1, 0, 0, 1, 0, 1], np.float32), -1, 0)
    # the symmetric 3 x 3 inverse by cofactors: much faster than a batched solve
    inverse = np.stack([d * f - e * e, c * e - b * f, b * e - c * d, a * f - c * c, b * c - a * e, a * d - b * b], -1)
    det = a * inverse[..., 0] + b * inverse[..., 1] + c * inverse[..., 2]
    rows = inverse[..., [[0, 1, 2], [1, 3, 4], [2, 4, 5]]]  # [H, W, 3, 3]
    coefficients = (rows @ covariance[..., None])[..., 0] / det[..., None]
    offset = mean_soft - (coefficients * mean_guide).sum(-1)
    return mean(coefficients), mean(offset)
