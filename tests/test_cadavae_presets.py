"""The CADA-VAE presets under configs/: they load as `zsdist train cadavae` loads them, the paper preset
holds the paper's CUB numbers, each ablation removes exactly one loss term at every epoch, and every
study point differs from the paper preset in its one parameter."""

from pathlib import Path

import pytest

from zsdist.base.errors import ConfigError
from zsdist.cli import build_parser
from zsdist.config import flags_to_overrides, load_config, to_dict
from zsdist.methods.cadavae.objective import loss_weights
from zsdist.methods.cadavae.seeds import CADAVAESeedsConfig
from zsdist.methods.cadavae.study import study_points

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
ABLATIONS = {"cadavae_da_vae.yaml": "gamma", "cadavae_ca_vae.yaml": "delta"}  # the weight each one zeroes


def preset(name: str, *flags: str) -> CADAVAESeedsConfig:
    """The config `zsdist train cadavae --config configs/<name> <flags>` builds."""
    args = build_parser().parse_args(["train", "cadavae", "--config", str(CONFIGS / name), *flags])
    return load_config(CADAVAESeedsConfig, file=args.config, overrides=flags_to_overrides(args))


def without(cfg: CADAVAESeedsConfig, *keys: str) -> dict:
    flat = to_dict(cfg)
    for key in keys:
        *parents, leaf = key.split(".")
        section = flat
        for name in parents:
            section = section[name]
        del section[leaf]
    return flat


def test_every_cadavae_preset_loads():
    names = sorted(p.name for p in CONFIGS.glob("cadavae_*.yaml") if not p.name.startswith("cadavae_study_"))
    assert names == ["cadavae_ca_vae.yaml", "cadavae_da_vae.yaml", "cadavae_paper.yaml"]
    assert preset("cadavae_paper.yaml", "--seeds", "2").seeds == 2  # flags still win over the file
    for name in names:
        assert preset(name).seeds == 3


def test_paper_preset_is_the_papers_cub_recipe():
    cfg = preset("cadavae_paper.yaml")
    m, w, c = cfg.model, cfg.warmup, cfg.classifier
    assert (m.latent_dim, m.image_encoder_hidden, m.image_decoder_hidden, m.attribute_encoder_hidden,
            m.attribute_decoder_hidden, m.init_gain) == (64, 1560, 1660, 1450, 665, 0.5)
    schedule = [tuple(getattr(w, f"{k}_{part}") for part in ("factor", "start", "end"))
                for k in ("beta", "gamma", "delta")]
    assert schedule == [(0.25, 0, 93), (2.37, 21, 75), (8.13, 6, 22)]
    assert (cfg.epochs, cfg.batch_size, cfg.lr, cfg.reduction, cfg.num_workers) == (100, 50, 1.5e-4, "sum", 1)
    assert (c.seen_samples_per_class, c.unseen_samples_per_class, c.epochs, c.lr, c.betas, c.batch_size
            ) == (200, 400, 23, 1e-3, (0.5, 0.999), 32)


@pytest.mark.parametrize("name, removed", ABLATIONS.items())
def test_ablation_zeroes_one_weight_at_every_epoch(name, removed):
    paper, ablation = preset("cadavae_paper.yaml"), preset(name)
    for epoch in range(ablation.epochs):
        weights, reference = loss_weights(epoch, ablation.warmup), loss_weights(epoch, paper.warmup)
        assert weights[removed] == 0, (epoch, weights)
        assert {k: v for k, v in weights.items() if k != removed} == {
            k: v for k, v in reference.items() if k != removed}, epoch
    assert loss_weights(ablation.epochs - 1, paper.warmup)[removed] > 0  # the paper preset keeps that term
    key = f"warmup.{removed}_factor"
    assert without(ablation, "run_name", key) == without(paper, "run_name", key)


@pytest.mark.parametrize("study, parameter", [("cadavae_study_latent.yaml", "model.latent_dim"),
                                              ("cadavae_study_samples.yaml", "classifier.unseen_samples_per_class")])
def test_study_points_vary_only_their_parameter(study, parameter):
    paper = preset("cadavae_paper.yaml", "--epochs", "7")
    spec, points = study_points(CONFIGS / study, {"epochs": "7"})
    assert spec.parameter == parameter and len(points) >= 3
    section, leaf = parameter.split(".")
    for value, cfg in points:
        assert getattr(getattr(cfg, section), leaf) == int(value)
        assert cfg.run_name == f"cadavae-paper-{leaf}{value}"
        assert without(cfg, "run_name", parameter) == without(paper, "run_name", parameter)
    with pytest.raises(ConfigError, match="what the study varies"):
        study_points(CONFIGS / study, {parameter: "8"})


def test_bad_seeds_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="seeds must be >= 1"):
        preset("cadavae_paper.yaml", "--seeds", "0")
    with pytest.raises(ConfigError, match="shots must all be >= 1"):  # evaluation values fail before training
        preset("cadavae_paper.yaml", "--shots", "0")
    (tmp_path / "study.yaml").write_text("base: cadavae_paper.yaml\nparameter: model.latent_dim\nvalues: []\n")
    with pytest.raises(ConfigError, match="list each value"):
        study_points(tmp_path / "study.yaml")
