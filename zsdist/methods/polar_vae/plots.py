"""PNG writers for the polar-curve evaluation: transect strips, latent scatter, error by distance.

Every writer saves atomically (zsdist/eval/figures.py) and returns the path it wrote.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt  # headless: zsdist/eval/figures.py picks the Agg backend
import numpy as np
from PIL import Image, PngImagePlugin

from zsdist.eval.figures import SEPARATOR_GRAY, save_figure, write_atomically

FIGSIZE_IN = (6.0, 5.0)
SCATTER_FIGSIZE_IN = (8.5, 5.0)  # wider: the legend sits to the right, clear of the points
_HOLE_COLOURS = {False: "tab:blue", True: "tab:red"}
_SPLIT_MARKERS = {"train": "o", "test": ".", "hole": "x", "P1": "^", "P2": "s", "P3": "D"}


def transect_strip_png(
    path: str | os.PathLike[str], inputs: np.ndarray, recons: np.ndarray, title: str
) -> Path:
    """One transect as an exact-pixel PNG: inputs on top, reconstructions below, 1-px grey lines.

    Size: width N*W + (N-1), height 2*H + 1. Written by PIL, not a figure, so no resampling blurs
    the thin curves; the title goes into the PNG's "Title" text chunk.
    """
    top, bottom = np.asarray(inputs, dtype=np.float64), np.asarray(recons, dtype=np.float64)
    if top.ndim != 3 or top.shape != bottom.shape or len(top) == 0:
        raise ValueError(f"inputs {top.shape} and recons {bottom.shape}: need one (N, H, W) shape")
    n, h, w = top.shape
    strip = np.full((2 * h + 1, n * w + n - 1), SEPARATOR_GRAY, dtype=np.uint8)
    for row, images in enumerate((top, bottom)):
        pixels = np.round(np.clip(images, 0.0, 1.0) * 255).astype(np.uint8)
        y0 = row * (h + 1)
        for i, image in enumerate(pixels):
            strip[y0 : y0 + h, i * (w + 1) : i * (w + 1) + w] = image
    info = PngImagePlugin.PngInfo()
    info.add_text("Title", title)
    return write_atomically(
        path, lambda out: Image.fromarray(strip).save(out, format="PNG", pnginfo=info)
    )


def latent_scatter_png(
    path: str | os.PathLike[str],
    mu: np.ndarray,
    in_hole: np.ndarray,
    split: np.ndarray | None = None,
) -> Path:
    """Latent means coloured by in-hole (red) vs outside (blue); markers by split when given.

    3-D latent: a 3-D projection (the original shows a 2-D sheet with a hole in it); 2-D or more
    than 3: the first two dimensions; 1-D: a strip plot with the two groups on separate rows.
    """
    points = np.asarray(mu, dtype=np.float64)
    points = points[:, None] if points.ndim == 1 else points
    hole = np.asarray(in_hole, dtype=bool).ravel()
    labels = np.full(len(points), "all") if split is None else np.asarray(split).astype(str).ravel()
    if not len(points) == len(hole) == len(labels):
        raise ValueError("mu, in_hole and split must have one row per point")
    dim = points.shape[1]

    figure = plt.figure(figsize=SCATTER_FIGSIZE_IN)
    axes = figure.add_subplot(projection="3d" if dim == 3 else None)
    for label in sorted(set(labels)):
        for inside in (False, True):
            mask = (labels == label) & (hole == inside)
            if not mask.any():
                continue
            group = points[mask]
            if dim == 1:
                # Deterministic jitter so repeated runs give identical plots.
                jitter = np.random.default_rng(0).uniform(-0.15, 0.15, len(group))
                coords = (group[:, 0], jitter + float(inside))
            else:
                coords = tuple(group[:, j] for j in range(3 if dim == 3 else 2))
            where = "in hole" if inside else "outside hole"
            axes.scatter(
                *coords,
                s=4 if label == "train" else 14,
                alpha=0.3 if label == "train" else 0.9,
                color=_HOLE_COLOURS[inside],
                marker=_SPLIT_MARKERS.get(label, "o"),
                label=where if split is None else f"{label}, {where}",
            )
    axes.set_xlabel("mu[0]")
    if dim == 1:
        axes.set_yticks([0, 1], ["outside hole", "in hole"])
    else:
        axes.set_ylabel("mu[1]")
    if dim == 3:
        axes.set_zlabel("mu[2]")
    shown = "" if dim <= 3 else f" (first 2 of {dim} dims)"
    axes.set_title(f"Latent means{shown}")
    axes.legend(fontsize="small", markerscale=1.5, loc="upper left", bbox_to_anchor=(1.05, 1.0))
    if dim != 3:  # tight_layout keeps the figure size; it only makes room for the tick labels
        figure.tight_layout()
    return save_figure(path, figure)


def _bin_centres(bins: Sequence[dict]) -> np.ndarray:
    centres = []
    for k, bin_ in enumerate(bins):
        lo, hi = bin_["lo"], bin_["hi"]
        if math.isinf(hi):
            # An open last bin has no centre; place it half a previous-bin width past its edge.
            width = lo - bins[k - 1]["lo"] if k > 0 else 1.0
            centres.append(lo + width / 2)
        else:
            centres.append((lo + hi) / 2)
    return np.array(centres)


def error_by_distance_png(
    path: str | os.PathLike[str],
    bins_model: Sequence[dict],
    bins_nn: Sequence[dict],
    metric_name: str,
    *,
    hole_radius: float = 0.3,
) -> Path:
    """Binned metric (from polar_metrics.binned) vs distance from the hole centre, model vs
    nearest-training-image baseline, with ±std bars and the hole radius marked."""
    edges_model = [(b["lo"], b["hi"]) for b in bins_model]
    if edges_model != [(b["lo"], b["hi"]) for b in bins_nn] or not edges_model:
        raise ValueError("bins_model and bins_nn must be non-empty and share their bin edges")
    centres = _bin_centres(bins_model)

    figure, axes = plt.subplots(figsize=FIGSIZE_IN)
    series = ((bins_model, "VAE", "tab:red"), (bins_nn, "nearest train image", "tab:gray"))
    for bins, name, colour in series:
        means = np.array([b["mean"] for b in bins], dtype=np.float64)
        stds = np.array([b["std"] for b in bins], dtype=np.float64)
        axes.errorbar(centres, means, yerr=stds, marker="o", capsize=3, color=colour, label=name)
    axes.axvline(hole_radius, color="black", linestyle="--", label=f"hole radius {hole_radius:g}")
    axes.set_xlabel("distance of (a, b) from hole centre (bin centre)")
    axes.set_ylabel(metric_name)
    axes.set_title(f"{metric_name} by distance from the hole")
    axes.legend()
    figure.tight_layout()
    return save_figure(path, figure)
