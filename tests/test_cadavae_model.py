"""CADA-VAE as a plain module: architecture, sampling modes, loss terms by hand, warm-up (CPU, tiny)."""

import math

import pytest
import torch
from torch import nn

from zsdist.base.errors import ConfigError
from zsdist.methods.cadavae.model import CADAVAE, VAE, CADAVAEConfig
from zsdist.methods.cadavae.objective import WarmupConfig, cadavae_losses, loss_weights

WEIGHTS = {"beta": 0.3, "gamma": 1.7, "delta": 2.9}

torch.set_num_threads(1)


def tiny(faithful: bool = False, seed: int = 0) -> CADAVAE:
    torch.manual_seed(seed)
    return CADAVAE(CADAVAEConfig(feature_dim=3, attribute_dim=2, latent_dim=2, image_encoder_hidden=4,
                                 image_decoder_hidden=5, attribute_encoder_hidden=3, attribute_decoder_hidden=4,
                                 faithful=faithful))


def batch(n: int = 4, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, generator=g), torch.rand(n, 2, generator=g)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_cub_parameter_count_is_the_sum_of_the_linear_layers():
    model = CADAVAE(CADAVAEConfig())

    def linear(n_in, n_out):
        return n_in * n_out + n_out

    image = linear(2048, 1560) + 2 * linear(1560, 64) + linear(64, 1660) + linear(1660, 2048)
    attribute = linear(312, 1450) + 2 * linear(1450, 64) + linear(64, 665) + linear(665, 312)
    n = sum(p.numel() for p in model.parameters())
    assert n == image + attribute == 7_796_471
    # Nothing but Linear layers carries parameters (no norms, no extra heads).
    assert all(isinstance(m, (nn.Linear, nn.ReLU, nn.Sequential, CADAVAE, VAE)) for m in model.modules())


def test_xavier_init_with_gain_and_zero_biases():
    model = CADAVAE(CADAVAEConfig(init_gain=0.5))
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 10
    for m in linears:
        fan_out, fan_in = m.weight.shape
        bound = 0.5 * math.sqrt(6 / (fan_in + fan_out))
        assert m.weight.abs().max() <= bound and m.weight.abs().max() > 0.9 * bound
        # Uniform on [-b, b] has std b / sqrt(3).
        assert abs(m.weight.std().item() / (bound / math.sqrt(3)) - 1) < 0.1
        assert torch.count_nonzero(m.bias) == 0


def test_shapes_and_means():
    model, (x, a) = tiny(), batch()
    mu_x, logvar_x, mu_a, logvar_a = model.forward_encoder(x, a)
    assert all(t.shape == (4, 2) for t in (mu_x, logvar_x, mu_a, logvar_a))
    outs = model.forward_decoder(mu_x, mu_a)
    assert [tuple(t.shape) for t in outs] == [(4, 3), (4, 3), (4, 2), (4, 2)]
    assert torch.allclose(outs[1], model.image.decode(mu_a)) and torch.allclose(outs[3], model.attribute.decode(mu_x))
    assert torch.equal(model.encode_image_means(x), mu_x)
    assert not model.sample_latents(mu_x, logvar_x, gen()).requires_grad


def test_corrected_sampling_draws_independent_unit_normals_per_dimension():
    model = CADAVAE(CADAVAEConfig(latent_dim=8))
    mu, logvar = torch.randn(20000, 8), torch.randn(20000, 8)
    eps = (model.reparameterize(mu, logvar, gen()) - mu) / torch.exp(0.5 * logvar)
    assert eps.mean(0).abs().max() < 0.05 and (eps.std(0) - 1).abs().max() < 0.05
    corr = torch.corrcoef(eps.T) - torch.eye(8)
    assert corr.abs().max() < 0.05


def test_faithful_sampling_shares_one_eps_across_dimensions_with_sigma_exp_logvar():
    model = CADAVAE(CADAVAEConfig(latent_dim=8, faithful=True))
    mu, logvar = torch.randn(2000, 8), torch.randn(2000, 8)
    eps = (model.reparameterize(mu, logvar, gen()) - mu) / torch.exp(logvar)
    assert torch.allclose(eps, eps[:, :1].expand(-1, 8), atol=1e-4)
    assert abs(eps[:, 0].std().item() - 1) < 0.1
    # Dividing by the corrected sigma instead leaves a non-constant ratio across dimensions.
    wrong = (model.reparameterize(mu, logvar, gen()) - mu) / torch.exp(0.5 * logvar)
    assert not torch.allclose(wrong, wrong[:, :1].expand(-1, 8), atol=1e-2)


def test_loss_terms_by_hand():
    for faithful in (False, True):
        model, (x, a) = tiny(faithful), batch()
        terms = cadavae_losses(model, x, a, WEIGHTS, generator=gen(3), reduction="sum")
        # Redo the draws with the same seed: image latent first, then attribute latent.
        mu_x, logvar_x = model.image.encode(x)
        mu_a, logvar_a = model.attribute.encode(a)
        g = gen(3)
        z_x, z_a = model.reparameterize(mu_x, logvar_x, g), model.reparameterize(mu_a, logvar_a, g)
        dx, da = model.image.decode, model.attribute.decode
        recon = (dx(z_x) - x).abs().sum() + (da(z_a) - a).abs().sum()
        cross = (dx(z_a) - x).abs().sum() + (da(z_x) - a).abs().sum()
        kl = sum(0.5 * (mu**2 + lv.exp() - 1 - lv).sum() for mu, lv in ((mu_x, logvar_x), (mu_a, logvar_a)))
        # The official code's DA sigma is sqrt(exp(logvar)) in both modes.
        s_x, s_a = logvar_x.exp().sqrt(), logvar_a.exp().sqrt()
        dist = sum(math.sqrt(((mu_x[i] - mu_a[i]) ** 2).sum().item() + ((s_x[i] - s_a[i]) ** 2).sum().item())
                   for i in range(4))
        expected = {"reconstruction": recon, "cross_reconstruction": cross, "kl": kl,
                    "distribution_alignment": torch.tensor(dist)}
        for name, value in expected.items():
            assert torch.allclose(terms[name], value, rtol=1e-5), name
        total = recon + 0.3 * kl + 1.7 * cross + 2.9 * dist
        assert torch.allclose(terms["total"], total, rtol=1e-5)


def test_kl_and_da_on_set_encodings():
    # Known posteriors: the image encoder outputs mu = (1, 2), logvar = (0, ln 4); the attribute encoder
    # outputs mu = 0, logvar = 0. KL = 0.5 * [(1 + 1 - 1 - 0) + (4 + 4 - 1 - ln 4)] = 0.5 * (8 - ln 4).
    # DA = sqrt(1 + 4 + (1 - 1)^2 + (2 - 1)^2) = sqrt(6) per sample.
    model, (x, a) = tiny(), batch(n=3)
    with torch.no_grad():
        for head in (model.image.mu, model.image.logvar, model.attribute.mu, model.attribute.logvar):
            head.weight.zero_()
        model.image.mu.bias.copy_(torch.tensor([1.0, 2.0]))
        model.image.logvar.bias.copy_(torch.tensor([0.0, math.log(4)]))
        model.attribute.mu.bias.zero_()
        model.attribute.logvar.bias.zero_()
    terms = cadavae_losses(model, x, a, WEIGHTS, generator=gen(), reduction="mean")
    assert terms["kl"].item() == pytest.approx(0.5 * (8 - math.log(4)), rel=1e-6)
    assert terms["distribution_alignment"].item() == pytest.approx(math.sqrt(6), rel=1e-6)


def test_mean_is_sum_over_batch_size_and_seeding_is_reproducible():
    model, (x, a) = tiny(), batch(n=5)
    summed = cadavae_losses(model, x, a, WEIGHTS, generator=gen(7), reduction="sum")
    mean = cadavae_losses(model, x, a, WEIGHTS, generator=gen(7), reduction="mean")
    again = cadavae_losses(model, x, a, WEIGHTS, generator=gen(7))  # the default is "sum"
    other = cadavae_losses(model, x, a, WEIGHTS, generator=gen(8))
    for name in summed:
        assert torch.allclose(mean[name], summed[name] / 5, rtol=1e-6)
        assert torch.equal(again[name], summed[name])
    assert not torch.equal(other["reconstruction"], summed["reconstruction"])
    summed["total"].backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    with pytest.raises(ValueError):
        cadavae_losses(model, x, a, WEIGHTS, generator=gen(), reduction="avg")
    with pytest.raises(KeyError):
        cadavae_losses(model, x, a, {"beta": 1.0}, generator=gen())


@pytest.mark.parametrize(
    ("epoch", "beta", "gamma", "delta"),
    [(0, 0.0, 0.0, 0.0),
     (6, 0.25 * 6 / 93, 0.0, 0.0),  # delta's start
     (14, 0.25 * 14 / 93, 0.0, 8.13 * 8 / 16),  # delta's midpoint
     (21, 0.25 * 21 / 93, 0.0, 8.13 * 15 / 16),  # gamma's start
     (22, 0.25 * 22 / 93, 2.37 * 1 / 54, 8.13),  # delta's end
     (48, 0.25 * 48 / 93, 2.37 * 27 / 54, 8.13),  # gamma's midpoint
     (75, 0.25 * 75 / 93, 2.37, 8.13),  # gamma's end
     (93, 0.25, 2.37, 8.13),  # beta's end
     (99, 0.25, 2.37, 8.13)],
)
def test_reference_warmup(epoch, beta, gamma, delta):
    weights = loss_weights(epoch, WarmupConfig())
    assert weights == pytest.approx({"beta": beta, "gamma": gamma, "delta": delta}, abs=1e-12)


def test_warmup_with_equal_start_and_end_is_a_step():
    warmup = WarmupConfig(beta_start=5, beta_end=5)
    assert [loss_weights(e, warmup)["beta"] for e in (0, 4.9, 5, 6)] == [0.0, 0.0, 0.25, 0.25]


@pytest.mark.parametrize(
    ("cls", "kwargs"),
    [(CADAVAEConfig, {"latent_dim": 0}), (CADAVAEConfig, {"feature_dim": -1}), (CADAVAEConfig, {"init_gain": 0}),
     (CADAVAEConfig, {"attribute_dim": 2.5}), (CADAVAEConfig, {"init_gain": math.nan}),
     (WarmupConfig, {"beta_factor": -0.1}), (WarmupConfig, {"gamma_start": 30, "gamma_end": 20}),
     (WarmupConfig, {"delta_start": -1}), (WarmupConfig, {"beta_end": math.inf})],
)
def test_invalid_configs_raise_one_line(cls, kwargs):
    with pytest.raises(ConfigError) as info:
        cls(**kwargs)
    assert "\n" not in str(info.value)
