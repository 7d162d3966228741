//! `/_ping`, `/version`, `/info`, `/events`: what the CLI asks before
//! anything else (the API version to speak) and what `docker info` shows.

use hyper::{Response, StatusCode};
use serde_json::json;

use super::{channel_body, full, json_reply, Daemon, Reply, API_VERSION, MIN_API_VERSION};
use crate::lifecycle::state;

/// `GET /_ping`: "OK" and the API version in a header; the CLI negotiates
/// down to it (docker 28's client asks 1.41 of us then).
pub fn ping() -> Reply {
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header("Content-Type", "text/plain; charset=utf-8")
        .header("Cache-Control", "no-cache, no-store, must-revalidate")
        .header("Docker-Experimental", "false")
        .header("Ostype", "linux")
        .body(full("OK"))
        .expect("a valid response"))
}

fn kernel() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

pub fn version() -> Reply {
    let version = env!("CARGO_PKG_VERSION");
    json_reply(
        StatusCode::OK,
        &json!({
            "Platform": {"Name": "mini-docker"},
            "Components": [{
                "Name": "Engine",
                "Version": version,
                "Details": {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
                            "Os": "linux", "Arch": arch(), "KernelVersion": kernel()},
            }],
            "Version": version,
            "ApiVersion": API_VERSION,
            "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": "mini-docker",
            "GoVersion": "rust",
            "Os": "linux",
            "Arch": arch(),
            "KernelVersion": kernel(),
            "BuildTime": "",
        }),
    )
}

pub async fn info(daemon: &Daemon) -> Reply {
    let state_dir = daemon.state_dir.clone();
    let (containers, images) = super::blocking(move || {
        let images = crate::image::store::Store::open(&state_dir)
            .and_then(|s| s.images())
            .map(|i| i.len())
            .unwrap_or(0);
        Ok((state::list(&state_dir), images))
    })
    .await?;
    let running = containers.iter().filter(|c| c.is_running()).count();
    let hostname = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    json_reply(
        StatusCode::OK,
        &json!({
            "ID": "mini-docker",
            "Containers": containers.len(),
            "ContainersRunning": running,
            "ContainersPaused": 0,
            "ContainersStopped": containers.len() - running,
            "Images": images,
            "Driver": "overlay2",
            "DriverStatus": [],
            "DockerRootDir": daemon.state_dir,
            "Name": hostname,
            "ServerVersion": env!("CARGO_PKG_VERSION"),
            "OperatingSystem": "mini-docker on Linux",
            "OSType": "linux",
            "Architecture": std::env::consts::ARCH,
            "KernelVersion": kernel(),
            "NCPU": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            "MemTotal": 0,
            "CgroupDriver": "cgroupfs",
            "CgroupVersion": if v2 { "2" } else { "1" },
            "LoggingDriver": "json-file",
            "SecurityOptions": ["name=seccomp,profile=default", "name=no-new-privileges"],
            "Plugins": {"Volume": [], "Network": ["bridge", "host", "none"], "Log": ["json-file"]},
            "RegistryConfig": {"IndexConfigs": {}, "InsecureRegistryCIDRs": ["127.0.0.0/8"]},
            "Swarm": {"LocalNodeState": "inactive"},
            "Runtimes": {"mini-docker": {"path": "/proc/self/exe"}},
            "DefaultRuntime": "mini-docker",
            "Warnings": ["mini-docker: the API socket is root-equivalent; only root and the mini-docker group may use it"],
        }),
    )
}

/// `GET /events`: no events are recorded; the stream stays open (empty)
/// until the client leaves, so a CLI waiting on it never errors.
pub fn events() -> Reply {
    let (tx, body) = channel_body();
    tokio::spawn(async move {
        // Holding the sender keeps the body open; it ends when the client goes.
        tx.closed().await;
    });
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header("Content-Type", "application/json")
        .body(body)
        .expect("a valid response"))
}
