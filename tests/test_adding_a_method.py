"""docs/adding-a-method.md is true: its beta-VAE, written out of the page into a package and registered
with one line, is a method the CLI, the search and compare offer, whose plan reads a real Fonts dataset
and whose worker trains an epoch (a real one-process gloo group, a real Ray Dataset as its shard).
"""

import re
import socket
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

import zsdist.methods
from datagen.run_fonts import generate_fonts
from datagen.spec.fonts import FontsSpec
from zsdist.cli import main
from zsdist.compare import headline_metrics
from zsdist.train.loop import WorkerContext

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "adding-a-method.md"
BLOCK = re.compile(r"```python file=(\S+)\n(.*?)```", re.DOTALL)


@pytest.fixture
def registered(tmp_path, monkeypatch):
    """The guide's files as the package beta_vae, registered beside the built-in methods."""
    files = BLOCK.findall(GUIDE.read_text())
    assert {name for name, _ in files} == {"beta_vae/config.py", "beta_vae/model.py", "beta_vae/training.py",
                                           "beta_vae/__init__.py"}
    for name, code in files:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(zsdist.methods, "REGISTERED", (*zsdist.methods.REGISTERED, "beta_vae"))  # the one line
    zsdist.methods.methods.cache_clear()
    yield zsdist.methods.get_method("beta-vae")
    zsdist.methods.methods.cache_clear()
    for module in [m for m in sys.modules if m.split(".")[0] == "beta_vae"]:
        del sys.modules[module]


def test_one_registration_line_gives_the_method_every_command(registered, capsys):
    for command in (["train", "beta-vae"], ["eval", "beta-vae"], ["tune", "beta-vae"]):
        with pytest.raises(SystemExit) as exited:
            main([*command, "--help"])
        assert exited.value.code == 0
    help_text = capsys.readouterr().out
    assert "weight of the KL term" in help_text and "--search.num_samples" in help_text
    assert ("eval/recon", "eval/kl") in headline_metrics()


def test_its_plan_reads_fonts_and_its_worker_trains_an_epoch(registered, ray_cluster, tmp_path):
    data = tmp_path / "fonts"
    generate_fonts(FontsSpec(letters="Ab", size_names=("small", "large"), size_pixels=(80, 120),
                             colour_names=("red", "green", "blue"),
                             colour_rgb=((255, 0, 0), (0, 128, 0), (0, 0, 255)),
                             font_ids=(3, 17), resolution=32), data, num_workers=1, progress=False)
    cfg = registered.train_config(data=str(data), batch_size=8, latent_dim=4)
    plan = registered.plan(cfg)
    assert plan.payload == {"image_size": 32} and plan.params == {"dataset.images": 2 * 2 * 2 * 6}  # 6 not blank
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
    try:
        torch.manual_seed(cfg.seed)
        worker = registered.worker(cfg, WorkerContext(rank=0, world_size=1, device=torch.device("cpu"),
                                                      payload=plan.payload))
        worker.shard = plan.datasets()["train"]  # what ray.train.get_dataset_shard gives a worker of one
        first, second = worker.train_epoch(0), worker.train_epoch(1)
    finally:
        dist.destroy_process_group()
    assert first["images"] == second["images"] == 48 and second["loss"] < first["loss"]
    assert set(worker.state_dict()) == {"model", "optimizer"}
