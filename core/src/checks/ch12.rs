//! Chapter 12 — lifecycle. `exec` into a running container, seen from the
//! host: the exec'd process is in every namespace and the cgroup of the
//! container's PID 1, under the same capabilities and seccomp filter, with
//! nothing of the caller's (fds, environment). And the shim's record of an
//! exit.

use std::path::Path;
use std::process::Output;

use anyhow::{bail, Context, Result};
use nix::unistd::Pid;

use super::{expect_success, random_hex, Check, Ctx, Running};
use crate::lifecycle::state::{self, State, Status};
use crate::workshop::Steps;

pub fn checks() -> Vec<Check> {
    vec![
        Check { id: "12.1", title: "exec sees the container's PID 1 (/proc/1/cmdline) and its hostname", points: 2,
            hint: "join_namespaces: setns(2) into /proc/PID/ns/pid (children only: the scaffold forks after) and uts; mnt last, so /proc is the container's", run: sees_pid_1 },
        Check { id: "12.2", title: "exec's process is in every namespace of PID 1: user, ipc, uts, net, pid, cgroup, mnt (/proc/PID/ns/*)", points: 3,
            hint: "join_namespaces: open all of /proc/PID/ns/* first, then setns each — user first if `user`, mnt last (after it, /proc/PID is another process)", run: same_namespaces },
        Check { id: "12.3", title: "exec's process is in PID 1's cgroup, seen through its cgroup namespace (/proc/self/cgroup)", points: 1,
            hint: "join_namespaces: the scaffold joins the cgroup first (cgroup.procs); then setns(CLONE_NEWCGROUP) so its paths read as the container's", run: same_cgroup },
        Check { id: "12.4", title: "exec's process has the container's capability sets and seccomp filter (Seccomp: 2), not mini-docker's", points: 2,
            hint: "the scaffold applies chapter 11's steps after join_namespaces: join every namespace (a user namespace first) so they apply to the container's process", run: same_hardening },
        Check { id: "12.5", title: "exec's process holds no fd but stdin, stdout, stderr, and only the container's environment", points: 1,
            hint: "join_namespaces: File::open gives O_CLOEXEC fds — keep them so (and drop them before the fork if you can)", run: nothing_of_the_caller },
        Check { id: "12.6", title: "the shim records an exit: status exited, the exit code, OOM, the time it finished (state.json)", points: 1,
            hint: "record_exit: state.status = Status::Exited, exit_code = Some(code), oom_killed, finished = state::now()", run: exit_recorded },
    ]
}

/// `body` with a chapter 12 container (its hostname is its id), ready for
/// an exec; the container then ends as it should (its stdin closed), so
/// mini-docker removes its state and everything else — pass or fail.
fn with_container(ctx: &Ctx, body: impl FnOnce(&Running, &str) -> Result<()>) -> Result<()> {
    // No network: nothing here needs one, and a start is quicker without.
    let running = ctx.start(12, &["--network", "none"], "hostname")?;
    let outcome = match running.before_ready.first().cloned() {
        Some(id) => body(&running, &id),
        None => Err(anyhow::anyhow!("the container did not print its hostname")),
    };
    // (`read` at end-of-file ends the script with status 1: not a failure.)
    running.finish()?;
    outcome
}

/// `exec ID CMD` in the container's sandbox; it must succeed.
fn exec(ctx: &Ctx, running: &Running, id: &str, cmd: &[&str]) -> Result<String> {
    let mut args = vec!["exec", id];
    args.extend_from_slice(cmd);
    let output: Output = ctx.in_sandbox_of(running, &args)?;
    expect_success(&output, &format!("exec {}", cmd.join(" ")))?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn sees_pid_1(ctx: &Ctx) -> Result<()> {
    with_container(ctx, |running, id| {
        let out = exec(ctx, running, id, &["sh", "-c", "hostname; tr '\\0' ' ' < /proc/1/cmdline"])?;
        let mut lines = out.lines();
        let hostname = lines.next().unwrap_or_default();
        if hostname != id {
            bail!("exec's hostname is {hostname:?}, the container's is {id:?}: not its UTS namespace");
        }
        let first = lines.next().unwrap_or_default();
        if !first.starts_with("/bin/sh -c hostname") {
            bail!("exec's /proc/1 is {first:?}, not the container's PID 1 (/bin/sh -c hostname...): not its PID namespace, or not its /proc");
        }
        Ok(())
    })
}

const KINDS: [&str; 7] = ["user", "ipc", "uts", "net", "pid", "cgroup", "mnt"];

fn same_namespaces(ctx: &Ctx) -> Result<()> {
    with_container(ctx, |running, id| {
        let pid = running.container_pid()?;
        // `; true`: a /proc/self that does not resolve is this check's to explain.
        let script = KINDS.map(|k| format!("readlink /proc/self/ns/{k}")).join("; ") + "; true";
        let out = exec(ctx, running, id, &["sh", "-c", &script])?;
        let theirs: Vec<String> = out.lines().map(String::from).collect();
        if theirs.is_empty() {
            bail!("exec's process cannot read /proc/self/ns: it is not in the PID namespace of the /proc it sees (setns into the container's PID namespace, then fork)");
        }
        for (at, kind) in KINDS.iter().enumerate() {
            let want = ns_link(pid, kind)?;
            let got = theirs.get(at).map(String::as_str).unwrap_or("(nothing)");
            if got != want {
                let host = ns_link(running.supervisor(), kind)?;
                let whose = if got == host { "mini-docker's" } else { "another" };
                bail!("exec's {kind} namespace is {got} ({whose}), PID 1's is {want}");
            }
        }
        Ok(())
    })
}

fn ns_link(pid: Pid, kind: &str) -> Result<String> {
    let path = format!("/proc/{pid}/ns/{kind}");
    Ok(std::fs::read_link(&path)
        .with_context(|| format!("read {path}"))?
        .to_string_lossy()
        .into_owned())
}

fn same_cgroup(ctx: &Ctx) -> Result<()> {
    with_container(ctx, |running, id| {
        let out = exec(ctx, running, id, &["sh", "-c", "cat /proc/self/cgroup; echo ---; cat /proc/1/cgroup"])?;
        let (own, first) = out.split_once("---\n").context("exec's output")?;
        if own != first {
            bail!("exec's cgroups are\n{own}but PID 1's are\n{first}");
        }
        let pid = running.container_pid()?;
        let host_view = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
        if own == host_view && own.lines().any(|l| !l.ends_with(":/")) {
            bail!("exec reads the cgroup paths as the host does ({}): not in the container's cgroup namespace", own.lines().next().unwrap_or_default());
        }
        Ok(())
    })
}

const HARDENING: [&str; 7] = ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"];

fn hardening_of(status: &str) -> Vec<String> {
    status
        .lines()
        .filter(|l| HARDENING.iter().any(|f| l.split(':').next() == Some(f)))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

fn same_hardening(ctx: &Ctx) -> Result<()> {
    with_container(ctx, |running, id| {
        let pid = running.container_pid()?;
        let want = hardening_of(&std::fs::read_to_string(format!("/proc/{pid}/status"))?);
        let got = hardening_of(&exec(ctx, running, id, &["cat", "/proc/self/status"])?);
        if got != want {
            bail!("exec's process has {} — PID 1 has {}", got.join(", "), want.join(", "));
        }
        if !got.iter().any(|l| l == "Seccomp: 2") {
            bail!("no seccomp filter in the container (Seccomp: {got:?}): chapter 11's load_seccomp?");
        }
        Ok(())
    })
}

fn nothing_of_the_caller(ctx: &Ctx) -> Result<()> {
    with_container(ctx, |running, id| {
        let fds = exec(ctx, running, id, &["ls", "/proc/self/fd"])?;
        let fds: Vec<&str> = fds.split_whitespace().collect();
        // ls opens one directory to list: 0, 1, 2 and that one.
        if fds.len() > 4 || fds.get(..3) != Some(&["0", "1", "2"][..]) {
            bail!("exec's process holds fds {}: something of mini-docker's leaked in", fds.join(" "));
        }
        let env = exec(ctx, running, id, &["env"])?;
        if env.contains("MINI_DOCKER_CHECK_HOST_ONLY") {
            bail!("exec's process has the caller's environment (MINI_DOCKER_CHECK_HOST_ONLY): it must be the container's");
        }
        if !env.lines().any(|l| l == format!("HOSTNAME={id}")) {
            bail!("exec's process lacks the container's environment (HOSTNAME={id}):\n{env}");
        }
        Ok(())
    })
}

/// A scratch container directory with a running container's state; the
/// learner's record_exit through `__record-exit` (as the shim calls it).
fn exit_recorded(ctx: &Ctx) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("mini-docker-check12-{}", random_hex(6)?));
    std::fs::create_dir_all(&dir)?;
    let outcome = record_and_read(ctx, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    let (before, after) = outcome?;
    if after.status != Status::Exited {
        bail!("after record_exit the status is {:?}, not exited", after.status);
    }
    if after.exit_code != Some(3) || !after.oom_killed {
        bail!("recorded exit code {:?}, OOM {} — the shim said 3, OOM killed", after.exit_code, after.oom_killed);
    }
    if after.finished < before || after.finished > state::now() {
        bail!("finished = {}: not the time of the exit (now, ns since the epoch)", after.finished);
    }
    if after.id != "c12" || after.started != 42 {
        bail!("record_exit changed what it should keep (id, started)");
    }
    Ok(())
}

fn record_and_read(ctx: &Ctx, dir: &Path) -> Result<(u64, State)> {
    state::update(dir, |s| {
        s.id = "c12".into();
        s.status = Status::Running;
        s.started = 42;
    })?;
    let before = state::now();
    let mut command = std::process::Command::new(&ctx.exe);
    if let Some(arg) = ctx.selection.to_arg() {
        command.arg(arg);
    }
    let output = command
        .arg("__record-exit")
        .arg(dir)
        .args(["3", "--oom-killed"])
        .output()
        .context("run mini-docker __record-exit")?;
    expect_success(&output, "record the exit")?;
    Ok((before, state::read(dir)?))
}

/// `__record-exit DIR CODE [--oom-killed]`.
pub fn record_exit_command(steps: &Steps, dir: &Path, code: i32, oom_killed: bool) -> Result<i32> {
    crate::lifecycle::record_exit(dir, &steps.ch12_lifecycle, code, oom_killed)?;
    Ok(0)
}
