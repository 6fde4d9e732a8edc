"""Shared test set-up: the offline Ray environment and one local Ray cluster per test session.

The environment block must be in place before anything imports ray, so it is applied at import
time of this file, which pytest loads before any test module.
"""

import os
import re
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _apply_offline_env() -> None:
    # One source of truth: the same file the README and .ci/run source.
    for line in (ROOT / "scripts" / "offline-env.sh").read_text().splitlines():
        if m := re.fullmatch(r"export (\w+)=(.*)", line.strip()):
            os.environ[m[1]] = m[2].replace("$PWD", str(ROOT))
        elif m := re.fullmatch(r"unset (\w+)", line.strip()):
            os.environ.pop(m[1], None)


def _object_store_env() -> None:
    # The storage tests' S3-compatible server (tests/s3_server.py) listens on loopback. Every Ray
    # process must know its endpoint, so it is set here, before any Ray cluster starts; the keys are
    # placeholders the server accepts (and any real AWS settings must not leak into the tests).
    from s3_server import free_loopback_port

    os.environ.update({"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_loopback_port()}",
                       "AWS_ACCESS_KEY_ID": "zsdist-test", "AWS_SECRET_ACCESS_KEY": "zsdist-test",
                       "AWS_DEFAULT_REGION": "us-east-1"})
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        os.environ.pop(name, None)


def _temp_dir_per_process() -> None:
    # Under pytest-xdist each test process gets a temp dir of its own, inherited by the Ray workers it
    # starts: a test that checks what training leaves in the temp dir sees only its own process's files.
    if worker := os.environ.get("PYTEST_XDIST_WORKER"):
        path = Path(tempfile.gettempdir()) / f"zsdist-tests-{worker}-{os.getpid()}"
        path.mkdir(exist_ok=True)
        os.environ["TMPDIR"] = str(path)
        tempfile.tempdir = None  # gettempdir() reads TMPDIR again


_apply_offline_env()
_object_store_env()
_temp_dir_per_process()
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def ray_cluster():
    """A real local Ray cluster shared by every test that needs one (starting one costs ~7 s)."""
    import ray

    from zsdist.base.ray_setup import init_ray

    init_ray(num_cpus=2, object_store_memory=512 * 1024**2)
    yield ray
    ray.shutdown()


@pytest.fixture
def mlflow_uri(tmp_path, monkeypatch):
    """A fresh SQLite MLflow store for one test."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """One workspace and MLflow store for a test module's runs (they resume each other)."""
    root = tmp_path_factory.mktemp("workspace")
    patch = pytest.MonkeyPatch()
    patch.setenv("ZSDIST_HOME", str(root))
    patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    yield root
    patch.undo()


# With ZSDIST_TEST_WORKERS=2 (scripts/test.sh: -n 2 --dist loadfile), the longest files first: each
# goes to its own process at once instead of starting last and alone.
LONGEST_FIRST = ("test_cluster.py", "test_tune.py", "test_train_polar.py", "test_object_storage.py",
                 "test_gzsnet_training.py", "test_cadavae_training.py", "test_cadavae_seeds.py", "test_vae_es.py",
                 "test_augmentation.py")


def pytest_collection_modifyitems(items):
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return  # one process: the files' own order
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order
