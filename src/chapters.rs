//! The table of chapters: one row per chapter, read by `chapter N`, checks and grade.

use std::path::Path;

use anyhow::Result;
use colored::Colorize;

use crate::checks;
use crate::selection::Selection;

pub struct Chapter {
    pub number: u8,
    pub slug: &'static str,
    pub title: &'static str,
    pub goal: &'static str,
    /// What the learner writes, in one line.
    pub task: &'static str,
    pub try_commands: &'static [&'static str],
}

impl Chapter {
    pub fn exercise_file(&self) -> String {
        format!("exercises/ch{:02}_{}.rs", self.number, self.slug)
    }
    pub fn lesson_file(&self) -> String {
        format!("chapters/{:02}-{}.md", self.number, self.slug)
    }
}

pub const CHAPTERS: [Chapter; 10] = [
    Chapter {
        number: 1,
        slug: "process",
        title: "process",
        goal: "Run a command as a child process, pass stdin/stdout/stderr through, return its exit status.",
        task: "exec_command (execvp), exit_code (128 + signal), wait_for (waitpid)",
        try_commands: &["mini-docker chapter 1 run -- /bin/echo hi", "mini-docker chapter 1 run -- /bin/sh -c 'kill -TERM $$'; echo $?"],
    },
    Chapter {
        number: 2,
        slug: "chroot",
        title: "chroot",
        goal: "Give the process its own / : the starter rootfs instead of the host's tree.",
        task: "enter_rootfs: chroot(2) then chdir(\"/\")",
        try_commands: &["sudo mini-docker chapter 2 run -- ls /", "sudo mini-docker chapter 2 run -- sh"],
    },
    Chapter {
        number: 3,
        slug: "uts",
        title: "UTS and IPC namespaces",
        goal: "A hostname and SysV IPC of the container's own: CLONE_NEWUTS, CLONE_NEWIPC, sethostname.",
        task: "namespaces (the clone flags), set_hostname (sethostname)",
        try_commands: &["sudo mini-docker chapter 3 run --hostname box -- hostname", "sudo mini-docker chapter 3 run -- uname -n"],
    },
    Chapter {
        number: 4,
        slug: "pid",
        title: "PID namespace",
        goal: "The command is PID 1 of its own PID namespace, with a fresh /proc; PID 1 reaps and forwards signals.",
        task: "namespaces (CLONE_NEWPID), mount_proc, init_loop (reap zombies, forward signals)",
        try_commands: &["sudo mini-docker chapter 4 run -- sh -c 'echo $$; ps'", "sudo mini-docker chapter 4 run --init -- ps"],
    },
    Chapter {
        number: 5,
        slug: "mount",
        title: "mount namespace and pivot_root",
        goal: "A mount table of its own: rslave, bind the rootfs, pivot_root, detach the host's tree, /proc /dev /sys.",
        task: "namespaces (CLONE_NEWNS), make_mounts_private, pivot_into (pivot_root), mount_sys",
                try_commands: &["sudo mini-docker chapter 5 run -- cat /proc/self/mountinfo", "sudo mini-docker chapter 5 run -- ls /dev"],
    },
    Chapter {
        number: 6,
        slug: "net",
        title: "network namespace",
        goal: "A network stack of its own: lo up, a veth into the host bridge, an address, a route, NAT, published ports.",
        task: "namespaces (CLONE_NEWNET), connect_to_bridge (veth + bridge port + move), configure_inside (lo, eth0, route)",
        try_commands: &["sudo mini-docker chapter 6 run -- ip addr", "sudo mini-docker chapter 6 run --network none -- ip link", "sudo mini-docker chapter 6 run -p 8080:80 -- httpd -f -p 80 -h /etc"],
    },
    Chapter {
        number: 7,
        slug: "userns",
        title: "user namespace",
        goal: "Root inside, nobody outside: CLONE_NEWUSER, uid_map/gid_map; rootless when you are not root.",
        task: "namespaces (CLONE_NEWUSER), write_id_maps (uid_map, setgroups, gid_map)",
                try_commands: &["sudo mini-docker chapter 7 run --userns -- id", "mini-docker chapter 7 run -- id   # as yourself: rootless"],
    },
    Chapter {
        number: 8,
        slug: "cgroups",
        title: "cgroups",
        goal: "Limits the kernel enforces: memory (OOM at the limit), number of processes, CPU time — on cgroup v1 and v2.",
        task: "cpu_quota, write_limits_v2 (memory.max, pids.max, cpu.max), write_limits_v1 (the v1 files)",
                try_commands: &["sudo mini-docker chapter 8 run --network none -m 32m -- cat /proc/self/cgroup", "sudo mini-docker chapter 8 run --network none -m 32m -- sh -c 'head -c 100000000 /dev/zero | sort'"],
    },
    Chapter {
        number: 9,
        slug: "pull",
        title: "pulling images",
        goal: "Speak the registry protocol: resolve a reference, do the token dance, pick this platform's manifest, verify every byte.",
        task: "parse_reference, parse_challenge, token_url, select_manifest",
                try_commands: &["mini-docker chapter 9 resolve busybox", "mini-docker chapter 9 resolve 127.0.0.1:5000/busybox@sha256:...", "mini-docker pull 127.0.0.1:5000/busybox   # a local registry"],
    },
    Chapter {
        number: 10,
        slug: "layers",
        title: "layers and overlay",
        goal: "Unpack image layers safely, turn OCI whiteouts into overlay's, stack the layers with overlayfs: docker run.",
        task: "whiteout (the OCI whiteout names), mount_overlay (lowerdir/upperdir/workdir)",
        try_commands: &["sudo mini-docker chapter 10 run 127.0.0.1:5000/busybox -- cat /proc/self/mountinfo", "sudo mini-docker run --rm 127.0.0.1:5000/busybox echo hi"],
    },
];

pub fn get(number: u8) -> &'static Chapter {
    &CHAPTERS[number as usize - 1]
}

/// `mini-docker chapter N`: the chapter's card, then the status of its checks.
pub fn show_intro(number: u8, state_dir: &Path, selection: Selection) -> Result<i32> {
    let ch = get(number);
    println!(
        "{}",
        format!("Chapter {} — {}", ch.number, ch.title)
            .bold()
            .cyan()
    );
    println!("{} {}", "Goal:".bold(), ch.goal);
    println!("{} {}", "Lesson:".bold(), ch.lesson_file());
    println!(
        "{} {}  ({})",
        "Exercise:".bold(),
        ch.exercise_file().yellow(),
        ch.task
    );
    println!("{}", "Try:".bold());
    for cmd in ch.try_commands {
        println!("  {}", cmd.green());
    }
    println!(
        "{} sudo mini-docker check {}   (stuck? --reference={} runs the reference)",
        "Check:".bold(),
        ch.number,
        ch.number
    );
    println!();
    if !nix::unistd::geteuid().is_root() && number >= 2 {
        println!("Status of its checks: run `sudo mini-docker chapter {number}` or `sudo mini-docker check {number}`.");
        return Ok(0);
    }
    println!("{}", "Status of its checks:".bold());
    let results = checks::run_chapters(&[number], state_dir, selection, true)?;
    checks::report::print_summary(&results);
    Ok(0)
}
