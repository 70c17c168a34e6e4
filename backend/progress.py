"""Progress for long jobs: a bar on a terminal, or one JSON event per line for the Blender add-on.

    progress = Progress.create("json")        # or "bar", or "none"
    with progress.stage("landmarks", total=len(frames)) as step:
        for frame in frames:
            ...
            step()
    progress.warn("2 faces found; tracking the largest")

JSON events (stdout, one per line): {"event": "stage", "stage": ..., "status": "start" | "done",
"seconds": ...}, {"event": "progress", "stage": ..., "done": k, "total": n},
{"event": "warning", "message": ...}, {"event": "done", "outputs": {...}}.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time


class Progress:
    def __init__(self, mode: str = "bar", stream=None):
        if mode not in {"bar", "json", "none"}:
            raise ValueError(f"progress mode must be bar, json or none, got {mode!r}")
        self.mode = mode
        self.stream = stream or (sys.stdout if mode == "json" else sys.stderr)
        self.timings: dict[str, float] = {}
        self.warnings: list[str] = []

    @classmethod
    def create(cls, mode: str | None) -> "Progress":
        if mode is None:
            mode = "bar" if sys.stderr.isatty() else "none"
        return cls(mode)

    def emit(self, **event) -> None:
        if self.mode == "json":
            self.stream.write(json.dumps(event) + "\n")
            self.stream.flush()

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        if self.mode == "json":
            self.emit(event="warning", message=message)
        else:
            print(f"warning: {message}", file=sys.stderr)

    @contextlib.contextmanager
    def stage(self, name: str, total: int = 0):
        start = time.perf_counter()
        self.emit(event="stage", stage=name, status="start")
        done, last = 0, 0.0

        def step(count: int = 1) -> None:
            nonlocal done, last
            done += count
            now = time.perf_counter()
            if now - last < 0.1 and done < total:
                return
            last = now
            if self.mode == "json":
                self.emit(event="progress", stage=name, done=done, total=total)
            elif self.mode == "bar" and total:
                width = 30
                filled = int(width * done / total)
                self.stream.write(f"\r{name:<12} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
                self.stream.flush()

        yield step
        seconds = time.perf_counter() - start
        self.timings[name] = self.timings.get(name, 0.0) + seconds
        if self.mode == "bar":
            self.stream.write(f"\r{name:<12} done in {seconds:.1f} s{' ' * 30}\n")
        self.emit(event="stage", stage=name, status="done", seconds=round(seconds, 3))
