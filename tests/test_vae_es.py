"""The GZS-Net paper's VAE baselines, beta-VAE + ES and beta-TCVAE + ES: the exhaustive search on latents
whose answer is known, the beta-TCVAE objective's terms, and one tiny 2-worker gloo DDP run of each method
on a real Fonts slice, evaluated on GZS-Net's held-out targets, logged to MLflow and tabulated together."""

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from golden_curves import check_golden
from mlflow.tracking import MlflowClient

from datagen.run_fonts import generate_fonts
from datagen.spec.fonts import ATTRIBUTES, FontsSpec
from zsdist.base import tracking
from zsdist.base.errors import ConfigError, DataError
from zsdist.data.heldout import HeldOutConfig, held_out_pairs
from zsdist.methods import get_method
from zsdist.methods.beta_tcvae.objective import BetaTCVAELoss, kl_decomposition, log_normal
from zsdist.methods.beta_vae.beside import run_metrics
from zsdist.methods.beta_vae.config import ESConfig
from zsdist.methods.beta_vae.es import Edits, candidates, combine, edit_triples, exhaustive_search, explained_variance
from zsdist.methods.beta_vae.objective import gaussian_kl
from zsdist.methods.gzsnet.config import TargetsEvalConfig
from zsdist.methods.gzsnet.model import PRESETS
from zsdist.train.checkpoint import load_state

vae, tcvae = get_method("beta-vae-es"), get_method("beta-tcvae-es")


def grid(*counts: int) -> np.ndarray:
    """Every combination of attribute values, (prod(counts), A)."""
    return np.stack(np.meshgrid(*map(np.arange, counts), indexing="ij"), axis=-1).reshape(-1, len(counts))


def test_es_picks_the_dimensions_that_carry_each_attribute():
    # Attribute 0 is in dim 3, attribute 1 in dims 0 and 1 together, attribute 2 nowhere; the other dims
    # are nearly collapsed (tiny noise). The "decoder" draws the latent itself as pixels, plus a pixel
    # it cannot know (every real image's detail that no decoder gets right): an edit comes closest to
    # the real target exactly when it takes the attribute's dimensions, all of them and no others.
    rng = np.random.default_rng(0)
    labels = grid(4, 5, 3)
    z = rng.normal(0, 0.01, (len(labels), 6))
    z[:, 3] = np.linspace(-0.8, 0.8, 4)[labels[:, 0]]
    z[:, 0] = np.array([-0.6, 0.6, -0.6, 0.6, 0.0])[labels[:, 1]]
    z[:, 1] = np.array([-0.6, -0.6, 0.6, 0.6, 0.0])[labels[:, 1]]
    detail = rng.choice([-0.3, 0.3], len(labels))

    def pixels(latents: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
        return torch.cat([latents, extra[:, None]], dim=1).view(-1, 1, 1, 7)

    explained = explained_variance(z, labels)
    assert explained[3, 0] > 0.99 and explained[0, 1] > 0.99 and explained[1, 1] > 0.99
    assert explained[3, 1] < 0.05 and explained[2].max() < 0.2
    ranked = candidates(explained, 3)
    assert ranked[0][0] == 3 and set(ranked[1][:2]) == {0, 1}
    assert sorted(d for dims in ranked for d in dims) == list(range(6))  # every dimension is one attribute's, once

    # A held-out quarter: the edits must come from the training rows alone.
    train_rows = np.flatnonzero(rng.random(len(labels)) > 0.25)
    train, latents = labels[train_rows], torch.tensor(z[train_rows], dtype=torch.float32)
    triples = {k: edit_triples(train, k, 40, rng) for k in range(3)}
    for k, (target, base, donor) in ((k, t.T) for k, t in triples.items()):
        assert len(target) > 10
        differs = train[base] != train[target]
        assert differs[:, k].all() and not np.delete(differs, k, axis=1).any()  # the base: t except in k
        assert (train[donor][:, k] == train[target][:, k]).all() and (donor != target).all()
    details = torch.tensor(detail[train_rows], dtype=torch.float32)
    edits = {k: Edits(base=latents[t[:, 1]], donor=latents[t[:, 2]], truth=pixels(latents[t[:, 0]], details[t[:, 0]]))
             for k, t in triples.items()}
    choice = exhaustive_search(z[train_rows], train, edits, ("a0", "a1", "a2"),
                               lambda x: pixels(x, torch.zeros(len(x))), candidates_per_attribute=3, max_dims=3,
                               tolerance_db=0.05)
    assert choice.dims["a0"] == (3,) and set(choice.dims["a1"]) == {0, 1}
    assert choice.edit_psnr["a0"] > 20 and len(choice.tried["a1"]) == 2 ** len(candidates(choice.explained, 3)[1]) - 1
    assert json.loads(json.dumps(choice.to_dict()))["dims"]["a1"] == list(choice.dims["a1"])

    # Full synthesis: each attribute's dims from its own source, every other dim from attribute 0's.
    sources = [torch.full((1, 6), float(i)) for i in range(3)]
    assert combine(sources, [(3,), (0, 1), ()]).tolist() == [[1.0, 1.0, 0.0, 0.0, 0.0, 0.0]]


def posterior_batch(m: int, d: int, *, correlated: bool, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior means and log-variances whose aggregate is N(0, I), or N(0, C) with all dims alike."""
    g = torch.Generator().manual_seed(seed)
    spread = torch.randn(m, 1 if correlated else d, generator=g).expand(m, d) * 0.8
    return spread.contiguous(), torch.full((m, d), math.log(0.36))


def test_beta_tcvae_terms_sum_to_the_kl_and_the_total_correlation_sees_dependence():
    mu, logvar = posterior_batch(64, 3, correlated=False)
    g = torch.Generator().manual_seed(1)
    for _ in range(3):  # the three terms telescope to the one-sample KL, whatever q(z)'s estimate
        z = mu + torch.randn(mu.shape, generator=g) * (0.5 * logvar).exp()
        terms = kl_decomposition(z, mu, logvar, dataset_size=1000)
        one_sample_kl = log_normal(z, mu, logvar) - log_normal(z, torch.zeros_like(z), torch.zeros_like(z))
        total = terms["mi"] + terms["tc"] + terms["dwkl"]
        assert total.item() == pytest.approx(one_sample_kl.sum(dim=1).mean().item(), abs=1e-4)
    # ... whose expectation is the closed-form KL: alpha = beta = gamma = 1 is the plain VAE.
    z = mu + torch.randn((4000, *mu.shape), generator=g) * (0.5 * logvar).exp()
    one_sample_kl = log_normal(z, mu, logvar) - log_normal(z, torch.zeros_like(z), torch.zeros_like(z))
    assert one_sample_kl.sum(dim=2).mean().item() == pytest.approx(gaussian_kl(mu, logvar).item(), rel=0.01)

    # N is a constant of the estimate: the terms shift by multiples of log N, the gradients do not move.
    mu.requires_grad_(True)
    z = mu + 0.6 * torch.randn(mu.shape, generator=torch.Generator().manual_seed(2))
    losses = [BetaTCVAELoss(alpha=1, beta=6, gamma=2, dataset_size=n)(z, z, z, mu, logvar)["loss"] for n in (10, 10**6)]
    grads = [torch.autograd.grad(loss, mu)[0] for loss in losses]
    assert torch.allclose(*grads, atol=1e-6)

    # The TC of a factorised aggregate posterior is the constant (D - 1) log N; of a dependent one, that
    # plus its true TC (aggregate N(0, 0.64 J + 0.36 I): 0.61 nats).
    d, n, m = 3, 5000, 1000
    tc = {}
    for correlated in (False, True):
        mu, logvar = posterior_batch(m, d, correlated=correlated)
        z = mu + 0.6 * torch.randn(mu.shape, generator=torch.Generator().manual_seed(3))
        tc[correlated] = kl_decomposition(z, mu, logvar, dataset_size=n)["tc"].item() - (d - 1) * math.log(n)
    assert abs(tc[False]) < 0.03 and tc[True] == pytest.approx(0.61, abs=0.1)


# 3 letters x 2 sizes x 4 x 4 colours x 6 fonts at 32 px (432 images not blank): 2 shards of 3 letters x
# 3 fonts, one per worker. A fifth of the (letter, font) pairs is held out: with 3 letters and fonts per
# shard a held-out pair leaves every centre a partner for each attribute (with 2, it would not).
SPEC = FontsSpec(letters="ABg", size_names=("small", "large"), size_pixels=(80, 120),
                 colour_names=("red", "green", "blue", "yellow"),
                 colour_rgb=((255, 0, 0), (0, 128, 0), (0, 0, 255), (255, 255, 0)), font_ids=(0, 1, 2, 3, 17, 42),
                 letters_per_shard=3, sizes_per_shard=2, font_colours_per_shard=4, background_colours_per_shard=4,
                 fonts_per_shard=3, resolution=32)
HELD_OUT = HeldOutConfig(pairs=("letter", "font"), fraction=0.2, seed=0)
SYNTHESIS = TargetsEvalConfig(max_targets=24, grid_targets=4, batch_size=64)
ES = ESConfig(images=200, pairs=16, candidates=3, max_dims=2)


@pytest.fixture(scope="module")
def fonts_data(tmp_path_factory, ray_cluster):
    out = tmp_path_factory.mktemp("fonts-data")
    generate_fonts(SPEC, out, num_workers=2, progress=False)
    return out


def train_and_evaluate(method, data, **eval_fields):
    cfg = method.train_config(data=str(data), run_name=method.name, model=PRESETS["tiny"], held_out=HELD_OUT,
                              epochs=1, groups_per_batch=4, max_steps_per_epoch=2, lr=2e-3, seed=3)
    trained = method.train(cfg)
    evaluated = method.evaluate(method.eval_config(run_name=method.name, synthesis=SYNTHESIS, es=ES, **eval_fields))
    return trained, evaluated


@pytest.fixture(scope="module")
def runs(fonts_data, workspace):
    """One Ray Train run and evaluation of each method (~25 s of start-up each); beta-TCVAE's evaluation
    tabulates itself beside beta-VAE's and a GZS-Net run that scored the same targets."""
    first = train_and_evaluate(vae, fonts_data)
    summary = json.loads((first[1].out_dir / "synthesis.json").read_text())
    for name, targets in (("gzsnet-like", summary["targets"]), ("other-targets", summary["targets"][1:])):
        gzsnet_run = tracking.start_or_resume_run("gzsnet", name, {}, {})
        tracking.log_metrics(gzsnet_run, {"eval/gzsnet/psnr": 20.0, "eval/gzsnet/mse": 0.01, "eval/gzsnet/ssim": 0.5,
                                          "eval/gzsnet/edit_font/psnr": 21.0, "eval/ae_ds/psnr": 15.0})
        tracking.log_json(gzsnet_run, {**summary, "targets": targets}, "eval/synthesis.json")
        tracking.finish_run(gzsnet_run)
    second = train_and_evaluate(tcvae, fonts_data, beside=("gzsnet-like", f"beta-vae-es/{vae.name}"))
    return {vae.name: first, tcvae.name: second}


@pytest.mark.slow
@pytest.mark.parametrize("name,prefix", [("beta-vae-es", "beta_vae_es"), ("beta-tcvae-es", "beta_tcvae_es")])
def test_each_method_trains_on_gzsnet_data_and_scores_its_held_out_targets(runs, name, prefix):
    (run_id, checkpoint, final), (eval_run_id, metrics, out_dir) = runs[name]
    assert eval_run_id == run_id and final["images"] == 2 * 2 * 4 * 6  # workers x steps x groups x images
    state = load_state(checkpoint)
    check_golden(prefix, state["history"])
    if name == "beta-tcvae-es":  # the MWS dataset size: the training images, counted at plan time
        held = held_out_pairs(HELD_OUT, {"spec": SPEC.to_dict()})
        assert state["config"]["dataset_size"] == 432 - len(held) * 2 * 12  # 2 sizes x 12 colourings a pair
        assert {"mi", "tc", "dwkl"} <= set(final)
    assert metrics["targets"] == 24
    for method in (prefix, "nn"):
        for score in ("mse", "psnr", "ssim"):
            assert math.isfinite(metrics[f"{method}/{score}"]), (method, score)
        # Held-out (letter, font) pairs: a base differing in the letter or the font alone exists.
        assert math.isfinite(metrics[f"{method}/edit_letter/psnr"]) and f"{method}/edit_size/psnr" not in metrics

    client = MlflowClient(tracking.tracking_uri())
    logged = client.get_run(run_id).data.metrics
    assert logged[f"eval/{prefix}/psnr"] == pytest.approx(metrics[f"{prefix}/psnr"])
    assert {f"es/{a}/dims" for a in ATTRIBUTES} <= set(metrics)
    artifacts = {f.path for f in client.list_artifacts(run_id, "eval")}
    assert {f"eval/{prefix}_synthesis_grid.png", "eval/synthesis.json", "eval/es_choice.json"} <= artifacts
    choice = json.loads((out_dir / "es_choice.json").read_text())
    chosen = [d for a in ATTRIBUTES for d in choice["dims"][a]]
    assert len(chosen) == len(set(chosen)) and all(len(choice["dims"][a]) <= ES.max_dims for a in ATTRIBUTES)
    assert np.shape(choice["explained_variance"]) == (PRESETS["tiny"].latent_dim, len(ATTRIBUTES))


@pytest.mark.slow
def test_both_score_the_same_targets_and_one_table_holds_every_method(runs, tmp_path):
    summaries = [json.loads((evaluated.out_dir / "synthesis.json").read_text()) for _, evaluated in runs.values()]
    assert summaries[0]["targets"] == summaries[1]["targets"] and summaries[0]["held_out"]["pairs"] == ["letter", "font"]
    tcvae_metrics = runs[tcvae.name][1].metrics
    assert tcvae_metrics["nn/psnr"] == runs[vae.name][1].metrics["nn/psnr"]

    table = (runs[tcvae.name][1].out_dir / "comparison.md").read_text()
    rows = {line.split(" | ")[0].strip("| ") for line in table.splitlines() if line.startswith("| ")}
    assert {"gzsnet", "ae_ds", "nn", "beta_vae_es", "beta_tcvae_es"} <= rows
    assert "| gzsnet | 20 | 0.01 | 0.5 |" in table and "edit letter PSNR" in table
    run_id = runs[tcvae.name][0].run_id
    assert "eval/comparison.md" in {f.path for f in MlflowClient(tracking.tracking_uri()).list_artifacts(run_id, "eval")}

    with pytest.raises(DataError, match="other held-out targets"):
        run_metrics("other-targets", summaries[1])
    with pytest.raises(DataError, match="held out"):
        run_metrics("gzsnet-like", {**summaries[1], "held_out": {**summaries[1]["held_out"], "seed": 1}})
    with pytest.raises(DataError, match="no run 'missing'"):
        run_metrics("missing", summaries[1])


def test_configs_refuse_bad_values_in_one_line():
    cfg = vae.train_config()
    assert cfg.model == PRESETS["cpu32"] and cfg.beta == 4.0 and tcvae.train_config().beta == 6.0
    with pytest.raises(ConfigError, match="beta must be a finite weight"):
        replace(cfg, beta=-1.0)
    with pytest.raises(ConfigError, match="gamma must be a finite weight"):
        tcvae.train_config(gamma=float("nan"))
    with pytest.raises(ConfigError, match="dataset_size is 0"):
        tcvae.train_config().objective()
    with pytest.raises(ConfigError, match="es.max_dims must be >= 1"):
        ESConfig(max_dims=0)
