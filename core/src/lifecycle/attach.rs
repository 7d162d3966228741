//! The shim's attach socket (chapter 14): STATE_DIR/containers/ID/attach.sock
//! carries a client's keystrokes to the container's stdin.
//!
//! Only stdin goes through it. The output is already kept, in order and
//! whole, in the json-file log the shim writes (logs.rs; a `-t` container's
//! chunks as they come): an attacher follows that file from where it was
//! when it attached, so nothing written between `attach` and `start` (an
//! `echo hi` that is over in a millisecond) is lost, and any number of
//! attachers can read without the shim knowing them.
//!
//! The socket exists for containers a front-end created (their directory is
//! there before the shim starts) with `-i`: the shim's fd 0 becomes a pipe
//! this thread feeds. The first attacher's EOF closes the container's stdin
//! (docker's `StdinOnce`): `echo hi | docker run -i IMAGE cat` ends.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

pub const ATTACH_SOCKET: &str = "attach.sock";

pub fn socket_path(dir: &Path) -> PathBuf {
    dir.join(ATTACH_SOCKET)
}

/// Shim side: our fd 0 becomes a pipe whose other end the socket's first
/// client writes into. Call before `launch` (the supervisor relays fd 0).
pub fn serve_stdin(dir: &Path) -> Result<()> {
    let (read_end, write_end) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("the stdin pipe")?;
    // dup2 clears O_CLOEXEC on fd 0: the supervisor's relay reads it.
    nix::unistd::dup2(read_end.as_raw_fd(), 0).context("stdin from the attach pipe")?;
    drop(read_end);
    let path = socket_path(dir);
    let _ = std::fs::remove_file(&path); // a `start` again: the last run's
    let listener = via_short_path(dir, UnixListener::bind)
        .with_context(|| format!("bind {}", path.display()))?;
    // Root's only: whoever writes here types into the container.
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .with_context(|| format!("chmod {}", path.display()))?;
    std::thread::spawn(move || {
        let mut stdin = File::from(write_end);
        if let Some(Ok(client)) = listener.incoming().next() {
            forward(client, &mut stdin);
        }
        // Dropped: the container reads EOF.
    });
    Ok(())
}

/// Each chunk as it comes, with read(2) and write(2). Not `io::copy`: it
/// splices from a socket to a pipe, and a splice from a unix socket may
/// hold a short write (a typed line) until more comes — a shell would wait
/// for its command until the next keystroke.
fn forward(mut client: UnixStream, stdin: &mut File) {
    use std::io::{Read, Write};
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = client.read(&mut buf) {
        if stdin.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

/// Client side: connect to a container's attach socket.
pub fn connect(dir: &Path) -> std::io::Result<UnixStream> {
    via_short_path(dir, UnixStream::connect)
}

/// A unix socket's path must fit in `sun_path` (108 bytes), and
/// STATE_DIR/containers/<64 hex>/attach.sock may not: name it through an fd
/// of the container's directory instead, `/proc/self/fd/N/attach.sock`,
/// valid while the returned `File` is open.
pub fn short_socket_path(dir: &Path) -> std::io::Result<(File, PathBuf)> {
    let fd = File::open(dir)?; // a directory opens read-only; close-on-exec
    let path = PathBuf::from(format!("/proc/self/fd/{}/{ATTACH_SOCKET}", fd.as_raw_fd()));
    Ok((fd, path))
}

fn via_short_path<T>(
    dir: &Path,
    call: impl FnOnce(PathBuf) -> std::io::Result<T>,
) -> std::io::Result<T> {
    let (_dir_fd, path) = short_socket_path(dir)?;
    call(path)
}
