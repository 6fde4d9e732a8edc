"""GZS-Net on Ray Train: a 2-worker gloo DDP run on a tiny Fonts slice, MLflow logging, resume,
determinism, the per-epoch validation score, and the zero-shot evaluation's numbers being finite and logged."""

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from golden_curves import check_golden
from mlflow.tracking import MlflowClient

from datagen.run_fonts import generate_fonts
from datagen.shards import dataset_files
from datagen.spec.fonts import ATTRIBUTES, FontsSpec, decode_index
from zsdist.base import tracking
from zsdist.base.errors import ConfigError
from zsdist.config import load_config
from zsdist.data.fonts import decode_rgb
from zsdist.data.heldout import HeldOutConfig, held_out_pairs, is_held_out
from zsdist.methods import get_method
from zsdist.methods.gzsnet.config import GZSNetEvalConfig, GZSNetTrainConfig
from zsdist.methods.gzsnet.evaluation import SynthesisEvalConfig
from zsdist.methods.gzsnet.model import PRESETS, GZSNet
from zsdist.methods.gzsnet.validation import SynthesisValidation
from zsdist.train.checkpoint import load_state
from zsdist.train.validation import ValidationCadence

gzsnet = get_method("gzsnet")

# 4 letters x 3 sizes x 10 x 10 colours x 4 fonts at 32 px: 4 shards of 2 letters x 2 fonts.
SPEC = FontsSpec(letters="ABgj", font_ids=(0, 3, 17, 42), letters_per_shard=2, fonts_per_shard=2, resolution=32)
# (size, font) pairs: with 2 letters and fonts per shard a (letter, font) hold-out costs whole centres.
HELD_OUT = HeldOutConfig(pairs=("size", "font"), fraction=0.25, seed=0)


@pytest.fixture(scope="module")
def fonts_data(tmp_path_factory, ray_cluster):
    out = tmp_path_factory.mktemp("fonts-data")
    generate_fonts(SPEC, out, num_workers=2, progress=False)
    return out


def cadence(cfg) -> ValidationCadence:
    """The method's validation at the training loop's cadence (zsdist/train/loop.py)."""
    return ValidationCadence(SynthesisValidation(cfg), every=cfg.validate_every, last_epoch=cfg.epochs - 1)


def config(data, **overrides) -> GZSNetTrainConfig:
    base = GZSNetTrainConfig(data=str(data), model=PRESETS["tiny"], held_out=HELD_OUT, epochs=2,
                             groups_per_batch=4, max_steps_per_epoch=3, lr=2e-3, seed=3)
    return replace(base, **overrides)


def metric_steps(run_id: str, key: str) -> list[int]:
    return sorted(m.step for m in MlflowClient(tracking.tracking_uri()).get_metric_history(run_id, key))


def attribute_values(index: np.ndarray) -> np.ndarray:
    """(..., A) value positions of global indices."""
    return np.stack(decode_index(SPEC, index), axis=-1)


def shard_images(data_dir, index: np.ndarray) -> torch.Tensor:
    """float32 (N, 3, H, W) in [-1, 1] of these global indices, read straight from the shards."""
    table = pa.concat_tables(pq.read_table(p, columns=["index", "image"]) for p in dataset_files(data_dir))
    row_of = {i: row for row, i in enumerate(table.column("index").to_pylist())}
    rgb = decode_rgb(table.take(pa.array([row_of[i] for i in index.tolist()])))
    return torch.from_numpy(rgb.transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1.0)


def test_validation_is_the_synthesis_psnr_of_training_targets_carried_between_epochs(fonts_data):
    validate = cadence(config(fonts_data, epochs=3, validate_every=2, validation_targets=16))
    targets, sources = validate.score.targets, validate.score.sources  # global indices, (T,) and (T, A)
    assert targets.shape == (16,) and sources.shape == (16, len(ATTRIBUTES))
    held = held_out_pairs(HELD_OUT, {"spec": SPEC.to_dict()})
    for rows in (targets, sources.ravel()):  # training rows only: no held-out combination, no blank image
        columns = dict(zip(ATTRIBUTES, attribute_values(rows).T))
        assert not is_held_out(columns, held, HELD_OUT.pairs).any()
        assert (columns["font_colour"] != columns["background_colour"]).all()
    # Chunk k's source has the target's value of attribute k and (here) no other value in common.
    same = attribute_values(sources) == attribute_values(targets)[:, None, :]  # (T, k, A)
    assert (same == np.eye(len(ATTRIBUTES), dtype=bool)).all()

    torch.manual_seed(0)
    model = GZSNet(PRESETS["tiny"])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    first = validate(model, 0)  # not due at epoch 0, but there is nothing to carry yet
    assert model.training and all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())

    # By hand: chunk k from source k's latent, decoded in train mode, PSNR per image on [0, 1], averaged.
    with torch.no_grad():
        latents = [model.forward_encoder(shard_images(fonts_data, sources[:, k])) for k in range(len(ATTRIBUTES))]
        drawn = model.forward_decoder(torch.cat([z[:, model.chunk(a)] for z, a in zip(latents, ATTRIBUTES)], dim=1))
    drawn = np.clip((drawn.double().numpy() + 1) / 2, 0, 1)
    truth = (shard_images(fonts_data, targets).double().numpy() + 1) / 2
    mse = ((drawn - truth) ** 2).reshape(len(targets), -1).mean(axis=1)
    assert first["val/psnr"] == pytest.approx(np.mean(10 * np.log10(1 / mse)), rel=1e-5)
    # Another run of the same split scores the same images, whatever its training seed.
    assert cadence(config(fonts_data, seed=11, validate_every=1, validation_targets=16))(model, 0) == first

    with torch.no_grad():
        next(model.parameters()).add_(0.05)
    assert validate(model, 0) == first  # between validations: the last score
    assert validate(model, 1) != first  # due: scored again


@pytest.fixture(scope="module")
def ddp_run(fonts_data, workspace):
    """The 2-epoch run "ddp" (every Ray Train run costs ~20 s of start-up: the tests share this one)."""
    return gzsnet.train(config(fonts_data, run_name="ddp", validate_every=1))


@pytest.mark.slow
def test_ddp_run_logs_every_term_resumes_and_repeats(fonts_data, workspace, tmp_path, ddp_run):
    run_id, checkpoint, final = ddp_run
    assert final["epoch"] == 1
    assert final["groups"] == 2 * 3 * 4  # 2 workers x 3 steps x 4 groups
    first = load_state(checkpoint)
    assert [h["epoch"] for h in first["history"]] == [0, 1]
    assert all(math.isfinite(h["val/psnr"]) for h in first["history"])
    assert first["epoch"] == 1  # the sampler's whole state is (seed, epoch): a resume draws epoch 2's groups
    assert "baseline" in first and "baseline_optimizer" in first
    # Chunk k was trained against partner slot k: both follow the dataset's attribute columns.
    assert tuple(first["config"]["model"]["attributes"]) == ATTRIBUTES

    run = MlflowClient(tracking.tracking_uri()).get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["held_out.pairs"] == "['size', 'font']" and run.data.params["held_out.count"] == "3"
    for term in ("total", "reconstruction", "swap", "neighbour_decode", "swap/letter", "swap/font", "ae_ds/total",
                 "ae_ds/classification", "images_per_s", "val/psnr"):
        assert metric_steps(run_id, term) == [0, 1], term
    held_out = json.loads(Path(MlflowClient(tracking.tracking_uri()).download_artifacts(
        run_id, "held_out.json", str(tmp_path))).read_text())
    assert held_out["count"] == 3 and len(held_out["names"]) == 3

    # Same run name, one more epoch: continues at epoch 2 with the first two epochs untouched.
    run_id_again, checkpoint, resumed_final = gzsnet.train(config(fonts_data, run_name="ddp", epochs=3,
                                                                  validate_every=1))
    resumed = load_state(checkpoint)
    assert run_id_again == run_id and resumed_final["epoch"] == 2
    assert resumed["history"][:2] == first["history"] and len(resumed["history"]) == 3
    # The same numbers as every earlier run of this config (CPU: seeded sampler and init), bit for bit.
    check_golden("gzsnet", resumed["history"])
    assert metric_steps(run_id, "total") == metric_steps(run_id, "val/psnr") == [0, 1, 2]


@pytest.mark.slow
def test_evaluation_numbers_are_finite_and_logged(ddp_run):
    eval_cfg = GZSNetEvalConfig(run_name="ddp",
                                       synthesis=SynthesisEvalConfig(max_targets=24, probe_images=200, grid_targets=4))
    run_id, metrics, out_dir = gzsnet.evaluate(eval_cfg)
    assert run_id == ddp_run.run_id and metrics["targets"] == 24
    for method in ("gzsnet", "ae_ds", "nn"):
        for score in ("mse", "psnr", "ssim"):
            assert math.isfinite(metrics[f"{method}/{score}"]), (method, score)
        # Held-out (size, font) pairs: a base differing in size or font alone exists, in nothing else.
        assert f"{method}/edit_size/psnr" in metrics and f"{method}/edit_font/psnr" in metrics
        assert f"{method}/edit_letter/psnr" not in metrics
    assert metrics["gzsnet_minus_nn/psnr_db"] == pytest.approx(metrics["gzsnet/psnr"] - metrics["nn/psnr"])
    assert metrics["gzsnet_minus_ae_ds/edit_font/psnr_db"] == pytest.approx(
        metrics["gzsnet/edit_font/psnr"] - metrics["ae_ds/edit_font/psnr"])
    for name in ("gzsnet", "ae_ds"):
        assert np.isfinite([metrics[f"coprediction/{name}/diagonal_mean"],
                            metrics[f"coprediction/{name}/off_diagonal_mean"]]).all()

    client = MlflowClient(tracking.tracking_uri())
    logged = client.get_run(run_id).data.metrics
    assert logged["eval/gzsnet/psnr"] == pytest.approx(metrics["gzsnet/psnr"])
    artifacts = {f.path for f in client.list_artifacts(run_id, "eval")}
    assert {"eval/synthesis_grid.png", "eval/coprediction_gzsnet.png", "eval/edit_font_grid.png",
            "eval/synthesis.json"} <= artifacts
    summary = json.loads((out_dir / "synthesis.json").read_text())
    assert len(summary["targets"]) == 24 and summary["held_out"]["pairs"] == ["size", "font"]


def test_model_section_defaults_to_the_cpu64_preset_and_bad_input_is_one_line(fonts_data, workspace, tmp_path):
    cfg = load_config(GZSNetTrainConfig, overrides={"model.image_size": "32", "model.downsamplings": "2"})
    assert cfg.model.base_width == PRESETS["cpu64"].base_width and cfg.model.image_size == 32
    with pytest.raises(ConfigError, match="groups_per_batch must be >= 1"):
        GZSNetTrainConfig(groups_per_batch=0)
    with pytest.raises(ConfigError, match="validate_every must be >= 0"):
        GZSNetTrainConfig(validate_every=-1)
    with pytest.raises(ConfigError, match="validation_targets must be >= 1"):
        GZSNetTrainConfig(validation_targets=0)
    with pytest.raises(ConfigError, match="cannot be read from a 32 px dataset"):
        gzsnet.train(config(fonts_data, model=PRESETS["cpu64"]))
    with pytest.raises(ConfigError, match="must follow the dataset's order"):
        replace(config(fonts_data), model=replace(PRESETS["tiny"], attributes=tuple(reversed(ATTRIBUTES))))
    with pytest.raises(ConfigError, match="no dataset given"):
        gzsnet.train(GZSNetTrainConfig())
