"""Checkpoints that hold everything needed to resume: model, optimiser, epoch, history, config.

Written as one `checkpoint.pt` of tensors and plain data, so loading uses `weights_only=True` and
never unpickles arbitrary objects. Runs live under a storage root that is a local or shared path or a
URI (s3://, gs://; see zsdist.base.storage): Ray Train writes there through pyarrow, and the readers
below read through the same filesystem.
"""

from __future__ import annotations

import io
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import ray.train
import torch

from zsdist.base.errors import DataError
from zsdist.base.ray_internals import checkpoint_record_unreadable_error
from zsdist.base.storage import RemotePath, is_local, location
from zsdist.base.workspace import default_checkpoint_root

FILE_NAME = "checkpoint.pt"
# Ray Train rewrites its checkpoint record in place while a run reports (zsdist/base/ray_internals.py),
# so a reader that finds it half written waits this long for the rewrite to end.
RECORD_READ_TRIES, RECORD_READ_WAIT_S = 20, 0.1


def to_ray_checkpoint(entries: dict[str, Any], *, epoch: int, history: list[dict[str, float]],
                      config: dict[str, Any]) -> ray.train.Checkpoint:
    """Write a checkpoint to a new temporary directory (Ray Train copies it into the run's storage, and
    train/epochs.py's report_epoch has it deleted then).

    entries: the method's state dicts, tensors and plain data ("model", "optimizer", and any more, e.g.
    a second model); epoch, history and config go beside them.
    """
    directory = Path(tempfile.mkdtemp(prefix="zsdist-ckpt-"))
    state = {**entries, "epoch": epoch, "history": json.dumps(history), "config": json.dumps(config)}
    torch.save(state, directory / FILE_NAME)
    return ray.train.Checkpoint.from_directory(str(directory))


def load_state(checkpoint_dir: str | Path | RemotePath, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    data = (location(checkpoint_dir) / FILE_NAME).read_bytes()
    state = torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    state["history"] = json.loads(state["history"])
    state["config"] = json.loads(state["config"])
    return state


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    # DDP wraps the module; checkpoints store the plain model so they load anywhere.
    return model.module if hasattr(model, "module") else model


def latest_checkpoint(run_dir: Path | RemotePath) -> Path | RemotePath | None:
    """The run's latest committed checkpoint (the one Ray Train itself would resume from), or None."""
    found = _latest_checkpoint_and_metrics(run_dir)
    return None if found is None else found[0]


def _latest_checkpoint_and_metrics(run_dir: Path | RemotePath) -> tuple[Path | RemotePath, dict[str, Any]] | None:
    """The latest committed checkpoint and the metrics reported with it, or None.

    A checkpoint directory can exist without being committed (the process died while reporting it),
    so the directory listing is not the record; Ray Train's own, read by `Result.from_path`, is.
    """
    local = is_local(run_dir)
    result = _read_record(run_dir, local)
    if result is None or result.checkpoint is None:
        return None
    metrics = next(m for c, m in result.best_checkpoints if c.path == result.checkpoint.path)
    return (Path(result.checkpoint.path) if local else RemotePath(run_dir.root, result.checkpoint.path)), metrics


def _read_record(run_dir: Path | RemotePath, local: bool) -> ray.train.Result | None:
    """Ray Train's record of the run, or None when there is no run there or no checkpoint committed yet."""
    for _ in range(RECORD_READ_TRIES):
        try:
            return ray.train.Result.from_path(str(run_dir) if local else run_dir.fs_path,
                                              storage_filesystem=None if local else run_dir.fs)
        except RuntimeError:
            return None
        except checkpoint_record_unreadable_error() as error:  # half written, or by another Ray version
            unreadable = error
            time.sleep(RECORD_READ_WAIT_S)
    raise DataError(f"Ray Train's checkpoint record of {run_dir} is unreadable ({str(unreadable)[:200]}): "
                    "train the run again with this Ray version or under a new --run_name")


def storage_root(storage_path: str) -> Path | RemotePath:
    """Where runs keep their checkpoints: the given path or URI, or <workspace>/checkpoints."""
    return location(storage_path) if storage_path else default_checkpoint_root()


def result_checkpoint(checkpoint: ray.train.Checkpoint, storage_path: str) -> Path | RemotePath:
    """Where a Ray Train result's checkpoint lives, in the terms of the run's storage root."""
    root = storage_root(storage_path)
    return Path(checkpoint.path) if is_local(root) else RemotePath(root.root, checkpoint.path)


def finished_checkpoint(storage_path: str, run_name: str,
                        epochs: int) -> tuple[Path | RemotePath, dict[str, Any]] | None:
    """(latest checkpoint, the metrics reported with it) if the run reached epoch `epochs` - 1, so that
    training it again would only reload it; else None. Reads Ray Train's record, not the checkpoint."""
    found = _latest_checkpoint_and_metrics(storage_root(storage_path) / run_name)
    return found if found is not None and found[1]["epoch"] + 1 >= epochs else None


def run_checkpoint(storage_path: str, run_name: str, *, train_command: str) -> Path | RemotePath:
    """The latest committed checkpoint of a run, or a one-line DataError that says how to make one."""
    run_dir = storage_root(storage_path) / run_name
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        raise DataError(f"no checkpoint for run '{run_name}' under {run_dir}: train it first "
                        f"(`{train_command} --run_name {run_name}`) or pass --storage_path")
    return checkpoint
