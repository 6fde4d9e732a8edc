"""Where zsdist keeps what it makes when the user names no location.

One root, `$ZSDIST_HOME` or `./zsdist-workspace`: datasets under data/, Ray Train checkpoints under
checkpoints/, evaluation outputs under eval/, and the default MLflow store (mlflow.db + mlartifacts/).
On a cluster point ZSDIST_HOME (or each path flag) at shared storage.
"""

import os
from pathlib import Path

from zsdist.base.errors import ConfigError


def workspace_dir() -> Path:
    return Path(os.environ.get("ZSDIST_HOME", "zsdist-workspace")).expanduser().resolve()


def default_dataset_dir(name: str) -> Path:
    return workspace_dir() / "data" / name


def default_checkpoint_root() -> Path:
    return workspace_dir() / "checkpoints"


def default_eval_dir(run_name: str) -> Path:
    return workspace_dir() / "eval" / run_name


def use_job_workspace() -> Path:
    """For `ray job submit` entry points: keep outputs out of the uploaded working directory.

    A job's working directory is a temporary copy that Ray may delete, so without ZSDIST_HOME the
    workspace goes to ~/zsdist-workspace; a ZSDIST_HOME inside the working directory is refused.
    """
    os.environ.setdefault("ZSDIST_HOME", str(Path.home() / "zsdist-workspace"))
    home, cwd = workspace_dir(), Path.cwd().resolve()
    if home == cwd or cwd in home.parents:
        raise ConfigError(f"ZSDIST_HOME={home} is inside the job's working directory {cwd}, which Ray "
                          "deletes: set ZSDIST_HOME to shared storage (e.g. --runtime-env-json env_vars)")
    return home
