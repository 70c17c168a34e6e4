"""What an ICT-FaceKit folder holds: its files, its parts (the upstream README's topology
table) and how its expression names map onto ARKit's."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from ...errors import BackendError
from ..arkit import ARKIT_NAMES

NEUTRAL = "generic_neutral_mesh.obj"
INDICES = "vertex_indices.json"
REPOSITORY = "https://github.com/ICT-VGL/ICT-FaceKit"


@dataclasses.dataclass(frozen=True)
class Topology:
    """Vertex ranges of a mesh family, as ICT's README tables give them."""

    vertex_count: int
    parts: dict[str, tuple[range, ...]]  # part name in the head-model file -> ICT vertex ranges
    optional_parts: tuple[str, ...]  # parts dropped unless asked for
    eyes: dict[str, tuple[range, range]]  # "eyeLeft"/"eyeRight" -> (sclera, iris) vertex ranges


ICT_LIGHT = Topology(
    vertex_count=26719,
    parts={
        "face": (range(0, 9409),),
        "head_and_neck": (range(9409, 11248),),
        "mouth_interior": (range(11248, 13294),),  # ICT's mouth socket
        "eye_sockets": (range(13294, 13678), range(13678, 14062)),
        "gums_and_tongue": (range(14062, 17039),),
        "teeth": (range(17039, 21451),),
        "eyeballs": (range(21451, 23021), range(23021, 24591)),
        "lacrimal_fluid": (range(24591, 24795), range(24795, 24999)),
        "eye_blend": (range(24999, 25023), range(25023, 25047)),
        "eye_occlusion": (range(25047, 25199), range(25199, 25351)),
        "eyelashes": (range(25351, 26035), range(26035, 26719)),
    },
    optional_parts=("lacrimal_fluid", "eye_blend", "eye_occlusion", "eyelashes"),
    eyes={"eyeLeft": (range(21451, 22221), range(22221, 23021)),
          "eyeRight": (range(23021, 23791), range(23791, 24591))},
)


@dataclasses.dataclass
class IctFolder:
    model: Path  # the FaceXModel folder
    expression_files: dict[str, list[Path]]  # ARKit name -> the ICT meshes summed into it
    unused_expressions: list[str]  # ICT shapes with no ARKit counterpart
    identity_files: list[Path]
    landmark_vertices: list[int]  # the 68 Multi-PIE (iBUG) landmarks as ICT vertex ids
    commit: str | None  # the git commit of a checkout, when the folder is one


def arkit_name(ict_name: str) -> str | None:
    """ICT's `_L`/`_R` names as ARKit's: browDown_L -> browDownLeft. The split halves of a centred
    ARKit code (browInnerUp_L, cheekPuff_R) map to that code; None where ARKit has no such code."""
    base, suffix = ict_name[:-2], ict_name[-2:]
    if suffix in ("_L", "_R"):
        sided = base + ("Left" if suffix == "_L" else "Right")
        return sided if sided in ARKIT_NAMES else base if base in ARKIT_NAMES else None
    return ict_name if ict_name in ARKIT_NAMES else None


def open_folder(path: Path, identities: int | None) -> IctFolder:
    """Check an ICT-FaceKit checkout (or its FaceXModel folder) and list the files to read.
    `identities`: how many identity modes to take (all identityNNN.obj present when None)."""
    if identities is not None and identities < 0:
        raise BackendError(f"--identities must be 0 or more, not {identities}.")
    model = path / "FaceXModel" if (path / "FaceXModel").is_dir() else path
    missing = [f"FaceXModel/{name}" for name in (NEUTRAL, INDICES) if not (model / name).is_file()]
    if missing:
        raise BackendError(f"{path} is not an ICT-FaceKit folder: it has no {' and no '.join(missing)}. "
                           f"Clone {REPOSITORY} and pass the folder of the clone.")
    indices = _read_indices(model / INDICES)
    expression_files: dict[str, list[Path]] = {}
    unused = []
    for name in indices["expressions"]:
        target = arkit_name(name)
        if target is None:
            unused.append(name)
        else:
            expression_files.setdefault(target, []).append(model / f"{name}.obj")
    available = 0
    while (model / f"identity{available:03d}.obj").is_file():
        available += 1
    count = available if identities is None else identities
    identity_files = [model / f"identity{i:03d}.obj" for i in range(count)]
    missing = [p.name for files in expression_files.values() for p in files if not p.is_file()]
    missing += [p.name for p in identity_files[available:]]
    if missing:
        shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
        raise BackendError(f"{model} is incomplete: {shown} missing. Re-download or re-clone {REPOSITORY}"
                           + (f", or ask for at most {available} identities." if identities and count > available else "."))
    return IctFolder(model, expression_files, unused, identity_files, [int(i) for i in indices["idx_to_landmark_verts"]],
                     _git_commit(model.parent))


def _git_commit(root: Path) -> str | None:
    git = root / ".git"
    if not (git / "HEAD").is_file():
        return None
    head = (git / "HEAD").read_text().strip()
    if not head.startswith("ref: "):
        return head  # a detached checkout
    ref = head[len("ref: "):]
    if (git / ref).is_file():
        return (git / ref).read_text().strip()
    packed = (git / "packed-refs").read_text().splitlines() if (git / "packed-refs").is_file() else []
    return next((line.split()[0] for line in packed if line.endswith(" " + ref)), None)


def _read_indices(path: Path) -> dict:
    try:
        indices = json.loads(path.read_text())
        if len(indices["idx_to_landmark_verts"]) != 68 or not isinstance(indices["expressions"], list):
            raise ValueError("wrong lengths")
    except (ValueError, KeyError, TypeError) as exc:
        raise BackendError(f"{path} is not ICT-FaceKit's vertex index file ({exc!r}): re-download it from {REPOSITORY}.") from None
    return indices
