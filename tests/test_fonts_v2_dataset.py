"""Fonts-v2 on disk: every combination once, partners in every shard, resume, verify, HF features, and an
independent check of every attribute in the decoded pixels (PIL alone, not the generator's code)."""

import io
from itertools import product
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from datagen.run_fonts_v2 import generate_fonts_v2
from datagen.spec.fonts_v2 import ATTRIBUTES, POSITION_CENTRES, FontsV2Spec
from datagen.verify import verify_dataset
from zsdist.cli import parse

# 2 words x 2 sizes x 3 x 3 colours x 2 fonts x 2 positions x 4 rotations x 2 textures = 1152 rows at
# 128 px (exact rotations), in 2 shards of 2 rotations. One texture keeps the PNG encoding short; the
# others differ only in their map (tests/test_fonts_v2.py).
SPEC = FontsV2Spec(words=("OK", "dog"), size_names=("small", "large"), size_pixels=(48, 72),
                   colour_names=("red", "green", "blue"), colour_rgb=((220, 20, 60), (0, 128, 0), (0, 0, 255)),
                   font_ids=(0, 72), positions=("up", "down"), textures=("none", "marble"), font_colours_per_shard=3,
                   background_colours_per_shard=3, rotations_per_shard=2)
STRIP = 16  # columns 0..15 never hold ink: words are centred and at most 72 px wide


@pytest.fixture(scope="module")
def generated(ray_cluster, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fonts_v2") / "data"
    report = generate_fonts_v2(SPEC, out, num_workers=2, progress=False)
    assert (report.written, report.images) == (2, 1152)
    return out


@pytest.fixture(scope="module")
def rows(generated) -> dict[str, np.ndarray]:
    """Every row's attributes and decoded RGB pixels, by global index."""
    table = pq.read_table(sorted(generated.glob("*.parquet")))
    order = np.argsort(table["index"].to_numpy())
    columns = {name: table[name].to_numpy()[order] for name in ("index", *ATTRIBUTES)}
    blobs = table["image"].combine_chunks().field("bytes").to_pylist()
    columns["rgb"] = np.stack([np.asarray(Image.open(io.BytesIO(blobs[i])).convert("RGB")) for i in order])
    return columns


def test_every_combination_once_and_verify_passes(generated, rows):
    assert verify_dataset(generated).ok
    combos = set(zip(*(rows[name].tolist() for name in ATTRIBUTES)))
    assert combos == set(product(*(range(count) for count in SPEC.shape)))
    assert np.array_equal(rows["index"], np.arange(SPEC.total_rows))


def test_every_shard_holds_a_partner_per_attribute(generated):
    for path in sorted(generated.glob("*.parquet")):
        table = pq.read_table(path)
        values = np.stack([table[a].to_numpy() for a in ATTRIBUTES], axis=1)[~table["blank"].to_numpy(False)]
        equal = values[:, None, :] == values[None, :, :]
        for k in range(len(ATTRIBUTES)):
            assert (equal[:, :, k] & ~np.delete(equal, k, axis=2).any(axis=2)).any(axis=1).all(), ATTRIBUTES[k]


def test_rerun_writes_nothing_and_bytes_are_deterministic(generated, rows):
    before = {p.name: p.read_bytes() for p in generated.glob("*.parquet")}
    report = generate_fonts_v2(SPEC, generated, num_workers=2, progress=False)
    assert (report.written, report.rewritten, report.skipped, report.images) == (0, 0, 2, 0)
    assert {p.name: p.read_bytes() for p in generated.glob("*.parquet")} == before


def test_hugging_face_reads_the_value_names(generated, tmp_path):
    import datasets

    ds = datasets.load_dataset("parquet", data_files=[str(p) for p in sorted(generated.glob("*.parquet"))],
                               split="train", cache_dir=str(tmp_path))
    assert ds.features["content"].names == ["OK", "dog"]
    assert ds.features["rotation"].names == ["0", "90", "180", "270"]
    assert ds.features["texture"].names == ["none", "marble"]


def _ink_box(rgb: np.ndarray, background: tuple[int, ...]) -> tuple[slice, slice]:
    """Rows and columns of the pixels that differ from an untextured background."""
    ink = (rgb != background).any(axis=2)
    r, c = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    return slice(r[0], r[-1] + 1), slice(c[0], c[-1] + 1)


def test_pixels_show_colours_and_texture(rows):
    for position in range(len(rows["index"])):
        rgb, fg, bg = rows["rgb"][position], rows["font_colour"][position], rows["background_colour"][position]
        if fg == bg:
            continue
        fg_rgb, bg_rgb = SPEC.colour_rgb[fg], SPEC.colour_rgb[bg]
        strip = rgb[:, :STRIP].reshape(-1, 3).astype(np.int64)
        assert (rgb == fg_rgb).all(axis=2).sum() >= 20  # the ink's solid interior has the font colour
        if rows["texture"][position] == 0:
            assert (strip == bg_rgb).all()  # a plain background
        else:
            assert strip.std(axis=0).max() > 2  # textured: varies across the background
            assert (strip <= bg_rgb).all() and (strip >= np.floor(np.multiply(bg_rgb, 0.55))).all()


def test_pixels_show_rotation_about_the_ink_centre_and_position(rows):
    plain = (rows["texture"] == 0) & (rows["font_colour"] != rows["background_colour"])
    for position in np.flatnonzero(plain & (rows["rotation"] == 0)):
        key = {name: rows[name][position] for name in ("content", "size", "font_colour", "background_colour",
                                                        "font", "position")}
        background = SPEC.colour_rgb[key["background_colour"]]
        rows_box, cols_box = _ink_box(rows["rgb"][position], background)
        upright = rows["rgb"][position][rows_box, cols_box]
        for rotation in range(1, 4):
            match = plain & (rows["rotation"] == rotation)
            for name, value in key.items():
                match &= rows[name] == value
            (turned,) = np.flatnonzero(match)
            box = _ink_box(rows["rgb"][turned], background)
            assert np.array_equal(rows["rgb"][turned][box], np.rot90(upright, rotation))
            centre = [(s.start + s.stop - 1) / 2 for s in box]
            assert abs(centre[1] - (cols_box.start + cols_box.stop - 1) / 2) <= 1  # same ink centre
            assert abs(centre[0] - (rows_box.start + rows_box.stop - 1) / 2) <= 1
        expected_row = POSITION_CENTRES[SPEC.positions[key["position"]]] * 128
        assert abs((rows_box.start + rows_box.stop - 1) / 2 - expected_row) <= 1.5 and \
            abs((cols_box.start + cols_box.stop - 1) / 2 - 63.5) <= 1.5


def test_cli_builds_the_spec_from_a_config():
    args, spec = parse(["datagen", "fonts-v2", "--config", "configs/fonts_v2_cpu.yaml", "--out", "x",
                        "--texture_seed", "3"])
    assert spec.total_rows == 6912 and spec.texture_seed == 3 and args.out == "x" and args.num_workers == 2
