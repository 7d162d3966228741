//! Chapter 11 — hardening. What the kernel says about a default container
//! (its capability sets, its seccomp mode, its namespaces and mounts), and
//! the escape room: each breakout, run inside, must fail.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use anyhow::{bail, Context, Result};

use super::ch02::TempFile;
use super::probe::{expect_own_namespace, mountinfo};
use super::{random_hex, stderr_suffix, Check, Ctx, ESCAPE};

pub fn checks() -> Vec<Check> {
    vec![
        Check { id: "11.1", title: "root keeps docker's 14 capabilities: bounding, permitted, effective; nothing inheritable or ambient (/proc/PID/status)", points: 3,
            hint: "limit_capabilities: drop from the bounding set first (needs CAP_SETPCAP), clear ambient and inheritable, set permitted and effective", run: capability_sets },
        Check { id: "11.2", title: "a seccomp filter is loaded (Seccomp: 2)", points: 3,
            hint: "seccomp_filter: ScmpFilterContext::new_filter(default action), add_arch per architecture, add_rule_conditional per known name; load_seccomp: libc::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program.as_sock_fprog()), while CAP_SYS_ADMIN is still held", run: seccomp_loaded },
        Check { id: "11.3", title: "the container has its own cgroup namespace, its cgroupfs mounted read-only", points: 2,
            hint: "isolate_cgroupfs: unshare(CLONE_NEWCGROUP) after joining the cgroup, then mount cgroup2 (or v1 hierarchies in a tmpfs) with MS_RDONLY", run: cgroup_namespace },
        Check { id: "11.4", title: "/proc/kcore, /proc/keys, /proc/timer_list are masked, /proc/sys is read-only (mountinfo)", points: 2,
            hint: "mask_paths: /dev/null bound over files, one read-only tmpfs bound over every directory; make_read_only: bind onto itself, then MS_REMOUNT|MS_BIND|MS_RDONLY", run: masked_paths },
        Check { id: "11.5", title: "escape: shocker — open_by_handle_at through a bind-mounted file reaches a host directory", points: 2,
            hint: "capabilities: CAP_DAC_READ_SEARCH is not one of docker's 14 (limit_capabilities); seccomp refuses open_by_handle_at", run: shocker },
        Check { id: "11.6", title: "escape: mount -t cgroup -o memory (or cgroup2) inside the container", points: 1,
            hint: "capabilities: no CAP_SYS_ADMIN, no mount (limit_capabilities); seccomp refuses mount", run: cgroup_mount },
        Check { id: "11.7", title: "escape: mknod + open the host's disk (or /dev/fuse, /dev/kmsg: devices docker does not allow)", points: 2,
            hint: "devices: restrict_devices — v1: devices.deny \"a\", then devices.allow each rule; v2: the BPF device program. mknod stays allowed (CAP_MKNOD), open must not", run: disk },
        Check { id: "11.8", title: "escape: /proc/sys/kernel/core_pattern and /proc/sysrq-trigger open for writing", points: 1,
            hint: "read-only paths: make_read_only binds /proc/sys onto itself, then remounts it MS_REMOUNT|MS_BIND|MS_RDONLY", run: proc_write },
        Check { id: "11.9", title: "escape: finit_module(-1) gets past the CAP_SYS_MODULE check (EBADF, not EPERM)", points: 1,
            hint: "capabilities: CAP_SYS_MODULE must leave the bounding, permitted and effective sets (limit_capabilities); seccomp refuses finit_module", run: finit_module },
        Check { id: "11.10", title: "escape: /proc/kcore, /proc/keys, /proc/timer_list have content", points: 1,
            hint: "masked paths: mask_paths binds /dev/null over each file, one empty read-only tmpfs over the directories", run: proc_read },
        Check { id: "11.11", title: "escape: unshare(CLONE_NEWUSER|CLONE_NEWNS), then mount a tmpfs", points: 1,
            hint: "seccomp: docker's profile refuses unshare (and clone) with namespace flags without CAP_SYS_ADMIN (seccomp_filter, load_seccomp); capabilities alone do not stop it", run: unshare_mount },
        Check { id: "11.12", title: "escape: ptrace(PTRACE_ATTACH) + process_vm_readv of another user's process", points: 1,
            hint: "capabilities: CAP_SYS_PTRACE is not one of docker's 14 (limit_capabilities)", run: ptrace_other },
        Check { id: "11.13", title: "escape: a setuid-root program elevates nobody despite --security-opt no-new-privileges (and does without it)", points: 2,
            hint: "no_new_privs: set_no_new_privs = prctl(PR_SET_NO_NEW_PRIVS, 1), only when asked; load_seccomp must not set it to make the load work: it runs before limit_capabilities, with CAP_SYS_ADMIN", run: setuid_under_no_new_privs },
        Check { id: "11.14", title: "escape: TIOCSTI may type into stdio, /dev/tty or the host's console (mknod c 5 1)", points: 1,
            hint: "capabilities: typing into a terminal that is not one's own needs CAP_SYS_ADMIN (limit_capabilities); the scaffold relays stdio through pipes", run: tiocsti },
        Check { id: "11.15", title: "escape: remount /sys read-write (MS_REMOUNT|MS_BIND without MS_RDONLY)", points: 1,
            hint: "capabilities: no CAP_SYS_ADMIN, no remount (limit_capabilities); seccomp refuses mount", run: sys_remount },
        Check { id: "11.16", title: "escape: with -m 64m, open one's own memory limit for writing (memory.limit_in_bytes / memory.max)", points: 2,
            hint: "cgroup namespace: isolate_cgroupfs mounts the cgroupfs MS_RDONLY after unshare(CLONE_NEWCGROUP); capabilities: no CAP_SYS_ADMIN to mount another", run: memory_limit },
    ]
}

/// CAP_CHOWN ... CAP_SETFCAP: docker's default, as the kernel prints it.
const DOCKER_CAPS: u64 = 0x00000000a80425fb;

/// " — mini-docker said: ...TODO(ch11) load_seccomp not done yet..." when a
/// step the run skipped explains the failure; nothing otherwise.
fn todo_note(output: &Output) -> String {
    todo_note_for(output, "")
}

/// The same, preferring the line about `step` (the one this check is about).
fn todo_note_for(output: &Output, step: &str) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let todos: Vec<&str> = stderr.lines().filter(|l| l.contains("TODO(")).collect();
    let line = todos.iter().find(|l| !step.is_empty() && l.contains(step)).or(todos.first());
    match line {
        Some(line) => format!(" — mini-docker said: {}", line.trim().trim_start_matches("mini-docker: ")),
        None => String::new(),
    }
}

fn status_field(pid: nix::unistd::Pid, field: &str) -> Result<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_string())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

fn capability_sets(ctx: &Ctx) -> Result<()> {
    let running = ctx.start(11, &[], "true")?;
    let pid = running.container_pid()?;
    let mut wrong = Vec::new();
    for (field, want) in [("CapBnd", DOCKER_CAPS), ("CapPrm", DOCKER_CAPS), ("CapEff", DOCKER_CAPS), ("CapInh", 0), ("CapAmb", 0)] {
        let seen = u64::from_str_radix(&status_field(pid, field)?, 16)?;
        if seen != want {
            wrong.push(format!("{field} {seen:016x} (want {want:016x})"));
        }
    }
    let said = todo_note_for(&running.finish()?, "limit_capabilities");
    if !wrong.is_empty() {
        bail!("the container's capability sets: {}{said}", wrong.join(", "));
    }
    Ok(())
}

fn seccomp_loaded(ctx: &Ctx) -> Result<()> {
    let running = ctx.start(11, &[], "true")?;
    let pid = running.container_pid()?;
    let mode = status_field(pid, "Seccomp")?;
    let said = todo_note_for(&running.finish()?, "seccomp_filter");
    if mode != "2" {
        bail!("the container's Seccomp mode is {mode}: expected 2 (a filter){said}");
    }
    Ok(())
}

fn cgroup_namespace(ctx: &Ctx) -> Result<()> {
    let running = ctx.start(11, &[], "true")?;
    let pid = running.container_pid()?;
    let own = expect_own_namespace(pid, running.supervisor(), "cgroup", "CLONE_NEWCGROUP");
    let mounts = mountinfo(Some(pid))?;
    let said = todo_note_for(&running.finish()?, "isolate_cgroupfs");
    own.map_err(|e| anyhow::anyhow!("{e:#}{said}"))?;
    let cgroupfs: Vec<_> = mounts
        .iter()
        .filter(|m| m.mount_point.starts_with("/sys/fs/cgroup") && (m.fstype == "cgroup" || m.fstype == "cgroup2"))
        .collect();
    // v1 hierarchies cannot be mounted in a user namespace: there, an empty
    // read-only tmpfs is all the container may have.
    let v1_in_userns = ctx.with.iter().any(|flag| flag == "--userns")
        && crate::cgroups::detect().is_ok_and(|m| m != crate::cgroups::Mode::V2);
    let empty_read_only = mounts.iter().any(|m| {
        m.mount_point == "/sys/fs/cgroup" && m.fstype == "tmpfs" && m.options.split(',').any(|o| o == "ro")
    });
    if cgroupfs.is_empty() && !(v1_in_userns && empty_read_only) {
        bail!("no cgroup filesystem is mounted under the container's /sys/fs/cgroup{said}");
    }
    if let Some(m) = cgroupfs.iter().find(|m| !m.options.split(',').any(|o| o == "ro")) {
        bail!("{} ({}) is mounted read-write in the container{said}", m.mount_point, m.fstype);
    }
    Ok(())
}

fn masked_paths(ctx: &Ctx) -> Result<()> {
    let running = ctx.start(11, &[], "true")?;
    let pid = running.container_pid()?;
    let mounts = mountinfo(Some(pid))?;
    let said = todo_note_for(&running.finish()?, "make_read_only");
    let at = |point: &str| mounts.iter().rev().find(|m| m.mount_point == point);
    let procfs = format!("/proc/{pid}/root/proc");
    for masked in ["/proc/kcore", "/proc/keys", "/proc/timer_list"] {
        // Not every kernel has every file (no /proc/kcore here): only what exists must be hidden.
        let exists = std::path::Path::new(&procfs).join(&masked[6..]).exists();
        if exists && at(masked).is_none() {
            bail!("{masked} is not masked: nothing is mounted over it{said}");
        }
    }
    match at("/proc/sys") {
        Some(m) if m.options.split(',').any(|o| o == "ro") => Ok(()),
        Some(_) => bail!("/proc/sys is mounted, but read-write{said}"),
        None => bail!("/proc/sys is the container's procfs, writable: nothing read-only is mounted over it{said}"),
    }
}

/// The escape helper, copied into the rootfs for one check; removed when dropped.
struct Escape {
    /// Held only so the copy goes when the check ends.
    _helper: TempFile,
    /// Its path inside the container.
    inside: String,
}

fn escape_helper(ctx: &Ctx) -> Result<Escape> {
    if ESCAPE.is_empty() {
        bail!("the escape helper was not built (build.rs needs `cc -static`: install gcc and libc6-dev, rebuild)");
    }
    let name = format!(".escape-{}", random_hex(4)?);
    let helper = TempFile(ctx.rootfs()?.join("tmp").join(&name));
    fs::write(&helper.0, ESCAPE).context("copy the escape helper into the rootfs")?;
    fs::set_permissions(&helper.0, fs::Permissions::from_mode(0o755))?;
    Ok(Escape { _helper: helper, inside: format!("/tmp/{name}") })
}

/// Run `escape SUB ARGS` in a chapter 11 container: exit 0 = the escape
/// worked (a failure naming what it proved), 1 = blocked, else a setup error.
fn expect_blocked(ctx: &Ctx, run_args: &[&str], sub: &str, args: &[&str]) -> Result<()> {
    let escape = escape_helper(ctx)?;
    let output = run_escape(ctx, &escape, run_args, sub, args)?;
    blocked(&output, sub)
}

fn run_escape(ctx: &Ctx, escape: &Escape, run_args: &[&str], sub: &str, args: &[&str]) -> Result<Output> {
    let mut cmd = vec![escape.inside.as_str(), sub];
    cmd.extend_from_slice(args);
    ctx.output(11, run_args, &cmd, b"")
}

fn blocked(output: &Output, sub: &str) -> Result<()> {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let said = stdout.trim().replace('\n', "; ");
    match output.status.code() {
        Some(1) => Ok(()),
        Some(0) => {
            // What got through, not the attempts that were refused on the way.
            let worked: Vec<&str> = stdout.lines().filter(|l| !l.starts_with("blocked:")).collect();
            bail!("the escape worked: {}{}", worked.join("; "), todo_note(output))
        }
        code => bail!(
            "the escape helper's {sub} could not run (exit {code:?}): {said}{}",
            stderr_suffix(&String::from_utf8_lossy(&output.stderr))
        ),
    }
}

/// A host directory outside the rootfs, removed (with what is in it) when dropped.
struct HostDir(PathBuf);
impl Drop for HostDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The kernel's handle for `path` (name_to_handle_at): type and bytes in hex.
fn file_handle(path: &Path) -> Result<(i32, String)> {
    #[repr(C)]
    struct Handle {
        bytes: libc::c_uint,
        kind: libc::c_int,
        data: [u8; 128],
    }
    let mut handle = Handle { bytes: 128, kind: 0, data: [0; 128] };
    let mut mount_id: libc::c_int = 0;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: a valid C string, a buffer that declares its 128 bytes, an int out-parameter.
    let done = unsafe {
        libc::syscall(libc::SYS_name_to_handle_at, libc::AT_FDCWD, c_path.as_ptr(), &mut handle, &mut mount_id, 0)
    };
    if done != 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| format!("name_to_handle_at {}", path.display()));
    }
    let used = &handle.data[..handle.bytes as usize];
    Ok((handle.kind, used.iter().map(|b| format!("{b:02x}")).collect()))
}

/// The host plants a secret in a directory of its own, binds a file next to
/// it into the container, and hands the helper that directory's handle.
fn shocker(ctx: &Ctx) -> Result<()> {
    let dir = HostDir(PathBuf::from(format!("/tmp/mini-docker-shocker-{}", random_hex(6)?)));
    fs::create_dir(&dir.0).with_context(|| format!("create {}", dir.0.display()))?;
    let secret = random_hex(8)?;
    fs::write(dir.0.join("sentinel"), &secret)?;
    fs::write(dir.0.join("bound"), "a file the container may see")?;
    let (kind, hex) = file_handle(&dir.0)?;
    let volume = format!("{}:/etc/shocker-mount:ro", dir.0.join("bound").display());
    let escape = escape_helper(ctx)?;
    let output = run_escape(ctx, &escape, &["-v", &volume], "shocker", &["/etc/shocker-mount", &kind.to_string(), &hex, "sentinel"])?;
    let read = String::from_utf8_lossy(&output.stdout);
    match output.status.code() {
        Some(0) if read == secret => bail!(
            "the escape worked: it read the secret in the host's {}{}",
            dir.0.join("sentinel").display(),
            todo_note(&output)
        ),
        Some(0) => bail!("the shocker helper read something, but not the host's secret: {read}"),
        _ => blocked(&output, "shocker"),
    }
}

fn cgroup_mount(ctx: &Ctx) -> Result<()> {
    expect_blocked(ctx, &[], "cgroup-mount", &["/mnt"])
}

fn disk(ctx: &Ctx) -> Result<()> {
    // In the container's /dev (a tmpfs): no device node ever lands in the host's rootfs directory.
    expect_blocked(ctx, &[], "disk", &["/dev/.escape-disk"])
}

fn proc_write(ctx: &Ctx) -> Result<()> {
    expect_blocked(ctx, &[], "proc-write", &[])
}

fn finit_module(ctx: &Ctx) -> Result<()> {
    expect_blocked(ctx, &[], "finit-module", &[])
}

fn proc_read(ctx: &Ctx) -> Result<()> {
    expect_blocked(ctx, &[], "proc-read", &[])
}

fn unshare_mount(ctx: &Ctx) -> Result<()> {
    expect_blocked(ctx, &[], "unshare-mount", &["/mnt"])
}

fn ptrace_other(ctx: &Ctx) -> Result<()> {
    expect_blocked(ctx, &[], "ptrace", &[])
}

/// Nobody execs a setuid-root copy of the helper: without the flag it must
/// get euid 0 (docker's default, and proof the rootfs allows setuid), with
/// `--security-opt no-new-privileges` it must not.
fn setuid_under_no_new_privs(ctx: &Ctx) -> Result<()> {
    let escape = escape_helper(ctx)?;
    let name = format!(".escape-setuid-{}", random_hex(4)?);
    let setuid = TempFile(ctx.rootfs()?.join("tmp").join(&name));
    fs::write(&setuid.0, ESCAPE).context("copy the setuid helper into the rootfs")?;
    // Owned by the container's root: the host's root, or under `--with=--userns`
    // the host uid that root maps to (host root is nobody in there).
    if ctx.with.iter().any(|flag| flag == "--userns") {
        let map = crate::userns::IdMap::remapped_root();
        let (uid, gid) = (Some(map.host_uid.into()), Some(map.host_gid.into()));
        nix::unistd::chown(&setuid.0, uid, gid).context("chown the setuid helper to the container's root")?;
    }
    fs::set_permissions(&setuid.0, fs::Permissions::from_mode(0o4755))?;
    let inside = format!("/tmp/{name}");
    let plain = run_escape(ctx, &escape, &[], "nnp", &[&inside])?;
    if plain.status.code() != Some(0) {
        bail!(
            "without no-new-privileges, a setuid-root program should still elevate (docker's default): {}{}",
            String::from_utf8_lossy(&plain.stdout).trim(),
            stderr_suffix(&String::from_utf8_lossy(&plain.stderr))
        );
    }
    let flagged = run_escape(ctx, &escape, &["--security-opt", "no-new-privileges"], "nnp", &[&inside])?;
    blocked(&flagged, "nnp")
}

fn tiocsti(ctx: &Ctx) -> Result<()> {
    expect_blocked(ctx, &[], "tiocsti", &["/dev/.escape-console"])
}

fn sys_remount(ctx: &Ctx) -> Result<()> {
    expect_blocked(ctx, &[], "sys-remount", &[])
}

fn memory_limit(ctx: &Ctx) -> Result<()> {
    expect_blocked(ctx, &["-m", "64m"], "memory-limit", &["/mnt"])
}
