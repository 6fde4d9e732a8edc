"""Typed configs: defaults < file < flags, conversion, validation, one-line errors."""

import json
from dataclasses import dataclass

import pytest

from datagen.spec.polar import PolarSpec
from zsdist.base.errors import ConfigError
from zsdist.cli import build_parser
from zsdist.config import flags_to_overrides, flatten, from_dict, load_config, to_dict
from zsdist.config_help import field_comments
from zsdist.methods.polar_vae.config import PolarTrainConfig


def test_precedence_defaults_file_flags(tmp_path):
    file = tmp_path / "train.yaml"
    file.write_text("epochs: 7\nlr: 0.01\nmodel:\n  latent_dim: 5\n  sigma: learned\n")
    cfg = load_config(PolarTrainConfig, file=file, overrides={"lr": "0.002", "model.encoder_channels": "8,8"})
    assert (cfg.epochs, cfg.lr, cfg.batch_size) == (7, 0.002, 32)
    assert (cfg.model.latent_dim, cfg.model.sigma, cfg.model.encoder_channels) == (5, "learned", (8, 8))


def test_json_file_and_round_trip(tmp_path):
    cfg = PolarTrainConfig(data="/d", epochs=3)
    file = tmp_path / "cfg.json"
    file.write_text(json.dumps(to_dict(cfg)))
    assert load_config(PolarTrainConfig, file=file) == cfg
    assert from_dict(PolarTrainConfig, to_dict(cfg)) == cfg
    assert flatten(cfg)["model.latent_dim"] == 3


def test_cli_flags_reach_the_dataclass():
    args = build_parser().parse_args(["train", "polar-vae", "--data", "/x", "--model.latent_dim", "2",
                                      "--decorrelation", "cov", "--use_gpu", "false"])
    cfg = load_config(PolarTrainConfig, overrides=flags_to_overrides(args))
    assert (cfg.data, cfg.model.latent_dim, cfg.decorrelation, cfg.use_gpu) == ("/x", 2, "cov", False)


def test_spec_flags_fill_tuples():
    args = build_parser().parse_args(["datagen", "polar", "--resolution", "128", "--hole_center", "1.0,0.8"])
    spec = load_config(PolarSpec, overrides=flags_to_overrides(args))
    assert spec.resolution == 128 and spec.hole_center == (1.0, 0.8)


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        ({"epoch": "3"}, "unknown config key 'epoch'"),
        ({"model.latent_size": "3"}, "unknown config key 'model.latent_size'"),
        ({"epochs": "three"}, "'epochs' must be int"),
        ({"epochs": "0"}, "epochs must be >= 1"),
        ({"decorrelation": "l2"}, "must be one of none, abs, cov"),
        ({"model.latent_dim": "0"}, "latent_dim must be >= 1"),
        ({"lr": "-1"}, "lr must be > 0"),
    ],
)
def test_bad_values_give_one_line_errors(overrides, fragment):
    with pytest.raises(ConfigError) as info:
        load_config(PolarTrainConfig, overrides=overrides)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(PolarTrainConfig, file=tmp_path / "missing.yaml")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid json"):
        load_config(PolarTrainConfig, file=broken)
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(PolarTrainConfig, file=listing)


@dataclass(kw_only=True)
class _Documented:
    epochs: int = 3  # passes over the data
    # the step size,
    # of Adam
    lr: float = 0.1
    seed: int = 0


@dataclass(kw_only=True)
class _Extended(_Documented):
    seed: int = 1  # draws everything
    undocumented: str = ""


def test_flag_help_is_the_comment_beside_or_above_the_field():
    assert field_comments(_Documented) == {"epochs": "passes over the data", "lr": "the step size, of Adam"}
    assert field_comments(_Extended) == {"epochs": "passes over the data", "lr": "the step size, of Adam",
                                         "seed": "draws everything"}
