"""`python -m backend demo`: the built-in head end to end, printing where every output went."""

from __future__ import annotations

import time
from pathlib import Path


def run_demo(out: Path) -> None:
    """Synthesise a clip into out/synth/ and draw the head-model sheet to out/headmodel_sheet.png."""
    from .headmodel import load_head
    from .headmodel.sheet import write_sheet
    from .synth import synthesize

    out = Path(out)
    started = time.perf_counter()
    outputs = synthesize(out / "synth", frames=120, size=256)
    _report("synth", started, outputs)
    started = time.perf_counter()
    sheet = write_sheet(load_head("default"), out / "headmodel_sheet.png")
    _report("head-model", started, {"sheet": sheet})


def _report(step: str, started: float, outputs: dict[str, Path]) -> None:
    for label, path in outputs.items():
        print(f"{step} {label}: {path}")
    print(f"{step} took {time.perf_counter() - started:.1f} s")
