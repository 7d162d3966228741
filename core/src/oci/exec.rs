//! `exec`: another process in a running container — podman's `exec` asks
//! for it with `--process FILE --detach --pid-file F [--console-socket S]`.
//! Chapter 12's entry in OCI form: join every namespace of the init (user
//! first, mnt last), fork (a PID namespace holds only children), join its
//! cgroup, then the same process setup as the init (process.rs).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::Path;

use anyhow::{bail, Context, Result};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};
use oci_spec::runtime::Process;

use super::cli::ExecArgs;
use super::state::{self, Record, Status};
use crate::runtime::tty;
use crate::workshop::Steps;

pub fn exec(root: &Path, args: &ExecArgs, steps: &Steps) -> Result<i32> {
    let dir = state::container_dir(root, &args.id)?;
    let record = Record::load(root, &args.id)?;
    if record.status(&dir) == Status::Stopped {
        bail!("cannot exec in a stopped container {}", args.id);
    }
    let spec = super::spec::load(&record.bundle)?;
    let process = process_for(args, &spec)?;
    let terminal = process.terminal().unwrap_or(false);
    let console = match (&args.console_socket, terminal) {
        (Some(path), true) => Some(
            UnixStream::connect(path)
                .with_context(|| format!("connect to the console socket {}", path.display()))?,
        ),
        (None, true) => bail!("a terminal needs --console-socket"),
        _ => None,
    };
    let seccomp = spec.linux().as_ref().and_then(|l| l.seccomp().clone());
    let mut prepared = super::process::prepare(&process, seccomp.as_ref(), steps)?;
    prepared.preserve_fds = args.preserve_fds;
    let container = Pid::from_raw(record.pid);
    let user = namespace_differs(record.pid, "user");
    // The process we fork twice ends up ours when its parent exits: we can wait for it.
    nix::sys::prctl::set_child_subreaper(true).context("prctl(PR_SET_CHILD_SUBREAPER)")?;
    let (mut ours, mut theirs) = UnixStream::pair().context("socketpair")?;

    // SAFETY: this process is single-threaded: the child may run Rust code.
    match unsafe { fork() }.context("fork")? {
        ForkResult::Child => {
            drop(ours);
            // Chapter 12's step: every namespace of the container, in order.
            let join = || steps.ch12_lifecycle.join_namespaces(container, user);
            let outcome = join_and_fork(join, &mut theirs, |channel| {
                run_process(&process, &prepared, console.as_ref(), channel, steps)
            });
            if let Err(err) = outcome {
                let _ = theirs.write_all(format!("error: {err:#}\n").as_bytes());
            }
            // SAFETY: _exit: no destructors of the parent's objects in this copy.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Parent { child } => {
            drop(theirs);
            drop(console);
            let _ = waitpid(child, None);
            let mut reader = BufReader::new(ours.try_clone()?);
            let mut line = String::new();
            reader
                .read_line(&mut line)
                .context("read the exec'd process's pid")?;
            let pid: i32 = match line.trim_end().strip_prefix("pid ") {
                Some(pid) => pid.parse().context("bad pid")?,
                None => bail!(
                    "{}",
                    line.trim_end()
                        .strip_prefix("error: ")
                        .unwrap_or("exec failed")
                ),
            };
            let pid = Pid::from_raw(pid);
            for cgroup in &record.cgroup_dirs {
                crate::cgroups::write_file(&cgroup.join("cgroup.procs"), &pid.to_string())?;
            }
            ours.write_all(b"g").context("release the process")?;
            let mut rest = String::new();
            reader.read_to_string(&mut rest).unwrap_or_default();
            if let Some(message) = rest.lines().find_map(|l| l.strip_prefix("error: ")) {
                let _ = waitpid(pid, None);
                bail!("{message}");
            }
            if let Some(pid_file) = &args.pid_file {
                let tmp = pid_file.with_extension("mini-docker-tmp");
                std::fs::write(&tmp, pid.to_string())?;
                std::fs::rename(&tmp, pid_file)?;
            }
            if args.detach {
                return Ok(0);
            }
            loop {
                match waitpid(pid, None) {
                    Ok(WaitStatus::Exited(_, code)) => return Ok(code),
                    Ok(WaitStatus::Signaled(_, signal, _)) => return Ok(128 + signal as i32),
                    Ok(_) => continue,
                    Err(e) => bail!("wait for the exec'd process: {e}"),
                }
            }
        }
    }
}

/// The process: `--process FILE`, or config.json's with the command and flags.
fn process_for(args: &ExecArgs, spec: &oci_spec::runtime::Spec) -> Result<Process> {
    if let Some(file) = &args.process {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("read {}", file.display()))?;
        return serde_json::from_str(&text).with_context(|| format!("parse {}", file.display()));
    }
    if args.command.is_empty() {
        bail!("exec needs --process FILE or a command");
    }
    let mut process = spec
        .process()
        .clone()
        .context("config.json has no process")?;
    process.set_args(Some(args.command.clone()));
    process.set_terminal(Some(args.tty));
    if let Some(cwd) = &args.cwd {
        process.set_cwd(cwd.into());
    }
    if !args.env.is_empty() {
        let mut env = process.env().clone().unwrap_or_default();
        env.extend(args.env.iter().cloned());
        process.set_env(Some(env));
    }
    if let Some(user) = &args.user {
        let (uid, gid) = user.split_once(':').unwrap_or((user, "0"));
        let mut u = process.user().clone();
        u.set_uid(uid.parse().context("--user: expected UID[:GID]")?);
        u.set_gid(gid.parse().context("--user: expected UID[:GID]")?);
        process.set_user(u);
    }
    if args.no_new_privs {
        process.set_no_new_privileges(Some(true));
    }
    Ok(process)
}

/// The container has a namespace of that kind of its own: setns(2) into our
/// own user namespace is EINVAL, so it is joined only then.
fn namespace_differs(pid: i32, name: &str) -> bool {
    std::fs::read_link(format!("/proc/{pid}/ns/{name}")).ok()
        != std::fs::read_link(format!("/proc/self/ns/{name}")).ok()
}

/// In the first child: join the namespaces, then fork the process (born in the PID
/// namespace) and tell the runtime its pid.
fn join_and_fork(
    join: impl FnOnce() -> Result<()>,
    channel: &mut UnixStream,
    run: impl FnOnce(&mut UnixStream) -> Result<std::convert::Infallible>,
) -> Result<()> {
    join()?;
    // SAFETY: single-threaded, as the runtime.
    match unsafe { fork() }.context("fork into the PID namespace")? {
        ForkResult::Child => {
            let err = match run(channel) {
                Ok(never) => match never {},
                Err(err) => err,
            };
            let _ = channel.write_all(format!("error: {err:#}\n").as_bytes());
            // SAFETY: _exit: nothing of the parent's to destroy here.
            unsafe {
                libc::_exit(if format!("{err}").starts_with("exec ") {
                    127
                } else {
                    1
                })
            }
        }
        ForkResult::Parent { child } => {
            channel.write_all(format!("pid {child}\n").as_bytes())?;
            Ok(())
        }
    }
}

/// In the process itself: wait for its cgroup, then the init's setup.
fn run_process(
    process: &Process,
    prepared: &super::process::Prepared,
    console: Option<&UnixStream>,
    channel: &mut UnixStream,
    steps: &Steps,
) -> Result<std::convert::Infallible> {
    let mut go = [0u8; 1];
    channel
        .read_exact(&mut go)
        .context("wait for the runtime")?;
    nix::unistd::setsid().context("setsid")?;
    if let Some(console) = console {
        let slave = tty::open_and_send(console.as_raw_fd())?;
        tty::make_controlling(&slave)?;
    }
    super::process::set_rlimits(process)?;
    let cwd = process.cwd();
    nix::unistd::chdir(cwd).with_context(|| format!("chdir to {}", cwd.display()))?;
    super::process::finish_and_exec(process, prepared, steps)
}
