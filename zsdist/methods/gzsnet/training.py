"""GZS-Net (and, beside it, the AE+DS baseline) on each Ray Train worker: models, optimisers, one epoch.

    zsdist train gzsnet --data DIR --config configs/gzsnet_cpu.yaml
    zsdist train gzsnet --data DIR --model.image_size 32 --epochs 2     # flags override the file

Every epoch each worker reads *its own* shards: rank r of N takes every N-th shard of a seeded
per-epoch shuffle and forms its groups inside each shard with Ray Data (zsdist/methods/gzsnet/groups.py),
so no worker ever needs a global index. The loop around the epoch is zsdist/train/loop.py.

Batch semantics: `groups_per_batch` is per worker; one optimiser step averages the gradients of
N * groups_per_batch groups. Workers may hold a few groups more or fewer (held-out rows differ per
shard), so every step all workers agree that each still has a batch: an epoch ends at the shortest.

The AE+DS baseline (zsdist/methods/gzsnet/ae_ds.py) trains on exactly the same batches with its own
optimiser, so the evaluation compares the two on the same data, steps and held-out split.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import ray.data
import ray.train.torch
import torch

from zsdist.methods.gzsnet.ae_ds import AEDS
from zsdist.methods.gzsnet.config import GZSNetTrainConfig
from zsdist.methods.gzsnet.groups import group_dataset
from zsdist.methods.gzsnet.model import GZSNet
from zsdist.methods.gzsnet.objective import GZSNetObjective
from zsdist.train import precision
from zsdist.train.checkpoint import unwrap
from zsdist.train.epochs import EpochTotals, lockstep
from zsdist.train.loop import MethodWorker, WorkerContext

BASELINE_TERMS = ("ae_ds/total", "ae_ds/reconstruction", "ae_ds/classification", "ae_ds/accuracy")


def worker_batches(cfg: Any, context: WorkerContext, epoch: int) -> Iterator[dict[str, torch.Tensor]]:
    """This worker's batches of groups for one epoch: its own shards (groups.py), `groups_per_batch` groups
    each, mixed through a seeded shuffle buffer. cfg: a config with GZS-Net's data fields (data, selection,
    held_out, seed, model.image_size, groups_per_batch, shuffle_buffer_groups), e.g. the VAE baselines'."""
    groups = group_dataset(cfg.data, selection=cfg.selection, held_out=cfg.held_out, seed=cfg.seed, epoch=epoch,
                           image_size=cfg.model.image_size, worker=(context.rank, context.world_size))
    return iter(groups.iter_torch_batches(
        batch_size=cfg.groups_per_batch, device=context.device,
        dtypes={"images": torch.float32, "labels": torch.int64, "index": torch.int64},
        local_shuffle_buffer_size=cfg.shuffle_buffer_groups or None,
        local_shuffle_seed=cfg.seed * 1000 + epoch if cfg.shuffle_buffer_groups else None,
    ))


class GZSNetWorker(MethodWorker):
    def __init__(self, cfg: GZSNetTrainConfig, context: WorkerContext) -> None:
        super().__init__(cfg, context)
        # This worker drives its own Ray Data pipeline: keep its group order the same on every run.
        data_context = ray.data.DataContext.get_current()
        data_context.execution_options.preserve_order = True
        data_context.enable_progress_bars = False  # one bar per worker and epoch would flood the driver's log
        device = context.device
        self.model = GZSNet(cfg.model).to(device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr, betas=(0.9, 0.999))
        self.baseline = AEDS(cfg.model, tuple(context.payload["num_values"])).to(device) if cfg.ae_ds_baseline else None
        self.baseline_optimizer = (torch.optim.Adam(self.baseline.parameters(), lr=cfg.lr)
                                   if self.baseline is not None else None)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.baseline is not None:
            self.baseline.load_state_dict(state["baseline"])
            self.baseline_optimizer.load_state_dict(state["baseline_optimizer"])

    def prepare(self) -> None:
        self.objective = ray.train.torch.prepare_model(GZSNetObjective(self.model, self.cfg.loss))
        if self.baseline is not None:
            self.baseline = ray.train.torch.prepare_model(self.baseline)

    def state_dict(self) -> dict[str, Any]:
        state = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}
        if self.baseline is not None:
            state |= {"baseline": unwrap(self.baseline).state_dict(),
                      "baseline_optimizer": self.baseline_optimizer.state_dict()}
        return state

    def validation_model(self) -> GZSNet:
        return self.model

    def train_epoch(self, epoch: int) -> dict[str, float]:
        cfg, device, rank = self.cfg, self.context.device, self.context.rank
        generator = torch.Generator(device=device).manual_seed(cfg.seed * 10_000 + epoch * 100 + rank)
        self.objective.train()
        weights = cfg.loss
        names = [n for n in ("reconstruction", "swap", "cycle", "neighbour_decode") if getattr(weights, n) > 0]
        names = ["total", *names, *(f"swap/{a}" for a in cfg.model.attributes if weights.swap > 0)]
        if self.baseline is not None:
            self.baseline.train()
            names += BASELINE_TERMS
        totals = EpochTotals(names, device)  # over this worker's groups
        batches = worker_batches(cfg, self.context, epoch)
        autocast = precision.autocast(cfg.mixed_precision, device)
        start = time.perf_counter()
        for batch in lockstep(batches, device, cfg.max_steps_per_epoch):
            images, labels = batch["images"], batch["labels"]  # (G, 1 + A, 3, H, W), (G, 1 + A, A)
            with autocast:
                terms = self.objective(images, generator=generator, labels=labels)
            self.optimizer.zero_grad(set_to_none=True)
            terms["total"].backward()
            self.optimizer.step()
            if self.baseline is not None:
                terms |= self.baseline_step(images, labels, autocast)
            n = images.shape[0]
            totals.add({k: terms[k].detach().double() * n for k in names}, n)
        means, count = totals.means()
        seconds = time.perf_counter() - start
        images = count * (1 + len(cfg.model.attributes))
        memory = {"gpu_max_memory_gib": torch.cuda.max_memory_allocated(device) / 2**30} if device.type == "cuda" else {}
        return {**memory, "epoch": epoch, **means, "groups": count, "images": images,
                "images_per_s": images / seconds, "epoch_s": seconds}

    def baseline_step(self, images: torch.Tensor, labels: torch.Tensor, autocast: Any) -> dict[str, torch.Tensor]:
        """One AE+DS step on the same batch, on every image of its groups; its terms as ae_ds/<name>."""
        with autocast:
            terms = self.baseline(images.flatten(0, 1), labels.flatten(0, 1), self.cfg.ae_ds_classifier_weight)
        self.baseline_optimizer.zero_grad(set_to_none=True)
        terms["total"].backward()
        self.baseline_optimizer.step()
        return {f"ae_ds/{k}": v for k, v in terms.items()}
