"""The `zsdist` command as a user runs it: bad input ends in one line naming the problem and fix."""

import subprocess
import sys

import pytest


def zsdist(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zsdist", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd)


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["datagen", "polar", "--resolution", "8"], "resolution must be >= 16"),
        (["datagen", "polar", "--n_points", "-5"], "n_points"),
        (["datagen", "polar", "--hole_center", "3,1"], "hole"),
        (["train", "polar-vae", "--epochs", "0"], "epochs must be >= 1"),
    ],
)
def test_impossible_input_is_one_line(args, fragment, tmp_path):
    result = zsdist(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("zsdist: error: ") and result.stderr.count("\n") == 1
    assert fragment in result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a workspace


def test_misspelt_flag_is_refused_not_abbreviated(tmp_path):
    result = zsdist("train", "polar-vae", "--data", str(tmp_path), "--epoch", "3")
    assert result.returncode == 2 and "unrecognized arguments: --epoch" in result.stderr


def test_unknown_key_in_a_config_file(tmp_path):
    config = tmp_path / "train.yaml"
    config.write_text("epochs: 2\nmodel:\n  latent_size: 4\n")
    result = zsdist("train", "polar-vae", "--config", str(config), "--data", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "zsdist: error: unknown config key 'model.latent_size' for PolarVAEConfig: valid keys are "
        "decoder_channels, decoder_start_channels, encoder_channels, fixed_sigma, latent_dim, sigma"
    )


def test_training_on_a_missing_dataset(tmp_path):
    result = zsdist("train", "polar-vae", "--data", str(tmp_path / "nothing"), cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "zsdist datagen polar" in result.stderr


def test_help_lists_the_subcommands():
    result = zsdist("--help")
    assert result.returncode == 0
    for command in ("datagen", "train", "eval", "demo"):
        assert command in result.stdout


def test_xlsa17_import_of_a_missing_directory_is_one_line(tmp_path):
    result = zsdist("datagen", "xlsa17", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "att_splits.mat is missing" in result.stderr
