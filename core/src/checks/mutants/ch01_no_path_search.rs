//! Mutant: execv instead of execvp — argv[0] is taken as a path, $PATH is
//! never searched, so `cat` is "not found" (every check that names /bin/sh passes).
use std::convert::Infallible;
use std::ffi::CString;

pub fn exec_command(argv: &[CString]) -> nix::Result<Infallible> {
    nix::unistd::execv(&argv[0], argv)
}
