"""What every model's train_loop_per_worker shares around its epochs: stepping in lockstep, reporting.

Data-parallel ranks must run the same number of steps (each backward is a collective), and
`ray.train.report` is a barrier every rank calls once per epoch while rank 0 alone checkpoints and
logs. Each model's loop keeps its own steps; these two pieces are the same for all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import ray.train
import torch
import torch.distributed as dist

from zsdist import tracking

T = TypeVar("T")


def lockstep(batches: Iterator[T], device: torch.device, max_steps: int = 0) -> Iterator[T]:
    """The batches while every rank still has one (and fewer than max_steps, when > 0).

    Shards may differ by a batch or two; every step all ranks agree on going on, so an epoch ends at
    the shortest shard instead of hanging in the next gradient all-reduce.
    """
    step = 0
    while True:
        batch = next(batches, None) if not max_steps or step < max_steps else None
        ready = torch.tensor([float(batch is not None)], device=device)
        dist.all_reduce(ready, op=dist.ReduceOp.MIN)
        if not ready.item():
            return
        yield batch
        step += 1


def report_epoch(metrics: dict[str, float], *, epoch: int, mlflow_run_id: str,
                 make_checkpoint: Callable[[], Any], checkpoint: bool = True, log: bool = True) -> None:
    """Every rank reports (a barrier); rank 0 alone logs to MLflow (if `log`) and writes a checkpoint
    (if `checkpoint`). A finished run handing back its last metrics reports with log=False."""
    saved = None
    if ray.train.get_context().get_world_rank() == 0:
        saved = make_checkpoint() if checkpoint else None
        if log:
            tracking.log_metrics(mlflow_run_id, metrics, step=epoch)
    # The checkpoint's directory is a temporary copy (to_ray_checkpoint): once Ray Train has copied it
    # into the run's storage it goes, or every checkpoint would stay behind in the temp dir.
    ray.train.report(metrics, checkpoint=saved, delete_local_checkpoint_after_upload=saved is not None)
