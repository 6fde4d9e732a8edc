"""The polar VAE's validation score during training: val/hole_mse, its reconstruction error in the hole.

Rank 0 scores the model on the dataset's hole images (split "hole": withheld from punctured
training; never a test or transect row) every `validate_every` epochs (zsdist/train/validation.py).
The score is the mean per-pixel squared error of their reconstructions, decoded from the encoder mean
without noise as the evaluation does (lower is better). With train_on=full the hole rows are training
rows, so there it measures fit, not zero-shot filling. It reads the dataset from cfg.data: on a cluster that path must be shared storage.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from zsdist.base.errors import DataError
from zsdist.data.polar import read_split_images
from zsdist.methods.polar_vae.evaluation import reconstruct
from zsdist.methods.polar_vae.metrics import pixel_mse
from zsdist.methods.polar_vae.model import PolarVAE

if TYPE_CHECKING:
    from zsdist.methods.polar_vae.config import PolarTrainConfig


class HoleValidation:
    def __init__(self, cfg: PolarTrainConfig) -> None:
        self.images = read_split_images(cfg.data, "hole")
        if not len(self.images):
            raise DataError(f"{cfg.data} has no hole rows to score val/hole_mse on: train with validate_every 0 "
                            "or generate the data with a larger --hole_radius")

    def __call__(self, model: PolarVAE) -> dict[str, float]:
        # reconstruct() takes CPU arrays; a GPU model is copied there (the polar VAE is small).
        on_cpu = model if next(model.parameters()).device.type == "cpu" else copy.deepcopy(model).cpu()
        was_training = model.training
        recons, _ = reconstruct(on_cpu, self.images)  # eval mode: batch norm uses its running statistics
        model.train(was_training)
        return {"val/hole_mse": float(pixel_mse(self.images, recons).mean())}
