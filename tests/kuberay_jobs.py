"""The RayJobs of cluster/kuberay as KubeRay runs them: their entrypoints' steps, and the bash line of the
submitter pod that hands an entrypoint to the cluster (tests/test_cluster_commands.py, tests/test_cluster.py)."""

import json
import shlex
from pathlib import Path

import yaml

KUBERAY = Path(__file__).resolve().parents[1] / "cluster" / "kuberay"
RAY_JOBS = {path.name: doc for path in sorted(KUBERAY.glob("*.y*ml"))
            for doc in yaml.safe_load_all(path.read_text()) if doc and doc.get("kind") == "RayJob"}

SHELL_OPERATORS = {"&&", "||", ";", "|", "&"}


def _steps(entrypoint: str) -> list[list[str]]:
    """A RayJob entrypoint is one command: a job, or `bash -c 'step && step ...'` for several steps."""
    tokens = shlex.split(entrypoint)
    if tokens[:2] != ["bash", "-c"]:
        return [tokens]
    assert len(tokens) == 3, f"bash -c takes one quoted script: {entrypoint}"
    steps = [[]]
    for token in shlex.split(tokens[2]):
        if token == "&&":
            steps.append([])
        else:
            steps[-1].append(token)
    return steps


def rayjob_steps(name: str) -> list[list[str]]:
    """The steps of a RayJob's entrypoint, each a `python ...` command line split into tokens."""
    return _steps(RAY_JOBS[name]["spec"]["entrypoint"])


def kuberay_submitter_command(dashboard: str, job_id: str, entrypoint: str, runtime_env: dict | None = None) -> str:
    """The line a RayJob's submitter pod runs under `/bin/bash -c` (KubeRay's K8sJobMode: the words of
    BuildJobSubmitCommand joined by spaces), with the entrypoint pasted in unquoted, as KubeRay does:
    wait for the head, submit unless already submitted, then follow the job's logs to its end."""
    health = f"python3 -c \"import urllib.request; urllib.request.urlopen('{dashboard}/api/gcs_healthz', timeout=5)\""
    words = ["until", health, ">/dev/null", "2>&1", ";", "do", "echo", '"Waiting for the head ..."', ";", "sleep",
             "2", ";", "done", ";",
             "if", "!", "ray", "job", "status", "--address", dashboard, job_id, ">/dev/null", "2>&1", ";", "then",
             "ray", "job", "submit", "--address", dashboard, "--no-wait"]
    if runtime_env:  # the RayJob's runtimeEnvYAML, as JSON in a Go-quoted string
        words += ["--runtime-env-json", json.dumps(json.dumps(runtime_env))]
    words += ["--submission-id", job_id, "--", entrypoint.strip(), ";", "fi", ";",
              "ray", "job", "logs", "--address", dashboard, "--follow", job_id]
    return " ".join(words)
