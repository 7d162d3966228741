//! The supervisor and the inside talk over one socketpair, in typed messages
//! (length-prefixed JSON, serde): this file is the whole protocol.
//!
//! ```text
//!   supervisor                                 inside (the container's first process)
//!   ── Config, then its seccomp program (raw) ▶ builds the filesystem meanwhile
//!   (id maps, cgroup, veth, /etc files)
//!   ── Go ───────────────────────────────────▶ binds /etc files, network, exec
//!   ◀── Failed { code, message }  if the start failed, else nothing:
//!       EOF (the exec closed the close-on-exec end) means "running"
//! ```

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};

use anyhow::{bail, Context, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::config::ContainerConfig;
use crate::security::seccomp_program::BpfProgram;

/// Supervisor → inside.
#[derive(Serialize, Deserialize)]
pub enum ToInside {
    /// How to build the container; it starts at once.
    Config(Box<ContainerConfig>),
    /// The host side is ready (maps, cgroup, network, /etc files): go on.
    Go,
}

/// Inside → supervisor: the start failed, and with which exit status
/// (125 mini-docker's own failure, 126 not executable, 127 not found).
#[derive(Serialize, Deserialize, Debug)]
pub struct Failed {
    pub code: i32,
    pub message: String,
}

/// Messages stay small: a config is a few KiB.
const MAX_MESSAGE: usize = 1 << 20;

/// A message as bytes on the wire: 4-byte little-endian length, then JSON.
/// (Also used to prepare a message before clone, for a child that may not
/// allocate.)
pub fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>> {
    let json = serde_json::to_vec(message).context("encode a message")?;
    if json.len() > MAX_MESSAGE {
        bail!("message too large ({} bytes)", json.len());
    }
    let mut bytes = (json.len() as u32).to_le_bytes().to_vec();
    bytes.extend(json);
    Ok(bytes)
}

/// Send one message (the socket's buffer holds it: this never waits for the peer).
pub fn send<T: Serialize>(socket: &impl AsFd, message: &T) -> Result<()> {
    let bytes = encode(message)?;
    borrowed_file(socket)
        .write_all(&bytes)
        .context("send to the other side")
}

/// Wait for one message; `None` when the other side closed its end first.
pub fn receive<T: DeserializeOwned>(socket: &impl AsFd) -> Result<Option<T>> {
    let mut file = borrowed_file(socket);
    let mut length = [0u8; 4];
    match file.read_exact(&mut length) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e).context("receive from the other side"),
    }
    let length = u32::from_le_bytes(length) as usize;
    if length > MAX_MESSAGE {
        bail!("message too large ({length} bytes)");
    }
    let mut json = vec![0u8; length];
    file.read_exact(&mut json).context("receive a message")?;
    Ok(Some(
        serde_json::from_slice(&json).context("decode a message")?,
    ))
}

/// Supervisor → inside, right after `Config`: the compiled seccomp program,
/// raw (a 4-byte little-endian length, then the instructions; length 0: no
/// filter). Not in the JSON: base64 inside a JSON string turns 7 KB into a
/// 16 KB message to encode, scan and decode, ~50 us and ~20 page faults a start.
pub fn send_program(socket: &impl AsFd, program: Option<&BpfProgram>) -> Result<()> {
    let bytes = program.map(BpfProgram::to_bytes).unwrap_or_default();
    let mut frame = (bytes.len() as u32).to_le_bytes().to_vec();
    frame.extend(bytes);
    borrowed_file(socket)
        .write_all(&frame)
        .context("send the seccomp program")
}

/// The inside's half of `send_program`.
pub fn receive_program(socket: &impl AsFd) -> Result<Option<BpfProgram>> {
    let mut file = borrowed_file(socket);
    let mut length = [0u8; 4];
    file.read_exact(&mut length)
        .context("receive the seccomp program")?;
    let length = u32::from_le_bytes(length) as usize;
    if length == 0 {
        return Ok(None);
    }
    if length > MAX_MESSAGE {
        bail!("seccomp program too large ({length} bytes)");
    }
    let mut bytes = vec![0u8; length];
    file.read_exact(&mut bytes)
        .context("receive the seccomp program")?;
    BpfProgram::from_bytes(&bytes).map(Some)
}

/// A connected pair of close-on-exec stream sockets: (supervisor's, inside's).
pub fn pair() -> Result<(OwnedFd, OwnedFd)> {
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
    socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .context("socketpair")
}

/// The socket as a `File`, borrowed: reads and writes without taking ownership.
fn borrowed_file(socket: &impl AsFd) -> std::mem::ManuallyDrop<std::fs::File> {
    use std::os::fd::{AsRawFd, FromRawFd};
    // SAFETY: the fd stays open for as long as `socket` is borrowed, and
    // ManuallyDrop never closes it: the File only lends read/write.
    std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(socket.as_fd().as_raw_fd()) })
}
