"""Checkpoints that hold everything needed to resume: model, optimiser, epoch, history, config.

Written as one `checkpoint.pt` of tensors and plain data, so loading uses `weights_only=True` and
never unpickles arbitrary objects.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import ray.train
import torch

FILE_NAME = "checkpoint.pt"


def to_ray_checkpoint(
    *, model: torch.nn.Module, optimizer: torch.optim.Optimizer, epoch: int,
    history: list[dict[str, float]], config: dict[str, Any],
) -> ray.train.Checkpoint:
    """Write a checkpoint directory (Ray Train copies it into the run's storage)."""
    directory = Path(tempfile.mkdtemp(prefix="zsdist-ckpt-"))
    state = {
        "model": _unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict(),
        "epoch": epoch,
        "history": json.dumps(history),
        "config": json.dumps(config),
    }
    torch.save(state, directory / FILE_NAME)
    return ray.train.Checkpoint.from_directory(str(directory))


def load_state(checkpoint_dir: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    state = torch.load(Path(checkpoint_dir) / FILE_NAME, map_location=map_location, weights_only=True)
    state["history"] = json.loads(state["history"])
    state["config"] = json.loads(state["config"])
    return state


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    # DDP wraps the module; checkpoints store the plain model so they load anywhere.
    return model.module if hasattr(model, "module") else model


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint directory of the highest epoch under a Ray Train run directory, if any."""
    best: tuple[int, float, Path] | None = None
    for file in Path(run_dir).glob(f"*/{FILE_NAME}"):
        epoch = int(torch.load(file, map_location="cpu", weights_only=True)["epoch"])
        key = (epoch, file.stat().st_mtime, file.parent)
        best = key if best is None or key[:2] > best[:2] else best
    return best[2] if best else None
