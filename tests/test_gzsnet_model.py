"""GZS-Net as a plain module: presets, chunk algebra, and the group losses (tiny preset, CPU)."""

import pytest
import torch

from zsdist.base.errors import ConfigError
from zsdist.methods.gzsnet.model import GZSNet, GZSNetConfig, preset
from zsdist.methods.gzsnet.objective import GZSNetLossWeights, gzsnet_losses

ATTRS = ("letter", "size", "font_colour", "background_colour", "font")
# Terms of test_golden_loss (tiny preset, seed 0), recorded with torch 2.13 on CPU.
GOLDEN = {"reconstruction": 0.5433734, "swap": 0.5472689, "cycle": 0.5520985, "neighbour_decode": 0.5487354,
          "total": 2.1914763}
ONLY_SWAP = GZSNetLossWeights(reconstruction=0, swap=1, cycle=0, neighbour_decode=0)


def tiny(seed: int = 0, **layout) -> GZSNet:
    torch.manual_seed(seed)
    return GZSNet(preset("tiny", **layout))


def random_groups(n_groups: int = 3, n_attr: int = 5, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n_groups, 1 + n_attr, 3, 32, 32, generator=g) * 2 - 1


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def encoder_output_grad(model: GZSNet, loss_fn) -> torch.Tensor:
    """Gradient of loss_fn() w.r.t. the latents of the inputs' encoding (the first encoder call)."""
    captured = []
    handle = model.encoder_fc.register_forward_hook(lambda m, i, out: captured.append(out) or out.retain_grad())
    loss_fn().backward()
    handle.remove()
    return captured[0].grad


@pytest.mark.parametrize("name", ["cpu64", "cpu32", "tiny"])
def test_shapes_per_preset(name):
    model = GZSNet(preset(name))
    s = model.config.image_size
    z = model.forward_encoder(torch.rand(2, 3, s, s) * 2 - 1)
    x_hat = model.forward_decoder(z)
    assert z.shape == (2, model.config.latent_dim) and x_hat.shape == (2, 3, s, s)
    assert x_hat.abs().max() <= 1  # tanh


def test_paper_preset_is_the_released_architecture():
    model = GZSNet(preset("paper"))
    n = sum(p.numel() for p in model.parameters())
    assert abs(n - 143e6) / 143e6 < 0.02
    assert model.config.widths == [64, 128, 256, 256, 256] and model.map_shape == (256, 8, 8)
    fc = sum(p.numel() for m in (model.encoder_fc, model.decoder_fc) for p in m.parameters())
    assert 0.93 < fc / n < 0.95  # "94% in the four FC layers"
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 128, 128)).shape == (1, 3, 128, 128)


def test_chunk_layout_follows_given_attributes():
    model = GZSNet(preset("cpu32", attributes=("shape", "colour", "pose"), chunk_sizes=(4, 6, 2)))
    assert model.config.latent_dim == 12
    assert [model.chunk(a) for a in ("shape", "colour", "pose")] == [slice(0, 4), slice(4, 10), slice(10, 12)]
    # Attributes alone keep the preset's per-chunk size.
    assert preset("cpu64", attributes=("a", "b")).chunk_sizes == (16, 16)
    with pytest.raises(KeyError):
        model.chunk("letter")


@pytest.mark.parametrize(
    "kwargs",
    [{"image_size": 48}, {"image_size": 32, "downsamplings": 6}, {"attributes": ("a",), "chunk_sizes": (1, 2)},
     {"attributes": (), "chunk_sizes": ()}, {"chunk_sizes": (20, 20, 0, 20, 20)}, {"norm": "batch"}],
)
def test_invalid_configs_raise_one_line(kwargs):
    with pytest.raises(ConfigError) as info:
        GZSNetConfig(**kwargs)
    assert "\n" not in str(info.value)


def test_swap_and_combine_move_exactly_the_named_chunks():
    model = tiny()
    z_a, z_b = torch.randn(2, 10), torch.randn(2, 10)
    assert all(torch.equal(s, z_a) for s in model.swap(z_a, z_a.clone(), ["size", "font"]))
    a2, b2 = model.swap(z_a, z_b, ["size"])
    size = model.chunk("size")
    assert torch.equal(a2[:, size], z_b[:, size]) and torch.equal(b2[:, size], z_a[:, size])
    rest = ~model.chunk_mask(["size"])
    assert torch.equal(a2[:, rest], z_a[:, rest]) and torch.equal(b2[:, rest], z_b[:, rest])
    sources = {a: torch.full((2, 10), float(i)) for i, a in enumerate(ATTRS)}
    assert torch.equal(model.combine(sources)[0], torch.arange(5.0).repeat_interleave(2))
    with pytest.raises(KeyError):
        model.combine({"letter": z_a})


def test_swap_term_is_the_manual_swap_against_the_originals():
    model, groups = tiny(), random_groups()
    terms = gzsnet_losses(model, groups, ONLY_SWAP, generator=gen())
    z = model.forward_encoder(groups.flatten(0, 1)).view(3, 6, -1)
    k = 2  # font_colour
    c_z, p_z = model.swap(z[:, 0], z[:, 1 + k], [ATTRS[k]])
    expected = ((model.forward_decoder(c_z) - groups[:, 0]).abs().mean()
                + (model.forward_decoder(p_z) - groups[:, 1 + k]).abs().mean()) / 2
    assert torch.allclose(terms["swap/font_colour"], expected, rtol=1e-5)
    assert torch.allclose(terms["swap"], torch.stack([terms[f"swap/{a}"] for a in ATTRS]).mean())


def test_swap_with_a_partner_equal_to_the_centre_is_plain_reconstruction():
    # An identical partner shares every value, so swapping any chunk must leave the target (the
    # original image) and the decoded image unchanged: the swap term equals the reconstruction term.
    model = tiny()
    groups = random_groups(n_groups=2)[:, :1].expand(-1, 6, -1, -1, -1).contiguous()
    terms = gzsnet_losses(model, groups, GZSNetLossWeights(cycle=0), generator=gen())
    for a in ATTRS:
        assert torch.allclose(terms[f"swap/{a}"], terms["reconstruction"], rtol=1e-5)


def test_swap_term_of_attribute_k_reaches_only_the_centre_and_partner_k():
    model, groups = tiny(), random_groups(n_groups=1)
    k = 1
    grad = encoder_output_grad(model, lambda: gzsnet_losses(model, groups, ONLY_SWAP, generator=gen())["swap/size"])
    grad = grad.view(6, 10)
    assert grad[0].abs().min() > 0 and grad[1 + k].abs().min() > 0  # every chunk of both is decoded
    others = [1 + j for j in range(5) if j != k]
    assert torch.count_nonzero(grad[others]) == 0


def test_neighbour_decode_takes_only_chunk_k_from_partner_k():
    model, groups = tiny(), random_groups(n_groups=1)
    weights = GZSNetLossWeights(reconstruction=0, swap=0, cycle=0, neighbour_decode=1)
    grad = encoder_output_grad(model, lambda: gzsnet_losses(model, groups, weights, generator=gen())["total"])
    grad = grad.view(6, 10)
    assert torch.count_nonzero(grad[0]) == 0  # the centre's own latent is never decoded
    for k, a in enumerate(ATTRS):
        inside = model.chunk_mask([a])
        assert grad[1 + k, inside].abs().min() > 0 and torch.count_nonzero(grad[1 + k, ~inside]) == 0


def test_cycle_is_finite_differentiable_and_seeded():
    model, groups = tiny(), random_groups(n_groups=4)
    weights = GZSNetLossWeights(reconstruction=0, swap=0, cycle=1)
    values = [gzsnet_losses(model, groups, weights, generator=gen(s))["cycle"] for s in (7, 7, 8)]
    assert torch.isfinite(values[0]) and values[0] > 0
    assert torch.equal(values[0], values[1]) and not torch.equal(values[0], values[2])
    values[0].backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters() if p.requires_grad)


def test_cycle_uses_only_centres_that_share_no_value():
    model, groups = tiny(), random_groups(n_groups=2)
    weights = GZSNetLossWeights(reconstruction=0, swap=0, cycle=1)
    labels = torch.zeros(2, 6, 5, dtype=torch.long)
    labels[1, 0] = 1  # the two centres differ everywhere: both pairs (0, 1) and (1, 0) count
    assert gzsnet_losses(model, groups, weights, generator=gen(), labels=labels)["cycle"] > 0
    labels[1, 0, 3] = 0  # they now share background_colour: no valid pair
    assert gzsnet_losses(model, groups, weights, generator=gen(), labels=labels)["cycle"] == 0


def test_zero_weights_drop_terms_and_total_is_the_weighted_sum():
    model, groups = tiny(), random_groups()
    weights = GZSNetLossWeights(reconstruction=2, swap=0.5, cycle=0, neighbour_decode=3)
    terms = gzsnet_losses(model, groups, weights, generator=gen())
    assert "cycle" not in terms and "swap/letter" in terms
    expected = 2 * terms["reconstruction"] + 0.5 * terms["swap"] + 3 * terms["neighbour_decode"]
    assert torch.allclose(terms["total"], expected)
    with pytest.raises(ConfigError):
        GZSNetLossWeights(reconstruction=0, swap=0, cycle=0, neighbour_decode=0)
    with pytest.raises(ConfigError):
        GZSNetLossWeights(swap=-1)


def test_groups_must_match_the_attribute_count():
    with pytest.raises(ValueError):
        gzsnet_losses(tiny(), random_groups(n_attr=3), GZSNetLossWeights(), generator=gen())


def test_golden_loss():
    terms = gzsnet_losses(tiny(), random_groups(), GZSNetLossWeights(cycle=1, neighbour_decode=1), generator=gen(3))
    assert {k: terms[k].item() for k in GOLDEN} == pytest.approx(GOLDEN, rel=1e-4)
