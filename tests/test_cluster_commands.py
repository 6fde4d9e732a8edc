"""The job commands of cluster/: every RayJob entrypoint and every `submit python ...` line of
cluster/README.md names a real jobs/ script (or `python -m zsdist`) that accepts its arguments.

Each command runs as the job would, from the checkout as working directory, up to the point where work
would start: `zsdist.cli.main` is replaced by `zsdist.cli.parse` (what main does before it runs
anything) and a study's `run_study` by its `study_points`. So every flag, value and --config file goes
through the real parsers and typed configs; no Ray, no data, nothing written.
"""

import contextlib
import io
import os
import re
import runpy
import shlex
import sys
from pathlib import Path

import pytest
from kuberay_jobs import RAY_JOBS, SHELL_OPERATORS, rayjob_steps

import zsdist.cli
import zsdist.methods.cadavae.study
from zsdist.base.errors import UserInputError

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "cluster"
IMAGE_ROOT = re.findall(r"^WORKDIR\s+(\S+)", (CLUSTER / "Dockerfile").read_text(), re.MULTILINE)[-1]
README = (CLUSTER / "README.md").read_text()
# `submit python ...` at the start of a line, with its `\`-continued lines, less a trailing comment.
README_COMMANDS = {f"README.md:{README.count(chr(10), 0, m.start()) + 1}": m[1].replace("\\\n", " ")
                   for m in re.finditer(r"^submit (python (?:[^\n]*\\\n)*[^\n]*?)(?:\s+#[^\n]*)?$",
                                        README, re.MULTILINE)}
README_HOME = "/mnt/zsdist"  # what $ZSDIST_HOME expands to in the README's commands
OBJECT_STORAGE = ("s3://", "gs://")  # URIs every node writes to itself (zsdist/base/storage.py)


class _WorkWouldStart(Exception):
    """Raised where a job would start its work."""


def _parse_command(tokens: list[str], where: str, home: str, monkeypatch) -> list[tuple]:
    """Run `python jobs/x.py ...` or `python -m zsdist ...` up to where work would start.

    Returns the (args, config) of every command it reached; a refused flag, a bad value or a missing
    file fails the test with the job's own error message.
    """
    command = " ".join(tokens)
    assert tokens[:1] == ["python"] and len(tokens) > 1, f"{where}: not a python command: {command}"
    monkeypatch.chdir(ROOT)  # the working directory a job gets: the checkout (the image's IMAGE_ROOT)
    monkeypatch.setenv("ZSDIST_HOME", home)
    tokens = [re.sub(rf"(^|=){re.escape(IMAGE_ROOT)}/", rf"\g<1>{ROOT}/", os.path.expandvars(t)) for t in tokens]
    reached = []

    def main(argv=None, *, as_job=False):
        reached.append(zsdist.cli.parse(argv, as_job=as_job))

    def run_study(study_file, overrides=None):
        reached.extend((None, cfg) for _, cfg in zsdist.methods.cadavae.study.study_points(study_file, overrides)[1])
        raise _WorkWouldStart

    monkeypatch.setattr(zsdist.cli, "main", main)
    monkeypatch.setattr(zsdist.methods.cadavae.study, "run_study", run_study)
    stderr, failure = io.StringIO(), None
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            if tokens[1:3] == ["-m", "zsdist"]:
                monkeypatch.setattr(sys, "argv", ["zsdist", *tokens[3:]])
                runpy.run_module("zsdist", run_name="__main__")
            else:
                script = ROOT / tokens[1]
                assert script.parent == ROOT / "jobs" and script.is_file(), f"{where}: {tokens[1]} is not a jobs/ file"
                monkeypatch.setattr(sys, "argv", [str(script), *tokens[2:]])
                runpy.run_path(str(script), run_name="__main__")
    except _WorkWouldStart:
        pass
    except SystemExit as exit:  # argparse, or a job's own `error: ...; exit 2`
        message = stderr.getvalue().strip().splitlines()
        failure = f"exit {exit.code}: {message[-1] if message else ''}"
    except UserInputError as error:
        failure = str(error)
    if failure:
        pytest.fail(f"{where}: {command}: {failure}", pytrace=False)
    assert reached, f"{where}: {command} reached no zsdist command"
    return reached


@pytest.mark.parametrize("name", sorted(RAY_JOBS))
def test_rayjob_entrypoints_are_one_command(name):
    # KubeRay pastes the entrypoint unquoted into a bash line after `ray job submit ... --`: a shell
    # operator there ends the submit, and what follows it runs in the submitter pod, not in the job.
    tokens = list(shlex.shlex(RAY_JOBS[name]["spec"]["entrypoint"], posix=True, punctuation_chars=True))
    assert not SHELL_OPERATORS & set(tokens), f"{name}: its entrypoint is several commands; wrap them in bash -c '...'"


@pytest.mark.parametrize("name", sorted(RAY_JOBS))
def test_rayjob_entrypoints_run_real_jobs_with_accepted_arguments(name, monkeypatch):
    spec = RAY_JOBS[name]["spec"]
    head = spec["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    home = next(e["value"] for e in head["env"] if e["name"] == "ZSDIST_HOME")
    for step in rayjob_steps(name):
        for args, cfg in _parse_command(step, name, home, monkeypatch):
            for value in (getattr(args, "out", ""), getattr(cfg, "data", ""), getattr(cfg, "out", "")):
                if value:  # every pod reaches both: the shared volume, or object storage (rayjob-fonts-v2-datagen)
                    assert str(value).startswith((home + "/", *OBJECT_STORAGE)), \
                        f"{name}: {value} is neither on the shared volume nor in object storage"


def test_the_readme_has_its_job_commands():
    assert len(README_COMMANDS) >= 12


@pytest.mark.parametrize("where", sorted(README_COMMANDS))
def test_readme_job_commands_are_accepted(where, monkeypatch):
    _parse_command(shlex.split(README_COMMANDS[where]), f"cluster/{where}", README_HOME, monkeypatch)


def test_the_readme_cluster_section_is_what_scripts_cluster_demo_runs():
    script = (ROOT / "scripts" / "cluster-demo.sh").read_text()
    commands = script.split("# --- README: On a Ray cluster ---\n")[1].split("# --- end ---\n")[0]
    section = (ROOT / "README.md").read_text().split("## On a Ray cluster\n")[1]
    assert "```bash\n" + commands + "```\n" in section, "README's cluster commands differ from scripts/cluster-demo.sh"
