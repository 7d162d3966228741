//! The seam: every kernel-facing step of a chapter exists twice, with the same
//! signature — the learner's in `exercises/`, the reference in `solutions/`.
//! The runtime calls only the functions below; each one picks the version the
//! `--reference` selection asks for, chapter by chapter.

use std::convert::Infallible;
use std::ffi::CString;
use std::path::Path;
use std::sync::OnceLock;

use anyhow::Result;
use nix::sched::CloneFlags;
use nix::sys::signal::SigSet;
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;

use crate::cgroups::v1::CgroupV1;
use crate::cgroups::v2::CgroupV2;
use crate::cgroups::Limits;
use crate::image::layer::Whiteout;
use crate::image::manifest::Descriptor;
use crate::image::platform::Platform;
use crate::image::reference::Reference;
use crate::image::registry::Challenge;
use crate::net::{Attachment, Netlink};
use crate::selection::Selection;
use crate::userns::IdMap;

use crate::{exercises, solutions};

static SELECTION: OnceLock<Selection> = OnceLock::new();

/// Fix the selection for this process (once, at start-up).
pub fn select(selection: Selection) {
    let _ = SELECTION.set(selection);
}

pub fn selection() -> Selection {
    *SELECTION.get().unwrap_or(&Selection::exercises_only())
}

/// `pick!(4, ch04_pid::mount_proc())` calls the reference or the exercise for chapter 4.
macro_rules! pick {
    ($chapter:literal, $module:ident :: $function:ident ( $($arg:expr),* )) => {
        if selection().is_reference($chapter) {
            solutions::$module::$function($($arg),*)
        } else {
            exercises::$module::$function($($arg),*)
        }
    };
}

// Chapter 1 — process
pub fn exec_command(argv: &[CString]) -> nix::Result<Infallible> {
    pick!(1, ch01_process::exec_command(argv))
}
pub fn exit_code(status: WaitStatus) -> i32 {
    pick!(1, ch01_process::exit_code(status))
}
pub fn wait_for(child: Pid) -> Result<i32> {
    pick!(1, ch01_process::wait_for(child))
}

// Chapter 2 — chroot
pub fn enter_rootfs(rootfs: &Path) -> Result<()> {
    pick!(2, ch02_chroot::enter_rootfs(rootfs))
}

// Chapter 3 — UTS + IPC namespaces
pub fn uts_namespaces() -> CloneFlags {
    pick!(3, ch03_uts::namespaces())
}
pub fn set_hostname(name: &str) -> Result<()> {
    pick!(3, ch03_uts::set_hostname(name))
}

// Chapter 4 — PID namespace
pub fn pid_namespace() -> CloneFlags {
    pick!(4, ch04_pid::namespaces())
}
pub fn mount_proc(target: &Path) -> Result<()> {
    pick!(4, ch04_pid::mount_proc(target))
}
pub fn init_loop(command: Pid, signals: &SigSet) -> Result<WaitStatus> {
    pick!(4, ch04_pid::init_loop(command, signals))
}

// Chapter 5 — mount namespace + pivot_root
pub fn mount_namespace() -> CloneFlags {
    pick!(5, ch05_mount::namespaces())
}
pub fn make_mounts_private() -> Result<()> {
    pick!(5, ch05_mount::make_mounts_private())
}
pub fn pivot_into(rootfs: &Path) -> Result<()> {
    pick!(5, ch05_mount::pivot_into(rootfs))
}
pub fn mount_sys(target: &Path) -> Result<()> {
    pick!(5, ch05_mount::mount_sys(target))
}

// Chapter 6 — network namespace
pub fn net_namespace() -> CloneFlags {
    pick!(6, ch06_net::namespaces())
}
pub fn connect_to_bridge(host: &Netlink, container: Pid, link: &Attachment) -> Result<()> {
    pick!(6, ch06_net::connect_to_bridge(host, container, link))
}
pub fn configure_inside(inside: &Netlink, link: Option<&Attachment>) -> Result<()> {
    pick!(6, ch06_net::configure_inside(inside, link))
}

// Chapter 7 — user namespace
pub fn user_namespace() -> CloneFlags {
    pick!(7, ch07_userns::namespaces())
}
pub fn write_id_maps(child: Pid, map: &IdMap) -> Result<()> {
    pick!(7, ch07_userns::write_id_maps(child, map))
}

// Chapter 8 — cgroups
pub fn write_limits_v2(cgroup: &CgroupV2, limits: &Limits) -> Result<()> {
    pick!(8, ch08_cgroups::write_limits_v2(cgroup, limits))
}
pub fn write_limits_v1(cgroup: &CgroupV1, limits: &Limits) -> Result<()> {
    pick!(8, ch08_cgroups::write_limits_v1(cgroup, limits))
}

// Chapter 9 — pulling images
pub fn parse_reference(text: &str) -> Result<Reference> {
    pick!(9, ch09_pull::parse_reference(text))
}
pub fn parse_challenge(header: &str) -> Result<Challenge> {
    pick!(9, ch09_pull::parse_challenge(header))
}
pub fn token_url(challenge: &Challenge, repository: &str) -> Result<String> {
    pick!(9, ch09_pull::token_url(challenge, repository))
}
pub fn select_manifest<'a>(
    manifests: &'a [Descriptor],
    wanted: &Platform,
) -> Option<&'a Descriptor> {
    pick!(9, ch09_pull::select_manifest(manifests, wanted))
}

// Chapter 10 — layers
pub fn whiteout(name: &str) -> Result<Option<Whiteout>> {
    pick!(10, ch10_layers::whiteout(name))
}
pub fn mount_overlay(
    lowers: &[String],
    upper: &Path,
    work: &Path,
    target: &Path,
    in_user_namespace: bool,
    volatile: bool,
) -> Result<()> {
    pick!(
        10,
        ch10_layers::mount_overlay(lowers, upper, work, target, in_user_namespace, volatile)
    )
}
