#!/usr/bin/env bash
# Install (if needed) and run the whole test suite: bash scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
. .venv/bin/activate
. scripts/offline-env.sh
exec python -m pytest "$@"
