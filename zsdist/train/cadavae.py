"""Training CADA-VAE on each Ray Train worker: set-up, one epoch, report.

    zsdist train cadavae --data DIR                     # the paper's recipe (100 epochs, batch 50)

`train_loop_per_worker` reads only its shard of the training rows {feature, label} (a Ray Dataset the
pipeline zsdist/pipelines/cadavae.py builds) and looks each row's class attributes up in the class
table sent in the loop config. The driver that builds the TorchTrainer is train/driver.py.

Speed. The shard is read once into memory (feature datasets are small: CUB's trainval is 58 MB) and
each epoch visits it in a fresh seeded order, as the official code's random batches do; re-streaming
it through Ray Data every epoch cost more than the epoch's compute. Adam runs fused (`make_optimizer`:
one kernel over all 7.8M parameters instead of a loop over tensors, 3x faster on a CPU core).
`mixed_precision="bf16"` runs the layers under bf16 autocast (weights, optimiser and every loss term
stay float32): on a CPU with AVX512-BF16 or AMX the matrix products run ~4x faster and the epoch ~2x
(benchmarks/RESULTS.md has the figures and the check that S/U/H do not move beyond seed noise).

Validation (`validation="pseudo_unseen"`): a seeded fraction of the seen classes is held out of
training as pseudo-unseen classes, and a seeded 20% of the remaining classes' trainval images as
validation-seen images; the model trains on the rest only. The pipeline makes that split
(`zsdist.data.zsl_roles.roles`) and `zsdist eval cadavae --split validation` scores on it
without reading the test splits, so hyperparameters can be chosen without test data.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import ray.train
import ray.train.torch
import torch
import torch.distributed as dist
from torch import nn

from datagen.errors import ConfigError
from zsdist.config import from_dict, to_dict
from zsdist.eval.latent_classifier import ClassifierConfig
from zsdist.models.cadavae import CADAVAE, CADAVAEConfig
from zsdist.models.cadavae_losses import WarmupConfig, cadavae_losses, loss_weights
from zsdist.run_config import TrainingConfig
from zsdist.train.cadavae_validation import EpochValidation
from zsdist.train.checkpoint import load_state, to_ray_checkpoint
from zsdist.train.cpu_worker import configure_cpu_worker
from zsdist.train.epochs import report_epoch

TERMS = ("reconstruction", "cross_reconstruction", "kl", "distribution_alignment")


@dataclass(kw_only=True)
class CADAVAETrainConfig(TrainingConfig):
    data: str = ""  # the feature dataset directory (from `zsdist datagen xlsa17`)
    run_name: str = "cadavae"
    experiment: str = "cadavae"
    epochs: int = 100  # passes over the training rows
    lr: float = 1.5e-4  # Adam with amsgrad, as the paper
    validate_every: int = 0  # epochs between val/S, val/U, val/H (needs validation=pseudo_unseen; 0 = never)
    model: CADAVAEConfig = field(default_factory=CADAVAEConfig)  # feature/attribute dims: from the data
    warmup: WarmupConfig = field(default_factory=WarmupConfig)
    batch_size: int = 50  # per worker (see the module docstring)
    reduction: Literal["sum", "mean"] = "sum"  # loss over a batch: sum (the official code) or mean
    # pseudo_unseen: hold some seen classes out as pseudo-unseen, for val/ scores and searches (no test row)
    validation: Literal["none", "pseudo_unseen"] = "none"
    pseudo_unseen_fraction: float = 0.2  # of the seen classes, with validation="pseudo_unseen"
    checkpoint_every: int = 5  # epochs between checkpoints (and the last epoch): each costs ~0.5 s on CUB
    validation_classifier: ClassifierConfig = field(default_factory=ClassifierConfig)  # for val/ scores

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("batch_size", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1 (got {getattr(self, name)})")
        if self.validate_every < 0 or (self.validate_every and self.validation != "pseudo_unseen"):
            raise ConfigError(f"validate_every={self.validate_every}: set it to 0, or to N >= 1 with "
                              "--validation pseudo_unseen (the scores need held-out classes)")
        if not 0 < self.pseudo_unseen_fraction < 1:
            raise ConfigError(f"pseudo_unseen_fraction must lie strictly between 0 and 1 "
                              f"(got {self.pseudo_unseen_fraction})")


class CADAVAEObjective(nn.Module):
    """The model and its reduction as one module whose forward is cadavae_losses.

    Training wraps this (not CADAVAE) in DDP: DDP synchronises the gradients of whatever its forward
    ran, and the losses call both encoders and both decoders.
    """

    def __init__(self, model: CADAVAE, reduction: Literal["sum", "mean"]) -> None:
        super().__init__()
        self.model = model
        self.reduction = reduction

    def forward(self, x: torch.Tensor, a: torch.Tensor, weights: dict[str, float], *,
                generator: torch.Generator) -> dict[str, torch.Tensor]:
        return cadavae_losses(self.model, x, a, weights, generator=generator, reduction=self.reduction)


def train_loop_per_worker(loop_config: dict[str, Any]) -> None:
    cfg = from_dict(CADAVAETrainConfig, loop_config["train"])
    rank = ray.train.get_context().get_world_rank()
    device = ray.train.torch.get_device()
    if not cfg.use_gpu:
        configure_cpu_worker()  # one torch thread; a heap that keeps freed memory
    attributes = torch.tensor(loop_config["attributes"], dtype=torch.float32, device=device)  # (C, d)

    torch.manual_seed(cfg.seed)  # same init on every rank (DDP also broadcasts rank 0's weights)
    model = CADAVAE(cfg.model).to(device)
    optimizer = make_optimizer(model, cfg)
    start_epoch, history = 0, []
    if checkpoint := ray.train.get_checkpoint():
        with checkpoint.as_directory() as directory:
            state = load_state(directory, map_location=device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch, history = state["epoch"] + 1, state["history"]
    objective = ray.train.torch.prepare_model(CADAVAEObjective(model, cfg.reduction))
    features, labels = load_shard(ray.train.get_dataset_shard("train"), device)
    # Every rank runs the same number of steps (each backward is a collective): the smallest shard's.
    steps = torch.tensor([-(-len(labels) // cfg.batch_size)], device=device)
    dist.all_reduce(steps, op=dist.ReduceOp.MIN)
    validate = EpochValidation(cfg) if cfg.validate_every and rank == 0 else None

    def report(metrics: dict[str, float], epoch: int, *, log: bool = True) -> None:
        # A resumed run repeats the epochs after its last checkpoint, and MLflow gets them again.
        due = (epoch + 1) % cfg.checkpoint_every == 0 or epoch == cfg.epochs - 1
        report_epoch(metrics, epoch=epoch, mlflow_run_id=loop_config["mlflow_run_id"], checkpoint=due, log=log,
                     make_checkpoint=lambda: to_ray_checkpoint(model=model, optimizer=optimizer, epoch=epoch,
                                                               history=history, config=loop_config["train"]))

    if start_epoch >= cfg.epochs:  # already finished: hand back its final metrics (MLflow has them)
        report(history[-1], cfg.epochs - 1, log=False)
        return
    for epoch in range(start_epoch, cfg.epochs):
        generator = epoch_generator(cfg.seed, epoch, rank)
        batches = epoch_batches(features, labels, cfg.batch_size, int(steps.item()), generator)
        metrics = train_one_epoch(objective, optimizer, batches, attributes, cfg, epoch, device, generator)
        if validate:
            metrics |= validate(model, epoch)
        history.append(metrics)
        report(metrics, epoch)


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


def train_one_epoch(
    objective: nn.Module, optimizer: torch.optim.Optimizer, batches: Iterator[tuple[torch.Tensor, torch.Tensor]],
    attributes: torch.Tensor, cfg: CADAVAETrainConfig, epoch: int, device: torch.device,
    generator: torch.Generator,
) -> dict[str, float]:
    objective.train()
    weights = loss_weights(epoch, cfg.warmup)
    names = ("total", *TERMS)
    # Per-sample sums over this worker's rows of every term, then the row count.
    totals = torch.zeros(len(names) + 1, dtype=torch.float64, device=device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.mixed_precision == "bf16")
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
        totals += torch.stack([*(terms[k].detach().double() * scale for k in names),
                               torch.tensor(float(n), dtype=torch.float64, device=device)])
    dist.all_reduce(totals)  # global per-sample means over every worker's rows
    seconds = time.perf_counter() - start
    count = max(totals[-1].item(), 1.0)
    return {
        "epoch": epoch,
        "loss": totals[0].item() / count,
        **{name: totals[1 + i].item() / count for i, name in enumerate(TERMS)},
        **weights,
        "samples": count,
        "samples_per_s": count / seconds,
    }


def loop_config_for(cfg: CADAVAETrainConfig, *, attributes: list[list[float]], mlflow_run_id: str) -> dict[str, Any]:
    """What the driver sends to every worker: the resolved config and the (C, d) class attribute table."""
    return {"train": to_dict(cfg), "attributes": attributes, "mlflow_run_id": mlflow_run_id}
