"""Footage to tracked performance: ingest, landmarks, matting and head tracking.

    from backend.tracking import track, TrackOptions
    outputs = track("clip.mp4", "out/", TrackOptions(size=512))
"""

from .pipeline import TrackOptions, track
from .trackfile import Track, read_track

__all__ = ["Track", "TrackOptions", "read_track", "track"]
