//! `run -t`: a terminal for the container, the way runc's console socket works.
//!
//! The pty is opened by the container's init *inside* the container (its own
//! devpts, after pivot_root), so the command sees /dev/pts/0. The init sends
//! the master side to the supervisor over a Unix socket (SCM_RIGHTS), makes
//! the slave the command's controlling terminal, and the supervisor copies
//! bytes between its own terminal (in raw mode) and the master. Ctrl-C is then
//! just a byte: the container's line discipline turns it into SIGINT for the
//! container's foreground process group — job control works in `sh`.

use std::fs::File;
use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};

use anyhow::{bail, Context, Result};
use nix::fcntl::OFlag;
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg, Termios};

/// (supervisor's end, init's end) of the console socket.
pub fn console_pair() -> Result<(OwnedFd, OwnedFd)> {
    socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .context("console socketpair")
}

/// In the init, after pivot_root: open a pty in the container's devpts, send
/// its master to the supervisor, return the slave.
pub fn open_and_send(console: RawFd) -> Result<OwnedFd> {
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY).context("open /dev/ptmx")?;
    grantpt(&master).context("grantpt")?;
    unlockpt(&master).context("unlockpt")?;
    let name = ptsname_r(&master).context("ptsname")?;
    let slave = nix::fcntl::open(
        name.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .with_context(|| format!("open {name}"))?;
    let fds = [master.as_raw_fd()];
    sendmsg::<()>(
        console,
        &[IoSlice::new(b"t")],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .context("send the terminal to mini-docker")?;
    let _ = nix::unistd::close(console);
    // SAFETY: open returned a fresh fd that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(slave) })
}

/// In the process that becomes the command: a new session whose controlling
/// terminal is the slave, which is also stdin, stdout and stderr.
pub fn make_controlling(slave: &OwnedFd) -> Result<()> {
    // The container's first process is a session leader already (spawn.rs);
    // the command --init forks is not.
    if nix::unistd::getsid(None).ok() != Some(nix::unistd::getpid()) {
        nix::unistd::setsid().context("setsid")?;
    }
    // SAFETY: TIOCSCTTY on a valid terminal fd.
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } != 0 {
        bail!("TIOCSCTTY: {}", std::io::Error::last_os_error());
    }
    for target in 0..3 {
        nix::unistd::dup2(slave.as_raw_fd(), target).context("dup2 the terminal")?;
    }
    Ok(())
}

/// In the supervisor: the master, or None if the init failed before sending it.
pub fn receive_master(console: OwnedFd) -> Result<Option<OwnedFd>> {
    let mut byte = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let message = recvmsg::<()>(
        console.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::empty(),
    )
    .context("receive the terminal")?;
    for cmsg in message.cmsgs().context("terminal message")? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            if let Some(&fd) = fds.first() {
                // SAFETY: the kernel just installed this fd for us.
                return Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }));
            }
        }
    }
    Ok(None)
}

/// Our terminal in raw mode while the container runs; restored when dropped.
pub struct RawMode(pub Option<Termios>);

impl RawMode {
    pub fn enter() -> RawMode {
        let stdin = std::io::stdin();
        let Ok(saved) = tcgetattr(stdin.as_fd()) else {
            return RawMode(None);
        };
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        let _ = tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw);
        RawMode(Some(saved))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            let _ = tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, saved);
        }
    }
}

/// Copy our terminal's size to the container's: stdin's, or stdout's when
/// stdin is not a terminal (`exec -t` without -i; docker sizes by its output).
pub fn copy_window_size(master: &OwnedFd) {
    for ours in [0, 1] {
        // SAFETY: winsize is a plain C struct of integers: all-zero is a valid value.
        let mut size: libc::winsize = unsafe { std::mem::zeroed() };
        // SAFETY: TIOCGWINSZ writes one winsize to a valid, exclusive &mut size
        // (an fd that is not a terminal is just an error return).
        if unsafe { libc::ioctl(ours, libc::TIOCGWINSZ, &mut size) } == 0 {
            // SAFETY: master is an open pty fd we borrow for the call, and
            // TIOCSWINSZ only reads the winsize the call above filled.
            unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size) };
            return;
        }
    }
}

/// The container's terminal follows ours: its size now, and again at each
/// SIGWINCH (the kernel sends it when our terminal is resized); setting the
/// pty's size makes the kernel signal the container's foreground group in
/// turn, so a shell or an editor inside redraws. SIGWINCH is blocked in the
/// calling thread, and the threads it starts after, for one thread to
/// sigwait(2) it: call this before starting any thread, after forking
/// anything that execs (a blocked SIGWINCH would be the command's too).
pub fn follow_window_size(master: &OwnedFd) -> Result<()> {
    use nix::sys::signal::{SigSet, Signal};
    let mut winch = SigSet::empty();
    winch.add(Signal::SIGWINCH);
    // Blocked before the first copy: a resize in between is waiting for us, not lost.
    winch.thread_block().context("block SIGWINCH")?;
    copy_window_size(master);
    let master = master.try_clone().context("dup the pty master")?;
    std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(move || {
            while winch.wait().is_ok() {
                copy_window_size(&master);
            }
        })
        .context("start the window size thread")?;
    Ok(())
}

/// Relay bytes: master -> our stdout (joinable: it ends when the container's
/// side closes), and our stdin -> master if `input` (detached: stdin may never end).
pub fn relay(master: OwnedFd, input: bool) -> Result<std::thread::JoinHandle<()>> {
    relay_and_log(master, input, None)
}

/// `relay`, and what the container's terminal prints copied into `log`
/// too (the json-file writer's stdout pipe: an attached `run -t` keeps its
/// output for `logs`, as docker's does).
pub fn relay_and_log(
    master: OwnedFd,
    input: bool,
    log: Option<OwnedFd>,
) -> Result<std::thread::JoinHandle<()>> {
    let mut from_container = File::from(master.try_clone()?);
    if input {
        let mut to_container = File::from(master);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            let mut stdin = std::io::stdin().lock();
            while let Ok(n @ 1..) = stdin.read(&mut buf) {
                if to_container.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
    }
    let mut log = log.map(File::from);
    Ok(std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut stdout = std::io::stdout();
        // EIO once every slave fd is closed: the container has ended.
        while let Ok(n @ 1..) = from_container.read(&mut buf) {
            if stdout
                .write_all(&buf[..n])
                .and_then(|_| stdout.flush())
                .is_err()
            {
                break;
            }
            // A log writer that is gone costs the log, never the output.
            if log
                .as_mut()
                .is_some_and(|l| l.write_all(&buf[..n]).is_err())
            {
                log = None;
            }
        }
    }))
}
