"""The 52 ARKit blendshape names in Apple's documentation order, and their symmetry.

Left/Right are the subject's own sides. Other tools use other orders (Live Link Face CSV,
mediapipe's alphabetical list): always map by name, never by position.
"""

ARKIT_NAMES: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft",
    "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight",
    "jawForward", "jawLeft", "jawRight", "jawOpen",
    "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthUpperUpLeft", "mouthUpperUpRight",
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
    "noseSneerLeft", "noseSneerRight",
    "tongueOut",
)

# Direction pairs that swap under a left-right mirror although they carry no Left/Right suffix.
_DIRECTION_PAIRS = {"jawLeft": "jawRight", "jawRight": "jawLeft", "mouthLeft": "mouthRight", "mouthRight": "mouthLeft"}


def mirror_name(name: str) -> str:
    """The code a left-right mirror turns `name` into (itself for centred codes)."""
    if name in _DIRECTION_PAIRS:
        return _DIRECTION_PAIRS[name]
    if name.endswith("Left"):
        return name[: -len("Left")] + "Right"
    if name.endswith("Right"):
        return name[: -len("Right")] + "Left"
    return name


def side_pairs() -> list[tuple[str, str]]:
    """(Left, Right) twins, e.g. ('eyeBlinkLeft', 'eyeBlinkRight'): 18 pairs, not the direction pairs."""
    return [(n, mirror_name(n)) for n in ARKIT_NAMES if n.endswith("Left") and n not in _DIRECTION_PAIRS]
