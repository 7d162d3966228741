//! Mutant: the lesson's pitfall — argv passed without argv[0], so the command
//! believes it is called like its first argument.
use std::convert::Infallible;
use std::ffi::CString;

pub fn exec_command(argv: &[CString]) -> nix::Result<Infallible> {
    nix::unistd::execvp(&argv[0], &argv[1..])
}
