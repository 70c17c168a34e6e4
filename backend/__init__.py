"""Head Avatar backend: footage to an animatable Gaussian head avatar.

Pure Python, no Blender import. Heavy modules (torch, mediapipe, cv2) load
inside the functions that need them, so importing this package is cheap.
"""

__version__ = "0.1.0"

from .errors import BackendError

__all__ = ["BackendError", "__version__"]
