//! Chapter 3 — UTS and IPC namespaces.

use anyhow::{bail, Result};

use super::probe::{expect_own_namespace, hostname_here, in_namespace};
use super::{random_hex, Check, Ctx};

pub fn checks() -> Vec<Check> {
    vec![
        Check {
            id: "3.1",
            title: "/proc/PID/ns/uts differs from mini-docker's (and the host's)",
            points: 2,
            hint: "add CloneFlags::CLONE_NEWUTS to the clone flags",
            run: uts_ns,
        },
        Check {
            id: "3.2",
            title: "/proc/PID/ns/ipc differs from mini-docker's (and the host's)",
            points: 2,
            hint: "add CloneFlags::CLONE_NEWIPC to the clone flags",
            run: ipc_ns,
        },
        Check {
            id: "3.3",
            title: "the container's UTS namespace has the requested hostname",
            points: 2,
            hint: "sethostname(name) inside the new UTS namespace",
            run: hostname_set,
        },
        Check {
            id: "3.4",
            title: "mini-docker's own hostname is unchanged (and so the host's)",
            points: 1,
            hint: "call sethostname only in the child, after CLONE_NEWUTS",
            run: host_hostname_kept,
        },
        Check {
            id: "3.5",
            title: "a SysV message queue made on the host is invisible inside",
            points: 1,
            hint: "CLONE_NEWIPC gives the container its own SysV IPC objects",
            run: sysv_invisible,
        },
    ]
}

fn uts_ns(ctx: &Ctx) -> Result<()> {
    let running = ctx.start(3, &[], ":")?;
    expect_own_namespace(running.container_pid()?, running.supervisor(), "uts", "CLONE_NEWUTS")?;
    running.finish()?;
    Ok(())
}

fn ipc_ns(ctx: &Ctx) -> Result<()> {
    let running = ctx.start(3, &[], ":")?;
    expect_own_namespace(running.container_pid()?, running.supervisor(), "ipc", "CLONE_NEWIPC")?;
    running.finish()?;
    Ok(())
}

fn hostname_set(ctx: &Ctx) -> Result<()> {
    let wanted = format!("box-{}", random_hex(4)?);
    let running = ctx.start(3, &["--hostname", &wanted], "hostname")?;
    let theirs = in_namespace(running.container_pid()?, "uts", hostname_here)?;
    if theirs != wanted {
        bail!("the container's UTS namespace is named {theirs:?}, expected {wanted:?}");
    }
    if running.before_ready.first() != Some(&wanted) {
        bail!(
            "`hostname` inside printed {:?}, expected {wanted:?}",
            running.before_ready
        );
    }
    running.finish()?;
    Ok(())
}

/// mini-docker runs in a throwaway UTS namespace (sandbox.rs): a sethostname
/// that missed the container's own namespace renames that one, never the host.
fn host_hostname_kept(ctx: &Ctx) -> Result<()> {
    let host = hostname_here();
    let wanted = format!("box-{}", random_hex(4)?);
    let running = ctx.start(3, &["--hostname", &wanted], ":")?;
    let mini_docker = in_namespace(running.supervisor(), "uts", hostname_here)?;
    running.finish()?;
    if hostname_here() != host {
        bail!("the host was renamed from {host:?} to {:?}", hostname_here());
    }
    if mini_docker != host {
        bail!("mini-docker's own hostname became {mini_docker:?} (it was {host:?}): sethostname ran outside the container's UTS namespace — the check ran mini-docker in a throwaway namespace, so the host kept its name");
    }
    Ok(())
}

/// A message queue with a random key on the host; the container must not find it.
fn sysv_invisible(ctx: &Ctx) -> Result<()> {
    let key = i32::from_str_radix(&random_hex(3)?, 16)? + 0x4d440000;
    // SAFETY: plain SysV calls with a fresh key.
    let queue = unsafe { libc::msgget(key, libc::IPC_CREAT | libc::IPC_EXCL | 0o600) };
    if queue < 0 {
        bail!("msgget on the host: {}", std::io::Error::last_os_error());
    }
    let result = (|| {
        let running = ctx.start(3, &[], ":")?;
        let pid = running.container_pid()?;
        // SAFETY: msgget only looks the key up.
        let found = in_namespace(pid, "ipc", move || unsafe { libc::msgget(key, 0) } >= 0)?;
        running.finish()?;
        if found {
            bail!("the host's message queue (key 0x{key:08x}) is visible inside the container");
        }
        Ok(())
    })();
    // SAFETY: removes the queue msgget made above; IPC_RMID ignores the
    // msqid_ds argument, so a null pointer is allowed and never dereferenced.
    unsafe { libc::msgctl(queue, libc::IPC_RMID, std::ptr::null_mut()) };
    result
}
