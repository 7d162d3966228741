//! Chapter 6 — network namespace.

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use nix::unistd::Pid;

use super::probe::{default_gateway, expect_own_namespace, interfaces_in, Interface};
use super::{random_hex, Check, Ctx};
use crate::net::ipam::leases_dir;

const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 88, 0, 1);
/// The default bridge's subnet, 10.88.0.0/16.
const BRIDGE_PREFIX: u8 = 16;

pub fn checks() -> Vec<Check> {
    vec![
        Check { id: "6.1", title: "/proc/PID/ns/net differs from mini-docker's (and the host's)", points: 1,
            hint: "add CloneFlags::CLONE_NEWNET to the clone flags", run: net_ns },
        Check { id: "6.2", title: "--network none: only lo, and lo is up", points: 2,
            hint: "configure_inside: inside.set_up(\"lo\") first, outside the `if let Some(link)` — a new network namespace's lo starts down, with or without a bridge", run: none_has_only_lo },
        Check { id: "6.3", title: "bridge: eth0 is up with an address in 10.88.0.0/16, a default route via 10.88.0.1; its peer is on the host, up, a port of mdk0", points: 3,
            hint: "connect_to_bridge: create_veth(&link.host_end, &link.peer), move_to_netns(&link.peer, container), set_master(&link.host_end, &link.bridge), set_up(&link.host_end); configure_inside: rename(&link.peer, &link.container_end) before it is up, add_address(&link.container_end, link.address, link.prefix), set_up(&link.container_end), then add_default_route(link.gateway)", run: bridge_eth0 },
        Check { id: "6.4", title: "the container reaches the bridge address (ping)", points: 1,
            hint: "both veth ends must be up, and the host end a port of the bridge", run: ping_bridge },
        Check { id: "6.5", title: "/etc/hosts names the container, /etc/resolv.conf has a nameserver", points: 1,
            hint: "the scaffold binds these files; they need chapter 6's address to be right", run: etc_files },
        Check { id: "6.6", title: "two containers at once get different addresses", points: 2,
            hint: "use link.address from the Attachment the scaffold allocated — never a fixed address", run: distinct_addresses },
        Check { id: "6.7", title: "-p HOSTPORT:80 serves busybox httpd's file to a host client on 127.0.0.1", points: 2,
            hint: "the proxy forwards to the container's eth0 address: eth0 needs that address and must be up", run: publish_port },
        Check { id: "6.8", title: "after exit: no veth, no lease, no container dir left", points: 2,
            hint: "move the container's end into its namespace (move_to_netns(&link.peer, container)): the pair then dies with the namespace", run: nothing_left },
    ]
}

fn net_ns(ctx: &Ctx) -> Result<()> {
    let running = ctx.start(6, &[], ":")?;
    expect_own_namespace(running.container_pid()?, running.supervisor(), "net", "CLONE_NEWNET")?;
    running.finish()?;
    Ok(())
}

fn none_has_only_lo(ctx: &Ctx) -> Result<()> {
    let running = ctx.start(6, &["--network", "none"], ":")?;
    let pid = running.container_pid()?;
    expect_own_namespace(pid, running.supervisor(), "net", "CLONE_NEWNET")?;
    let interfaces = interfaces_in(pid)?;
    running.finish()?;
    let names: Vec<&str> = interfaces.iter().map(|i| i.name.as_str()).collect();
    if names != ["lo"] {
        bail!("the namespace holds {names:?}, expected only lo");
    }
    if !interfaces[0].up {
        bail!("lo is down: even 127.0.0.1 is unreachable inside");
    }
    Ok(())
}

fn eth0(interfaces: &[Interface]) -> Result<&Interface> {
    let names: Vec<&str> = interfaces.iter().map(|i| i.name.as_str()).collect();
    interfaces
        .iter()
        .find(|i| i.name == "eth0")
        .with_context(|| format!("no eth0 in the container (it has {names:?})"))
}

fn in_subnet(ip: Ipv4Addr) -> bool {
    ip.octets()[..2] == [10, 88] && ip != GATEWAY
}

/// eth0's peer as the host sees it: the host interface whose ifindex is
/// eth0's iflink.
struct HostEnd {
    name: String,
    up: bool,
    /// The bridge it is a port of (/sys/class/net/NAME/master).
    master: Option<String>,
}

fn host_peer(pid: Pid) -> Result<HostEnd> {
    let iflink = fs::read_to_string(format!("/proc/{pid}/root/sys/class/net/eth0/iflink"))
        .context("eth0 has no iflink in the container's /sys")?;
    for entry in fs::read_dir("/sys/class/net")?.flatten() {
        let path = entry.path();
        let index = fs::read_to_string(path.join("ifindex")).unwrap_or_default();
        if index.trim() != iflink.trim() {
            continue;
        }
        // IFF_UP is bit 0 of the flags.
        let flags = fs::read_to_string(path.join("flags")).unwrap_or_default();
        let flags = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).unwrap_or(0);
        let master = fs::read_link(path.join("master")).ok();
        return Ok(HostEnd {
            name: entry.file_name().to_string_lossy().into_owned(),
            up: flags & libc::IFF_UP as u32 != 0,
            master: master
                .as_deref()
                .and_then(Path::file_name)
                .map(|n| n.to_string_lossy().into_owned()),
        });
    }
    bail!("eth0's peer (ifindex {}) is not on the host", iflink.trim())
}

fn bridge_eth0(ctx: &Ctx) -> Result<()> {
    let running = ctx.start(6, &[], ":")?;
    let pid = running.container_pid()?;
    let interfaces = interfaces_in(pid)?;
    let gateway = default_gateway(pid)?;
    let peer = host_peer(pid);
    running.finish()?;
    let eth0 = eth0(&interfaces)?;
    if !eth0.up || !eth0.ipv4.iter().copied().any(in_subnet) {
        bail!(
            "eth0 is {} with addresses {:?}: expected up, in 10.88.0.0/16",
            if eth0.up { "up" } else { "down" },
            eth0.ipv4
        );
    }
    let addresses = eth0.ipv4.iter().zip(&eth0.prefixes);
    if let Some((address, prefix)) = addresses.clone().find(|(_, &p)| p != BRIDGE_PREFIX) {
        bail!("eth0 has {address}/{prefix}, but the bridge's subnet is /{BRIDGE_PREFIX}: use the lease's prefix (link.prefix), or containers elsewhere on the subnet are unreachable");
    }
    if gateway != Some(GATEWAY) {
        bail!("default route via {gateway:?}, expected via {GATEWAY}: without it only the bridge's subnet is reachable");
    }
    let peer = peer?;
    if !peer.up {
        bail!("the host end {} is down: a veth carries nothing unless both ends are up", peer.name);
    }
    if peer.master.as_deref() != Some("mdk0") {
        bail!("the host end {} is not a port of mdk0", peer.name);
    }
    Ok(())
}

fn ping_bridge(ctx: &Ctx) -> Result<()> {
    let o = ctx.output(6, &[], &["ping", "-c", "1", "-W", "3", "10.88.0.1"], b"")?;
    super::expect_success(&o, "inside: ping -c 1 10.88.0.1")
}

fn etc_files(ctx: &Ctx) -> Result<()> {
    let name = format!("box-{}", random_hex(3)?);
    let running = ctx.start(6, &["--hostname", &name], ":")?;
    let pid = running.container_pid()?;
    let interfaces = interfaces_in(pid)?;
    let hosts = fs::read_to_string(format!("/proc/{pid}/root/etc/hosts"))?;
    let resolv = fs::read_to_string(format!("/proc/{pid}/root/etc/resolv.conf"))?;
    // Finished before any verdict: a killed mini-docker would leave its lease.
    running.finish()?;
    let address = eth0(&interfaces)?.ipv4.first().copied();
    let address = address.context("eth0 has no address")?;
    if !hosts.lines().any(|l| {
        l.split_whitespace().collect::<Vec<_>>() == [address.to_string().as_str(), name.as_str()]
    }) {
        bail!("/etc/hosts inside does not map {name} to {address}:\n{hosts}");
    }
    if !resolv.lines().any(|l| l.starts_with("nameserver ")) {
        bail!("/etc/resolv.conf inside has no nameserver");
    }
    Ok(())
}

fn distinct_addresses(ctx: &Ctx) -> Result<()> {
    let a = ctx.start(6, &[], ":")?;
    let b = ctx.start(6, &[], ":")?;
    let in_a = interfaces_in(a.container_pid()?)?;
    let in_b = interfaces_in(b.container_pid()?)?;
    let leases = fs::read_dir(leases_dir(&ctx.state_dir))
        .map(|d| d.count())
        .unwrap_or(0);
    a.finish()?;
    b.finish()?;
    let ip_a = eth0(&in_a)?.ipv4.clone();
    let ip_b = eth0(&in_b)?.ipv4.clone();
    if ip_a.is_empty() || ip_a == ip_b {
        bail!("both containers got {ip_a:?} / {ip_b:?}");
    }
    if leases < 2 {
        bail!("{leases} lease file(s) under the state dir while two containers ran");
    }
    Ok(())
}

/// A free port on the host (bind to 0, read it back, let it go).
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn publish_port(ctx: &Ctx) -> Result<()> {
    let port = free_port()?;
    let secret = random_hex(8)?;
    // /dev/shm is the container's own tmpfs: nothing is left in the shared rootfs.
    let script = format!("mkdir /dev/shm/www && echo {secret} > /dev/shm/www/index.html && httpd -p 80 -h /dev/shm/www");
    let running = ctx.start(6, &["-p", &format!("127.0.0.1:{port}:80")], &script)?;
    let body = http_get(port);
    running.finish()?;
    let body = body?;
    if !body.contains(&secret) {
        bail!("GET http://127.0.0.1:{port}/ answered without the file's content:\n{body}");
    }
    Ok(())
}

fn http_get(port: u16) -> Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .with_context(|| format!("connect to 127.0.0.1:{port}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"GET /index.html HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut body = String::new();
    stream
        .read_to_string(&mut body)
        .context("read the HTTP answer")?;
    Ok(body)
}

fn nothing_left(ctx: &Ctx) -> Result<()> {
    let running = ctx.start(6, &[], ":")?;
    let pid = running.container_pid()?;
    let interfaces = interfaces_in(pid)?;
    let peer = host_peer(pid);
    running.finish()?;
    eth0(&interfaces)?;
    let peer = peer?.name;
    // The kernel deletes the pair when the container's network namespace dies,
    // in its own worker: give it a moment.
    let gone = (0..40).any(|_| {
        let gone = !Path::new("/sys/class/net").join(&peer).exists();
        if !gone {
            std::thread::sleep(Duration::from_millis(50));
        }
        gone
    });
    if !gone {
        bail!("the host end {peer} of the veth is still there 2 s after the container ended");
    }
    let leases = fs::read_dir(leases_dir(&ctx.state_dir))
        .map(|d| d.count())
        .unwrap_or(0);
    let containers = fs::read_dir(ctx.state_dir.join("containers"))
        .map(|d| d.count())
        .unwrap_or(0);
    if leases > 0 || containers > 0 {
        bail!("{leases} lease(s) and {containers} container dir(s) left in the state dir");
    }
    Ok(())
}
