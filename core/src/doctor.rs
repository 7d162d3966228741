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
            seccomp(),
            devices(),
            overlayfs(),
            bridge(),
            nftables(),
            unprivileged_userns(),
            apparmor_userns(
                Path::new(APPARMOR_USERNS_SYSCTL),
                Path::new(APPARMOR_PROFILE),
                &std::env::current_exe().unwrap_or_default(),
            ),
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

/// Chapter 11's seccomp filter needs the kernel's filter mode (the Seccomp
/// field of /proc/self/status, and the actions it can take) and libseccomp
/// (linked in) able to build a filter.
fn seccomp() -> Finding {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let Some(mode) = status.lines().find_map(|l| l.strip_prefix("Seccomp:")) else {
        return missing("seccomp", "rebuild the kernel with CONFIG_SECCOMP");
    };
    let Ok(actions) = fs::read_to_string("/proc/sys/kernel/seccomp/actions_avail") else {
        return missing(
            "seccomp filters",
            "rebuild the kernel with CONFIG_SECCOMP_FILTER",
        );
    };
    let library = match libseccomp::ScmpVersion::current() {
        Ok(v) => format!("libseccomp {}.{}.{}", v.major, v.minor, v.micro),
        Err(_) => "libseccomp".to_string(),
    };
    let api = libseccomp::get_api();
    match libseccomp::ScmpFilterContext::new_filter(libseccomp::ScmpAction::Allow) {
        Ok(_) => ok(format!(
            "seccomp: kernel filters (this process: mode {}; actions: {}), {library} (API level {api}) builds a filter",
            mode.trim(),
            actions.trim()
        )),
        Err(e) => missing(
            format!("seccomp: {library} (API level {api}) cannot build a filter"),
            format!("{e}: reinstall libseccomp-dev and rebuild"),
        ),
    }
}

/// Chapter 11's device allow-list: v1's devices controller, or on v2 a
/// BPF_PROG_TYPE_CGROUP_DEVICE program (loaded here once, then dropped).
fn devices() -> Finding {
    match crate::cgroups::detect() {
        Ok(crate::cgroups::Mode::V1 { .. }) => match crate::cgroups::v1::mount_point("devices") {
            Ok(point) => ok(format!(
                "devices: the v1 devices controller at {} (allow-list files)",
                point.display()
            )),
            Err(_) => missing(
                "devices: no v1 devices controller",
                "mount it: mkdir /sys/fs/cgroup/devices && mount -t cgroup -o devices cgroup /sys/fs/cgroup/devices",
            ),
        },
        Ok(crate::cgroups::Mode::V2) if !nix::unistd::geteuid().is_root() => {
            ok("devices: cgroup v2 BPF device filter (loading it needs root: not tried)")
        }
        Ok(crate::cgroups::Mode::V2) => match crate::cgroups::devices::device_program_loadable() {
            Ok(()) => ok("devices: cgroup v2 BPF_PROG_TYPE_CGROUP_DEVICE program loads"),
            Err(e) => missing(
                "devices: cgroup v2 BPF device filter",
                format!("{e:#} (the kernel needs CONFIG_CGROUP_BPF)"),
            ),
        },
        Err(_) => missing(
            "devices",
            "no cgroup filesystem: mount cgroup2 on /sys/fs/cgroup",
        ),
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
    ok("unprivileged user namespaces")
}

/// Ubuntu 23.10+ (so the workshop's Vagrant VM, Ubuntu 24.04) lets an
/// unprivileged process create a user namespace only if an AppArmor profile
/// grants it `userns`: rootless chapter 7 fails for everyone until one does.
const APPARMOR_USERNS_SYSCTL: &str = "/proc/sys/kernel/apparmor_restrict_unprivileged_userns";
/// The profile setup.sh installs for the built binary.
const APPARMOR_PROFILE: &str = "/etc/apparmor.d/mini-docker";

/// The AppArmor restriction, read from `sysctl` (a parameter, so a test can
/// hand it a fake file): absent or 0 is fine; 1 needs `profile` to name `exe`.
fn apparmor_userns(sysctl: &Path, profile: &Path, exe: &Path) -> Finding {
    const WHAT: &str = "AppArmor and unprivileged user namespaces (chapter 7, rootless)";
    let Ok(value) = fs::read_to_string(sysctl) else {
        return ok(format!("{WHAT}: no restriction on this kernel"));
    };
    if value.trim() != "1" {
        return ok(format!("{WHAT}: allowed ({})", sysctl.display()));
    }
    let granted = fs::read_to_string(profile)
        .is_ok_and(|text| text.contains("userns,") && text.contains(&*exe.to_string_lossy()));
    if granted {
        return ok(format!(
            "{WHAT}: restricted, but {} grants them to {}",
            profile.display(),
            exe.display()
        ));
    }
    missing(
        format!("{WHAT}: restricted ({} = 1)", sysctl.display()),
        format!(
            "run ./setup.sh (it installs {}, granting `userns` to {}), or sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0",
            profile.display(),
            exe.display()
        ),
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake sysctl (or profile) file with `text`, in a temp dir of its own.
    struct Fake(std::path::PathBuf);

    impl Fake {
        fn new(name: &str, text: Option<&str>) -> Fake {
            let dir = std::env::temp_dir()
                .join(format!("mini-docker-doctor-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            let file = dir.join(name);
            if let Some(text) = text {
                fs::write(&file, text).unwrap();
            }
            Fake(file)
        }
    }

    impl Drop for Fake {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(self.0.parent().unwrap());
        }
    }

    const EXE: &str = "/workshop/target/x86_64-unknown-linux-gnu/debug/mini-docker";

    fn profile_for(exe: &str) -> String {
        format!("abi <abi/4.0>,\ninclude <tunables/global>\n\nprofile mini-docker \"{exe}\" flags=(unconfined) {{\n  userns,\n}}\n")
    }

    #[test]
    fn apparmor_restriction_absent_or_off_is_fine() {
        let none = Fake::new("absent-profile", None);
        for (name, value) in [("missing", None), ("zero", Some("0\n"))] {
            let sysctl = Fake::new(name, value);
            let finding = apparmor_userns(&sysctl.0, &none.0, Path::new(EXE));
            assert!(finding.ok, "sysctl {value:?}: {}", finding.what);
        }
    }

    #[test]
    fn apparmor_restriction_without_a_profile_names_the_fix() {
        let sysctl = Fake::new("one", Some("1\n"));
        let none = Fake::new("no-profile", None);
        let finding = apparmor_userns(&sysctl.0, &none.0, Path::new(EXE));
        assert!(!finding.ok, "{}", finding.what);
        assert!(finding.fix.contains("setup.sh"), "{}", finding.fix);
        assert!(
            finding
                .fix
                .contains("kernel.apparmor_restrict_unprivileged_userns=0"),
            "{}",
            finding.fix
        );
    }

    #[test]
    fn apparmor_restriction_with_our_profile_is_fine_only_for_its_binary() {
        let sysctl = Fake::new("one-granted", Some("1\n"));
        let profile = Fake::new("profile", Some(&profile_for(EXE)));
        assert!(apparmor_userns(&sysctl.0, &profile.0, Path::new(EXE)).ok);
        let other = apparmor_userns(&sysctl.0, &profile.0, Path::new("/usr/local/bin/other"));
        assert!(!other.ok, "a profile for another binary grants nothing");
    }
}
