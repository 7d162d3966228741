//! `--explain`: the narrated demo mode. Each kernel step is printed to stderr,
//! with the reason the kernel needs it, as it happens.

use colored::Colorize;

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

fn list(items: &[&str]) -> String {
    match items.is_empty() {
        true => "none".into(),
        false => items.join(" "),
    }
}
