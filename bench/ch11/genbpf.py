#!/usr/bin/env python3
"""Docker's default profile resolved for docker's 14 capabilities on amd64 and the running kernel (as
core/src/security/seccomp.rs resolves it), compiled by libseccomp (ctypes, libseccomp.so.2) into raw BPF:

    genbpf.py OUT.bpf SCMP_ARCH_X86_64,SCMP_ARCH_X86[,SCMP_ARCH_X32] OPTIMIZE(0|1|2) BADARCH(-|0x...) PROFILE.json

then `loadbpf OUT.bpf 300` (loadbpf.c) times the kernel taking it; chapters/11-hardening.md, "What it costs"."""
import ctypes, json, os, sys
lib = ctypes.CDLL("libseccomp.so.2")
lib.seccomp_init.restype = ctypes.c_void_p
lib.seccomp_init.argtypes = [ctypes.c_uint32]
lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
class Cmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("a", ctypes.c_uint64), ("b", ctypes.c_uint64)]
lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint, ctypes.POINTER(Cmp)]
lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
lib.seccomp_arch_remove.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
CAPS = "CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD NET_RAW SETGID SETUID SETFCAP SETPCAP NET_BIND_SERVICE SYS_CHROOT KILL AUDIT_WRITE".split()
CAPS = ["CAP_" + c for c in CAPS]
KERNEL = tuple(int(x) for x in os.uname().release.split(".")[:2])
OPS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4, "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}
def act(name, errno):
    if name == "SCMP_ACT_ALLOW": return 0x7fff0000
    if name == "SCMP_ACT_ERRNO": return 0x00050000 | (errno if errno is not None else 1)
    raise SystemExit(name)
def kv(s): a, b = s.split("."); return (int(a), int(b))
def main(out, arches, optimize, badarch):
    p = json.load(open(sys.argv[5]))
    ctx = lib.seccomp_init(act(p["defaultAction"], p.get("defaultErrnoRet")))
    native = lib.seccomp_arch_resolve_name(b"x86_64")
    for a in arches:
        t = lib.seccomp_arch_resolve_name(a.replace("SCMP_ARCH_","").lower().encode())
        if t != native: assert lib.seccomp_arch_add(ctx, t) == 0, a
    if "SCMP_ARCH_X86_64" not in arches: lib.seccomp_arch_remove(ctx, native)
    if badarch is not None: assert lib.seccomp_attr_set(ctx, 1, badarch) == 0  # SCMP_FLTATR_ACT_BADARCH
    if optimize: assert lib.seccomp_attr_set(ctx, 8, optimize) == 0  # SCMP_FLTATR_CTL_OPTIMIZE
    for s in p["syscalls"]:
        inc, exc = s.get("includes") or {}, s.get("excludes") or {}
        ok = (not inc.get("arches") or "amd64" in inc["arches"]) and all(c in CAPS for c in inc.get("caps") or []) \
            and (not inc.get("minKernel") or KERNEL >= kv(inc["minKernel"]))
        bad = "amd64" in (exc.get("arches") or []) or any(c in CAPS for c in exc.get("caps") or []) \
            or (exc.get("minKernel") and KERNEL >= kv(exc["minKernel"]))
        if not ok or bad: continue
        args = s.get("args") or []
        arr = (Cmp * max(1, len(args)))(*[Cmp(a["index"], OPS[a["op"]], a["value"], a.get("valueTwo", 0)) for a in args])
        for n in s["names"]:
            nr = lib.seccomp_syscall_resolve_name(n.encode())
            if nr == -1: continue
            r = lib.seccomp_rule_add_array(ctx, act(s["action"], s.get("errnoRet")), nr, len(args), arr)
            assert r == 0, (n, r)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    assert lib.seccomp_export_bpf(ctx, fd) == 0
    os.close(fd)
arches = sys.argv[2].split(",")
main(sys.argv[1], arches, int(sys.argv[3]), None if sys.argv[4] == "-" else int(sys.argv[4], 0))
