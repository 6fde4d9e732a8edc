#!/usr/bin/env bash
# The README's "On a Ray cluster" section, command for command (tests/test_cluster_commands.py keeps the
# two the same): a Ray head on this machine with token auth, an MLflow server on 127.0.0.1, the polar
# demo submitted as a Ray job, its run read back by `zsdist compare`, then the head and the server
# stopped. After `bash scripts/install.sh` (or the demo), from the checkout:
#   bash scripts/cluster-demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# Whatever happens, stop the two servers this script started, and nothing else.
trap 'kill ${MLFLOW_PID:-} ${RAY_HEAD_PID:-} 2> /dev/null || true; wait' EXIT

# --- README: On a Ray cluster ---
. .venv/bin/activate && . scripts/offline-env.sh   # offline-env: only where the only network is a package mirror
export RAY_AUTH_MODE=token                # token auth for the head and every client below
ray get-auth-token --generate > /dev/null && chmod 600 ~/.ray/auth_token    # makes the token once
export ZSDIST_HOME=$HOME/zsdist-cluster   # outside the checkout: jobs refuse a workspace inside it
export RAY_PORT=6390 DASHBOARD_PORT=8275 MLFLOW_PORT=5000                   # change any port taken here
export MLFLOW_TRACKING_URI=http://127.0.0.1:$MLFLOW_PORT
mkdir -p $ZSDIST_HOME
ray start --head --block --node-ip-address 127.0.0.1 --port $RAY_PORT --ray-client-server-port $((RAY_PORT + 1)) \
  --dashboard-host 127.0.0.1 --dashboard-port $DASHBOARD_PORT --dashboard-agent-listen-port $((DASHBOARD_PORT + 1)) \
  --num-cpus 2 > $ZSDIST_HOME/ray-head.log 2>&1 &
RAY_HEAD_PID=$!
MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false mlflow server --backend-store-uri sqlite:///$ZSDIST_HOME/mlflow.db \
  --artifacts-destination $ZSDIST_HOME/mlartifacts --host 127.0.0.1 --port $MLFLOW_PORT --workers 1 \
  > $ZSDIST_HOME/mlflow-server.log 2>&1 &
MLFLOW_PID=$!
timeout 120 bash -c 'until ray status --address 127.0.0.1:$RAY_PORT > /dev/null 2>&1; do sleep 1; done' ||
  { echo "no Ray head on 127.0.0.1:$RAY_PORT after 120 s: see $ZSDIST_HOME/ray-head.log" >&2; exit 1; }
timeout 120 bash -c 'until curl -sf $MLFLOW_TRACKING_URI/health > /dev/null; do sleep 1; done' ||
  { echo "no MLflow server at $MLFLOW_TRACKING_URI after 120 s: see $ZSDIST_HOME/mlflow-server.log" >&2; exit 1; }
ray job submit --address http://127.0.0.1:$DASHBOARD_PORT --working-dir . --runtime-env-json "{\"env_vars\": {
  \"ZSDIST_HOME\": \"$ZSDIST_HOME\", \"MLFLOW_TRACKING_URI\": \"$MLFLOW_TRACKING_URI\",
  \"ZSDIST_RAY_CLUSTER\": \"127.0.0.1:$RAY_PORT\"}}" -- python jobs/polar_demo.py
zsdist compare --experiment polar-vae     # the demo's run, read back from the server
kill $MLFLOW_PID $RAY_HEAD_PID && wait    # only this server and head (`ray stop` stops every Ray of yours here)
# --- end ---
