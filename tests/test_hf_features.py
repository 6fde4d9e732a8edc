"""The shards' Hugging Face features: `datasets` alone names every attribute value and class label."""

from dataclasses import replace
from pathlib import Path

import datasets
import numpy as np
import pytest
from cadavae_synthetic import write_synthetic

from datagen.fonts_manifest import load_manifest
from datagen.render.fonts import font_names
from datagen.run_fonts import generate_fonts
from datagen.spec.fonts import ATTRIBUTES, FontsSpec, decode_index
from zsdist.data.features import read_feature_dataset

# 2 letters x 2 sizes x 3 x 3 colours x 2 fonts = 72 rows at 32 px, one shard.
SPEC = FontsSpec(letters="Ab", size_names=("small", "large"), size_pixels=(80, 120),
                 colour_names=("red", "green", "blue"), colour_rgb=((255, 0, 0), (0, 128, 0), (0, 0, 255)),
                 font_ids=(3, 17), resolution=32)


def _load(files: list[Path], cache: Path) -> datasets.Dataset:
    return datasets.load_dataset("parquet", data_files=[str(f) for f in files], split="train", cache_dir=str(cache))


@pytest.fixture(scope="module")
def fonts_ds(ray_cluster, tmp_path_factory) -> datasets.Dataset:
    out = tmp_path_factory.mktemp("fonts") / "data"
    generate_fonts(SPEC, out, num_workers=1, progress=False)
    return _load(sorted(out.glob("*.parquet")), out.parent / "hf")


def test_fonts_attributes_read_back_by_name(fonts_ds):
    families = {entry.font_id: entry.family for entry in load_manifest()}
    expected = {
        "letter": list(SPEC.letters),
        "size": list(SPEC.size_names),
        "font_colour": list(SPEC.colour_names),
        "background_colour": list(SPEC.colour_names),
        "font": [families[font_id] for font_id in SPEC.font_ids],  # e.g. "Bitter": no family repeats here
    }
    assert {name: fonts_ds.features[name].names for name in ATTRIBUTES} == expected
    assert fonts_ds.num_rows == SPEC.total_rows
    for row in fonts_ds.select(range(0, SPEC.total_rows, 7)):
        # The index is the generator's own record of which values it rendered into the row.
        for name, position in zip(ATTRIBUTES, decode_index(SPEC, row["index"])):
            assert fonts_ds.features[name].int2str(row[name]) == expected[name][position]
    assert np.asarray(fonts_ds[0]["image"].convert("RGB")).shape == (32, 32, 3)


def test_repeated_families_get_distinct_names():
    entries = load_manifest()
    static = next(entry for entry in entries if not entry.variable)
    variable = next(entry for entry in entries if entry.variable)
    fonts = [static, replace(static, family=variable.family, style="Bold"), variable,
             replace(variable, file_name="Twin.ttf")]
    family = variable.family
    assert font_names(fonts) == [static.family, f"{family} Bold", f"{family} ({variable.file_name})",
                                 f"{family} (Twin.ttf)"]


def test_feature_labels_read_back_by_name(tmp_path):
    out = write_synthetic(tmp_path / "synthetic")
    stored = read_feature_dataset(out)
    ds = _load([out / shard["name"] for shard in stored.description["shards"]], tmp_path / "hf")
    assert ds.features["label"].names == stored.class_names
    assert ds.features["split"] == datasets.Value("string")
    names = ds.features["label"].int2str(ds["label"])
    assert names == [stored.class_names[label] for label in stored.labels]
    assert list(ds["split"]) == stored.splits.tolist()
