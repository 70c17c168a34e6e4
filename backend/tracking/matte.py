"""Foreground matte per frame: mediapipe selfie segmentation, kept to the tracked person's head,
hair, neck and shoulders."""

from __future__ import annotations

import os

import numpy as np

SEGMENTER_INPUT = 256


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
