"""`zsdist train cadavae --seeds N`: two seeds trained on Ray Train and evaluated, a summary MLflow run whose
mean and std are those of the seed runs' logged metrics, and a rerun through the CLI that trains nothing again."""

import json
from pathlib import Path

import numpy as np
import pytest
from cadavae_synthetic import CLASSIFIER, tiny_config, write_synthetic
from mlflow.tracking import MlflowClient

from zsdist.base import tracking
from zsdist.base.errors import ConfigError
from zsdist.cli import main
from zsdist.config import to_dict
from zsdist.methods.cadavae import seeds as cadavae_seeds
from zsdist.train.checkpoint import latest_checkpoint, storage_root

pytestmark = pytest.mark.slow  # trains and evaluates two seeds with Ray Train


@pytest.fixture(scope="module")
def feature_data(tmp_path_factory):
    return write_synthetic(tmp_path_factory.mktemp("features"))


def test_two_seeds_summary_is_the_mean_and_std_of_the_seed_runs(ray_cluster, feature_data, workspace, tmp_path,
                                                                 capsys):
    cfg = tiny_config(feature_data, cls=cadavae_seeds.CADAVAESeedsConfig, run_name="seeds", experiment="seeds",
                      seed=3, seeds=2, epochs=2, num_workers=1, classifier=CLASSIFIER, shots=(1,),
                      validation="pseudo_unseen", eval_split="test")
    summary = cadavae_seeds.run_seeds(cfg)
    assert [(run.seed, run.run_name) for run in summary.runs] == [(3, "seeds-seed3"), (4, "seeds-seed4")]

    client = MlflowClient(tracking.tracking_uri())
    children = [client.get_run(run.run_id) for run in summary.runs]
    assert [child.data.tags[tracking.RUN_NAME_TAG] for child in children] == ["seeds-seed3", "seeds-seed4"]
    logged = client.get_run(tracking.find_run_id("seeds", "seeds")).data
    assert logged.tags[cadavae_seeds.SEED_RUNS_TAG] == ",".join(run.run_id for run in summary.runs)
    keys = {k for k in children[0].data.metrics if k.startswith("eval/")}
    # Scored on test, with calibrated stacking for both methods (the VAEs never saw the pseudo-unseen classes).
    assert {"eval/H", "eval/zsl_accuracy", "eval/fewshot_1/U", "eval/baseline/eszsl/H", "eval/calibrated/H",
            "eval/ausuc", "eval/baseline/eszsl/calibrated/H"} <= keys
    for key in keys:
        values = np.array([child.data.metrics[key] for child in children])
        assert logged.metrics[f"{key}/mean"] == pytest.approx(values.mean()), key
        assert logged.metrics[f"{key}/std"] == pytest.approx(values.std(ddof=1)), key
    report = json.loads(Path(client.download_artifacts(summary.run_id, "seeds.json", str(tmp_path))).read_text())
    assert [run["run_id"] for run in report["seeds"]] == logged.tags[cadavae_seeds.SEED_RUNS_TAG].split(",")
    table = cadavae_seeds.summary_table(summary)
    assert "CADA-VAE" in table and "ESZSL" in table and f"{summary.mean['eval/H']:.4f} ±" in table
    assert f"{summary.mean['eval/calibrated/H']:.4f} ±" in table and "test split" in table

    # The same config rerun as a user would (`zsdist train cadavae --config ...`): both seeds are finished,
    # so nothing trains (same checkpoints, no new loss entry) and the same summary run gets the same numbers.
    checkpoints = [latest_checkpoint(storage_root("") / run.run_name) for run in summary.runs]
    losses = [len(client.get_metric_history(run.run_id, "loss")) for run in summary.runs]
    (tmp_path / "seeds.json").write_text(json.dumps(to_dict(cfg)))
    main(["train", "cadavae", "--config", str(tmp_path / "seeds.json")])
    printed = capsys.readouterr().out
    assert f"MLflow run {summary.run_id}" in printed and table in printed
    assert [latest_checkpoint(storage_root("") / run.run_name) for run in summary.runs] == checkpoints
    assert [len(client.get_metric_history(run.run_id, "loss")) for run in summary.runs] == losses == [2, 2]

    with pytest.raises(ConfigError, match="already a trained run"):  # a seed's name cannot hold a summary
        cadavae_seeds.run_seeds(tiny_config(feature_data, cls=cadavae_seeds.CADAVAESeedsConfig,
                                            run_name="seeds-seed3", experiment="seeds", seeds=2))
