//! `POST /containers/create`: docker's JSON body onto the arguments of
//! chapter 12's `run -d` — the same arguments `mini-docker run -d` records,
//! so `start` (the shim) and `mini-docker start` run them the same way.
//!
//! ```text
//! {"Image":"busybox","Cmd":["httpd","-f"],"Tty":false,
//!  "HostConfig":{"PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}]},
//!                "Memory":33554432,"AutoRemove":true}}
//!   -> run -d --rm -m 33554432 -p 8080:80 busybox httpd -f
//! ```
//!
//! A field mini-docker cannot honour is refused (501) rather than dropped:
//! a container that silently lacks its restart policy or device is worse
//! than a clear "not supported".

use serde_json::Value;

use super::ApiError;
use crate::workshop::Steps;

/// One entry of `HostConfig.PortBindings`: `"80/tcp": [{"HostIp": "", "HostPort": "8080"}]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortBinding {
    /// The key: the container's port and protocol, "80/tcp".
    pub container_port: String,
    /// "" or "0.0.0.0": every address; "127.0.0.1": loopback only.
    pub host_ip: String,
    /// The host's port, "8080" ("" asks docker for a free one).
    pub host_port: String,
}

/// `Cmd`, `Entrypoint`: docker sends an array, a string, or null.
fn words(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        Value::String(text) => text.split_whitespace().map(String::from).collect(),
        _ => Vec::new(),
    }
}

fn strings(value: &Value) -> Vec<String> {
    words(&match value {
        Value::String(_) => Value::Null, // a list field given as one string: not ours
        other => other.clone(),
    })
}

/// `NetworkingConfig.EndpointsConfig.NET.Aliases` and the like: a list of names.
pub fn alias_list(value: &Value) -> Vec<String> {
    strings(value)
}

fn non_empty(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// HostConfig.PortBindings as a list, in key order.
pub fn port_bindings(value: &Value) -> Vec<PortBinding> {
    let Some(map) = value.as_object() else {
        return Vec::new();
    };
    let mut bindings = Vec::new();
    for (port, hosts) in map {
        for host in hosts.as_array().into_iter().flatten() {
            bindings.push(PortBinding {
                container_port: port.clone(),
                host_ip: host["HostIp"].as_str().unwrap_or("").to_string(),
                host_port: host["HostPort"].as_str().unwrap_or("").to_string(),
            });
        }
    }
    bindings
}

/// Fields we refuse when they ask for something (a default value passes).
const UNSUPPORTED: &[(&str, &str)] = &[
    ("HostConfig", "Devices"),
    ("HostConfig", "VolumesFrom"),
    ("HostConfig", "Links"),
    ("HostConfig", "Dns"),
    ("HostConfig", "ExtraHosts"),
    ("HostConfig", "CpusetCpus"),
    ("HostConfig", "MemorySwap"),
    ("HostConfig", "PublishAllPorts"),
    ("HostConfig", "IpcMode"),
    ("HostConfig", "PidMode"),
    ("HostConfig", "UsernsMode"),
    ("", "Volumes"),
    ("", "Healthcheck"),
    ("", "MacAddress"),
];

fn refuse_unsupported(body: &Value) -> Result<(), ApiError> {
    for (section, field) in UNSUPPORTED {
        let value = if section.is_empty() {
            &body[field]
        } else {
            &body[section][field]
        };
        if non_empty(value)
            && !matches!(
                (*field, value.as_str()),
                ("PidMode" | "IpcMode", Some("private" | "shareable"))
            )
        {
            let path = [*section, *field]
                .join(".")
                .trim_start_matches('.')
                .to_string();
            return Err(ApiError::not_implemented(format!(
                "{path} is not supported by mini-docker (asked: {value})"
            )));
        }
    }
    let restart = body["HostConfig"]["RestartPolicy"]["Name"]
        .as_str()
        .unwrap_or("");
    if !matches!(restart, "" | "no") {
        return Err(ApiError::not_implemented(format!(
            "restart policy {restart:?} is not supported by mini-docker (only \"no\")"
        )));
    }
    Ok(())
}

/// `-p`, from the learner's `publish_flags` (chapter 14); a todo!() there is
/// one clear error line, not a dropped connection.
fn publish(bindings: &[PortBinding], steps: &Steps) -> Result<Vec<String>, ApiError> {
    if bindings
        .iter()
        .any(|b| b.host_port.is_empty() || b.host_port == "0")
    {
        return Err(ApiError::not_implemented(
            "publishing to a random host port is not supported by mini-docker: give HOST:CONTAINER",
        ));
    }
    super::step("publish_flags", || {
        steps.ch14_daemon.publish_flags(bindings)
    })?
    .map_err(|e| ApiError::bad_request(format!("{e:#}")))
}

/// The `run -d` arguments for a create body (without the global flags).
pub fn run_args(body: &Value, name: Option<&str>, steps: &Steps) -> Result<Vec<String>, ApiError> {
    refuse_unsupported(body)?;
    let image = body["Image"]
        .as_str()
        .filter(|i| !i.is_empty())
        .ok_or_else(|| ApiError::bad_request("no image: the body's Image is empty"))?;
    let host = &body["HostConfig"];
    let mut args: Vec<String> = vec!["run".into(), "-d".into()];
    let mut flag = |name: &str, value: Option<String>| {
        args.push(name.to_string());
        args.extend(value);
    };
    if let Some(name) = name.filter(|n| !n.is_empty()) {
        flag("--name", Some(name.trim_start_matches('/').to_string()));
    }
    if host["AutoRemove"].as_bool() == Some(true) {
        flag("--rm", None);
    }
    if body["Tty"].as_bool() == Some(true) {
        flag("-t", None);
    }
    if body["OpenStdin"].as_bool() == Some(true) {
        flag("-i", None);
    }
    if let Some(hostname) = body["Hostname"].as_str().filter(|h| !h.is_empty()) {
        flag("--hostname", Some(hostname.to_string()));
    }
    for env in strings(&body["Env"]) {
        flag("-e", Some(env));
    }
    if let Some(dir) = body["WorkingDir"].as_str().filter(|d| !d.is_empty()) {
        flag("-w", Some(dir.to_string()));
    }
    if let Some(user) = body["User"].as_str().filter(|u| !u.is_empty()) {
        flag("-u", Some(user.to_string()));
    }
    for bind in strings(&host["Binds"]) {
        flag("-v", Some(bind));
    }
    match host["NetworkMode"].as_str().unwrap_or("") {
        "" | "default" | "bridge" => {}
        mode @ ("host" | "none") => flag("--network", Some(mode.to_string())),
        other => {
            return Err(ApiError::not_implemented(format!(
                "network {other:?} is not supported by mini-docker (bridge, host or none)"
            )))
        }
    }
    if let Some(memory) = host["Memory"].as_u64().filter(|m| *m > 0) {
        flag("-m", Some(memory.to_string()));
    }
    if let Some(pids) = host["PidsLimit"].as_i64().filter(|p| *p > 0) {
        flag("--pids-limit", Some(pids.to_string()));
    }
    if let Some(nano) = host["NanoCpus"].as_u64().filter(|n| *n > 0) {
        flag("--cpus", Some(format!("{}", nano as f64 / 1e9)));
    }
    for cap in strings(&host["CapAdd"]) {
        flag("--cap-add", Some(cap));
    }
    for cap in strings(&host["CapDrop"]) {
        flag("--cap-drop", Some(cap));
    }
    if host["Privileged"].as_bool() == Some(true) {
        flag("--privileged", None);
    }
    if host["ReadonlyRootfs"].as_bool() == Some(true) {
        flag("--read-only", None);
    }
    if host["Init"].as_bool() == Some(true) {
        flag("--init", None);
    }
    for opt in strings(&host["SecurityOpt"]) {
        flag("--security-opt", Some(opt));
    }
    if let Some(tmpfs) = host["Tmpfs"].as_object() {
        for (path, options) in tmpfs {
            let options = options.as_str().unwrap_or("");
            let value = match options.is_empty() {
                true => path.clone(),
                false => format!("{path}:{options}"),
            };
            flag("--tmpfs", Some(value));
        }
    }
    if let Some(secs) = body["StopTimeout"].as_u64() {
        flag("--stop-timeout", Some(secs.to_string()));
    }
    args.extend(publish(&port_bindings(&host["PortBindings"]), steps)?);
    let entrypoint = words(&body["Entrypoint"]);
    if let Some((first, rest)) = entrypoint.split_first() {
        // An empty entrypoint ("") clears the image's, like docker's.
        args.push(format!("--entrypoint={first}"));
        args.push(image.to_string());
        args.extend(rest.iter().cloned());
    } else {
        args.push(image.to_string());
    }
    args.extend(words(&body["Cmd"]));
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn port_bindings_are_listed_per_host() {
        let b = port_bindings(
            &json!({"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}, {"HostPort": "8081"}]}),
        );
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].container_port, "80/tcp");
        assert_eq!(
            (b[0].host_ip.as_str(), b[0].host_port.as_str()),
            ("127.0.0.1", "8080")
        );
        assert_eq!(
            (b[1].host_ip.as_str(), b[1].host_port.as_str()),
            ("", "8081")
        );
    }

    #[test]
    fn unsupported_fields_are_refused_with_their_name() {
        let err =
            refuse_unsupported(&json!({"HostConfig": {"Devices": [{"PathOnHost": "/dev/kvm"}]}}))
                .unwrap_err();
        assert_eq!(err.status, hyper::StatusCode::NOT_IMPLEMENTED);
        assert!(
            err.message.contains("HostConfig.Devices"),
            "{}",
            err.message
        );
        let err = refuse_unsupported(&json!({"HostConfig": {"RestartPolicy": {"Name": "always"}}}))
            .unwrap_err();
        assert!(err.message.contains("always"));
        refuse_unsupported(
            &json!({"HostConfig": {"Devices": [], "RestartPolicy": {"Name": "no"}}, "Volumes": {}}),
        )
        .unwrap();
    }
}
