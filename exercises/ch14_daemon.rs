//! Chapter 14 — the daemon: the Docker Engine API.
//! Lesson: chapters/14-daemon.md   Check: mini-docker check 14
//!
//! `mini-docker daemon` already serves the API; two small pieces of it are
//! yours. Until `frame_header` is written, attach, logs and exec without a
//! TTY answer 501; until `publish_flags` is, so does every create.

use anyhow::Result;

use mini_docker::daemon::PortBinding;

/// The 8-byte header in front of each chunk of a multiplexed stream.
/// `stream`: 1 for stdout, 2 for stderr; `len`: the payload's length.
pub fn frame_header(stream: u8, len: usize) -> [u8; 8] {
    // TODO(ch14): docker's stream format: which byte says the stream, which
    //             bytes are always zero, and in which byte order the length
    //             goes (the CLI reads it with binary.BigEndian.Uint32).
    //             Lesson: "The multiplexed stream".
    todo!("frame_header — chapters/14-daemon.md, \"The multiplexed stream\"")
}

/// HostConfig.PortBindings (`"80/tcp": [{"HostIp": "", "HostPort": "8080"}]`)
/// as the `-p` flags chapter 6's `run` takes: `["-p", "8080:80"]`.
pub fn publish_flags(bindings: &[PortBinding]) -> Result<Vec<String>> {
    // TODO(ch14): one `-p` per binding. Which side of `-p A:B` is the host's?
    //             The key carries a protocol ("80/tcp") that `-p` does not
    //             take (refuse anything but tcp), and a HostIp, when there
    //             is one, goes in front ("127.0.0.1:8080:80").
    //             Lesson: "From JSON to run flags".
    todo!("publish_flags — chapters/14-daemon.md, \"From JSON to run flags\"")
}
