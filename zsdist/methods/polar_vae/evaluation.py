"""Evaluating a trained polar VAE: how well does it fill the hole it never saw?

Every row is encoded to its latent mean and decoded without the encoder's noise. Scores (pixel MSE,
Dice of the thresholded curve) are compared inside vs outside the hole, binned by distance from the
hole centre, and against a nearest-training-image baseline; a linear read-out of (a, b) from the
latent means (fitted on training rows) is scored inside vs outside. Artifacts: transect strips, the
latent scatter and the error-by-distance plot.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from datagen.shards import read_spec
from zsdist.base.storage import atomic_write
from zsdist.config import from_dict
from zsdist.data.polar import TRAINING_SPLITS, read_all_rows
from zsdist.methods.polar_vae import plots
from zsdist.methods.polar_vae.metrics import (
    binned,
    default_distance_edges,
    dice,
    latent_r2,
    nearest_neighbour,
    pixel_mse,
    summarise_polar,
)
from zsdist.methods.polar_vae.model import PolarVAE, PolarVAEConfig

HEADLINE = ("mse_inside", "mse_outside", "nn_mse_inside", "mse_inside_minus_nn",
            "dice_inside", "dice_outside", "nn_dice_inside", "latent_r2_mean_inside", "latent_r2_mean_outside")


@torch.no_grad()
def reconstruct(model: PolarVAE, images: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """images (N, R, R) in [0, 1] -> (reconstructions (N, R, R), latent means (N, d)), no noise."""
    model.eval()
    recons, means = [], []
    for start in range(0, len(images), batch_size):
        x = torch.from_numpy(images[start:start + batch_size])[:, None]
        logits, mu, _ = model(x, sample=False)
        recons.append(torch.sigmoid(logits)[:, 0].numpy())
        means.append(mu.numpy())
    return np.concatenate(recons), np.concatenate(means)


def evaluate_checkpoint(state: dict, data_dir: Path, out_dir: Path) -> tuple[dict[str, float], list[Path]]:
    """Scores and plots for one checkpoint's state (train/checkpoint.py load_state); returns (metrics,
    artifact paths) and writes metrics.json."""
    train_cfg = state["config"]
    spec = read_spec(data_dir)
    model = PolarVAE(from_dict(PolarVAEConfig, train_cfg["model"]), int(spec["resolution"]))
    model.load_state_dict(state["model"])

    rows = read_all_rows(data_dir)
    recon, mu = reconstruct(model, rows["image"])
    trained = np.isin(rows["split"], TRAINING_SPLITS[train_cfg["train_on"]])
    held_out = ~trained
    images = rows["image"]

    nn_index, nn_mse = nearest_neighbour(images[held_out], images[trained])
    nn_images = images[trained][nn_index]
    eval_images, eval_recon = images[held_out], recon[held_out]
    scores = {
        "mse": pixel_mse(eval_images, eval_recon), "dice": dice(eval_images, eval_recon),
        "nn_mse": nn_mse, "nn_dice": dice(eval_images, nn_images),
    }
    ab = np.stack([rows["a"], rows["b"]], axis=1)
    inside = held_out & rows["in_hole"]
    outside = ~rows["in_hole"] & (rows["split"] == "test")
    r2 = latent_r2(mu[trained], ab[trained], {"inside": (mu[inside], ab[inside]),
                                              "outside": (mu[outside], ab[outside])})
    hole_radius = float(spec["hole_radius"])
    metrics = summarise_polar(
        **scores, in_hole=rows["in_hole"][held_out], hole_distance=rows["hole_distance"][held_out],
        split=rows["split"][held_out], hole_radius=hole_radius, latent_r2_by_set=r2,
    )

    out_dir.mkdir(parents=True, exist_ok=True)
    artifacts = []
    for name in ("P1", "P2", "P3"):
        on_transect = rows["split"] == name
        order = np.argsort(rows["index"][on_transect])
        artifacts.append(plots.transect_strip_png(
            out_dir / f"transect_{name}.png", images[on_transect][order], recon[on_transect][order],
            title=f"transect {name}: input (top) vs reconstruction (bottom)"))
    artifacts.append(plots.latent_scatter_png(out_dir / "latent_scatter.png", mu, rows["in_hole"], rows["split"]))
    edges = default_distance_edges(hole_radius)
    evaluated = held_out & (rows["in_hole"] | (rows["split"] == "test"))
    sub = evaluated[held_out]
    distance = rows["hole_distance"][held_out][sub]
    artifacts.append(plots.error_by_distance_png(
        out_dir / "mse_by_distance.png", binned(scores["mse"][sub], distance, edges),
        binned(scores["nn_mse"][sub], distance, edges), "pixel MSE", hole_radius=hole_radius))
    metrics_path = out_dir / "metrics.json"
    atomic_write(metrics_path, json.dumps(metrics, indent=2, sort_keys=True).encode())
    artifacts.append(metrics_path)
    return metrics, artifacts
