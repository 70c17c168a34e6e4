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

    solver = SolverSettings() if args.iterations is None else dataclasses.replace(SolverSettings(), iterations=args.iterations)
    options = TrackOptions(landmarks=args.landmarks, head=args.head, device=args.device, start=args.start,
                           end=args.end, stride=args.stride, focal=args.focal, size=args.size,
                           overlay=not args.no_overlay, solver=solver)
    progress = Progress.create(args.progress)
    outputs = track(Path(args.video), Path(args.out), options, progress)
    progress.emit(event="done", outputs={k: str(v) for k, v in outputs.items()})
    if progress.mode != "json":
        for label, path in outputs.items():
            print(f"{label}: {path}")


def _fit(args) -> None:
    from .avatar.fit import FitConfig, fit
    from .avatar.refine import RefinementSettings
    from .progress import Progress

    config = FitConfig(iterations=args.iterations, time_budget=args.time_budget, resolution=args.resolution,
                       sh_degree=args.sh_degree, device=args.device, head=args.head, complete=args.complete,
                       refinement=RefinementSettings(enabled=args.refine))
    progress = Progress.create(args.progress)
    outputs = fit(Path(args.source), Path(args.out), config, progress, resume=args.resume)
    progress.emit(event="done", outputs={k: str(v) for k, v in outputs.items()})
    if progress.mode != "json":
        for label, path in outputs.items():
            print(f"{label}: {path}")


def _render(args) -> None:
    from .avatar.render import render_performance
    from .progress import Progress

    progress = Progress.create(args.progress)
    if args.turntable:
        return _turntable(args, progress)
    if not (args.tracking or args.performance):
        raise BackendError("render needs --tracking, --performance or --turntable N.")
    frames = _frame_range(args.frames)
    performance, track = _driving(args, progress)
    paths = render_performance(Path(args.avatar), performance, Path(args.out), frames=frames,
                               image_format=args.format, preview=args.preview, track=track, device=args.device,
                               progress=progress)
    progress.emit(event="done", outputs={"frames": str(args.out), "count": len(paths)})
    if progress.mode != "json":
        print(f"frames: {len(paths)} {args.format.upper()} files in {args.out}")


def _turntable(args, progress) -> None:
    from .avatar.turntable import render_turntable

    rendered = render_turntable(Path(args.avatar), Path(args.out), args.turntable, image_format=args.format,
                                device=args.device, progress=progress)
    progress.emit(event="done", outputs={"frames": str(args.out), "count": len(rendered.paths),
                                         "report": str(rendered.report_path)})
    if progress.mode != "json":
        worst = rendered.worst_view()
        print(f"turntable: {len(rendered.paths)} {args.format.upper()} views in {args.out}; head silhouette covered "
              f"{100 * worst['silhouette_covered']:.2f}% or more (view {worst['view']}), largest hole "
              f"{rendered.largest_hole} px; per view: {rendered.report_path}")


def _bake_maps(args) -> None:
    from .avatar.mapfiles import bake_maps

    for label, path in bake_maps(Path(args.avatar), Path(args.out), args.size).items():
        print(f"{label}: {path}")


def _apply_maps(args) -> None:
    from .avatar.mapfiles import apply_maps

    print(f"avatar: {apply_maps(Path(args.avatar), Path(args.maps), Path(args.out))}")


def _export_ply(args) -> None:
    from .export.ply import write_avatar_ply
    from .progress import Progress

    performance, track = _driving(args, Progress.create(None))
    if performance is not None and args.frame is None:
        raise BackendError("--frame N is needed with --tracking or --performance (leave both out for the "
                           "canonical avatar).")
    path = write_avatar_ply(Path(args.avatar), Path(args.out), performance, args.frame, track)
    print(f"ply: {path}")


def _export_curves(args) -> None:
    from .animation import read_performance
    from .progress import Progress

    out = Path(args.out)
    if out.suffix.lower() not in (".csv", ".json"):
        raise BackendError(f"cannot write {out}: curves are written as .csv (Live Link Face layout) or .json.")
    performance = read_performance(Path(args.source), args.fps, Progress.create(None))
    path = performance.write_csv(out) if out.suffix.lower() == ".csv" else performance.write_json(out)
    print(f"curves: {path} ({performance.num_frames} frames at {performance.fps:g} fps)")


def _retarget(args) -> None:
    from .animation.retarget import retarget
    from .progress import Progress

    progress = Progress.create(args.progress)
    outputs = retarget(Path(args.video), Path(args.avatar), Path(args.out), relative_pose=args.relative_pose,
                       size=args.size, device=args.device, progress=progress)
    progress.emit(event="done", outputs={k: str(v) for k, v in outputs.items()})
    if progress.mode != "json":
        for label, path in outputs.items():
            print(f"{label}: {path}")


def _driving(args, progress):
    """(Performance or None, Track or None) from --tracking or --performance (resampled to --fps,
    by default the avatar's training frame rate)."""
    from .animation import Performance, read_performance
    from .avatar import read_avatar
    from .tracking import read_track

    if args.tracking:
        track = read_track(Path(args.tracking))
        return Performance.from_track(track), track
    if not args.performance:
        return None, None
    fps = args.fps or read_avatar(Path(args.avatar)).meta.get("training_view", {}).get("fps")
    return read_performance(Path(args.performance), fps, progress), None


def _frame_range(text: str | None) -> tuple[int, int] | None:
    """'1-250' or '7' -> (first, last), Blender frame numbers, both included."""
    if text is None:
        return None
    first, _, last = text.partition("-")
    try:
        first, last = int(first), int(last or first)
    except ValueError:
        raise BackendError(f"--frames {text!r} is not a range like 1-250 (Blender frame numbers, both "
                           "included).") from None
    if last < first:
        raise BackendError(f"--frames {text!r} ends before it starts.")
    return first, last


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
    track.add_argument("--iterations", type=int, default=None, help="landmark solver iterations (default: the solver's own)")
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
    fit.add_argument("--time-budget", type=float, default=None,
                     help="seconds of optimisation; tracking a video first, aligning the held-out frames to the "
                          "avatar and evaluating come on top (a few minutes on a 1000-frame clip)")
    fit.add_argument("--sh-degree", type=int, choices=[0, 1, 2, 3], default=1, help="view-dependent colour degree")
    fit.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.safetensors")
    fit.add_argument("--complete", action=argparse.BooleanOptionalAction, default=True,
                     help="fill the surfaces the footage never saw (back of the head, under the chin)")
    fit.add_argument("--refine", action=argparse.BooleanOptionalAction, default=True,
                     help="refine the training frames' tracked head pose and codes while fitting")
    fit.add_argument("--progress", choices=["bar", "json", "none"], default=None)
    fit.set_defaults(handler=_fit)

    render = commands.add_parser("render", help="render an avatar driven by a track or a performance to PNG/EXR frames")
    render.add_argument("avatar", help="avatar.safetensors from `fit`")
    _add_driving_options(render, required=False)
    render.add_argument("--turntable", type=int, metavar="N",
                        help="instead: N views of the neutral head turning about the vertical axis")
    render.add_argument("--out", required=True, help="folder for frame_NNNNNN.png|exr (NNNNNN: Blender frame number)")
    render.add_argument("--frames", help="Blender frame numbers to render, both ends included: 1-250 or 7 "
                                         "(default: all); split a range over processes for a farm")
    render.add_argument("--format", choices=["png", "exr"], default="png",
                        help="png: 8-bit sRGB, straight alpha; exr: linear premultiplied RGBA + Depth (metres)")
    render.add_argument("--preview", help="also write an mp4 preview of the rendered frames here")
    render.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    render.add_argument("--progress", choices=["bar", "json", "none"], default=None)
    render.set_defaults(handler=_render)

    export_ply = commands.add_parser("export-ply", help="the avatar as a standard 3D Gaussian Splatting PLY")
    export_ply.add_argument("avatar", help="avatar.safetensors from `fit`")
    _add_driving_options(export_ply, required=False)
    export_ply.add_argument("--frame", type=int, help="Blender frame number to pose (with --tracking/--performance)")
    export_ply.add_argument("--out", required=True, help="file.ply (canonical rest head without a performance)")
    export_ply.set_defaults(handler=_export_ply)

    export_curves = commands.add_parser("export-curves", help="expression codes and head pose as CSV or JSON")
    export_curves.add_argument("source", help="a track folder, or a performance .csv/.json")
    export_curves.add_argument("--out", required=True, help="x.csv (Live Link Face layout) or x.json")
    export_curves.add_argument("--fps", type=float, help="resample to this frame rate")
    export_curves.set_defaults(handler=_export_curves)

    retarget = commands.add_parser("retarget", help="drive an avatar with another performer's clip")
    retarget.add_argument("video", help="the driving clip")
    retarget.add_argument("--avatar", required=True, help="avatar.safetensors from `fit`")
    retarget.add_argument("--out", required=True,
                          help="folder: performance.csv, performance.json, track/, preview.mp4")
    retarget.add_argument("--relative-pose", action="store_true",
                          help="move the avatar's head by the driver's motion since the first frame")
    retarget.add_argument("--size", type=int, default=512, help="working resolution for tracking the driver")
    retarget.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    retarget.add_argument("--progress", choices=["bar", "json", "none"], default=None)
    retarget.set_defaults(handler=_retarget)

    bake = commands.add_parser("bake-maps", help="bake an avatar into paintable maps in the head's UV layout")
    bake.add_argument("avatar", help="avatar.safetensors from `fit`")
    bake.add_argument("--out", required=True, help="folder: colour.png/.exr, opacity.png/.exr, coverage.png, *.exr")
    bake.add_argument("--size", type=int, default=1024, help="map size in texels")
    bake.set_defaults(handler=_bake_maps)

    apply = commands.add_parser("apply-maps", help="rebuild an avatar's Gaussians from (edited) maps")
    apply.add_argument("avatar", help="the avatar.safetensors the maps were baked from")
    apply.add_argument("--maps", required=True, help="folder from bake-maps")
    apply.add_argument("--out", required=True, help="new avatar file (or folder for avatar.safetensors)")
    apply.set_defaults(handler=_apply_maps)

    demo = commands.add_parser("demo", help="the main job end to end on the built-in default")
    demo.add_argument("--out", default="demo_out")
    demo.set_defaults(handler=_demo)

    bench = commands.add_parser("bench", help="benchmark cases, one JSON line each")
    bench.add_argument("--case", action="append", help="run only this case (repeatable)")
    bench.set_defaults(handler=_bench)
    return parser


def _add_driving_options(parser: argparse.ArgumentParser, required: bool) -> None:
    source = parser.add_mutually_exclusive_group(required=required)
    source.add_argument("--tracking", help="track folder whose codes and poses drive the avatar (and its camera)")
    source.add_argument("--performance", help="a Live Link Face .csv or a performance .json (from export-curves "
                                              "or retarget); the avatar's training camera")
    parser.add_argument("--fps", type=float, help="frame rate of the frame numbers for --performance "
                                                  "(default: the avatar's training clip; others are resampled)")


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
