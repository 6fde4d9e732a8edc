"""`zsdist augment`: GZS-Net's data-augmentation experiment on Fonts, end to end.

    zsdist datagen fonts --config configs/fonts_cpu32.yaml --out DIR
    zsdist augment --data DIR --config configs/augment_cpu.yaml      # ~30 min on 2 cores
    zsdist augment --data DIR --config configs/augment_cpu.yaml      # again: reuses everything, prints the table

1. The splits (data.py), before anything trains: a config that cannot give a balanced test set fails at once.
2. The generator: `zsdist train gzsnet` with the experiment's held-out split (GZS-Net and AE+DS beside
   it), nested under the experiment's MLflow run. A finished run of that name is not trained again; one
   trained with another held_out or selection is refused, since its training set would include test images.
3. The four training sets (config.py CONDITIONS): real images only; plus standard augmentation; plus
   GZS-Net's synthesis of the missing combinations; plus AE+DS's. Each adds the same number of images of
   the same fonts (data.py).
4. One font classifier per condition and seed (classifier.py), each a Ray task on one CPU, scored on the
   test set. Each is a child MLflow run <run_name>-<condition>-seed<seed> with its accuracy.
5. The parent run gets <condition>/accuracy/mean and /std (ddof=1 over the seeds; 0 for one seed),
   <condition>_minus_real/accuracy, and augmentation.md / augmentation.json (also in --out).

Reruns: a child run that FINISHED is reused, not recomputed; a run cut short is recomputed, which gives
the same number on CPU. The parent run records a fingerprint of the config (all but paths and seeds):
rerunning its name with another config is refused, so reused results always belong to the config.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import ray
from mlflow.tracking import MlflowClient

from datagen.shards import read_spec
from zsdist.base import tracking
from zsdist.base.console import progress_bar
from zsdist.base.errors import ConfigError
from zsdist.base.ray_setup import init_ray
from zsdist.base.storage import atomic_write, location
from zsdist.base.workspace import default_eval_dir
from zsdist.config import flatten, from_dict, to_dict
from zsdist.data.kinds import require_kind
from zsdist.experiments.augmentation.classifier import train_and_score
from zsdist.experiments.augmentation.config import CONDITIONS, AugmentConfig
from zsdist.experiments.augmentation.data import (
    FONT,
    Splits,
    make_splits,
    quantise,
    read_rows,
    standard_augmentation,
    synthetic_sets,
)
from zsdist.methods import get_method
from zsdist.methods.gzsnet.config import GZSNetTrainConfig
from zsdist.train.checkpoint import finished_checkpoint, latest_checkpoint, load_state, storage_root

FINGERPRINT_TAG = "zsdist.augment.fingerprint"
LABELS = {"real": "real only", "standard": "real + standard augmentation", "gzsnet": "real + GZS-Net synthesis",
          "ae_ds": "real + AE+DS synthesis"}


@dataclass(frozen=True)
class AugmentSummary:
    run_id: str  # the parent MLflow run
    generator_run_id: str
    generator_reused: bool  # the generator run had finished before this command: not trained again
    accuracy: dict[str, dict[int, float]]  # condition -> seed -> test accuracy
    mean: dict[str, float]
    std: dict[str, float]
    table: str  # augmentation.md
    out_dir: Path


def run_augmentation(cfg: AugmentConfig) -> AugmentSummary:
    """The whole experiment (module docstring), resuming whatever an earlier run of it finished."""
    if not cfg.data:
        raise ConfigError("no dataset given: pass --data DIR (made by `zsdist datagen fonts`)")
    data_dir = location(cfg.data)
    require_kind(data_dir, "fonts", "zsdist augment")
    generator = cfg.generator_training()
    splits = make_splits(data_dir, generator.selection, generator.held_out, cfg.sets)
    _check_generator_split(generator)
    run_id = _start_parent(cfg, splits)
    try:
        reused = finished_checkpoint(generator.storage_path, generator.run_name, generator.epochs) is not None
        trained = get_method("gzsnet").train(generator, parent_run_id=run_id)
        accuracy = _classify(cfg, splits, data_dir, load_state(trained.checkpoint), run_id)
    except BaseException:
        tracking.finish_run(run_id, status="FAILED")
        raise
    mean = {c: float(np.mean(list(accuracy[c].values()))) for c in CONDITIONS}
    std = {c: float(np.std(list(accuracy[c].values()), ddof=1)) if len(cfg.seeds) > 1 else 0.0 for c in CONDITIONS}
    tracking.log_metrics(run_id, {f"{c}/accuracy/mean": mean[c] for c in CONDITIONS}
                         | {f"{c}/accuracy/std": std[c] for c in CONDITIONS}
                         | {f"{c}_minus_real/accuracy": mean[c] - mean["real"] for c in CONDITIONS[1:]})
    sizes = {c: len(splits.train) + (0 if c == "real" else len(splits.targets)) for c in CONDITIONS}
    report = {
        "conditions": {c: {"label": LABELS[c], "train_images": sizes[c],
                           "accuracy": {"mean": mean[c], "std": std[c], "seeds": accuracy[c]}} for c in CONDITIONS},
        "std_ddof": 1, "test_images": len(splits.test), "fonts": len(splits.fonts),
        "held_out": generator.held_out.to_dict(), "held_out_combinations": splits.combinations,
        "generator": {"run_name": generator.run_name, "run_id": trained.run_id, "checkpoint": str(trained.checkpoint),
                      "reused": reused}}
    table = _table(report, cfg.seeds)
    out_dir = Path(cfg.out).expanduser().resolve() if cfg.out else default_eval_dir(cfg.run_name)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(out_dir / "augmentation.md", table.encode())
    atomic_write(out_dir / "augmentation.json", json.dumps(report, indent=1, sort_keys=True).encode())
    tracking.log_artifacts(run_id, [out_dir / "augmentation.md", out_dir / "augmentation.json"])
    tracking.finish_run(run_id)
    return AugmentSummary(run_id=run_id, generator_run_id=trained.run_id, generator_reused=reused, accuracy=accuracy,
                          mean=mean, std=std, table=table, out_dir=out_dir)


def _check_generator_split(generator: GZSNetTrainConfig) -> None:
    """A ConfigError if the generator run already has checkpoints trained on another split: its training
    set would overlap this experiment's test set."""
    checkpoint = latest_checkpoint(storage_root(generator.storage_path) / generator.run_name)
    if checkpoint is None:
        return
    recorded = from_dict(GZSNetTrainConfig, load_state(checkpoint)["config"])
    for name in ("held_out", "selection"):
        if getattr(recorded, name) != getattr(generator, name):
            raise ConfigError(f"generator run '{generator.run_name}' was trained with {name} "
                              f"{to_dict(getattr(recorded, name))}, not {to_dict(getattr(generator, name))}: "
                              f"pass another --generator.run_name or that {name}")


def _start_parent(cfg: AugmentConfig, splits: Splits) -> str:
    """The parent MLflow run, created or resumed; a ConfigError if its name was used with another config."""
    settings = {k: v for k, v in to_dict(cfg).items() if k not in ("data", "storage_path", "out", "seeds")}
    fingerprint = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    if existing := tracking.find_run_id(cfg.experiment, cfg.run_name):
        found = MlflowClient(tracking.tracking_uri()).get_run(existing).data.tags.get(FINGERPRINT_TAG)
        if found not in (None, fingerprint):
            raise ConfigError(f"run '{cfg.run_name}' in experiment '{cfg.experiment}' was made with another config "
                              "(its config.json): pass another --run_name, or that config")
    params = {"sets.train_images": len(splits.train), "sets.test_images": len(splits.test),
              "sets.extra_images": len(splits.targets), "sets.held_out_combinations": splits.combinations}
    run_id = tracking.start_or_resume_run(cfg.experiment, cfg.run_name, to_dict(cfg), {**flatten(cfg), **params})
    tracking.set_tags(run_id, {FINGERPRINT_TAG: fingerprint})
    return run_id


def _finished_children(cfg: AugmentConfig) -> dict[tuple[str, int], float]:
    """(condition, seed) -> test accuracy of the child runs an earlier run of this experiment finished."""
    client, found = MlflowClient(tracking.tracking_uri()), {}
    for condition in CONDITIONS:
        for seed in cfg.seeds:
            run_id = tracking.find_run_id(cfg.experiment, _child_name(cfg, condition, seed))
            run = client.get_run(run_id) if run_id else None
            if run is not None and run.info.status == "FINISHED" and "test/accuracy" in run.data.metrics:
                found[condition, seed] = run.data.metrics["test/accuracy"]
    return found


def _child_name(cfg: AugmentConfig, condition: str, seed: int) -> str:
    return f"{cfg.run_name}-{condition}-seed{seed}"


def _classify(cfg: AugmentConfig, splits: Splits, data_dir: Path, state: dict,
              parent_run_id: str) -> dict[str, dict[int, float]]:
    """Train and score every (condition, seed) not finished before; each result logged as a child run."""
    accuracy: dict[str, dict[int, float]] = {c: {} for c in CONDITIONS}
    for (condition, seed), value in _finished_children(cfg).items():
        accuracy[condition][seed] = value
    todo = [(c, s) for c in CONDITIONS for s in cfg.seeds if s not in accuracy[c]]
    if not todo:
        return accuracy
    selection, size = cfg.generator.selection, cfg.generator.model.image_size
    rows = np.concatenate([splits.train, splits.test])
    images = read_rows(data_dir, selection, splits.index, rows, size)
    train_images = images[:len(splits.train)]
    target_labels = splits.labels(splits.targets[:, FONT])
    extra = {"standard": standard_augmentation(quantise(train_images[np.searchsorted(
        splits.train, splits.sources[:, FONT])]), cfg.sets.max_shift, cfg.sets.seed)}
    if {"gzsnet", "ae_ds"} & {c for c, _ in todo}:
        extra |= synthetic_sets(state, read_spec(data_dir, dataset="fonts"), splits, train_images)
    init_ray()
    task = ray.remote(num_cpus=1)(_train_condition)
    real = ray.put((quantise(train_images), splits.labels(splits.attrs[splits.train, FONT])))
    test = ray.put((quantise(images[len(splits.train):]), splits.labels(splits.attrs[splits.test, FONT])))
    extras = {name: ray.put((pixels, target_labels)) for name, pixels in extra.items()}
    pending = {task.remote(real, extras.get(c), test, cfg.classifier, s, len(splits.fonts)): (c, s) for c, s in todo}
    with progress_bar(total=len(todo), desc="font classifiers", unit="run") as bar:
        while pending:
            [done], _ = ray.wait(list(pending))
            condition, seed = pending.pop(done)
            result = ray.get(done)
            accuracy[condition][seed] = result["accuracy"]
            _log_child(cfg, condition, seed, result, splits, parent_run_id)
            bar.update()
    return accuracy


def _train_condition(real: tuple, extra: tuple | None, test: tuple, classifier, seed: int, classes: int) -> dict:
    """One Ray task: the real images, plus the condition's extra ones, trained on and scored."""
    if extra is None:
        images, labels = real
    else:
        images, labels = np.concatenate([real[0], extra[0]]), np.concatenate([real[1], extra[1]])
    return {**train_and_score(images, labels, *test, classifier, seed, classes), "train_images": len(labels)}


def _log_child(cfg: AugmentConfig, condition: str, seed: int, result: dict, splits: Splits, parent_run_id: str) -> None:
    config = {"condition": condition, "seed": seed, "classifier": to_dict(cfg.classifier), "sets": to_dict(cfg.sets)}
    params = {"condition": condition, "seed": seed, "train_images": result["train_images"]}
    run_id = tracking.start_or_resume_run(cfg.experiment, _child_name(cfg, condition, seed), config,
                                          {**flatten(config), **params}, parent_run_id=parent_run_id)
    per_font = {f"test/accuracy/font_{font}": value for font, value in zip(splits.fonts.tolist(), result["per_class"])}
    tracking.log_metrics(run_id, {"test/accuracy": result["accuracy"], "train/loss": result["train_loss"],
                                  "seconds": result["seconds"], **per_font})
    tracking.finish_run(run_id)


def _table(report: dict, seeds: tuple[int, ...]) -> str:
    """augmentation.md: one row per condition, accuracy as mean ± std over the seeds."""
    title = (f"Font accuracy on {report['test_images']} real images of held-out combinations "
             f"({report['fonts']} fonts, equal per font; {report['held_out_combinations']} held-out "
             f"{' x '.join(report['held_out']['pairs'])} combinations), mean ± std (ddof=1) over seeds "
             f"{', '.join(map(str, seeds))}:")
    lines = [title, "",
             "| condition | training images | accuracy | per seed |", "| --- | --- | --- | --- |"]
    for row in report["conditions"].values():
        acc = row["accuracy"]
        per_seed = ", ".join(f"{acc['seeds'][s]:.4f}" for s in seeds)
        lines.append(f"| {row['label']} | {row['train_images']} | {acc['mean']:.4f} ± {acc['std']:.4f} | {per_seed} |")
    return "\n".join(lines) + "\n"
