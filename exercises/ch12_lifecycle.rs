//! Chapter 12 — lifecycle: the shim and exec.
//! Lesson: chapters/12-lifecycle.md   Check: mini-docker check 12
//!
//! Until `join_namespaces` is written, `mini-docker exec` cannot enter a
//! container; until `record_exit` is, a container's exit is never written down.

use anyhow::Result;
use nix::unistd::Pid;

use mini_docker::lifecycle::state::State;

/// Join every namespace of the running process `container` (its PID 1, as
/// the host sees it). `user`: it has a user namespace of its own to join.
/// The scaffold forks right after: the new PID namespace only holds children.
pub fn join_namespaces(container: Pid, user: bool) -> Result<()> {
    // TODO(ch12): open /proc/PID/ns/{user,ipc,uts,net,pid,cgroup,mnt} *first*
    //             (why can you not open them after joining the mount
    //             namespace?), then setns(2) into each. The order matters:
    //             the user namespace first (it owns the others: joining it
    //             grants the capabilities to join them), the mount namespace
    //             last. Leave out the user namespace when `user` is false:
    //             one cannot setns into one's own (EINVAL).
    //             Lesson: "Entering a running container".
    todo!("join_namespaces — chapters/12-lifecycle.md, \"Entering a running container\"")
}

/// The shim's last step: PID 1 ended with exit status `code` (128 + N for
/// signal N); `oom_killed`: the cgroup counted an OOM kill. Write it down.
pub fn record_exit(state: &mut State, code: i32, oom_killed: bool) {
    // TODO(ch12): the container is now exited (`state.status`), with this
    //             exit code, this OOM flag and the time it finished
    //             (`state.finished`, nanoseconds since the epoch:
    //             mini_docker::lifecycle::state::now()). The scaffold holds
    //             the lock and writes the file atomically.
    //             Lesson: "The shim".
    todo!("record_exit — chapters/12-lifecycle.md, \"The shim\"")
}
