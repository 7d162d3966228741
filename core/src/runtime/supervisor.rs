//! The host side of a running container: start it, forward stop signals, wait.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::unistd::Pid;

use super::channel::{self, Failed, ToInside};
use super::config::ContainerConfig;
use super::explain;
use super::namespaces;
use super::signals::stop_signals;
use super::spawn::{clone_init, release_after_maps, Spawned, UserNamespaceEntry};
use super::stdio;
use super::tty;
use crate::cgroups::ContainerCgroup;
use crate::net::{HostNetwork, NetworkMode};
use crate::workshop::Steps;

/// The container's first process, for the panic hook: never leave it running.
pub static CONTAINER_PID: AtomicI32 = AtomicI32::new(0);

/// A failure with the exit status mini-docker should end with (125/126/127).
#[derive(Debug)]
pub struct ExitError {
    pub code: i32,
    pub message: String,
}

impl std::fmt::Display for ExitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
impl std::error::Error for ExitError {}

impl From<Failed> for ExitError {
    fn from(failed: Failed) -> ExitError {
        ExitError {
            code: failed.code,
            message: failed.message,
        }
    }
}

/// Run a container to its end; returns the exit status mini-docker should exit with.
/// What the host side holds for one container.
pub struct HostSide<'a> {
    pub network: &'a mut HostNetwork,
    pub cgroup: Option<&'a ContainerCgroup>,
    /// `run -t`: (our end, the init's end) of the console socket.
    pub console: Option<(OwnedFd, OwnedFd)>,
    /// Relay our stdin to the container's terminal.
    pub interactive: bool,
    /// /etc/hosts and /etc/resolv.conf, written while the init mounts.
    pub etc_files: &'a [crate::net::files::EtcFile],
    /// Told the container's pid once its command runs (the keeper records it).
    pub on_started: &'a mut dyn FnMut(i32),
    /// Pipes to the json-file writer: the output relayed is logged too
    /// (an attached `run` that keeps its container, for `logs`).
    pub output_log: Option<[OwnedFd; 2]>,
}

pub fn run(
    config: &ContainerConfig,
    host: HostSide,
    stop_timeout: Duration,
    steps: &Steps,
) -> Result<i32> {
    let HostSide {
        network,
        cgroup,
        console,
        interactive,
        etc_files,
        on_started,
        mut output_log,
    } = host;
    // Block stop signals *before* any thread or child exists: every thread and
    // the child inherit the mask, so no signal can kill us before we forward it.
    stop_signals().thread_block().context("block signals")?;
    let flags = namespaces::clone_flags(config, steps);
    namespaces::expect_own_network(config, flags)?;
    explain::step(
        config.explain,
        1,
        &format!("clone({})", namespaces::names(flags)),
        namespaces::why(config),
    );
    let entry = config.userns.as_ref().map(|map| UserNamespaceEntry {
        drop_groups: !map.deny_setgroups,
    });
    let keep_open = console.as_ref().map(|(_, theirs)| theirs.as_raw_fd());
    // Chapter 8 joins from the host side, the learner's way (join_v1/_v2);
    // later chapters put the child in at clone, off the critical path.
    let fast_entry = cgroup
        .filter(|_| config.chapter > 8)
        .map(|c| c.fast_entry())
        .transpose()?;
    let pipes = stdio::Pipes::new()?;
    let Spawned {
        pid,
        channel,
        maps_written,
        in_cgroup,
    } = clone_init(
        flags,
        entry,
        keep_open,
        pipes.container_ends(),
        fast_entry.as_ref(),
        steps,
    )?;
    explain::observed(
        config.explain,
        1,
        &format!("pid {pid}: {}", explain::namespaces_of(pid.as_raw())),
    );
    drop(fast_entry); // the child has its own copies
                      // Our stdin goes in through the pipe, unless the terminal relay reads it
                      // (-t). The copying threads start once the child has its "go": their
                      // start is off its critical path (its output waits in the pipes).
    let forward_stdin = interactive && console.is_none();
    // -t: the container prints on its terminal; that relay logs its output.
    let terminal_log = match console {
        Some(_) => output_log.take().map(|[stdout, _stderr]| stdout),
        None => None,
    };
    let mut start_relay =
        |pipes: stdio::Pipes| pipes.relay_and_log(forward_stdin, config.has(4), output_log.take());
    let console = console.map(|(ours, _theirs)| ours); // the init has its own copy now
    CONTAINER_PID.store(pid.as_raw(), Ordering::SeqCst);
    // The init builds its filesystem while we do the host's part; it waits
    // for "go" before it binds /etc files, configures its network and runs
    // its command (which must run in the cgroup: the join step sends "go").
    let host_side = || {
        crate::net::files::write_all(etc_files)
            .and_then(|_| connect_network(config, network, pid, steps))
    };
    let go = || channel::send(&channel, &ToInside::Go);
    let send_config = || {
        // The seccomp program travels apart, raw (channel::send_program).
        let mut sent = config.clone();
        let program = sent.hardening.as_mut().and_then(|h| h.seccomp.take());
        channel::send(&channel, &ToInside::Config(Box::new(sent)))
            .and_then(|_| channel::send_program(&channel, program.as_ref()))
    };
    let prepared = write_id_maps(config, pid, maps_written, steps)
        .and_then(|_| {
            if config.explain {
                // Narrated: the host's steps, then the inside's; never interleaved.
                host_side().and_then(|_| send_config())
            } else {
                send_config().and_then(|_| host_side())
            }
        })
        .and_then(|_| join_cgroup(config, cgroup, pid, in_cgroup, &go));
    if let Err(err) = prepared {
        let _ = kill(pid, Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(pid, None);
        start_relay(pipes).abandon();
        // The init may have failed first (and closed its pipe, failing us):
        // its own line names the real cause.
        return Err(match start_failure(&channel) {
            Some(failure) => ExitError::from(failure).into(),
            None => err,
        });
    }

    let relay = start_relay(pipes);
    let terminal = match console {
        Some(ours) => attach_terminal(ours, interactive, terminal_log)?,
        None => None,
    };
    if let Some(failure) = start_failure(&channel) {
        let _ = kill(pid, Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(pid, None);
        relay.abandon();
        return Err(ExitError::from(failure).into());
    }
    network.serve_ports();
    on_started(pid.as_raw());
    let stopper = Stopper::start(pid, stop_timeout);
    explain::step(
        config.explain,
        1,
        &format!("waitpid({pid})"),
        "the host side waits; stop signals are forwarded",
    );
    drop(channel);
    let code = steps.ch01_process.wait_for(pid)?;
    // Reaped: its pid may be anyone's now. A later panic (a todo!() in
    // chapter 8's oom_kills or remove) must not SIGKILL that one.
    CONTAINER_PID.store(0, Ordering::SeqCst);
    explain::step(
        config.explain,
        1,
        &format!("exit status {code}"),
        "128 + n means: killed by signal n",
    );
    relay.finish();
    report_oom(config, cgroup);
    if let Some((output, raw_mode)) = terminal {
        let _ = output.join(); // the last bytes the container wrote
        drop(raw_mode);
    }
    Ok(stopper.finish(code))
}

/// `run -t`: take the pty master the init sends, and relay it.
fn attach_terminal(
    ours: OwnedFd,
    interactive: bool,
    log: Option<OwnedFd>,
) -> Result<Option<(std::thread::JoinHandle<()>, tty::RawMode)>> {
    let Some(master) = tty::receive_master(ours)? else {
        return Ok(None);
    };
    tty::copy_window_size(&master);
    let raw_mode = if interactive && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        tty::RawMode::enter()
    } else {
        tty::RawMode(None)
    };
    Ok(Some((
        tty::relay_and_log(master, interactive, log)?,
        raw_mode,
    )))
}

/// Chapter 8: the container's first process joins its cgroup before it runs
/// anything, so every process it will ever start is counted and limited;
/// `go` lets it run its command (the join step calls it once joined).
fn join_cgroup(
    config: &ContainerConfig,
    cgroup: Option<&ContainerCgroup>,
    pid: Pid,
    in_cgroup: bool,
    go: &dyn Fn() -> Result<()>,
) -> Result<()> {
    let Some(cgroup) = cgroup else { return go() };
    if in_cgroup {
        explain::step(
            config.explain,
            8,
            &format!("joined {} at clone", cgroup.describe()),
            "v2: clone3(CLONE_INTO_CGROUP); v1: the init wrote 0 to tasks (no global lock)",
        );
        return go();
    }
    explain::step(
        config.explain,
        8,
        &format!("echo {pid} > {}/cgroup.procs", cgroup.describe()),
        "before its command runs: limits apply to it and all it forks",
    );
    cgroup.join(pid, go)
}

/// docker says OOMKilled; we say it in one line.
fn report_oom(config: &ContainerConfig, cgroup: Option<&ContainerCgroup>) {
    let (Some(cgroup), Some(limit)) = (cgroup, config.limits.memory_bytes) else {
        return;
    };
    let kills = cgroup.oom_kills().unwrap_or_else(|e| {
        eprintln!("mini-docker: cannot read the OOM kills: {e:#}");
        0
    });
    if kills > 0 {
        eprintln!(
            "mini-docker: killed: out of memory (limit {})",
            crate::cgroups::human_bytes(limit)
        );
    }
}

/// Chapter 7: the child waits for its id maps before anything else.
fn write_id_maps(
    config: &ContainerConfig,
    pid: Pid,
    maps_written: Option<OwnedFd>,
    steps: &Steps,
) -> Result<()> {
    if let (Some(map), Some(pipe)) = (&config.userns, maps_written) {
        explain::step(
            config.explain,
            7,
            &format!(
                "write /proc/{pid}/uid_map: 0 {} {}",
                map.host_uid, map.count
            ),
            "container root is this host uid",
        );
        steps.ch07_userns.write_id_maps(pid, map)?;
        if config.explain {
            explain::observed(true, 7, &explain::id_maps(pid.as_raw()));
        }
        release_after_maps(pipe)?;
    }
    Ok(())
}

/// Chapter 6: plug the container's network namespace in (from the host side).
fn connect_network(
    config: &ContainerConfig,
    network: &HostNetwork,
    pid: Pid,
    steps: &Steps,
) -> Result<()> {
    if config.has(6) && config.network != NetworkMode::Host {
        if let Some(link) = &network.attachment {
            explain::step(
                config.explain,
                6,
                &format!(
                    "veth {} <-> {} on {} with {} in the container's namespace",
                    link.host_end, link.peer, link.bridge, link.peer
                ),
                "a virtual cable from the bridge into the container",
            );
            explain::step(
                config.explain,
                6,
                &format!(
                    "inside: {} renamed {} with {}/{} via {}",
                    link.peer, link.container_end, link.address, link.prefix, link.gateway
                ),
                "name, address and default route, set over netlink",
            );
        } else {
            explain::step(
                config.explain,
                6,
                "inside: ip link set lo up",
                "a new network namespace has only lo, and it is down",
            );
        }
        network.connect(|host, link| steps.ch06_net.connect_to_bridge(host, pid, link))?;
        if let Some((host, link)) = network.bridge_port().filter(|_| config.explain) {
            explain::observed(true, 6, &explain::host_end(host, &link.host_end));
        }
    }
    Ok(())
}

/// The inside reports a failed start as one `Failed` message; EOF means the
/// command is running (its exec closed the inside's end).
fn start_failure(channel: &OwnedFd) -> Option<Failed> {
    channel::receive::<Failed>(channel).ok().flatten()
}

/// Forwards stop signals to the container from a background thread, like
/// `docker stop`: the signal first, SIGKILL after the timeout or a second signal.
struct Stopper {
    done: Arc<AtomicBool>,
    /// The signal that made us kill the container (0 = none).
    killed_for: Arc<AtomicI32>,
}

impl Stopper {
    fn start(container: Pid, timeout: Duration) -> Stopper {
        let done = Arc::new(AtomicBool::new(false));
        let killed_for = Arc::new(AtomicI32::new(0));
        let (d, k) = (done.clone(), killed_for.clone());
        std::thread::spawn(move || forward_signals(container, timeout, &d, &k));
        Stopper { done, killed_for }
    }

    /// The container ended with `code`. If we had to kill it because *we* were
    /// asked to stop, report that signal (143 for SIGTERM), as a killed process would.
    fn finish(self, code: i32) -> i32 {
        self.done.store(true, Ordering::SeqCst);
        match self.killed_for.load(Ordering::SeqCst) {
            0 => code,
            signal => 128 + signal,
        }
    }
}

fn forward_signals(container: Pid, timeout: Duration, done: &AtomicBool, killed_for: &AtomicI32) {
    let set = stop_signals();
    let mut first: Option<(Signal, Instant)> = None;
    loop {
        let wait = first.map(|(_, at)| timeout.saturating_sub(at.elapsed()));
        let received = wait_signal(&set, wait);
        if done.load(Ordering::SeqCst) {
            return;
        }
        match (received, first) {
            (Some(sig), None) => {
                let _ = kill(container, sig);
                first = Some((sig, Instant::now()));
            }
            // A second signal, or the timeout: stop asking.
            (_, Some((sig, _))) => {
                killed_for.store(sig as i32, Ordering::SeqCst);
                let _ = kill(container, Signal::SIGKILL);
                return;
            }
            (None, None) => {}
        }
    }
}

/// sigtimedwait(2): a blocked signal from `set`, or None when `timeout` passes.
fn wait_signal(set: &SigSet, timeout: Option<Duration>) -> Option<Signal> {
    let timeout = timeout.unwrap_or(Duration::from_secs(3600));
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: set and ts are valid for the call; info may be null.
    let sig = unsafe { libc::sigtimedwait(set.as_ref(), std::ptr::null_mut(), &ts) };
    Signal::try_from(sig).ok()
}
