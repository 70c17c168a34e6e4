"""Joint refinement of the tracked performance while the avatar fits.

Landmark tracking leaves a degree or two of head-pose error and some code error per frame; the
photometric loss sees it. `PerformanceRefinement` learns a small correction per training frame
(head rotation and translation, expression codes), with its own optimiser, small learning rates
and an L2 pull back to the track. Held-out frames keep their tracked values: they are never fitted.
Shapes: F tracked frames, E codes, V vertices.
"""

from __future__ import annotations

import dataclasses

import torch


@dataclasses.dataclass
class RefinementSettings:
    enabled: bool = True
    rotation_rate: float = 1e-3  # radians per Adam step
    translation_rate: float = 3e-4  # metres per Adam step
    expression_rate: float = 3e-3
    weight: float = 1.0  # L2 on the corrections, in radians, metres / 10 mm and code units


class PerformanceRefinement(torch.nn.Module):
    """Per-frame corrections on top of a track, posing the head model for one frame at a time."""

    def __init__(self, head, track, device: str):
        super().__init__()
        self.head = head
        as_tensor = lambda a: torch.as_tensor(a, dtype=torch.float32, device=device)
        self.register_buffer("identity", as_tensor(track.identity))
        self.register_buffer("expression", as_tensor(track.expression))  # [F, E]
        self.register_buffer("joint_rotations", as_tensor(track.joint_rotations))
        self.register_buffer("pose_rotation", as_tensor(track.pose_rotation))
        self.register_buffer("pose_translation", as_tensor(track.pose_translation))
        F, E = self.expression.shape
        self.rotation = torch.nn.Parameter(torch.zeros(F, 3, device=device))
        self.translation = torch.nn.Parameter(torch.zeros(F, 3, device=device))
        self.code = torch.nn.Parameter(torch.zeros(F, E, device=device))

    def optimizer(self, settings: RefinementSettings) -> torch.optim.Optimizer:
        return torch.optim.Adam([{"params": [self.rotation], "lr": settings.rotation_rate},
                                 {"params": [self.translation], "lr": settings.translation_rate},
                                 {"params": [self.code], "lr": settings.expression_rate}])

    def frame(self, f: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(posed vertices [V, 3], expression codes [E]) of frame f with its corrections."""
        expression = (self.expression[f] + self.code[f]).clamp(0, 1)
        out = self.head(identity=self.identity, expression=expression[None],
                        joint_rotations=self.joint_rotations[f:f + 1],
                        pose_rotation=self.pose_rotation[f:f + 1] + self.rotation[f:f + 1],
                        pose_translation=self.pose_translation[f:f + 1] + self.translation[f:f + 1])
        return out.vertices[0], expression

    def penalty(self, f: int, settings: RefinementSettings) -> torch.Tensor:
        return settings.weight * (self.rotation[f].square().sum() + (100 * self.translation[f]).square().sum()
                                  + self.code[f].square().mean())
