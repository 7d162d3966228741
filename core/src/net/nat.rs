//! Outbound NAT for each bridge, with nftables, and IP forwarding.
//!
//! Set up once, when a bridge is made (off the start path): this is the one
//! place mini-docker runs a helper program — `nft -f -` — because nftables'
//! netlink API has no maintained pure-Rust crate and this runs once per boot.
//!
//! Each bridge has its own table, `ip mini_docker_<bridge>`: a second bridge
//! never replaces the first one's rules, and removing one leaves the others'.
//! ip_forward is shared by all: it goes back to the host's value only when the
//! last mini-docker bridge goes.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use super::ipam::Subnet;
use super::netlink::Netlink;
use crate::sys::lock::FileLock;

/// The one table every bridge shared before each had its own: removed by the
/// cleanup of the bridge it names, so an upgraded host is left clean too.
const SHARED_TABLE: &str = "mini_docker";
const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";
/// Every mini-docker bridge's alias remembers ip_forward's value from before
/// the first of them changed it: it lives exactly as long as the bridge,
/// whichever state dir made it, and marks the bridge as mini-docker's.
const ALIAS_PREFIX: &str = "mini-docker ip_forward was ";

/// The bridge's own nftables table.
pub fn table(bridge: &str) -> String {
    format!("mini_docker_{bridge}")
}

/// nft names a table with letters, digits, `_`, `-`, `.` (and no quotes in
/// every version): refuse other bridge names before anything is made.
pub fn check_bridge_name(bridge: &str) -> Result<()> {
    let fits = |c: char| c.is_ascii_alphanumeric() || "_-.".contains(c);
    if bridge.is_empty() || bridge.len() > 15 || !bridge.chars().all(fits) {
        bail!("--bridge {bridge:?}: use 1 to 15 letters, digits, '_', '-' or '.' (it names an interface and an nftables table)");
    }
    Ok(())
}

/// Masquerade the subnet when it leaves by any other interface than the bridge.
pub fn ruleset(subnet: Subnet, bridge: &str) -> String {
    let table = table(bridge);
    format!(
        "table ip {table} {{\n\
         \tchain postrouting {{\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\
         \t\tip saddr {subnet} oifname != \"{bridge}\" masquerade\n\t}}\n\
         \tchain forward {{\n\t\ttype filter hook forward priority filter; policy accept;\n\
         \t\tiifname \"{bridge}\" accept\n\
         \t\toifname \"{bridge}\" ct state established,related accept\n\t}}\n}}\n"
    )
}

/// Turn on forwarding (remembering the host's value on the bridge) and load
/// the bridge's NAT table.
pub fn enable(host: &Netlink, subnet: Subnet, bridge: &str) -> Result<()> {
    let _lock = forwarding_lock()?;
    // Once a mini-docker bridge exists, ip_forward reads 1: the host's own
    // value is the one the other bridges remember.
    let remembered = mini_docker_bridges(host)?
        .into_iter()
        .find(|(name, _)| name != bridge)
        .map(|(_, value)| value);
    let before = match remembered {
        Some(value) => value,
        None => fs::read_to_string(IP_FORWARD).unwrap_or_default(),
    };
    host.set_alias(bridge, &format!("{ALIAS_PREFIX}{}", before.trim()))?;
    fs::write(IP_FORWARD, "1").context("enable net.ipv4.ip_forward")?;
    // Replace any old copy of this bridge's table, then load it: idempotent.
    let table = table(bridge);
    let script = format!(
        "table ip {table}\ndelete table ip {table}\n{}",
        ruleset(subnet, bridge)
    );
    nft(&script).map(drop)
}

/// Before the bridge goes: remove its table; put ip_forward back as the host
/// had it if no other mini-docker bridge is left. Returns what it did
/// (nothing, if there was nothing of ours).
pub fn disable(host: &Netlink, bridge: &str) -> Result<Vec<String>> {
    let _lock = forwarding_lock()?;
    let mut done = Vec::new();
    let table = table(bridge);
    // `delete table` fails when there is none: that tells us whether it was there.
    if nft(&format!("delete table ip {table}\n")).is_ok() {
        done.push(format!("removed nftables table ip {table}"));
    }
    let shared = nft(&format!("list table ip {SHARED_TABLE}\n")).unwrap_or_default();
    if shared.contains(&format!("oifname != \"{bridge}\"")) {
        nft(&format!("delete table ip {SHARED_TABLE}\n"))?;
        done.push(format!("removed nftables table ip {SHARED_TABLE}"));
    }
    let bridges = mini_docker_bridges(host)?;
    let Some((_, value)) = bridges.iter().find(|(name, _)| name == bridge) else {
        return Ok(done);
    };
    let others: Vec<&str> = bridges
        .iter()
        .map(|(name, _)| name.as_str())
        .filter(|name| *name != bridge)
        .collect();
    if others.is_empty() {
        fs::write(IP_FORWARD, value).context("restore net.ipv4.ip_forward")?;
        done.push(format!("restored net.ipv4.ip_forward to {value}"));
    } else {
        done.push(format!(
            "left net.ipv4.ip_forward at 1: bridge(s) {} still use it",
            others.join(", ")
        ));
    }
    Ok(done)
}

/// The mini-docker bridges of this network namespace, with the ip_forward
/// value each remembers: the interfaces labelled by `enable`.
fn mini_docker_bridges(host: &Netlink) -> Result<Vec<(String, String)>> {
    let links = host.links()?.into_iter();
    Ok(links
        .filter_map(|link| {
            let value = link.alias?.strip_prefix(ALIAS_PREFIX)?.to_string();
            Some((link.name, value))
        })
        .collect())
}

/// Held while ip_forward and the bridges' labels change, so that one state
/// dir making a bridge and another removing one see each other. The lock is
/// on the sysctl file itself: host-wide (per network namespace), and nothing
/// is left behind.
fn forwarding_lock() -> Result<FileLock> {
    FileLock::exclusive(Path::new(IP_FORWARD))
}

/// `nft -f -` with `script` on its stdin; returns what it printed.
fn nft(script: &str) -> Result<String> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("run nft (install the nftables package: sudo apt-get install nftables)")?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(script.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("nft: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bridge_has_its_own_table() {
        let subnet: Subnet = "10.89.0.0/16".parse().unwrap();
        let rules = ruleset(subnet, "mdk1");
        assert!(rules.starts_with("table ip mini_docker_mdk1 {"), "{rules}");
        assert!(rules.contains("ip saddr 10.89.0.0/16 oifname != \"mdk1\" masquerade"));
        assert_ne!(table("mdk0"), table("mdk1"));
    }

    #[test]
    fn bridge_names_that_cannot_name_a_table_are_refused() {
        for good in ["mdk0", "br-test", "a_b.c", "x23456789012345"] {
            assert!(check_bridge_name(good).is_ok(), "{good}");
        }
        for bad in ["", "a b", "md\"k", "a;b", "x234567890123456", "mdk0}"] {
            assert!(check_bridge_name(bad).is_err(), "{bad}");
        }
    }
}
