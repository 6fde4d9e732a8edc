"""The Fonts-v2 spec (counts, index, shard blocks, partners, validation), textures and renderer (no Ray)."""

import csv
import string
import sysconfig
from itertools import product
from pathlib import Path

import numpy as np
import pytest

from datagen.fonts_manifest import load_pil_font
from datagen.render.fonts import REFERENCE_EM, expected_rgb
from datagen.render.fonts_v2 import WordRenderer, compose, render_block
from datagen.render.textures import TEXTURE_LOW, TEXTURES, texture_map
from datagen.spec.fonts_v2 import (
    ATTRIBUTES,
    POSITION_CENTRES,
    ROTATIONS,
    THREE_LETTER,
    TWO_LETTER,
    WORDS,
    Block,
    FontsV2Spec,
    decode_index,
    global_index,
    partner_guarantee_holds,
    shard_blocks,
)
from zsdist.base.errors import ConfigError
from zsdist.config import load_config

FONTS_TSV = Path("/work/shared/reference/fonts100.tsv")
ROOT = Path(__file__).resolve().parents[1]
SPEC = FontsV2Spec()


@pytest.fixture(scope="module")
def fonts() -> list[tuple[Path, str | None]]:
    with FONTS_TSV.open() as file:
        rows = sorted(csv.DictReader(file, delimiter="\t"), key=lambda row: int(row["font_id"]))
    site = Path(sysconfig.get_paths()["purelib"])
    return [(site / row["path"], row["instance"] or None) for row in rows]


@pytest.fixture(scope="module")
def renderer(fonts) -> WordRenderer:
    return WordRenderer(SPEC, fonts)


def test_words_and_full_grid_counts():
    assert len(TWO_LETTER) == 55 and len(THREE_LETTER) == 39
    assert WORDS[:52] == tuple(string.ascii_uppercase + string.ascii_lowercase)
    assert [sum(len(w) == n for w in WORDS) for n in (1, 2, 3)] == [52, 110, 78]
    assert len(set(WORDS)) == 240 and all(w.isascii() and w.isalpha() for w in WORDS)
    assert SPEC.shape == (240, 3, 10, 10, 100, 3, 4, 4) and SPEC.total_rows == 345_600_000
    blocks = shard_blocks(SPEC)
    assert len(blocks) == 24_000 and {block.rows for block in blocks} == {14_400}
    assert all(partner_guarantee_holds(block) for block in blocks)


def test_global_index_round_trip():
    index = np.random.default_rng(0).integers(0, SPEC.total_rows, 1000)
    assert np.array_equal(global_index(SPEC, *decode_index(SPEC, index)), index)
    assert tuple(int(v) for v in decode_index(SPEC, SPEC.total_rows - 1)) == (239, 2, 9, 9, 99, 2, 3, 3)
    assert global_index(SPEC, 0, 0, 0, 0, 0, 0, 0, 1) == 1 and global_index(SPEC, 0, 0, 0, 0, 0, 0, 1, 0) == 4


def test_blocks_cover_every_combination_once():
    spec = FontsV2Spec(words=("A", "b", "it", "dog", "ZOO"), words_per_shard=3, font_ids=(0, 1, 2, 3, 4),
                       fonts_per_shard=3, rotations_per_shard=2, textures_per_shard=2)
    indices = [global_index(spec, *(g.ravel() for g in np.meshgrid(*map(np.array, b.ranges), indexing="ij")))
               for b in shard_blocks(spec)]
    assert np.array_equal(np.sort(np.concatenate(indices)), np.arange(spec.total_rows))


def _partners_brute_force(block: Block) -> bool:
    rows = np.array([r for r in product(*block.ranges) if r[2] != r[3]]).reshape(-1, len(ATTRIBUTES))
    code = sum((rows[:, None, k] == rows[None, :, k]).astype(np.uint16) << k for k in range(len(ATTRIBUTES)))
    return len(rows) > 0 and all((code == 1 << k).any(axis=1).all() for k in range(len(ATTRIBUTES)))


@pytest.mark.parametrize("counts, holds", [((2, 2, 3, 3, 2, 2, 2, 2), True), ((2, 2, 2, 2, 2, 2, 2, 2), False),
                                           ((2, 2, 3, 3, 2, 1, 2, 2), False), ((2, 2, 3, 3, 2, 2, 2, 1), False)])
def test_partner_guarantee_matches_brute_force(counts, holds):
    block = Block(tuple(range(count) for count in counts))
    assert partner_guarantee_holds(block) == _partners_brute_force(block) == holds


def test_config_file_picks_values_per_attribute():
    spec = load_config(FontsV2Spec, file=str(ROOT / "configs" / "fonts_v2_cpu.yaml"))
    assert spec.total_rows == 6912 and len(shard_blocks(spec)) == 2 and spec.colour_rgb[0] == (220, 20, 60)
    assert FontsV2Spec.from_dict(spec.to_dict()) == spec and spec.fingerprint() != SPEC.fingerprint()


@pytest.mark.parametrize("kwargs, message", [
    ({"words": ("A", "cat")}, "words must be distinct values of"),
    ({"words": ("A", "A")}, "words must be distinct values of"),
    ({"size_pixels": (48, 60, 80)}, "size_pixels must be in 8..72"),
    ({"size_pixels": (48, 60)}, "one --size_pixels value per size"),
    ({"positions": ("left",)}, "positions must be distinct values of up, mid, down"),
    ({"rotations": (0, 45)}, "rotations must be distinct values of 0, 90, 180, 270"),
    ({"textures": ("none", "brick")}, "textures must be distinct values of none, cloud, wood, marble"),
    ({"texture_seed": -1}, "texture_seed must be >= 0"),
    ({"resolution": 100}, "resolution must be one of"),
    ({"colour_rgb": [(0, 0, 0)] * 10}, "repeats a colour"),
    ({"rotations_per_shard": 3}, "leaves a block of 1"),
    ({"font_colours_per_shard": 2, "background_colours_per_shard": 2}, "lacks a partner"),
    ({"font_ids": 3}, "font_ids must be a list"),
])
def test_spec_errors_are_one_line_with_the_fix(kwargs, message):
    with pytest.raises(ConfigError, match=message) as error:
        FontsV2Spec(**kwargs)
    text = str(error.value)
    assert "\n" not in text and ("pass" in text or "give" in text)  # one line that names the fix


def test_textures_are_deterministic_in_range_and_distinct():
    maps = {kind: texture_map(kind, 0, 128) for kind in TEXTURES}
    for kind, values in maps.items():
        assert values.shape == (128, 128) and values.min() == pytest.approx(TEXTURE_LOW) and values.max() == 1
        assert np.array_equal(values, texture_map(kind, 0, 128))
        assert not np.allclose(values, texture_map(kind, 1, 128))
    for a, b in product(TEXTURES, TEXTURES):
        assert a == b or abs(np.corrcoef(maps[a].ravel(), maps[b].ravel())[0, 1]) < 0.9


def _extreme_words(path: Path, instance: str | None) -> set[str]:
    """The 3 widest and 3 tallest words of a font by its outline boxes (not the renderer's crops)."""
    font = load_pil_font(path, instance or "", REFERENCE_EM)
    boxes = {word: font.getbbox(word, anchor="ls") for word in WORDS}
    widest = sorted(WORDS, key=lambda w: boxes[w][2] - boxes[w][0])[-3:]
    tallest = sorted(WORDS, key=lambda w: boxes[w][3] - boxes[w][1])[-3:]
    return {*widest, *tallest, "g", "W"}


def test_no_ink_touches_the_border_for_every_font_size_rotation_and_position(fonts, renderer):
    for font, (path, instance) in enumerate(fonts):
        for word, size in product(sorted(_extreme_words(path, instance)), range(3)):
            crop = renderer.ink(font, word, size)
            assert max(crop.shape) <= SPEC.size_pixels[size] + 2, (font, word, size)  # the sizing rule
            for position, rotation in product(POSITION_CENTRES, ROTATIONS):
                mask = renderer.place(crop, position, rotation, "test")
                border = np.concatenate([mask[0], mask[-1], mask[:, 0], mask[:, -1]])
                assert not border.any() and mask.sum() == crop.sum(dtype=np.int64), (font, word, size, rotation)


def test_largest_word_spans_the_size(fonts, renderer):
    for font in (0, 42, 72, 99):
        spans = [max(renderer.ink(font, word, 2).shape) for word in _extreme_words(*fonts[font])]
        assert SPEC.size_pixels[2] - 3 <= max(spans) <= SPEC.size_pixels[2] + 2, (font, spans)


def test_untextured_pixels_are_fonts_palette_and_texture_multiplies_background_only(renderer):
    mask = renderer.coverage(3, "dog", 1, "mid", 90)
    fg, bg = (0, 0, 255), (220, 20, 60)
    assert np.array_equal(compose(mask, fg, renderer.background(bg, "none")), expected_rgb(mask, fg, bg))
    textured = compose(mask, fg, renderer.background(bg, "wood"))
    assert (textured[mask == 255] == fg).all()  # full ink keeps the font colour
    plain = mask == 0
    assert (textured[plain] <= bg).all() and (textured[plain] >= np.floor(np.multiply(bg, TEXTURE_LOW))).all()


def test_render_block_is_deterministic(fonts):
    spec = FontsV2Spec(words=("i", "OK"), size_names=("s", "l"), size_pixels=(48, 72), font_ids=(5, 9),
                       colour_names=("a", "b", "c"), colour_rgb=((255, 0, 0), (0, 255, 0), (0, 0, 255)),
                       positions=("up", "down"), rotations=(0, 90), textures=("none", "cloud"), resolution=32)
    block = shard_blocks(spec)[0]
    table = render_block(spec, WordRenderer(spec, [fonts[5], fonts[9]]), block)
    assert table.num_rows == block.rows == 2 * 2 * 9 * 2 * 2 * 2 * 2
    assert table.equals(render_block(spec, WordRenderer(spec, [fonts[5], fonts[9]]), block))
    assert (np.diff(table["index"].to_numpy()) > 0).all()
