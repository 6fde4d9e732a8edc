"""ESZSL, the closed-form linear baseline scored beside CADA-VAE (Romera-Paredes & Torr, ICML 2015).

    zsdist eval cadavae --run_name cub --split validation --eszsl.feature_reg 10 --eszsl.attribute_reg 1

ESZSL learns one bilinear compatibility score(x, c) = x V s_c between an image feature x (D) and a
class's attribute vector s_c (a), fitted on the seen classes only, in closed form:

    V = (X^T X + gamma I)^-1 X^T Y S (S^T S + lambda I)^-1

with X the (n, D) training features, Y the (n, z) labels of the z seen classes in the paper's +1 / -1
coding (+1 for the image's class, -1 for every other) and S the (z, a) seen class attributes, one row
per class (the paper writes S as its transpose). gamma penalises V in feature space and lambda in
attribute space. A class never seen in training is scored by the same V through its attributes alone,
so predicting the argmax over the seen and unseen classes together gives a GZSL prediction scored by
the same S / U / H protocol as CADA-VAE (zsdist/eval/gzsl_metrics.py), and the argmax over the unseen
classes alone gives its ZSL accuracy. The regularisers are data-dependent: choose them on the
validation split (`--split validation`), never on test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from datagen.errors import ConfigError
from zsdist.eval.gzsl_metrics import gzsl_scores, per_class_accuracy


@dataclass(kw_only=True)
class ESZSLConfig:
    # 10^0 for both: a neutral start, not a tuned value (the paper picks both per dataset, by validation).
    feature_reg: float = 1.0  # the paper's gamma: ridge on V in feature space
    attribute_reg: float = 1.0  # the paper's lambda: ridge on V in attribute space

    def __post_init__(self) -> None:
        for name in ("feature_reg", "attribute_reg"):
            value = getattr(self, name)
            # Both must be > 0: with more attributes than seen classes S^T S is singular (CUB: 312 vs 150).
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"eszsl.{name}={value}: set it to a finite number > 0 (e.g. 1)")


def fit_eszsl(features: np.ndarray, labels: np.ndarray, attributes: np.ndarray, config: ESZSLConfig) -> np.ndarray:
    """V of shape (D, a) from training features (n, D), labels (n,) in [0, z) and seen attributes (z, a)."""
    x = np.asarray(features, dtype=np.float64)
    s = np.asarray(attributes, dtype=np.float64)
    if x.ndim != 2 or s.ndim != 2 or labels.shape != (len(x),):
        raise ValueError(f"features {x.shape}, labels {labels.shape} and attributes {s.shape}: "
                         "need (n, D), (n,) and (z, a)")
    if len(labels) and (labels.min() < 0 or labels.max() >= len(s)):
        raise ValueError(f"labels must index the {len(s)} rows of attributes, got {labels.min()}..{labels.max()}")
    y = -np.ones((len(x), len(s)))
    y[np.arange(len(x)), labels] = 1.0
    # Solve instead of inverting: same V, better conditioned. Both systems are symmetric positive definite.
    left = np.linalg.solve(x.T @ x + config.feature_reg * np.eye(x.shape[1]), x.T @ y @ s)  # (D, a)
    return np.linalg.solve(s.T @ s + config.attribute_reg * np.eye(s.shape[1]), left.T).T


def predict_eszsl(v: np.ndarray, features: np.ndarray, attributes: np.ndarray) -> np.ndarray:
    """The argmax over the rows of attributes (C, a) of x V s_c, for every row x of features (n, D)."""
    return (np.asarray(features, dtype=np.float64) @ v @ np.asarray(attributes, dtype=np.float64).T).argmax(axis=1)


def eszsl_scores(
    *,
    train: tuple[np.ndarray, np.ndarray],
    seen_test: tuple[np.ndarray, np.ndarray],
    unseen_test: tuple[np.ndarray, np.ndarray],
    attributes: np.ndarray,
    num_seen: int,
    config: ESZSLConfig,
) -> dict[str, float]:
    """GZSL S, U, H and ZSL accuracy of ESZSL: {"S", "U", "H", "zsl_accuracy"}.

    Classes are indexed seen first: attributes (C, a) holds the num_seen seen classes, then the unseen
    ones; every label is such an index. train is (features, labels) of seen-class images; seen_test
    and unseen_test are the images scored for S and U.
    """
    seen_ids, unseen_ids = np.arange(num_seen), np.arange(num_seen, len(attributes))
    v = fit_eszsl(*train, attributes[:num_seen], config)
    (seen_x, seen_y), (unseen_x, unseen_y) = seen_test, unseen_test
    metrics = gzsl_scores(seen_y, predict_eszsl(v, seen_x, attributes), unseen_y,
                          predict_eszsl(v, unseen_x, attributes), seen_ids, unseen_ids)
    zsl = predict_eszsl(v, unseen_x, attributes[num_seen:]) + num_seen  # back to indices over all classes
    metrics["zsl_accuracy"] = per_class_accuracy(unseen_y, zsl, unseen_ids)
    return metrics
