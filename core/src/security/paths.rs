//! The paths docker hides and freezes in every container it does not run
//! `--privileged` (moby's oci/defaults.go, the same in runc's spec).

/// Masked: /dev/null bound over files, an empty read-only tmpfs over
/// directories. They describe (or reach) the host's kernel: its memory
/// (kcore), its keys, its timers, its firmware and power controls.
pub const MASKED: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Read-only: bound onto themselves, remounted read-only. /proc/sys is the
/// kernel's settings (core_pattern runs a program *on the host*),
/// sysrq-trigger reboots it.
pub const READ_ONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];
