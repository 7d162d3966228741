//! Mutant: the filter loaded after setting no_new_privs "because seccomp(2)
//! said EACCES" — what libseccomp's own load() does by default. Every
//! container then has no_new_privs, asked for or not, and a setuid program
//! inside no longer works as it does under docker.
use anyhow::{Context, Result};
use nix::errno::Errno;

use mini_docker::security::seccomp_program::BpfProgram;

pub fn load_seccomp(program: &BpfProgram) -> Result<()> {
    // (the mistake: no_new_privs set so that the load needs no capability)
    nix::sys::prctl::set_no_new_privs().context("prctl(PR_SET_NO_NEW_PRIVS)")?;
    let fprog = program.as_sock_fprog();
    // SAFETY: `fprog` points into `program`, alive for the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &fprog as *const libc::sock_fprog,
        )
    };
    Errno::result(ret).context("seccomp(SECCOMP_SET_MODE_FILTER)")?;
    Ok(())
}
