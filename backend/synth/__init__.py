"""Synthetic talking-head footage with exact ground truth, for testing trackers and fits."""

from .footage import synthesize

__all__ = ["synthesize"]
