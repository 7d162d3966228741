//! The device nodes every container gets (docker's default set): the runtime
//! makes them in the container's /dev, the checks expect exactly these.

/// A character device: its name under /dev and its numbers
/// (Documentation/admin-guide/devices.txt).
pub struct Device {
    pub name: &'static str,
    pub major: u64,
    pub minor: u64,
}

pub const DEFAULT_DEVICES: [Device; 6] = [
    Device {
        name: "null",
        major: 1,
        minor: 3,
    },
    Device {
        name: "zero",
        major: 1,
        minor: 5,
    },
    Device {
        name: "full",
        major: 1,
        minor: 7,
    },
    Device {
        name: "random",
        major: 1,
        minor: 8,
    },
    Device {
        name: "urandom",
        major: 1,
        minor: 9,
    },
    Device {
        name: "tty",
        major: 5,
        minor: 0,
    },
];
