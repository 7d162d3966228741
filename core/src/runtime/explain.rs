//! `--explain`: the narrated demo mode. Each kernel step is printed to stderr,
//! with the reason the kernel needs it, as it happens.

use std::fs;
use std::path::Path;

use colored::Colorize;

use crate::cgroups::Driver;
use crate::net::Netlink;

/// Print one narrated step when `on`: `[ch05] pivot_root(".", ".")   why`.
pub fn step(on: bool, chapter: u8, call: &str, why: &str) {
    if on {
        // One write(2) per line: the container writes to the same terminal or
        // pipe, and a line split over several writes can be cut in two.
        let line = format!(
            "{} {:<48} {}\n",
            format!("[ch{chapter:02}]").cyan(),
            call.bold(),
            why.dimmed()
        );
        let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), line.as_bytes());
    }
}

/// Print what the kernel says a step actually did (read back, not assumed):
/// `[ch05]   → / propagation: slave (from master:12)`.
pub fn observed(on: bool, chapter: u8, what: &str) {
    if on {
        let line = format!(
            "{}   {} {}\n",
            format!("[ch{chapter:02}]").cyan(),
            "→".green(),
            what
        );
        let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), line.as_bytes());
    }
}

/// The propagation of the mount at "/" in this mount namespace, from
/// /proc/self/mountinfo's optional fields: shared:N, master:N, or none (private).
pub fn root_propagation() -> String {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    // The last "/" entry is the one on top.
    let Some(line) = mountinfo
        .lines()
        .rev()
        .find(|l| l.split(' ').nth(4) == Some("/"))
    else {
        return "unknown (no / in mountinfo)".into();
    };
    let optional: Vec<&str> = line.split(' ').skip(6).take_while(|f| *f != "-").collect();
    let tag = |prefix: &str| optional.iter().find(|f| f.starts_with(prefix)).copied();
    match (tag("shared:"), tag("master:")) {
        (Some(shared), Some(master)) => format!("shared ({shared}) and slave ({master})"),
        (Some(shared), None) => format!("shared ({shared}): our mounts reach its peers"),
        (None, Some(master)) => {
            format!("slave (from {master}): the host's mounts reach us, ours stay here")
        }
        // A slave of a mount with no shared peer has no master either.
        (None, None) => "private: nothing propagates either way".into(),
    }
}

/// Which namespaces `pid` has of its own, compared with ours (the host's
/// side): "uts ipc pid mnt net" new, the rest shared.
pub fn namespaces_of(pid: i32) -> String {
    let kinds = ["uts", "ipc", "pid", "mnt", "net", "user", "cgroup"];
    let ino = |who: &str, kind: &str| {
        std::fs::metadata(format!("/proc/{who}/ns/{kind}"))
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            .ok()
    };
    let (own, shared): (Vec<&str>, Vec<&str>) = kinds
        .iter()
        .partition(|k| ino(&pid.to_string(), k) != ino("self", k));
    format!(
        "own: {}; shared with mini-docker: {}",
        list(&own),
        list(&shared)
    )
}

/// Chapter 4: the processes a freshly mounted procfs lists — those of the
/// PID namespace of whoever mounted it — and who is pid 1 there.
pub fn proc_lists(proc: &Path) -> String {
    let mut pids: Vec<u32> = fs::read_dir(proc)
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    if pids.is_empty() {
        return "/proc lists no process: no procfs is mounted there".into();
    }
    pids.sort_unstable();
    let shown: Vec<String> = pids.iter().take(5).map(u32::to_string).collect();
    let more = if pids.len() > 5 { " ..." } else { "" };
    let init = fs::read_to_string(proc.join("1/comm")).unwrap_or_default();
    format!(
        "/proc lists {} process(es): {}{more}; pid 1 is {}",
        pids.len(),
        shown.join(" "),
        init.trim()
    )
}

/// Chapter 6, inside: lo and eth0 (up or down, their addresses) and the
/// default route, as netlink lists them (`ip addr`, `ip route`).
pub fn inside_network(inside: &Netlink, eth0: Option<&str>) -> String {
    let links = inside.links().unwrap_or_default();
    let interface = |name: &str| {
        let state = match links.iter().find(|l| l.name == name) {
            None => return format!("{name} missing"),
            Some(link) if link.up => "up",
            Some(_) => "down",
        };
        let addresses: Vec<String> = inside
            .ipv4_addresses(name)
            .unwrap_or_default()
            .iter()
            .map(|(address, prefix)| format!("{address}/{prefix}"))
            .collect();
        match addresses.is_empty() {
            true => format!("{name} {state}, no address"),
            false => format!("{name} {state} {}", addresses.join(" ")),
        }
    };
    let mut parts = vec![interface("lo")];
    parts.extend(eth0.map(interface));
    parts.push(match inside.default_gateway() {
        Ok(Some(gateway)) => format!("default via {gateway}"),
        _ => "no default route".into(),
    });
    parts.join("; ")
}

/// Chapter 6, host side: the veth's host end — which bridge it is a port of, up or down.
pub fn host_end(host: &Netlink, name: &str) -> String {
    let links = host.links().unwrap_or_default();
    let Some(end) = links.iter().find(|l| l.name == name) else {
        return format!("{name} missing");
    };
    let master = end
        .master
        .and_then(|index| links.iter().find(|l| l.index == index))
        .map_or("no master (on no bridge)".into(), |bridge| {
            format!("master {}", bridge.name)
        });
    format!("{name}: {master}, {}", if end.up { "up" } else { "down" })
}

/// Chapter 7: the id maps and setgroups of `pid`, as the kernel shows them.
pub fn id_maps(pid: i32) -> String {
    let read = |file: &str| {
        let text = fs::read_to_string(format!("/proc/{pid}/{file}")).unwrap_or_default();
        let lines: Vec<String> = text
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        match lines.is_empty() {
            true => "(empty)".into(),
            false => lines.join(", "),
        }
    };
    format!(
        "uid_map {}; gid_map {}; setgroups {}",
        read("uid_map"),
        read("gid_map"),
        read("setgroups")
    )
}

/// Chapter 8: the limit files, read back from the cgroup (a file the
/// cgroup does not have, like v1's cpu without --cpus, is left out).
pub fn cgroup_limits(driver: Driver) -> String {
    let files: Vec<(&str, std::path::PathBuf)> = match driver {
        Driver::V2(v2) => ["memory.max", "pids.max", "cpu.max"]
            .iter()
            .map(|f| (*f, v2.dir.join(f)))
            .collect(),
        Driver::V1(v1) => [
            ("memory", "memory.limit_in_bytes"),
            ("pids", "pids.max"),
            ("cpu", "cpu.cfs_quota_us"),
            ("cpu", "cpu.cfs_period_us"),
        ]
        .iter()
        .filter_map(|(controller, f)| {
            let dir = v1.dirs.iter().find(|(c, _)| c == controller)?;
            Some((*f, dir.1.join(f)))
        })
        .collect(),
    };
    let shown: Vec<String> = files
        .iter()
        .filter_map(|(name, path)| {
            let value = fs::read_to_string(path).ok()?;
            let value = value.trim();
            Some(match value.parse::<u64>() {
                Ok(bytes) if name.starts_with("memory") && (1 << 20..1 << 50).contains(&bytes) => {
                    format!("{name} {value} ({})", crate::cgroups::human_bytes(bytes))
                }
                _ => format!("{name} {value}"),
            })
        })
        .collect();
    shown.join("; ")
}

/// Chapter 10: the mount on `target` from /proc/self/mountinfo — its
/// fstype and, for an overlay, the super options that matter.
pub fn overlay_at(target: &Path) -> String {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let target = target.to_string_lossy();
    // The last entry on the mount point is the one on top.
    let Some(line) = mountinfo
        .lines()
        .rev()
        .find(|l| l.split(' ').nth(4) == Some(&*target))
    else {
        return format!("nothing is mounted on {target}");
    };
    // After the "-": fstype, source, super options.
    let mut after = line.split(" - ").nth(1).unwrap_or("").split(' ');
    let (fstype, options) = (after.next().unwrap_or("?"), after.nth(1).unwrap_or(""));
    if fstype != "overlay" {
        return format!("{target} is {fstype}, not an overlay");
    }
    let options: Vec<&str> = options.split(',').collect();
    let value = |key: &str| options.iter().find_map(|o| o.strip_prefix(key));
    let has = |option: &str| options.contains(&option);
    let lowers = value("lowerdir=").map_or(0, |l| l.split(':').filter(|d| !d.is_empty()).count());
    let volatile = has("volatile") || has("fsync=volatile"); // the latter from kernel 6.6
    format!(
        "overlay: {lowers} lowerdir(s), upperdir {}, {}, {}",
        value("upperdir=").unwrap_or("none"),
        if volatile { "volatile" } else { "not volatile" },
        if has("userxattr") {
            "userxattr"
        } else {
            "no userxattr"
        }
    )
}

fn list(items: &[&str]) -> String {
    match items.is_empty() {
        true => "none".into(),
        false => items.join(" "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_lists_counts_the_pid_directories_and_names_pid_1() {
        let proc = std::env::temp_dir().join(format!("explain-proc-{}", std::process::id()));
        for dir in ["1", "7", "self", "sys"] {
            fs::create_dir_all(proc.join(dir)).unwrap();
        }
        fs::write(proc.join("1/comm"), "sh\n").unwrap();
        let said = proc_lists(&proc);
        fs::remove_dir_all(&proc).unwrap();
        assert_eq!(said, "/proc lists 2 process(es): 1 7; pid 1 is sh");
        assert!(proc_lists(Path::new("/nonexistent")).contains("no procfs"));
    }

    #[test]
    fn id_maps_read_the_kernels_view_of_a_process() {
        let said = id_maps(std::process::id() as i32);
        // Root's maps: the whole id range, whatever namespace the test runs in.
        let fields: Vec<&str> = said.split("; ").collect();
        assert_eq!(fields.len(), 3, "{said}");
        assert!(fields[0].starts_with("uid_map 0 "), "{said}");
        assert!(fields[1].starts_with("gid_map 0 "), "{said}");
        assert!(
            fields[2] == "setgroups allow" || fields[2] == "setgroups deny",
            "{said}"
        );
    }

    #[test]
    fn overlay_at_names_what_is_mounted_or_not() {
        assert_eq!(
            overlay_at(Path::new("/nonexistent")),
            "nothing is mounted on /nonexistent"
        );
        assert!(overlay_at(Path::new("/proc")).ends_with("is proc, not an overlay"));
    }
}
