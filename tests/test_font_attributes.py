"""Fonts-ZSL class attributes measured on the installed pinned fonts: shape, standardisation, the outline
tools against fontTools' own pens, each descriptor against what one sees in particular fonts, the pinned
instance of variable fonts, and one-line errors for broken files."""

import shutil
from dataclasses import replace

import numpy as np
import pytest
from fontTools.pens.areaPen import AreaPen
from fontTools.pens.boundsPen import BoundsPen
from fontTools.ttLib import TTFont

from datagen.fonts_manifest import file_sha256, load_manifest, locate_fonts, write_manifest
from zsdist.base.errors import DataError
from zsdist.fontszsl.attributes import CLIP_SD, RAW_NAMES, font_attributes, raw_attributes, standardise
from zsdist.fontszsl.descriptors import OutlinePen, outlines

ENTRIES = load_manifest()
PATHS = dict(zip((entry.family for entry in ENTRIES), locate_fonts(ENTRIES)))
BY_FAMILY = {entry.family: entry for entry in ENTRIES}


@pytest.fixture(scope="module")
def table():
    return font_attributes()


@pytest.fixture(scope="module")
def raw(table):
    """raw["PT Serif"]["serif"]: the measured descriptors of every pinned font."""
    return {name: dict(zip(RAW_NAMES, row)) for name, row in zip(table.names, table.raw)}


def test_one_standardised_finite_row_per_font(table):
    d = len(table.attribute_names)
    assert table.values.shape == (100, d) and table.values.dtype == np.float32
    assert table.raw.shape == (100, len(RAW_NAMES)) and np.isfinite(table.raw).all()
    assert np.isfinite(table.values).all()
    # z-scores clipped at 3 sd: most columns keep mean 0 and std 1, the clipped ones come close.
    assert np.abs(table.values).max() == CLIP_SD
    z = (table.raw - table.raw.mean(axis=0)) / table.raw.std(axis=0)
    np.testing.assert_allclose(table.values, np.clip(z, -CLIP_SD, CLIP_SD), atol=1e-5)
    assert np.abs(table.values.mean(axis=0)).max() < 0.1 and np.all(table.values.std(axis=0) <= 1 + 1e-6)
    assert np.mean(np.abs(z) > CLIP_SD) < 0.03
    # Every descriptor varies over the pinned fonts.
    assert table.attribute_names == RAW_NAMES and table.dropped == ()
    assert table.font_ids == tuple(range(100)) and table.names[58] == "DM Mono"


def test_standardise_clips_an_outlier_and_drops_constant_columns():
    raw = np.column_stack([np.r_[np.zeros(99), 1000.0], np.arange(100.0), np.full(100, 7.0)])
    values, kept = standardise(raw)
    assert kept.tolist() == [True, True, False] and values.shape == (100, 2) and values.dtype == np.float32
    # The lone font would sit at +9.95 sd: clipped to 3; the evenly spread column is a plain z-score.
    assert values[-1, 0] == CLIP_SD and np.allclose(values[:-1, 0], -0.1005, atol=1e-4)
    np.testing.assert_allclose(values[:, 1], (np.arange(100) - 49.5) / np.arange(100).std(), rtol=1e-6)


def test_distinct_fonts_get_distinct_vectors(table):
    distances = np.linalg.norm(table.values[:, None] - table.values[None], axis=2)
    assert distances[~np.eye(100, dtype=bool)].min() > 0.1


@pytest.mark.parametrize("family", ["PT Serif", "Arvo", "Anton"])  # static TrueType fonts
def test_outlines_agree_with_fonttools_pens(family):
    with TTFont(PATHS[family], lazy=True) as font:
        glyphs, cmap = font.getGlyphSet(), font.getBestCmap()
        drawn = outlines(glyphs, cmap, "HOag")
        cap = drawn["H"].y1
        for letter, outline in drawn.items():
            name = cmap[ord(letter)]
            bounds = BoundsPen(glyphs)
            glyphs[name].draw(bounds)
            area = AreaPen(glyphs)
            glyphs[name].draw(area)
            # Flattened curves stay within a hair of the exact box; the raster's area within 2 %.
            np.testing.assert_allclose([outline.x0, outline.y0, outline.x1, outline.y1], bounds.bounds, atol=0.01 * cap)
            pixels_per_unit = 100 / cap
            assert outline.raster(pixels_per_unit).sum() / pixels_per_unit**2 == pytest.approx(abs(area.value), rel=0.02)
        # The two stems of H: a horizontal line below the bar crosses two runs of equal width.
        stems = drawn["H"].run_at(0.25)
        assert len(stems) == 2 and stems[0, 1] - stems[0, 0] == pytest.approx(stems[1, 1] - stems[1, 0], rel=0.05)


def test_outline_pen_keeps_curved_and_straight_length_apart():
    with TTFont(PATHS["Orbitron"], lazy=True) as font:
        glyphs, cmap = font.getGlyphSet(), font.getBestCmap()
        pen = OutlinePen(glyphs)
        glyphs[cmap[ord("I")]].draw(pen)
    starts, ends, curved, straight = pen.edges()
    assert curved == 0 and straight > 0 and len(starts) == len(ends) == 4  # Orbitron's I: a rectangle


def test_proportions(raw):
    # Old-style and script faces have small lowercase; grotesques and display faces large.
    assert raw["EB Garamond"]["x_height"] < 0.65 and raw["Poppins"]["x_height"] > 0.75
    assert raw["Great Vibes"]["x_height"] < 0.5
    assert raw["Cormorant"]["ascender"] > 1.1 and raw["Cormorant"]["descender"] > 0.4 > raw["Anton"]["descender"]
    # Condensed against wide capitals.
    assert raw["Anton"]["cap_width"] < 0.55 and raw["Fjalla One"]["cap_width"] < 0.55
    assert raw["Unbounded"]["cap_width"] > 0.95 and raw["Orbitron"]["cap_width"] > 0.95
    assert raw["Anton"]["lower_width"] < 0.65 < raw["PT Serif"]["lower_width"]
    # Every monospaced font gives all 52 letters one advance, declared fixed pitch or not (Roboto Mono).
    monospace = [entry.family for entry in ENTRIES if "MONOSPACE" in entry.category]
    assert len(monospace) == 9 and all(raw[family]["advance_variation"] == 0 for family in monospace)
    assert min(raw[entry.family]["advance_variation"] for entry in ENTRIES if entry.family not in monospace) > 0.15


def test_weight_contrast_and_darkness(raw):
    # Black display faces against light text faces.
    assert raw["Archivo Black"]["weight"] > 2 * raw["Work Sans"]["weight"]
    assert raw["Titan One"]["weight"] > 3 * raw["Great Vibes"]["weight"]
    assert raw["Titan One"]["darkness"] > raw["Work Sans"]["darkness"] > raw["Great Vibes"]["darkness"]
    # Didones and fat faces have hairline horizontals; text serifs less so; monoline sans and slabs none.
    assert raw["Bodoni Moda"]["contrast"] < -1.5 and raw["Abril Fatface"]["contrast"] < -1.5
    assert -1.2 < raw["PT Serif"]["contrast"] < -0.4
    for family in ("Work Sans", "Poppins", "Quicksand", "Roboto Mono", "Arvo", "Orbitron"):
        assert abs(raw[family]["contrast"]) < 0.2, family


def test_serifs_and_slabs(raw):
    serif = ("PT Serif", "Bodoni Moda", "Libre Baskerville", "EB Garamond", "Playfair Display", "Arvo", "Roboto Slab")
    sans = ("Work Sans", "Poppins", "Archivo Black", "Anton", "Orbitron", "Unbounded")
    assert min(raw[family]["serif"] for family in serif) > 0.9
    assert max(abs(raw[family]["serif"]) for family in sans) < 0.05
    # Rounded stroke ends (Quicksand, Varela Round) end narrower than the stem.
    assert raw["Quicksand"]["serif"] < -0.1 and raw["Varela Round"]["serif"] < -0.1
    # Slab serifs stay wide 6 % into the letter; didones' hairline serifs do not.
    for family in ("Arvo", "Roboto Slab", "Zilla Slab"):
        assert raw[family]["slab"] > 0.8, family
    assert raw["Bodoni Moda"]["slab"] < 0.3 and raw["Playfair Display"]["slab"] < 0.3 and max(abs(raw[family]["slab"]) for family in sans) < 0.05


def test_slant_roundness_curviness_aperture_and_connection(raw):
    # Scripts lean right, upright faces do not.
    assert raw["Great Vibes"]["slant"] > 0.2 and raw["Dancing Script"]["slant"] > 0.15
    assert abs(raw["Roboto Mono"]["slant"]) < 0.03 and abs(raw["PT Serif"]["slant"]) < 0.03
    # Orbitron's squarish O against elliptical ones; a script's O as a tilted loop.
    assert raw["Orbitron"]["roundness"] > 0.95 and 0.75 < raw["PT Serif"]["roundness"] < 0.83
    assert raw["Dancing Script"]["roundness"] < 0.5
    # Straight-cut letters against drawn curves.
    assert raw["Black Ops One"]["curviness"] < 0.05 and raw["Orbitron"]["curviness"] < 0.15
    assert raw["Great Vibes"]["curviness"] > 0.95 and raw["Work Sans"]["curviness"] < 0.5
    # Closed c of heavy grotesques against open humanist and script ones.
    assert raw["Archivo Black"]["aperture"] < 0.2 and raw["Anton"]["aperture"] < 0.2
    assert raw["Cormorant"]["aperture"] > 0.6 and raw["Dancing Script"]["aperture"] > 0.6
    # Connecting scripts reach into their neighbours; print faces stay in their advance.
    assert min(raw[family]["connection"] for family in ("Great Vibes", "Pacifico", "Dancing Script")) > 0.15
    assert max(raw[family]["connection"] for family in ("PT Serif", "Work Sans", "Roboto Mono")) < 0.03


def test_counters_pieces_and_storeys(raw):
    # Black Ops One is a stencil: its letters fall into pieces and enclose no counter.
    assert raw["Black Ops One"]["pieces"] > 2 and raw["Black Ops One"]["counters"] == 0
    assert raw["PT Serif"]["pieces"] < 1.1 and raw["Work Sans"]["pieces"] < 1.1  # i and j only
    # Script loops enclose extra counters.
    assert raw["Great Vibes"]["counters"] > 0.8 and raw["PT Serif"]["counters"] < 0.4
    # One-storey a (geometric sans, scripts) against the two-storey a of text faces.
    assert raw["Poppins"]["a_storey"] > 0.8 and raw["Quicksand"]["a_storey"] > 0.8
    assert raw["PT Serif"]["a_storey"] < 0.6 and raw["Work Sans"]["a_storey"] < 0.6
    # Two-storey g with a closed lower loop against the one-storey g.
    assert raw["PT Serif"]["g_storey"] == 2 and raw["EB Garamond"]["g_storey"] == 2
    assert raw["Poppins"]["g_storey"] == 1 and raw["Roboto Mono"]["g_storey"] == 1


def test_variable_fonts_are_measured_at_their_pinned_instance():
    bitter = BY_FAMILY["Bitter"]  # its default instance is Thin; the manifest pins Regular
    regular = dict(zip(RAW_NAMES, raw_attributes(bitter, PATHS["Bitter"])))
    thin = dict(zip(RAW_NAMES, raw_attributes(replace(bitter, instance="Thin"), PATHS["Bitter"])))
    assert regular["weight"] > 1.5 * thin["weight"] and regular["darkness"] > thin["darkness"]
    assert np.array_equal(raw_attributes(bitter, PATHS["Bitter"]), raw_attributes(bitter, PATHS["Bitter"]))


def test_a_broken_font_file_gives_one_line_naming_it(tmp_path):
    good, broken = ENTRIES[1], ENTRIES[2]
    shutil.copy(PATHS[good.family], tmp_path / good.file_name)
    (tmp_path / broken.file_name).write_bytes(PATHS[broken.family].read_bytes()[:2000])  # truncated
    manifest = tmp_path / "manifest.tsv"
    # Pin the truncated bytes, so the checksum passes and fontTools meets the damage.
    write_manifest([good, replace(broken, sha256=file_sha256(tmp_path / broken.file_name))], manifest)
    with pytest.raises(DataError) as error:
        font_attributes(manifest, tmp_path)
    message = str(error.value)
    assert "\n" not in message and broken.file_name in message and "cannot be parsed by fontTools" in message
    assert "reinstall it or remove it from the manifest" in message

    (tmp_path / broken.file_name).unlink()
    with pytest.raises(DataError, match=r"Arvo.*is not in .*: copy it there"):
        font_attributes(manifest, tmp_path)
