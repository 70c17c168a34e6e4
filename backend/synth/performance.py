"""A seeded, scripted talking-head performance: speech-like mouth, blinks, brows, gaze, head motion.

Everything is a smooth function of time drawn from one seed, so the same seed always gives
the same performance. Expression weights are in [0, 1]; head angles stay within
`MAX_YAW`, `MAX_PITCH`, `MAX_ROLL` by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_YAW = np.radians(30.0)
MAX_PITCH = np.radians(15.0)
MAX_ROLL = np.radians(6.0)

# Mouth shapes a syllable may take: code -> weight relative to the syllable's strength.
_VISEMES = (
    {"jawOpen": 1.0},
    {"jawOpen": 0.6, "mouthFunnel": 0.8},
    {"jawOpen": 0.25, "mouthPucker": 0.9},
    {"jawOpen": 0.4, "mouthSmileLeft": 0.6, "mouthSmileRight": 0.6, "mouthStretchLeft": 0.2,
     "mouthStretchRight": 0.2},
    {"jawOpen": 0.2, "mouthClose": 0.2, "mouthPressLeft": 0.7, "mouthPressRight": 0.7},
    {"jawOpen": 0.7, "mouthLowerDownLeft": 0.4, "mouthLowerDownRight": 0.4, "mouthUpperUpLeft": 0.3,
     "mouthUpperUpRight": 0.3},
)
_BROW_MOVES = (
    {"browInnerUp": 1.0},
    {"browInnerUp": 0.5, "browOuterUpLeft": 0.8, "browOuterUpRight": 0.8},
    {"browDownLeft": 0.8, "browDownRight": 0.8},
    {"browOuterUpLeft": 0.9},
    {"browOuterUpRight": 0.9},
)


@dataclass(frozen=True)
class Performance:
    expression: np.ndarray  # [F, E] weights in [0, 1], columns in the head's expression order
    head_angles: np.ndarray  # [F, 3] yaw, pitch, roll in radians about model +Y, +X, +Z


def script_performance(expression_names: list[str], frames: int, fps: float, seed: int) -> Performance:
    """The performance for `frames` frames at `fps`; codes the head lacks are left out."""
    if frames <= 0 or fps <= 0:
        raise ValueError(f"frames and fps must be positive, got {frames} and {fps}")
    rng = np.random.default_rng(seed)
    time = np.arange(frames) / fps
    curves: dict[str, np.ndarray] = {}
    for part in (_speech, _blinks, _brows, _gaze, _mood):
        for name, curve in part(rng, time).items():
            curves[name] = curves.get(name, 0.0) + curve
    expression = np.zeros((frames, len(expression_names)), np.float32)
    for column, name in enumerate(expression_names):
        if name in curves:
            expression[:, column] = np.clip(curves[name], 0.0, 1.0)
    head_angles = np.stack([_wander(rng, time, limit) for limit in (MAX_YAW, MAX_PITCH, MAX_ROLL)], -1)
    return Performance(expression, head_angles.astype(np.float32))


def _bumps(time: np.ndarray, starts: np.ndarray, durations: np.ndarray, heights: np.ndarray) -> np.ndarray:
    """Sum of sin^2 bumps, bump k rising from 0 at starts[k] to heights[k] and back over durations[k]."""
    phase = (time[:, None] - starts[None]) / durations[None]
    inside = (phase > 0) & (phase < 1)
    return np.sum(np.where(inside, np.sin(np.pi * phase) ** 2 * heights[None], 0.0), axis=1)


def _event_starts(rng, time, min_gap: float, max_gap: float, first_max: float) -> np.ndarray:
    """Random event times from 0 to the clip's end, gaps uniform in [min_gap, max_gap]."""
    starts = [rng.uniform(0.0, first_max)]
    end = time[-1] + 1.0
    while starts[-1] < end:
        starts.append(starts[-1] + rng.uniform(min_gap, max_gap))
    return np.asarray(starts)


def _mix(time, starts, durations, strengths, shapes, choices) -> dict[str, np.ndarray]:
    """Curves for events k that play shape choices[k] at strengths[k]."""
    curves = {}
    for index, shape in enumerate(shapes):
        chosen = choices == index
        for name, weight in shape.items():
            curve = _bumps(time, starts[chosen], durations[chosen], weight * strengths[chosen])
            curves[name] = curves.get(name, 0.0) + curve
    return curves


def _speech(rng, time) -> dict[str, np.ndarray]:
    """Syllables at 3-6 Hz grouped in phrases with pauses; each syllable picks a mouth shape."""
    syllables: list[float] = []
    phrase_start = rng.uniform(0.0, 0.3)
    while phrase_start < time[-1] + 1.0:
        rate = rng.uniform(3.0, 6.0)
        count = rng.integers(3, 12)
        syllables.extend(phrase_start + np.cumsum(rng.uniform(0.8, 1.25, count) / rate))
        phrase_start = syllables[-1] + rng.uniform(0.3, 0.8)
    starts = np.asarray(syllables)
    durations = np.diff(starts, append=starts[-1] + 0.2) * 1.3  # neighbours overlap a little
    strengths = rng.uniform(0.3, 0.9, len(starts))
    choices = rng.integers(0, len(_VISEMES), len(starts))
    return _mix(time, starts, durations, strengths, _VISEMES, choices)


def _blinks(rng, time) -> dict[str, np.ndarray]:
    """Both eyes close for ~150 ms every 2-5 s."""
    starts = _event_starts(rng, time, 2.0, 5.0, first_max=2.0)
    closed = np.clip(1.4 * _bumps(time, starts, np.full(len(starts), 0.16), np.ones(len(starts))), 0, 1)
    return {"eyeBlinkLeft": closed, "eyeBlinkRight": closed}


def _brows(rng, time) -> dict[str, np.ndarray]:
    starts = _event_starts(rng, time, 1.0, 3.0, first_max=1.0)
    durations = rng.uniform(0.5, 1.5, len(starts))
    strengths = rng.uniform(0.3, 0.9, len(starts))
    choices = rng.integers(0, len(_BROW_MOVES), len(starts))
    return _mix(time, starts, durations, strengths, _BROW_MOVES, choices)


def _gaze(rng, time) -> dict[str, np.ndarray]:
    """Fixations held 0.4-1.5 s with quick smooth saccades between them."""
    starts = _event_starts(rng, time, 0.4, 1.5, first_max=0.5)
    targets = rng.uniform(-0.5, 0.5, (len(starts) + 1, 2))
    targets[0] = 0.0
    index = np.searchsorted(starts, time)  # fixation in progress at each frame
    previous_start = np.concatenate([[-1.0], starts])[index]
    blend = np.clip((time - previous_start) / 0.06, 0.0, 1.0)  # 60 ms saccade
    blend = blend * blend * (3 - 2 * blend)
    gaze = targets[np.maximum(index - 1, 0)] * (1 - blend)[:, None] + targets[index] * blend[:, None]
    towards_left, up = gaze[:, 0], gaze[:, 1]  # subject's left; up
    left, right = np.maximum(towards_left, 0), np.maximum(-towards_left, 0)
    return {
        "eyeLookOutLeft": left, "eyeLookInRight": left, "eyeLookInLeft": right, "eyeLookOutRight": right,
        "eyeLookUpLeft": np.maximum(up, 0), "eyeLookUpRight": np.maximum(up, 0),
        "eyeLookDownLeft": np.maximum(-up, 0), "eyeLookDownRight": np.maximum(-up, 0),
    }


def _mood(rng, time) -> dict[str, np.ndarray]:
    """A slow, slightly asymmetric smile under the speech."""
    smile = 0.15 + 0.15 * np.sin(2 * np.pi * rng.uniform(0.05, 0.15) * time + rng.uniform(0, 2 * np.pi))
    return {"mouthSmileLeft": smile, "mouthSmileRight": smile * rng.uniform(0.7, 1.0)}


def _wander(rng, time, limit: float) -> np.ndarray:
    """Sum of three low-frequency sinusoids whose amplitudes add up to 95% of `limit`."""
    frequencies = rng.uniform(0.05, 0.4, 3)
    phases = rng.uniform(0, 2 * np.pi, 3)
    amplitudes = rng.uniform(0.3, 1.0, 3)
    amplitudes *= 0.95 * limit / amplitudes.sum()
    return np.sum(amplitudes * np.sin(2 * np.pi * frequencies * time[:, None] + phases), axis=1)
