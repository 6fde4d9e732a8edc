"""Training the polar VAE on each Ray Train worker: set-up, one epoch, report.

`train_loop_per_worker` gets only its shard of the Ray Dataset; the driver that builds the
TorchTrainer is zsdist/pipelines/polar.py (through train/driver.py).

Batch semantics: `batch_size` is per worker. With N workers one optimiser step averages the
gradients of N * batch_size images, so an epoch has 1/N of the steps of a 1-worker run.

Validation (`validate_every` N >= 1): every N epochs (and the last) rank 0 reports val/hole_mse, the
mean per-pixel squared error of the model's reconstructions of the dataset's hole images (lower is
better; zsdist/train/polar_validation.py); the epochs in between carry the last value, so a search
sees it in every report. 0 (the default) never computes it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

import ray.train
import ray.train.torch
import torch
import torch.distributed as dist

from datagen.errors import ConfigError
from zsdist.config import from_dict, to_dict
from zsdist.models.polar_vae import PolarVAE, PolarVAEConfig
from zsdist.run_config import TrainingConfig
from zsdist.train.checkpoint import load_state, to_ray_checkpoint, unwrap
from zsdist.train.cpu_worker import configure_cpu_worker
from zsdist.train.epochs import report_epoch
from zsdist.train.polar_validation import EpochValidation
from zsdist.train.schedules import linear_warmup


@dataclass(kw_only=True)
class PolarTrainConfig(TrainingConfig):
    data: str = ""  # the polar dataset directory (from `zsdist datagen polar`)
    run_name: str = "polar-vae"
    experiment: str = "polar-vae"
    validate_every: int = 0  # epochs between val/hole_mse scores (the hole's reconstruction error); 0 = never
    model: PolarVAEConfig = field(default_factory=PolarVAEConfig)
    train_on: Literal["punctured", "full"] = "punctured"  # experiment 1 / experiment 2
    batch_size: int = 32  # images per step on each worker
    beta: float = 1.0  # weight of the KL term once warmed up
    beta_warmup_epochs: int = 2  # beta rises linearly from 0 at epoch 0 to `beta` at this epoch
    # penalty on the latent means: abs (mean |mu_i mu_j|, the original) or cov
    decorrelation: Literal["none", "abs", "cov"] = "none"
    decorrelation_weight: float = 1e-3  # weight of the decorrelation penalty
    max_steps_per_epoch: int = 0  # 0 = the whole shard; small values for smoke tests and benchmarks

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1 (got {self.batch_size})")
        for name in ("beta", "decorrelation_weight"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0 (got {getattr(self, name)})")
        if self.beta_warmup_epochs < 0 or self.max_steps_per_epoch < 0:
            raise ConfigError("beta_warmup_epochs and max_steps_per_epoch must be >= 0")
        if self.validate_every < 0:
            raise ConfigError(f"validate_every must be >= 0 (got {self.validate_every}): "
                              "pass 0 (never) or N to score val/hole_mse every N epochs")


def train_loop_per_worker(loop_config: dict[str, Any]) -> None:
    cfg = from_dict(PolarTrainConfig, loop_config["train"])
    context = ray.train.get_context()
    rank = context.get_world_rank()
    device = ray.train.torch.get_device()
    if not cfg.use_gpu:
        configure_cpu_worker()  # one torch thread; a heap that keeps freed memory

    torch.manual_seed(cfg.seed)  # same init on every rank (DDP also broadcasts rank 0's weights)
    model = PolarVAE(cfg.model, loop_config["resolution"]).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    start_epoch, history = 0, []
    if checkpoint := ray.train.get_checkpoint():
        with checkpoint.as_directory() as directory:
            state = load_state(directory, map_location=device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch, history = state["epoch"] + 1, state["history"]
    model = ray.train.torch.prepare_model(model)
    shard = ray.train.get_dataset_shard("train")
    validate = EpochValidation(cfg) if cfg.validate_every and rank == 0 else None

    def report(metrics: dict[str, float], epoch: int) -> None:
        report_epoch(metrics, epoch=epoch, mlflow_run_id=loop_config["mlflow_run_id"],
                     make_checkpoint=lambda: to_ray_checkpoint(model=model, optimizer=optimizer, epoch=epoch,
                                                               history=history, config=loop_config["train"]))

    if start_epoch >= cfg.epochs:  # already finished: hand back its final metrics
        report(history[-1], cfg.epochs - 1)
        return
    for epoch in range(start_epoch, cfg.epochs):
        generator = torch.Generator(device=device).manual_seed(cfg.seed * 10_000 + epoch * 100 + rank)
        metrics = train_one_epoch(model, optimizer, shard, cfg, epoch, device, generator)
        if validate:
            metrics |= validate(unwrap(model), epoch)
        history.append(metrics)
        report(metrics, epoch)


def train_one_epoch(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, shard: Any, cfg: PolarTrainConfig,
    epoch: int, device: torch.device, generator: torch.Generator,
) -> dict[str, float]:
    model.train()
    beta = linear_warmup(epoch, factor=cfg.beta, end_epoch=cfg.beta_warmup_epochs)
    # Sums over this worker's images: recon, kl, decorrelation, loss, count.
    totals = torch.zeros(5, dtype=torch.float64, device=device)
    start = time.perf_counter()
    batches = shard.iter_torch_batches(
        batch_size=cfg.batch_size, dtypes={"image": torch.float32}, device=device,
        local_shuffle_buffer_size=4 * cfg.batch_size, local_shuffle_seed=cfg.seed * 1000 + epoch,
    )
    for step, batch in enumerate(batches):
        if cfg.max_steps_per_epoch and step >= cfg.max_steps_per_epoch:
            break
        x = batch["image"]  # (B, 1, R, R)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.mixed_precision == "bf16"):
            logits, mu, logvar = model(x, generator=generator)
        terms = PolarVAE.forward_loss(x, logits, mu, logvar, decorrelation=cfg.decorrelation)
        decorrelation = terms.get("decorrelation", torch.zeros((), device=device))
        loss = terms["recon"] + beta * terms["kl"] + cfg.decorrelation_weight * decorrelation
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        n = x.shape[0]
        totals += torch.stack([terms["recon"].detach() * n, terms["kl"].detach() * n,
                               decorrelation.detach() * n, loss.detach() * n,
                               torch.tensor(float(n), device=device)]).double()
    dist.all_reduce(totals)  # global means over every worker's images
    seconds = time.perf_counter() - start
    count = max(totals[4].item(), 1.0)
    return {
        "epoch": epoch,
        "loss": totals[3].item() / count,
        "recon": totals[0].item() / count,
        "kl": totals[1].item() / count,
        "decorrelation": totals[2].item() / count,
        "beta": beta,
        "images": count,
        "images_per_s": count / seconds,
    }


def loop_config_for(cfg: PolarTrainConfig, *, resolution: int, mlflow_run_id: str) -> dict[str, Any]:
    """What the driver sends to every worker: the resolved config as plain data."""
    return {"train": to_dict(cfg), "resolution": resolution, "mlflow_run_id": mlflow_run_id}
