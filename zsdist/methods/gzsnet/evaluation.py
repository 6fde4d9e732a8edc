"""Zero-shot synthesis evaluation of a GZS-Net checkpoint against AE+DS and nearest neighbour.

For every held-out target (a combination never trained on, see data/heldout.py) each method draws
the target from training images only (methods/gzsnet/targets.py), and the drawing is compared with the
ground-truth image the Fonts dataset has for every combination:
- gzsnet, ae_ds: full synthesis, every attribute's chunk from its own source image
  (methods/gzsnet/synthesis.py, which the training's val/psnr shares);
- nn: the training image matching the most of the target's values;
- edit_<attribute>: a training image equal to the target except in that attribute, with that
  attribute's chunk taken from a source (its nn counterpart is the base image itself).
MSE, PSNR (mean of per-image dB) and SSIM per method, and GZS-Net minus each baseline in dB. Then the
co-prediction matrix of each model's latent (a linear probe from every chunk to every attribute, on
training images) and image grids. Models run in train mode, as the released test code does: its
InstanceNorm then normalises each image by its own statistics, exactly as during training.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from datagen.shards import read_spec
from datagen.spec.fonts import ATTRIBUTES, FontsSpec
from zsdist.base.storage import atomic_write
from zsdist.config import from_dict
from zsdist.data.fonts import downscale_factor
from zsdist.eval.image_metrics import image_quality
from zsdist.methods.gzsnet.ae_ds import AEDS
from zsdist.methods.gzsnet.config import GZSNetTrainConfig, SynthesisEvalConfig
from zsdist.methods.gzsnet.coprediction import ProbeConfig, coprediction_matrix, diagonal_summary, normalised_accuracy
from zsdist.methods.gzsnet.model import GZSNet
from zsdist.methods.gzsnet.plots import coprediction_heatmap_png, image_grid_png, to_uint8
from zsdist.methods.gzsnet.synthesis import (
    decode,
    draw_held_out,
    encode,
    read_images,
    single_attribute_edits,
    synthesise,
)
from zsdist.methods.gzsnet.targets import NO_ROW

HEADLINE = ("gzsnet/psnr", "ae_ds/psnr", "nn/psnr", "gzsnet_minus_ae_ds/psnr_db", "gzsnet_minus_nn/psnr_db",
            "gzsnet/ssim", "ae_ds/ssim", "nn/ssim", "gzsnet/mse", "ae_ds/mse", "nn/mse",
            "coprediction/gzsnet/diagonal_mean", "coprediction/gzsnet/off_diagonal_mean",
            "coprediction/ae_ds/diagonal_mean", "coprediction/ae_ds/off_diagonal_mean", "targets")


def evaluate_checkpoint(state: dict, checkpoint_dir: Path, data_dir: Path, out_dir: Path,
                        cfg: SynthesisEvalConfig) -> tuple[dict[str, float], list[Path]]:
    """Metrics (flat names) and the artifact files written to out_dir, for the checkpoint in
    checkpoint_dir whose state (train/checkpoint.py load_state) is given."""
    train_cfg = from_dict(GZSNetTrainConfig, state["config"])
    description = read_spec(data_dir, dataset="fonts")
    spec = FontsSpec.from_dict(description["spec"])
    factor = downscale_factor(spec.resolution, train_cfg.model.image_size)
    torch.manual_seed(cfg.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    models = {"gzsnet": GZSNet(train_cfg.model)}
    models["gzsnet"].load_state_dict(state["model"])
    if "baseline" in state:
        baseline = AEDS(train_cfg.model, spec.shape)
        baseline.load_state_dict(state["baseline"])
        models["ae_ds"] = baseline.autoencoder
    models = {name: model.to(device) for name, model in models.items()}

    drawn_rows = draw_held_out(data_dir, train_cfg.selection, train_cfg.held_out, description, seed=cfg.seed,
                               max_targets=cfg.max_targets)
    attrs, index, train_rows, target_rows = drawn_rows.attrs, drawn_rows.index, drawn_rows.train_rows, drawn_rows.target_rows
    sources, bases, nn = drawn_rows.sources, drawn_rows.bases, drawn_rows.nn
    targets = attrs[target_rows]
    probe = np.sort(drawn_rows.rng.choice(train_rows, min(cfg.probe_images, len(train_rows)), replace=False))

    # Decode every image used once; latents of each model, by global index.
    needed = np.unique(np.concatenate([index[target_rows], index[train_rows[sources.ravel()]],
                                       index[train_rows[nn]], index[train_rows[bases[bases != NO_ROW]]],
                                       index[probe]]))
    images = read_images(data_dir, train_cfg.selection, needed, factor)
    position = {i: p for p, i in enumerate(needed.tolist())}

    def pixels(rows: np.ndarray) -> torch.Tensor:
        return images[[position[i] for i in index[rows].tolist()]]

    truth = pixels(target_rows)
    latents = {name: encode(model, images, cfg.batch_size) for name, model in models.items()}

    def latent(name: str, rows: np.ndarray) -> torch.Tensor:
        return latents[name][[position[i] for i in index[rows].tolist()]]

    metrics: dict[str, float] = {"targets": float(len(target_rows))}
    drawn: dict[str, torch.Tensor] = {"nn": pixels(train_rows[nn])}
    for name, model in models.items():
        drawn[name] = synthesise(model, {a: latent(name, train_rows[sources[:, k]]) for k, a in enumerate(ATTRIBUTES)},
                                 cfg.batch_size)
    for name, image in drawn.items():
        metrics |= _scores(name, image, truth)
    grid_columns = _target_names(targets[:cfg.grid_targets], description)
    artifacts = [image_grid_png(
        out_dir / "synthesis_grid.png",
        [to_uint8(pixels(train_rows[sources[:cfg.grid_targets, k]])) for k in range(len(ATTRIBUTES))]
        + [to_uint8(drawn[name][:cfg.grid_targets]) for name in (*models, "nn")] + [to_uint8(truth[:cfg.grid_targets])],
        [f"{a} from" for a in ATTRIBUTES] + [*models, "nn", "truth"], grid_columns,
        "zero-shot synthesis of held-out combinations: each chunk from its own training image")]

    for k, attribute, ok, base, donor in single_attribute_edits(bases, sources, train_rows):
        metrics[f"edit_{attribute}/targets"] = float(len(ok))
        edits = {"nn": pixels(base)}
        for name, model in models.items():
            z = model.swap(latent(name, base), latent(name, donor), [attribute])[0]
            edits[name] = decode(model, z, cfg.batch_size)
        for name, image in edits.items():
            metrics |= _scores(f"{name}/edit_{attribute}", image, truth[ok])
        shown = slice(0, cfg.grid_targets)
        artifacts.append(image_grid_png(
            out_dir / f"edit_{attribute}_grid.png",
            [to_uint8(pixels(base[shown])), to_uint8(pixels(donor[shown]))]
            + [to_uint8(edits[name][shown]) for name in models] + [to_uint8(truth[ok][shown])],
            ["base", f"{attribute} from", *models, "truth"], _target_names(targets[ok][shown], description),
            f"single-attribute edit: the base with its {attribute} chunk from another training image"))
    for baseline in ("ae_ds", "nn"):
        for key, value in list(metrics.items()):
            if key.startswith(f"{baseline}/") and key.endswith("/psnr"):
                rest = key.removeprefix(f"{baseline}/")
                if (ours := metrics.get(f"gzsnet/{rest}")) is not None:
                    metrics[f"gzsnet_minus_{baseline}/{rest}_db"] = ours - value

    chunks = {a: models["gzsnet"].chunk(a) for a in ATTRIBUTES}
    probe_split = len(probe) * 3 // 4
    for name in models:
        z, labels = latent(name, probe).numpy(), attrs[probe]
        matrix = coprediction_matrix(z[:probe_split], labels[:probe_split], z[probe_split:], labels[probe_split:],
                                     chunks, dict(zip(ATTRIBUTES, spec.shape)), ProbeConfig(seed=cfg.seed))
        normalised = normalised_accuracy(matrix, dict(zip(ATTRIBUTES, spec.shape)))
        metrics |= {f"coprediction/{name}/{k}": v for k, v in diagonal_summary(normalised).items()}
        artifacts.append(coprediction_heatmap_png(
            out_dir / f"coprediction_{name}.png", normalised, list(ATTRIBUTES), list(ATTRIBUTES),
            f"{name}: linear-probe accuracy above chance, (acc - chance) / (1 - chance)"))
        atomic_write(out_dir / f"coprediction_{name}.json",
                     json.dumps({"accuracy": matrix.tolist(), "normalised": normalised.tolist(),
                                 "rows": list(ATTRIBUTES), "columns": list(ATTRIBUTES)}, indent=1).encode())
        artifacts.append(out_dir / f"coprediction_{name}.json")

    summary = {"metrics": metrics, "targets": index[target_rows].tolist(),
               "held_out": train_cfg.held_out.to_dict(), "checkpoint": str(checkpoint_dir)}
    atomic_write(out_dir / "synthesis.json", json.dumps(summary, indent=2, sort_keys=True).encode())
    return metrics, [*artifacts, out_dir / "synthesis.json"]


def _target_names(targets: np.ndarray, description: dict) -> list[str]:
    """Column titles: a target's letter and manifest font id (the held-out pair by default)."""
    letters, fonts = description["attributes"]["letter"], description["attributes"]["font"]
    k_letter, k_font = ATTRIBUTES.index("letter"), ATTRIBUTES.index("font")
    return [f"{letters[t[k_letter]]['name']} font {fonts[t[k_font]]['font_id']}" for t in targets]


def _scores(prefix: str, drawn: torch.Tensor, truth: torch.Tensor) -> dict[str, float]:
    return {f"{prefix}/{name}": values.double().mean().item() for name, values in image_quality(drawn, truth).items()}
