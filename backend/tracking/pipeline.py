"""`track`: footage in, tracked performance out (DIR/tracking.safetensors, tracking.json, overlay.mp4)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from ..errors import BackendError
from ..fileio import staged_folder, write_json_atomic
from ..progress import Progress
from .crop import Crop, choose_crop
from .ingest import open_video, read_frames
from .landmarks import MIN_FACE_PIXELS, Detections, face_size, make_detector
from .photometric import PhotometricSettings, refine_poses
from .solver import SolverSettings, camera_matrix, fit_clip
from .trackfile import Track, write_track



@dataclasses.dataclass
class TrackOptions:
    landmarks: str = "mediapipe"  # auto | mediapipe | fan
    head: str = "default"
    device: str = "cpu"
    start: float = 0.0  # seconds
    end: float | None = None
    stride: int = 1
    focal: float | None = None  # pixels at the working resolution; estimated when None
    size: int = 512  # working resolution (square crop)
    overlay: bool = True
    solver: SolverSettings = dataclasses.field(default_factory=SolverSettings)
    pose_refinement: PhotometricSettings | None = dataclasses.field(default_factory=PhotometricSettings)  # None: landmarks only


def track(video: str | Path, out_dir: str | Path, options: TrackOptions = TrackOptions(),
          progress: Progress | None = None) -> dict[str, Path]:
    """Track `video` into `out_dir`; returns {label: path}. Nothing is left in out_dir on failure."""
    from ..headmodel import load_head

    progress = progress or Progress("none")
    video, started = Path(video), time.perf_counter()
    _, info = open_video(video)
    head = load_head(options.head)
    detections, times, indices = detect_all(video, info, options, progress)
    crop = choose_crop(detections.points, detections.found, options.size)
    masks, greys = matte_all(video, options, crop, detections, progress)
    points = np.where(detections.found[:, None, None], crop.to_crop(detections.points), np.nan).astype(np.float32)
    focal = options.focal
    with progress.stage("fit", total=options.solver.iterations) as step:
        settings = _settings_for(detections.layout, options.solver)
        principal = crop.to_crop(np.array([info.width / 2, info.height / 2]))
        fit = fit_clip(head, detections.layout, points, detections.found, crop.size, principal, focal, settings, step)
    if options.pose_refinement is not None:
        refinement = options.pose_refinement
        with progress.stage("pose", total=refinement.rounds * len(refinement.levels)) as step:
            fit = refine_poses(head, detections.layout, fit, greys, detections.found, principal, crop.size,
                               refinement, step)
    track_data = assemble_track(head, video, info, options, crop, detections, points, masks, times, indices, fit, progress)
    track_data.meta["timings"]["total_without_overlay"] = round(time.perf_counter() - started, 3)
    with staged_folder(out_dir) as staging:
        outputs = {"tracking": write_track(staging, track_data)}
        write_json_atomic(staging / "tracking.json", track_data.meta)
        outputs["summary"] = staging / "tracking.json"
        if options.overlay:
            from .overlay import write_overlay

            with progress.stage("overlay", total=track_data.num_frames) as step:
                outputs["overlay"] = write_overlay(staging / "overlay.mp4", video, head, track_data, crop, step)
    return {label: Path(out_dir) / path.name for label, path in outputs.items()}


def _settings_for(layout: str, settings: SolverSettings) -> SolverSettings:
    from ..headmodel.landmark_layouts import MP_FACE_OVAL

    low = MP_FACE_OVAL if layout == "mediapipe" else tuple(range(17))  # the jaw line slides with yaw
    return dataclasses.replace(settings, low_weight_landmarks=tuple(low))


def detect_all(video: Path, info, options: TrackOptions, progress: Progress):
    import cv2

    detector = make_detector(options.landmarks, options.device)
    points, found, counts, times, indices = [], [], [], [], []
    total = _expected_frames(info, options)
    try:
        with progress.stage("landmarks", total=total) as step:
            for index, t, frame in read_frames(video, options.start, options.end, options.stride):
                faces = detector(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
                counts.append(len(faces))
                largest = max(faces, key=face_size) if faces else None
                found.append(largest is not None)
                points.append(largest if largest is not None else None)
                times.append(t)
                indices.append(index)
                step()
    finally:
        detector.close()
    if not indices:
        raise BackendError(f"{video}: no frames between {options.start} s and {options.end} s. Check --start/--end.")
    found = np.array(found)
    if not found.any():
        raise BackendError(no_face_message(video, options))
    landmarks = np.full((len(found), len(next(p for p in points if p is not None)), 2), np.nan, np.float32)
    for f, p in enumerate(points):
        if p is not None:
            landmarks[f] = p
    counts = np.array(counts)
    if (counts > 1).any():
        progress.warn(f"{video}: {int((counts > 1).sum())} frame(s) show more than one face; tracking the largest.")
    if (~found).any():
        progress.warn(f"{video}: the face was lost on {int((~found).sum())} of {len(found)} frames; they are marked lost.")
    return Detections(detector.layout, landmarks, found, found.astype(np.float32), counts), np.array(times), np.array(indices)


def no_face_message(video: Path, options: TrackOptions) -> str:
    """Tell 'no face' from 'a face too small for the detector' by looking again at 2x zoom."""
    import cv2

    detector = make_detector("mediapipe")
    try:
        for _, _, frame in read_frames(video, options.start, options.end, max(options.stride, 5)):
            h, w = frame.shape[:2]
            for y0 in (0, h // 2):
                for x0 in (0, w // 2):
                    tile = cv2.resize(frame[y0:y0 + h // 2, x0:x0 + w // 2], None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
                    faces = detector(cv2.cvtColor(tile, cv2.COLOR_BGR2RGB))
                    if faces:
                        pixels = face_size(faces[0]) / 2
                        return (f"{video}: the face is too small to track ({pixels:.0f} px across; the detector needs at least "
                                f"about {MIN_FACE_PIXELS * 2} px). Use footage where the face fills more of the frame, or crop it.")
            break
    finally:
        detector.close()
    return f"{video}: no face found in any frame. Check that the clip shows a face, well lit and not too small."


def matte_all(video: Path, options: TrackOptions, crop: Crop, detections: Detections, progress: Progress):
    """Mattes [F, size, size] uint8 and, for pose refinement, the grey crops shrunk to its resolution."""
    import cv2

    from .matte import Matter

    matter = Matter()
    masks = np.zeros((len(detections.found), crop.size, crop.size), np.uint8)
    grey_size = (options.pose_refinement or PhotometricSettings()).finest(crop.size)
    greys = np.zeros((len(masks), grey_size, grey_size), np.uint8)
    try:
        with progress.stage("matte", total=len(masks)) as step:
            for f, (_, _, frame) in enumerate(read_frames(video, options.start, options.end, options.stride)):
                if f >= len(masks):
                    break
                cropped = crop.apply(frame)
                rgb = cv2.cvtColor(cropped, cv2.COLOR_BGR2RGB)
                greys[f] = cv2.resize(cv2.cvtColor(cropped, cv2.COLOR_BGR2GRAY), greys.shape[1:],
                                      interpolation=cv2.INTER_AREA)
                face = crop.to_crop(detections.points[f]) if detections.found[f] else None
                masks[f] = np.round(255 * matter(rgb, face)).astype(np.uint8)
                step()
    finally:
        matter.close()
    return masks, greys


def _expected_frames(info, options: TrackOptions) -> int:
    end = options.end if options.end is not None else info.frame_count / info.fps
    return max(0, int((end - options.start) * info.fps) // options.stride)


def landmark_statistics(points: np.ndarray, fitted: np.ndarray, index: np.ndarray, found: np.ndarray,
                        layout: str, scale: float) -> dict:
    """Reprojection error of the fitted model: median per frame over landmarks, then median
    and 90th percentile over found frames, in source pixels and as a fraction of the
    inter-ocular distance (outer eye corners)."""
    detected = points[:, index]
    error = np.linalg.norm(fitted - detected, axis=-1)  # [F, M] working pixels
    per_frame = np.nanmedian(error, axis=1)[found]
    corners = (33, 263) if layout == "mediapipe" else (36, 45)
    iod = np.linalg.norm(points[:, corners[0]] - points[:, corners[1]], axis=-1)[found]
    fraction = per_frame / iod
    return {"median_px": float(np.median(per_frame) / scale), "p90_px": float(np.percentile(per_frame, 90) / scale),
            "median_working_px": float(np.median(per_frame)), "median_fraction_of_iod": float(np.median(fraction)),
            "p90_fraction_of_iod": float(np.percentile(fraction, 90))}


def assemble_track(head, video, info, options, crop, detections, points, masks, times, indices, fit, progress) -> Track:
    from ..headmodel.builtin import generator_fingerprint

    index = head.landmark_indices(detections.layout).numpy()
    index = index[index < points.shape[1]]
    expression = fit.expression
    explicit = np.zeros((len(expression), head.num_joints, 3), np.float32)
    stats = landmark_statistics(points, fit.projected, index, detections.found, detections.layout, crop.scale)
    lost = np.flatnonzero(~detections.found)
    meta = {
        "source": str(video.resolve()), "source_size": [info.width, info.height], "rotation": info.rotation,
        "fps": info.fps / options.stride, "source_fps": info.fps, "frame_count": len(indices), "size": crop.size,
        "crop": crop.as_dict(), "layout": detections.layout, "head": options.head,
        "head_fingerprint": generator_fingerprint() if options.head == "default" else None,
        "expression_names": head.expression_names, "identity_names": head.identity_names,
        "joint_names": head.joint_names, "focal": fit.focal, "lost_frames": [int(indices[f]) for f in lost],
        "landmark_error": stats, "timings": {k: round(v, 3) for k, v in progress.timings.items()},
        "warnings": list(progress.warnings),
        "options": {"landmarks": options.landmarks, "start": options.start, "end": options.end,
                    "stride": options.stride, "focal_given": options.focal is not None},
        "note": "joint_rotations are explicit joint angles (zero here); jaw and gaze come from the ARKit codes "
                "through the head model's expression_joint_rotations.",
    }
    return Track(frame_index=indices.astype(np.int64), frame_time=times.astype(np.float64), found=detections.found,
                 confidence=detections.confidence, identity=fit.identity.astype(np.float32),
                 expression=expression.astype(np.float32), joint_rotations=explicit,
                 pose_rotation=fit.pose_rotation.astype(np.float32), pose_translation=fit.pose_translation.astype(np.float32),
                 K=camera_matrix(fit.focal, crop.to_crop(np.array([info.width / 2, info.height / 2]))).astype(np.float32), landmarks_detected=points,
                 landmarks_fitted=fit.projected.astype(np.float32), landmark_index=index.astype(np.int64),
                 landmark_offsets=fit.landmark_offsets.astype(np.float32), masks=masks, meta=meta)
