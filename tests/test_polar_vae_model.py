"""The polar VAE as a plain module: shapes, losses, penalties, and the golden loss curve."""

import math

import pytest
import torch

from zsdist.base.errors import ConfigError
from zsdist.methods.polar_vae.model import PolarVAE, PolarVAEConfig, decorrelation_penalty

# Losses of test_golden_loss_curve, recorded with torch 2.13 on CPU.
GOLDEN = [790.212, 712.126, 643.256, 591.466, 553.511]
TINY = PolarVAEConfig(encoder_channels=(4, 8), decoder_channels=(8, 4, 4), decoder_start_channels=4)


@pytest.mark.parametrize("resolution", [32, 64, 128, 256])
def test_shapes_at_every_resolution(resolution):
    model = PolarVAE(PolarVAEConfig(latent_dim=3), resolution)
    logits, mu, logvar = model(torch.rand(2, 1, resolution, resolution))
    assert logits.shape == (2, 1, resolution, resolution) and mu.shape == logvar.shape == (2, 3)


def test_original_parameter_budget_at_256():
    # The original reported ~550k parameters at 256 px; ours is the same order.
    n = sum(p.numel() for p in PolarVAE(PolarVAEConfig(), 256).parameters())
    assert 300_000 < n < 700_000


def test_fixed_sigma_is_constant_and_learned_sigma_is_not():
    x = torch.rand(4, 1, 32, 32)
    _, logvar = PolarVAE(TINY, 32).forward_encoder(x)
    assert torch.allclose(logvar, torch.full_like(logvar, 2 * math.log(0.1)))
    learned = PolarVAE(PolarVAEConfig(**{**TINY.__dict__, "sigma": "learned"}), 32)
    assert learned.forward_encoder(x)[1].std() > 0


def test_decoding_the_mean_is_deterministic():
    model = PolarVAE(TINY, 32).eval()
    x = torch.rand(3, 1, 32, 32)
    assert torch.equal(model(x, sample=False)[0], model(x, sample=False)[0])
    assert not torch.equal(model(x)[0], model(x)[0])


def test_kl_is_zero_for_the_prior():
    mu, logvar = torch.zeros(5, 3), torch.zeros(5, 3)
    x = torch.rand(5, 1, 32, 32)
    terms = PolarVAE.forward_loss(x, torch.zeros_like(x), mu, logvar)
    assert terms["kl"].item() == pytest.approx(0.0)
    assert terms["recon"].item() == pytest.approx(32 * 32 * math.log(2), rel=1e-5)


def test_decorrelation_penalties():
    independent = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
    assert decorrelation_penalty(independent, "cov").item() == pytest.approx(0.0)
    # |mu_1 mu_2| is 1 for every row: the original form penalises magnitude, not only correlation.
    assert decorrelation_penalty(independent, "abs").item() == pytest.approx(1.0)
    correlated = torch.tensor([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]])
    assert decorrelation_penalty(correlated, "cov").item() == pytest.approx(4.0)  # cov(x, 2x) = 2


def test_resolution_must_pass_the_pooling():
    with pytest.raises(ConfigError, match="divisible"):
        PolarVAE(PolarVAEConfig(), 40)


def test_golden_loss_curve():
    """A tiny fixed-seed run: any change to init, loss or optimiser shows up here."""
    torch.manual_seed(0)
    model = PolarVAE(TINY, 32)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    x = (torch.rand(8, 1, 32, 32, generator=torch.Generator().manual_seed(1)) > 0.9).float()
    generator = torch.Generator().manual_seed(2)
    losses = []
    for _ in range(5):
        logits, mu, logvar = model(x, generator=generator)
        terms = model.forward_loss(x, logits, mu, logvar)
        loss = terms["recon"] + terms["kl"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    # Tolerance covers float differences between CPU instruction sets, not behaviour changes.
    assert losses == pytest.approx(GOLDEN, rel=1e-4)
    assert losses[-1] < losses[0]
