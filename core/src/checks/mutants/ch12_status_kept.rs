//! Mutant: the exit code written, the status not — "the code says it all".
//! state.json still says running: `ps` shows the container Up until the
//! liveness check finds its keeper gone, then Exited (137), never its code.
use mini_docker::lifecycle::state::{self, State};

pub fn record_exit(state: &mut State, code: i32, oom_killed: bool) {
    // (the mistake: state.status is not set to Status::Exited)
    state.exit_code = Some(code);
    state.oom_killed = oom_killed;
    state.finished = state::now();
}
