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
        Check {
            id: "1.6",
            title: "a bare name is found in $PATH and sees its whole argv, argv[0] first",
            points: 1,
            hint: "execvp(&argv[0], argv): the p searches $PATH, and argv[0] stays in the argv",
            run: whole_argv,
        },
        Check {
            id: "1.7",
            title: "a command stopped then continued is waited for to its real end",
            points: 1,
            hint: "loop on waitpid until Exited or Signaled: a stop is not an end (and needs no WUNTRACED)",
            run: stop_is_not_an_end,
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

/// `cat /proc/self/cmdline` prints the argv cat was given, NUL-separated: a
/// name without '/' only runs if $PATH was searched (execvp, not execv), and
/// prints itself only if argv[0] was passed on (the lesson's pitfall).
fn whole_argv(ctx: &Ctx) -> Result<()> {
    let argv = ["cat", "/proc/self/cmdline"];
    let o = ctx.output(1, &[], &argv, b"")?;
    let stderr = String::from_utf8_lossy(&o.stderr);
    if o.status.code() == Some(127) {
        bail!(
            "`cat` (a name without '/') was not found: a bare name must be searched in $PATH{}",
            stderr_suffix(&stderr)
        );
    }
    let expected: Vec<u8> = argv.iter().flat_map(|a| [a.as_bytes(), b"\0"].concat()).collect();
    if o.stdout != expected {
        let seen: Vec<String> = o
            .stdout
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        bail!(
            "`cat /proc/self/cmdline` printed the argv {seen:?} (exit {}), expected {argv:?}: \
             argv[0], the program's own name, is part of argv{}",
            status_text(&o),
            stderr_suffix(&stderr)
        );
    }
    Ok(())
}

/// The command stops itself (SIGSTOP, as a debugger or job control would) and
/// a child of its own continues it 0.3 s later: mini-docker must wait through
/// the stop and report the exit that follows, not the stop.
fn stop_is_not_an_end(ctx: &Ctx) -> Result<()> {
    let code = 40 + random_bytes(1)?[0] % 40;
    let script = format!("(sleep 0.3; kill -CONT $$) & kill -STOP $$; wait; exit {code}");
    let o = ctx.output(1, &[], &["/bin/sh", "-c", &script], b"")?;
    if o.status.code() != Some(code as i32) {
        bail!(
            "a command that stopped (SIGSTOP), was continued and then exited {code} gave {}: \
             a stop is not an end{}",
            status_text(&o),
            stderr_suffix(&String::from_utf8_lossy(&o.stderr))
        );
    }
    Ok(())
}
