//! mini-docker: containers from scratch, one chapter at a time.

fn main() -> std::process::ExitCode {
    mini_docker::cli::main()
}
