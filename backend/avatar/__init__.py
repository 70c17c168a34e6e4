"""The animatable Gaussian head avatar: representation, file, fitting, evaluation, rendering.

    from backend.avatar import fit, FitConfig, read_avatar
    outputs = fit("track_dir/", "out/", FitConfig(time_budget=300))
"""

from .file import read_avatar, write_avatar
from .fit import FitConfig, fit

__all__ = ["FitConfig", "fit", "read_avatar", "write_avatar"]
