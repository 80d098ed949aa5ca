"""The ZAP predictor module (Shomron et al., ECCV 2020), as the method describes (see docs/tracer.md).

For a conv layer with C output channels the predictor looks only at the
computed-first outputs (the set I_s of a periodic pattern P), runs two
depthwise 3x3 convs (each followed by BatchNorm, the first also by ReLU) and
reads a score S at the predicted positions I_t.  An output at I_t is computed
exactly when S > threshold and skipped (written as 0) otherwise; I_s is always
computed.  24*C parameters per layer, no pointwise conv, no sigmoid.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..patterns import computed_first_mask, pattern_matrix


class ZAP(nn.Module):
    """One layer's zero-activation predictor."""

    def __init__(self, channels: int, pattern: str | Sequence[Sequence[int]] | np.ndarray = "checkerboard",
                 pattern_name: str | None = None):
        super().__init__()
        self.channels = int(channels)
        self.pattern = pattern_matrix(pattern)  # validated 0/1 period matrix (uint8), not a parameter
        self.pattern_name = pattern_name or (pattern if isinstance(pattern, str) else "custom")
        c = self.channels
        self.dw1 = nn.Conv2d(c, c, 3, 1, 1, groups=c, bias=True)
        self.bn1 = nn.BatchNorm2d(c)
        self.dw2 = nn.Conv2d(c, c, 3, 1, 1, groups=c, bias=True)
        self.bn2 = nn.BatchNorm2d(c)
        self._is_cache: dict[tuple[int, int, str], torch.Tensor] = {}

    def computed_first(self, height: int, width: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """Boolean (H, W) map of I_s, anchored at (0, 0) (shared with the simulator via zapsim.patterns)."""
        key = (height, width, str(device))
        if key not in self._is_cache:
            self._is_cache[key] = torch.from_numpy(computed_first_mask(self.pattern, height, width)).to(device)
        return self._is_cache[key]

    def score(self, ofm: torch.Tensor) -> torch.Tensor:
        """The raw score S (N, C, H, W) from the computed-first values of the post-ReLU ``ofm``."""
        p = self.computed_first(ofm.shape[2], ofm.shape[3], ofm.device)
        z0 = ofm * p.to(ofm.dtype)
        return self.bn2(self.dw2(F.relu(self.bn1(self.dw1(z0)))))

    def prediction(self, ofm: torch.Tensor) -> torch.Tensor:
        """clamp(S * (1 - P) + P, 0, 1): the training-time prediction (1 on I_s)."""
        p = self.computed_first(ofm.shape[2], ofm.shape[3], ofm.device).to(ofm.dtype)
        return torch.clamp(self.score(ofm) * (1 - p) + p, 0.0, 1.0)

    def loss(self, ofm: torch.Tensor) -> torch.Tensor:
        """The method's label-free loss: MSE over all N*C*H*W elements against T = 1[ofm > 0] (1 on I_s)."""
        p = self.computed_first(ofm.shape[2], ofm.shape[3], ofm.device)
        target = ((ofm > 0) | p).to(ofm.dtype)
        return F.mse_loss(self.prediction(ofm), target)

    def computed_mask(self, ofm: torch.Tensor, threshold: float, score: torch.Tensor | None = None) -> torch.Tensor:
        """Boolean M (N, C, H, W): I_s, plus I_t where S > threshold."""
        s = self.score(ofm) if score is None else score
        p = self.computed_first(ofm.shape[2], ofm.shape[3], ofm.device)
        return p | (s > threshold)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, pattern={self.pattern_name}"

