//! Outbound NAT for the bridge, with nftables, and IP forwarding.
//!
//! Set up once, when the bridge is made (off the start path): this is the one
//! place mini-docker runs a helper program — `nft -f -` — because nftables'
//! netlink API has no maintained pure-Rust crate and this runs once per boot.

use std::fs;
use std::io::Write;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use super::ipam::Subnet;
use super::netlink::Netlink;

pub const TABLE: &str = "mini_docker";
const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";
/// The bridge's alias remembers ip_forward's value from before we changed it:
/// it lives exactly as long as the bridge, whichever state dir made it.
const ALIAS_PREFIX: &str = "mini-docker ip_forward was ";

/// Masquerade the subnet when it leaves by any other interface than the bridge.
pub fn ruleset(subnet: Subnet, bridge: &str) -> String {
    format!(
        "table ip {TABLE} {{\n\
         \tchain postrouting {{\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\
         \t\tip saddr {subnet} oifname != \"{bridge}\" masquerade\n\t}}\n\
         \tchain forward {{\n\t\ttype filter hook forward priority filter; policy accept;\n\
         \t\tiifname \"{bridge}\" accept\n\
         \t\toifname \"{bridge}\" ct state established,related accept\n\t}}\n}}\n"
    )
}

/// Turn on forwarding (remembering the old value on the bridge) and load the NAT table.
pub fn enable(host: &Netlink, subnet: Subnet, bridge: &str) -> Result<()> {
    let before = fs::read_to_string(IP_FORWARD).unwrap_or_default();
    host.set_alias(bridge, &format!("{ALIAS_PREFIX}{}", before.trim()))?;
    fs::write(IP_FORWARD, "1").context("enable net.ipv4.ip_forward")?;
    // Replace any old copy of our table, then load it: idempotent.
    let script = format!(
        "table ip {TABLE}\ndelete table ip {TABLE}\n{}",
        ruleset(subnet, bridge)
    );
    nft(&script)
}

/// Before the bridge goes: remove our table, put ip_forward back as we found
/// it. Returns what it did (nothing, if there was nothing of ours).
pub fn disable(bridge: &str) -> Result<Vec<String>> {
    let mut done = Vec::new();
    // `delete table` fails when there is none: that tells us whether it was there.
    if nft(&format!("delete table ip {TABLE}\n")).is_ok() {
        done.push(format!("removed nftables table ip {TABLE}"));
    }
    let alias = fs::read_to_string(format!("/sys/class/net/{bridge}/ifalias")).unwrap_or_default();
    if let Some(value) = alias.trim().strip_prefix(ALIAS_PREFIX) {
        fs::write(IP_FORWARD, value).context("restore net.ipv4.ip_forward")?;
        done.push(format!("restored net.ipv4.ip_forward to {value}"));
    }
    Ok(done)
}
fn nft(script: &str) -> Result<()> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
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
    Ok(())
}
