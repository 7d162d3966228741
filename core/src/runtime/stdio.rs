//! The container's stdin, stdout and stderr are pipes, and mini-docker copies
//! bytes between them and its own (what docker's shim does). The container
//! never holds the caller's terminal or files: a terminal it held could be
//! typed into (ioctl TIOCSTI: a command the caller's shell then runs), and a
//! redirected file could be read back through /proc/1/fd/1.
//!
//! The copies use `std::io::copy`, which splice(2)s between pipes and files:
//! the bytes never pass through user space.

use std::fs::File;
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

use anyhow::{Context, Result};
use nix::fcntl::OFlag;
use nix::unistd::pipe2;

/// The pipes, before the container exists.
pub struct Pipes {
    /// The container's ends: its fds 0, 1 and 2.
    theirs: [OwnedFd; 3],
    /// Our ends: where we write its stdin, read its stdout and stderr.
    stdin: OwnedFd,
    stdout: OwnedFd,
    stderr: OwnedFd,
}

impl Pipes {
    pub fn new() -> Result<Pipes> {
        let cloexec = OFlag::O_CLOEXEC;
        let (stdin_r, stdin_w) = pipe2(cloexec).context("stdin pipe")?;
        let (stdout_r, stdout_w) = pipe2(cloexec).context("stdout pipe")?;
        let (stderr_r, stderr_w) = pipe2(cloexec).context("stderr pipe")?;
        Ok(Pipes {
            theirs: [stdin_r, stdout_w, stderr_w],
            stdin: stdin_w,
            stdout: stdout_r,
            stderr: stderr_r,
        })
    }

    /// The fd numbers the child dup2()s to 0, 1 and 2.
    pub fn container_ends(&self) -> [RawFd; 3] {
        self.theirs.each_ref().map(|fd| fd.as_raw_fd())
    }

    /// Once the child has its copies: close ours of its ends (or we would
    /// never see EOF), and start copying. `forward_stdin`: copy our stdin
    /// in (else the container's stdin ends at once). `wait_for_eof`: the
    /// container's processes all die with it (a PID namespace), so its
    /// output ends; without one, an orphan may hold the pipe forever.
    pub fn relay(self, forward_stdin: bool, wait_for_eof: bool) -> Relay {
        let Pipes {
            theirs,
            stdin,
            stdout,
            stderr,
        } = self;
        drop(theirs);
        if forward_stdin {
            // Detached: our stdin may never end. Dropping the pipe at our
            // EOF is the container's EOF.
            spawn_small(move || copy(0, stdin));
        } else {
            drop(stdin);
        }
        let outputs = [(stdout, 1), (stderr, 2)].map(|(pipe, to)| {
            let (done, finished) = channel();
            spawn_small(move || {
                copy_out(pipe, to);
                let _ = done.send(());
            });
            finished
        });
        Relay {
            outputs,
            wait_for_eof,
        }
    }
}

/// The copies of the container's output, running.
pub struct Relay {
    outputs: [Receiver<()>; 2],
    wait_for_eof: bool,
}

impl Relay {
    /// After the container ended: let the last bytes it wrote through.
    pub fn finish(self) {
        let patience = if self.wait_for_eof {
            Duration::MAX
        } else {
            Duration::from_millis(500)
        };
        self.wait(patience);
    }

    /// A start that failed: its message (a panic's, say) still goes out, briefly.
    pub fn abandon(self) {
        self.wait(Duration::from_secs(2));
    }

    fn wait(&self, patience: Duration) {
        for finished in &self.outputs {
            let _ = match patience {
                Duration::MAX => finished.recv().map_err(|_| ()),
                _ => finished.recv_timeout(patience).map_err(|_| ()),
            };
        }
    }
}

/// A copying thread needs little stack (io::copy's buffer is 8 KiB): a
/// small one is quicker to map and to tear down at exit.
fn spawn_small(copy: impl FnOnce() + Send + 'static) {
    let _ = std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(copy);
}

/// Our fd `from` (not closed when done) into `to`, until EOF or an error.
fn copy(from: RawFd, to: OwnedFd) {
    // SAFETY: `from` is one of our standard fds, open for the process's life;
    // ManuallyDrop never closes it.
    let mut source = ManuallyDrop::new(unsafe { File::from_raw_fd(from) });
    let _ = std::io::copy(&mut *source, &mut File::from(to));
}

/// The container's output pipe into our fd `to`. Straight to the fd, not
/// through `std::io::stdout()`, whose line buffer would hold back a prompt.
fn copy_out(from: OwnedFd, to: RawFd) {
    // SAFETY: as in `copy`: one of our standard fds, never closed here.
    let mut sink = ManuallyDrop::new(unsafe { File::from_raw_fd(to) });
    // When we cannot write (a closed pipe), dropping `from` passes that on:
    // the container's next write fails with EPIPE, as it would have.
    let _ = std::io::copy(&mut File::from(from), &mut *sink);
}
