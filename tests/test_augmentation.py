"""`zsdist augment`: the splits never let a test image into training, the sets' sizes and labels, bad
configs in one line, and one tiny end-to-end run (real Ray Train, Parquet and MLflow) that a rerun resumes."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from mlflow.tracking import MlflowClient

from datagen.run_fonts import generate_fonts
from datagen.spec.fonts import ATTRIBUTES, FontsSpec, decode_index
from zsdist.base import tracking
from zsdist.base.errors import ConfigError
from zsdist.cli import parse
from zsdist.config import to_dict
from zsdist.data.fonts import FontsSelection
from zsdist.data.heldout import HeldOutConfig, held_out_pairs, is_held_out
from zsdist.experiments.augmentation.config import (
    CONDITIONS,
    AugmentConfig,
    FontClassifierConfig,
    GeneratorConfig,
    SetsConfig,
)
from zsdist.experiments.augmentation.data import FONT, make_splits, standard_augmentation, synthetic_sets
from zsdist.experiments.augmentation.pipeline import run_augmentation
from zsdist.methods.gzsnet.ae_ds import AEDS
from zsdist.methods.gzsnet.config import GZSNetTrainConfig
from zsdist.methods.gzsnet.model import PRESETS, GZSNet
from zsdist.train.checkpoint import storage_root

# 2 letters x 3 sizes x 10 x 10 colours x 4 fonts at 32 px (2,160 non-blank images), 2 shards of 2 fonts.
SPEC = FontsSpec(letters="AB", font_ids=(0, 3, 17, 42), letters_per_shard=2, fonts_per_shard=2, resolution=32)
# 10 of the 40 (font, font colour) pairs; every font misses 1 to 4 colours (seed 1 would leave font 42 none).
HELD_OUT = HeldOutConfig(pairs=("font", "font_colour"), fraction=0.25, seed=0)
SETS = SetsConfig(test_per_font=12, extra_per_combination=5, max_shift=2, seed=4)


@pytest.fixture(scope="module")
def fonts_data(tmp_path_factory, ray_cluster):
    out = tmp_path_factory.mktemp("fonts-data")
    generate_fonts(SPEC, out, num_workers=2, progress=False)
    return out


def config(data, **overrides) -> AugmentConfig:
    generator = GeneratorConfig(model=PRESETS["tiny"], held_out=HELD_OUT, epochs=1, groups_per_batch=2,
                                max_steps_per_epoch=2, shuffle_buffer_groups=0, seed=1)
    base = AugmentConfig(data=str(data), generator=generator, sets=SETS, seeds=(0, 1),
                         classifier=FontClassifierConfig(width=4, steps=6, batch_size=16))
    return replace(base, **overrides)


def test_no_test_image_enters_any_training_set(fonts_data):
    splits = make_splits(fonts_data, FontsSelection(), HELD_OUT, SETS)
    # Independently of the code under test: every non-blank image, and which are held-out combinations.
    every = np.arange(np.prod(SPEC.shape))
    columns = dict(zip(ATTRIBUTES, decode_index(SPEC, every)))
    blank = columns["font_colour"] == columns["background_colour"]
    held = is_held_out(columns, held_out_pairs(HELD_OUT, SPEC), HELD_OUT.pairs)
    generator_rows = every[~blank & ~held]  # what GZS-Net trains on: groups.py drops blank and held-out rows

    test = splits.index[splits.test]
    assert held[test].all() and not blank[test].any()
    assert np.intersect1d(test, generator_rows).size == 0
    assert np.array_equal(np.sort(splits.index[splits.train]), generator_rows)  # the classifier's real images
    assert np.intersect1d(test, splits.index[splits.sources].ravel()).size == 0
    assert np.isin(splits.index[splits.sources], generator_rows).all()  # chunk sources: training images only
    # Balanced: test_per_font images of every font, no image twice.
    assert np.array_equal(np.bincount(columns["font"][test]), [SETS.test_per_font] * 4)
    assert len(np.unique(test)) == len(test)
    # Source k carries the target's value of attribute k.
    for k in range(len(ATTRIBUTES)):
        assert np.array_equal(splits.attrs[splits.sources[:, k], k], splits.targets[:, k])
    # Same config, same splits.
    again = make_splits(fonts_data, FontsSelection(), HELD_OUT, SETS)
    assert all(np.array_equal(getattr(splits, f), getattr(again, f)) for f in ("train", "test", "targets", "sources"))


def test_augmentation_sets_have_the_expected_sizes_and_labels(fonts_data):
    splits = make_splits(fonts_data, FontsSelection(), HELD_OUT, SETS)
    # Every held-out (font, font colour) pair, extra_per_combination targets each, labelled with their font.
    assert splits.combinations == 10 and splits.targets.shape == (10 * SETS.extra_per_combination, len(ATTRIBUTES))
    held = held_out_pairs(HELD_OUT, SPEC)
    assert is_held_out(dict(zip(ATTRIBUTES, splits.targets.T)), held, HELD_OUT.pairs).all()
    assert np.array_equal(np.bincount(splits.labels(splits.targets[:, FONT]), minlength=4),
                          np.bincount(held[:, 0], minlength=4) * SETS.extra_per_combination)

    images = np.random.default_rng(0).integers(0, 256, size=(50, 3, 32, 32), dtype=np.uint8)
    unshifted = standard_augmentation(images, max_shift=0, seed=3)
    assert unshifted.shape == images.shape and unshifted.dtype == np.uint8
    for before, after in zip(images, unshifted):  # a channel permutation, never the identity
        order = [next(c for c in range(3) if np.array_equal(after[k], before[c])) for k in range(3)]
        assert sorted(order) == [0, 1, 2] and order != [0, 1, 2]
    shifted = standard_augmentation(images, max_shift=2, seed=3)
    assert shifted.shape == images.shape
    assert np.array_equal(shifted, standard_augmentation(images, max_shift=2, seed=3))

    model = PRESETS["tiny"]
    torch.manual_seed(0)
    state = {"config": to_dict(GZSNetTrainConfig(model=model)), "model": GZSNet(model).state_dict(),
             "baseline": AEDS(model, SPEC.shape).state_dict()}
    train_images = torch.rand(len(splits.train), 3, 32, 32) * 2 - 1
    drawn = synthetic_sets(state, {"spec": SPEC.to_dict()}, splits, train_images)
    assert set(drawn) == {"gzsnet", "ae_ds"}
    assert all(d.shape == (len(splits.targets), 3, 32, 32) and d.dtype == np.uint8 for d in drawn.values())


def test_bad_configs_are_one_line(fonts_data, workspace):
    with pytest.raises(ConfigError, match="must include font"):
        AugmentConfig(generator=replace(GeneratorConfig(), held_out=HeldOutConfig(pairs=("letter", "size"))))
    with pytest.raises(ConfigError, match="ae_ds_baseline must be true"):
        AugmentConfig(generator=GeneratorConfig(ae_ds_baseline=False))
    with pytest.raises(ConfigError, match="generator.data is taken from --data"):
        AugmentConfig(generator=GeneratorConfig(data="somewhere"))
    with pytest.raises(ConfigError, match="fewer than sets.test_per_font"):  # font 42 has no held-out colour
        run_augmentation(config(fonts_data, generator=replace(config(fonts_data).generator,
                                                              held_out=replace(HELD_OUT, seed=1))))
    # A partial section keeps the experiment's defaults, not `zsdist train gzsnet`'s.
    _, cfg = parse(["augment", "--generator.held_out.fraction", "0.4", "--generator.model.fc_hidden", "128"])
    assert cfg.generator.held_out.pairs == ("font", "font_colour") and cfg.generator.held_out.fraction == 0.4
    assert cfg.generator.model.image_size == 32 and cfg.generator.model.fc_hidden == 128


@pytest.fixture(scope="module")
def first_run(fonts_data, workspace):
    """The one Ray Train run of this file: the tiny experiment, generator included."""
    return run_augmentation(config(fonts_data))


@pytest.mark.slow
def test_one_command_logs_four_conditions_and_a_rerun_reuses_everything(fonts_data, workspace, first_run):
    cfg = config(fonts_data)
    assert not first_run.generator_reused
    assert set(first_run.mean) == set(first_run.std) == set(CONDITIONS)
    assert all(0 <= first_run.accuracy[c][s] <= 1 for c in CONDITIONS for s in cfg.seeds)
    rows = [line for line in first_run.table.splitlines() if line.startswith("| real")]
    assert len(rows) == 4 and all("±" in row for row in rows)
    report = json.loads((first_run.out_dir / "augmentation.json").read_text())
    assert report["test_images"] == 4 * SETS.test_per_font and not report["generator"]["reused"]

    client = MlflowClient(tracking.tracking_uri())
    parent = client.get_run(first_run.run_id)
    assert parent.info.status == "FINISHED"
    for condition in CONDITIONS:
        assert parent.data.metrics[f"{condition}/accuracy/mean"] == pytest.approx(first_run.mean[condition])
        assert f"{condition}/accuracy/std" in parent.data.metrics
    assert {"augmentation.md", "augmentation.json"} <= {f.path for f in client.list_artifacts(first_run.run_id)}
    children = tracking.child_runs(cfg.experiment, first_run.run_id)
    expected = {f"augment-{c}-seed{s}" for c in CONDITIONS for s in cfg.seeds}
    assert expected | {cfg.generator.run_name} == set(children.values())
    child = client.get_run(tracking.find_run_id(cfg.experiment, "augment-gzsnet-seed1"))
    assert child.data.metrics["test/accuracy"] == first_run.accuracy["gzsnet"][1]
    params = parent.data.params
    assert int(child.data.params["train_images"]) == int(params["sets.train_images"]) + int(params["sets.extra_images"])

    # Rerun: the generator is not trained again (no new checkpoint) and every classifier result is reused.
    run_dir = storage_root("") / cfg.generator.run_name
    checkpoints = sorted(p.name for p in run_dir.glob("checkpoint_*"))
    again = run_augmentation(cfg)
    assert again.generator_reused and again.run_id == first_run.run_id
    assert sorted(p.name for p in run_dir.glob("checkpoint_*")) == checkpoints
    assert again.accuracy == first_run.accuracy
    # A result cut short is recomputed: on CPU, bit for bit the same accuracy.
    client.set_terminated(child.info.run_id, status="FAILED")
    assert run_augmentation(cfg).accuracy == first_run.accuracy
    assert client.get_run(child.info.run_id).info.status == "FINISHED"

    # Another split under the same generator run name would put test images into its training set.
    other = replace(cfg.generator, held_out=replace(HELD_OUT, seed=2))
    with pytest.raises(ConfigError, match="was trained with held_out"):
        run_augmentation(replace(cfg, run_name="augment-other", generator=other))
    with pytest.raises(ConfigError, match="was made with another config"):
        run_augmentation(replace(cfg, classifier=replace(cfg.classifier, steps=7)))
