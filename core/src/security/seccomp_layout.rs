//! libseccomp's program, laid out again as a search over *ranges* of
//! system call numbers. Same decisions, a third of the instructions.
//!
//! Why: seccomp(2) costs in proportion to the program's length. The kernel
//! checks it, translates it to eBPF, JIT-compiles it (several passes), then
//! runs it once per system call number of each architecture to find the
//! calls it always allows (its per-filter cache). libseccomp's binary tree
//! (SCMP_FLTATR_CTL_OPTIMIZE=2) still compares every allowed call on its own:
//! docker's default is 872 instructions for x86_64 + x86, 256 us of kernel
//! time per start here. The numbers it allows come in runs (read, write,
//! open, close... are 0-3), so one comparison per run boundary does:
//! `relay` makes ~260 instructions of it.
//!
//! How, without trusting a second compiler: libseccomp still builds the
//! program (from the learner's `seccomp_filter`); this only *evaluates* it.
//! A program can depend on the architecture and the number only through
//! comparisons with constants (checked first: no arithmetic on them), so the
//! constants split both into classes that every comparison treats alike.
//! For one representative of each class the program is run with the
//! arguments unknown: what it does then, with every decision on the number
//! already taken, is kept as the class's code (a lone `ret ALLOW` mostly;
//! the argument checks of clone, personality, socket as libseccomp wrote
//! them). Neighbouring classes with the same code merge into one range.
//! The result is emulated against the original before it is used; on any
//! surprise (an instruction this does not know, a disagreement), the
//! original program is kept.

use std::collections::BTreeSet;

use anyhow::{bail, Result};

/// One classic-BPF instruction (`struct sock_filter`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

impl Insn {
    /// From the 8 bytes of a `sock_filter`, in this machine's byte order.
    pub fn from_word(word: u64) -> Insn {
        let b = word.to_ne_bytes();
        Insn {
            code: u16::from_ne_bytes([b[0], b[1]]),
            jt: b[2],
            jf: b[3],
            k: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    pub fn to_word(self) -> u64 {
        let mut b = [0u8; 8];
        b[0..2].copy_from_slice(&self.code.to_ne_bytes());
        b[2] = self.jt;
        b[3] = self.jf;
        b[4..8].copy_from_slice(&self.k.to_ne_bytes());
        u64::from_ne_bytes(b)
    }

    fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Insn {
        Insn { code, jt, jf, k }
    }

    fn simple(code: u16, k: u32) -> Insn {
        Insn::jump(code, k, 0, 0)
    }
}

// The opcodes libseccomp emits (linux/bpf_common.h), and the few others a
// program may hold that we can still evaluate.
const LD_W_ABS: u16 = 0x20; // A = seccomp_data[k]
const LD_IMM: u16 = 0x00; // A = k
const JA: u16 = 0x05;
const JEQ: u16 = 0x15;
const JGT: u16 = 0x25;
const JGE: u16 = 0x35;
const JSET: u16 = 0x45;
const RET_K: u16 = 0x06;
const RET_A: u16 = 0x16;
const ALU_K: u16 = 0x04; // class BPF_ALU with a constant operand: 0x04 | op
const ALU_OP: u16 = 0xf0;

/// Offsets in `struct seccomp_data`: nr, arch, then the instruction pointer
/// and the six arguments (64 bits each).
const NR: u32 = 0;
const ARCH: u32 = 4;

/// What one system call looks like to a filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeccompData {
    pub nr: u32,
    pub arch: u32,
    pub ip: u64,
    pub args: [u64; 6],
}

impl SeccompData {
    /// The 32-bit word at `offset`, as the kernel's `ld [k]` reads it (the
    /// struct in this machine's byte order).
    fn word(&self, offset: u32) -> Option<u32> {
        // Half of a 64-bit field: the bytes at `offset % 8` within it.
        let half = |field: u64| {
            let bytes = field.to_ne_bytes();
            let at = (offset % 8) as usize;
            u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        match offset {
            NR => Some(self.nr),
            ARCH => Some(self.arch),
            8 | 12 => Some(half(self.ip)),
            16..=60 if offset.is_multiple_of(4) => {
                Some(half(self.args[(offset as usize - 16) / 8]))
            }
            _ => None,
        }
    }
}

/// Run `program` on one system call, as the kernel's interpreter would: the
/// value of the `ret` it reaches. An instruction outside what libseccomp
/// emits is an error.
pub fn run(program: &[Insn], data: &SeccompData) -> Result<u32> {
    let mut a: u32 = 0;
    let mut pc = 0usize;
    loop {
        let Some(insn) = program.get(pc) else {
            bail!("the program runs off its end at {pc}");
        };
        pc += 1;
        match insn.code {
            LD_W_ABS => match data.word(insn.k) {
                Some(word) => a = word,
                None => bail!("ld [{}] outside seccomp_data", insn.k),
            },
            LD_IMM => a = insn.k,
            JA => pc += insn.k as usize,
            JEQ | JGT | JGE | JSET => {
                pc += if compare(insn.code, a, insn.k) {
                    insn.jt as usize
                } else {
                    insn.jf as usize
                };
            }
            RET_K => return Ok(insn.k),
            RET_A => return Ok(a),
            code if code & 0x07 == ALU_K && code & 0x08 == 0 => a = alu(code, a, insn.k)?,
            code => bail!("instruction {code:#x} at {}", pc - 1),
        }
    }
}

fn compare(code: u16, a: u32, k: u32) -> bool {
    match code {
        JEQ => a == k,
        JGT => a > k,
        JGE => a >= k,
        _ => a & k != 0, // JSET
    }
}

fn alu(code: u16, a: u32, k: u32) -> Result<u32> {
    Ok(match code & ALU_OP {
        0x00 => a.wrapping_add(k),
        0x10 => a.wrapping_sub(k),
        0x20 => a.wrapping_mul(k),
        0x30 if k != 0 => a / k,
        0x40 => a | k,
        0x50 => a & k,
        0x60 => a.checked_shl(k).unwrap_or(0),
        0x70 => a.checked_shr(k).unwrap_or(0),
        0x80 => a.wrapping_neg(),
        0x90 if k != 0 => a % k,
        0xa0 => a ^ k,
        op => bail!("ALU operation {op:#x} with {k}"),
    })
}

/// The program re-laid as ranges, or why not (the caller keeps the original).
pub fn relay(program: &[Insn]) -> Result<Vec<Insn>> {
    let split = Split::of(program)?;
    let mut blocks = Vec::new();
    for &arch in &split.arches {
        blocks.push((Some(arch), ranges_for(program, arch, &split.nr_starts)?));
    }
    blocks.push((
        None,
        ranges_for(program, split.other_arch, &split.nr_starts)?,
    ));
    let relaid = lay_out(&blocks)?;
    if relaid.len() >= program.len() {
        bail!(
            "no shorter: {} instructions against {}",
            relaid.len(),
            program.len()
        );
    }
    agree(program, &relaid, &split, &blocks)?;
    Ok(relaid)
}

/// Where the program's decisions can change: the architectures it names,
/// one it does not, and the first number of every class of syscall numbers.
struct Split {
    arches: Vec<u32>,
    other_arch: u32,
    nr_starts: Vec<u32>,
    /// Constants compared with arguments: the values worth trying them at.
    arg_constants: BTreeSet<u32>,
}

/// What the accumulator may hold at an instruction (a forward pass: classic
/// BPF only jumps forward).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Sources {
    nr: bool,
    arch: bool,
    other: bool,
}

impl Sources {
    fn merge(&mut self, other: Sources) {
        self.nr |= other.nr;
        self.arch |= other.arch;
        self.other |= other.other;
    }
    fn reached(self) -> bool {
        self.nr || self.arch || self.other
    }
}

impl Split {
    fn of(program: &[Insn]) -> Result<Split> {
        let mut at = vec![Sources::default(); program.len() + 1];
        at[0].other = true; // A starts as 0
                            // In the order the program asks (libseccomp: the native one first, the
                            // one nearly every call comes from).
        let mut arches: Vec<u32> = Vec::new();
        let mut nr_starts = BTreeSet::from([0u32]);
        let mut arg_constants = BTreeSet::from([0u32, 1, u32::MAX]);
        for (pc, insn) in program.iter().enumerate() {
            let here = at[pc];
            if !here.reached() {
                continue;
            }
            let mut flow = |to: usize, sources: Sources| -> Result<()> {
                match at.get_mut(to) {
                    Some(slot) if to < program.len() => {
                        slot.merge(sources);
                        Ok(())
                    }
                    _ => bail!("a jump out of the program at {pc}"),
                }
            };
            match insn.code {
                LD_W_ABS => {
                    let loaded = Sources {
                        nr: insn.k == NR,
                        arch: insn.k == ARCH,
                        other: insn.k != NR && insn.k != ARCH,
                    };
                    flow(pc + 1, loaded)?;
                }
                LD_IMM => flow(
                    pc + 1,
                    Sources {
                        other: true,
                        ..Default::default()
                    },
                )?,
                JA => flow(pc + 1 + insn.k as usize, here)?,
                JEQ | JGT | JGE | JSET => {
                    let only =
                        |s: Sources| u8::from(s.nr) + u8::from(s.arch) + u8::from(s.other) == 1;
                    if !only(here) {
                        bail!("a comparison at {pc} of a value from more than one place");
                    }
                    if here.arch {
                        if insn.code != JEQ {
                            bail!("the architecture compared other than for equality at {pc}");
                        }
                        if !arches.contains(&insn.k) {
                            arches.push(insn.k);
                        }
                    } else if here.nr {
                        match insn.code {
                            // Classes: [k, k] and what lies on either side.
                            JEQ | JGT => nr_starts.extend([insn.k, insn.k.saturating_add(1)]),
                            JGE => {
                                nr_starts.insert(insn.k);
                            }
                            _ => bail!("a bit test on the syscall number at {pc}"),
                        }
                    } else {
                        arg_constants.extend([
                            insn.k,
                            insn.k.wrapping_add(1),
                            insn.k.wrapping_sub(1),
                        ]);
                    }
                    flow(pc + 1 + insn.jt as usize, here)?;
                    flow(pc + 1 + insn.jf as usize, here)?;
                }
                RET_K | RET_A => {}
                code if code & 0x07 == ALU_K && code & 0x08 == 0 => {
                    if here.nr || here.arch {
                        bail!("arithmetic on the syscall number or architecture at {pc}");
                    }
                    arg_constants.insert(insn.k);
                    flow(pc + 1, here)?;
                }
                code => bail!("instruction {code:#x} at {pc}"),
            }
        }
        let other_arch = (0..=u32::MAX)
            .find(|a| !arches.contains(a))
            .expect("a program names fewer than 2^32 architectures");
        Ok(Split {
            arches,
            other_arch,
            nr_starts: nr_starts.into_iter().collect(),
            arg_constants,
        })
    }
}

/// One range of syscall numbers and what the program does for all of them.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Range {
    first: u32,
    code: Vec<Insn>,
}

/// For one architecture: the ranges, neighbours with the same code merged.
fn ranges_for(program: &[Insn], arch: u32, starts: &[u32]) -> Result<Vec<Range>> {
    let mut ranges: Vec<Range> = Vec::new();
    for &first in starts {
        let code = specialise(program, arch, first)?;
        match ranges.last() {
            Some(last) if last.code == code => {}
            _ => ranges.push(Range { first, code }),
        }
    }
    Ok(ranges)
}

/// The largest code kept for one class (docker's biggest, socket's or
/// clone's argument checks, is under 20 instructions).
const MAX_CLASS_CODE: usize = 128;

/// What `program` does for syscall `nr` on `arch` with the arguments still
/// unknown: every decision on the number and architecture taken, the
/// instructions that read arguments kept (as a tree: no code is shared).
fn specialise(program: &[Insn], arch: u32, nr: u32) -> Result<Vec<Insn>> {
    let mut out = Vec::new();
    emit_from(program, 0, Some(0), arch, nr, &mut out)?;
    Ok(out)
}

/// `a`: the accumulator if known (it came from nr, arch or a constant).
fn emit_from(
    program: &[Insn],
    mut pc: usize,
    mut a: Option<u32>,
    arch: u32,
    nr: u32,
    out: &mut Vec<Insn>,
) -> Result<()> {
    loop {
        if out.len() > MAX_CLASS_CODE {
            bail!("more than {MAX_CLASS_CODE} instructions for syscall {nr}");
        }
        let Some(&insn) = program.get(pc) else {
            bail!("the program runs off its end at {pc}");
        };
        pc += 1;
        match insn.code {
            LD_W_ABS if insn.k == NR => a = Some(nr),
            LD_W_ABS if insn.k == ARCH => a = Some(arch),
            LD_W_ABS => {
                out.push(insn);
                a = None;
            }
            LD_IMM => a = Some(insn.k),
            JA => pc += insn.k as usize,
            JEQ | JGT | JGE | JSET => match a {
                Some(known) => {
                    pc += if compare(insn.code, known, insn.k) {
                        insn.jt as usize
                    } else {
                        insn.jf as usize
                    };
                }
                None => {
                    // Both ways stay: [j k, 0, len(then)] then... else...
                    let mut then = Vec::new();
                    emit_from(program, pc + insn.jt as usize, None, arch, nr, &mut then)?;
                    let mut otherwise = Vec::new();
                    emit_from(
                        program,
                        pc + insn.jf as usize,
                        None,
                        arch,
                        nr,
                        &mut otherwise,
                    )?;
                    let skip = u8::try_from(then.len())
                        .map_err(|_| anyhow::anyhow!("a branch too long"))?;
                    out.push(Insn::jump(insn.code, insn.k, 0, skip));
                    out.extend(then);
                    out.extend(otherwise);
                    return Ok(());
                }
            },
            RET_K => {
                out.push(insn);
                return Ok(());
            }
            RET_A => {
                out.push(match a {
                    Some(known) => Insn::simple(RET_K, known),
                    None => insn,
                });
                return Ok(());
            }
            code if code & 0x07 == ALU_K && code & 0x08 == 0 => match a {
                Some(known) => a = Some(alu(code, known, insn.k)?),
                None => out.push(insn),
            },
            code => bail!("instruction {code:#x} at {}", pc - 1),
        }
    }
}

/// The new program: dispatch on the architecture, then per architecture a
/// binary search over its ranges (`jge first`), each range's code at its leaf.
fn lay_out(blocks: &[(Option<u32>, Vec<Range>)]) -> Result<Vec<Insn>> {
    let bodies: Vec<Vec<Insn>> = blocks
        .iter()
        .map(|(_, ranges)| arch_body(ranges))
        .collect::<Result<_>>()?;
    let named = blocks.iter().filter(|(arch, _)| arch.is_some()).count();
    let mut out = vec![Insn::simple(LD_W_ABS, ARCH)];
    // [jeq arch, 0, 1] [ja body]: a 32-bit jump reaches any body.
    let mut body_at = 1 + 2 * named + bodies.last().map_or(0, Vec::len);
    for ((arch, _), body) in blocks.iter().zip(&bodies) {
        if let Some(arch) = arch {
            out.push(Insn::jump(JEQ, *arch, 0, 1));
            let ja_next = out.len() + 1;
            out.push(Insn::simple(JA, (body_at - ja_next) as u32));
            body_at += body.len();
        }
    }
    // The unnamed architecture's body comes first, right after the dispatch.
    out.extend(bodies.last().cloned().unwrap_or_default());
    for ((arch, _), body) in blocks.iter().zip(&bodies) {
        if arch.is_some() {
            out.extend(body.iter().copied());
        }
    }
    if out.len() > 4096 {
        bail!("{} instructions: more than the kernel takes", out.len());
    }
    Ok(out)
}

fn arch_body(ranges: &[Range]) -> Result<Vec<Insn>> {
    if let [only] = ranges {
        return Ok(only.code.clone());
    }
    let mut out = vec![Insn::simple(LD_W_ABS, NR)];
    out.extend(match with_shared_returns(ranges) {
        Some(code) => code,
        None => search(ranges)?,
    });
    Ok(out)
}

/// Binary search with A = the syscall number: `jge` the middle range's first
/// number to the upper half, fall through to the lower.
fn search(ranges: &[Range]) -> Result<Vec<Insn>> {
    if let [only] = ranges {
        return Ok(only.code.clone());
    }
    let middle = ranges.len() / 2;
    let lower = search(&ranges[..middle])?;
    let upper = search(&ranges[middle..])?;
    let first = ranges[middle].first;
    let mut out = Vec::with_capacity(lower.len() + upper.len() + 2);
    match u8::try_from(lower.len()) {
        Ok(skip) => out.push(Insn::jump(JGE, first, skip, 0)),
        Err(_) => {
            out.push(Insn::jump(JGE, first, 0, 1));
            out.push(Insn::simple(JA, lower.len() as u32));
        }
    }
    out.extend(lower);
    out.extend(upper);
    Ok(out)
}

/// The same search, but a range whose whole code is one `ret` is not
/// written at its leaf: the comparison above it jumps straight to a shared
/// `ret` after the tree (one per distinct value). Half the instructions;
/// possible while every jump still reaches (8-bit offsets): None otherwise.
fn with_shared_returns(ranges: &[Range]) -> Option<Vec<Insn>> {
    let mut shared: Vec<Insn> = ranges.iter().filter_map(|r| lone_return(&r.code)).collect();
    shared.sort();
    shared.dedup();
    let tree_len = tree_size(ranges);
    if tree_len + shared.len() > usize::from(u8::MAX) {
        return None;
    }
    let mut out = Vec::with_capacity(tree_len + shared.len());
    emit_tree(ranges, &shared, tree_len, &mut out);
    out.extend(shared);
    Some(out)
}

fn lone_return(code: &[Insn]) -> Option<Insn> {
    match code {
        [ret] if ret.code == RET_K => Some(*ret),
        _ => None,
    }
}

/// Instructions of the tree over `ranges`, the shared returns not counted.
fn tree_size(ranges: &[Range]) -> usize {
    match ranges {
        [only] if lone_return(&only.code).is_some() => 0,
        [only] => only.code.len(),
        _ => {
            let middle = ranges.len() / 2;
            1 + tree_size(&ranges[..middle]) + tree_size(&ranges[middle..])
        }
    }
}

/// Write the tree at `out.len()`; the shared returns start at `tree_len`.
fn emit_tree(ranges: &[Range], shared: &[Insn], tree_len: usize, out: &mut Vec<Insn>) {
    let middle = ranges.len() / 2;
    let (lower, upper) = ranges.split_at(middle);
    if lower.is_empty() {
        // A single range: its own code (never a lone return here: the
        // caller jumps to the shared one instead).
        out.extend(ranges[0].code.iter().copied());
        return;
    }
    let here = out.len();
    let target = |half: &[Range], inline_at: usize| match half {
        [only] => match lone_return(&only.code) {
            Some(ret) => tree_len + shared.binary_search(&ret).expect("pooled"),
            None => inline_at,
        },
        _ => inline_at,
    };
    let lower_at = target(lower, here + 1);
    let upper_at = target(upper, here + 1 + tree_size(lower));
    let offset = |to: usize| (to - (here + 1)) as u8; // < 256: checked by the caller
    out.push(Insn::jump(
        JGE,
        upper[0].first,
        offset(upper_at),
        offset(lower_at),
    ));
    for half in [lower, upper] {
        if !matches!(half, [only] if lone_return(&only.code).is_some()) {
            emit_tree(half, shared, tree_len, out);
        }
    }
}

/// Emulate both programs where they could differ: every architecture class,
/// the first and last number of every class, and for a number whose answer
/// depends on its arguments, the arguments at every constant the program
/// compares them with (and next to it).
fn agree(
    original: &[Insn],
    relaid: &[Insn],
    split: &Split,
    blocks: &[(Option<u32>, Vec<Range>)],
) -> Result<()> {
    let values: Vec<u32> = split.arg_constants.iter().copied().collect();
    for (arch, ranges) in blocks {
        let arch = arch.unwrap_or(split.other_arch);
        for (i, &first) in split.nr_starts.iter().enumerate() {
            let last = split.nr_starts.get(i + 1).map_or(u32::MAX, |next| next - 1);
            let range = &ranges[ranges.partition_point(|r| r.first <= first) - 1];
            let mut tries = vec![[0u64; 6]];
            if range.code.len() > 1 {
                for &lo in &values {
                    for hi in [0, lo, u32::MAX] {
                        tries.push([(u64::from(hi) << 32) | u64::from(lo); 6]);
                    }
                }
            }
            for nr in [first, last] {
                for &args in &tries {
                    let data = SeccompData {
                        nr,
                        arch,
                        ip: 0,
                        args,
                    };
                    let (want, got) = (run(original, &data)?, run(relaid, &data)?);
                    if want != got {
                        bail!("disagree on {data:?}: {want:#x} against {got:#x}");
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::caps::{Capabilities, DOCKER_DEFAULT};
    use crate::security::seccomp::{KernelVersion, Machine, Profile, DEFAULT_PROFILE};

    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    const AUDIT_ARCH_I386: u32 = 0x4000_0003;
    const ALLOW: u32 = 0x7fff_0000;

    /// libseccomp's program for docker's default profile, as a container gets it.
    fn docker_default(caps: &Capabilities, x32: bool) -> Vec<Insn> {
        let machine = Machine {
            arch: "amd64",
            kernel: KernelVersion(6, 1),
            x32,
        };
        let policy = Profile::parse(DEFAULT_PROFILE)
            .unwrap()
            .resolve(caps, &machine)
            .unwrap();
        let filter = crate::security::seccomp::tests::build_filter(&policy);
        static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let nth = MADE.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let path =
            std::env::temp_dir().join(format!("seccomp-layout-test-{}-{nth}", std::process::id()));
        let mut file = std::fs::File::create(&path).unwrap();
        filter.export_bpf(&mut file).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        bytes
            .chunks_exact(8)
            .map(|c| Insn::from_word(u64::from_ne_bytes(c.try_into().unwrap())))
            .collect()
    }

    /// A small deterministic generator (xorshift): the same cases every run.
    struct Cases(u64);
    impl Cases {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn pick<T: Copy>(&mut self, from: &[T]) -> T {
            from[(self.next() % from.len() as u64) as usize]
        }
    }

    /// Random system calls, weighted to where filters decide things.
    fn random_call(cases: &mut Cases, constants: &[u32]) -> SeccompData {
        let any = cases.next() as u32;
        let arch = cases.pick(&[AUDIT_ARCH_X86_64, AUDIT_ARCH_I386, 0xc000_00b7, any]);
        let nr = match cases.next() % 4 {
            0 | 1 => (cases.next() % 600) as u32,
            2 => 0x4000_0000 + (cases.next() % 600) as u32,
            _ => cases.next() as u32,
        };
        let mut args = [0u64; 6];
        for arg in &mut args {
            let lo = match cases.next() % 3 {
                0 => cases.pick(constants),
                1 => cases.pick(constants) | (cases.next() as u32 & 0x0fff_0000),
                _ => cases.next() as u32,
            };
            let any = cases.next() as u32;
            let hi = cases.pick(&[0, u32::MAX, any]);
            *arg = (u64::from(hi) << 32) | u64::from(lo);
        }
        SeccompData {
            nr,
            arch,
            ip: cases.next(),
            args,
        }
    }

    fn agrees_everywhere(original: &[Insn], relaid: &[Insn]) {
        let constants: Vec<u32> = original.iter().map(|i| i.k).collect();
        let mut cases = Cases(0x5eed_cafe_f00d);
        for _ in 0..300_000 {
            let call = random_call(&mut cases, &constants);
            assert_eq!(
                run(original, &call).unwrap(),
                run(relaid, &call).unwrap(),
                "{call:?}"
            );
        }
        for arch in [AUDIT_ARCH_X86_64, AUDIT_ARCH_I386, 0] {
            for nr in (0..1100)
                .chain(0x4000_0000..0x4000_0400)
                .chain([u32::MAX, u32::MAX - 1])
            {
                let call = SeccompData {
                    nr,
                    arch,
                    ip: 0,
                    args: [0; 6],
                };
                assert_eq!(
                    run(original, &call).unwrap(),
                    run(relaid, &call).unwrap(),
                    "{call:?}"
                );
            }
        }
    }

    #[test]
    fn docker_default_takes_a_third_of_the_instructions_and_the_same_decisions() {
        let caps: Capabilities = DOCKER_DEFAULT.into_iter().collect();
        for x32 in [false, true] {
            let original = docker_default(&caps, x32);
            let relaid = relay(&original).unwrap();
            eprintln!(
                "x32 {x32}: {} -> {} instructions",
                original.len(),
                relaid.len()
            );
            assert!(
                relaid.len() * 5 < original.len() * 2,
                "{} -> {}",
                original.len(),
                relaid.len()
            );
            agrees_everywhere(&original, &relaid);
        }
    }

    #[test]
    fn every_capability_set_relays_and_agrees() {
        // With CAP_SYS_ADMIN, CAP_SYS_PTRACE...: the profile allows more (mount, ptrace).
        let all: Capabilities = ::caps::all();
        for caps in [all, Capabilities::new()] {
            let original = docker_default(&caps, false);
            let relaid = relay(&original).unwrap();
            agrees_everywhere(&original, &relaid);
        }
    }

    #[test]
    fn argument_checks_survive_the_layout() {
        let caps: Capabilities = DOCKER_DEFAULT.into_iter().collect();
        let relaid = relay(&docker_default(&caps, false)).unwrap();
        let call = |nr: i64, arg0: u64| {
            let data = SeccompData {
                nr: nr as u32,
                arch: AUDIT_ARCH_X86_64,
                ip: 0,
                args: [arg0, 0, 0, 0, 0, 0],
            };
            run(&relaid, &data).unwrap()
        };
        assert_eq!(call(libc::SYS_personality, 0xffff_ffff), ALLOW); // a query
        assert_ne!(call(libc::SYS_personality, 0x0040_0000), ALLOW); // READ_IMPLIES_EXEC
        assert_eq!(call(libc::SYS_clone, libc::SIGCHLD as u64), ALLOW);
        assert_ne!(call(libc::SYS_clone, libc::CLONE_NEWUSER as u64), ALLOW);
        assert_ne!(call(libc::SYS_clone, libc::CLONE_NEWNS as u64), ALLOW);
        assert_ne!(call(libc::SYS_mount, 0), ALLOW);
        assert_ne!(call(libc::SYS_open_by_handle_at, 0), ALLOW);
        assert_eq!(call(libc::SYS_read, 0), ALLOW);
    }

    #[test]
    fn programs_it_cannot_evaluate_are_refused() {
        let ldx = Insn::simple(0x01, 0); // ldx #0: the X register
        let ret = Insn::simple(RET_K, ALLOW);
        assert!(relay(&[ldx, ret]).is_err());
        // Arithmetic on the syscall number: the classes would not hold.
        let program = [
            Insn::simple(LD_W_ABS, NR),
            Insn::simple(0x54, 0xff), // and #0xff
            Insn::jump(JEQ, 1, 0, 1),
            ret,
            Insn::simple(RET_K, 0),
        ];
        assert!(relay(&program).is_err());
    }

    #[test]
    fn instructions_round_trip_through_words() {
        let insn = Insn::jump(JGE, 0x4000_0000, 7, 200);
        assert_eq!(Insn::from_word(insn.to_word()), insn);
    }
}
