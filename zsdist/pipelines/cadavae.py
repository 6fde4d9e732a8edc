"""CADA-VAE's steps as library functions: train on a feature dataset, then evaluate GZSL, ZSL and few-shot.

The CLI (`zsdist train cadavae`, `zsdist eval cadavae`) calls these. Evaluation runs on the CPU in this
process: it encodes every image once and trains small linear classifiers (zsdist/eval/latent_classifier.py).
ESZSL (zsdist/eval/eszsl.py), a closed-form linear baseline, is scored beside it on the same classes and
rows, logged under eval/baseline/eszsl/.

Class roles. split="test": the seen classes train the classifier from their trainval images and are
scored on test_seen; the unseen classes get attribute latents and are scored on test_unseen.
split="validation" (a run trained with validation="pseudo_unseen"): the pseudo-unseen classes play the
unseen role, scored on their trainval images; the remaining seen classes play the seen role, scored on
their held-out 20% of trainval images; the true unseen classes take no part and no test row is used.
`roles` makes that split from the training config alone, so train() and evaluate() agree on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import ray.data
import torch
from ray.data.extensions import ArrowTensorArray

from datagen.errors import ConfigError
from datagen.ray_setup import init_ray
from zsdist import tracking
from zsdist.config import flatten, from_dict, to_dict
from zsdist.data.features import FeatureDataset, read_feature_dataset
from zsdist.eval.eszsl import ESZSLConfig, choose_regularisers, eszsl_scores
from zsdist.eval.gzsl_metrics import gzsl_scores, per_class_accuracy
from zsdist.eval.latent_classifier import ClassifierConfig, build_training_set, predict, train_linear_classifier
from zsdist.models.cadavae import CADAVAE
from zsdist.train.cadavae import CADAVAETrainConfig, loop_config_for, train_loop_per_worker
from zsdist.train.checkpoint import load_state, run_checkpoint, storage_root
from zsdist.train.driver import Scaling, fit

VALIDATION_SEEN_FRACTION = 0.2  # of each training class's trainval images, held out with validation
BLOCK_ROWS = 2048  # rows per Ray Data block of the training rows


@dataclass(kw_only=True)
class CADAVAEEvalConfig:
    run_name: str = "cadavae"
    experiment: str = "cadavae"
    storage_path: str = ""  # where the run's checkpoints are; empty = <workspace>/checkpoints
    data: str = ""  # empty = the dataset the run was trained on
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    shots: tuple[int, ...] = (1, 2, 5, 10)  # generalized few-shot: images per unseen class
    split: Literal["test", "validation"] = "test"
    eszsl: ESZSLConfig = field(default_factory=ESZSLConfig)  # the baseline scored beside CADA-VAE

    def __post_init__(self) -> None:
        if not self.run_name or "/" in self.run_name:
            raise ConfigError(f"run_name must be a non-empty name without '/' (got {self.run_name!r})")
        if any(n < 1 for n in self.shots):
            raise ConfigError(f"shots must all be >= 1 (got {self.shots})")


@dataclass(frozen=True)
class Roles:
    """Global class ids in the seen and unseen roles, and the row indices each part of the data uses."""

    seen: np.ndarray
    unseen: np.ndarray
    train_rows: np.ndarray  # seen-role images the VAE and the classifier train on
    seen_test_rows: np.ndarray
    unseen_test_rows: np.ndarray


def roles(data: FeatureDataset, cfg: CADAVAETrainConfig, *, validation: bool) -> Roles:
    """The test roles, or the validation split seeded by cfg.seed and cfg.pseudo_unseen_fraction."""
    trainval = np.flatnonzero(data.splits == "trainval")
    seen = np.flatnonzero(data.seen)
    if not validation:
        return Roles(seen, np.flatnonzero(~data.seen), trainval, np.flatnonzero(data.splits == "test_seen"),
                     np.flatnonzero(data.splits == "test_unseen"))
    rng = np.random.default_rng(cfg.seed)
    count = max(1, round(cfg.pseudo_unseen_fraction * len(seen)))
    if count >= len(seen):
        raise ConfigError(f"pseudo_unseen_fraction={cfg.pseudo_unseen_fraction} leaves none of the "
                          f"{len(seen)} seen classes to train on: lower it")
    pseudo = np.sort(rng.choice(seen, count, replace=False))
    train_rows, held = [], []
    for label in np.setdiff1d(seen, pseudo):
        rows = rng.permutation(trainval[data.labels[trainval] == label])
        cut = max(1, round(VALIDATION_SEEN_FRACTION * len(rows))) if len(rows) > 1 else 0
        held.append(rows[:cut])
        train_rows.append(rows[cut:])
    return Roles(np.setdiff1d(seen, pseudo), pseudo, np.sort(np.concatenate(train_rows)),
                 np.sort(np.concatenate(held)), trainval[np.isin(data.labels[trainval], pseudo)])


def training_rows(data: FeatureDataset, rows: np.ndarray, seed: int) -> ray.data.Dataset:
    """The rows {feature (D,), label} as a Ray Dataset, shuffled once (seeded) so every block mixes classes."""
    rows = np.random.default_rng(seed).permutation(rows)
    table = pa.table({"feature": ArrowTensorArray.from_numpy(data.features[rows]), "label": data.labels[rows]})
    ray.data.DataContext.get_current().enable_progress_bars = False  # one bar per worker and epoch otherwise
    return ray.data.from_arrow([table.slice(i, BLOCK_ROWS) for i in range(0, len(rows), BLOCK_ROWS)])


def train(cfg: CADAVAETrainConfig) -> tuple[str, Path, dict[str, float]]:
    """Train (or resume) the run `cfg.run_name`; returns (MLflow run id, checkpoint dir, final metrics)."""
    if not cfg.data:
        raise ConfigError("no dataset given: pass --data DIR (made by `zsdist datagen xlsa17 --out DIR`)")
    data_dir = Path(cfg.data).expanduser().resolve()
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
         "model.parameters": parameters})
    if cfg.validation == "pseudo_unseen":
        tracking.log_json(run_id, {"pseudo_unseen": [data.class_names[c] for c in split.unseen],
                                   "validation_seen_images": len(split.seen_test_rows)}, "validation.json")
    try:
        result = fit(
            train_loop_per_worker,
            loop_config_for(cfg, attributes=data.attributes.tolist(), mlflow_run_id=run_id),
            run_name=cfg.run_name,
            storage_path=Path(cfg.storage_path),
            scaling=Scaling(num_workers=cfg.num_workers, use_gpu=cfg.use_gpu, cpus_per_worker=cfg.cpus_per_worker),
            datasets={"train": training_rows(data, split.train_rows, cfg.seed)},
            max_failures=cfg.max_failures,
        )
    except BaseException:
        tracking.finish_run(run_id, status="FAILED")
        raise
    tracking.finish_run(run_id)
    return run_id, Path(result.checkpoint.path), dict(result.metrics)


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
    data = read_feature_dataset(Path(cfg.data or trained.data).expanduser().resolve())
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


def local_class_ids(data: FeatureDataset, split: Roles) -> np.ndarray:
    """Global class id -> its index among the roles' classes, seen role first (-1: no role)."""
    local = np.full(len(data.class_names), -1)
    local[np.concatenate([split.seen, split.unseen])] = np.arange(len(split.seen) + len(split.unseen))
    return local


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


@torch.no_grad()
def scores(model: CADAVAE, data: FeatureDataset, split: Roles, classifier: ClassifierConfig,
           shots: tuple[int, ...]) -> dict[str, float]:
    """GZSL S/U/H, ZSL accuracy and generalized few-shot S/U/H; classes are indexed seen role first."""
    local = local_class_ids(data, split)  # global class id -> classifier output index
    seen_ids = np.arange(len(split.seen))
    unseen_ids = np.arange(len(split.seen), len(split.seen) + len(split.unseen))

    def images(rows: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
        return torch.from_numpy(data.features[rows]), local[data.labels[rows]]

    x, labels = images(split.train_rows)
    seen_latents = (*model.image.encode(x), torch.from_numpy(labels))  # mu, logvar, labels
    attribute_latents = model.attribute.encode(torch.from_numpy(data.attributes[split.unseen]))
    seen_x, seen_y = images(split.seen_test_rows)
    unseen_x, unseen_y = images(split.unseen_test_rows)
    seen_means, unseen_means = model.encode_image_means(seen_x), model.encode_image_means(unseen_x)

    def classify(seen: tuple, unseen_labels: np.ndarray, **shot: torch.Tensor) -> torch.nn.Linear:
        generator = torch.Generator().manual_seed(classifier.seed)  # the same noise for every classifier
        features, targets = build_training_set(
            *seen, *attribute_latents, torch.from_numpy(unseen_labels), classifier,
            lambda mu, logvar: model.sample_latents(mu, logvar, generator), **shot)
        return train_linear_classifier(features, targets, int(unseen_labels.max()) + 1, classifier)

    def gzsl(clf: torch.nn.Linear, keep: np.ndarray) -> dict[str, float]:
        return gzsl_scores(seen_y, predict(clf, seen_means).numpy(), unseen_y[keep],
                           predict(clf, unseen_means[keep]).numpy(), seen_ids, unseen_ids)

    metrics = gzsl(classify(seen_latents, unseen_ids), np.arange(len(unseen_y)))
    # ZSL: a classifier of the unseen classes alone (outputs 0..U-1), trained on attribute latents only.
    zsl = classify(tuple(t[:0] for t in seen_latents), unseen_ids - len(seen_ids))
    metrics["zsl_accuracy"] = per_class_accuracy(unseen_y - len(seen_ids), predict(zsl, unseen_means).numpy(),
                                                 unseen_ids - len(seen_ids))
    for n in shots:
        # n images per unseen class move into the classifier's training set; one always stays to be scored.
        rng = np.random.default_rng([classifier.seed, n])
        picked = np.concatenate([np.zeros(0, np.int64)] + [
            rng.permutation(rows)[:min(n, len(rows) - 1)] for c in unseen_ids
            if len(rows := np.flatnonzero(unseen_y == c))])
        shot_mu, shot_logvar = model.image.encode(unseen_x[picked])
        clf = classify(seen_latents, unseen_ids, shot_mu=shot_mu, shot_logvar=shot_logvar,
                       shot_labels=torch.from_numpy(unseen_y[picked]))
        few = gzsl(clf, np.setdiff1d(np.arange(len(unseen_y)), picked))
        metrics |= {f"fewshot_{n}/{k}": v for k, v in few.items()}
    return metrics
