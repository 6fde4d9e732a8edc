"""zsdist.compare against real MLflow stores: a SQLite file, and a real `mlflow server` on loopback."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import matplotlib.pyplot as plt
import pytest
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient
from PIL import Image

from zsdist.base.errors import ConfigError, DataError
from zsdist.compare import CompareConfig, compare_runs, format_table, metric_mode, plot_comparison

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# name: (lr, latent_dim, val/H history by step, status); t2's best value is not its latest
TRIALS = {
    "t0": ("0.00005", "32", [0.10, 0.30], "FINISHED"),
    "t1": ("0.001", "64", [0.20, 0.55], "FINISHED"),
    "t2": ("0.01", "128", [0.20, 0.60, 0.42], "FINISHED"),
    "t3": ("0.03", "64", [], "FAILED"),  # stopped before its first validation
}


def _log_run(client, experiment_id, name, params, histories, *, tags=None, status="FINISHED"):
    run_id = client.create_run(experiment_id, run_name=name, tags={"zsdist.run_name": name, **(tags or {})}).info.run_id
    now = int(time.time() * 1000)
    metrics = [Metric(key, value, now + step, step) for key, values in histories.items()
               for step, value in enumerate(values)]
    client.log_batch(run_id, metrics=metrics, params=[Param(k, v) for k, v in {"run_name": name, **params}.items()])
    client.set_terminated(run_id, status=status)
    return run_id


def _log_search(client, artifact_location=None):
    """A search 'search-a' with 4 trials, a search 'search-b' minimising the loss with 2, and an
    unrelated better run, all in one experiment."""
    experiment_id = client.create_experiment("zsl", artifact_location=artifact_location)
    parent = _log_run(client, experiment_id, "search-a", {"epochs": "5"}, {}, tags={
        "zsdist.search_metric": "val/H", "zsdist.search_mode": "max", "zsdist.searched_params": "lr,model.latent_dim"})
    other = _log_run(client, experiment_id, "search-b", {"epochs": "5"}, {}, tags={
        "zsdist.search_metric": "train/loss", "zsdist.search_mode": "min", "zsdist.searched_params": "lr"})
    for name, loss in [("b0", 0.3), ("b1", 0.1)]:
        _log_run(client, experiment_id, name, {"lr": "0.002", "epochs": "5"}, {"train/loss": [1.0, loss]},
                 tags={"mlflow.parentRunId": other})
    for name, (lr, latent, history, status) in TRIALS.items():
        histories = {"train/loss": [1.0, 0.5]}
        if history:
            histories |= {"val/H": history, "val/S": [0.7], "val/U": [history[-1] / 2]}
        _log_run(client, experiment_id, name, {"lr": lr, "model.latent_dim": latent, "epochs": "5"}, histories,
                 tags={"mlflow.parentRunId": parent}, status=status)
    _log_run(client, experiment_id, "baseline", {"lr": "0.0005", "decorrelation": "abs", "epochs": "5"},
             {"val/H": [0.9], "train/loss": [0.2]})


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One SQLite store for the tests that only read it (a new store costs ~1.5 s of migrations)."""
    root = tmp_path_factory.mktemp("compare")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    _log_search(MlflowClient(uri), artifact_location=(root / "artifacts").as_uri())
    patch = pytest.MonkeyPatch()
    patch.setenv("MLFLOW_TRACKING_URI", uri)
    yield uri
    patch.undo()


def _table_rows(table):
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()[4:]]


def test_search_lists_its_trials_best_first_with_the_search_defaults(store):
    comparison = compare_runs(CompareConfig(experiment="zsl", search="search-a"))
    assert comparison.metric == "val/H" and comparison.params == ("lr", "model.latent_dim")
    assert comparison.metrics == ("val/H", "val/S", "val/U", "train/loss")  # siblings of val/H first
    assert [row.name for row in comparison.rows] == ["t1", "t2", "t0", "t3"]  # no metric: last
    assert comparison.rows[1].metrics["val/H"] == pytest.approx(0.42)  # the latest value, not the best
    table = format_table(comparison)
    lines = table.splitlines()
    assert lines[0] == "search 'search-a' in experiment 'zsl': 4 runs by val/H (max)"
    assert lines[2] == "| # | run | status | lr | model.latent_dim | val/H | val/S | val/U | train/loss |"
    assert _table_rows(table) == [
        ["1", "t1", "FINISHED", "0.001", "64", "0.55", "0.7", "0.275", "0.5"],
        ["2", "t2", "FINISHED", "0.01", "128", "0.42", "0.7", "0.21", "0.5"],
        ["3", "t0", "FINISHED", "0.00005", "32", "0.3", "0.7", "0.15", "0.5"],
        ["4", "t3", "FAILED", "0.03", "64", "-", "-", "-", "0.5"],
    ]
    assert "baseline" not in table

    loss = compare_runs(CompareConfig(experiment="zsl", search="search-b"))  # its tags: train/loss, min
    assert (loss.metric, loss.mode, loss.params) == ("train/loss", "min", ("lr",))
    assert [row.name for row in loss.rows] == ["b1", "b0"]

    lowest = compare_runs(CompareConfig(experiment="zsl", search="search-a", mode="min", metric="val/U", max_runs=2))
    assert [row.name for row in lowest.rows] == ["t0", "t2"] and lowest.total == 4
    assert format_table(lowest).splitlines()[0].endswith("best 2 of 4 runs by val/U (min)")


def test_experiment_lists_every_run_and_the_params_that_differ(store):
    comparison = compare_runs(CompareConfig(experiment="zsl", metric="val/H"))
    # runs without val/H last, by name
    assert [row.name for row in comparison.rows] == ["baseline", "t1", "t2", "t0", "b0", "b1", "search-a", "search-b",
                                                     "t3"]
    assert comparison.params == ("decorrelation", "lr", "model.latent_dim")  # epochs is the same everywhere
    assert compare_runs(CompareConfig(experiment="zsl")).metric == "train/loss"  # the first metric by name


def test_an_experiment_sorts_by_its_models_headline_eval_metric_in_its_direction(mlflow_uri):
    client = MlflowClient(mlflow_uri)
    polar = client.create_experiment("polar-vae")
    for name, beta, inside, outside in [("a", "1.0", 0.05, 0.01), ("b", "4.0", 0.02, 0.03), ("c", "0.5", 0.09, 0.02)]:
        metrics = {"loss": [90.0, 80.0], "eval/mse_inside": [inside], "eval/mse_outside": [outside],
                   "eval/nn_mse_inside": [0.04], "eval/mse_inside_minus_nn": [inside - 0.04], "eval/dice_inside": [0.5]}
        _log_run(client, polar, name, {"beta": beta}, metrics)
    comparison = compare_runs(CompareConfig(experiment="polar-vae"))  # no flags
    assert (comparison.metric, comparison.mode) == ("eval/mse_inside", "min")  # an error: lowest first
    assert [row.name for row in comparison.rows] == ["b", "a", "c"]
    assert comparison.params == ("beta",)
    assert comparison.metrics == ("eval/mse_inside", "eval/mse_outside", "eval/nn_mse_inside",
                                  "eval/mse_inside_minus_nn")
    assert format_table(comparison).splitlines()[2] == (
        "| # | run | status | beta | eval/mse_inside | eval/mse_outside | eval/nn_mse_inside "
        "| eval/mse_inside_minus_nn |")
    assert [row.name for row in compare_runs(CompareConfig(experiment="polar-vae", mode="max")).rows] == ["c", "a", "b"]

    zsl = client.create_experiment("cadavae")
    for name, h in [("x", 0.4), ("y", 0.6)]:
        _log_run(client, zsl, name, {"seed": name}, {"loss": [1.0], "eval/H": [h], "eval/S": [0.7], "eval/U": [h]})
    comparison = compare_runs(CompareConfig(experiment="cadavae"))
    assert (comparison.metric, comparison.mode, [r.name for r in comparison.rows]) == ("eval/H", "max", ["y", "x"])
    assert comparison.metrics[:3] == ("eval/H", "eval/S", "eval/U")


@pytest.mark.parametrize(("metric", "mode"), [
    ("eval/mse_inside", "min"), ("eval/mse_inside_minus_nn", "min"), ("val/hole_mse", "min"), ("loss", "min"),
    ("train/loss", "min"), ("eval/nn/mse", "min"), ("kl", "min"), ("epoch_seconds", "min"),
    ("eval/gzsnet/psnr", "max"), ("eval/gzsnet_minus_ae_ds/psnr_db", "max"), ("eval/H", "max"), ("val/S", "max"),
    ("eval/dice_inside", "max"), ("eval/latent_r2_mean_inside", "max"), ("images_per_s", "max"),
    ("eval/zsl_accuracy", "max"),
])
def test_errors_ascend_and_scores_descend(metric, mode):
    assert metric_mode(metric) == mode


def test_plot_writes_a_png_with_one_scatter_per_param(store, tmp_path, monkeypatch):
    figures, close = [], plt.close
    monkeypatch.setattr(plt, "close", figures.append)  # keep the figure to look at its axes
    search = compare_runs(CompareConfig(experiment="zsl", search="search-a"))
    path = plot_comparison(search, tmp_path / "plots" / "search.png")
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 1000
    with Image.open(path) as image:
        assert image.size == (900, 360)  # two subplots side by side, 4.5 x 3.6 in at 100 dpi
    lr, latent = figures[0].axes
    assert (lr.get_xlabel(), lr.get_xscale()) == ("lr", "log")  # 5e-5 .. 1e-2: over 2 decades
    assert (latent.get_xlabel(), latent.get_xscale()) == ("model.latent_dim", "linear")
    assert figures[0].get_suptitle() == "search 'search-a' in experiment 'zsl': val/H (max)"

    everything = compare_runs(CompareConfig(experiment="zsl", metric="val/H"))
    data = plot_comparison(everything, tmp_path / "all.png").read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 1000
    decorrelation = figures[1].axes[0]  # categorical: only the run that has the param is drawn
    assert [t.get_text() for t in decorrelation.get_xticklabels()] == ["abs"]
    assert len(decorrelation.collections[0].get_offsets()) == 1
    for figure in figures:
        close(figure)


@pytest.mark.parametrize(("cfg", "error", "message"), [
    ({"experiment": "nope"}, ConfigError, "no experiment 'nope' in sqlite:///.*: experiments are .*zsl"),
    ({"experiment": "zsl", "search": "nope"}, ConfigError, "no search 'nope' .*: searches are search-a, search-b "),
    ({"experiment": "zsl", "search": "search-a", "metric": "val/X"}, ConfigError,
     "metric 'val/X' is logged by none of the 4 runs .*: metrics are train/loss, val/H, val/S, val/U "),
    ({"experiment": "zsl", "params": ("lr", "beta")}, ConfigError,
     "param 'beta' is logged by none of the 9 runs .*: params are decorrelation, epochs, lr, "),
])
def test_missing_names_are_one_line_errors_naming_what_exists(store, cfg, error, message):
    with pytest.raises(error, match=message) as caught:
        compare_runs(CompareConfig(**cfg))
    assert "\n" not in str(caught.value)


def test_empty_experiment_and_bad_config_values_are_one_line_errors(mlflow_uri):
    MlflowClient(mlflow_uri).create_experiment("empty")
    with pytest.raises(DataError, match="experiment 'empty' has no runs"):
        compare_runs(CompareConfig(experiment="empty"))
    for cfg, message in [({}, "experiment is required"), ({"experiment": "e", "max_runs": 0}, "max_runs"),
                         ({"experiment": "e", "plot": "out.svg"}, "plot must be a .png"),
                         ({"experiment": "e", "mode": "best"}, "mode must be max or min")]:
        with pytest.raises(ConfigError, match=message) as caught:
            CompareConfig(**cfg)
        assert "\n" not in str(caught.value)


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_compare_reads_a_tracking_server(tmp_path, monkeypatch):
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    mlflow_cli = os.path.join(os.path.dirname(sys.executable), "mlflow")
    with open(tmp_path / "server.log", "wb") as log:  # the server keeps its own copy of the descriptor
        server = subprocess.Popen(
            [mlflow_cli, "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
             "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
             "--artifacts-destination", str(tmp_path / "artifacts")],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            # MLflow's GenAI job runner is 8 more processes and ~1.3 GB; zsdist uses none of its jobs
            env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "mlflow server not healthy after 60 s"
            time.sleep(0.5)
        _log_search(MlflowClient(url))
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        comparison = compare_runs(CompareConfig(experiment="zsl", search="search-a"))
        assert [row.name for row in comparison.rows] == ["t1", "t2", "t0", "t3"]
        assert comparison.rows[0].metrics["val/H"] == pytest.approx(0.55)
        with pytest.raises(ConfigError, match=f"no experiment 'nope' in {url}: experiments are .*zsl"):
            compare_runs(CompareConfig(experiment="nope"))
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server's uvicorn worker is in its process group too
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):  # whatever of the group outlived that
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()
