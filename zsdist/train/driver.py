"""The one place that builds a Ray Train `TorchTrainer`: scaling, storage, checkpoints, failures.

Every method's run (train/run.py) calls `fit` with the one `train_loop_per_worker` (train/loop.py);
a search's trials (zsdist/tune/) make the same call. Resuming is Ray Train V2's: a trainer built again
with the same `RunConfig(name, storage_path)` hands the workers the run's latest checkpoint through
`ray.train.get_checkpoint()`, so run names must be deterministic (they come from the config).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray.data
import ray.train
from ray.data import ExecutionOptions
from ray.train.torch import TorchConfig, TorchTrainer

from zsdist.base import tracking
from zsdist.base.shared_storage import require_shared_dir
from zsdist.base.storage import RemotePath, is_local
from zsdist.train.cpu_worker import CPU_WORKER_ENV


@dataclass(kw_only=True)
class Scaling:
    num_workers: int
    use_gpu: bool
    cpus_per_worker: float


def fit(
    train_loop_per_worker: Callable[[dict], None],
    loop_config: dict[str, Any],
    *,
    run_name: str,
    storage_path: Path | RemotePath,
    scaling: Scaling,
    datasets: dict[str, ray.data.Dataset] | None,
    max_failures: int,
    checkpoints_to_keep: int = 2,
    callbacks: list[Any] | None = None,
) -> ray.train.Result:
    """Build and fit the TorchTrainer. callbacks: Ray Train callbacks (a search passes Tune's reporter)."""
    storage_path.mkdir(parents=True, exist_ok=True)
    if is_local(storage_path):  # an object store (s3://, gs://) is shared by nature
        require_shared_dir(storage_path, what="checkpoint storage")  # any worker writes, any node resumes
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config=loop_config,
        # gloo on CPU, NCCL on GPU: the backend follows the device.
        torch_config=TorchConfig(backend="nccl" if scaling.use_gpu else "gloo"),
        scaling_config=ray.train.ScalingConfig(
            num_workers=scaling.num_workers,
            use_gpu=scaling.use_gpu,
            # Fractional CPUs leave room for Ray Data's read tasks: two whole-CPU workers on a
            # 2-CPU machine starve the data pipeline and hang.
            resources_per_worker={"CPU": scaling.cpus_per_worker},
        ),
        run_config=ray.train.RunConfig(
            name=run_name,
            storage_path=str(storage_path),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=checkpoints_to_keep),
            failure_config=ray.train.FailureConfig(max_failures=max_failures),
            worker_runtime_env={"env_vars": {"MLFLOW_TRACKING_URI": tracking.tracking_uri(),
                                             **({} if scaling.use_gpu else CPU_WORKER_ENV)}},
            callbacks=callbacks,
        ),
        datasets=datasets,
        # Preserving order makes each worker's shard the same rows on every run (on CPU the
        # metrics then repeat exactly); shuffling happens per worker from the config's seed.
        dataset_config=ray.train.DataConfig(execution_options=ExecutionOptions(preserve_order=True)),
    )
    return trainer.fit()
