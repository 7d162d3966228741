//! Reading the kernel's state about a process from the host side.

use std::fs;
use std::os::unix::fs::MetadataExt;

use anyhow::{anyhow, Context, Result};
use nix::sched::CloneFlags;
use nix::unistd::Pid;

/// The inode of a namespace: two processes share it iff they share the namespace.
pub fn ns_inode(pid: Option<Pid>, kind: &str) -> Result<u64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/ns/{kind}"),
        None => format!("/proc/self/ns/{kind}"),
    };
    Ok(fs::metadata(&path)
        .with_context(|| format!("stat {path}"))?
        .ino())
}

/// Fail unless `pid` is in a different `kind` namespace than mini-docker
/// (`supervisor`). Not than the check: mini-docker runs in a sandbox whose
/// UTS and PID namespaces are not the host's (see sandbox.rs).
pub fn expect_own_namespace(pid: Pid, supervisor: Pid, kind: &str, flag: &str) -> Result<()> {
    let theirs = ns_inode(Some(pid), kind)?;
    let mini_docker = ns_inode(Some(supervisor), kind)?;
    if theirs == mini_docker {
        anyhow::bail!("/proc/{pid}/ns/{kind} is mini-docker's own ({kind}:[{mini_docker}]): the container shares it — no {flag}?");
    }
    Ok(())
}

fn all_pids() -> Vec<Pid> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .map(Pid::from_raw)
        .collect()
}

/// Fields of /proc/PID/stat after the command name: state, ppid, ...
fn stat_fields(pid: Pid) -> Option<Vec<String>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    Some(after_name.split_whitespace().map(str::to_string).collect())
}

/// The process state letter (R, S, Z, ...).
pub fn state(pid: Pid) -> Option<char> {
    stat_fields(pid)?.first()?.chars().next()
}

pub fn children_of(parent: Pid) -> Result<Vec<Pid>> {
    let ppid = parent.as_raw().to_string();
    Ok(all_pids()
        .into_iter()
        .filter(|&pid| stat_fields(pid).is_some_and(|f| f.get(1) == Some(&ppid)))
        .collect())
}

/// The NSpid line of /proc/PID/status: the pid in each nested namespace, outermost first.
pub fn nspid(pid: Pid) -> Result<Vec<i32>> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("read /proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("NSpid:"))
        .ok_or_else(|| anyhow!("no NSpid in /proc/{pid}/status"))?;
    Ok(line[6..]
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect())
}

/// Host pids of every process in the PID namespace with inode `ns`.
pub fn pids_in_pid_ns(ns: u64) -> Vec<Pid> {
    all_pids()
        .into_iter()
        .filter(|&pid| ns_inode(Some(pid), "pid").ok() == Some(ns))
        .collect()
}

/// One line of /proc/PID/mountinfo.
#[derive(Debug, Clone)]
pub struct Mount {
    pub root: String,
    pub mount_point: String,
    pub options: String,
    pub fstype: String,
    pub source: String,
    /// The filesystem's own options (overlay: lowerdir=…,upperdir=…).
    pub super_options: String,
}

pub fn mountinfo(pid: Option<Pid>) -> Result<Vec<Mount>> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/mountinfo"),
        None => "/proc/self/mountinfo".to_string(),
    };
    let text = fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    Ok(text.lines().filter_map(parse_mount).collect())
}

fn parse_mount(line: &str) -> Option<Mount> {
    let (left, right) = line.split_once(" - ")?;
    let left: Vec<&str> = left.split(' ').collect();
    let right: Vec<&str> = right.split(' ').collect();
    Some(Mount {
        root: unescape(left.get(3)?),
        mount_point: unescape(left.get(4)?),
        options: left.get(5)?.to_string(),
        fstype: right.first()?.to_string(),
        source: unescape(right.get(1)?),
        super_options: right.get(2).map(|o| o.to_string()).unwrap_or_default(),
    })
}

/// mountinfo escapes space, tab, newline and backslash as \ooo.
fn unescape(field: &str) -> String {
    let mut out = String::new();
    let mut chars = field.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let digits: String = chars.by_ref().take(3).collect();
            out.push(
                u8::from_str_radix(&digits, 8)
                    .map(char::from)
                    .unwrap_or('?'),
            );
        } else {
            out.push(c);
        }
    }
    out
}

/// Run `f` in a fresh thread that has joined `pid`'s namespace of `kind`
/// (setns is per-thread for UTS and IPC, so the rest of the process is untouched).
pub fn in_namespace<T, F>(pid: Pid, kind: &'static str, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let path = format!("/proc/{pid}/ns/{kind}");
    let file = fs::File::open(&path).with_context(|| format!("open {path}"))?;
    let flag = match kind {
        "uts" => CloneFlags::CLONE_NEWUTS,
        "ipc" => CloneFlags::CLONE_NEWIPC,
        other => anyhow::bail!("in_namespace: {other} is not per-thread"),
    };
    std::thread::spawn(move || {
        nix::sched::setns(&file, flag).with_context(|| format!("setns({path})"))?;
        Ok(f())
    })
    .join()
    .map_err(|_| anyhow!("namespace probe thread panicked"))?
}

pub fn hostname_here() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.nodename().to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// One network interface as the container's namespace sees it.
#[derive(Debug)]
pub struct Interface {
    pub name: String,
    pub up: bool,
    pub ipv4: Vec<std::net::Ipv4Addr>,
    /// The prefix length of each address in `ipv4`, in the same order.
    pub prefixes: Vec<u8>,
}

/// The interfaces of `pid`'s network namespace: getifaddrs(3) from a thread
/// that joined it with setns(2) (network namespaces are per-thread too).
pub fn interfaces_in(pid: Pid) -> Result<Vec<Interface>> {
    let path = format!("/proc/{pid}/ns/net");
    let file = fs::File::open(&path).with_context(|| format!("open {path}"))?;
    std::thread::spawn(move || -> Result<Vec<Interface>> {
        nix::sched::setns(&file, CloneFlags::CLONE_NEWNET)
            .with_context(|| format!("setns({path})"))?;
        let mut found: Vec<Interface> = Vec::new();
        for ifa in nix::ifaddrs::getifaddrs()? {
            let up = ifa.flags.contains(nix::net::if_::InterfaceFlags::IFF_UP);
            let ip = ifa
                .address
                .as_ref()
                .and_then(|a| a.as_sockaddr_in())
                .map(|s| s.ip());
            let prefix = ifa
                .netmask
                .as_ref()
                .and_then(|m| m.as_sockaddr_in())
                .map(|m| u32::from(m.ip()).count_ones() as u8);
            let prefix = ip.map(|_| prefix.unwrap_or(32));
            match found.iter_mut().find(|i| i.name == ifa.interface_name) {
                Some(existing) => {
                    existing.ipv4.extend(ip);
                    existing.prefixes.extend(prefix);
                }
                None => found.push(Interface {
                    name: ifa.interface_name.clone(),
                    up,
                    ipv4: ip.into_iter().collect(),
                    prefixes: prefix.into_iter().collect(),
                }),
            }
        }
        Ok(found)
    })
    .join()
    .map_err(|_| anyhow!("interface probe thread panicked"))?
}

/// The gateway of the default route in `pid`'s network namespace (/proc/PID/net/route).
pub fn default_gateway(pid: Pid) -> Result<Option<std::net::Ipv4Addr>> {
    let table = fs::read_to_string(format!("/proc/{pid}/net/route"))?;
    Ok(table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) != Some(&"00000000") {
            return None;
        }
        let raw = u32::from_str_radix(fields.get(2)?, 16).ok()?;
        Some(std::net::Ipv4Addr::from(raw.to_le_bytes()))
    }))
}
