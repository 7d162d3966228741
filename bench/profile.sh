#!/usr/bin/env bash
# Where a container start's time goes: N starts of `run --rm --network none
# IMAGE /bin/true` traced with bpftrace (bench/phases.bt), the median of each
# phase in microseconds. Profile first, then optimise (README, Benchmarks).
#   bench/profile.sh             30 starts
#   bench/profile.sh --runs N
# Needs root and bpftrace (apt-get install bpftrace); run it on an idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=30
if [ "${1:-}" = --runs ] && [ -n "${2:-}" ]; then
    runs=$2
fi
if [ "$(id -u)" != 0 ]; then
    exec sudo --preserve-env=PATH,MINI_DOCKER_BIN_DIR "$0" "$@"
fi
command -v bpftrace >/dev/null || { echo "profile.sh: bpftrace is missing: apt-get install bpftrace" >&2; exit 1; }
# MINI_DOCKER_BIN_DIR: binaries already built (the test suite's smoke test).
release=${MINI_DOCKER_BIN_DIR:-}
if [ -z "$release" ]; then
    cargo build --release --quiet
    release="target/$(rustc -vV | sed -n 's/^host: //p')/release"
fi
# Beside the default state dir, as bench/run.sh does (see its comment).
work=$(mktemp -d /var/lib/mini-docker-profile.XXXXXX)
tracer=
finish() {
    if [ -n "$tracer" ]; then kill -INT "$tracer" 2>/dev/null || true; wait "$tracer" 2>/dev/null || true; fi
    "$release/mini-docker" --state-dir "$work/state" cleanup >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap finish EXIT

# The benchmark's image, pulled from a throwaway local registry; the command to trace.
read -r -a start < <("$release/mini-docker-bench" --prepare "$work")
# bpftrace finds tracepoints in tracefs, which a fresh VM may not have mounted:
# mount it in a private mount namespace, so the host's mount table stays as it was.
unshare --mount --propagation private sh -c \
    'mount -t tracefs tracefs /sys/kernel/tracing && exec bpftrace bench/phases.bt' \
    >"$work/trace" 2>"$work/bpftrace.err" &
tracer=$!
for _ in $(seq 100); do
    grep -q Attaching "$work/trace" 2>/dev/null && break
    sleep 0.1
done
grep -q Attaching "$work/trace" || { cat "$work/bpftrace.err" >&2; exit 1; }
for _ in $(seq "$runs"); do
    "${start[@]}"
done
sleep 0.2
kill -INT "$tracer"
wait "$tracer" || true
tracer=

names=("exec mini-docker, Rust start-up" "state: image, dirs, cgroup, /etc files"
    "clone: the new namespaces" "init: config, cgroup join" "mounts: overlay, /dev, proc, sys"
    "pivot_root, wait for go, lo up, exec" "the command (/bin/true)"
    "exit: the kernel tears the namespaces down" "cleanup: container dir, cgroup")
rows=$(grep '^phases ' "$work/trace" | cut -d' ' -f2-)
count=$(printf '%s\n' "$rows" | grep -c . || true)
[ "$count" -gt 0 ] || { echo "profile.sh: no start was traced" >&2; exit 1; }
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
printf 'where a start goes: median of %d starts, microseconds\n' "$count"
total=0
for i in "${!names[@]}"; do
    value=$(printf '%s\n' "$rows" | cut -d' ' -f$((i + 1)) | median)
    total=$((total + value))
    printf '  %-46s %6d\n' "${names[$i]}" "$value"
done
printf '  %-46s %6d\n' "sum of the medians" "$total"
