"""The polar VAE's validation score during training: val/hole_mse, its reconstruction error in the hole.

Searches (zsdist tune) stop and rank trials by a validation metric reported every epoch, so rank 0
scores the model on the dataset's hole images (split "hole": withheld from punctured training; never
a test or transect row) after every `validate_every` epochs. The score is the mean per-pixel squared
error of their reconstructions, decoded from the encoder mean without noise as the evaluation does
(lower is better). With train_on=full the hole rows are training rows, so there it measures fit, not
zero-shot filling. Epochs in between carry the last score, so every report has the metric.
It reads the dataset from cfg.data: on a cluster that path must be shared storage.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from datagen.errors import DataError
from zsdist.data.polar import read_split_images
from zsdist.eval.polar_metrics import pixel_mse
from zsdist.eval.polar_vae_eval import reconstruct
from zsdist.models.polar_vae import PolarVAE

if TYPE_CHECKING:
    from zsdist.train.polar_vae import PolarTrainConfig


class EpochValidation:
    def __init__(self, cfg: PolarTrainConfig) -> None:
        self.every, self.last_epoch = cfg.validate_every, cfg.epochs - 1
        self.images = read_split_images(cfg.data, "hole")
        if not len(self.images):
            raise DataError(f"{cfg.data} has no hole rows to score val/hole_mse on: train with validate_every 0 "
                            "or generate the data with a larger --hole_radius")
        self.last: dict[str, float] = {}

    def __call__(self, model: PolarVAE, epoch: int) -> dict[str, float]:
        """The val/ metrics to report with `epoch`: a new score when due, else the last one."""
        # A run resumed between two validations has nothing to carry yet: it scores at once.
        if not self.last or (epoch + 1) % self.every == 0 or epoch == self.last_epoch:
            # reconstruct() takes CPU arrays; a GPU model is copied there (the polar VAE is small).
            on_cpu = model if next(model.parameters()).device.type == "cpu" else copy.deepcopy(model).cpu()
            was_training = model.training
            recons, _ = reconstruct(on_cpu, self.images)  # eval mode: batch norm uses its running statistics
            model.train(was_training)
            self.last = {"val/hole_mse": float(pixel_mse(self.images, recons).mean())}
        return dict(self.last)
