"""GZS-Net groups from the Fonts shards: exact-one-attribute partners, one shard per group, held-out
combinations and blank images excluded, determinism, decoded pixels, and Ray Data = direct calls."""

import json
from itertools import product
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datagen.run_fonts import generate_fonts
from datagen.shards import dataset_files
from datagen.spec.fonts import ATTRIBUTES, FontsSpec, decode_index, shard_blocks
from zsdist.base.errors import ConfigError, DataError
from zsdist.data.fonts import FontsSelection, decode_rgb
from zsdist.data.heldout import HeldOutConfig, held_out_pairs, is_held_out
from zsdist.methods.gzsnet.groups import form_groups, group_dataset, groups_from_block

# 4 letters x 3 sizes x 10 x 10 colours x 4 fonts = 4800 rows in 4 shards of 2 letters x 2 fonts.
SPEC = FontsSpec(letters="ABgj", font_ids=(0, 3, 17, 42), letters_per_shard=2, fonts_per_shard=2, resolution=32)
# 3 of the 12 size x font pairs. Not letter x font here: with 2 letters and 2 fonts per shard, one
# held-out pair takes some partner from every centre of its shard (the default 2 x 10 shards lose only
# the other letter's rows in that font as centres).
HELD_OUT = HeldOutConfig(pairs=("size", "font"), fraction=0.25, seed=0)
A = len(ATTRIBUTES)


@pytest.fixture(scope="module")
def data_dir(ray_cluster, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fonts_groups") / "data"
    generate_fonts(SPEC, out, num_workers=2, progress=False)
    return out


def collect(ds) -> dict[str, np.ndarray]:
    """Every group of a dataset, sorted by centre index (block order is not preserved)."""
    batches = list(ds.iter_batches(batch_size=None, batch_format="numpy"))
    arrays = {key: np.concatenate([b[key] for b in batches]) for key in ("images", "labels", "index")}
    order = np.argsort(arrays["index"][:, 0])
    return {key: value[order] for key, value in arrays.items()}


def direct(paths, **kwargs) -> dict[str, np.ndarray]:
    """groups_from_block called on each whole shard, as one table, outside Ray."""
    batches = [b for path in paths for b in groups_from_block(pq.read_table(path), **kwargs)]
    arrays = {key: np.concatenate([b[key] for b in batches]) for key in ("images", "labels", "index")}
    order = np.argsort(arrays["index"][:, 0])
    return {key: value[order] for key, value in arrays.items()}


@pytest.fixture(scope="module")
def groups(data_dir) -> dict[str, np.ndarray]:
    return collect(group_dataset(data_dir, held_out=HELD_OUT, seed=7, epoch=0))


def test_partner_k_shares_exactly_attribute_k(groups):
    labels = groups["labels"]
    assert labels.dtype == np.int16 and labels.shape[1:] == (1 + A, A)
    same = labels[:, 1:] == labels[:, :1]  # (G, partner k, attribute m)
    assert np.array_equal(same, np.broadcast_to(np.eye(A, dtype=bool), same.shape))
    # The labels are the rows' own values: they agree with the global index.
    assert np.array_equal(np.stack(decode_index(SPEC, groups["index"]), axis=-1), labels)


def test_every_group_comes_from_one_shard(groups):
    blocks = shard_blocks(SPEC)
    values = np.stack(decode_index(SPEC, groups["index"]), axis=-1)  # (G, 1 + A, A)
    shard = np.full(groups["index"].shape, -1)
    for number, block in enumerate(blocks):
        inside = np.ones(shard.shape, bool)
        for m, run in enumerate((block.letters, block.sizes, block.font_colours, block.background_colours,
                                 block.fonts)):
            inside &= np.isin(values[..., m], list(run))
        shard[inside] = number
    assert (shard >= 0).all() and (shard == shard[:, :1]).all()
    assert len(np.unique(shard[:, 0])) == len(blocks)


def test_no_held_out_combination_or_blank_image(data_dir, groups):
    held = held_out_pairs(HELD_OUT, {"spec": SPEC.to_dict()})
    labels = groups["labels"].reshape(-1, A).astype(np.int64)
    columns = dict(zip(ATTRIBUTES, labels.T))
    assert len(held) == 3 and not is_held_out(columns, held, HELD_OUT.pairs).any()
    assert (labels[:, 2] != labels[:, 3]).all()  # font colour == background colour is blank
    # Exactly the eligible rows with all partners left in their shard are centres, each once.
    centres = groups["index"][:, 0]
    assert len(np.unique(centres)) == len(centres)
    expected = []
    for path in dataset_files(data_dir):
        table = pq.read_table(path, columns=["index", *ATTRIBUTES, "blank"])
        keep = ~table.column("blank").to_numpy(zero_copy_only=False) & ~is_held_out(table, held, HELD_OUT.pairs)
        attrs = np.stack([table.column(a).to_numpy() for a in ATTRIBUTES], axis=1)[keep]
        expected.extend(table.column("index").to_numpy()[keep][brute_force_has_partners(attrs)])
    eligible = 4 * 3 * 90 * 4 - 3 * 4 * 90  # non-blank rows minus 3 held-out size x font pairs
    assert np.array_equal(centres, np.sort(expected)) and 0.5 * eligible < len(centres) < eligible


def test_images_are_the_rows_pixels_in_minus_one_to_one(data_dir, groups):
    images = groups["images"]
    assert images.dtype == np.float32 and images.shape[1:] == (1 + A, 3, 32, 32)
    assert images.min() >= -1 and images.max() <= 1
    table = pa.concat_tables(pq.read_table(p) for p in dataset_files(data_dir))
    by_index = {index: row for row, index in enumerate(table.column("index").to_pylist())}
    some = groups["index"][::97].ravel()
    rgb = decode_rgb(table.take(pa.array([by_index[i] for i in some.tolist()])))
    expected = rgb.transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1
    assert np.allclose(images[::97].reshape(-1, 3, 32, 32), expected, atol=1e-6)


def test_ray_data_gives_the_groups_of_each_whole_shard(data_dir, groups):
    # Equal groups imply equal seeds (first index per block) and equal rows: one block = one shard.
    held = held_out_pairs(HELD_OUT, {"spec": SPEC.to_dict()})
    expected = direct(dataset_files(data_dir), seed=7, epoch=0, held_out=held, held_out_attributes=HELD_OUT.pairs)
    for key in ("index", "labels", "images"):
        assert np.array_equal(groups[key], expected[key]), key


def test_same_seed_and_epoch_repeat_other_epoch_differs(data_dir, groups):
    again = collect(group_dataset(data_dir, held_out=HELD_OUT, seed=7, epoch=0))
    assert np.array_equal(again["index"], groups["index"])
    other = direct(dataset_files(data_dir), seed=7, epoch=1,
                   held_out=held_out_pairs(HELD_OUT, {"spec": SPEC.to_dict()}))
    assert other["index"].shape[1] == 1 + A and not np.array_equal(other["index"], groups["index"])


def test_selection_filters_rows_inside_the_shards(data_dir):
    selection = FontsSelection(letters="AB", sizes=("small", "large"))  # the letters of one shard block
    got = collect(group_dataset(data_dir, selection=selection, seed=3))
    labels = got["labels"]
    assert set(np.unique(labels[..., 0])) == {0, 1} and set(np.unique(labels[..., 1])) == {0, 2}
    assert len(got["index"]) == 2 * 2 * 90 * 4  # both letters and sizes still pair up: nobody skipped


def test_batches_respect_the_byte_limit(data_dir):
    path = dataset_files(data_dir)[0]
    one_group = (1 + A) * 3 * 32 * 32 * 4
    batches = list(groups_from_block(pq.read_table(path), seed=0, epoch=0, max_batch_bytes=100 * one_group))
    assert max(len(b["index"]) for b in batches) == 100 and sum(len(b["index"]) for b in batches) == 2 * 3 * 90 * 2


def test_downscaled_groups_are_box_averages(data_dir):
    full = next(groups_from_block(pq.read_table(dataset_files(data_dir)[0]), seed=0, epoch=0))
    half = next(groups_from_block(pq.read_table(dataset_files(data_dir)[0]), seed=0, epoch=0, downscale=2))
    assert half["images"].shape[-2:] == (16, 16) and np.array_equal(half["index"][: len(full["index"])], full["index"])
    boxes = full["images"][:4].reshape(4, 1 + A, 3, 16, 2, 16, 2).mean(axis=(4, 6))
    assert np.allclose(half["images"][:4], boxes, atol=1e-5)


def brute_force_has_partners(attrs: np.ndarray) -> np.ndarray:
    same = attrs[:, None, :] == attrs[None, :, :]  # (centre, row, attribute)
    return np.all([np.any(same[..., k] & (same.sum(-1) == 1), axis=1) for k in range(attrs.shape[1])], axis=0)


def test_form_groups_skips_a_centre_without_partner():
    grid = np.array(list(product(range(2), range(2), range(3))))
    # (0, 0, 0)'s only partners sharing attribute 0 are (0, 1, 1) and (0, 1, 2): remove both.
    grid = grid[~np.isin(np.arange(len(grid)), [4, 5])]
    got = form_groups(grid, np.random.default_rng(0))
    assert 0 not in got[:, 0] and len(got) == len(grid) - int((~brute_force_has_partners(grid)).sum())
    same = grid[got[:, 1:]] == grid[got[:, :1]]
    assert np.array_equal(same, np.broadcast_to(np.eye(3, dtype=bool), same.shape))


def test_form_groups_matches_brute_force_on_a_ragged_grid():
    rng = np.random.default_rng(5)
    grid = np.array(list(product(range(3), range(2), range(4), range(3))))
    grid = grid[rng.random(len(grid)) < 0.6]
    got = form_groups(grid, rng)
    assert sorted(got[:, 0]) == list(np.flatnonzero(brute_force_has_partners(grid)))
    same = grid[got[:, 1:]] == grid[got[:, :1]]
    assert np.array_equal(same, np.broadcast_to(np.eye(4, dtype=bool), same.shape))


def test_held_out_pairs_are_seeded_and_keep_every_value():
    description = {"spec": FontsSpec().to_dict()}
    config = HeldOutConfig(fraction=0.3, seed=4)
    held = held_out_pairs(config, description)
    assert held.shape == (round(0.3 * 52 * 100), 2)
    assert np.array_equal(held, held_out_pairs(HeldOutConfig.from_dict(json.loads(json.dumps(config.to_dict()))),
                                               description))
    assert not np.array_equal(held, held_out_pairs(HeldOutConfig(fraction=0.3, seed=5), description))
    assert np.bincount(held[:, 0], minlength=52).max() < 100 and np.bincount(held[:, 1], minlength=100).max() < 52
    colours = held_out_pairs(HeldOutConfig(pairs=("font_colour", "background_colour"), fraction=0.5), description)
    assert len(colours) == 45 and (colours[:, 0] != colours[:, 1]).all()
    with pytest.raises(ConfigError, match="lower the fraction"):
        held_out_pairs(HeldOutConfig(fraction=0.9), {"spec": SPEC.to_dict()})


def test_workers_split_the_shards_and_the_order_changes_by_epoch(data_dir):
    def centres(rank, epoch):
        ds = group_dataset(data_dir, held_out=HELD_OUT, seed=7, epoch=epoch, worker=(rank, 2))
        return {int(i) for b in ds.iter_batches(batch_size=None, batch_format="numpy") for i in b["index"][:, 0]}

    def shards(indices):  # (letter block, font block) = the shard of a row, 2 letters and 2 fonts per shard
        values = decode_index(SPEC, np.array(sorted(indices)))
        return set(zip(values[0] // 2, values[4] // 2))

    epoch0, epoch1 = [centres(rank, 0) for rank in (0, 1)], [centres(rank, 1) for rank in (0, 1)]
    assert not shards(epoch0[0]) & shards(epoch0[1]) and len(shards(epoch0[0])) == 2
    assert epoch0[0] | epoch0[1] == epoch1[0] | epoch1[1]  # every centre once per epoch, whoever has it
    assert shards(epoch0[0]) != shards(epoch1[0])  # the seeded shard order moved between workers
    with pytest.raises(DataError, match="fewer than the 5 worker"):
        group_dataset(data_dir, seed=7, worker=(0, 5))
