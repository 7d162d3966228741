//! Chapter 14 — the daemon: the Docker Engine API (reference solution).
//! Lesson: chapters/14-daemon.md   Check: mini-docker check 14

use anyhow::{bail, Result};

use mini_docker::daemon::PortBinding;

/// The header of one frame of a multiplexed stream (attach, logs, exec
/// without a TTY): the stream (1 stdout, 2 stderr), three zero bytes, then
/// the payload's length as a big-endian u32.
pub fn frame_header(stream: u8, len: usize) -> [u8; 8] {
    let size = (len as u32).to_be_bytes();
    [stream, 0, 0, 0, size[0], size[1], size[2], size[3]]
}

/// HostConfig.PortBindings as `run` flags: `-p HOST:CONTAINER`, with
/// `IP:` in front when the binding names an address.
pub fn publish_flags(bindings: &[PortBinding]) -> Result<Vec<String>> {
    let mut flags = Vec::new();
    for binding in bindings {
        let (port, protocol) = binding
            .container_port
            .split_once('/')
            .unwrap_or((&binding.container_port, "tcp"));
        if protocol != "tcp" {
            bail!("{}: only tcp ports can be published", binding.container_port);
        }
        let value = match binding.host_ip.as_str() {
            "" => format!("{}:{port}", binding.host_port),
            ip => format!("{ip}:{}:{port}", binding.host_port),
        };
        flags.push("-p".to_string());
        flags.push(value);
    }
    Ok(flags)
}
