#!/usr/bin/env bash
# Set up .venv with zsdist and its test tools (CPU). Safe to rerun: an existing venv is reused.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
# The CPU wheel first: an unpinned torch would pull a multi-GB CUDA build.
python -m pip install -q torch==2.13.0
# Then the fonts and the project, in the order cluster/Dockerfile installs them, both with the versions
# tested together (constraints.txt).
python -m pip install -q -c constraints.txt -r datagen/fonts/requirements.txt
python -m pip install -q -c constraints.txt -e '.[test]'
