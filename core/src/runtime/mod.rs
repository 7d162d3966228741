//! The stepwise container runtime: `mini-docker chapter N run -- CMD` and `run IMAGE`.
//!
//! Two processes matter:
//! - the **supervisor** (this process, on the host) clones the container's first
//!   process, does the host's side (id maps, cgroup, network), forwards stop
//!   signals and waits (`supervisor.rs`);
//! - the **inside** (the clone) builds the container from the inside, chapter
//!   by chapter, then execs the command (`inside.rs`).
//!
//! `launch.rs` is the orchestration, top-down in lesson order; the pieces:
//! `config.rs` (what the inside is told), `channel.rs` (how), `spawn.rs`
//! (clone), `root.rs` (the container's root: a rootfs or an image),
//! `volumes.rs`, `container_dir.rs`, `names.rs`, `dev.rs`, `tty.rs`,
//! `stdio.rs` (the container's stdio: pipes we relay).
//!
//! The clone runs the inside's code directly when mini-docker is
//! single-threaded at that moment (the usual case). If threads exist (HTTP,
//! progress bars, the port proxy), it re-executes `/proc/self/exe __inside`
//! instead: a forked copy of a threaded process may deadlock on a lock held by
//! a thread that does not exist in the copy; a fresh exec starts single-threaded.

pub mod channel;
pub mod config;
pub mod container_dir;
pub mod dev;
pub mod explain;
pub mod harden;
pub mod inside;
pub mod launch;
pub mod names;
pub mod namespaces;
pub mod placement;
pub mod root;
pub mod signals;
pub mod spawn;
pub mod stdio;
pub mod supervisor;
pub mod tty;
pub mod volumes;
