"""CADA-VAE on Ray Train: a 2-worker gloo DDP run on a small synthetic feature dataset, MLflow logging of
every term and warm-up weight, resume, GZSL / ZSL / few-shot evaluation, and the validation split.

The synthetic problem (tests/cadavae_synthetic.py) is made easy on purpose: classes are corners of a
small code that linearly determines both their attributes and their images' features.
"""

import json
import math
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from cadavae_synthetic import ATTRIBUTES, CLASSES, CLASSIFIER, FEATURES, SEEN, write_synthetic
from cadavae_synthetic import tiny_config as config
from golden_curves import check_golden
from mlflow.tracking import MlflowClient

from zsdist.base import tracking
from zsdist.base.errors import ConfigError
from zsdist.data.features import read_feature_dataset
from zsdist.data.zsl_roles import roles
from zsdist.methods import get_method
from zsdist.methods.cadavae.config import CADAVAEEvalConfig, CADAVAETrainConfig
from zsdist.methods.cadavae.model import CADAVAE
from zsdist.methods.cadavae.scores import scores
from zsdist.methods.cadavae.seeds import CADAVAESeedsConfig
from zsdist.train.checkpoint import load_state

cadavae = get_method("cadavae")


@pytest.fixture(scope="module")
def feature_data(tmp_path_factory):
    return write_synthetic(tmp_path_factory.mktemp("features"))


def metric_steps(run_id: str, key: str) -> list[int]:
    return sorted(m.step for m in MlflowClient(tracking.tracking_uri()).get_metric_history(run_id, key))


@pytest.mark.slow
def test_ddp_run_logs_every_term_resumes_and_scores_above_chance(ray_cluster, feature_data, workspace, tmp_path):
    temporary = set(Path(tempfile.gettempdir()).glob("zsdist-ckpt-*"))
    run_id, checkpoint, final = cadavae.train(config(feature_data, run_name="ddp"))
    # Each checkpoint's temporary copy is gone once Ray Train has stored it (workers share this temp dir).
    assert set(Path(tempfile.gettempdir()).glob("zsdist-ckpt-*")) <= temporary
    assert final["epoch"] == 3 and final["samples"] == SEEN * 60  # both workers' shards, every row once
    first = load_state(checkpoint)
    assert [h["epoch"] for h in first["history"]] == [0, 1, 2, 3]
    # The pipeline filled the model's dims from the dataset.
    assert first["config"]["model"]["feature_dim"] == FEATURES and first["config"]["model"]["attribute_dim"] == ATTRIBUTES
    assert first["history"][0]["beta"] == 0 and final["delta"] == pytest.approx(8.13)

    client = MlflowClient(tracking.tracking_uri())
    assert client.get_run(run_id).data.params["dataset.train_rows"] == str(SEEN * 60)
    for key in ("loss", "reconstruction", "cross_reconstruction", "kl", "distribution_alignment",
                "beta", "gamma", "delta", "samples_per_s"):
        assert metric_steps(run_id, key) == [0, 1, 2, 3], key

    # Same run name, two more epochs: continues at epoch 4 with the first four untouched.
    run_id_again, checkpoint, resumed_final = cadavae.train(config(feature_data, run_name="ddp", epochs=6))
    resumed = load_state(checkpoint)
    assert run_id_again == run_id and resumed_final["epoch"] == 5
    assert resumed["history"][:4] == first["history"] and len(resumed["history"]) == 6
    # The same numbers as every earlier run of this config (CPU, seeded), bit for bit.
    check_golden("cadavae", resumed["history"])
    assert metric_steps(run_id, "loss") == list(range(6))
    assert resumed_final["reconstruction"] < first["history"][0]["reconstruction"]

    metrics = cadavae.evaluate(CADAVAEEvalConfig(run_name="ddp", classifier=CLASSIFIER, shots=(1, 5))).metrics
    calibrated = {f"calibrated/{k}" for k in ("S", "U", "H", "gamma", "validation_H")} | {"validation_ausuc"}
    # ESZSL is calibrated on its own validation fit; this VAE trained on every seen class, so it gets AUSUC only.
    assert set(metrics) == {"S", "U", "H", "zsl_accuracy", "ausuc", *(f"fewshot_{n}/{k}" for n in (1, 5) for k in "SUH"),
                            *(f"baseline/eszsl/{k}" for k in ("S", "U", "H", "zsl_accuracy", "feature_reg",
                                                              "attribute_reg", "validation_H", "ausuc", *calibrated))}
    assert all(math.isfinite(v) for v in metrics.values()), metrics
    assert metrics["baseline/eszsl/H"] > 0.3, metrics  # ESZSL solves this linear problem too
    assert metrics["H"] > 0.3 and metrics["zsl_accuracy"] > 1 / 3, metrics  # chance: ~0.1 and 1/3
    logged = client.get_run(run_id).data.metrics
    assert logged["eval/H"] == pytest.approx(metrics["H"]) and "eval/fewshot_5/U" in logged
    report = json.loads(Path(client.download_artifacts(run_id, "eval/test.json", str(tmp_path))).read_text())
    assert report["epoch"] == 5 and len(report["classes"]["unseen"]) == CLASSES - SEEN
    assert set(report["seen_unseen_curves"]) == {"CADA-VAE", "ESZSL"}
    assert {a.path for a in client.list_artifacts(run_id, "eval")} >= {"eval/seen_unseen_test.png"}

    with pytest.raises(ConfigError, match="validation=none"):
        cadavae.evaluate(CADAVAEEvalConfig(run_name="ddp", split="validation"))


def test_validation_split_holds_out_classes_and_images_from_training(feature_data):
    data = read_feature_dataset(feature_data)
    cfg = config(feature_data, validation="pseudo_unseen", pseudo_unseen_fraction=0.3, seed=4)
    split = roles(data, cfg, validation=True)
    assert len(split.unseen) == 2 and set(split.unseen) < set(range(SEEN))  # round(0.3 * 7) seen classes
    assert sorted([*split.seen, *split.unseen]) == list(range(SEEN))  # the true unseen take no part
    assert (data.splits[np.concatenate([split.train_rows, split.seen_test_rows, split.unseen_test_rows])]
            == "trainval").all()  # no test row is used
    assert not set(data.labels[split.train_rows]) & set(split.unseen)
    assert not set(split.train_rows) & set(split.seen_test_rows)
    assert len(split.seen_test_rows) == len(split.seen) * 12  # 20% of each class's 60 trainval images
    again = roles(data, cfg, validation=True)
    assert np.array_equal(again.train_rows, split.train_rows) and np.array_equal(again.unseen, split.unseen)
    test = roles(data, cfg, validation=False)
    assert list(test.unseen) == list(range(SEEN, CLASSES)) and len(test.train_rows) == SEEN * 60
    # The scores run on the validation roles alone (an untrained model: only the plumbing is checked).
    model = CADAVAE(replace(cfg.model, feature_dim=FEATURES, attribute_dim=ATTRIBUTES))
    metrics, logits = scores(model, data, split, replace(CLASSIFIER, epochs=2), shots=(3,))
    assert set(metrics) == {"S", "U", "H", "zsl_accuracy", "fewshot_3/S", "fewshot_3/U", "fewshot_3/H"}
    assert all(0 <= v <= 1 for v in metrics.values()), metrics
    # The logits kept for calibration give the same S / U / H at gamma 0.
    assert logits.scores() == {k: metrics[k] for k in ("S", "U", "H")}


def test_bad_configs_are_one_line_errors():
    with pytest.raises(ConfigError, match="batch_size must be >= 1"):
        CADAVAETrainConfig(batch_size=0)
    with pytest.raises(ConfigError, match="pseudo_unseen_fraction must lie strictly between 0 and 1"):
        CADAVAETrainConfig(pseudo_unseen_fraction=1.0)
    with pytest.raises(ConfigError, match="shots must all be >= 1"):
        CADAVAEEvalConfig(shots=(0,))
    with pytest.raises(ConfigError, match="eval_split=validation needs held-out classes"):
        CADAVAESeedsConfig(eval_split="validation")
    with pytest.raises(ConfigError, match="no dataset given"):
        cadavae.train(CADAVAETrainConfig())
