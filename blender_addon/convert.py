"""The one place where Blender and backend conventions meet: cameras, axes, rig rotations.

Backend intrinsics are OpenCV pixels; a Blender camera has a lens in millimetres over a sensor
whose fitted side spans the render's larger side (sensor_fit AUTO). Matrices are numpy arrays
(4x4 where they act on homogeneous points), so this module is testable without Blender.
"""

import numpy as np


def lens_from_focal(focal_px: float, width: int, height: int, sensor_mm: float) -> float:
    """Blender lens (mm) for a pinhole focal length in pixels, with sensor_fit AUTO."""
    return focal_px * sensor_mm / max(width, height)


def focal_from_lens(lens_mm: float, width: int, height: int, sensor_mm: float) -> float:
    return lens_mm * max(width, height) / sensor_mm


def fps_settings(fps: float) -> tuple[int, float]:
    """Blender's (fps, fps_base) for a frame rate such as 29.97."""
    rounded = max(1, round(fps))
    return rounded, rounded / fps


# Backend world is the tracking camera's OpenCV frame (x right, y down, z forward). In Blender the
# same scene stands upright: x right, y forward (away from the camera), z up.
BACKEND_TO_BLENDER = ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0), (0.0, -1.0, 0.0))  # rows: blender = M @ backend
CAMERA_ROTATION_EULER = (1.5707963267948966, 0.0, 0.0)  # a Blender camera at the origin looking along +Y, z up
# Head-model space (+x the subject's left, +y up, +z out of the face) stored in a Blender object as
# a character usually is: facing -Y with Z up, so an untransformed head stands upright.
MODEL_TO_OBJECT = ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0), (0.0, 1.0, 0.0))  # rows: object = A @ model
OPENCV_FROM_BLENDER_CAMERA = np.diag([1.0, -1.0, -1.0, 1.0])  # Blender cameras look down -Z with +Y up


def homogeneous(rotation, translation=(0.0, 0.0, 0.0)) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, :3], matrix[:3, 3] = rotation, translation
    return matrix


def model_to_object(points: np.ndarray) -> np.ndarray:
    """[..., 3] head-model coordinates -> the head object's local coordinates."""
    return np.asarray(points) @ np.asarray(MODEL_TO_OBJECT).T


def object_to_model(points: np.ndarray) -> np.ndarray:
    """The inverse of `model_to_object`."""
    return np.asarray(points) @ np.asarray(MODEL_TO_OBJECT)


def head_object_matrix(pose_rotation: np.ndarray, pose_translation: np.ndarray) -> np.ndarray:
    """The head object's world matrix [4, 4] for a backend head pose (rotation [3, 3], translation [3]):
    object -> model -> tracking camera (backend world) -> Blender world."""
    return (homogeneous(BACKEND_TO_BLENDER) @ homogeneous(pose_rotation, pose_translation)
            @ homogeneous(np.asarray(MODEL_TO_OBJECT).T))


def blender_to_backend(points: np.ndarray) -> np.ndarray:
    """[..., 3] Blender world points -> backend world (the tracking camera's frame)."""
    return np.asarray(points) @ np.asarray(BACKEND_TO_BLENDER)


def opencv_viewmat(world_to_view: np.ndarray) -> np.ndarray:
    """World-to-camera [4, 4] in OpenCV convention, from backend world, for a Blender view matrix
    (a camera's inverted matrix_world, or a viewport's view_matrix)."""
    return OPENCV_FROM_BLENDER_CAMERA @ np.asarray(world_to_view, np.float64) @ homogeneous(BACKEND_TO_BLENDER)


def intrinsics_from_projection(projection: np.ndarray, width: int, height: int) -> np.ndarray:
    """OpenCV intrinsics [3, 3] in pixels from Blender's OpenGL projection matrix [4, 4]
    (Camera.calc_matrix_camera), which already holds sensor fit, shift and pixel aspect."""
    P = np.asarray(projection, np.float64)
    return np.array([[width * P[0, 0] / 2, 0.0, width * (1 - P[0, 2]) / 2],
                     [0.0, height * P[1, 1] / 2, height * (1 + P[1, 2]) / 2],
                     [0.0, 0.0, 1.0]])


def camera_from_intrinsics(K: np.ndarray, width: int, height: int, sensor_mm: float) -> tuple[float, float, float]:
    """(lens mm, shift_x, shift_y) of a sensor_fit AUTO camera with square pixels matching K [3, 3]."""
    side = max(width, height)
    lens = lens_from_focal(float(K[0, 0]), width, height, sensor_mm)
    return lens, (width / 2 - float(K[0, 2])) / side, (float(K[1, 2]) - height / 2) / side


def bone_rotation(model_axis_angle: np.ndarray, bone_rest: np.ndarray) -> np.ndarray:
    """[..., 3] axis-angle in head-model space -> the same rotation in a bone's local frame, given the
    bone's rest matrix [3, 3] in object space (Bone.matrix_local)."""
    return np.asarray(model_axis_angle) @ np.asarray(MODEL_TO_OBJECT).T @ np.asarray(bone_rest)[:3, :3]
