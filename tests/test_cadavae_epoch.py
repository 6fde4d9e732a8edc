"""CADA-VAE's one-epoch loop outside Ray: its batches, repeatability, and bf16 autocast beside float32.

The loop all-reduces its totals, so these tests open a real one-process gloo group on 127.0.0.1.
"""

import socket
from dataclasses import replace

import pytest
import torch
import torch.distributed as dist
from cadavae_synthetic import ATTRIBUTES, FEATURES, synthetic_arrays, tiny_config

from zsdist.methods.cadavae.model import CADAVAE
from zsdist.methods.cadavae.objective import CADAVAEObjective
from zsdist.methods.cadavae.training import epoch_batches, train_one_epoch


@pytest.fixture(scope="module")
def process_group():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def test_epoch_batches_visit_each_row_once_in_a_seeded_order():
    features, labels = torch.arange(10.0)[:, None], torch.arange(10)
    batches = list(epoch_batches(features, labels, 4, 3, torch.Generator().manual_seed(0)))
    assert [len(y) for _, y in batches] == [4, 4, 2]
    assert sorted(torch.cat([y for _, y in batches]).tolist()) == list(range(10))
    assert all(torch.equal(x[:, 0].long(), y) for x, y in batches)  # rows stay paired
    again = list(epoch_batches(features, labels, 4, 3, torch.Generator().manual_seed(0)))
    assert all(torch.equal(a[1], b[1]) for a, b in zip(batches, again))
    # Fewer steps than batches (a larger shard than the smallest rank's): the rest sit the epoch out.
    assert len(list(epoch_batches(features, labels, 4, 2, torch.Generator().manual_seed(0)))) == 2


def run_epochs(precision: str, epochs: int = 3) -> list[dict[str, float]]:
    cfg = tiny_config("", mixed_precision=precision)
    data = synthetic_arrays()
    rows = data["splits"] == "trainval"
    features = torch.tensor(data["features"][rows], dtype=torch.float32)
    labels = torch.tensor(data["labels"][rows])
    attributes = torch.tensor(data["attributes"], dtype=torch.float32)
    torch.manual_seed(cfg.seed)
    model = CADAVAE(replace(cfg.model, feature_dim=FEATURES, attribute_dim=ATTRIBUTES))
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, amsgrad=True, fused=True)
    objective, device, history = CADAVAEObjective(model, cfg.reduction), torch.device("cpu"), []
    for epoch in range(epochs):
        generator = torch.Generator().manual_seed(epoch)
        batches = epoch_batches(features, labels, cfg.batch_size, -(-len(labels) // cfg.batch_size), generator)
        history.append(train_one_epoch(objective, optimizer, batches, attributes, cfg, epoch, device, generator))
    return history


def test_same_config_repeats_every_metric_and_bf16_tracks_float32(process_group):
    first = run_epochs("none")
    assert [h["samples"] for h in first] == [420.0] * 3  # every trainval row once per epoch
    again = run_epochs("none")
    drop = {"samples_per_s"}  # wall-clock
    assert [{k: v for k, v in h.items() if k not in drop} for h in first] == \
           [{k: v for k, v in h.items() if k not in drop} for h in again]
    assert first[-1]["reconstruction"] < first[0]["reconstruction"]
    bf16 = run_epochs("bf16")
    # bf16 rounds the layers' inputs and outputs (8-bit mantissa): the same curve within a few percent.
    for f32, low in zip(first, bf16):
        assert low["reconstruction"] == pytest.approx(f32["reconstruction"], rel=0.05)
        assert low["loss"] == pytest.approx(f32["loss"], rel=0.05)
    assert bf16 != first  # it did run in bf16
