//! The workshop's one table: every chapter, once.
//!
//! A row says what a chapter is (number, slug, title, goal, what to try), the
//! functions the learner writes for it (the *steps*: each exists twice with
//! the same signature, in `exercises/chNN_slug.rs` and `solutions/chNN_slug.rs`)
//! and the checks that prove it. Everything else iterates this table:
//! `mini-docker chapter N`, the `--reference` range, `check`/`grade`, the
//! wiring of the learner's code into the binary (`src/main.rs`), the tests
//! (both directions per chapter) and the README's chapter table (a test).
//!
//! Adding chapter N = its five files (lesson, slides, exercise, solution,
//! `checks/chNN.rs`) + one row below + the call sites in the runtime.
//! (`checks/mod.rs` declares the check modules from this table too.)
//!
//! Why a macro and not a TOML file: the steps are Rust signatures, so the
//! compiler checks them here, in the exercises and in the solutions alike;
//! nothing is generated out of sight. The table is plain data handed to a
//! "callback" macro: this crate's (`define_chapters`, below) makes the
//! metadata and the `Steps` types; the binary's (`src/main.rs`) declares the
//! exercise and solution modules and picks between them per chapter.

use std::convert::Infallible;
use std::ffi::CString;
use std::os::fd::BorrowedFd;
use std::path::Path;

use anyhow::Result;
use nix::sched::CloneFlags;
use nix::sys::signal::SigSet;
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;

use crate::cgroups::devices::{DeviceCgroup, DeviceRule};
use crate::cgroups::v1::{CgroupV1, Hierarchy};
use crate::cgroups::v2::CgroupV2;
use crate::cgroups::{CgroupFs, Limits};
use crate::daemon::PortBinding;
use crate::image::image_ref::ImageRef;
use crate::image::layer::Whiteout;
use crate::image::manifest::Descriptor;
use crate::image::platform::Platform;
use crate::image::registry::{Authorization, Challenge, Dance};
use crate::lifecycle::state::State;
use crate::net::{Attachment, Netlink};
use crate::oci::plan::{CapabilitySets, MountPlan, NamespacePlan};
use crate::security::caps::Capabilities;
use crate::security::seccomp::Policy;
use crate::security::seccomp_program::BpfProgram;
use crate::selection::Selection;
use crate::userns::IdMap;
use libseccomp::ScmpFilterContext;
use oci_spec::runtime::{LinuxCapabilities, LinuxNamespace, Mount};

/// The table. `chapter_table!(some_macro)` hands every row to `some_macro!`.
#[macro_export]
macro_rules! chapter_table {
    ($then:ident) => {
        $then! {
            chapter 1 ch01_process {
                about: {
                    slug: "process",
                    title: "process",
                    goal: "Run a command as a child process, pass stdin/stdout/stderr through, return its exit status.",
                    task: "exec_command (execvp), exit_code (128 + signal), wait_for (waitpid)",
                    try_commands: ["mini-docker chapter 1 run -- /bin/echo hi", "mini-docker chapter 1 run -- /bin/sh -c 'kill -TERM $$'; echo $?"],
                },
                steps: {
                    fn exec_command(argv: &[CString]) -> nix::Result<Infallible>;
                    fn exit_code(status: WaitStatus) -> i32;
                    fn wait_for(child: Pid) -> Result<i32>;
                },
                checks: ch01,
            }
            chapter 2 ch02_chroot {
                about: {
                    slug: "chroot",
                    title: "chroot",
                    goal: "Give the process its own / : the starter rootfs instead of the host's tree.",
                    task: "enter_rootfs: chroot(2) then chdir(\"/\")",
                    try_commands: ["sudo mini-docker chapter 2 run -- ls /", "sudo mini-docker chapter 2 run -- sh"],
                },
                steps: {
                    fn enter_rootfs(rootfs: &Path) -> Result<()>;
                },
                checks: ch02,
            }
            chapter 3 ch03_uts {
                about: {
                    slug: "uts",
                    title: "UTS and IPC namespaces",
                    goal: "A hostname and SysV IPC of the container's own: CLONE_NEWUTS, CLONE_NEWIPC, sethostname.",
                    task: "namespaces (the clone flags), set_hostname (sethostname)",
                    try_commands: ["sudo mini-docker chapter 3 run --hostname box -- hostname", "sudo mini-docker chapter 3 run -- uname -n"],
                },
                steps: {
                    fn namespaces() -> CloneFlags;
                    fn set_hostname(name: &str) -> Result<()>;
                },
                checks: ch03,
            }
            chapter 4 ch04_pid {
                about: {
                    slug: "pid",
                    title: "PID namespace",
                    goal: "The command is PID 1 of its own PID namespace, with a fresh /proc; PID 1 reaps and forwards signals.",
                    task: "namespaces (CLONE_NEWPID), mount_proc, init_loop (reap zombies, forward signals)",
                    try_commands: ["sudo mini-docker chapter 4 run -- sh -c 'echo $$; ps'", "sudo mini-docker chapter 4 run --init -- ps"],
                },
                steps: {
                    fn namespaces() -> CloneFlags;
                    fn mount_proc(target: &Path) -> Result<()>;
                    fn init_loop(command: Pid, signals: &SigSet) -> Result<WaitStatus>;
                },
                checks: ch04,
            }
            chapter 5 ch05_mount {
                about: {
                    slug: "mount",
                    title: "mount namespace and pivot_root",
                    goal: "A mount table of its own: rslave, bind the rootfs, pivot_root, detach the host's tree, /proc /dev /sys.",
                    task: "namespaces (CLONE_NEWNS), make_mounts_private, pivot_into (pivot_root), mount_sys",
                    try_commands: ["sudo mini-docker chapter 5 run -- cat /proc/self/mountinfo", "sudo mini-docker chapter 5 run -- ls /dev"],
                },
                steps: {
                    fn namespaces() -> CloneFlags;
                    fn make_mounts_private() -> Result<()>;
                    fn pivot_into(rootfs: &Path) -> Result<()>;
                    fn mount_sys(target: &Path) -> Result<()>;
                },
                checks: ch05,
            }
            chapter 6 ch06_net {
                about: {
                    slug: "net",
                    title: "network namespace",
                    goal: "A network stack of its own: lo up, a veth into the host bridge, an address, a route, NAT, published ports.",
                    task: "namespaces (CLONE_NEWNET), connect_to_bridge (veth pair, move the peer into the container, bridge port, up), configure_inside (lo up, rename to eth0, address/prefix, up, default route)",
                    try_commands: ["sudo mini-docker chapter 6 run -- ip addr", "sudo mini-docker chapter 6 run --network none -- ip link", "sudo mini-docker chapter 6 run -p 8080:80 -- httpd -f -p 80 -h /etc"],
                },
                steps: {
                    fn namespaces() -> CloneFlags;
                    fn connect_to_bridge(host: &Netlink, container: Pid, link: &Attachment) -> Result<()>;
                    fn configure_inside(inside: &Netlink, link: Option<&Attachment>) -> Result<()>;
                },
                checks: ch06,
            }
            chapter 7 ch07_userns {
                about: {
                    slug: "userns",
                    title: "user namespace",
                    goal: "Root inside, nobody outside: CLONE_NEWUSER, uid_map/gid_map; rootless when you are not root.",
                    task: "namespaces (CLONE_NEWUSER), write_id_maps (uid_map, setgroups, gid_map)",
                    try_commands: ["sudo mini-docker chapter 7 run --userns -- id", "mini-docker chapter 7 run -- id   # as yourself: rootless"],
                },
                steps: {
                    fn namespaces() -> CloneFlags;
                    fn write_id_maps(child: Pid, map: &IdMap) -> Result<()>;
                },
                checks: ch07,
            }
            chapter 8 ch08_cgroups {
                about: {
                    slug: "cgroups",
                    title: "cgroups",
                    goal: "Limits the kernel enforces: memory (OOM at the limit), number of processes, CPU time — on cgroup v1 and v2.",
                    task: "the cgroup's lifecycle, for v2 and v1: create (subtree_control top-down; a directory per v1 hierarchy), write_limits, join before exec, oom_kills, remove (rmdir, retried)",
                    try_commands: ["sudo mini-docker chapter 8 run --network none -m 32m -- cat /proc/self/cgroup", "sudo mini-docker chapter 8 run --network none -m 32m -- sh -c 'head -c 100000000 /dev/zero | sort'"],
                },
                steps: {
                    fn create_v2(root: &Path, id: &str) -> Result<CgroupV2>;
                    fn write_limits_v2(cgroup: &CgroupV2, limits: &Limits) -> Result<()>;
                    fn join_v2(cgroup: &CgroupV2, pid: Pid, release: &dyn Fn() -> Result<()>) -> Result<()>;
                    fn oom_kills_v2(cgroup: &CgroupV2) -> Result<u64>;
                    fn remove_v2(cgroup: &CgroupV2) -> Result<()>;
                    fn create_v1(hierarchies: &[Hierarchy], id: &str) -> Result<CgroupV1>;
                    fn write_limits_v1(cgroup: &CgroupV1, limits: &Limits) -> Result<()>;
                    fn join_v1(cgroup: &CgroupV1, pid: Pid, release: &dyn Fn() -> Result<()>) -> Result<()>;
                    fn oom_kills_v1(cgroup: &CgroupV1) -> Result<u64>;
                    fn remove_v1(cgroup: &CgroupV1) -> Result<()>;
                },
                checks: ch08,
            }
            chapter 9 ch09_pull {
                about: {
                    slug: "pull",
                    title: "pulling images",
                    goal: "Speak the registry protocol: resolve a reference, do the token dance, pick this platform's manifest, verify every byte.",
                    task: "parse_image_ref, parse_challenge, token_url, authorize, select_manifest",
                    try_commands: ["mini-docker chapter 9 resolve busybox", "mini-docker chapter 9 resolve 127.0.0.1:5000/busybox@sha256:...", "mini-docker pull 127.0.0.1:5000/busybox   # a local registry"],
                },
                steps: {
                    fn parse_image_ref(text: &str) -> Result<ImageRef>;
                    fn parse_challenge(header: &str) -> Result<Challenge>;
                    fn token_url(challenge: &Challenge, repository: &str) -> Result<String>;
                    fn authorize(challenge: &Challenge, dance: &Dance) -> Result<Authorization>;
                    fn select_manifest<'a>(manifests: &'a [Descriptor], wanted: &Platform) -> Option<&'a Descriptor>;
                },
                checks: ch09,
            }
            chapter 10 ch10_layers {
                about: {
                    slug: "layers",
                    title: "layers and overlay",
                    goal: "Unpack image layers safely, turn OCI whiteouts into overlay's, stack the layers with overlayfs: docker run.",
                    task: "whiteout (the OCI whiteout names), apply_whiteout (overlay's form: a 0/0 char device, the opaque xattr), mount_overlay (lowerdir/upperdir/workdir)",
                    try_commands: ["sudo mini-docker chapter 10 run 127.0.0.1:5000/busybox -- cat /proc/self/mountinfo", "sudo mini-docker run --rm 127.0.0.1:5000/busybox echo hi"],
                },
                steps: {
                    fn whiteout(name: &str) -> Result<Option<Whiteout>>;
                    fn apply_whiteout(parent: BorrowedFd<'_>, whiteout: &Whiteout, in_user_namespace: bool) -> Result<()>;
                    fn mount_overlay(lowers: &[String], upper: &Path, work: &Path, target: &Path, in_user_namespace: bool, volatile: bool) -> Result<()>;
                },
                checks: ch10,
            }
            chapter 11 ch11_hardening {
                about: {
                    slug: "hardening",
                    title: "hardening and the escape room",
                    goal: "Contain root like docker does: 14 capabilities, seccomp, no_new_privs, a cgroup namespace, masked and read-only paths, a device allow-list. Then try to break out.",
                    task: "limit_capabilities, set_no_new_privs, seccomp_filter (libseccomp) + load_seccomp (seccomp(2)), mask_paths, make_read_only, isolate_cgroupfs (CLONE_NEWCGROUP), restrict_devices",
                    try_commands: ["sudo mini-docker chapter 11 run -- grep Cap /proc/self/status", "sudo mini-docker chapter 11 run -- sh -c 'mount -t tmpfs x /mnt; cat /proc/keys; echo 1 > /proc/sys/kernel/domainname'", "sudo mini-docker check 11"],
                },
                steps: {
                    fn isolate_cgroupfs(target: &Path, cgroupfs: &CgroupFs) -> Result<()>;
                    fn mask_paths(paths: &[&Path]) -> Result<()>;
                    fn make_read_only(path: &Path) -> Result<()>;
                    fn seccomp_filter(policy: &Policy) -> Result<ScmpFilterContext>;
                    fn load_seccomp(program: &BpfProgram) -> Result<()>;
                    fn limit_capabilities(keep: &Capabilities) -> Result<()>;
                    fn set_no_new_privs() -> Result<()>;
                    fn restrict_devices(cgroup: DeviceCgroup<'_>, allowed: &[DeviceRule]) -> Result<()>;
                },
                checks: ch11,
            }
            chapter 12 ch12_lifecycle {
                about: {
                    slug: "lifecycle",
                    title: "lifecycle, the shim and exec",
                    goal: "Containers that outlive the client: a shim per container keeps its output and exit status; exec joins a running container's namespaces, cgroup and hardening.",
                    task: "join_namespaces (open /proc/PID/ns/*, setns in order: user, ..., mnt last), record_exit (the shim writes down how PID 1 ended)",
                    try_commands: ["sudo mini-docker run -d --name web 127.0.0.1:5000/busybox httpd -f -p 80", "sudo mini-docker exec web ps", "sudo mini-docker exec -it web sh", "sudo mini-docker check 12"],
                },
                steps: {
                    fn join_namespaces(container: Pid, user: bool) -> Result<()>;
                    fn record_exit(state: &mut State, code: i32, oom_killed: bool) -> ();
                },
                checks: ch12,
            }
            chapter 13 ch13_oci {
                about: {
                    slug: "oci",
                    title: "speak OCI: podman drives mini-docker",
                    goal: "Become an OCI runtime: runc's command line (create, start, state, kill, delete, exec) over a bundle's config.json, so podman runs its containers with mini-docker.",
                    task: "namespace_plan (linux.namespaces -> clone flags + paths to join), mount_plan (mount options -> mount(2) flags), capability_sets (process.capabilities -> the five sets)",
                    try_commands: ["sudo mini-docker check 13", "sudo podman --runtime /usr/local/bin/mini-docker-runc run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 IMAGE echo hi"],
                },
                steps: {
                    fn namespace_plan(namespaces: &[LinuxNamespace]) -> Result<NamespacePlan>;
                    fn mount_plan(mount: &Mount) -> Result<MountPlan>;
                    fn capability_sets(capabilities: &LinuxCapabilities) -> Result<CapabilitySets>;
                },
                checks: ch13,
            }
            chapter 14 ch14_daemon {
                about: {
                    slug: "daemon",
                    title: "the daemon: the Engine API",
                    goal: "Serve the Docker Engine API on a unix socket so the real docker CLI drives mini-docker: the API is the seam between client and engine.",
                    task: "frame_header (docker's 8-byte stream header), publish_flags (HostConfig.PortBindings -> -p)",
                    try_commands: ["sudo mini-docker daemon --socket /run/mini-docker.sock &", "sudo curl -s --unix-socket /run/mini-docker.sock http://d/v1.41/version", "sudo DOCKER_HOST=unix:///run/mini-docker.sock docker run --rm 127.0.0.1:5000/busybox echo hi", "sudo mini-docker check 14"],
                },
                steps: {
                    fn frame_header(stream: u8, len: usize) -> [u8; 8];
                    fn publish_flags(bindings: &[PortBinding]) -> Result<Vec<String>>;
                },
                checks: ch14,
            }
        }
    };
}

/// One chapter, as `mini-docker chapter N`, the checks and the tests see it.
pub struct Chapter {
    pub number: u8,
    pub slug: &'static str,
    pub title: &'static str,
    pub goal: &'static str,
    /// What the learner writes, in one line.
    pub task: &'static str,
    pub try_commands: &'static [&'static str],
    /// The functions the learner writes (the seam), by name.
    pub steps: &'static [&'static str],
    /// Its checks' module, `core/src/checks/chNN.rs` (`checks::for_chapter` runs them).
    pub checks: &'static str,
}

impl Chapter {
    /// `exercises/ch04_pid.rs`
    pub fn exercise_file(&self) -> String {
        format!("exercises/{}.rs", self.module())
    }
    /// `solutions/ch04_pid.rs`
    pub fn solution_file(&self) -> String {
        format!("solutions/{}.rs", self.module())
    }
    /// `chapters/04-pid.md`
    pub fn lesson_file(&self) -> String {
        format!("chapters/{:02}-{}.md", self.number, self.slug)
    }
    /// `slides/04-pid.md`
    pub fn slides_file(&self) -> String {
        format!("slides/{:02}-{}.md", self.number, self.slug)
    }
    /// `ch04_pid`: the module name (names can't start with a digit).
    pub fn module(&self) -> String {
        format!("ch{:02}_{}", self.number, self.slug)
    }
}

/// This crate's callback: the chapter list and, per chapter, a module with
/// the `Steps` type — one function pointer per step, and a method of the same
/// name that calls it, so the runtime reads `steps.ch04_pid.mount_proc(..)`.
macro_rules! define_chapters {
    ($(
        chapter $number:literal $module:ident {
            about: {
                slug: $slug:literal,
                title: $title:literal,
                goal: $goal:literal,
                task: $task:literal,
                try_commands: [$($try:literal),* $(,)?],
            },
            steps: { $(fn $step:ident $(<$lt:lifetime>)? ($($arg:ident : $ty:ty),*) -> $ret:ty;)* },
            checks: $checks:ident,
        }
    )*) => {
        /// Every chapter, in order.
        pub const CHAPTERS: &[Chapter] = &[$(
            Chapter {
                number: $number,
                slug: $slug,
                    title: $title,
                    goal: $goal,
                    task: $task,
                    try_commands: &[$($try),*],
                steps: &[$(stringify!($step)),*],
                checks: stringify!($checks),
            },
        )*];

        $(
            #[doc = concat!("Chapter ", stringify!($number), "'s steps: `exercises/", stringify!($module), ".rs` or `solutions/", stringify!($module), ".rs`.")]
            pub mod $module {
                use super::*;

                #[derive(Clone, Copy)]
                pub struct Steps {
                    $(pub $step: for<$($lt)?> fn($($ty),*) -> $ret,)*
                }

                impl Steps {
                    $(
                        pub fn $step<$($lt)?>(&self, $($arg: $ty),*) -> $ret {
                            (self.$step)($($arg),*)
                        }
                    )*
                }
            }
        )*

        /// The chapter steps the runtime calls, each chapter from the
        /// exercises or the reference solutions (see `Selection`). The binary
        /// makes one (`src/main.rs`) and hands it to `cli::main`.
        #[derive(Clone, Copy)]
        pub struct Steps {
            /// Which chapters these come from the reference.
            pub selection: Selection,
            $(pub $module: $module::Steps,)*
        }
    };
}

chapter_table!(define_chapters);

/// Makes the `Steps` for a selection (the binary's `steps_for`).
pub type StepsFor = fn(Selection) -> Steps;

/// The highest chapter number this build knows.
pub fn last_chapter() -> u8 {
    CHAPTERS.last().map(|c| c.number).unwrap_or(0)
}

/// The chapter numbered `number`, if there is one.
pub fn chapter(number: u8) -> Option<&'static Chapter> {
    CHAPTERS.iter().find(|c| c.number == number)
}

impl Steps {
    /// Chapter 9's steps, as the pull asks for them.
    pub fn pull_protocol(&self) -> crate::image::registry::Protocol {
        crate::image::registry::Protocol {
            parse_image_ref: self.ch09_pull.parse_image_ref,
            parse_challenge: self.ch09_pull.parse_challenge,
            token_url: self.ch09_pull.token_url,
            authorize: self.ch09_pull.authorize,
            select_manifest: self.ch09_pull.select_manifest,
        }
    }
}
