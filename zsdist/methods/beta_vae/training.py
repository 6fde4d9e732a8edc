"""A VAE baseline (beta-VAE, beta-TCVAE) on each Ray Train worker: model, optimiser, one epoch.

    zsdist train beta-vae-es --data DIR --config configs/beta_vae_es_cpu.yaml
    zsdist train beta-tcvae-es --data DIR --config configs/beta_tcvae_es_cpu.yaml

The data are GZS-Net's, read the same way (zsdist/methods/gzsnet/groups.py: each worker groups its own
shards, held-out combinations and blank images dropped), and every group's 1 + A images are flattened
into single images: the VAE sees exactly the images GZS-Net trains on, in the same order, without the
group supervision. Images recur (a centre once per epoch, a partner of others about A times more), as
they do for GZS-Net. What the worker minimises comes from the config (`cfg.objective()`), so both
baselines share this worker. The loop around the epoch is zsdist/train/loop.py.
"""

from __future__ import annotations

import time
from typing import Any

import ray.data
import ray.train.torch
import torch

from zsdist.methods.beta_vae.config import BetaVAETrainConfig
from zsdist.methods.beta_vae.model import ConvVAE
from zsdist.methods.beta_vae.objective import VAEObjective
from zsdist.methods.gzsnet.training import worker_batches
from zsdist.train import precision
from zsdist.train.epochs import EpochTotals, lockstep
from zsdist.train.loop import MethodWorker, WorkerContext


class VAEWorker(MethodWorker):
    def __init__(self, cfg: BetaVAETrainConfig, context: WorkerContext) -> None:
        super().__init__(cfg, context)
        # This worker drives its own Ray Data pipeline: keep its group order the same on every run.
        data_context = ray.data.DataContext.get_current()
        data_context.execution_options.preserve_order = True
        data_context.enable_progress_bars = False
        self.model = ConvVAE(cfg.model).to(context.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.loss = cfg.objective()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])

    def prepare(self) -> None:
        self.objective = ray.train.torch.prepare_model(VAEObjective(self.model, self.loss))

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}

    def validation_model(self) -> ConvVAE:
        return self.model

    def train_epoch(self, epoch: int) -> dict[str, float]:
        cfg, device, rank = self.cfg, self.context.device, self.context.rank
        # The reparameterisation noise: seeded per (seed, epoch, rank), so a resumed epoch draws it again.
        generator = torch.Generator(device=device).manual_seed(cfg.seed * 10_000 + epoch * 100 + rank)
        self.objective.train()
        totals = EpochTotals(self.loss.terms, device)  # per image, over this worker's images
        batches = worker_batches(cfg, self.context, epoch)
        autocast = precision.autocast(cfg.mixed_precision, device)
        start = time.perf_counter()
        for batch in lockstep(batches, device, cfg.max_steps_per_epoch):
            images = batch["images"].flatten(0, 1)  # (G, 1 + A, 3, H, W) -> (G * (1 + A), 3, H, W)
            with autocast:
                terms = self.objective(images, generator=generator)
            self.optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            self.optimizer.step()
            n = images.shape[0]
            totals.add({k: terms[k].detach().double() * n for k in self.loss.terms}, n)
        means, count = totals.means()
        seconds = time.perf_counter() - start
        memory = {"gpu_max_memory_gib": torch.cuda.max_memory_allocated(device) / 2**30} if device.type == "cuda" else {}
        return {**memory, "epoch": epoch, **means, "images": count, "images_per_s": count / seconds,
                "epoch_s": seconds}
