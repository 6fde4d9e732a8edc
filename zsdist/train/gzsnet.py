"""Training GZS-Net (and, beside it, the AE+DS baseline) on each Ray Train worker.

    zsdist train gzsnet --data DIR --config configs/gzsnet_cpu.yaml
    zsdist train gzsnet --data DIR --model.image_size 32 --epochs 2     # flags override the file

`train_loop_per_worker` builds the models, then every epoch reads *its own* shards: rank r of N takes
every N-th shard of a seeded per-epoch shuffle and forms its groups inside each shard with Ray Data
(zsdist/data/fonts_groups.py), so no worker ever needs a global index. The driver that builds the
TorchTrainer is zsdist/pipelines/gzsnet.py (through train/driver.py).

Batch semantics: `groups_per_batch` is per worker; one optimiser step averages the gradients of
N * groups_per_batch groups. Workers may hold a few groups more or fewer (held-out rows differ per
shard), so every step all workers agree that each still has a batch: an epoch ends at the shortest.

The AE+DS baseline (zsdist/models/ae_ds.py) trains on exactly the same batches with its own
optimiser, so the evaluation compares the two on the same data, steps and held-out split.

Validation (`validate_every` N >= 1): every N epochs (and the last) rank 0 reports val/psnr, the
PSNR of GZS-Net's chunk-swapping synthesis of `validation_targets` training images, drawn as the
evaluation draws its held-out ones (higher is better; zsdist/train/gzsnet_validation.py); the epochs
in between carry the last value, so a search sees it in every report. 0 (the default) never computes it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import ray.data
import ray.train
import ray.train.torch
import torch
import torch.distributed as dist

from datagen.errors import ConfigError
from datagen.spec.fonts import ATTRIBUTES
from zsdist.config import from_dict, to_dict
from zsdist.data.fonts import FontsSelection
from zsdist.data.fonts_groups import group_dataset
from zsdist.data.heldout import HeldOutConfig
from zsdist.models.ae_ds import AEDS
from zsdist.models.gzsnet import PRESETS, GZSNet, GZSNetConfig
from zsdist.models.gzsnet_losses import GZSNetLossWeights, GZSNetObjective
from zsdist.run_config import TrainingConfig
from zsdist.train.checkpoint import load_state, to_ray_checkpoint, unwrap
from zsdist.train.cpu_worker import configure_cpu_worker
from zsdist.train.epochs import lockstep, report_epoch
from zsdist.train.gzsnet_validation import EpochValidation


@dataclass(kw_only=True)
class GZSNetTrainConfig(TrainingConfig):
    data: str = ""  # the Fonts dataset directory (from `zsdist datagen fonts`)
    run_name: str = "gzsnet"
    experiment: str = "gzsnet"
    lr: float = 5e-4  # Adam learning rate (the released code: 1e-4 with 4 groups per batch)
    validate_every: int = 0  # epochs between val/psnr scores (synthesis of training images); 0 = never
    model: GZSNetConfig = field(default_factory=lambda: PRESETS["cpu64"])  # configs/gzsnet_paper.yaml: paper
    loss: GZSNetLossWeights = field(default_factory=GZSNetLossWeights)
    selection: FontsSelection = field(default_factory=FontsSelection)  # train on a subset of the values
    held_out: HeldOutConfig = field(default_factory=HeldOutConfig)  # combinations kept for zero-shot eval
    ae_ds_baseline: bool = True  # also train the AE+DS baseline on the same batches
    ae_ds_classifier_weight: float = 1.0  # weight of the AE+DS baseline's attribute classification loss
    groups_per_batch: int = 8  # per worker; a group is 1 + A images (6 on Fonts)
    shuffle_buffer_groups: int = 256  # groups mixed across consecutive shards before batching; 0 = none
    max_steps_per_epoch: int = 0  # 0 = every group of the worker's shards; small values for tests
    validation_targets: int = 64  # training images val/psnr draws: a fixed sample from held_out.seed

    def __post_init__(self) -> None:
        super().__post_init__()
        if set(self.model.attributes) == set(ATTRIBUTES) and tuple(self.model.attributes) != ATTRIBUTES:
            # Chunk k is trained against the group's partner slot k, which follows the dataset's columns.
            raise ConfigError(f"model.attributes must follow the dataset's order {','.join(ATTRIBUTES)} "
                              f"(got {','.join(self.model.attributes)})")
        if self.groups_per_batch < 1:
            raise ConfigError(f"groups_per_batch must be >= 1 (got {self.groups_per_batch})")
        for name in ("ae_ds_classifier_weight", "shuffle_buffer_groups", "max_steps_per_epoch"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0 (got {getattr(self, name)})")
        if self.validate_every < 0:
            raise ConfigError(f"validate_every must be >= 0 (got {self.validate_every}): "
                              "pass 0 (never) or N to score val/psnr every N epochs")
        if self.validation_targets < 1:
            raise ConfigError(f"validation_targets must be >= 1 (got {self.validation_targets}): "
                              "pass how many training images val/psnr draws, e.g. 64")


def train_loop_per_worker(loop_config: dict[str, Any]) -> None:
    cfg = from_dict(GZSNetTrainConfig, loop_config["train"])
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    device = ray.train.torch.get_device()
    if not cfg.use_gpu:
        configure_cpu_worker()  # one torch thread; a heap that keeps freed memory
    # This worker drives its own Ray Data pipeline: keep its group order the same on every run.
    data_context = ray.data.DataContext.get_current()
    data_context.execution_options.preserve_order = True
    data_context.enable_progress_bars = False  # one bar per worker and epoch would flood the driver's log

    torch.manual_seed(cfg.seed)  # same init on every rank (DDP also broadcasts rank 0's weights)
    model = GZSNet(cfg.model).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(0.9, 0.999))
    baseline = AEDS(cfg.model, tuple(loop_config["num_values"])).to(device) if cfg.ae_ds_baseline else None
    baseline_optimizer = torch.optim.Adam(baseline.parameters(), lr=cfg.lr) if baseline is not None else None
    start_epoch, history = 0, []
    if checkpoint := ray.train.get_checkpoint():
        with checkpoint.as_directory() as directory:
            state = load_state(directory, map_location=device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if baseline is not None:
            baseline.load_state_dict(state["baseline"])
            baseline_optimizer.load_state_dict(state["baseline_optimizer"])
        start_epoch, history = json.loads(state["sampler"])["next_epoch"], state["history"]
    objective = ray.train.torch.prepare_model(GZSNetObjective(model, cfg.loss))
    baseline = ray.train.torch.prepare_model(baseline) if baseline is not None else None
    validate = EpochValidation(cfg) if cfg.validate_every and rank == 0 else None

    def report(metrics: dict[str, float], epoch: int) -> None:
        # The sampler's whole state: groups and shard order follow from (seed, epoch) alone.
        extra = {"sampler": json.dumps({"seed": cfg.seed, "next_epoch": epoch + 1})}
        if baseline is not None:
            extra |= {"baseline": unwrap(baseline).state_dict(), "baseline_optimizer": baseline_optimizer.state_dict()}
        report_epoch(metrics, epoch=epoch, mlflow_run_id=loop_config["mlflow_run_id"],
                     make_checkpoint=lambda: to_ray_checkpoint(model=model, optimizer=optimizer, epoch=epoch,
                                                               history=history, config=loop_config["train"],
                                                               extra=extra))

    if start_epoch >= cfg.epochs:  # already finished: hand back its final metrics
        report(history[-1], cfg.epochs - 1)
        return
    for epoch in range(start_epoch, cfg.epochs):
        groups = group_dataset(cfg.data, selection=cfg.selection, held_out=cfg.held_out, seed=cfg.seed,
                               epoch=epoch, image_size=cfg.model.image_size, worker=(rank, world))
        generator = torch.Generator(device=device).manual_seed(cfg.seed * 10_000 + epoch * 100 + rank)
        metrics = train_one_epoch(objective, optimizer, baseline, baseline_optimizer, groups, cfg,
                                  epoch=epoch, device=device, generator=generator)
        if validate:
            metrics |= validate(model, epoch)
        history.append(metrics)
        report(metrics, epoch)


def train_one_epoch(
    objective: torch.nn.Module, optimizer: torch.optim.Optimizer,
    baseline: torch.nn.Module | None, baseline_optimizer: torch.optim.Optimizer | None,
    groups: ray.data.Dataset, cfg: GZSNetTrainConfig, *, epoch: int, device: torch.device,
    generator: torch.Generator,
) -> dict[str, float]:
    objective.train()
    attributes = cfg.model.attributes
    weights = cfg.loss
    names = [n for n in ("reconstruction", "swap", "cycle", "neighbour_decode") if getattr(weights, n) > 0]
    names = ["total", *names, *(f"swap/{a}" for a in attributes if weights.swap > 0)]
    if baseline is not None:
        baseline.train()
        names += ["ae_ds/total", "ae_ds/reconstruction", "ae_ds/classification", "ae_ds/accuracy"]
    # Sums over this worker's groups of each term (times the batch's groups), then the group count.
    totals = torch.zeros(len(names) + 1, dtype=torch.float64, device=device)
    batches = iter(groups.iter_torch_batches(
        batch_size=cfg.groups_per_batch, device=device,
        dtypes={"images": torch.float32, "labels": torch.int64, "index": torch.int64},
        local_shuffle_buffer_size=cfg.shuffle_buffer_groups or None,
        local_shuffle_seed=cfg.seed * 1000 + epoch if cfg.shuffle_buffer_groups else None,
    ))
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.mixed_precision == "bf16")
    start = time.perf_counter()
    for batch in lockstep(batches, device, cfg.max_steps_per_epoch):
        images, labels = batch["images"], batch["labels"]  # (G, 1 + A, 3, H, W), (G, 1 + A, A)
        with autocast:
            terms = objective(images, generator=generator, labels=labels)
        optimizer.zero_grad(set_to_none=True)
        terms["total"].backward()
        optimizer.step()
        if baseline is not None:
            with autocast:
                baseline_terms = baseline(images.flatten(0, 1), labels.flatten(0, 1), cfg.ae_ds_classifier_weight)
            baseline_optimizer.zero_grad(set_to_none=True)
            baseline_terms["total"].backward()
            baseline_optimizer.step()
            terms |= {f"ae_ds/{k}": v for k, v in baseline_terms.items()}
        n = images.shape[0]
        totals += torch.stack([*(terms[k].detach().double() * n for k in names),
                               torch.tensor(float(n), dtype=torch.float64, device=device)])
    dist.all_reduce(totals)  # global means over every worker's groups
    seconds = time.perf_counter() - start
    count = max(totals[-1].item(), 1.0)
    images = count * (1 + len(attributes))
    memory = {"gpu_max_memory_gib": torch.cuda.max_memory_allocated(device) / 2**30} if device.type == "cuda" else {}
    return {
        **memory,
        "epoch": epoch,
        **{name: totals[i].item() / count for i, name in enumerate(names)},
        "groups": count,
        "images": images,
        "images_per_s": images / seconds,
        "epoch_s": seconds,
    }


def loop_config_for(cfg: GZSNetTrainConfig, *, num_values: tuple[int, ...], mlflow_run_id: str) -> dict[str, Any]:
    """What the driver sends to every worker: the resolved config as plain data."""
    return {"train": to_dict(cfg), "num_values": list(num_values), "mlflow_run_id": mlflow_run_id}
