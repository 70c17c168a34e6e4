"""A small OpenEXR writer and reader: single-part scanline files of 32-bit float channels.

No dependency beyond zlib: ZIP compression (16 scanlines per block, OpenEXR's byte split and
delta predictor) or none. Channel names are free, so multilayer names such as
`ViewLayer.Combined.R` work (Blender, Nuke and OpenImageIO read them as layers). The reader
reads what this writer writes (FLOAT channels, NONE/ZIPS/ZIP) and refuses anything else.

    write_exr("frame.exr", {"R": red, "G": green, "B": blue, "A": alpha})   # each [H, W]
    channels = read_exr("frame.exr")
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import BackendError
from ..fileio import write_bytes_atomic

MAGIC = 20000630
FLOAT = 2  # OpenEXR pixel type
COMPRESSIONS = {"none": (0, 1), "zips": (2, 1), "zip": (3, 16)}  # name: (code, scanlines per block)


def write_exr(path: str | Path, channels: dict[str, np.ndarray], compression: str = "zip") -> Path:
    """Write float channels (each [H, W], same size) to `path` atomically."""
    names = sorted(channels)  # the file format requires the channel list sorted by name
    planes = [np.ascontiguousarray(channels[name], "<f4") for name in names]
    H, W = planes[0].shape
    if any(plane.shape != (H, W) for plane in planes):
        raise ValueError(f"EXR channels differ in size: {[plane.shape for plane in planes]}")
    code, block = COMPRESSIONS[compression]
    header = _header(names, W, H, code)
    chunks = []
    for y in range(0, H, block):
        raw = np.stack([plane[y:y + block] for plane in planes], 1).tobytes()  # per line: each channel's row
        data = _zip(raw) if code else raw
        chunks.append(struct.pack("<ii", y, len(data)) + data)
    offsets, position = [], len(header) + 8 * len(chunks)
    for chunk in chunks:
        offsets.append(position)
        position += len(chunk)
    write_bytes_atomic(path, header + struct.pack(f"<{len(offsets)}Q", *offsets) + b"".join(chunks))
    return Path(path)


def read_exr(path: str | Path) -> dict[str, np.ndarray]:
    """{channel name: [H, W] float32} of a file `write_exr` wrote."""
    path = Path(path)
    data = path.read_bytes()
    try:
        attributes, position = _read_header(data)
        names = attributes["channels"]
        x0, y0, x1, y1 = attributes["dataWindow"]
        code = attributes["compression"]
        block = next(lines for c, lines in COMPRESSIONS.values() if c == code)
    except (KeyError, StopIteration, struct.error, ValueError) as exc:
        raise BackendError(f"{path} is not an EXR file this reader handles ({exc}).") from None
    W, H = x1 - x0 + 1, y1 - y0 + 1
    count = -(-H // block)
    offsets = struct.unpack_from(f"<{count}Q", data, position)
    planes = np.zeros((H, len(names), W), np.float32)
    for offset in offsets:
        y, size = struct.unpack_from("<ii", data, offset)
        lines = min(block, H - (y - y0))
        raw = data[offset + 8:offset + 8 + size]
        if size < lines * len(names) * W * 4:
            raw = _unzip(raw)
        planes[y - y0:y - y0 + lines] = np.frombuffer(raw, "<f4").reshape(lines, len(names), W)
    return {name: planes[:, i].copy() for i, name in enumerate(names)}


def _attribute(name: str, kind: str, value: bytes) -> bytes:
    return name.encode() + b"\0" + kind.encode() + b"\0" + struct.pack("<i", len(value)) + value


def _header(names: list[str], width: int, height: int, compression: int) -> bytes:
    channel_list = b"".join(name.encode() + b"\0" + struct.pack("<iB3xii", FLOAT, 0, 1, 1) for name in names) + b"\0"
    window = struct.pack("<iiii", 0, 0, width - 1, height - 1)
    return (struct.pack("<ii", MAGIC, 2)
            + _attribute("channels", "chlist", channel_list)
            + _attribute("compression", "compression", bytes([compression]))
            + _attribute("dataWindow", "box2i", window)
            + _attribute("displayWindow", "box2i", window)
            + _attribute("lineOrder", "lineOrder", bytes([0]))
            + _attribute("pixelAspectRatio", "float", struct.pack("<f", 1.0))
            + _attribute("screenWindowCenter", "v2f", struct.pack("<ff", 0.0, 0.0))
            + _attribute("screenWindowWidth", "float", struct.pack("<f", 1.0))
            + b"\0")


def _read_header(data: bytes) -> tuple[dict, int]:
    """(the attributes this reader needs, position of the offset table)."""
    magic, version = struct.unpack_from("<ii", data, 0)
    if magic != MAGIC or version & 0xFF != 2 or version & 0x1A00:
        raise ValueError("not a single-part scanline OpenEXR 2 file")
    attributes, position = {}, 8
    while data[position] != 0:
        name, position = _string(data, position)
        kind, position = _string(data, position)
        (size,) = struct.unpack_from("<i", data, position)
        value = data[position + 4:position + 4 + size]
        position += 4 + size
        if name == "channels":
            attributes[name] = _channel_names(value)
        elif name == "compression":
            attributes[name] = value[0]
        elif name == "dataWindow":
            attributes[name] = struct.unpack("<iiii", value)
    return attributes, position + 1


def _channel_names(value: bytes) -> list[str]:
    names, position = [], 0
    while value[position] != 0:
        name, position = _string(value, position)
        if struct.unpack_from("<i", value, position)[0] != FLOAT:
            raise ValueError(f"channel {name} is not 32-bit float")
        names.append(name)
        position += 16
    return names


def _string(data: bytes, position: int) -> tuple[str, int]:
    end = data.index(b"\0", position)
    return data[position:end].decode(), end + 1


def _zip(raw: bytes) -> bytes:
    """OpenEXR's ZIP: even bytes then odd bytes, each byte stored as the difference to the previous
    (+128), deflated; stored raw when that is not smaller."""
    split = np.frombuffer(raw, np.uint8)
    split = np.concatenate([split[0::2], split[1::2]])
    predicted = split.copy()
    predicted[1:] = (split[1:].astype(np.int16) - split[:-1] + 128) & 0xFF
    packed = zlib.compress(predicted.tobytes())
    return packed if len(packed) < len(raw) else raw


def _unzip(packed: bytes) -> bytes:
    predicted = np.frombuffer(zlib.decompress(packed), np.uint8).astype(np.int64)
    predicted[1:] -= 128
    split = (np.cumsum(predicted) & 0xFF).astype(np.uint8)
    half = (len(split) + 1) // 2
    raw = np.empty_like(split)
    raw[0::2], raw[1::2] = split[:half], split[half:]
    return raw.tobytes()
