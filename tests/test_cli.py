"""The `zsdist` command as a user runs it: bad input ends in one line naming the problem and fix.

`python -m zsdist` runs once as its own process (the help); the other cases call the same `main` in
this process (an interpreter with torch, Ray and MLflow imported costs ~6 s to start).
"""

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass

import pytest

from zsdist.cli import build_parser, main


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def zsdist(capsys, monkeypatch):
    """Run `zsdist ARGS` through the CLI's main in this process, from `cwd`, as a fresh shell would."""
    monkeypatch.delenv("ZSDIST_HOME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)

    def run(*args: str, cwd=None) -> Result:
        if cwd is not None:
            monkeypatch.chdir(cwd)
        code = 0
        try:
            main(list(args))
        except SystemExit as exit:
            code = exit.code
        out = capsys.readouterr()
        return Result(code, out.out, out.err)

    return run


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["datagen", "polar", "--resolution", "8"], "resolution must be >= 16"),
        (["datagen", "polar", "--n_points", "-5"], "n_points"),
        (["datagen", "polar", "--hole_center", "3,1"], "hole"),
        (["train", "polar-vae", "--epochs", "0"], "epochs must be >= 1"),
    ],
)
def test_impossible_input_is_one_line(args, fragment, tmp_path, zsdist):
    result = zsdist(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("zsdist: error: ") and result.stderr.count("\n") == 1
    assert fragment in result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a workspace


def test_misspelt_flag_is_refused_not_abbreviated(tmp_path, zsdist):
    result = zsdist("train", "polar-vae", "--data", str(tmp_path), "--epoch", "3")
    assert result.returncode == 2 and "unrecognized arguments: --epoch" in result.stderr


def test_unknown_key_in_a_config_file(tmp_path, zsdist):
    config = tmp_path / "train.yaml"
    config.write_text("epochs: 2\nmodel:\n  latent_size: 4\n")
    result = zsdist("train", "polar-vae", "--config", str(config), "--data", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "zsdist: error: unknown config key 'model.latent_size' for PolarVAEConfig: valid keys are "
        "decoder_channels, decoder_start_channels, encoder_channels, fixed_sigma, latent_dim, sigma"
    )


def test_training_on_a_missing_dataset(tmp_path, zsdist):
    result = zsdist("train", "polar-vae", "--data", str(tmp_path / "nothing"), cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "zsdist datagen polar" in result.stderr


def test_help_lists_the_subcommands():
    result = subprocess.run([sys.executable, "-m", "zsdist", "--help"], capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 0
    for command in ("datagen", "train", "eval", "demo"):
        assert command in result.stdout


def test_xlsa17_import_of_a_missing_directory_is_one_line(tmp_path, zsdist):
    result = zsdist("datagen", "xlsa17", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "att_splits.mat is missing" in result.stderr


def _flags(parser: argparse.ArgumentParser, command: str = "zsdist"):
    """(command, flag, help) of every option of every subcommand, recursively."""
    for action in parser._actions:  # argparse keeps no public list of a parser's arguments
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _flags(sub, f"{command} {name}")
        elif action.option_strings and "-h" not in action.option_strings:
            yield command, action.option_strings[0], action.help or ""


def test_every_flag_of_every_subcommand_says_what_it_does():
    undocumented = [f"{command} {flag}" for command, flag, text in _flags(build_parser())
                    if not re.sub(r"\(default: .*\)$", "", text).strip()]
    assert not undocumented, f"{len(undocumented)} flags say only their default, e.g. {undocumented[:8]}"
