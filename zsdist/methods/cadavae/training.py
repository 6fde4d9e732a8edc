"""CADA-VAE on each Ray Train worker: its model and optimiser, its rows in memory, one epoch.

    zsdist train cadavae --data DIR                     # the paper's recipe (100 epochs, batch 50)

Each worker reads only its shard of the training rows {feature, label} (the Ray Dataset `plan` makes
in zsdist/methods/cadavae/__init__.py) and looks each row's class attributes up in the class table
sent in the payload. The loop around the epoch is zsdist/train/loop.py.

Speed. The shard is read once into memory (feature datasets are small: CUB's trainval is 58 MB) and
each epoch visits it in a fresh seeded order, as the official code's random batches do; re-streaming
it through Ray Data every epoch cost more than the epoch's compute. Adam runs fused (`make_optimizer`:
one kernel over all 7.8M parameters instead of a loop over tensors, 3x faster on a CPU core).
`mixed_precision="bf16"` runs the layers under bf16 autocast (weights, optimiser and every loss term
stay float32): on a CPU with AVX512-BF16 or AMX the matrix products run ~4x faster and the epoch ~2x
(benchmarks/RESULTS.md has the figures and the check that S/U/H do not move beyond seed noise).

Validation (`validation="pseudo_unseen"`): a seeded fraction of the seen classes is held out of
training as pseudo-unseen classes, and a seeded 20% of the remaining classes' trainval images as
validation-seen images; the model trains on the rest only. `plan` makes that split
(`zsdist.data.zsl_roles.roles`) and `zsdist eval cadavae --split validation` scores on it
without reading the test splits, so hyperparameters can be chosen without test data.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import ray.train
import ray.train.torch
import torch
import torch.distributed as dist
from torch import nn

from zsdist.base.errors import ConfigError
from zsdist.methods.cadavae.config import CADAVAETrainConfig
from zsdist.methods.cadavae.model import CADAVAE
from zsdist.methods.cadavae.objective import CADAVAEObjective, loss_weights
from zsdist.train import precision
from zsdist.train.epochs import EpochTotals
from zsdist.train.loop import MethodWorker, WorkerContext

TERMS = ("reconstruction", "cross_reconstruction", "kl", "distribution_alignment")


class CADAVAEWorker(MethodWorker):
    def __init__(self, cfg: CADAVAETrainConfig, context: WorkerContext) -> None:
        super().__init__(cfg, context)
        self.attributes = torch.tensor(context.payload["attributes"], dtype=torch.float32,
                                       device=context.device)  # (C, d)
        self.model = CADAVAE(cfg.model).to(context.device)
        self.optimizer = make_optimizer(self.model, cfg)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])

    def prepare(self) -> None:
        device = self.context.device
        self.objective = ray.train.torch.prepare_model(CADAVAEObjective(self.model, self.cfg.reduction))
        self.features, self.labels = load_shard(ray.train.get_dataset_shard("train"), device)
        # Every rank runs the same number of steps (each backward is a collective): the smallest shard's.
        steps = torch.tensor([-(-len(self.labels) // self.cfg.batch_size)], device=device)
        dist.all_reduce(steps, op=dist.ReduceOp.MIN)
        self.steps = int(steps.item())

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}

    def validation_model(self) -> CADAVAE:
        return self.model

    def train_epoch(self, epoch: int) -> dict[str, float]:
        generator = epoch_generator(self.cfg.seed, epoch, self.context.rank)
        batches = epoch_batches(self.features, self.labels, self.cfg.batch_size, self.steps, generator)
        return train_one_epoch(self.objective, self.optimizer, batches, self.attributes, self.cfg, epoch,
                               self.context.device, generator)


def train_one_epoch(
    objective: nn.Module, optimizer: torch.optim.Optimizer, batches: Iterator[tuple[torch.Tensor, torch.Tensor]],
    attributes: torch.Tensor, cfg: CADAVAETrainConfig, epoch: int, device: torch.device,
    generator: torch.Generator,
) -> dict[str, float]:
    """One epoch over `batches`; every rank must call it (the totals' all-reduce)."""
    objective.train()
    weights = loss_weights(epoch, cfg.warmup)
    names = ("total", *TERMS)
    totals = EpochTotals(names, device)  # per-sample sums over this worker's rows
    autocast = precision.autocast(cfg.mixed_precision, device)
    start = time.perf_counter()
    for x, label in batches:
        a = attributes[label]  # (B, d): x is (B, D)
        with autocast:
            terms = objective(x, a, weights, generator=generator)
        optimizer.zero_grad(set_to_none=True)
        terms["total"].backward()
        optimizer.step()
        n = x.shape[0]
        scale = 1.0 if cfg.reduction == "sum" else float(n)  # back to sums over the batch
        totals.add({k: terms[k].detach().double() * scale for k in names}, n)
    means, count = totals.means()
    seconds = time.perf_counter() - start
    return {"epoch": epoch, "loss": means["total"], **{name: means[name] for name in TERMS}, **weights,
            "samples": count, "samples_per_s": count / seconds}


def make_optimizer(model: nn.Module, cfg: CADAVAETrainConfig) -> torch.optim.Optimizer:
    """Adam with amsgrad, as the paper; fused: one kernel over every parameter (3x faster on a CPU core)."""
    return torch.optim.Adam(model.parameters(), lr=cfg.lr, amsgrad=True, fused=True)


def epoch_generator(seed: int, epoch: int, rank: int) -> torch.Generator:
    """The epoch's draws on one rank: its batch order and its latents' noise.

    A CPU generator draws the same latents on any device (see CADAVAE.reparameterize).
    """
    return torch.Generator().manual_seed(seed * 10_000 + epoch * 100 + rank)


def load_shard(shard: Any, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """This worker's rows, read once: features (n, D) float32 and labels (n,) int64 on `device`."""
    parts = list(shard.iter_torch_batches(batch_size=8192, dtypes={"feature": torch.float32, "label": torch.int64}))
    if not parts:
        raise ConfigError("a worker got no training rows: use fewer workers than training rows")
    return (torch.cat([p["feature"] for p in parts]).to(device), torch.cat([p["label"] for p in parts]).to(device))


def epoch_batches(features: torch.Tensor, labels: torch.Tensor, batch_size: int, steps: int,
                  generator: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """`steps` batches (features (B, D), labels (B,)) of the rows in a fresh order drawn from `generator`.

    Each row is used at most once per epoch; the last batch may be smaller. When this rank holds more
    rows than `steps` batches take (shards differ by a few rows), the rest sit this epoch out.
    """
    order = torch.randperm(len(labels), generator=generator).to(labels.device)
    for chunk in order.split(batch_size)[:steps]:
        yield features[chunk], labels[chunk]
