//! The container's stdin, stdout and stderr are pipes, and mini-docker copies
//! bytes between them and its own (what docker's shim does). The container
//! never holds the caller's terminal or files: a terminal it held could be
//! typed into (ioctl TIOCSTI: a command the caller's shell then runs), and a
//! redirected file could be read back through /proc/1/fd/1.
//!
//! The copies use `std::io::copy`, which splice(2)s between pipes and files:
//! the bytes never pass through user space.

use std::fs::File;
use std::io::{Read, Write};
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
        self.relay_and_log(forward_stdin, wait_for_eof, None)
    }

    /// `relay`, and a copy of each output into `log` (stdout's, stderr's
    /// pipe to the json-file writer): an attached `run` keeps its output
    /// for `logs`, as docker does. The log's ends close when the copy ends.
    pub fn relay_and_log(
        self,
        forward_stdin: bool,
        wait_for_eof: bool,
        log: Option<[OwnedFd; 2]>,
    ) -> Relay {
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
        // One thread for both outputs: a start pays for one thread, not two.
        let (done, finished) = channel();
        let [out_log, err_log] = match log {
            Some([out, err]) => [Some(File::from(out)), Some(File::from(err))],
            None => [None, None],
        };
        spawn_small(move || {
            copy_outputs([(stdout, 1, out_log), (stderr, 2, err_log)]);
            let _ = done.send(());
        });
        Relay {
            finished,
            wait_for_eof,
        }
    }
}

/// The copy of the container's output, running.
pub struct Relay {
    finished: Receiver<()>,
    wait_for_eof: bool,
}

impl Relay {
    /// After the container ended: let the last bytes it wrote through.
    pub fn finish(self) {
        if self.wait_for_eof {
            let _ = self.finished.recv();
        } else {
            let _ = self.finished.recv_timeout(Duration::from_millis(500));
        }
    }

    /// A start that failed: its message (a panic's, say) still goes out, briefly.
    pub fn abandon(self) {
        let _ = self.finished.recv_timeout(Duration::from_secs(2));
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

/// The container's output pipes into our fds (stdout, stderr), as bytes
/// arrive on either, until both end. Straight to the fds, not through
/// `std::io::stdout()`, whose line buffer would hold back a prompt. When we
/// cannot write (a closed pipe), the container's pipe is closed: its next
/// write fails with EPIPE, as it would have.
fn copy_outputs(streams: [(OwnedFd, RawFd, Option<File>); 2]) {
    let mut open: Vec<Stream> = streams
        .into_iter()
        .map(|(from, to, log)| Stream {
            from,
            to,
            // Bytes spliced past us could not be logged.
            splice: log.is_none(),
            log,
        })
        .collect();
    let mut buf = vec![0u8; 64 * 1024];
    while !open.is_empty() {
        let mut polled: Vec<libc::pollfd> = open
            .iter()
            .map(|s| libc::pollfd {
                fd: s.from.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: `polled` is a valid array of pollfd of the length we pass.
        let ready = unsafe { libc::poll(polled.as_mut_ptr(), polled.len() as libc::nfds_t, -1) };
        if ready < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        let mut index = 0;
        open.retain_mut(|stream| {
            let revents = polled[index].revents;
            index += 1;
            revents == 0 || matches!(stream.move_some(&mut buf), Ok(1..))
        });
    }
}

/// One output of the container's, and where it goes.
struct Stream {
    from: OwnedFd,
    to: RawFd,
    /// splice(2) works to `to` (not to a terminal: then read and write).
    splice: bool,
    /// A copy of what passes, for the json-file log (attached `run`).
    log: Option<File>,
}

impl Stream {
    /// Move what is there (the pipe is readable); 0 at EOF.
    fn move_some(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.splice {
            // SAFETY: plain fds, no offsets (both may be pipes): the kernel
            // moves up to 1 MiB between them without our memory.
            let moved = unsafe {
                libc::splice(
                    self.from.as_raw_fd(),
                    std::ptr::null_mut(),
                    self.to,
                    std::ptr::null_mut(),
                    1 << 20,
                    0,
                )
            };
            if moved >= 0 {
                return Ok(moved as usize);
            }
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EINVAL) {
                return Err(err);
            }
            self.splice = false; // a terminal, say: copy through our buffer
        }
        // SAFETY: `from` is ours and outlives this borrow; `to` is one of our
        // standard fds, open for the process's life: ManuallyDrop closes neither.
        let mut from = ManuallyDrop::new(unsafe { File::from_raw_fd(self.from.as_raw_fd()) });
        let n = from.read(buf)?;
        // SAFETY: as above.
        let mut sink = ManuallyDrop::new(unsafe { File::from_raw_fd(self.to) });
        sink.write_all(&buf[..n])?;
        if let Some(log) = &mut self.log {
            // A log writer that is gone costs the log, never the output.
            if log.write_all(&buf[..n]).is_err() {
                self.log = None;
            }
        }
        Ok(n)
    }
}
