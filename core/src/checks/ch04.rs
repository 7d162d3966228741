//! Chapter 4 — PID namespace.

use std::collections::BTreeSet;
use std::fs;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use nix::sys::signal::{kill, Signal};

use super::probe::{expect_own_namespace, ns_inode, nspid, pids_in_pid_ns, state};
use super::{status_text, stderr_suffix, Check, Ctx, Running};

pub fn checks() -> Vec<Check> {
    vec![
        Check { id: "4.1", title: "the command is PID 1 of its own PID namespace (`echo $$` is 1)", points: 2,
            hint: "add CloneFlags::CLONE_NEWPID to the clone flags", run: pid_one },
        Check { id: "4.2", title: "the container's /proc lists exactly the container's processes", points: 2,
            hint: "mount(\"proc\", \"/proc\", \"proc\", ...) after entering the rootfs, inside the new PID namespace", run: proc_is_fresh },
        Check { id: "4.3", title: "with --init, orphaned zombies are reaped", points: 2,
            hint: "init_loop: on SIGCHLD call waitpid(None, WNOHANG) until StillAlive/ECHILD — every child, not only the command", run: zombies_reaped },
        Check { id: "4.4", title: "with --init, SIGTERM to mini-docker is forwarded: exit 143, nothing left running", points: 2,
            hint: "init_loop: forward every signal but SIGCHLD with kill(command, signal)", run: sigterm_forwarded },
        Check { id: "4.5", title: "SIGTERM to mini-docker stops a PID 1 that ignores it: exit 143, nothing left", points: 1,
            hint: "PID 1 ignores SIGTERM without a handler; the namespace must die with PID 1 (CLONE_NEWPID)", run: sigterm_stops_pid1 },
    ]
}

fn pid_one(ctx: &Ctx) -> Result<()> {
    let running = ctx.start(4, &[], "echo $$")?;
    let pid = running.container_pid()?;
    expect_own_namespace(pid, running.supervisor(), "pid", "CLONE_NEWPID")?;
    let ids = nspid(pid)?;
    if ids.len() < 2 || ids.last() != Some(&1) {
        bail!("NSpid of the container process is {ids:?}: expected it to end in 1");
    }
    if running.before_ready.first().map(String::as_str) != Some("1") {
        bail!("`echo $$` printed {:?}, expected 1", running.before_ready);
    }
    running.finish()?;
    Ok(())
}

fn proc_is_fresh(ctx: &Ctx) -> Result<()> {
    let running = ctx.start(4, &[], "sleep 600 &")?;
    let pid = running.container_pid()?;
    let ns = ns_inode(Some(pid), "pid")?;
    let expected: BTreeSet<i32> = pids_in_pid_ns(ns)
        .into_iter()
        .filter_map(|p| nspid(p).ok()?.last().copied())
        .collect();
    let listed: BTreeSet<i32> = fs::read_dir(format!("/proc/{pid}/root/proc"))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    running.finish()?;
    if listed != expected || expected.len() < 2 {
        bail!("the container's /proc lists pids {listed:?}; its namespace holds {expected:?}");
    }
    Ok(())
}

/// Orphans exiting together: their SIGCHLDs merge into one, so an init that
/// reaps one child per SIGCHLD leaves zombies. Several rounds of many, so it
/// does every time, not by luck of timing.
fn zombies_reaped(ctx: &Ctx) -> Result<()> {
    // Each subshell exits at once, orphaning its `cat`, which PID 1 inherits.
    // The cats all read one pipe: when its writer (`sleep 0.2`) ends, all 16
    // see end-of-file in the same instant and exit together.
    let burst = (0..ZOMBIES_PER_ROUND)
        .map(|_| "(cat <&3 >/dev/null &)")
        .collect::<Vec<_>>()
        .join("; ");
    let script =
        format!("for round in 1 2 3; do sleep 0.2 | {{ exec 3<&0; {burst}; }}; sleep 0.2; done");
    let running = ctx.start(4, &["--init"], &script)?;
    let ns = ns_inode(Some(running.container_pid()?), "pid")?;
    let zombies: Vec<_> = pids_in_pid_ns(ns)
        .into_iter()
        .filter(|&p| state(p) == Some('Z'))
        .collect();
    running.finish()?;
    let orphans = 3 * ZOMBIES_PER_ROUND;
    let some: Vec<_> = zombies.iter().take(5).collect();
    match zombies.len() {
        0 => Ok(()),
        n if n >= orphans => bail!(
            "all {n} orphans are zombies in the container's PID namespace (host pids {some:?}, ...): init_loop reaps only the command — waitpid(None, ..) reaps any child"
        ),
        n => bail!(
            "{n} of {orphans} orphans are zombies in the container's PID namespace (host pids {some:?}, ...): SIGCHLDs merge, one waitpid per signal is not enough"
        ),
    }
}

const ZOMBIES_PER_ROUND: usize = 16;

fn sigterm_forwarded(ctx: &Ctx) -> Result<()> {
    let running = ctx.start(4, &["--init"], "sleep 600 &")?;
    expect_sigterm_stops(running, Duration::from_secs(5))
}

fn sigterm_stops_pid1(ctx: &Ctx) -> Result<()> {
    // `sleep` as PID 1 has no SIGTERM handler: the kernel drops the signal.
    let running = ctx.start_then_exec(4, &["--stop-timeout", "1"], "sleep 600")?;
    expect_sigterm_stops(running, Duration::from_secs(6))
}

/// SIGTERM the supervisor; it must exit 143 in time and leave the namespace empty.
fn expect_sigterm_stops(running: Running, within: Duration) -> Result<()> {
    let ns = ns_inode(Some(running.container_pid()?), "pid")?;
    let started = Instant::now();
    kill(running.supervisor(), Signal::SIGTERM)?;
    let output = running.wait_exit()?;
    let took = started.elapsed();
    let left = pids_in_pid_ns(ns);
    if output.status.code() != Some(143) {
        bail!(
            "mini-docker exited {} after SIGTERM, expected 143{}",
            status_text(&output),
            stderr_suffix(&String::from_utf8_lossy(&output.stderr))
        );
    }
    if took > within {
        bail!(
            "stopping took {:.1}s (limit {}s)",
            took.as_secs_f64(),
            within.as_secs()
        );
    }
    if !left.is_empty() {
        bail!(
            "{} process(es) still running in the container's PID namespace: {left:?}",
            left.len()
        );
    }
    // The check's sandbox kills what is left when mini-docker exits; it says so first.
    let stderr = String::from_utf8_lossy(&output.stderr);
    if let Some(line) = stderr.lines().find(|l| l.contains(super::sandbox::LEFT_RUNNING)) {
        bail!("{}", line.trim_start_matches("mini-docker: sandbox: "));
    }
    Ok(())
}
