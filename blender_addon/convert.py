"""The one place where Blender and backend conventions meet (cameras for now).

Backend intrinsics are OpenCV pixels; a Blender camera has a lens in millimetres over a sensor
whose fitted side spans the render's larger side (sensor_fit AUTO).
"""


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
