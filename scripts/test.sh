#!/usr/bin/env bash
# Install (if needed) and run the whole test suite: bash scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
. .venv/bin/activate
. scripts/offline-env.sh
# ZSDIST_TEST_WORKERS=2 runs two processes (pytest-xdist, a test file each at a time): ~10% faster on
# 2 cores, where Ray's process start-ups already fill both, and the cluster fault tests are not reliable
# beside another busy process (a replacement node's raylet can die), so the default (and CI) is one.
exec python -m pytest -n "${ZSDIST_TEST_WORKERS:-0}" --dist loadfile "$@"
