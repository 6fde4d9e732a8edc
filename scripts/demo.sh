#!/usr/bin/env bash
# Install (if needed) and run the demo: the polar study end to end (bash scripts/demo.sh [flags])
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
. .venv/bin/activate
. scripts/offline-env.sh
exec zsdist demo "$@"
