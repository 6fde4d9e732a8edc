"""Fonts-ZSL class attributes measured on the installed pinned fonts: shape, standardisation, known facts
about particular fonts, the pinned instance of variable fonts, and one-line errors for broken files."""

import shutil
from dataclasses import replace

import numpy as np
import pytest

from datagen.fonts_manifest import file_sha256, load_manifest, locate_fonts, write_manifest
from zsdist.base.errors import DataError
from zsdist.fontszsl.attributes import RAW_NAMES, font_attributes, raw_attributes

ENTRIES = load_manifest()
PATHS = dict(zip((entry.family for entry in ENTRIES), locate_fonts(ENTRIES)))
BY_FAMILY = {entry.family: entry for entry in ENTRIES}


def raw(family: str) -> dict[str, float]:
    return dict(zip(RAW_NAMES, raw_attributes(BY_FAMILY[family], PATHS[family])))


@pytest.fixture(scope="module")
def table():
    return font_attributes()


def test_one_standardised_finite_row_per_font(table):
    d = len(table.attribute_names)
    assert table.values.shape == (100, d) and table.values.dtype == np.float32
    assert np.isfinite(table.values).all()
    np.testing.assert_allclose(table.values.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(table.values.std(axis=0), 1, atol=1e-4)
    # The kept and the dropped columns partition the raw ones; the pinned fonts are all Regular, upright.
    assert sorted(table.attribute_names + table.dropped) == sorted(RAW_NAMES)
    assert set(table.dropped) == {"weight_class", "width_class", "italic_angle"}
    assert table.font_ids == tuple(range(100)) and table.names[58] == "DM Mono"


def test_distinct_fonts_get_distinct_vectors(table):
    distances = np.linalg.norm(table.values[:, None] - table.values[None], axis=2)
    assert distances[~np.eye(100, dtype=bool)].min() > 0.1


def test_known_facts_about_particular_fonts(table):
    column = {name: table.values[:, i] for i, name in enumerate(table.attribute_names)}
    monospace = [i for i, entry in enumerate(ENTRIES) if "MONOSPACE" in entry.category]
    assert len(monospace) == 9
    # Every monospaced font has one advance for all 52 letters, declared fixed pitch or not (Roboto Mono).
    assert np.allclose(column["advance_std"][monospace], column["advance_std"].min())
    assert raw("DM Mono")["fixed_pitch"] == 1 and raw("Roboto Mono")["advance_std"] == 0
    assert column["fixed_pitch"][58] == column["fixed_pitch"].max() > column["fixed_pitch"][0]
    # Scripts lean right, upright text faces do not.
    assert raw("Great Vibes")["slant"] > 0.2 and raw("Dancing Script")["slant"] > 0.1
    assert abs(raw("Roboto Mono")["slant"]) < 0.05 and abs(raw("PT Serif")["slant"]) < 0.05
    # Heavy display faces have thick strokes, hairline-contrast didones and scripts thin ones.
    assert raw("Archivo Black")["stroke_width"] > 2 * raw("Great Vibes")["stroke_width"]
    assert 0.4 < raw("Roboto Mono")["x_height"] < raw("Roboto Mono")["cap_height"] < raw("Roboto Mono")["ascender"]
    assert raw("Roboto Mono")["descender"] < 0


def test_variable_fonts_are_measured_at_their_pinned_instance():
    bitter = BY_FAMILY["Bitter"]  # its default instance is Thin; the manifest pins Regular
    regular = dict(zip(RAW_NAMES, raw_attributes(bitter, PATHS["Bitter"])))
    thin = dict(zip(RAW_NAMES, raw_attributes(replace(bitter, instance="Thin"), PATHS["Bitter"])))
    assert regular["weight_class"] == 400 and thin["weight_class"] == 100
    assert regular["stroke_width"] > 1.5 * thin["stroke_width"]
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
