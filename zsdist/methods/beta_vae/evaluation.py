"""Zero-shot synthesis evaluation of a VAE baseline with the exhaustive search, on GZS-Net's targets.

    zsdist eval beta-vae-es --run_name beta-vae-es-cpu [--beside gzsnet-cpu]

The held-out targets, their per-attribute sources, the edit bases and the nearest neighbours are drawn
by the function GZS-Net's evaluation draws them with (zsdist/methods/gzsnet/synthesis.py draw_held_out),
so for the same data, selection, held_out and
--synthesis.seed/max_targets both evaluations score the very same images (synthesis.json lists them;
--beside checks it). Then, on training images only, the exhaustive search (es.py) picks each attribute's
latent dimensions, and with them:
- <prefix>: full synthesis, attribute k's dimensions from its own source (unchosen: attribute 0's source);
- <prefix>/edit_<attribute>: the base's latent with that attribute's dimensions from its source;
- nn, nn/edit_<attribute>: the nearest training image, and the base itself.
MSE, PSNR (mean of per-image dB) and SSIM as GZS-Net's evaluation; es/<attribute>/dims and
es/<attribute>/train_edit_psnr; es_choice.json (every subset's score), a synthesis grid, synthesis.json.
The model runs in train mode as GZS-Net's evaluation does (InstanceNorm per image, as in training);
its encoder gives the posterior mean, so nothing is sampled.
"""

from __future__ import annotations

import json

import numpy as np
import torch

from datagen.shards import read_spec
from datagen.spec.fonts import ATTRIBUTES, FontsSpec
from zsdist.base.storage import atomic_write
from zsdist.config import from_dict
from zsdist.data.fonts import downscale_factor
from zsdist.eval.image_metrics import image_quality
from zsdist.methods.beta_vae.beside import beside_run_id, write_comparison
from zsdist.methods.beta_vae.config import BetaVAEEvalConfig
from zsdist.methods.beta_vae.es import Edits, combine, edit_triples, exhaustive_search, swap_dims
from zsdist.methods.beta_vae.model import ConvVAE
from zsdist.methods.gzsnet.plots import image_grid_png, to_uint8
from zsdist.methods.gzsnet.synthesis import decode, draw_held_out, encode, read_images, single_attribute_edits
from zsdist.methods.gzsnet.targets import NO_ROW
from zsdist.methods.method import Checkpointed, Evaluation


def headline(prefix: str) -> tuple[str, ...]:
    """What `zsdist eval` prints; the first four are `zsdist compare`'s columns."""
    return (f"{prefix}/psnr", "nn/psnr", f"{prefix}/ssim", f"{prefix}/mse", "nn/ssim", "nn/mse", "targets")


def evaluate_checkpoint(cfg: BetaVAEEvalConfig, checkpoint: Checkpointed, *, train_config: type,
                        prefix: str) -> Evaluation:
    for name in cfg.beside:  # a misspelt run fails now, not after the search and the scoring
        beside_run_id(name)
    trained = from_dict(train_config, checkpoint.state["config"])
    data_dir, out_dir, syn = checkpoint.data_dir, checkpoint.out_dir, cfg.synthesis
    description = read_spec(data_dir, dataset="fonts")
    factor = downscale_factor(FontsSpec.from_dict(description["spec"]).resolution, trained.model.image_size)
    torch.manual_seed(syn.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = ConvVAE(trained.model)
    model.load_state_dict(checkpoint.state["model"])
    model = model.to(device).train()

    # The draws of gzsnet/evaluation.py: the same targets, sources, bases and neighbours.
    drawn_rows = draw_held_out(data_dir, trained.selection, trained.held_out, description, seed=syn.seed,
                               max_targets=syn.max_targets)
    attrs, index, train_rows, target_rows = drawn_rows.attrs, drawn_rows.index, drawn_rows.train_rows, drawn_rows.target_rows
    sources, bases, nn = drawn_rows.sources, drawn_rows.bases, drawn_rows.nn
    train = attrs[train_rows]
    # The search's training rows, from a stream of their own so that GZS-Net's draws stay untouched.
    es_rng = np.random.default_rng([syn.seed, 1])
    scored = np.sort(es_rng.choice(len(train_rows), min(cfg.es.images, len(train_rows)), replace=False))
    triples = {k: edit_triples(train, k, cfg.es.pairs, es_rng) for k in range(len(ATTRIBUTES))}

    used = [target_rows, train_rows[sources.ravel()], train_rows[nn], train_rows[bases[bases != NO_ROW]],
            train_rows[scored], *(train_rows[t.ravel()] for t in triples.values())]
    needed = np.unique(index[np.concatenate(used)])
    images = read_images(data_dir, trained.selection, needed, factor)
    latents = encode(model, images, syn.batch_size)

    def at(rows: np.ndarray) -> np.ndarray:
        return np.searchsorted(needed, index[rows])

    def draw(z: torch.Tensor) -> torch.Tensor:
        return decode(model, z, syn.batch_size)

    edits = {k: Edits(base=latents[at(train_rows[t[:, 1]])], donor=latents[at(train_rows[t[:, 2]])],
                      truth=images[at(train_rows[t[:, 0]])]) for k, t in triples.items()}
    choice = exhaustive_search(latents[at(train_rows[scored])].numpy(), train[scored], edits, ATTRIBUTES, draw,
                               candidates_per_attribute=cfg.es.candidates, max_dims=cfg.es.max_dims,
                               tolerance_db=cfg.es.tolerance_db)
    dims = [choice.dims[a] for a in ATTRIBUTES]
    metrics: dict[str, float] = {"targets": float(len(target_rows))}
    for a in ATTRIBUTES:
        metrics[f"es/{a}/dims"] = float(len(choice.dims[a]))
        if np.isfinite(choice.edit_psnr[a]):
            metrics[f"es/{a}/train_edit_psnr"] = choice.edit_psnr[a]

    truth = images[at(target_rows)]
    source_latents = [latents[at(train_rows[sources[:, k]])] for k in range(len(ATTRIBUTES))]
    drawn = {prefix: draw(combine(source_latents, dims)), "nn": images[at(train_rows[nn])]}
    for name, image in drawn.items():
        metrics |= _scores(name, image, truth)
    for k, attribute, ok, base, donor in single_attribute_edits(bases, sources, train_rows):
        metrics[f"edit_{attribute}/targets"] = float(len(ok))
        edited = draw(swap_dims(latents[at(base)], latents[at(donor)], dims[k]))
        metrics |= _scores(f"{prefix}/edit_{attribute}", edited, truth[ok])
        metrics |= _scores(f"nn/edit_{attribute}", images[at(base)], truth[ok])

    shown = slice(0, syn.grid_targets)
    grid = image_grid_png(
        out_dir / f"{prefix}_synthesis_grid.png",
        [to_uint8(images[at(train_rows[sources[shown, k]])]) for k in range(len(ATTRIBUTES))]
        + [to_uint8(drawn[prefix][shown]), to_uint8(drawn["nn"][shown]), to_uint8(truth[shown])],
        [f"{a} from" for a in ATTRIBUTES] + [prefix, "nn", "truth"], None,
        f"{prefix}: each attribute's ES dimensions from its own training image")
    summary = {"metrics": metrics, "targets": index[target_rows].tolist(), "held_out": trained.held_out.to_dict(),
               "checkpoint": str(checkpoint.path), "es": {a: list(d) for a, d in choice.dims.items()}}
    atomic_write(out_dir / "synthesis.json", json.dumps(summary, indent=2, sort_keys=True).encode())
    artifacts = [grid, out_dir / "synthesis.json"]
    if cfg.beside:
        artifacts.append(write_comparison(out_dir, metrics, summary, cfg.beside, ATTRIBUTES))
    return Evaluation(metrics=metrics, artifacts=artifacts, documents={"eval/es_choice.json": choice.to_dict()})


def _scores(prefix: str, drawn: torch.Tensor, truth: torch.Tensor) -> dict[str, float]:
    return {f"{prefix}/{name}": values.double().mean().item() for name, values in image_quality(drawn, truth).items()}
