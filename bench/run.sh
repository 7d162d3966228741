#!/usr/bin/env bash
# The benchmark: start latency against crun, runc and the unshare floor; pull +
# unpack against skopeo + umoci; 50 containers at once; the lifecycle (run -d
# against run --rm, ps -a with 100 detached containers running, exec against
# crun exec). Prints the tables.
#   bench/run.sh             30 runs per measurement (after 3 warm-up runs)
#   bench/run.sh --quick     a few runs: does it work?
# Needs: ./setup.sh --ci (crun, runc, umoci, skopeo, docker-registry).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bench="target/$(rustc -vV | sed -n 's/^host: //p')/release/mini-docker-bench"
if [ "$(id -u)" = 0 ]; then
    exec "$bench" "$@"
fi
exec sudo "$bench" "$@"
