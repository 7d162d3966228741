#!/usr/bin/env python3
"""Chapter 11's cost on `run --rm --network none IMAGE /bin/true`, two binaries at once (an A/B of a change):
all layers, seccomp=unconfined and --privileged for NEW and OLD, every round all six in a shuffled order; the
median of the per-round differences with a 95% interval (order statistics), wall-clock and CPU time (user +
system of everything reaped). The method of bench/run.sh's chapter 11 table; chapters/11-hardening.md quotes it.

    python3 bench/ch11/image_ab.py NEW OLD ROUNDS STATE IMAGE       as root

STATE: a state dir that already holds IMAGE (`mini-docker-bench --prepare DIR` pulls one into DIR/state).
"""
import random, resource, statistics, subprocess, sys, time

new, old, rounds, state, image = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]


def argv(binary, extra):
    return [binary, "--reference", "--state-dir", state, "run", "--rm", "--network", "none"] + extra + [image, "/bin/true"]


modes = {f"{which}: {name}": argv(binary, extra)
         for which, binary in (("new", new), ("old", old))
         for name, extra in (("all", []), ("unconfined", ["--security-opt", "seccomp=unconfined"]),
                             ("privileged", ["--privileged"]))}


def once(command):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, check=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall * 1000, (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000


for command in modes.values():  # warm-up: the seccomp cache, the page cache
    for _ in range(3):
        once(command)
names = list(modes)
wall = {n: [] for n in names}
cpu = {n: [] for n in names}
shuffled = random.Random(3)
for _ in range(rounds):
    for name in shuffled.sample(names, len(names)):
        w, c = once(modes[name])
        wall[name].append(w)
        cpu[name].append(c)


def difference(a, b):
    def interval(samples):
        d = sorted(x - y for x, y in zip(samples[a], samples[b]))
        k, spread = len(d), int(0.98 * len(d) ** 0.5)
        return f"{d[k // 2]:+.2f} ms ({d[max(k // 2 - spread, 0)]:+.2f}..{d[min(k // 2 + spread, k - 1)]:+.2f})"
    return f"wall {interval(wall)}  CPU {interval(cpu)}"


for name in names:
    print(f"{name:18} median {statistics.median(wall[name]):.2f} ms  CPU {statistics.median(cpu[name]):.2f} ms")
for which in ("new", "old"):
    print(f"{which}: all - privileged: {difference(which + ': all', which + ': privileged')}")
    print(f"{which}: all - unconfined: {difference(which + ': all', which + ': unconfined')}")
print(f"new all - old all: {difference('new: all', 'old: all')}")
