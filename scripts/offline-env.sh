# Environment for every Ray process on a machine whose only network is a package mirror.
# Ray probes cloud metadata addresses and 8.8.8.8 when a cluster starts; this block makes those
# probes fail at once on a dead local proxy and keeps everything on 127.0.0.1.
# Source it (`. scripts/offline-env.sh`) before running zsdist, the tests or the benchmarks here;
# tests/conftest.py reads the same lines. Do not source it while running pip.
export RAY_USAGE_STATS_ENABLED=0
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0
export RAY_DATA_USE_DATASOURCE_V2=0
# Token auth, as on every cluster: zsdist's local clusters make ~/.ray/auth_token if there is none.
export RAY_AUTH_MODE=token
export RAY_TMPDIR=$PWD/.raytmp
export http_proxy=http://127.0.0.1:9
export https_proxy=http://127.0.0.1:9
export no_proxy=127.0.0.1,localhost
export HTTP_PROXY=http://127.0.0.1:9
export HTTPS_PROXY=http://127.0.0.1:9
export NO_PROXY=127.0.0.1,localhost
unset RAY_ADDRESS
