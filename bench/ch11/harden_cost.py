#!/usr/bin/env python3
"""Chapter 11's cost on a start, interleaved: `chapter 11 run --network none -- /bin/true` (starter rootfs,
reference solution) with every layer, with seccomp=unconfined, with --privileged (none), and chapter 10, for
two mini-docker binaries (NEW, OLD: an A/B of a change); then runc over the same rootfs with and without
docker's default seccomp profile. Each round runs every mode once, in a shuffled order (what ran just
before a start leaves it kernel work to finish; a fixed rotation hands every mode the same predecessor each
time, and made the layers look up to 0.2 ms cheaper than they are); runc's rounds come after mini-docker's. Reports medians, minimums,
the median of the per-round differences, and CPU time (user + system of the run and every process it
waited for, from wait4), which other load on the machine inflates less than wall-clock time.

    python3 bench/ch11/harden_cost.py NEW OLD [ROUNDS]     as root; NORUNC=1 leaves runc out
"""
import json, os, random, statistics, subprocess, sys, tempfile, time

new, old = sys.argv[1], sys.argv[2]
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 100
here = os.path.dirname(os.path.abspath(__file__))
profile = os.path.join(here, "../../core/src/security/default-seccomp.json")
states = {b: tempfile.mkdtemp(prefix="harden-cost-") for b in (new, old)}

def md(binary, chapter, extra):
    return [binary, "--reference", "--state-dir", states[binary], "chapter", str(chapter), "run",
            "--network", "none"] + extra + ["--", "/bin/true"]

modes = {
    "new: all layers (default)": md(new, 11, []),
    "new: seccomp=unconfined": md(new, 11, ["--security-opt", "seccomp=unconfined"]),
    "new: --privileged (no ch11)": md(new, 11, ["--privileged"]),
    "new: chapter 10": md(new, 10, []),
    "old: all layers (default)": md(old, 11, []),
    "old: --privileged (no ch11)": md(old, 11, ["--privileged"]),
}
for argv in modes.values():  # warm-up: the seccomp cache, the starter rootfs
    for _ in range(3):
        subprocess.run(argv, check=True)

# runc, as dockerd would run it: docker's 14 capabilities, a cgroup namespace, and docker's default profile
# resolved for amd64 and those capabilities (x86_64, x86, x32), or no seccomp at all.
CAPS = ["CAP_" + c for c in "CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD NET_RAW SETGID SETUID SETFCAP SETPCAP "
        "NET_BIND_SERVICE SYS_CHROOT KILL AUDIT_WRITE".split()]
KERNEL = tuple(int(x) for x in os.uname().release.split(".")[:2])

def resolve(p):
    version = lambda s: tuple(int(x) for x in s.split("."))
    arches = next([m["architecture"]] + (m.get("subArchitectures") or [])
                  for m in p["archMap"] if m["architecture"] == "SCMP_ARCH_X86_64")
    calls = []
    for s in p["syscalls"]:
        inc, exc = s.get("includes") or {}, s.get("excludes") or {}
        included = ((not inc.get("arches") or "amd64" in inc["arches"])
                    and all(c in CAPS for c in inc.get("caps") or [])
                    and (not inc.get("minKernel") or KERNEL >= version(inc["minKernel"])))
        excluded = ("amd64" in (exc.get("arches") or []) or any(c in CAPS for c in exc.get("caps") or [])
                    or (exc.get("minKernel") and KERNEL >= version(exc["minKernel"])))
        if included and not excluded:
            calls.append({k: s[k] for k in ("names", "action", "args", "errnoRet") if s.get(k) is not None})
    out = {"defaultAction": p["defaultAction"], "architectures": arches, "syscalls": calls}
    if p.get("defaultErrnoRet") is not None:
        out["defaultErrnoRet"] = p["defaultErrnoRet"]
    return out

bundles = tempfile.mkdtemp(prefix="harden-cost-runc-")
if not os.environ.get("NORUNC"):
    rootfs = os.path.join(states[new], "rootfs/busybox")
    for name in ("plain", "seccomp"):
        bundle = os.path.join(bundles, name)
        os.makedirs(bundle)
        subprocess.run(["runc", "spec"], cwd=bundle, check=True)
        path = os.path.join(bundle, "config.json")
        config = json.load(open(path))
        config["root"] = {"path": rootfs, "readonly": False}
        config["process"].update(args=["/bin/true"], terminal=False)
        config["process"]["capabilities"] = {k: CAPS for k in ("bounding", "effective", "permitted")}
        config["linux"]["namespaces"].append({"type": "cgroup"})
        if name == "seccomp":
            config["linux"]["seccomp"] = resolve(json.load(open(profile)))
        json.dump(config, open(path, "w"))
        modes[f"runc: {name}"] = ["runc", "run", "--bundle", bundle, f"harden-cost-{name}-{os.getpid()}"]
        for _ in range(3):
            subprocess.run(modes[f"runc: {name}"], check=True)

print("load average before:", open("/proc/loadavg").read().strip())
wall = {m: [] for m in modes}
cpu = {m: [] for m in modes}
# mini-docker's rounds first, then runc's: a runc start (30-50 ms here) leaves so much kernel work behind
# that, in the same rounds, it roughly doubles the differences between the mini-docker modes.
shuffled = random.Random(11)
for group in ([m for m in modes if not m.startswith("runc")], [m for m in modes if m.startswith("runc")]):
    for i in range(rounds if group else 0):
        for m in shuffled.sample(group, len(group)):
            started = time.perf_counter()
            child = subprocess.Popen(modes[m])
            _, status, usage = os.wait4(child.pid, 0)
            wall[m].append((time.perf_counter() - started) * 1000)
            cpu[m].append((usage.ru_utime + usage.ru_stime) * 1000)
            assert os.waitstatus_to_exitcode(status) == 0, m
print("load average after: ", open("/proc/loadavg").read().strip())
for m in modes:
    print(f"{m:30} median {statistics.median(wall[m]):6.2f} ms  min {min(wall[m]):6.2f}  "
          f"CPU median {statistics.median(cpu[m]):6.2f}  min {min(cpu[m]):6.2f}")
paired = lambda d, a, b: statistics.median([x - y for x, y in zip(d[a], d[b])])
pairs = [("new: all layers (default)", "new: --privileged (no ch11)"),
         ("new: all layers (default)", "new: seccomp=unconfined"),
         ("new: all layers (default)", "new: chapter 10"),
         ("old: all layers (default)", "old: --privileged (no ch11)"),
         ("new: all layers (default)", "old: all layers (default)")]
if "runc: seccomp" in modes:
    pairs.append(("runc: seccomp", "runc: plain"))
print("median of the per-round differences (wall / CPU):")
for a, b in pairs:
    print(f"  {a} - {b}: {paired(wall, a, b):+.2f} / {paired(cpu, a, b):+.2f} ms")
for binary, state in states.items():
    subprocess.run([binary, "--state-dir", state, "cleanup"], capture_output=True)
    subprocess.run(["rm", "-rf", state])
subprocess.run(["rm", "-rf", bundles])
