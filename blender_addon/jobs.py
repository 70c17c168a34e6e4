"""Long backend work in a separate process, so Blender stays responsive.

A `BackendJob` starts `python -m backend ... --progress json`, reads its JSON events on a
thread, and exposes the latest stage and fraction done; `cancel()` stops the process (and its
children) within a couple of seconds. Backends write atomically, so a cancelled job leaves no
half-written file. No bpy here: the operators poll a job from a timer.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path


class BackendJob:
    def __init__(self, arguments: list[str], python: str | None = None, backend_root: str | Path | None = None,
                 extra_paths: list[str] = ()):
        """extra_paths: more import folders for the child, e.g. Blender's own sys.path (bundled wheels)."""
        env = dict(os.environ)
        paths = [str(backend_root)] if backend_root else []
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [*paths, *extra_paths, env.get("PYTHONPATH")]))
        env["PYTHONUNBUFFERED"] = "1"
        self.command = [python or sys.executable, "-m", "backend", *arguments, "--progress", "json"]
        self.events: list[dict] = []
        self.stage, self.fraction, self.outputs, self.error = "starting", 0.0, None, None
        self._stderr: list[str] = []
        self._process = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                         env=env, start_new_session=True)
        self._readers = [threading.Thread(target=self._read_events, daemon=True),
                         threading.Thread(target=self._read_errors, daemon=True)]
        for reader in self._readers:
            reader.start()

    def _read_events(self) -> None:
        for line in self._process.stdout:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            self.events.append(event)
            if event.get("event") == "stage":
                self.stage = event["stage"]
                self.fraction = 0.0 if event.get("status") == "start" else 1.0
            elif event.get("event") == "progress" and event.get("total"):
                self.stage, self.fraction = event["stage"], event["done"] / event["total"]
            elif event.get("event") == "done":
                self.outputs = event.get("outputs", {})

    def _read_errors(self) -> None:
        for line in self._process.stderr:
            self._stderr.append(line.rstrip("\n"))

    @property
    def running(self) -> bool:
        return self._process.poll() is None

    def finish(self, timeout: float | None = None) -> int:
        """Wait for the process and its readers; on failure `error` holds the backend's message."""
        code = self._process.wait(timeout)
        for reader in self._readers:
            reader.join(5)
        if code != 0 and self.error is None:
            messages = [line[len("error: "):] for line in self._stderr if line.startswith("error: ")]
            self.error = messages[-1] if messages else ("\n".join(self._stderr[-5:]) or f"backend exited with code {code}")
        return code

    def cancel(self, grace: float = 1.5) -> None:
        """Interrupt the backend (Ctrl-C semantics), then kill it if it has not stopped in `grace` s."""
        if not self.running:
            return
        group = os.getpgid(self._process.pid)
        os.killpg(group, signal.SIGINT)
        deadline = time.monotonic() + grace
        while self.running and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.running:
            os.killpg(group, signal.SIGKILL)
        self._process.wait()
        self.error = "cancelled"
