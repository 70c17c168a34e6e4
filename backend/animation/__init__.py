"""Performances that drive avatars: per-frame ARKit codes and head pose, their files, retargeting.

    from backend.animation import Performance, read_performance
    performance = Performance.from_track(read_track("track/"))
    performance.write_csv("take.csv")           # Live Link Face layout
"""

from .files import read_performance
from .performance import Performance

__all__ = ["Performance", "read_performance"]
