"""Every command that reads a dataset, pointed at another kind: one line saying what was found, what
was needed and how to make it (exit status 2), never a traceback from inside a reader."""

import pytest
from cadavae_synthetic import write_synthetic

import zsdist.cli
from datagen.run_fonts import generate_fonts
from datagen.spec.fonts import FontsSpec
from datagen.spec.polar import PolarSpec
from zsdist.pipelines.datasets import generate_polar_dataset

# The command, the kind it reads, and the words of that kind in the message (zsdist/data/kinds.py).
COMMANDS = {
    "train polar-vae": "polar", "train gzsnet": "fonts", "train cadavae": "features",
    "tune polar-vae": "polar", "tune gzsnet": "fonts", "tune cadavae": "features",
    "datagen fontszsl": "fonts",
}
WORDS = {"polar": "polar-curve images", "fonts": "Fonts images", "features": "a feature dataset"}
MAKES = {"polar": "zsdist datagen polar", "fonts": "zsdist datagen fonts", "features": "zsdist datagen xlsa17"}


@pytest.fixture(scope="module")
def datasets(ray_cluster, tmp_path_factory):
    """One small dataset of every kind, made by its own generator."""
    root = tmp_path_factory.mktemp("kinds")
    generate_polar_dataset(PolarSpec(n_points=40, n_test=8, transect_points=3, resolution=32), str(root / "polar"))
    generate_fonts(FontsSpec(letters="Ab", size_names=("small", "large"), size_pixels=(80, 120),
                             colour_names=("red", "green", "blue"),
                             colour_rgb=((255, 0, 0), (0, 128, 0), (0, 0, 255)), font_ids=(3, 17),
                             resolution=32),
                   root / "fonts", num_workers=1, progress=False)
    write_synthetic(root / "features")
    return {kind: root / kind for kind in WORDS}


@pytest.mark.parametrize("command,found", [(c, k) for c, needed in COMMANDS.items() for k in WORDS if k != needed])
def test_a_command_given_another_kind_of_dataset_says_so_in_one_line(command, found, datasets, tmp_path,
                                                                     monkeypatch, capsys):
    monkeypatch.setenv("ZSDIST_HOME", str(tmp_path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    where = ["--out", str(tmp_path / "out")] if command.startswith("datagen") else ["--run_name", "kinds"]
    with pytest.raises(SystemExit) as exit:
        zsdist.cli.main([*command.split(), "--data", str(datasets[found]), *where])
    needed = COMMANDS[command]
    [line] = capsys.readouterr().err.strip().splitlines()
    assert exit.value.code == 2
    assert line.startswith(f"zsdist: error: {datasets[found]} holds {WORDS[found]}"), line
    assert f"but `zsdist {command}` needs {WORDS[needed]}" in line and f"`{MAKES[needed]} " in line, line
    assert not list(tmp_path.glob("checkpoints/*")) and not list(tmp_path.glob("out*"))  # nothing started


def test_a_directory_without_a_dataset_names_the_generator_to_run(tmp_path, capsys):
    with pytest.raises(SystemExit):
        zsdist.cli.main(["train", "gzsnet", "--data", str(tmp_path)])
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line == (f"zsdist: error: {tmp_path} holds no generated dataset (no _manifest.json): pass the directory "
                    f"you generated, or make one with `zsdist datagen fonts --out {tmp_path}`")
