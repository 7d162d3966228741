//! Errors the way runc writes them: to stderr, and to `--log FILE` as text
//! (`time="..." level=error msg="..."`) or JSON (`{"level":"error","msg":...}`).
//! conmon passes `--log-format json` and shows podman the last error's msg.

use std::io::Write;
use std::sync::OnceLock;

use super::cli::Global;

struct Sink {
    file: Option<std::path::PathBuf>,
    json: bool,
    debug: bool,
}

static SINK: OnceLock<Sink> = OnceLock::new();

pub fn init(global: &Global) {
    let _ = SINK.set(Sink {
        file: global.log.clone(),
        json: global.log_format.as_deref() == Some("json"),
        debug: global.debug,
    });
}

pub fn error(message: &str) {
    write("error", message);
    eprintln!("{}: {message}", super::RUNC_NAME);
}

/// `--debug` only.
pub fn debug(message: &str) {
    if SINK.get().is_some_and(|s| s.debug) {
        write("debug", message);
    }
}

fn write(level: &str, message: &str) {
    let Some(Sink {
        file: Some(path),
        json,
        ..
    }) = SINK.get()
    else {
        return;
    };
    let time = super::state::rfc3339_now();
    let line = if *json {
        serde_json::json!({"level": level, "msg": message, "time": time}).to_string()
    } else {
        format!("time={time:?} level={level} msg={message:?}")
    };
    // O_APPEND and O_CLOEXEC: never inherited by the container.
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = file.write_all(format!("{line}\n").as_bytes());
    }
}
