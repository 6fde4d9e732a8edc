"""CADA-VAE's steps as library functions: train on a feature dataset, then evaluate GZSL, ZSL and few-shot.

The CLI (`zsdist train cadavae`, `zsdist eval cadavae`) calls these. Evaluation runs on the CPU in this
process: it encodes every image once and trains small linear classifiers (zsdist/eval/latent_classifier.py).
ESZSL (zsdist/eval/eszsl.py), a closed-form linear baseline, is scored beside it on the same classes and
rows, logged under eval/baseline/eszsl/.

Class roles (zsdist/data/zsl_roles.py): split="test" scores the unseen classes on test_unseen and the
seen ones on test_seen; split="validation" (a run trained with validation="pseudo_unseen") scores
pseudo-unseen classes and held-out trainval images, and no test row is used. The scores themselves are
zsdist/eval/cadavae_scores.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import ray.data
from ray.data.extensions import ArrowTensorArray

from datagen.errors import ConfigError
from datagen.ray_setup import init_ray
from datagen.storage import location
from zsdist import tracking
from zsdist.config import flatten, from_dict, to_dict
from zsdist.data.features import FeatureDataset, read_feature_dataset
from zsdist.data.kinds import require_kind
from zsdist.data.zsl_roles import Roles, local_class_ids, roles
from zsdist.eval.cadavae_scores import scores
from zsdist.eval.eszsl import ESZSLConfig, choose_regularisers, eszsl_scores
from zsdist.eval.latent_classifier import ClassifierConfig
from zsdist.models.cadavae import CADAVAE
from zsdist.run_config import RunConfig
from zsdist.train.cadavae import CADAVAETrainConfig, loop_config_for, train_loop_per_worker
from zsdist.train.checkpoint import load_state, result_checkpoint, run_checkpoint, storage_root
from zsdist.train.driver import Scaling, fit

BLOCK_ROWS = 2048  # rows per Ray Data block of the training rows


@dataclass(kw_only=True)
class CADAVAEEvalConfig(RunConfig):
    run_name: str = "cadavae"  # the training run to evaluate
    experiment: str = "cadavae"  # the MLflow experiment the run is in
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    shots: tuple[int, ...] = (1, 2, 5, 10)  # generalized few-shot: images per unseen class
    # test (the unseen classes) or validation (the run's pseudo-unseen classes; no test row)
    split: Literal["test", "validation"] = "test"
    eszsl: ESZSLConfig = field(default_factory=ESZSLConfig)  # the baseline scored beside CADA-VAE

    def __post_init__(self) -> None:
        super().__post_init__()
        if any(n < 1 for n in self.shots):
            raise ConfigError(f"shots must all be >= 1 (got {self.shots})")


def training_rows(data: FeatureDataset, rows: np.ndarray, seed: int) -> ray.data.Dataset:
    """The rows {feature (D,), label} as a Ray Dataset, shuffled once (seeded) so every block mixes classes."""
    rows = np.random.default_rng(seed).permutation(rows)
    table = pa.table({"feature": ArrowTensorArray.from_numpy(data.features[rows]), "label": data.labels[rows]})
    ray.data.DataContext.get_current().enable_progress_bars = False  # one bar per worker and epoch otherwise
    return ray.data.from_arrow([table.slice(i, BLOCK_ROWS) for i in range(0, len(rows), BLOCK_ROWS)])


def train(cfg: CADAVAETrainConfig, *, parent_run_id: str | None = None,
          callbacks: list | None = None) -> tuple[str, Path, dict[str, float]]:
    """Train (or resume) the run `cfg.run_name`; returns (MLflow run id, checkpoint dir, final metrics).

    parent_run_id nests its MLflow run under another; callbacks go to Ray Train (a search's reporter).
    """
    if not cfg.data:
        raise ConfigError("no dataset given: pass --data DIR (made by `zsdist datagen xlsa17 --out DIR`)")
    data_dir = location(cfg.data)
    require_kind(data_dir, "features", "zsdist train cadavae")
    data = read_feature_dataset(data_dir)
    dims = {"feature_dim": data.features.shape[1], "attribute_dim": data.attributes.shape[1]}
    cfg = replace(cfg, data=str(data_dir), storage_path=str(storage_root(cfg.storage_path)),
                  model=replace(cfg.model, **dims))
    split = roles(data, cfg, validation=cfg.validation == "pseudo_unseen")
    init_ray()
    parameters = sum(p.numel() for p in CADAVAE(cfg.model).parameters())
    run_id = tracking.start_or_resume_run(
        cfg.experiment, cfg.run_name, to_dict(cfg),
        {**flatten(cfg), "dataset.name": data.description["name"], "dataset.train_rows": len(split.train_rows),
         "model.parameters": parameters}, parent_run_id=parent_run_id)
    if cfg.validation == "pseudo_unseen":
        tracking.log_json(run_id, {"pseudo_unseen": [data.class_names[c] for c in split.unseen],
                                   "validation_seen_images": len(split.seen_test_rows)}, "validation.json")
    try:
        result = fit(
            train_loop_per_worker,
            loop_config_for(cfg, attributes=data.attributes.tolist(), mlflow_run_id=run_id),
            run_name=cfg.run_name,
            storage_path=storage_root(cfg.storage_path),
            scaling=Scaling(num_workers=cfg.num_workers, use_gpu=cfg.use_gpu, cpus_per_worker=cfg.cpus_per_worker),
            datasets={"train": training_rows(data, split.train_rows, cfg.seed)},
            max_failures=cfg.max_failures,
            callbacks=callbacks,
        )
    except BaseException:
        tracking.finish_run(run_id, status="FAILED")
        raise
    tracking.finish_run(run_id)
    return run_id, result_checkpoint(result.checkpoint, cfg.storage_path), dict(result.metrics)


def evaluate(cfg: CADAVAEEvalConfig) -> dict[str, float]:
    """Score the run's latest checkpoint: S/U/H, ZSL accuracy and few-shot S/U/H, logged under eval/.

    ESZSL's S/U/H and ZSL accuracy on the same roles come with them as baseline/eszsl/<name>, with the
    regularisers it chose on the validation roles.
    split="validation" logs under eval/validation/ instead. The JSON artifact eval/<split>.json holds
    the metrics and the classes of each role.
    """
    checkpoint = run_checkpoint(cfg.storage_path, cfg.run_name, train_command="zsdist train cadavae")
    state = load_state(checkpoint)
    trained = from_dict(CADAVAETrainConfig, state["config"])
    if cfg.split == "validation" and trained.validation != "pseudo_unseen":
        raise ConfigError(f"run '{cfg.run_name}' was trained with validation={trained.validation}: "
                          "train with --validation pseudo_unseen to evaluate --split validation")
    data_dir = location(cfg.data or trained.data)
    require_kind(data_dir, "features", "zsdist eval cadavae")
    data = read_feature_dataset(data_dir)
    model = CADAVAE(trained.model)
    model.load_state_dict(state["model"])
    model.eval()
    split = roles(data, trained, validation=cfg.split == "validation")
    metrics = scores(model, data, split, cfg.classifier, cfg.shots)
    # The validation roles pick ESZSL's regularisers (and are the scored roles too with split="validation").
    baseline = baseline_scores(data, split, cfg.eszsl, validation=roles(data, trained, validation=True))
    metrics |= {f"baseline/eszsl/{k}": v for k, v in baseline.items()}
    prefix = "eval/" if cfg.split == "test" else "eval/validation/"
    run_id = tracking.start_or_resume_run(cfg.experiment, cfg.run_name, state["config"], flatten(state["config"]))
    tracking.log_metrics(run_id, {prefix + k: v for k, v in metrics.items()}, step=state["epoch"])
    names = {role: [data.class_names[c] for c in getattr(split, role)] for role in ("seen", "unseen")}
    tracking.log_json(run_id, {"metrics": metrics, "epoch": state["epoch"], "classes": names},
                      f"eval/{cfg.split}.json")
    tracking.finish_run(run_id)
    return metrics


def baseline_scores(data: FeatureDataset, split: Roles, config: ESZSLConfig, *, validation: Roles) -> dict[str, float]:
    """ESZSL's GZSL S/U/H and ZSL accuracy, trained and scored on the same rows as `scores`.

    With config.choose="validation" its regularisers are first picked on the `validation` roles (no
    test row), and come back with the scores as feature_reg, attribute_reg and validation_H.
    """
    chosen = {}
    if config.choose == "validation":
        feature_reg, attribute_reg, picked = choose_regularisers(**eszsl_problem(data, validation), grid=config.grid)
        config = replace(config, choose="fixed", feature_reg=feature_reg, attribute_reg=attribute_reg)
        chosen = {"feature_reg": feature_reg, "attribute_reg": attribute_reg, "validation_H": picked["H"]}
    return eszsl_scores(**eszsl_problem(data, split), config=config) | chosen


def eszsl_problem(data: FeatureDataset, split: Roles) -> dict:
    """The arrays ESZSL fits and is scored on for these roles, classes indexed seen role first."""
    local = local_class_ids(data, split)

    def images(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return data.features[rows], local[data.labels[rows]]

    return {"train": images(split.train_rows), "seen_test": images(split.seen_test_rows),
            "unseen_test": images(split.unseen_test_rows),
            "attributes": data.attributes[np.concatenate([split.seen, split.unseen])], "num_seen": len(split.seen)}
