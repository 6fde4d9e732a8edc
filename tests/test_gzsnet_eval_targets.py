"""What the zero-shot evaluation draws from: chunk sources, single-attribute bases, nearest
neighbours; the AE+DS baseline's losses; and the per-worker shard split of the group sampler."""

from itertools import product

import numpy as np
import pytest
import torch

from zsdist.methods.gzsnet.ae_ds import AEDS
from zsdist.methods.gzsnet.model import PRESETS
from zsdist.methods.gzsnet.targets import NO_ROW, nearest_neighbours, pick_bases, pick_sources

SHAPE = (4, 3, 3, 3, 4)


def grid_split(held_pairs: set[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Every combination of SHAPE; those whose (letter, font) is in held_pairs are the targets."""
    rows = np.array(list(product(*(range(n) for n in SHAPE))))
    held = np.array([(r[0], r[4]) in held_pairs for r in rows])
    return rows[~held], rows[held]


def test_sources_share_their_attribute_and_differ_in_all_others_when_possible():
    train, targets = grid_split({(0, 1), (2, 3)})
    sources = pick_sources(train, targets, np.random.default_rng(0))
    assert (sources != NO_ROW).all()
    for t, target in enumerate(targets):
        for k in range(len(SHAPE)):
            source = train[sources[t, k]]
            assert source[k] == target[k]
            assert (np.delete(source, k) != np.delete(target, k)).all()


def test_bases_differ_from_the_target_in_exactly_their_attribute():
    train, targets = grid_split({(0, 1), (2, 3)})
    bases = pick_bases(train, targets, np.random.default_rng(0))
    # Only letter (0) and font (4) can change without staying in a held-out (letter, font) pair.
    assert (bases[:, [1, 2, 3]] == NO_ROW).all() and (bases[:, [0, 4]] != NO_ROW).all()
    for t, target in enumerate(targets):
        for k in (0, 4):
            differs = train[bases[t, k]] != target
            assert differs[k] and differs.sum() == 1


def test_nearest_neighbour_matches_the_most_values_and_ties_are_seeded():
    train, targets = grid_split({(0, 1)})
    first = nearest_neighbours(train, targets, np.random.default_rng(5))
    assert ((train[first] == targets).sum(axis=1) == 4).all()  # 4 of 5: the held-out pair itself is unseen
    assert np.array_equal(first, nearest_neighbours(train, targets, np.random.default_rng(5)))
    assert not np.array_equal(first, nearest_neighbours(train, targets, np.random.default_rng(6)))


def test_ae_ds_classifier_of_chunk_k_trains_only_chunk_k():
    torch.manual_seed(0)
    config = PRESETS["tiny"]
    model = AEDS(config, (4, 3, 3, 3, 4))
    images = torch.rand(6, 3, 32, 32) * 2 - 1
    labels = torch.randint(0, 3, (6, 5))
    terms = model(images, labels, classifier_weight=1.0)
    assert set(terms) == {"reconstruction", "classification", "accuracy", "total"}
    assert torch.isfinite(terms["total"]) and 0 <= terms["accuracy"] <= 1
    # The font classifier's loss reaches the latent only through the font chunk.
    z = model.autoencoder.forward_encoder(images).detach().requires_grad_()
    torch.nn.functional.cross_entropy(model.classifiers[4](z[:, model.autoencoder.chunk("font")]), labels[:, 4]).backward()
    grad = z.grad.abs().sum(dim=0)
    assert grad[model.autoencoder.chunk("font")].sum() > 0
    assert grad[: model.autoencoder.chunk("font").start].sum() == 0
    with pytest.raises(ValueError, match="one count per attribute"):
        AEDS(config, (4, 3))
