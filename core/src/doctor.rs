//! `mini-docker doctor`: what this host supports, and how to fix what is missing.

use std::fs;
use std::path::Path;

use anyhow::Result;
use colored::Colorize;

use crate::rootfs;

#[derive(Clone)]
struct Finding {
    ok: bool,
    what: String,
    fix: String,
}

fn ok(what: impl Into<String>) -> Finding {
    Finding {
        ok: true,
        what: what.into(),
        fix: String::new(),
    }
}

fn missing(what: impl Into<String>, fix: impl Into<String>) -> Finding {
    Finding {
        ok: false,
        what: what.into(),
        fix: fix.into(),
    }
}

pub fn run(state_dir: &Path) -> Result<i32> {
    let findings = [
        vec![kernel()],
        namespaces(),
        vec![
            cgroups(),
            overlayfs(),
            bridge(),
            nftables(),
            unprivileged_userns(),
            id_range(),
            registry_tools(),
            busybox(),
            starter_rootfs(state_dir),
            root(),
        ],
    ]
    .concat();
    for f in &findings {
        if f.ok {
            println!("{} {}", " ok     ".green().bold(), f.what);
        } else {
            println!(
                "{} {} — {}",
                " missing".red().bold(),
                f.what,
                f.fix.yellow()
            );
        }
    }
    Ok(if findings.iter().all(|f| f.ok) { 0 } else { 1 })
}

fn kernel() -> Finding {
    let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let release = release.trim();
    let (major, minor) = parse_version(release);
    if (major, minor) >= (5, 11) {
        ok(format!("kernel {release}"))
    } else {
        missing(
            format!("kernel {release}"),
            "mini-docker needs Linux 5.11 or newer (close_range, pivot_root tricks)",
        )
    }
}

fn parse_version(release: &str) -> (u32, u32) {
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse().ok());
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

fn namespaces() -> Vec<Finding> {
    ["uts", "ipc", "pid", "mnt", "net", "user", "cgroup"]
        .iter()
        .map(|kind| {
            if Path::new(&format!("/proc/self/ns/{kind}")).exists() {
                ok(format!("{kind} namespace"))
            } else {
                missing(
                    format!("{kind} namespace"),
                    format!("rebuild the kernel with CONFIG_{}_NS", kind.to_uppercase()),
                )
            }
        })
        .collect()
}

fn cgroups() -> Finding {
    match cgroup_mode() {
        Some(mode) => ok(format!("cgroups: {mode}")),
        None => missing(
            "cgroups",
            "mount cgroup2 on /sys/fs/cgroup (systemd does this at boot)",
        ),
    }
}

/// v2 (unified), hybrid (v1 controllers + cgroup2 at unified/) or v1, from statfs magic numbers.
pub fn cgroup_mode() -> Option<&'static str> {
    let magic = |p: &str| {
        nix::sys::statfs::statfs(p)
            .ok()
            .map(|s| s.filesystem_type())
    };
    match magic("/sys/fs/cgroup")? {
        nix::sys::statfs::CGROUP2_SUPER_MAGIC => Some("v2 (unified)"),
        nix::sys::statfs::TMPFS_MAGIC => {
            if magic("/sys/fs/cgroup/unified") == Some(nix::sys::statfs::CGROUP2_SUPER_MAGIC) {
                Some("hybrid (v1 controllers, cgroup2 at /sys/fs/cgroup/unified)")
            } else {
                Some("v1")
            }
        }
        _ => None,
    }
}

fn overlayfs() -> Finding {
    let filesystems = fs::read_to_string("/proc/filesystems").unwrap_or_default();
    let loadable = fs::read_dir("/lib/modules").is_ok_and(|mut d| d.next().is_some());
    if filesystems.lines().any(|l| l.ends_with("overlay")) {
        ok("overlayfs")
    } else if loadable {
        ok("overlayfs (as a module: loads on first mount, or `sudo modprobe overlay`)")
    } else {
        missing("overlayfs", "sudo modprobe overlay (CONFIG_OVERLAY_FS)")
    }
}

fn unprivileged_userns() -> Finding {
    let read = |p: &str| fs::read_to_string(p).ok().map(|s| s.trim().to_string());
    if read("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        return missing(
            "unprivileged user namespaces",
            "sudo sysctl kernel.unprivileged_userns_clone=1",
        );
    }
    if read("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        return missing(
            "unprivileged user namespaces",
            "sudo sysctl user.max_user_namespaces=15000",
        );
    }
    if read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1") {
        return missing(
            "unprivileged user namespaces (AppArmor restricts them)",
            "sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0 (chapter 7, rootless)",
        );
    }
    ok("unprivileged user namespaces")
}

fn bridge() -> Finding {
    let loaded = Path::new("/sys/module/bridge").exists();
    let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let module = Path::new(&format!(
        "/lib/modules/{}/kernel/net/bridge",
        release.trim()
    ))
    .exists();
    if loaded || module {
        ok("bridge networking (chapter 6)")
    } else {
        missing(
            "bridge networking (chapter 6)",
            "CONFIG_BRIDGE: sudo modprobe bridge",
        )
    }
}

/// Chapter 9's checks start a real registry and push to it.
fn registry_tools() -> Finding {
    let absent: Vec<&str> = ["docker-registry", "skopeo"]
        .into_iter()
        .filter(|t| !on_path(t))
        .collect();
    if absent.is_empty() {
        ok("docker-registry and skopeo (chapter 9's checks run a local registry)")
    } else {
        missing(
            format!("{} (chapter 9's checks)", absent.join(", ")),
            format!("sudo apt-get install {}", absent.join(" ")),
        )
    }
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .chain(["/usr/sbin".into(), "/sbin".into()])
                .any(|d| d.join(tool).is_file())
        })
        .unwrap_or(false)
}

fn nftables() -> Finding {
    if on_path("nft") {
        ok("nftables (chapter 6: outbound NAT)")
    } else {
        missing(
            "nftables (chapter 6: outbound NAT)",
            "sudo apt-get install nftables",
        )
    }
}

/// Where --userns maps a root-run container (chapter 7).
fn id_range() -> Finding {
    let map = crate::userns::IdMap::remapped_root();
    let from = if fs::read_to_string("/etc/subuid")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("root:"))
    {
        "/etc/subuid"
    } else {
        "default; add a root: line to /etc/subuid to change it"
    };
    ok(format!("--userns maps container root to host uid {} ({} ids, {from}); rootless maps only your own uid, no newuidmap needed", map.host_uid, map.count))
}

fn busybox() -> Finding {
    match rootfs::find_static_busybox() {
        Ok(path) => ok(format!("static busybox at {}", path.display())),
        Err(_) => missing("static busybox", "sudo apt-get install busybox-static"),
    }
}

fn starter_rootfs(state_dir: &Path) -> Finding {
    let path = state_dir.join("rootfs/busybox");
    if path.is_dir() {
        ok(format!("starter rootfs at {}", path.display()))
    } else {
        // Made on demand, so not a failure: only the busybox it is made from can be missing.
        ok(format!(
            "starter rootfs: not made yet, will be made at {} on first use (or now: `sudo mini-docker rootfs`)",
            path.display()
        ))
    }
}

fn root() -> Finding {
    if nix::unistd::geteuid().is_root() {
        ok("running as root")
    } else {
        missing("running as root", "chapters 2 and up need root: use sudo")
    }
}
