//! /etc/hosts and /etc/resolv.conf for one container, written under the
//! state dir and bind-mounted over the rootfs's own (docker does the same):
//! containers sharing a rootfs never fight over them.

use std::fs;
use std::net::Ipv4Addr;
use std::path::Path;

use anyhow::{Context, Result};

pub fn hosts(hostname: &str, address: Option<Ipv4Addr>) -> String {
    let mut text =
        String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    match address {
        Some(ip) => text.push_str(&format!("{ip}\t{hostname}\n")),
        None => text.push_str(&format!("127.0.1.1\t{hostname}\n")),
    }
    text
}

/// The host's nameservers, minus loopback ones (systemd-resolved's 127.0.0.53
/// is unreachable from another network namespace); docker's fallback otherwise.
pub fn resolv_conf(host_resolv: &str) -> String {
    let mut servers: Vec<&str> = host_resolv
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .map(str::trim)
        .filter(|s| !s.starts_with("127.") && *s != "::1")
        .collect();
    if servers.is_empty() {
        servers = vec!["8.8.8.8", "1.1.1.1"];
    }
    servers
        .iter()
        .map(|s| format!("nameserver {s}\n"))
        .collect()
}

/// One per-container file: where it lives on the host, where it is bound
/// in the container, and what it says.
pub struct EtcFile {
    pub source: std::path::PathBuf,
    pub target: String,
    pub content: String,
}

/// Both files for a container whose directory is `dir` (nothing written yet:
/// the supervisor writes them while the init mounts, see `write_all`).
pub fn plan(dir: &Path, hostname: &str, address: Option<Ipv4Addr>) -> Vec<EtcFile> {
    let host_resolv = fs::read_to_string("/run/systemd/resolve/resolv.conf")
        .or_else(|_| fs::read_to_string("/etc/resolv.conf"))
        .unwrap_or_default();
    vec![
        EtcFile {
            source: dir.join("hosts"),
            target: "/etc/hosts".into(),
            content: hosts(hostname, address),
        },
        EtcFile {
            source: dir.join("resolv.conf"),
            target: "/etc/resolv.conf".into(),
            content: resolv_conf(&host_resolv),
        },
    ]
}

pub fn write_all(files: &[EtcFile]) -> Result<()> {
    for file in files {
        fs::write(&file.source, &file.content)
            .with_context(|| format!("write {}", file.source.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_drops_loopback_servers() {
        assert_eq!(
            resolv_conf("nameserver 127.0.0.53\nnameserver 10.1.1.1\n"),
            "nameserver 10.1.1.1\n"
        );
        assert_eq!(
            resolv_conf("nameserver 127.0.0.53\n"),
            "nameserver 8.8.8.8\nnameserver 1.1.1.1\n"
        );
    }

    #[test]
    fn hosts_names_the_container() {
        assert!(hosts("box", Some(Ipv4Addr::new(10, 88, 0, 2))).contains("10.88.0.2\tbox"));
    }
}
