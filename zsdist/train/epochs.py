"""What every method's epoch shares: stepping in lockstep, global means of its terms, reporting.

Data-parallel ranks must run the same number of steps (each backward is a collective), an epoch's
metrics are means over every worker's samples (one all-reduce), and `ray.train.report` is a barrier
every rank calls once per epoch while rank 0 alone checkpoints and logs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import ray.train
import torch
import torch.distributed as dist

from zsdist.base import tracking

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


class EpochTotals:
    """Sums of named terms over this worker's samples, then global means over every worker's.

    `add` takes each term already summed over the batch (how a method scales its batch means is its
    own: a float32 or a float64 product gives other last bits, and golden curves keep them); `means`
    all-reduces the sums once, at the end of the epoch, and divides by the global sample count.
    """

    def __init__(self, names: Sequence[str], device: torch.device) -> None:
        self.names = tuple(names)
        self.device = device
        self.sums = torch.zeros(len(self.names) + 1, dtype=torch.float64, device=device)  # the terms, the count

    def add(self, batch_sums: dict[str, torch.Tensor], count: int) -> None:
        values = [batch_sums[name] for name in self.names]
        self.sums += torch.stack([*values, torch.tensor(float(count), dtype=values[0].dtype, device=self.device)]
                                 ).double()

    def means(self) -> tuple[dict[str, float], float]:
        """({name: global mean}, global sample count); call it on every rank (a collective)."""
        dist.all_reduce(self.sums)
        count = max(self.sums[-1].item(), 1.0)
        return {name: self.sums[i].item() / count for i, name in enumerate(self.names)}, count


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
