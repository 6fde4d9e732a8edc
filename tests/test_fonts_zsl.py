"""Fonts-ZSL end to end on a tiny rendered Fonts dataset with the real Ray cluster: split counts, a backbone
trained on seen-font trainval images only, the feature-dataset format, rerun as a no-op, same bytes."""

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from datagen.fonts_manifest import load_manifest
from datagen.run_fonts import generate_fonts
from datagen.spec.fonts import FontsSpec
from zsdist.base.errors import ConfigError
from zsdist.cli import main
from zsdist.data.features import read_feature_dataset
from zsdist.data.fonts import FontsSelection
from zsdist.fontszsl.backbone import FontBackboneConfig
from zsdist.fontszsl.build import FontsZSLConfig, build_fonts_zsl

# 4 letters x 2 sizes x 3 x 3 colours x 8 fonts = 576 rows (384 non-blank) in 4 shards.
SPEC = FontsSpec(letters="ABab", size_names=("small", "large"), size_pixels=(80, 120),
                 colour_names=("red", "blue", "silver"), colour_rgb=((220, 20, 60), (0, 0, 255), (192, 192, 192)),
                 font_ids=(0, 3, 41, 48, 50, 58, 62, 72), letters_per_shard=2, fonts_per_shard=4, resolution=32)
# Font 72 and the large size left out: 7 fonts x 4 letters x 6 colour pairs = 168 images, 24 per font.
FONTS = (0, 3, 41, 48, 50, 58, 62)
FLAGS = {"selection.fonts": "0,3,41,48,50,58,62", "selection.sizes": "small", "epochs": "2", "batch_size": "32",
         "torch_threads": "1", "inference_batch_size": "64"}

pytestmark = pytest.mark.slow  # trains the backbone CNN and extracts features with Ray Data


@pytest.fixture(scope="module")
def fonts_dir(ray_cluster, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fonts_zsl") / "fonts"
    generate_fonts(SPEC, out, num_workers=2, progress=False)
    return out


@pytest.fixture(scope="module")
def config(fonts_dir, tmp_path_factory) -> FontsZSLConfig:
    return FontsZSLConfig(data=str(fonts_dir), out=str(tmp_path_factory.mktemp("fonts_zsl") / "zsl"),
                          selection=FontsSelection(fonts=FONTS, sizes=("small",)), epochs=2, batch_size=32,
                          torch_threads=1, inference_batch_size=64)


@pytest.fixture(scope="module")
def built(config):
    return build_fonts_zsl(config)


def sha256s(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def test_splits_classes_and_attributes(built):
    # 1 of 7 fonts unseen (floor(7 x 0.25) = 1); per seen font floor(24 x 0.2) = 4 test_seen images.
    assert built.counts == {"trainval": 120, "test_seen": 24, "test_unseen": 24} and not built.reused
    data = read_feature_dataset(built.out)
    families = {entry.font_id: entry.family for entry in load_manifest()}
    assert data.class_names == [families[font_id] for font_id in FONTS]  # font 72 is not a class
    assert data.features.shape == (168, 128) and np.isfinite(data.features).all()
    assert data.attributes.shape == (7, len(data.description["scaling"]["attributes"]["names"]))
    split = data.description["scaling"]["split"]
    assert len(split["seen_fonts"]) == 6 and len(split["unseen_fonts"]) == 1
    assert sorted(split["seen_fonts"] + split["unseen_fonts"]) == list(FONTS)
    unseen_class = FONTS.index(split["unseen_fonts"][0])
    assert data.seen.sum() == 6 and not data.seen[unseen_class]
    assert set(data.split_rows("test_unseen")[1]) == {unseen_class}
    trainval = data.split_rows("trainval")[0]
    np.testing.assert_allclose(trainval.min(axis=0), 0)  # min-max fitted on trainval
    assert np.all((trainval.max(axis=0) == 1) | (trainval.max(axis=0) == 0))


def test_backbone_saw_only_seen_font_trainval_images(built):
    scaling = read_feature_dataset(built.out).description["scaling"]
    backbone = scaling["backbone"]
    assert backbone["train_images"] == built.counts["trainval"]
    assert backbone["train_images_of_unseen_fonts"] == 0
    assert backbone["train_fonts"] == scaling["split"]["seen_fonts"]
    assert 0 <= backbone["test_seen_accuracy"] <= 1 and backbone["test_seen_accuracy"] == built.test_seen_accuracy


def test_rerun_is_a_no_op_and_the_cli_finds_it(built, config, capsys):
    before = {p.name: p.stat().st_mtime_ns for p in built.out.iterdir()}
    again = build_fonts_zsl(config)
    assert again.reused and again.counts == built.counts and again.seconds < 1
    main(["datagen", "fontszsl", "--data", config.data, "--out", config.out,
          *(arg for key, value in FLAGS.items() for arg in (f"--{key}", value))])
    assert "already finished" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in built.out.iterdir()} == before


def test_same_config_writes_the_same_bytes(built, config, tmp_path):
    other = build_fonts_zsl(replace(config, out=str(tmp_path / "again")))
    assert not other.reused
    assert sha256s(Path(other.out)) == sha256s(built.out)


def test_bad_configs_stop_with_one_line(fonts_dir):
    with pytest.raises(ConfigError, match="include_blank must be false"):
        FontsZSLConfig(data=str(fonts_dir), selection=FontsSelection(include_blank=True))
    with pytest.raises(ConfigError, match="unseen_fraction must be between 0 and 1"):
        FontsZSLConfig(data=str(fonts_dir), unseen_fraction=1.0)
    with pytest.raises(ConfigError, match="not divisible"):
        FontBackboneConfig(image_size=30)
    with pytest.raises(ConfigError, match="select at least 3 fonts"):
        build_fonts_zsl(FontsZSLConfig(data=str(fonts_dir), selection=FontsSelection(fonts=(0, 3))))
