"""The augmentation experiment's sets: which rows train, which are test, and the images each augmentation adds.

    splits = make_splits(data_dir, selection, held_out, sets)   # numpy only, the same for the same config
    real = read_rows(data_dir, selection, splits.index, rows, image_size)
    extra = standard_augmentation(...), synthetic_sets(state, splits, train_images, ...)

A row is a position in the selection's non-blank rows (gzsnet/synthesis.py selected_rows); `index`
maps rows to the dataset's global indices.
- train: every row that is not a held-out combination. Exactly what the generator trains on (held-out
  rows are dropped before GZS-Net forms its groups) and the classifier's real training images.
- test: per font, `test_per_font` held-out rows (a seeded sample), so the test set is balanced and made
  of real images of combinations that no training set contains.
- targets: per held-out combination, `extra_per_combination` attribute tuples of its rows, drawn with
  replacement. Only their values are used, never their images: each target's sources (gzsnet/targets.py
  pick_sources, as the zero-shot evaluation does) are training rows, one per attribute, with the
  target's value of that attribute, and GZS-Net or AE+DS decodes the target from their latent chunks.
- standard augmentation: per target, its font source (a training image of the target's font) with a
  random RGB channel permutation (never the identity: a colour jitter that moves a palette colour to
  another hue) and a random translation of up to `max_shift` pixels. Conditions (b), (c) and (d) thus
  add images of the same fonts in the same numbers and differ only in how the images are made.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations
from pathlib import Path

import numpy as np
import torch

from datagen.shards import read_spec
from datagen.spec.fonts import ATTRIBUTES, FontsSpec
from zsdist.base.errors import ConfigError, DataError
from zsdist.config import from_dict
from zsdist.data.fonts import FontsSelection, downscale_factor
from zsdist.data.heldout import HeldOutConfig
from zsdist.experiments.augmentation.config import SetsConfig
from zsdist.methods.gzsnet.ae_ds import AEDS
from zsdist.methods.gzsnet.config import GZSNetTrainConfig
from zsdist.methods.gzsnet.model import GZSNet
from zsdist.methods.gzsnet.synthesis import encode, read_images, selected_rows, synthesise
from zsdist.methods.gzsnet.targets import NO_ROW, pick_sources

FONT = ATTRIBUTES.index("font")
# Independent random streams of sets.seed: a new extra_per_combination leaves the test sample alone.
_TEST, _TARGETS, _STANDARD = range(3)
_PERMUTATIONS = np.array([p for p in permutations(range(3)) if p != (0, 1, 2)])


@dataclass(frozen=True)
class Splits:
    index: np.ndarray  # (N,) global indices of the selection's non-blank rows
    attrs: np.ndarray  # (N, A) their value positions
    train: np.ndarray  # (R,) sorted rows that are not held out
    test: np.ndarray  # (T,) held-out rows of the test set, font by font
    targets: np.ndarray  # (M, A) value positions of the images each augmentation adds
    sources: np.ndarray  # (M, A) rows: per target and attribute, the training image its chunk comes from
    fonts: np.ndarray  # (F,) font value positions: class c is font fonts[c]
    combinations: int  # held-out combinations in the selection (M = combinations x extra_per_combination)

    def labels(self, font_values: np.ndarray) -> np.ndarray:
        """int64 class ids of font value positions."""
        return np.searchsorted(self.fonts, font_values).astype(np.int64)


def make_splits(data_dir: Path | str, selection: FontsSelection, held_out: HeldOutConfig,
                sets: SetsConfig) -> Splits:
    """The experiment's rows (module docstring); a one-line error if the config cannot give them."""
    description = read_spec(data_dir, dataset="fonts")
    attrs, index, held = selected_rows(data_dir, selection, held_out, description)
    train, held_rows = np.flatnonzero(~held), np.flatnonzero(held)
    fonts = np.unique(attrs[:, FONT])

    rng = np.random.default_rng([sets.seed, _TEST])
    test = []
    for font in fonts:
        rows = held_rows[attrs[held_rows, FONT] == font]
        if len(rows) < sets.test_per_font:
            font_id = description["attributes"]["font"][font]["font_id"]
            raise ConfigError(f"font {font_id} has {len(rows)} images of held-out combinations, fewer than "
                              f"sets.test_per_font={sets.test_per_font}: lower it, or raise "
                              "generator.held_out.fraction or try another generator.held_out.seed")
        test.append(np.sort(rng.choice(rows, sets.test_per_font, replace=False)))

    rng = np.random.default_rng([sets.seed, _TARGETS])
    pair = [ATTRIBUTES.index(a) for a in held_out.pairs]
    combinations, combination_of = np.unique(attrs[held_rows][:, pair], axis=0, return_inverse=True)
    picked = np.concatenate([rng.choice(held_rows[combination_of.ravel() == c], sets.extra_per_combination)
                             for c in range(len(combinations))])
    targets = attrs[picked]
    sources = pick_sources(attrs[train], targets, rng)
    if (sources == NO_ROW).any():
        raise DataError("a held-out combination has a value no training image has: select more values "
                        "(generator.selection) or lower generator.held_out.fraction")
    return Splits(index=index, attrs=attrs, train=train, test=np.concatenate(test), targets=targets,
                  sources=train[sources], fonts=fonts, combinations=len(combinations))


def read_rows(data_dir: Path | str, selection: FontsSelection, index: np.ndarray, rows: np.ndarray,
              image_size: int) -> torch.Tensor:
    """float32 (len(rows), 3, S, S) in [-1, 1]: the images of these rows, in their order, at the model's size."""
    wanted = np.unique(index[rows])
    factor = downscale_factor(read_spec(data_dir, dataset="fonts")["spec"]["resolution"], image_size)
    return read_images(data_dir, selection, wanted, factor)[np.searchsorted(wanted, index[rows])]


def quantise(images: torch.Tensor) -> np.ndarray:
    """[-1, 1] float images to uint8 (N, C, H, W), as a PNG of them would hold."""
    return ((images.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()


def standard_augmentation(images: np.ndarray, max_shift: int, seed: int) -> np.ndarray:
    """uint8 (N, 3, S, S): each image with a random non-identity channel order, shifted by up to max_shift
    pixels in each direction (the border pixels repeat into the gap: Fonts backgrounds are flat)."""
    rng = np.random.default_rng([seed, _STANDARD])
    channels = _PERMUTATIONS[rng.integers(len(_PERMUTATIONS), size=len(images))]
    permuted = np.take_along_axis(images, channels[:, :, None, None], axis=1)
    shifts = rng.integers(-max_shift, max_shift + 1, size=(len(images), 2))
    m, side = max_shift, images.shape[-1]
    padded = np.pad(permuted, ((0, 0), (0, 0), (m, m), (m, m)), mode="edge")
    return np.stack([padded[i, :, m + dy:m + dy + side, m + dx:m + dx + side] for i, (dy, dx) in enumerate(shifts)])


def synthetic_sets(state: dict, description: dict, splits: Splits, train_images: torch.Tensor,
                   batch_size: int = 256) -> dict[str, np.ndarray]:
    """{"gzsnet": uint8 (M, 3, S, S), "ae_ds": ...}: every target drawn by each model of the generator's
    checkpoint state from its sources' chunks. train_images is aligned with splits.train."""
    train_cfg = from_dict(GZSNetTrainConfig, state["config"])
    gzsnet = GZSNet(train_cfg.model)
    gzsnet.load_state_dict(state["model"])
    baseline = AEDS(train_cfg.model, FontsSpec.from_dict(description["spec"]).shape)
    baseline.load_state_dict(state["baseline"])
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    used, source_of = np.unique(splits.sources, return_inverse=True)  # each source image is encoded once
    source_of = source_of.reshape(splits.sources.shape)
    source_images = train_images[np.searchsorted(splits.train, used)]
    drawn = {}
    for name, model in (("gzsnet", gzsnet), ("ae_ds", baseline.autoencoder)):
        # Train mode, as GZS-Net's evaluation (and the released test code): each image normalised on its own.
        model.to(device).train()
        latents = encode(model, source_images, batch_size)
        chunks = {a: latents[source_of[:, k]] for k, a in enumerate(ATTRIBUTES)}
        drawn[name] = quantise(synthesise(model, chunks, batch_size))
    return drawn
