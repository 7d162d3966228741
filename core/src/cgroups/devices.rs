//! Chapter 11: which device nodes a container may open. Creating a node
//! (mknod, CAP_MKNOD, which docker keeps) is not the danger: opening one is.
//! The kernel asks the container's cgroup: v1 has a `devices` controller with
//! an allow-list in files; v2 has no file for it, a BPF program attached to
//! the cgroup answers instead (BPF_PROG_TYPE_CGROUP_DEVICE).
//!
//! v2's program is built here by hand, as runc and youki do it: a few
//! instructions per rule, no compiler, no BPF library. The kernel runs it at
//! every open or mknod of a device node by a process in the cgroup; it
//! returns 1 (allow) or 0 (the syscall fails with EPERM).

use std::ffi::CStr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use anyhow::{bail, Context, Result};
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
/// `allowed` (and nothing else), and attach it to `cgroup`. The attachment
/// keeps the program alive: its fd is closed on return, and removing the
/// cgroup detaches it.
pub fn attach_device_filter(cgroup: &CgroupV2, allowed: &[DeviceRule]) -> Result<()> {
    let program = load_program(&device_program(allowed)?)?;
    let dir = super::open_for_entry(&cgroup.dir, true)?;
    attach(&program, &dir).with_context(|| {
        format!(
            "attach the device filter to {} (bpf BPF_PROG_ATTACH)",
            cgroup.dir.display()
        )
    })
}

/// `doctor`: can this kernel load a device program at all? (It needs
/// CONFIG_CGROUP_BPF and CAP_BPF or CAP_SYS_ADMIN.) Loaded, then dropped.
pub fn device_program_loadable() -> Result<()> {
    load_program(&device_program(DEFAULT_ALLOWED)?).map(drop)
}

// ---- The program -------------------------------------------------------
//
// What the kernel hands the program (include/uapi/linux/bpf.h):
//   struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; };
// access_type = (BPF_DEVCG_ACC_* << 16) | BPF_DEVCG_DEV_*.

const DEV_BLOCK: i32 = 1; // BPF_DEVCG_DEV_BLOCK
const DEV_CHAR: i32 = 2; // BPF_DEVCG_DEV_CHAR
const ACC_MKNOD: i32 = 1; // BPF_DEVCG_ACC_MKNOD
const ACC_READ: i32 = 2; // BPF_DEVCG_ACC_READ
const ACC_WRITE: i32 = 4; // BPF_DEVCG_ACC_WRITE
const ACC_ALL: i32 = ACC_MKNOD | ACC_READ | ACC_WRITE;

/// One eBPF instruction, as the kernel reads it (struct bpf_insn): an opcode,
/// two 4-bit register numbers, a jump offset and an immediate.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    code: u8,
    /// dst_reg in the low nibble, src_reg in the high one.
    regs: u8,
    off: i16,
    imm: i32,
}

// Registers: R1 holds the context pointer on entry, R0 the return value.
const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2; // device type
const R3: u8 = 3; // access asked
const R4: u8 = 4; // major
const R5: u8 = 5; // minor

// Opcodes: class | operation | source (K = immediate, X = register).
const LDX_MEM_W: u8 = 0x01 | 0x60; // BPF_LDX | BPF_MEM | BPF_W
const ALU32_AND_K: u8 = 0x04 | 0x50; // BPF_ALU | BPF_AND | BPF_K
const ALU32_RSH_K: u8 = 0x04 | 0x70; // BPF_ALU | BPF_RSH | BPF_K
const ALU32_MOV_K: u8 = 0x04 | 0xb0; // BPF_ALU | BPF_MOV | BPF_K
const ALU32_MOV_X: u8 = 0x04 | 0xb0 | 0x08; // BPF_ALU | BPF_MOV | BPF_X
const JNE_K: u8 = 0x05 | 0x50; // BPF_JMP | BPF_JNE | BPF_K
const JNE_X: u8 = 0x05 | 0x50 | 0x08; // BPF_JMP | BPF_JNE | BPF_X
const EXIT: u8 = 0x05 | 0x90; // BPF_JMP | BPF_EXIT

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

/// The program: load the context into registers, then one block per rule
/// ("if it matches, return 1"), then "return 0". Each block's tests jump
/// past the block's end when they fail.
pub fn device_program(allowed: &[DeviceRule]) -> Result<Vec<Insn>> {
    let mut program = vec![
        insn(LDX_MEM_W, R2, R1, 0, 0), // R2 = access_type
        insn(ALU32_AND_K, R2, 0, 0, 0xffff),
        insn(LDX_MEM_W, R3, R1, 0, 0), // R3 = access_type >> 16
        insn(ALU32_RSH_K, R3, 0, 0, 16),
        insn(LDX_MEM_W, R4, R1, 4, 0), // R4 = major
        insn(LDX_MEM_W, R5, R1, 8, 0), // R5 = minor
    ];
    for rule in allowed {
        let block = rule_block(rule)?;
        let matches_everything = block.len() == 2;
        program.extend(block);
        if matches_everything {
            // What follows could never run, and the verifier refuses
            // unreachable instructions.
            return Ok(program);
        }
    }
    program.extend([insn(ALU32_MOV_K, R0, 0, 0, 0), insn(EXIT, 0, 0, 0, 0)]);
    Ok(program)
}

/// "return 1 if the device is `rule`'s": a test per field the rule pins
/// down (type, access, major, minor), then the return.
fn rule_block(rule: &DeviceRule) -> Result<Vec<Insn>> {
    let mut tests: Vec<Insn> = Vec::new();
    match rule.kind {
        'a' => {}
        'c' => tests.push(insn(JNE_K, R2, 0, 0, DEV_CHAR)),
        'b' => tests.push(insn(JNE_K, R2, 0, 0, DEV_BLOCK)),
        other => bail!("device rule {rule}: type {other:?} is not c, b or a"),
    }
    let access = access_bits(rule)?;
    if access != ACC_ALL {
        // Allowed only if every bit asked is in the rule: (asked & rule) == asked.
        tests.extend([
            insn(ALU32_MOV_X, R1, R3, 0, 0),
            insn(ALU32_AND_K, R1, 0, 0, access),
            insn(JNE_X, R1, R3, 0, 0),
        ]);
    }
    for (register, number) in [(R4, rule.major), (R5, rule.minor)] {
        if let Some(n) = number {
            let n = i32::try_from(n).with_context(|| format!("device rule {rule}: {n} too big"))?;
            tests.push(insn(JNE_K, register, 0, 0, n));
        }
    }
    let length = tests.len() + 2;
    for (index, test) in tests.iter_mut().enumerate() {
        if test.code == JNE_K || test.code == JNE_X {
            // Offsets count from the next instruction: to just past the block.
            test.off = (length - index - 1) as i16;
        }
    }
    tests.extend([insn(ALU32_MOV_K, R0, 0, 0, 1), insn(EXIT, 0, 0, 0, 0)]);
    Ok(tests)
}

fn access_bits(rule: &DeviceRule) -> Result<i32> {
    rule.access.chars().try_fold(0, |bits, c| match c {
        'r' => Ok(bits | ACC_READ),
        'w' => Ok(bits | ACC_WRITE),
        'm' => Ok(bits | ACC_MKNOD),
        other => bail!("device rule {rule}: access {other:?} is not r, w or m"),
    })
}

// ---- The bpf(2) system call --------------------------------------------

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
/// Several programs may be attached to one cgroup and to its ancestors; a
/// device is usable only if all of them allow it (what runc uses, so a
/// program systemd put on a parent still counts).
const BPF_F_ALLOW_MULTI: u32 = 2;
const LICENSE: &CStr = c"Apache";

/// The head of union bpf_attr for BPF_PROG_LOAD, up to the fields we use;
/// the kernel takes a shorter attr as if the rest were zero.
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
}

/// union bpf_attr for BPF_PROG_ATTACH.
#[repr(C)]
#[derive(Default)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

fn bpf<T>(command: libc::c_long, attr: &mut T) -> std::io::Result<libc::c_long> {
    // SAFETY: `attr` is a #[repr(C)] prefix of union bpf_attr for `command`,
    // valid for its whole size; every pointer inside it points at memory
    // that outlives the call.
    let result = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            command,
            attr as *mut T,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if result < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(result)
    }
}

/// BPF_PROG_LOAD: the verifier checks the program (it must end, read only
/// the context it was given, return a value) and the kernel returns its fd.
/// On failure, load again with the verifier's log, for its last line.
fn load_program(program: &[Insn]) -> Result<OwnedFd> {
    match load(program, None) {
        Ok(fd) => Ok(fd),
        Err(error) => {
            let mut log = vec![0u8; 64 * 1024];
            let _ = load(program, Some(&mut log));
            let text = CStr::from_bytes_until_nul(&log)
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let reason = text.lines().rev().find(|l| !l.trim().is_empty());
            match reason {
                Some(line) => {
                    bail!("load the device filter (bpf BPF_PROG_LOAD): {error}: verifier: {line}")
                }
                None => bail!("load the device filter (bpf BPF_PROG_LOAD): {error}"),
            }
        }
    }
}

fn load(program: &[Insn], log: Option<&mut [u8]>) -> std::io::Result<OwnedFd> {
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: program.len() as u32,
        insns: program.as_ptr() as u64,
        license: LICENSE.as_ptr() as u64, // some helpers are GPL-only: the kernel asks
        ..Default::default()
    };
    attr.prog_name[..11].copy_from_slice(b"mini_docker");
    if let Some(log) = log {
        attr.log_level = 1;
        attr.log_size = log.len() as u32;
        attr.log_buf = log.as_mut_ptr() as u64;
    }
    let fd = bpf(BPF_PROG_LOAD, &mut attr)?;
    // SAFETY: BPF_PROG_LOAD returned a new file descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// BPF_PROG_ATTACH: from now on the kernel runs `program` for every device
/// access of a process in the cgroup `dir` (or below it).
fn attach(program: &OwnedFd, dir: &OwnedFd) -> std::io::Result<()> {
    let mut attr = ProgAttachAttr {
        target_fd: dir.as_raw_fd() as u32,
        attach_bpf_fd: program.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..Default::default()
    };
    bpf(BPF_PROG_ATTACH, &mut attr).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_print_as_v1_spells_them() {
        assert_eq!(DEFAULT_ALLOWED[0].to_string(), "c *:* m");
        assert_eq!(DEFAULT_ALLOWED[2].to_string(), "c 1:3 rwm");
        assert_eq!(DEFAULT_ALLOWED[10].to_string(), "c 136:* rwm");
    }

    #[test]
    fn a_rule_is_a_block_that_jumps_past_itself() {
        // c 1:3 rwm: type, major, minor tests (rwm needs no access test), return 1.
        let block = rule_block(&char_dev(Some(1), Some(3), "rwm")).unwrap();
        assert_eq!(block.len(), 5);
        assert_eq!(block[0], insn(JNE_K, R2, 0, 4, DEV_CHAR));
        assert_eq!(block[1], insn(JNE_K, R4, 0, 3, 1));
        assert_eq!(block[2], insn(JNE_K, R5, 0, 2, 3));
        assert_eq!(block[3], insn(ALU32_MOV_K, R0, 0, 0, 1));
        // c *:* m: type and access tests only.
        let block = rule_block(&char_dev(None, None, "m")).unwrap();
        assert_eq!(block.len(), 6);
        assert_eq!(block[3], insn(JNE_X, R1, R3, 2, 0));
    }

    #[test]
    fn an_allow_all_rule_ends_the_program() {
        let all = DeviceRule {
            kind: 'a',
            major: None,
            minor: None,
            access: "rwm",
        };
        let program = device_program(&[all, DEFAULT_ALLOWED[2]]).unwrap();
        assert_eq!(
            program.len(),
            6 + 2,
            "nothing unreachable after 'a *:* rwm'"
        );
        let default = device_program(DEFAULT_ALLOWED).unwrap();
        assert_eq!(default.last(), Some(&insn(EXIT, 0, 0, 0, 0)));
        assert_eq!(default[default.len() - 2], insn(ALU32_MOV_K, R0, 0, 0, 0));
    }

    #[test]
    fn bad_rules_are_one_clear_error() {
        let bad = DeviceRule {
            kind: 'x',
            major: None,
            minor: None,
            access: "r",
        };
        let error = device_program(&[bad]).unwrap_err().to_string();
        assert!(error.contains("type 'x'"), "{error}");
        let bad = char_dev(Some(1), Some(3), "rq");
        let error = device_program(&[bad]).unwrap_err().to_string();
        assert!(error.contains("access 'q'"), "{error}");
    }
}
