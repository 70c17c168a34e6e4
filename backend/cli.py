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


def _headmodel_import_ict(args) -> None:
    from .headmodel.ict import import_ict

    path = import_ict(Path(args.path), args.out, identities=args.identities, with_parts=tuple(args.with_part))
    print(f"head model: {path} (use it as --head {args.out or 'ict'})")


def _headmodel_fetch_ict(args) -> None:
    from .headmodel.builtin import cache_dir
    from .headmodel.ict import import_ict
    from .headmodel.ict.fetch import fetch_ict

    dest = Path(args.dest) if args.dest else cache_dir() / "ICT-FaceKit"
    commit = fetch_ict(dest)
    print(f"ICT-FaceKit: {dest}")
    path = import_ict(dest, args.out, identities=args.identities, commit=commit)
    print(f"head model: {path} (use it as --head {args.out or 'ict'})")


def _synth(args) -> None:
    from .synth import synthesize

    result = synthesize(Path(args.out), frames=args.frames, size=args.size, fps=args.fps,
                        seed=args.seed, head=args.head)
    for label, path in result.items():
        print(f"{label}: {path}")


def _track(args) -> None:
    import dataclasses

    from .progress import Progress
    from .tracking import TrackOptions, track
    from .tracking.solver import SolverSettings

    options = TrackOptions(landmarks=args.landmarks, head=args.head, device=args.device, start=args.start,
                           end=args.end, stride=args.stride, focal=args.focal, size=args.size,
                           overlay=not args.no_overlay,
                           solver=dataclasses.replace(SolverSettings(), iterations=args.iterations))
    progress = Progress.create(args.progress)
    outputs = track(Path(args.video), Path(args.out), options, progress)
    progress.emit(event="done", outputs={k: str(v) for k, v in outputs.items()})
    if progress.mode != "json":
        for label, path in outputs.items():
            print(f"{label}: {path}")


def _fit(args) -> None:
    from .avatar.fit import FitConfig, fit
    from .progress import Progress

    config = FitConfig(iterations=args.iterations, time_budget=args.time_budget, resolution=args.resolution,
                       sh_degree=args.sh_degree, device=args.device, head=args.head)
    progress = Progress.create(args.progress)
    outputs = fit(Path(args.source), Path(args.out), config, progress, resume=args.resume)
    progress.emit(event="done", outputs={k: str(v) for k, v in outputs.items()})
    if progress.mode != "json":
        for label, path in outputs.items():
            print(f"{label}: {path}")


def _render(args) -> None:
    from .avatar.render import render_avatar
    from .progress import Progress

    progress = Progress.create(args.progress)
    paths = render_avatar(Path(args.avatar), Path(args.tracking), Path(args.out), args.device, progress)
    progress.emit(event="done", outputs={"frames": str(args.out), "count": len(paths)})
    if progress.mode != "json":
        print(f"frames: {len(paths)} PNGs in {args.out}")


def _demo(args) -> None:
    from .demo import run_demo

    run_demo(Path(args.out))


def _bench(args) -> None:
    from .bench import run_benchmarks

    run_benchmarks(args.case)


HEAD_HELP = "'default', 'ict' (once imported with `headmodel import-ict`) or a head-model file"


def build_parser() -> argparse.ArgumentParser:
    from .headmodel.ict.topology import ICT_LIGHT  # a table, cheap to import

    parser = argparse.ArgumentParser(prog="python -m backend", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    headmodel = commands.add_parser("headmodel", help="inspect head models")
    head_commands = headmodel.add_subparsers(dest="head_command", required=True)
    info = head_commands.add_parser("info", help="print counts and expression names")
    info.add_argument("head", nargs="?", default="default", help=HEAD_HELP)
    info.set_defaults(handler=_headmodel_info)
    preview = head_commands.add_parser("preview", help="render the labelled head-model sheet")
    preview.add_argument("--head", default="default", help=HEAD_HELP)
    preview.add_argument("--out", default="sheet.png")
    preview.add_argument("--cell", type=int, default=160, help="cell size in pixels")
    preview.set_defaults(handler=_headmodel_preview)
    import_ict = head_commands.add_parser(
        "import-ict", help="convert ICT-FaceKit into a head-model file (head 'ict' unless --out is given)")
    import_ict.add_argument("path", help="an ICT-FaceKit checkout or download, or its FaceXModel folder")
    _add_ict_options(import_ict)
    import_ict.add_argument("--with-part", action="append", default=[], choices=ICT_LIGHT.optional_parts,
                            help="also keep this part (repeatable); dropped by default")
    import_ict.set_defaults(handler=_headmodel_import_ict)
    fetch_ict = head_commands.add_parser("fetch-ict", help="download ICT-FaceKit (online only), then import it")
    fetch_ict.add_argument("--dest", help="where to unpack it (default: the cache folder's ICT-FaceKit)")
    _add_ict_options(fetch_ict)
    fetch_ict.set_defaults(handler=_headmodel_fetch_ict)

    synth = commands.add_parser("synth", help="render synthetic footage with exact ground truth")
    synth.add_argument("--out", required=True)
    synth.add_argument("--frames", type=int, default=120)
    synth.add_argument("--size", type=int, default=256)
    synth.add_argument("--fps", type=float, default=25.0)
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--head", default="default", help=HEAD_HELP)
    synth.set_defaults(handler=_synth)

    track = commands.add_parser("track", help="track a face in footage: landmarks, matte, head-model fit")
    track.add_argument("video")
    track.add_argument("--out", required=True, help="output folder")
    track.add_argument("--landmarks", choices=["auto", "mediapipe", "fan"], default="auto",
                       help="auto = mediapipe (offline, with irises); fan needs face-alignment's weights")
    track.add_argument("--head", default="default", help="'default' or a head-model file")
    track.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    track.add_argument("--start", type=float, default=0.0, help="first second to track")
    track.add_argument("--end", type=float, default=None, help="stop before this second")
    track.add_argument("--stride", type=int, default=1, help="track every K-th frame")
    track.add_argument("--focal", type=float, default=None, help="focal length in working-resolution pixels")
    track.add_argument("--size", type=int, default=512, help="working resolution of the square crop")
    track.add_argument("--iterations", type=int, default=150, help="solver iterations")
    track.add_argument("--no-overlay", action="store_true", help="skip overlay.mp4")
    track.add_argument("--progress", choices=["bar", "json", "none"], default=None)
    track.set_defaults(handler=_track)

    fit = commands.add_parser("fit", help="fit the Gaussian head avatar to a track folder (or a video, tracked first)")
    fit.add_argument("source", help="a track folder from `track`, or a video")
    fit.add_argument("--out", required=True, help="output folder: avatar.safetensors, metrics.json, heldout.mp4")
    fit.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    fit.add_argument("--head", default="default", help=HEAD_HELP + "; used when tracking a video")
    fit.add_argument("--resolution", type=int, default=None, help="training resolution (default: the track's)")
    fit.add_argument("--iterations", type=int, default=3000)
    fit.add_argument("--time-budget", type=float, default=None, help="stop fitting after this many seconds")
    fit.add_argument("--sh-degree", type=int, choices=[0, 1, 2, 3], default=0, help="view-dependent colour degree")
    fit.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.safetensors")
    fit.add_argument("--progress", choices=["bar", "json", "none"], default=None)
    fit.set_defaults(handler=_fit)

    render = commands.add_parser("render", help="render an avatar for a track's frames to PNGs")
    render.add_argument("avatar", help="avatar.safetensors from `fit`")
    render.add_argument("--tracking", required=True, help="track folder whose codes and poses drive the avatar")
    render.add_argument("--out", required=True, help="folder for frame_NNNNNN.png")
    render.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    render.add_argument("--progress", choices=["bar", "json", "none"], default=None)
    render.set_defaults(handler=_render)

    demo = commands.add_parser("demo", help="the main job end to end on the built-in default")
    demo.add_argument("--out", default="demo_out")
    demo.set_defaults(handler=_demo)

    bench = commands.add_parser("bench", help="benchmark cases, one JSON line each")
    bench.add_argument("--case", action="append", help="run only this case (repeatable)")
    bench.set_defaults(handler=_bench)
    return parser


def _add_ict_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", help="head-model file to write (default: the cache, loaded as --head ict)")
    parser.add_argument("--identities", type=int, help="keep the first N identity modes (default: all present)")


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
