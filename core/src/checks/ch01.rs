//! Chapter 1 — process. Runs host commands (no rootfs yet).

use anyhow::{bail, Result};

use super::{random_hex, status_text, stderr_suffix, Check, Ctx};

pub fn checks() -> Vec<Check> {
    vec![
        Check {
            id: "1.1",
            title: "stdout and stderr arrive byte-exact and separate",
            points: 2,
            hint: "exec the command itself (execvp); don't pipe, capture or re-encode fds 0, 1, 2",
            run: stdout_stderr,
        },
        Check {
            id: "1.2",
            title: "stdin reaches the command",
            points: 1,
            hint: "exec keeps fd 0: don't close or replace stdin before execvp",
            run: stdin_passes,
        },
        Check {
            id: "1.3",
            title: "random exit codes come back unchanged",
            points: 2,
            hint: "waitpid, then WaitStatus::Exited(_, code) => code",
            run: exit_codes,
        },
        Check {
            id: "1.4",
            title: "a signal death gives 128 + signal (143, 137)",
            points: 2,
            hint: "WaitStatus::Signaled(_, signal, _) => 128 + signal as i32",
            run: signal_death,
        },
        Check {
            id: "1.5",
            title: "a missing command gives 127",
            points: 1,
            hint: "return execvp's error instead of panicking or exiting yourself",
            run: not_found,
        },
    ]
}

/// Random bytes as printf(1) octal escapes (dash's printf has no \x).
fn octal(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\{b:03o}")).collect()
}

fn random_bytes(n: usize) -> Result<Vec<u8>> {
    let hex = random_hex(n)?;
    Ok((0..n)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap_or(0))
        .collect())
}

fn stdout_stderr(ctx: &Ctx) -> Result<()> {
    let (out, err) = (random_bytes(24)?, random_bytes(24)?);
    let script = format!("printf '{}'; printf '{}' >&2", octal(&out), octal(&err));
    let o = ctx.output(1, &[], &["/bin/sh", "-c", &script], b"")?;
    if o.stdout != out || o.stderr != err {
        bail!(
            "expected {} bytes on stdout and {} on stderr exactly; got stdout={:?} stderr={:?}{}",
            out.len(),
            err.len(),
            o.stdout,
            o.stderr,
            stderr_suffix(&String::from_utf8_lossy(&o.stderr))
        );
    }
    Ok(())
}

fn stdin_passes(ctx: &Ctx) -> Result<()> {
    let input = random_bytes(4096)?;
    let o = ctx.output(1, &[], &["/bin/cat"], &input)?;
    if o.stdout != input {
        bail!(
            "fed 4096 random bytes to `cat`, got {} bytes back{}",
            o.stdout.len(),
            stderr_suffix(&String::from_utf8_lossy(&o.stderr))
        );
    }
    Ok(())
}

fn exit_codes(ctx: &Ctx) -> Result<()> {
    let randoms = random_bytes(3)?;
    // 125-127 mean "mini-docker failed / not executable / not found": skip them.
    let codes = [0u8, 1].into_iter().chain(randoms.into_iter().map(|b| {
        if (125..=127).contains(&b) {
            b - 10
        } else {
            b
        }
    }));
    for code in codes {
        let o = ctx.output(1, &[], &["/bin/sh", "-c", &format!("exit {code}")], b"")?;
        if o.status.code() != Some(code as i32) {
            bail!(
                "`sh -c 'exit {code}'` gave {}{}",
                status_text(&o),
                stderr_suffix(&String::from_utf8_lossy(&o.stderr))
            );
        }
    }
    Ok(())
}

fn signal_death(ctx: &Ctx) -> Result<()> {
    for (signal, expected) in [("TERM", 143), ("KILL", 137)] {
        let o = ctx.output(
            1,
            &[],
            &["/bin/sh", "-c", &format!("kill -{signal} $$")],
            b"",
        )?;
        if o.status.code() != Some(expected) {
            bail!(
                "a command killed by SIG{signal} gave {}, expected {expected}{}",
                status_text(&o),
                stderr_suffix(&String::from_utf8_lossy(&o.stderr))
            );
        }
    }
    Ok(())
}

fn not_found(ctx: &Ctx) -> Result<()> {
    let missing = format!("/nonexistent-{}", random_hex(4)?);
    let o = ctx.output(1, &[], &[&missing], b"")?;
    let stderr = String::from_utf8_lossy(&o.stderr);
    if o.status.code() != Some(127) || stderr.lines().count() != 1 {
        bail!(
            "running {missing} gave {} and {} stderr line(s), expected 127 and one line{}",
            status_text(&o),
            stderr.lines().count(),
            stderr_suffix(&stderr)
        );
    }
    Ok(())
}
