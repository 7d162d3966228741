//! A compiled seccomp filter: the classic-BPF program the kernel runs on
//! every syscall, compiled once per profile and kept in the state dir.
//!
//! Why a cache: libseccomp turns docker's default profile (x86_64 and x86,
//! plus x32 where the kernel has it) into 872-1246 BPF instructions in 12-15 ms
//! here — thirty times a whole container start. The program depends only on
//! the profile, the container's capabilities, the machine and the code that
//! built it; so it is built on the first start and read back afterwards, and
//! the container's first process only hands it to seccomp(2).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use libseccomp::ScmpFilterContext;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::caps::Capabilities;
use super::seccomp::{Choice, Machine, Policy};
use super::seccomp_layout::{self, Insn};

/// One `struct sock_filter` is 8 bytes; the kernel takes at most 4096 of them.
const INSTRUCTION: usize = 8;
const MAX_INSTRUCTIONS: usize = 4096;
/// How many compiled programs the cache keeps (each rebuild of the learner's
/// binary makes a new one).
const KEEP: usize = 16;

/// The program, one u64 per instruction (so it is aligned like `sock_filter`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BpfProgram(Vec<u64>);

impl BpfProgram {
    /// From libseccomp's export (raw `sock_filter`s, this machine's byte order).
    pub fn from_bytes(bytes: &[u8]) -> Result<BpfProgram> {
        let count = bytes.len() / INSTRUCTION;
        if !bytes.len().is_multiple_of(INSTRUCTION) || count == 0 || count > MAX_INSTRUCTIONS {
            bail!("a seccomp program of {} bytes: expected 1 to {MAX_INSTRUCTIONS} instructions of {INSTRUCTION} bytes", bytes.len());
        }
        let words = bytes
            .chunks_exact(INSTRUCTION)
            .map(|c| u64::from_ne_bytes(c.try_into().expect("8 bytes")))
            .collect();
        Ok(BpfProgram(words))
    }

    /// The raw `sock_filter`s, as libseccomp exported them.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.iter().flat_map(|w| w.to_ne_bytes()).collect()
    }

    pub fn instructions(&self) -> usize {
        self.0.len()
    }

    /// What seccomp(2) takes: the length and a pointer to the instructions.
    /// The pointer is valid while `self` is.
    pub fn as_sock_fprog(&self) -> libc::sock_fprog {
        libc::sock_fprog {
            len: self.0.len() as u16,
            filter: self.0.as_ptr() as *mut libc::sock_filter,
        }
    }
}

// Sent to the container's first process as base64 (a 1000-instruction program is 11 KB).
impl Serialize for BpfProgram {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use base64::Engine;
        serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(self.to_bytes()))
    }
}

impl<'de> Deserialize<'de> for BpfProgram {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<BpfProgram, D::Error> {
        use base64::Engine;
        let text = String::deserialize(deserializer)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(serde::de::Error::custom)?;
        BpfProgram::from_bytes(&bytes).map_err(serde::de::Error::custom)
    }
}

/// The compiled program for `choice` and `caps`: from the cache in
/// `state_dir`, or built with `build` (the learner's `seccomp_filter`) and
/// cached. `builder`: which code builds it (the exercise, the reference, a
/// mutant), so one never gets another's program. None: `build` made no filter.
pub fn compiled(
    state_dir: &Path,
    choice: &Choice,
    caps: &Capabilities,
    builder: &str,
    build: &mut dyn FnMut(&Policy) -> Result<Option<ScmpFilterContext>>,
) -> Result<Option<BpfProgram>> {
    let machine = Machine::this()?;
    let key = cache_key(choice, caps, &machine, builder)?;
    let dir = state_dir.join("seccomp");
    let cached = dir.join(format!("{key}.bpf"));
    if let Ok(bytes) = fs::read(&cached) {
        if let Ok(program) = BpfProgram::from_bytes(&bytes) {
            return Ok(Some(program));
        }
    }
    let policy = Policy::for_container(choice, caps)?;
    let Some(mut filter) = build(&policy)? else {
        return Ok(None);
    };
    let program = program_of(&mut filter)?;
    store(&program, &dir, &cached)?;
    forget_old(&dir);
    Ok(Some(program))
}

/// A digest of everything the program depends on.
fn cache_key(
    choice: &Choice,
    caps: &Capabilities,
    machine: &Machine,
    builder: &str,
) -> Result<String> {
    let profile = match choice {
        // Embedded in this binary, whose identity is part of the key: hashing
        // its 30 KB on every start would cost more than reading the program.
        Choice::Default => "the built-in default profile",
        Choice::Profile { json, .. } => json.as_str(),
        Choice::Unconfined => bail!("seccomp=unconfined has no program"),
    };
    let mut names: Vec<String> = caps.iter().map(|c| c.to_string()).collect();
    names.sort();
    let exe = fs::metadata("/proc/self/exe").context("stat /proc/self/exe")?;
    Ok(digest(&[
        "mini-docker seccomp program v3",
        profile,
        &names.join(","),
        &format!("{machine:?}"),
        builder,
        &format!(
            "{} {} {} {}",
            exe.dev(),
            exe.ino(),
            exe.size(),
            exe.mtime_nsec() + exe.mtime() * 1_000_000_000
        ),
    ]))
}

/// 128 bits: two of std's SipHash hashers, seeded apart. Not sha256: the
/// first sha256 in a process asks the CPU whether it has SHA instructions
/// (cpuid), and in a VM every cpuid is a trip to the hypervisor — 8 us each
/// here, ~30 us a start. Nobody else chooses these inputs (the profile is
/// the caller's own file, the cache the caller's own 0700 state dir), so a
/// cryptographic hash buys nothing. std's algorithm may change between Rust
/// releases: the binary's identity is part of the key anyway.
fn digest(parts: &[&str]) -> String {
    use std::hash::{Hash, Hasher};
    let mut key = String::new();
    for seed in ["first half", "second half"] {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        seed.hash(&mut hasher);
        for part in parts {
            part.hash(&mut hasher); // its bytes and a terminator: parts stay apart
        }
        key.push_str(&format!("{:016x}", hasher.finish()));
    }
    key
}

/// The program the kernel gets for `filter`: libseccomp's binary tree of
/// syscall numbers instead of its default list (a quarter of the kernel's
/// load time, docker's default: 997 -> 262 us; personality() +153 -> +48 ns),
/// then laid out as ranges of numbers (872 -> 274 instructions, 232 -> 127 us;
/// seccomp_layout.rs) unless that cannot be done with certainty.
pub fn program_of(filter: &mut ScmpFilterContext) -> Result<BpfProgram> {
    let _ = filter.set_ctl_optimize(2);
    let program = export(filter)?;
    let insns: Vec<Insn> = program.0.iter().map(|&w| Insn::from_word(w)).collect();
    Ok(match seccomp_layout::relay(&insns) {
        Ok(relaid) => BpfProgram(relaid.into_iter().map(Insn::to_word).collect()),
        Err(_) => program,
    })
}

/// libseccomp's program: it writes to an fd, here a memory file read back.
fn export(filter: &ScmpFilterContext) -> Result<BpfProgram> {
    let memfd = nix::sys::memfd::memfd_create(
        c"seccomp-bpf",
        nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC,
    )
    .context("memfd_create")?;
    let mut file = fs::File::from(memfd);
    filter
        .export_bpf(&mut file)
        .context("export the seccomp program")?;
    let mut bytes = Vec::new();
    std::io::Seek::rewind(&mut file)?;
    std::io::Read::read_to_end(&mut file, &mut bytes)?;
    BpfProgram::from_bytes(&bytes)
}

/// Into the cache: a temporary file renamed into place (a concurrent start
/// sees the whole program or none).
fn store(program: &BpfProgram, dir: &Path, cached: &Path) -> Result<()> {
    let (temporary, mut file) = temporary_in(dir)?;
    let placed = file
        .write_all(&program.to_bytes())
        .context("write the seccomp program")
        .and_then(|_| {
            fs::rename(&temporary, cached).context("put the seccomp program in the cache")
        });
    if placed.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    placed
}

/// A new private file in `dir` (made 0700 if missing).
fn temporary_in(dir: &Path) -> Result<(PathBuf, fs::File)> {
    fs::DirBuilder::new()
        .mode(0o700)
        .recursive(true)
        .create(dir)
        .with_context(|| format!("create {}", dir.display()))?;
    let temporary = dir.join(format!(".{}.tmp", crate::sys::random_hex(6)?));
    let file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .with_context(|| format!("create {}", temporary.display()))?;
    Ok((temporary, file))
}

/// Keep the newest `KEEP` programs.
fn forget_old(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut programs: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".bpf"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    programs.sort();
    let excess = programs.len().saturating_sub(KEEP);
    for (_, path) in programs.into_iter().take(excess) {
        let _ = fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_round_trip_as_base64() {
        let program =
            BpfProgram::from_bytes(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16])
                .unwrap();
        let json = serde_json::to_string(&program).unwrap();
        assert_eq!(serde_json::from_str::<BpfProgram>(&json).unwrap(), program);
        assert_eq!(program.as_sock_fprog().len, 2);
    }

    #[test]
    fn keys_tell_every_input_apart() {
        let key = |parts: &[&str]| digest(parts);
        assert_eq!(key(&["a", "b"]), key(&["a", "b"]));
        assert_eq!(key(&["a", "b"]).len(), 32);
        assert_ne!(key(&["a", "b"]), key(&["ab", ""]));
        assert_ne!(key(&["a", "b"]), key(&["a", "c"]));
    }

    #[test]
    fn bad_programs_are_refused() {
        assert!(BpfProgram::from_bytes(&[]).is_err());
        assert!(BpfProgram::from_bytes(&[0; 12]).is_err());
        assert!(BpfProgram::from_bytes(&vec![0; 8 * 4097]).is_err());
    }
}
