"""GZS-Net's validation score during training: val/psnr, chunk-swapping synthesis of training images.

Rank 0 draws a fixed set of `validation_targets` images, scored every `validate_every` epochs
(zsdist/train/validation.py), exactly as the evaluation draws its held-out targets (synthesis.py):
each attribute's latent chunk from a training image with the target's value of that attribute (and,
where one exists, no other value in common), decoded and compared with the real image. The score is
the mean of per-image PSNRs in dB (higher is better). The targets are training combinations, never
held-out ones (those are the evaluation's test set), sampled once from held_out.seed: every epoch, and
every trial of a search whatever its training seed, is scored on the same images. It reads the dataset
from cfg.data: on a cluster that path must be shared storage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from datagen.shards import read_spec
from datagen.spec.fonts import ATTRIBUTES
from zsdist.data.fonts import downscale_factor
from zsdist.eval.image_metrics import per_image_mse, psnr_from_mse
from zsdist.methods.gzsnet.model import GZSNet
from zsdist.methods.gzsnet.synthesis import encode, read_images, selected_rows, synthesise
from zsdist.methods.gzsnet.targets import choose_targets

if TYPE_CHECKING:
    from zsdist.methods.gzsnet.config import GZSNetTrainConfig

BATCH_SIZE = 64  # images per forward pass: bounds the activations of the 128 px paper model


class SynthesisValidation:
    def __init__(self, cfg: GZSNetTrainConfig) -> None:
        description = read_spec(cfg.data, dataset="fonts")
        attrs, index, held = selected_rows(cfg.data, cfg.selection, cfg.held_out, description)
        train_rows = np.flatnonzero(~held)
        targets, sources = choose_targets(attrs, train_rows, train_rows, cfg.validation_targets,
                                          np.random.default_rng(cfg.held_out.seed))
        # Global indices of the targets (T,) and of each one's chunk sources (T, A).
        self.targets, self.sources = index[targets], index[train_rows[sources]]
        wanted = np.unique(np.concatenate([self.targets, self.sources.ravel()]))
        factor = downscale_factor(description["spec"]["resolution"], cfg.model.image_size)
        images = read_images(cfg.data, cfg.selection, wanted, factor)
        self.truth = images[np.searchsorted(wanted, self.targets)]
        used, source_of = np.unique(self.sources, return_inverse=True)  # each source image is encoded once
        self.source_images = images[np.searchsorted(wanted, used)]
        self.source_of = source_of.reshape(self.sources.shape)  # (T, A) positions in source_images

    def __call__(self, model: GZSNet) -> dict[str, float]:
        # Train mode, as the evaluation: InstanceNorm normalises each image by its own statistics.
        # It also moves the norms' running statistics (checkpointed, never used): they are put back.
        was_training, saved = model.training, [b.clone() for b in model.buffers()]
        model.train()
        latents = encode(model, self.source_images, BATCH_SIZE)
        drawn = synthesise(model, {a: latents[self.source_of[:, k]] for k, a in enumerate(ATTRIBUTES)}, BATCH_SIZE)
        with torch.no_grad():
            for buffer, value in zip(model.buffers(), saved):
                buffer.copy_(value)
        model.train(was_training)
        return {"val/psnr": psnr_from_mse(per_image_mse(drawn, self.truth)).mean().item()}
