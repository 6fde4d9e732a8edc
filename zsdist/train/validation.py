"""Validation at a cadence: score every N epochs (and at the last), carry the last scores in between.

Searches (zsdist tune) stop and rank trials by a validation metric, so every report must have it; a
method's score is often far costlier than an epoch, hence the cadence. Rank 0 alone scores.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn


class ValidationCadence:
    def __init__(self, score: Callable[[nn.Module], dict[str, float]], *, every: int, last_epoch: int) -> None:
        self.score, self.every, self.last_epoch = score, every, last_epoch
        self.last: dict[str, float] = {}

    def __call__(self, model: nn.Module, epoch: int) -> dict[str, float]:
        """The val/ metrics to report with `epoch`: new scores when due, else the last ones."""
        # A run resumed between two validations has nothing to carry yet: it scores at once.
        if not self.last or (epoch + 1) % self.every == 0 or epoch == self.last_epoch:
            self.last = self.score(model)
        return dict(self.last)
