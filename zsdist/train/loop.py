"""The one `train_loop_per_worker` every method runs on its Ray Train workers.

It owns what every method repeats: one torch thread per CPU worker, the seed, resuming from the run's
last checkpoint, the epoch loop, validation on rank 0 at its cadence, and the per-epoch report (MLflow
on rank 0, a checkpoint every `checkpoint_every` epochs and at the last). What differs comes from the
method's `MethodWorker` (its models, its DDP wrapping, its epoch) named in the loop config; the driver
that builds the TorchTrainer is zsdist/train/run.py.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import ray.train
import ray.train.torch
import torch
from torch import nn

from zsdist.config import from_dict
from zsdist.methods import get_method
from zsdist.train.checkpoint import load_state, to_ray_checkpoint
from zsdist.train.cpu_worker import configure_cpu_worker
from zsdist.train.epochs import report_epoch
from zsdist.train.validation import ValidationCadence


@dataclass(frozen=True)
class WorkerContext:
    rank: int
    world_size: int
    device: torch.device
    payload: dict[str, Any]  # what the method's plan sent every worker (TrainingPlan.payload)


class MethodWorker(ABC):
    """One method's training on one worker. The loop calls, in this order:

    __init__ (torch already seeded from cfg.seed: the same weights on every rank), load_state_dict when
    resuming, prepare, then train_epoch for each epoch, and state_dict whenever it checkpoints.
    """

    def __init__(self, cfg: Any, context: WorkerContext) -> None:
        self.cfg, self.context = cfg, context

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Put back what state_dict saved (the checkpoint's entries, read with weights_only=True)."""

    @abstractmethod
    def prepare(self) -> None:
        """Wrap for DDP (ray.train.torch.prepare_model) and get this worker's data."""

    @abstractmethod
    def train_epoch(self, epoch: int) -> dict[str, float]:
        """One epoch; the metrics every rank reports (global means: see epochs.EpochTotals)."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """The checkpoint's entries: "model" and "optimizer" (unwrapped from DDP), and any more."""

    @abstractmethod
    def validation_model(self) -> nn.Module:
        """The plain (unwrapped) model that the method's validation scores."""


def train_loop_per_worker(loop_config: dict[str, Any]) -> None:
    method = get_method(loop_config["method"])
    cfg = from_dict(method.train_config, loop_config["train"])
    context = ray.train.get_context()
    context = WorkerContext(rank=context.get_world_rank(), world_size=context.get_world_size(),
                            device=ray.train.torch.get_device(), payload=loop_config["payload"])
    if not cfg.use_gpu:
        configure_cpu_worker()  # one torch thread; a heap that keeps freed memory

    torch.manual_seed(cfg.seed)  # same init on every rank (DDP also broadcasts rank 0's weights)
    worker = method.worker(cfg, context)
    start_epoch, history = 0, []
    if checkpoint := ray.train.get_checkpoint():
        with checkpoint.as_directory() as directory:
            state = load_state(directory, map_location=context.device)
        worker.load_state_dict(state)
        start_epoch, history = state["epoch"] + 1, state["history"]
    worker.prepare()
    validate = None
    if method.validation is not None and cfg.validate_every and context.rank == 0:
        validate = ValidationCadence(method.validation(cfg), every=cfg.validate_every, last_epoch=cfg.epochs - 1)

    def report(metrics: dict[str, float], epoch: int, *, log: bool = True, checkpoint: bool = True) -> None:
        # A resumed run repeats the epochs after its last checkpoint, and MLflow gets them again.
        due = checkpoint and ((epoch + 1) % cfg.checkpoint_every == 0 or epoch == cfg.epochs - 1)
        report_epoch(metrics, epoch=epoch, mlflow_run_id=loop_config["mlflow_run_id"], checkpoint=due, log=log,
                     make_checkpoint=lambda: to_ray_checkpoint(worker.state_dict(), epoch=epoch, history=history,
                                                               config=loop_config["train"]))

    finished = start_epoch >= cfg.epochs
    if loop_config["replay_history"]:
        # A search's trial that Tune restarted counts epochs by reports: the epochs its run already
        # trained are reported again (not logged, no checkpoint), so its scheduler sees each epoch once.
        for epoch, metrics in enumerate(history[:-1] if finished else history):
            report(metrics, epoch, log=False, checkpoint=False)
    if finished:  # hand back its final metrics and last checkpoint
        report(history[-1], cfg.epochs - 1, log=False)
        return
    for epoch in range(start_epoch, cfg.epochs):
        metrics = worker.train_epoch(epoch)
        if validate:
            metrics |= validate(worker.validation_model(), epoch)
        history.append(metrics)
        report(metrics, epoch)
