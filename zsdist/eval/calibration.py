"""Calibrated stacking and the seen-unseen accuracy curve (Chao, Changpinyo, Gong and Sha, ECCV 2016).

A generalized zero-shot classifier scores every class and takes the argmax over seen and unseen classes
together. Trained on seen-class images only, it scores seen classes too high, and unseen images go to
seen classes (Fonts-ZSL's CADA-VAE: S 0.999, U 0.037). Calibrated stacking subtracts one constant gamma
from every seen class's score before the argmax:

    predict(x) = argmax_c  score(x, c) - gamma * [c is seen]

gamma = 0 is the uncalibrated classifier; a large gamma sends every image to an unseen class. gamma
must be chosen without test rows: on validation roles (pseudo-unseen classes, zsdist/data/zsl_roles.py)
the H of every gamma is known exactly (`SeenUnseenCurve.best_gamma`), and that gamma is then applied to
the test scores (`ClassScores.scores(gamma)`).

Sweeping gamma from -inf to +inf traces S (mean per-class accuracy of seen-class images over all
classes) against U (the same for unseen-class images), from (S_max, 0) to (0, U_max). The area under
that curve, AUSUC, summarises the trade-off without choosing gamma, so it is a fair test figure.

The sweep is exact, not sampled. For an image with best seen score s and best unseen score u, the
prediction flips from the best seen class to the best unseen class at gamma = s - u (its threshold;
at equality the argmax keeps the seen class, which comes first). A seen image counts as right while
gamma <= its threshold and only if its best seen class is its own; an unseen image from the next
threshold on and only if its best unseen class is its own. Between consecutive thresholds nothing
changes, so the curve has one point per interval between the distinct thresholds.

Classes are indexed seen role first, as everywhere in zsdist: columns [0, num_seen) are seen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zsdist.eval.gzsl_metrics import gzsl_scores


@dataclass(frozen=True)
class SeenUnseenCurve:
    """S and U on every interval of gamma; interval k is (edges[k-1], edges[k]], the first and last open."""

    edges: np.ndarray  # (m,) the distinct thresholds, ascending
    seen: np.ndarray  # (m + 1,) S on each interval, non-increasing
    unseen: np.ndarray  # (m + 1,) U on each interval, non-decreasing

    @property
    def harmonic(self) -> np.ndarray:
        total = self.seen + self.unseen
        return np.divide(2 * self.seen * self.unseen, total, out=np.zeros_like(total), where=total > 0)

    @property
    def ausuc(self) -> float:
        """Area under S as a function of U (trapezoids between the curve's points)."""
        return float(np.sum(np.diff(self.unseen) * (self.seen[1:] + self.seen[:-1]) / 2))

    def gamma_of(self, interval: int) -> float:
        """A gamma inside an interval: its midpoint, or one mean gap beyond the outermost threshold."""
        if len(self.edges) == 0:
            return 0.0
        gap = float(np.mean(np.diff(self.edges))) if len(self.edges) > 1 else 1.0
        if interval == 0:
            return float(self.edges[0]) - gap
        if interval == len(self.edges):
            return float(self.edges[-1]) + gap
        return float(self.edges[interval - 1] + self.edges[interval]) / 2

    def best_gamma(self) -> float:
        """The gamma of highest H, in the middle of the first run of intervals that share the best H.

        The middle of the run, not its first interval, since test thresholds differ from validation
        ones and a gamma on the edge of the best plateau falls off it sooner.
        """
        h = self.harmonic
        first = int(np.argmax(h))
        last = first
        while last + 1 < len(h) and h[last + 1] == h[first]:
            last += 1
        if first == last:
            return self.gamma_of(first)
        return (self.gamma_of(first) + self.gamma_of(last)) / 2


@dataclass(frozen=True)
class ClassScores:
    """A classifier's scores over all classes (seen first) for the images that S and U are measured on."""

    seen: np.ndarray  # (n_seen_images, C) scores of seen-class images
    seen_labels: np.ndarray  # (n_seen_images,) class indices in [0, num_seen)
    unseen: np.ndarray  # (n_unseen_images, C)
    unseen_labels: np.ndarray  # (n_unseen_images,) class indices in [num_seen, C)
    num_seen: int

    def __post_init__(self) -> None:
        columns = {self.seen.shape[1], self.unseen.shape[1]}
        if self.seen.ndim != 2 or self.unseen.ndim != 2 or len(columns) != 1 or not 0 < self.num_seen < min(columns):
            raise ValueError(f"scores {self.seen.shape} and {self.unseen.shape} with num_seen={self.num_seen}: "
                             "need (n, C) arrays of the same C, with 0 < num_seen < C")

    def predictions(self, scores: np.ndarray, gamma: float) -> np.ndarray:
        shifted = np.array(scores, dtype=np.float64)
        shifted[:, :self.num_seen] -= gamma
        return shifted.argmax(axis=1)

    def scores(self, gamma: float = 0.0) -> dict[str, float]:
        """S, U and H of the argmax after subtracting gamma from the seen classes' scores."""
        classes = self.seen.shape[1]
        return gzsl_scores(self.seen_labels, self.predictions(self.seen, gamma),
                           self.unseen_labels, self.predictions(self.unseen, gamma),
                           np.arange(self.num_seen), np.arange(self.num_seen, classes))

    def curve(self) -> SeenUnseenCurve:
        """The exact seen-unseen curve over every gamma (module docstring)."""
        def part(scores: np.ndarray, labels: np.ndarray, own: slice, offset: int):
            best_seen = scores[:, :self.num_seen].max(axis=1)
            best_unseen = scores[:, self.num_seen:].max(axis=1)
            right = scores[:, own].argmax(axis=1) + offset == labels
            # Each image weighs 1 / (its class's images x the classes present): a mean of per-class accuracies.
            _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
            return best_seen - best_unseen, right / (counts[inverse] * len(counts))

        seen_t, seen_w = part(self.seen, self.seen_labels, slice(0, self.num_seen), 0)
        unseen_t, unseen_w = part(self.unseen, self.unseen_labels, slice(self.num_seen, None), self.num_seen)
        edges = np.unique(np.concatenate([seen_t, unseen_t]))
        # Interval k = (edges[k-1], edges[k]]: an image of threshold edges[j] predicts seen on intervals 0..j.
        seen_mass = np.bincount(np.searchsorted(edges, seen_t), seen_w, minlength=len(edges) + 1)
        unseen_mass = np.bincount(np.searchsorted(edges, unseen_t), unseen_w, minlength=len(edges) + 1)
        seen = np.cumsum(seen_mass[::-1])[::-1]  # right on interval k when its threshold index >= k
        unseen = np.concatenate([[0.0], np.cumsum(unseen_mass)[:-1]])  # right from interval index + 1 on
        return SeenUnseenCurve(edges=edges, seen=seen, unseen=unseen)


def calibrated(test: ClassScores, validation: ClassScores) -> dict[str, float]:
    """Calibrated stacking: gamma of the best validation H, then S / U / H on test with it, and both AUSUCs.

    Returns calibrated/{S,U,H}, calibrated/gamma, calibrated/validation_H, ausuc (test) and
    validation_ausuc. Nothing of `test` is read to choose gamma.
    """
    validation_curve = validation.curve()
    gamma = validation_curve.best_gamma()
    chosen = validation.scores(gamma)
    return {**{f"calibrated/{k}": v for k, v in test.scores(gamma).items()}, "calibrated/gamma": gamma,
            "calibrated/validation_H": chosen["H"], "ausuc": test.curve().ausuc,
            "validation_ausuc": validation_curve.ausuc}
