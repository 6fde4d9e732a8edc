"""CADA-VAE's validation score during training: val/S, val/U, val/H on the pseudo-unseen roles.

Rank 0 scores the model on the validation roles (zsdist/data/zsl_roles.py: pseudo-unseen classes and
held-out trainval images, never a test row) every `validate_every` epochs (zsdist/train/validation.py),
with the GZSL classifier of `validation_classifier`. It reads the feature dataset from cfg.data: on a cluster that path must be shared storage.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from zsdist.data.features import read_feature_dataset
from zsdist.data.zsl_roles import roles
from zsdist.methods.cadavae.model import CADAVAE
from zsdist.methods.cadavae.scores import scores

if TYPE_CHECKING:
    from zsdist.methods.cadavae.config import CADAVAETrainConfig


class GZSLValidation:
    def __init__(self, cfg: CADAVAETrainConfig) -> None:
        self.classifier = cfg.validation_classifier
        self.data = read_feature_dataset(cfg.data)
        self.split = roles(self.data, cfg, validation=True)

    def __call__(self, model: CADAVAE) -> dict[str, float]:
        # Scoring runs on the CPU (its classifiers are small); a GPU model is copied there.
        on_cpu = model if next(model.parameters()).device.type == "cpu" else copy.deepcopy(model).cpu()
        was_training = model.training
        on_cpu.eval()
        found, _ = scores(on_cpu, self.data, self.split, self.classifier, shots=(), zsl=False)
        model.train(was_training)
        return {f"val/{name}": value for name, value in found.items()}
