#!/usr/bin/env bash
# Install (if needed) and run the whole test suite: bash scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
. .venv/bin/activate
. scripts/offline-env.sh
# Two processes (pytest-xdist), a test file each at a time: most of the suite waits on Ray start-ups,
# so two files overlap their waits. ZSDIST_TEST_WORKERS=0 runs everything in this process.
exec python -m pytest -n "${ZSDIST_TEST_WORKERS:-2}" --dist loadfile "$@"
