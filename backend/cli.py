"""`python -m backend ...`: one subcommand per capability.

Argument parsing lives here; each handler imports its module when it runs, so
`--help` is instant. A BackendError becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import BackendError


def _headmodel_info(args) -> None:
    from .headmodel import load_head

    head = load_head(args.head)
    print(f"head model: {head.name} (format {head.format_version})")
    print(f"vertices: {head.num_vertices}")
    print(f"triangles: {head.num_triangles}")
    print(f"identity coefficients: {head.num_identity}")
    print(f"expressions: {head.num_expressions}")
    for name in head.expression_names:
        print(name)


def _headmodel_preview(args) -> None:
    from .headmodel import load_head
    from .headmodel.sheet import write_sheet

    path = write_sheet(load_head(args.head), Path(args.out), cell=args.cell)
    print(f"sheet: {path}")


def _synth(args) -> None:
    from .synth import synthesize

    result = synthesize(Path(args.out), frames=args.frames, size=args.size, fps=args.fps,
                        seed=args.seed, head=args.head)
    for label, path in result.items():
        print(f"{label}: {path}")


def _demo(args) -> None:
    from .demo import run_demo

    run_demo(Path(args.out))


def _bench(args) -> None:
    from .bench import run_benchmarks

    run_benchmarks(args.case)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m backend", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    headmodel = commands.add_parser("headmodel", help="inspect head models")
    head_commands = headmodel.add_subparsers(dest="head_command", required=True)
    info = head_commands.add_parser("info", help="print counts and expression names")
    info.add_argument("head", nargs="?", default="default", help="'default' or a head-model file")
    info.set_defaults(handler=_headmodel_info)
    preview = head_commands.add_parser("preview", help="render the labelled head-model sheet")
    preview.add_argument("--head", default="default")
    preview.add_argument("--out", default="sheet.png")
    preview.add_argument("--cell", type=int, default=160, help="cell size in pixels")
    preview.set_defaults(handler=_headmodel_preview)

    synth = commands.add_parser("synth", help="render synthetic footage with exact ground truth")
    synth.add_argument("--out", required=True)
    synth.add_argument("--frames", type=int, default=120)
    synth.add_argument("--size", type=int, default=256)
    synth.add_argument("--fps", type=float, default=25.0)
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--head", default="default")
    synth.set_defaults(handler=_synth)

    demo = commands.add_parser("demo", help="the main job end to end on the built-in default")
    demo.add_argument("--out", default="demo_out")
    demo.set_defaults(handler=_demo)

    bench = commands.add_parser("bench", help="benchmark cases, one JSON line each")
    bench.add_argument("--case", action="append", help="run only this case (repeatable)")
    bench.set_defaults(handler=_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except BackendError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0
