"""Scores for the polar-curve zero-shot experiment: how the VAE does inside the hole vs outside.

Pure numpy, no torch, no Ray, no I/O, so the evaluation job, notebooks and tests share one
definition.
Images are float arrays in [0, 1] of shape (N, H, W) (any trailing shape works; it is flattened).
The reference for every reconstruction score is a nearest-training-image baseline: inside the hole
the model should beat copying the closest curve it has seen, or it has not generalised.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping

import numpy as np

# Always reported, so the MLflow metric names of a run do not depend on which splits it evaluated.
KNOWN_SPLITS = ("train", "test", "hole", "P1", "P2", "P3")
TARGETS = ("a", "b")
_MLFLOW_NAME = re.compile(r"[A-Za-z0-9_\-./]+")


def _flat_pair(images: np.ndarray, recons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(images, dtype=np.float64)
    y = np.asarray(recons, dtype=np.float64)
    if x.shape != y.shape or x.ndim < 2:
        raise ValueError(f"images {x.shape} and recons {y.shape} must share one (N, H, W) shape")
    return x.reshape(len(x), -1), y.reshape(len(y), -1)


def pixel_mse(images: np.ndarray, recons: np.ndarray) -> np.ndarray:
    """Mean squared pixel error per image, shape (N,)."""
    x, y = _flat_pair(images, recons)
    return ((x - y) ** 2).mean(axis=1)


def dice(images: np.ndarray, recons: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Dice 2|A∩B|/(|A|+|B|) of the curves (pixels > threshold) per image, shape (N,).

    A shape measure that MSE misses: a curve shifted by a line width has a poor Dice but a modest
    MSE, because the black background dominates the pixel average. Two empty images agree: 1.0.
    """
    x, y = _flat_pair(images, recons)
    a, b = x > threshold, y > threshold
    overlap = (a & b).sum(axis=1)
    total = a.sum(axis=1) + b.sum(axis=1)
    return np.where(total == 0, 1.0, 2.0 * overlap / np.maximum(total, 1))


def nearest_neighbour(
    queries: np.ndarray, train_images: np.ndarray, *, chunk: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Index of the training image with the least pixel MSE to each query, and that exact MSE.

    Distances come from ||q||² + ||t||² - 2 q·t over `chunk` queries at a time, so memory is
    chunk x len(train) rather than len(queries) x len(train) x pixels. ||q||² is the same for every
    candidate of one query, so it is left out of the argmin. float32 inputs stay float32 (no float64
    copy of a large training set); the chosen pair's MSE is then recomputed exactly in float64.
    """
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    q, t = np.asarray(queries), np.asarray(train_images)
    if q.ndim < 2 or q.shape[1:] != t.shape[1:]:
        raise ValueError(f"queries {q.shape} and train_images {t.shape} must share the image shape")
    if len(t) == 0:
        raise ValueError("train_images is empty")
    dtype = np.result_type(q.dtype, t.dtype, np.float32)
    q_flat = q.reshape(len(q), -1).astype(dtype, copy=False)
    t_flat = t.reshape(len(t), -1).astype(dtype, copy=False)
    t_sq = np.einsum("ij,ij->i", t_flat, t_flat)

    indices = np.empty(len(q), dtype=np.int64)
    mse = np.empty(len(q), dtype=np.float64)
    for start in range(0, len(q), chunk):
        block = q_flat[start : start + chunk]
        partial = t_sq[None, :] - 2.0 * (block @ t_flat.T)
        best = np.argmin(partial, axis=1)
        indices[start : start + chunk] = best
        diff = block.astype(np.float64) - t_flat[best].astype(np.float64)
        mse[start : start + chunk] = (diff**2).mean(axis=1)
    return indices, mse


def default_distance_edges(hole_radius: float) -> np.ndarray:
    """Bin edges for distance from the hole centre: 0, r/3, 2r/3, r, 1.5r, 2r, 3r, inf.

    Fine inside the hole, where the question is how error grows with depth into unseen territory
    (and each third still holds enough hole points); coarser outside, where the training data is
    dense and error should level off. The open last bin takes the domain's corners (up to ~4.2r
    for the reference hole of 0.3 around (1.25, 1)).
    """
    if hole_radius <= 0:
        raise ValueError(f"hole_radius must be positive, got {hole_radius}")
    r = float(hole_radius)
    return np.array([0.0, r / 3, 2 * r / 3, r, 1.5 * r, 2 * r, 3 * r, math.inf])


def binned(
    values: np.ndarray, distances: np.ndarray, edges: np.ndarray
) -> list[dict[str, float | int]]:
    """Count, mean and (population) std of `values` per distance bin [lo, hi).

    The last bin is closed, so a finite top edge still counts a row lying exactly on it.
    Empty bins have n=0 and NaN mean/std; rows outside all edges are not counted.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    d = np.asarray(distances, dtype=np.float64).ravel()
    e = np.asarray(edges, dtype=np.float64)
    if v.shape != d.shape:
        raise ValueError(f"values {v.shape} and distances {d.shape} differ in length")
    if e.ndim != 1 or len(e) < 2 or np.any(np.diff(e) <= 0):
        raise ValueError(f"edges must be 1-D, increasing, with >= 2 entries: {e}")
    bins: list[dict[str, float | int]] = []
    for k, (lo, hi) in enumerate(itertools.pairwise(e)):
        upper = d <= hi if k == len(e) - 2 else d < hi
        selected = v[(d >= lo) & upper]
        bins.append(
            {
                "lo": float(lo),
                "hi": float(hi),
                "n": int(selected.size),
                "mean": _mean(selected),
                "std": float(selected.std()) if selected.size else math.nan,
            }
        )
    return bins


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else math.nan


def _design_matrix(mu: np.ndarray) -> np.ndarray:
    m = np.asarray(mu, dtype=np.float64)
    m = m[:, None] if m.ndim == 1 else m
    return np.hstack([m, np.ones((len(m), 1))])


def _r2_scores(ab: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    scores: dict[str, float] = {"n": float(len(ab))}
    for column, target in enumerate(TARGETS):
        y = ab[:, column]
        # A constant target (e.g. a along transect P1) has no variance to explain: R² is undefined.
        if len(y) < 2 or np.ptp(y) == 0:
            scores[f"r2_{target}"] = math.nan
            continue
        ss_res = float(((y - predicted[:, column]) ** 2).sum())
        ss_tot = float(((y - y.mean()) ** 2).sum())
        scores[f"r2_{target}"] = 1.0 - ss_res / ss_tot
    defined = [scores[f"r2_{t}"] for t in TARGETS if not math.isnan(scores[f"r2_{t}"])]
    scores["r2_mean"] = float(np.mean(defined)) if defined else math.nan
    return scores


def latent_r2(
    train_mu: np.ndarray,
    train_ab: np.ndarray,
    eval_sets: Mapping[str, tuple[np.ndarray, np.ndarray]],
) -> dict[str, dict[str, float]]:
    """R² of a linear read-out of (a, b) from latent means, fitted on training rows only.

    One least-squares fit with intercept on (train_mu, train_ab); then for every named set
    (e.g. "inside", "outside") {"n", "r2_a", "r2_b", "r2_mean"}, where R² = 1 - SS_res/SS_tot on
    that set. Sets with < 2 rows, or a constant target, give NaN for that target; r2_mean averages
    the targets whose R² is defined. High R² outside but low inside means the latent sheet bends
    or tears across the hole rather than filling it in.
    """
    x = _design_matrix(train_mu)
    y = np.asarray(train_ab, dtype=np.float64)
    if y.shape != (len(x), len(TARGETS)):
        raise ValueError(f"train_ab must have shape ({len(x)}, 2), got {y.shape}")
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    results: dict[str, dict[str, float]] = {}
    for name, (mu, ab) in eval_sets.items():
        xs = _design_matrix(mu)
        ys = np.asarray(ab, dtype=np.float64)
        if xs.shape[1] != x.shape[1] or ys.shape != (len(xs), len(TARGETS)):
            raise ValueError(f"eval set {name!r}: mu {xs.shape[1] - 1}-D or ab {ys.shape} mismatch")
        results[name] = _r2_scores(ys, xs @ coef)
    return results


def _put(metrics: dict[str, float], name: str, value: float) -> None:
    # Split and set names become part of metric names, so catch invalid or colliding ones here
    # rather than as an MLflow error after a long evaluation.
    if not _MLFLOW_NAME.fullmatch(name):
        raise ValueError(f"metric name {name!r} is not MLflow-valid")
    if name in metrics:
        raise ValueError(f"metric name {name!r} produced twice")
    metrics[name] = float(value)


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator != 0 else math.nan


def summarise_polar(
    *,
    mse: np.ndarray,
    dice: np.ndarray,
    nn_mse: np.ndarray,
    nn_dice: np.ndarray,
    in_hole: np.ndarray,
    hole_distance: np.ndarray,
    split: np.ndarray,
    hole_radius: float = 0.3,
    distance_edges: np.ndarray | None = None,
    latent_r2_by_set: Mapping[str, Mapping[str, float]] | None = None,
) -> dict[str, float]:
    """Flat dict of float metrics for MLflow from per-row scores of the evaluation rows.

    Groups:
      inside  = rows in the hole that were never trained on (split != "train"): the hole split plus
                the transect points that fall in the hole.
      outside = test-split rows outside the hole: a uniform held-out sample of the training
                distribution, the in-distribution reference. Transect rows outside the hole are
                reported per transect only, so they do not skew this reference.
    Names: {mse,dice,nn_mse,nn_dice,n}_{inside,outside}; {mse,dice}_{inside,outside}_minus_nn
    (model - baseline: negative MSE / positive Dice = model better than copying the closest seen
    curve); mse_beats_nn_frac_{inside,outside} (fraction of rows where the model's MSE is lower);
    {mse,dice}_ratio_inside_outside; per distance bin k over inside ∪ outside rows
    {mse,dice,nn_mse,nn_dice,n}_bin{k} with bin k = [edges[k], edges[k+1]); per split
    {mse,dice,nn_mse,nn_dice,n}_{split} for KNOWN_SPLITS (always, NaN when absent) and any other
    split present; latent_r2_{a,b,mean}_{set} when `latent_r2_by_set` (from latent_r2) is given.
    """
    scores = {
        "mse": np.asarray(mse, dtype=np.float64).ravel(),
        "dice": np.asarray(dice, dtype=np.float64).ravel(),
        "nn_mse": np.asarray(nn_mse, dtype=np.float64).ravel(),
        "nn_dice": np.asarray(nn_dice, dtype=np.float64).ravel(),
    }
    hole = np.asarray(in_hole, dtype=bool).ravel()
    distance = np.asarray(hole_distance, dtype=np.float64).ravel()
    labels = np.asarray(split).astype(str).ravel()
    lengths = {len(a) for a in (*scores.values(), hole, distance, labels)}
    if len(lengths) != 1:
        raise ValueError(f"per-row arrays differ in length: {sorted(lengths)}")

    inside = hole & (labels != "train")
    outside = ~hole & (labels == "test")
    metrics: dict[str, float] = {}

    def put_group(suffix: str, mask: np.ndarray) -> None:
        for score, values in scores.items():
            _put(metrics, f"{score}_{suffix}", _mean(values[mask]))
        _put(metrics, f"n_{suffix}", int(mask.sum()))

    for group, mask in (("inside", inside), ("outside", outside)):
        put_group(group, mask)
        _put(metrics, f"mse_{group}_minus_nn", metrics[f"mse_{group}"] - metrics[f"nn_mse_{group}"])
        dice_gain = metrics[f"dice_{group}"] - metrics[f"nn_dice_{group}"]
        _put(metrics, f"dice_{group}_minus_nn", dice_gain)
        beats = scores["mse"][mask] < scores["nn_mse"][mask]
        _put(metrics, f"mse_beats_nn_frac_{group}", _mean(beats.astype(np.float64)))
    for score in ("mse", "dice"):
        ratio = _ratio(metrics[f"{score}_inside"], metrics[f"{score}_outside"])
        _put(metrics, f"{score}_ratio_inside_outside", ratio)

    edges = default_distance_edges(hole_radius) if distance_edges is None else distance_edges
    evaluated = inside | outside
    for score, values in scores.items():
        for k, bin_ in enumerate(binned(values[evaluated], distance[evaluated], edges)):
            _put(metrics, f"{score}_bin{k}", bin_["mean"])
            if score == "mse":
                _put(metrics, f"n_bin{k}", bin_["n"])

    extra_splits = sorted(set(labels) - set(KNOWN_SPLITS))
    for label in (*KNOWN_SPLITS, *extra_splits):
        put_group(label, labels == label)

    for set_name, r2 in (latent_r2_by_set or {}).items():
        for key in (*(f"r2_{t}" for t in TARGETS), "r2_mean"):
            _put(metrics, f"latent_{key}_{set_name}", r2[key])
    return metrics
