"""Golden loss curves: the per-epoch metrics of a tiny fixed-seed CPU run, stored in tests/golden/.

A refactor of a method's model, losses, data or training loop must leave its curve as it was, to the
last bit: the test runs compare every learned metric of every epoch exactly (timings excluded). The
same kernels must run for that, so the file records the torch version and CPU capability it was made
with; on another pair (a new machine, a torch upgrade) the comparison allows a relative 1e-5, and the
curve can be recorded again there after checking that no refactor is in flight:

    ZSDIST_RECORD_GOLDEN=1 python -m pytest tests/test_train_polar.py tests/test_gzsnet_training.py \
        tests/test_cadavae_training.py tests/test_cluster.py

tests/test_cluster.py compares runs that survived faults with its curve at a relative 1e-4 instead.
"""

import json
import math
import os
from pathlib import Path

import torch

GOLDEN = Path(__file__).resolve().parent / "golden"
RECORD_ENV = "ZSDIST_RECORD_GOLDEN"


def learned(metrics: dict) -> dict:
    """What training computed, without what the clock measured (`*_s`, `*_per_s`, `*seconds`)."""
    return {k: v for k, v in metrics.items() if not k.endswith(("_s", "seconds"))}


def kernels() -> dict:
    return {"torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability()}


def recording() -> bool:
    return os.environ.get(RECORD_ENV) == "1"


def golden_curve(name: str) -> dict:
    """tests/golden/<name>.json: {"kernels": what it was made with, "epochs": its per-epoch metrics}."""
    path = GOLDEN / f"{name}.json"
    assert path.is_file(), f"no golden curve {path.name}: record it with {RECORD_ENV}=1 (see tests/golden_curves.py)"
    return json.loads(path.read_text())


def check_golden(name: str, history: list[dict]) -> None:
    """Compare a run's per-epoch metrics with tests/golden/<name>.json (or record them there)."""
    path = GOLDEN / f"{name}.json"
    curve = [learned(metrics) for metrics in history]
    if recording():
        path.write_text(json.dumps({"kernels": kernels(), "epochs": curve}, indent=1, sort_keys=True) + "\n")
        return
    golden = golden_curve(name)
    assert [sorted(epoch) for epoch in curve] == [sorted(epoch) for epoch in golden["epochs"]], \
        f"{name}: the run reports other metrics than its golden curve"
    if golden["kernels"] == kernels():
        moved = [(ours["epoch"], key, ours[key], value) for ours, theirs in zip(curve, golden["epochs"])
                 for key, value in theirs.items() if ours[key] != value]
        assert not moved, f"{name}: the curve moved (same torch and CPU kernels as recorded): first {moved[:3]}"
    else:
        for ours, theirs in zip(curve, golden["epochs"]):
            for key, value in theirs.items():
                assert math.isclose(ours[key], value, rel_tol=1e-5, abs_tol=1e-12), (name, ours["epoch"], key)

