"""The demo (the README's first command): the polar study end to end on the embedded defaults.

Generates the default polar dataset (5045 images at 64 px) into the workspace, trains the VAE with
2 DDP workers on the punctured set for a few minutes of CPU, evaluates hole vs outside, and prints
the headline numbers and where everything is. Rerunning it resumes (or skips) every step.
"""

from __future__ import annotations

from dataclasses import replace

from datagen.spec.polar import PolarSpec
from zsdist.base import tracking
from zsdist.base.workspace import workspace_dir
from zsdist.methods import get_method
from zsdist.methods.polar_vae.config import PolarEvalConfig, PolarTrainConfig
from zsdist.pipelines.datasets import generate_polar_dataset

# What the demo changes from the training defaults, as CLI-style overrides (flags still win):
# a narrower network and fewer epochs so 2 CPU workers finish in a few minutes.
DEMO_TRAIN_DEFAULTS = {
    "run_name": "polar-demo",
    "epochs": "6",
    "batch_size": "16",
    "model.encoder_channels": "16,32,64,64",
    "model.decoder_channels": "32,16,8",
}


def run_demo(cfg: PolarTrainConfig) -> dict[str, float]:
    print(f"[1/3] generating the polar dataset (workspace: {workspace_dir()})", flush=True)
    data_dir, report = generate_polar_dataset(PolarSpec(), cfg.data)
    print(f"      {report.written} shards written, {report.skipped} already complete -> {data_dir}", flush=True)

    print(f"[2/3] training '{cfg.run_name}': {cfg.num_workers} DDP workers, {cfg.epochs} epochs", flush=True)
    method = get_method("polar-vae")
    run_id, checkpoint, last = method.train(replace(cfg, data=str(data_dir)))
    print(f"      final loss {last['loss']:.2f} ({last['images_per_s']:.0f} images/s); checkpoint {checkpoint}",
          flush=True)

    print("[3/3] evaluating reconstruction inside vs outside the hole", flush=True)
    _, metrics, out_dir = method.evaluate(PolarEvalConfig(
        run_name=cfg.run_name, experiment=cfg.experiment, storage_path=cfg.storage_path))
    print(method.format_headline(metrics))
    print(f"\nResults: {out_dir} (metrics.json, transect_P*.png, latent_scatter.png, mse_by_distance.png)")
    print(f"MLflow run {run_id} in experiment '{cfg.experiment}' at {tracking.display_uri()}")
    print(f"See it: {tracking.ui_hint()}")
    print(f"Compare runs: zsdist compare --experiment {cfg.experiment}")
    return metrics
