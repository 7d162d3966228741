//! Chapter 11: which device nodes a container may open. Creating a node
//! (mknod, CAP_MKNOD, which docker keeps) is not the danger: opening one is.
//! The kernel asks the container's cgroup: v1 has a `devices` controller with
//! an allow-list in files; v2 has no file for it, a BPF program attached to
//! the cgroup answers instead (BPF_PROG_TYPE_CGROUP_DEVICE).
//!
//! SKELETON: the v1 hierarchy and the v2 program are being written.

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::v1::CgroupV1;
use super::v2::CgroupV2;

/// One allow-list entry, as v1's devices.allow spells it: `c 1:3 rwm`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRule {
    /// 'c' (character), 'b' (block) or 'a' (all).
    pub kind: char,
    /// None = any ('*').
    pub major: Option<u32>,
    pub minor: Option<u32>,
    /// Some of "rwm": read, write, mknod.
    pub access: &'static str,
}

impl std::fmt::Display for DeviceRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let number = |n: Option<u32>| n.map_or("*".to_string(), |n| n.to_string());
        write!(
            f,
            "{} {}:{} {}",
            self.kind,
            number(self.major),
            number(self.minor),
            self.access
        )
    }
}

const fn char_dev(major: Option<u32>, minor: Option<u32>, access: &'static str) -> DeviceRule {
    DeviceRule {
        kind: 'c',
        major,
        minor,
        access,
    }
}

/// docker's default allow-list (moby's oci/defaults.go): mknod of any
/// node, and the devices a program expects: null, zero, full, random,
/// urandom, tty, console, ptmx and the ptys.
pub const DEFAULT_ALLOWED: &[DeviceRule] = &[
    char_dev(None, None, "m"),
    DeviceRule {
        kind: 'b',
        major: None,
        minor: None,
        access: "m",
    },
    char_dev(Some(1), Some(3), "rwm"),    // /dev/null
    char_dev(Some(1), Some(5), "rwm"),    // /dev/zero
    char_dev(Some(1), Some(7), "rwm"),    // /dev/full
    char_dev(Some(1), Some(8), "rwm"),    // /dev/random
    char_dev(Some(1), Some(9), "rwm"),    // /dev/urandom
    char_dev(Some(5), Some(0), "rwm"),    // /dev/tty
    char_dev(Some(5), Some(1), "rwm"),    // /dev/console
    char_dev(Some(5), Some(2), "rwm"),    // /dev/ptmx
    char_dev(Some(136), None, "rwm"),     // /dev/pts/*
    char_dev(Some(10), Some(200), "rwm"), // /dev/net/tun
];

/// The container's cgroup, as the device step sees it.
pub enum DeviceCgroup<'a> {
    V1(&'a CgroupV1),
    V2(&'a CgroupV2),
}

/// v2: load a BPF_PROG_TYPE_CGROUP_DEVICE program that allows exactly
/// `allowed`, and attach it to `cgroup`. SKELETON.
pub fn attach_device_filter(_cgroup: &CgroupV2, _allowed: &[DeviceRule]) -> Result<()> {
    anyhow::bail!("the v2 device filter is not written yet")
}
