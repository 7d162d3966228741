//! `POST /images/create` (pull), `GET /images/json`, `GET /images/NAME/json`,
//! `DELETE /images/NAME`: chapter 9/10's image store. A pull is a re-exec
//! of `mini-docker pull` (the registry client is blocking and threaded; the
//! daemon only relays its outcome as docker's JSON progress stream).

use std::sync::Arc;

use bytes::Bytes;
use hyper::{Response, StatusCode};
use serde_json::json;

use super::{blocking, channel_body, json_reply, ApiError, Daemon, Query, Reply};
use crate::image::store::{ImageRecord, Store};

/// `fromImage=busybox&tag=1.36` (or a digest in `tag`) as one reference.
fn reference(query: &Query) -> Result<String, ApiError> {
    let image = query
        .get("fromImage")
        .filter(|i| !i.is_empty())
        .ok_or_else(|| ApiError::bad_request("fromImage is required (import is not supported)"))?;
    Ok(match query.get("tag").filter(|t| !t.is_empty()) {
        Some(digest) if digest.contains(':') && digest.starts_with("sha256") => {
            format!("{image}@{digest}")
        }
        Some(tag) => format!("{image}:{tag}"),
        None => image.to_string(),
    })
}

fn line(value: serde_json::Value) -> Bytes {
    Bytes::from(format!("{value}\r\n"))
}

/// docker's progress stream: "Pulling from", then "Digest" and "Status" on
/// success, or an errorDetail the CLI prints (and exits 1 with).
pub async fn create(daemon: Arc<Daemon>, query: &Query) -> Reply {
    let wanted = reference(query)?;
    let (tx, body) = channel_body();
    tokio::spawn(async move {
        let (name, tag) = match wanted.rsplit_once([':', '@']) {
            Some((n, t)) if !t.contains('/') => (n.to_string(), t.to_string()),
            _ => (wanted.clone(), "latest".to_string()),
        };
        let _ = tx
            .send(line(
                json!({"status": format!("Pulling from {name}"), "id": tag}),
            ))
            .await;
        let mut command = daemon.command();
        command.arg("pull").arg(&wanted);
        let outcome = tokio::task::spawn_blocking(move || command.output()).await;
        let message = match outcome {
            Ok(Ok(out)) if out.status.success() => {
                // "NAME:TAG sha256:DIGEST (linux/amd64, 1.2 MiB)"
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                let digest = text.split_whitespace().nth(1).unwrap_or("").to_string();
                let _ = tx
                    .send(line(json!({"status": format!("Digest: {digest}")})))
                    .await;
                let status = format!("Status: Downloaded newer image for {wanted}");
                let _ = tx.send(line(json!({ "status": status }))).await;
                return;
            }
            Ok(Ok(out)) => {
                let text = String::from_utf8_lossy(&out.stderr).into_owned();
                let last = text
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("pull failed");
                last.trim_start_matches("mini-docker: ").to_string()
            }
            Ok(Err(err)) => format!("start mini-docker pull: {err}"),
            Err(err) => format!("pull: {err}"),
        };
        let _ = tx
            .send(line(
                json!({"errorDetail": {"message": message}, "error": message}),
            ))
            .await;
    });
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header("Content-Type", "application/json")
        .body(body)
        .expect("a valid response"))
}

/// "2024-01-02T03:04:05.678Z" -> seconds since the epoch (0 if unreadable).
fn unix_seconds(rfc3339: &str) -> i64 {
    let number =
        |range: std::ops::Range<usize>| -> Option<i64> { rfc3339.get(range)?.parse().ok() };
    let (Some(y), Some(m), Some(d), Some(hh), Some(mm), Some(ss)) = (
        number(0..4),
        number(5..7),
        number(8..10),
        number(11..13),
        number(14..16),
        number(17..19),
    ) else {
        return 0;
    };
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + hh * 3600 + mm * 60 + ss
}

fn summary(key: &str, record: &ImageRecord) -> serde_json::Value {
    let size = record.size();
    json!({
        "Id": record.config_digest.to_string(),
        "ParentId": "",
        "RepoTags": [key],
        "RepoDigests": [format!("{}@{}", record.name, record.manifest_digest)],
        "Created": record.created.as_deref().map(unix_seconds).unwrap_or(0),
        "Size": size,
        "VirtualSize": size,
        "SharedSize": -1,
        "Labels": null,
        "Containers": -1,
    })
}

pub async fn list(daemon: &Daemon) -> Reply {
    let state_dir = daemon.state_dir.clone();
    let images = blocking(move || Store::open(&state_dir)?.images()).await?;
    let list: Vec<_> = images.iter().map(|(k, r)| summary(k, r)).collect();
    json_reply(StatusCode::OK, &json!(list))
}

/// The store's key for `text` (busybox -> docker.io/library/busybox:latest).
fn key_of(daemon: &Daemon, text: &str) -> anyhow::Result<String> {
    let r = daemon.steps.pull_protocol().resolve(text)?;
    Ok(match &r.digest {
        Some(digest) => format!("{}@{digest}", r.name()),
        None => format!("{}:{}", r.name(), r.tag.as_deref().unwrap_or("latest")),
    })
}

/// The image `text` names: by reference, or by (a prefix of) its id.
pub fn find(daemon: &Daemon, text: &str) -> anyhow::Result<(String, ImageRecord)> {
    let images = Store::open(&daemon.state_dir)?.images()?;
    let key = key_of(daemon, text).unwrap_or_default();
    let id = text.trim_start_matches("sha256:");
    images
        .into_iter()
        .find(|(k, r)| {
            *k == key || (id.len() >= 4 && r.config_digest.to_string()[7..].starts_with(id))
        })
        .ok_or_else(|| anyhow::anyhow!("No such image: {text}"))
}

pub async fn inspect(daemon: &Arc<Daemon>, name: &str) -> Reply {
    let (daemon, name) = (daemon.clone(), name.to_string());
    let value = blocking(move || {
        let (key, record) = find(&daemon, &name)?;
        let store = Store::open(&daemon.state_dir)?;
        let (config, _) = crate::image::container::image_config(&store, &record)?;
        let mut value = summary(&key, &record);
        let (os, arch) = record.platform.split_once('/').unwrap_or(("linux", &record.platform));
        value["Os"] = json!(os);
        value["Architecture"] = json!(arch);
        value["Created"] = json!(record.created);
        value["Config"] = json!({
            "Entrypoint": if config.entrypoint.is_empty() { None } else { Some(&config.entrypoint) },
            "Cmd": config.cmd, "Env": config.env,
            "WorkingDir": config.working_dir.unwrap_or_default(),
            "User": config.user.unwrap_or_default(),
        });
        value["RootFS"] = json!({"Type": "layers"});
        Ok(value)
    })
    .await?;
    json_reply(StatusCode::OK, &value)
}

pub async fn remove(daemon: &Arc<Daemon>, name: &str) -> Reply {
    let (daemon, name) = (daemon.clone(), name.to_string());
    let (key, id) = blocking(move || {
        let (key, record) = find(&daemon, &name)?;
        let users: Vec<String> = crate::lifecycle::state::list(&daemon.state_dir)
            .into_iter()
            .filter(|s| s.image == name || s.image == key)
            .map(|s| s.id)
            .collect();
        if let Some(user) = users.first() {
            anyhow::bail!("conflict: unable to remove {name}: container {user} is using it (is running: remove it first)");
        }
        Store::open(&daemon.state_dir)?.remove(&key)?;
        Ok((key, record.config_digest.to_string()))
    })
    .await?;
    json_reply(StatusCode::OK, &json!([{"Untagged": key}, {"Deleted": id}]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times_become_unix_seconds() {
        assert_eq!(unix_seconds("1970-01-01T00:00:00Z"), 0);
        assert_eq!(unix_seconds("2024-01-02T03:04:05.678Z"), 1_704_164_645);
        assert_eq!(unix_seconds("garbage"), 0);
    }
}
