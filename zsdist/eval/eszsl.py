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
classes alone gives its ZSL accuracy. The regularisers are data-dependent. By default
(`choose="validation"`) both are picked from `grid` (the paper's 10^-3 .. 10^3) by the H they reach on
the validation roles, pseudo-unseen classes held out of trainval (zsdist.data.zsl_roles.roles), so
no test row takes part in the choice; `choose="fixed"` uses feature_reg and attribute_reg as given.
The 49 fits of the grid share two eigendecompositions (`fit_eszsl_grid`), so the search costs about
two fits.

Centring (`centre`, on by default; not in the paper): the model has no intercept, so what every class's
attribute vector shares is fitted too. With the +1 / -1 coding, Y S = 2 s_c - sum_k s_k: when the seen
classes' attributes have a large common part (z-scored attributes, whose seen-class sum is minus the
unseen-class sum), x V carries it for every image and each class gets a bonus that grows with the
length of its attribute vector and its overlap with that part, whatever the image. On Fonts-ZSL one
unseen font then took every prediction. Subtracting the seen classes' mean attribute vector from every
class (seen and unseen; computed from seen classes only) removes the shared part and leaves the
ranking to what tells classes apart. `--eszsl.centre false` gives the paper's model.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np

from zsdist.base.errors import ConfigError
from zsdist.eval.calibration import ClassScores
from zsdist.eval.gzsl_metrics import per_class_accuracy


@dataclass(kw_only=True)
class ESZSLConfig:
    choose: Literal["validation", "fixed"] = "validation"  # pick both regularisers from grid, or use them
    grid: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)  # the paper's 10^-3 .. 10^3
    feature_reg: float = 1.0  # the paper's gamma: ridge on V in feature space (choose="fixed")
    attribute_reg: float = 1.0  # the paper's lambda: ridge on V in attribute space (choose="fixed")
    # subtract the seen classes' mean attribute vector from every class's first (ESZSL has no intercept)
    centre: bool = True

    def __post_init__(self) -> None:
        # All must be > 0: with more attributes than seen classes S^T S is singular (CUB: 312 vs 150).
        for name in ("feature_reg", "attribute_reg"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"eszsl.{name}={value}: set it to a finite number > 0 (e.g. 1)")
        if not self.grid or not all(math.isfinite(v) and v > 0 for v in self.grid):
            raise ConfigError(f"eszsl.grid={self.grid}: give one or more finite numbers > 0 (e.g. 0.1,1,10)")


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


def fit_eszsl_grid(features: np.ndarray, labels: np.ndarray, attributes: np.ndarray,
                   grid: tuple[float, ...]) -> Iterator[tuple[float, float, np.ndarray]]:
    """(feature_reg, attribute_reg, V) for every pair of values in grid: the same V as fit_eszsl gives.

    With X^T X = U diag(e) U^T and S^T S = W diag(f) W^T, V = U [(U^T X^T Y S W) / ((e_i + g)(f_j + l))] W^T:
    each pair costs two matrix products instead of two linear solves.
    """
    x = np.asarray(features, dtype=np.float64)
    s = np.asarray(attributes, dtype=np.float64)
    y = -np.ones((len(x), len(s)))
    y[np.arange(len(x)), labels] = 1.0
    e, u = np.linalg.eigh(x.T @ x)
    f, w = np.linalg.eigh(s.T @ s)
    rotated = u.T @ (x.T @ y @ s) @ w  # (D, a)
    for feature_reg in grid:
        for attribute_reg in grid:
            scaled = rotated / np.outer(e + feature_reg, f + attribute_reg)
            yield feature_reg, attribute_reg, u @ scaled @ w.T


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
    return scores_of(fit_eszsl(*train, attributes[:num_seen], config), seen_test, unseen_test, attributes, num_seen)


def choose_regularisers(
    *,
    train: tuple[np.ndarray, np.ndarray],
    seen_test: tuple[np.ndarray, np.ndarray],
    unseen_test: tuple[np.ndarray, np.ndarray],
    attributes: np.ndarray,
    num_seen: int,
    grid: tuple[float, ...],
) -> tuple[float, float, dict[str, float]]:
    """(feature_reg, attribute_reg, their scores) of the grid pair with the best H on the given roles.

    Meant for validation roles (seen_test: held-out images of training classes; unseen_test: images of
    pseudo-unseen classes). Ties go to the higher ZSL accuracy, then to the first pair in grid order.
    """
    best = None
    for feature_reg, attribute_reg, v in fit_eszsl_grid(*train, attributes[:num_seen], grid):
        metrics = scores_of(v, seen_test, unseen_test, attributes, num_seen)
        if best is None or (metrics["H"], metrics["zsl_accuracy"]) > (best[2]["H"], best[2]["zsl_accuracy"]):
            best = (feature_reg, attribute_reg, metrics)
    return best


def class_scores(v: np.ndarray, seen_test: tuple[np.ndarray, np.ndarray], unseen_test: tuple[np.ndarray, np.ndarray],
                 attributes: np.ndarray, num_seen: int) -> ClassScores:
    """x V s_c for every image and class (classes indexed seen first), for S / U / H and calibration."""
    (seen_x, seen_y), (unseen_x, unseen_y) = seen_test, unseen_test
    s = np.asarray(attributes, dtype=np.float64)
    return ClassScores(seen=np.asarray(seen_x, dtype=np.float64) @ v @ s.T, seen_labels=seen_y,
                       unseen=np.asarray(unseen_x, dtype=np.float64) @ v @ s.T, unseen_labels=unseen_y,
                       num_seen=num_seen)


def scores_of(v: np.ndarray, seen_test: tuple[np.ndarray, np.ndarray], unseen_test: tuple[np.ndarray, np.ndarray],
              attributes: np.ndarray, num_seen: int) -> dict[str, float]:
    """GZSL S, U, H and ZSL accuracy of a fitted V (classes indexed seen first, as eszsl_scores)."""
    return gzsl_and_zsl(class_scores(v, seen_test, unseen_test, attributes, num_seen))


def gzsl_and_zsl(scored: ClassScores) -> dict[str, float]:
    """S, U, H of the argmax over all classes and ZSL accuracy of the argmax over the unseen ones alone."""
    metrics = scored.scores()
    zsl = scored.unseen[:, scored.num_seen:].argmax(axis=1) + scored.num_seen  # back to indices over all classes
    classes = np.arange(scored.num_seen, scored.unseen.shape[1])
    metrics["zsl_accuracy"] = per_class_accuracy(scored.unseen_labels, zsl, classes)
    return metrics
