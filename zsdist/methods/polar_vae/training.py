"""The polar VAE on each Ray Train worker: its model and optimiser, and one epoch over its shard.

The loop around it (resume, reports, checkpoints, validation) is zsdist/train/loop.py; the driver
side is `plan` in zsdist/methods/polar_vae/__init__.py.

Batch semantics: `batch_size` is per worker. With N workers one optimiser step averages the
gradients of N * batch_size images, so an epoch has 1/N of the steps of a 1-worker run.
"""

from __future__ import annotations

import time
from typing import Any

import ray.train
import ray.train.torch
import torch

from zsdist.methods.polar_vae.config import PolarTrainConfig
from zsdist.methods.polar_vae.model import PolarVAE
from zsdist.train import precision
from zsdist.train.checkpoint import unwrap
from zsdist.train.epochs import EpochTotals
from zsdist.train.loop import MethodWorker, WorkerContext
from zsdist.train.schedules import linear_warmup

TERMS = ("recon", "kl", "decorrelation", "loss")


class PolarWorker(MethodWorker):
    def __init__(self, cfg: PolarTrainConfig, context: WorkerContext) -> None:
        super().__init__(cfg, context)
        self.model = PolarVAE(cfg.model, context.payload["resolution"]).to(context.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])

    def prepare(self) -> None:
        self.model = ray.train.torch.prepare_model(self.model)
        self.shard = ray.train.get_dataset_shard("train")

    def state_dict(self) -> dict[str, Any]:
        return {"model": unwrap(self.model).state_dict(), "optimizer": self.optimizer.state_dict()}

    def validation_model(self) -> PolarVAE:
        return unwrap(self.model)

    def train_epoch(self, epoch: int) -> dict[str, float]:
        cfg, device = self.cfg, self.context.device
        generator = torch.Generator(device=device).manual_seed(cfg.seed * 10_000 + epoch * 100 + self.context.rank)
        self.model.train()
        beta = linear_warmup(epoch, factor=cfg.beta, end_epoch=cfg.beta_warmup_epochs)
        totals = EpochTotals(TERMS, device)
        start = time.perf_counter()
        batches = self.shard.iter_torch_batches(
            batch_size=cfg.batch_size, dtypes={"image": torch.float32}, device=device,
            local_shuffle_buffer_size=4 * cfg.batch_size, local_shuffle_seed=cfg.seed * 1000 + epoch,
        )
        for step, batch in enumerate(batches):
            if cfg.max_steps_per_epoch and step >= cfg.max_steps_per_epoch:
                break
            x = batch["image"]  # (B, 1, R, R)
            with precision.autocast(cfg.mixed_precision, device):
                logits, mu, logvar = self.model(x, generator=generator)
            terms = PolarVAE.forward_loss(x, logits, mu, logvar, decorrelation=cfg.decorrelation)
            terms["decorrelation"] = terms.get("decorrelation", torch.zeros((), device=device))
            terms["loss"] = terms["recon"] + beta * terms["kl"] + cfg.decorrelation_weight * terms["decorrelation"]
            self.optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            self.optimizer.step()
            n = x.shape[0]
            totals.add({name: terms[name].detach() * n for name in TERMS}, n)  # float32 products, then float64
        means, count = totals.means()
        seconds = time.perf_counter() - start
        return {"epoch": epoch, **means, "beta": beta, "images": count, "images_per_s": count / seconds}
