"""CADA-VAE's validation score during training: val/S, val/U, val/H on the pseudo-unseen roles.

Searches (zsdist tune) stop and rank trials by a validation metric reported every epoch, so rank 0
scores the model on the validation roles (zsdist/data/zsl_roles.py: pseudo-unseen classes and held-out
trainval images, never a test row) after every `validate_every` epochs, with the GZSL classifier of
`validation_classifier`. Epochs in between carry the last scores, so every report has the metric.
It reads the feature dataset from cfg.data: on a cluster that path must be shared storage.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from zsdist.data.features import read_feature_dataset
from zsdist.data.zsl_roles import roles
from zsdist.eval.cadavae_scores import scores
from zsdist.models.cadavae import CADAVAE

if TYPE_CHECKING:
    from zsdist.train.cadavae import CADAVAETrainConfig


class EpochValidation:
    def __init__(self, cfg: CADAVAETrainConfig) -> None:
        self.every, self.last_epoch = cfg.validate_every, cfg.epochs - 1
        self.classifier = cfg.validation_classifier
        self.data = read_feature_dataset(cfg.data)
        self.split = roles(self.data, cfg, validation=True)
        self.last: dict[str, float] = {}

    def __call__(self, model: CADAVAE, epoch: int) -> dict[str, float]:
        """The val/ metrics to report with `epoch`: new scores when due, else the last ones."""
        if not self.last or (epoch + 1) % self.every == 0 or epoch == self.last_epoch:
            # Scoring runs on the CPU (its classifiers are small); a GPU model is copied there.
            on_cpu = model if next(model.parameters()).device.type == "cpu" else copy.deepcopy(model).cpu()
            was_training = model.training
            on_cpu.eval()
            found = scores(on_cpu, self.data, self.split, self.classifier, shots=(), zsl=False)
            model.train(was_training)
            self.last = {f"val/{name}": value for name, value in found.items()}
        return dict(self.last)
