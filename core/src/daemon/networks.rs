//! User-defined networks (`docker network create`, compose's
//! `PROJECT_default`): each one is a bridge of its own, made by chapter 6's
//! `--bridge NAME --subnet CIDR` machinery when its first member starts,
//! with its own NAT table and leases. The record is a file,
//! STATE/networks/ID.json: the daemon keeps nothing in memory.
//!
//! Names resolve through /etc/hosts, not a DNS server: when a member
//! starts, every running member's hosts file is rewritten with the others'
//! addresses under their aliases (compose's service names). A member that
//! starts later is added to the earlier ones' files, so `web` started first
//! still learns `client`.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use hyper::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{blocking, empty, json_reply, ApiError, Daemon, Query, Reply};
use crate::lifecycle::state::{self, container_dir, State};
use crate::net::ipam::Subnet;
use crate::sys::lock::FileLock;

/// One user-defined network, as STATE/networks/ID.json holds it.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct NetworkRecord {
    pub id: String,
    pub name: String,
    /// The host bridge: `mdn` and the id's first 12 hex digits (15 bytes,
    /// the longest interface name).
    pub bridge: String,
    pub subnet: String,
    pub created: u64,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

impl NetworkRecord {
    fn subnet(&self) -> anyhow::Result<Subnet> {
        self.subnet.parse()
    }
}

/// The names docker always has; they are not records.
const BUILTIN: &[&str] = &["bridge", "host", "none"];

fn networks_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("networks")
}

fn record_path(state_dir: &Path, id: &str) -> PathBuf {
    networks_dir(state_dir).join(format!("{id}.json"))
}

/// Every record, oldest first.
pub fn list_records(state_dir: &Path) -> Vec<NetworkRecord> {
    let Ok(entries) = std::fs::read_dir(networks_dir(state_dir)) else {
        return Vec::new();
    };
    let mut records: Vec<NetworkRecord> = entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| std::fs::read(e.path()).ok())
        .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
        .collect();
    records.sort_by_key(|r| r.created);
    records
}

/// A network by its name, its id or an id prefix, as docker resolves one.
pub fn find(state_dir: &Path, name: &str) -> Option<NetworkRecord> {
    let records = list_records(state_dir);
    if let Some(found) = records.iter().find(|r| r.name == name || r.id == name) {
        return Some(found.clone());
    }
    let mut prefixed = records.into_iter().filter(|r| r.id.starts_with(name));
    match (prefixed.next(), prefixed.next()) {
        (Some(only), None) if !name.is_empty() => Some(only),
        _ => None,
    }
}

/// The first free /16 from 10.97.0.0 on (mdk0's 10.88.0.0/16 stays clear):
/// not another network's and not overlapping a host route.
fn free_subnet(records: &[NetworkRecord]) -> anyhow::Result<Subnet> {
    for second in 97..=126u8 {
        let subnet = Subnet {
            network: Ipv4Addr::new(10, second, 0, 0),
            prefix: 16,
        };
        let taken = records
            .iter()
            .any(|r| r.subnet().is_ok_and(|s| overlaps(s, subnet)));
        if !taken && crate::net::refuse_overlap(subnet).is_ok() {
            return Ok(subnet);
        }
    }
    bail!("no free subnet left in 10.97.0.0-10.126.255.255: give one in IPAM.Config")
}

fn overlaps(a: Subnet, b: Subnet) -> bool {
    let mask = u32::MAX << (32 - a.prefix.min(b.prefix).max(1));
    u32::from(a.network) & mask == u32::from(b.network) & mask
}

/// The body's IPAM.Config[0].Subnet, if it gives one.
fn asked_subnet(body: &Value) -> Result<Option<Subnet>, ApiError> {
    let Some(text) = body["IPAM"]["Config"][0]["Subnet"].as_str() else {
        return Ok(None);
    };
    let subnet: Subnet = text
        .parse()
        .map_err(|e| ApiError::bad_request(format!("invalid subnet {text:?}: {e:#}")))?;
    Ok(Some(subnet))
}

fn string_map(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Refuse what a bridge of ours cannot be (another driver, IPv6, internal).
fn refuse_unsupported(body: &Value) -> Result<(), ApiError> {
    let driver = body["Driver"].as_str().unwrap_or("");
    if !matches!(driver, "" | "bridge") {
        return Err(ApiError::not_implemented(format!(
            "network driver {driver:?} is not supported by mini-docker (only bridge)"
        )));
    }
    for field in ["EnableIPv6", "Internal"] {
        if body[field].as_bool() == Some(true) {
            return Err(ApiError::not_implemented(format!(
                "{field} networks are not supported by mini-docker"
            )));
        }
    }
    Ok(())
}

/// `POST /networks/create`: the record only; the bridge comes with the
/// first member (and goes with `DELETE`).
pub async fn create(daemon: Arc<Daemon>, body: Value) -> Reply {
    refuse_unsupported(&body)?;
    let name = body["Name"].as_str().unwrap_or("").to_string();
    if name.is_empty() || name.contains('/') {
        return Err(ApiError::bad_request(format!(
            "invalid network name {name:?}"
        )));
    }
    if BUILTIN.contains(&name.as_str()) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("{name} is a pre-defined network and cannot be created"),
        ));
    }
    let asked = asked_subnet(&body)?;
    let (labels, options) = (string_map(&body["Labels"]), string_map(&body["Options"]));
    let id = blocking(move || {
        let dir = networks_dir(&daemon.state_dir);
        let _lock = FileLock::exclusive(&dir.join("lock"))?;
        let records = list_records(&daemon.state_dir);
        if records.iter().any(|r| r.name == name) {
            bail!("network with name {name} already exists");
        }
        let subnet = match asked {
            Some(subnet) => subnet,
            None => free_subnet(&records)?,
        };
        if let Some(other) = records
            .iter()
            .find(|r| r.subnet().is_ok_and(|s| overlaps(s, subnet)))
        {
            bail!(
                "invalid pool request: {subnet} overlaps network {}",
                other.name
            );
        }
        let id = crate::sys::new_id()?;
        let record = NetworkRecord {
            bridge: format!("mdn{}", crate::sys::short_id(&id)),
            id: id.clone(),
            name,
            subnet: subnet.to_string(),
            created: state::now(),
            labels,
            options,
        };
        let path = record_path(&daemon.state_dir, &id);
        std::fs::write(&path, serde_json::to_vec_pretty(&record)?)
            .with_context(|| format!("write {}", path.display()))?;
        Ok(id)
    })
    .await
    .map_err(ApiError::when(
        &["already exists", "overlaps"],
        StatusCode::CONFLICT,
    ))?;
    json_reply(StatusCode::CREATED, &json!({"Id": id, "Warning": ""}))
}

/// The running members of a network.
fn members(state_dir: &Path, network: &str) -> Vec<State> {
    state::list(state_dir)
        .into_iter()
        .filter(|s| s.endpoint.as_ref().is_some_and(|e| e.network == network))
        .collect()
}

fn network_json(record: &NetworkRecord, members: &[State]) -> Value {
    let subnet = record.subnet().ok();
    let containers: serde_json::Map<String, Value> = members
        .iter()
        .filter(|s| s.is_running())
        .map(|s| {
            let ip = s.ip_address.clone().unwrap_or_default();
            let prefix = subnet.map(|n| n.prefix).unwrap_or(16);
            (
                s.id.clone(),
                json!({"Name": s.name.clone().unwrap_or_default(), "EndpointID": s.id,
                       "MacAddress": "", "IPv4Address": format!("{ip}/{prefix}"), "IPv6Address": ""}),
            )
        })
        .collect();
    json!({
        "Name": record.name,
        "Id": record.id,
        "Created": crate::lifecycle::time::rfc3339_nano(record.created),
        "Scope": "local",
        "Driver": "bridge",
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": null, "Config": [{
            "Subnet": record.subnet,
            "Gateway": subnet.map(|s| s.gateway().to_string()).unwrap_or_default(),
        }]},
        "Internal": false,
        "Attachable": false,
        "Ingress": false,
        "ConfigOnly": false,
        "Containers": containers,
        "Options": record.options,
        "Labels": record.labels,
    })
}

/// The pre-defined ones, shaped like records (no members listed).
fn builtin_json(name: &str) -> Value {
    json!({"Name": name, "Id": name, "Scope": "local",
           "Driver": if name == "bridge" { "bridge" } else { "null" },
           "EnableIPv6": false, "IPAM": {"Driver": "default", "Config": []},
           "Internal": false, "Attachable": false, "Ingress": false,
           "Containers": {}, "Options": {}, "Labels": {}})
}

/// `filters={"label":["com.docker.compose.network=default"],"name":["p_default"]}`.
fn matches(network: &Value, filters: &Value) -> bool {
    let builtin = BUILTIN.contains(&network["Id"].as_str().unwrap_or(""));
    super::containers::filters_match(filters, &network["Labels"], |key, v| match key {
        "name" => network["Name"].as_str().is_some_and(|n| n.contains(v)),
        "id" => network["Id"].as_str().is_some_and(|i| i.starts_with(v)),
        "driver" => network["Driver"] == v,
        "type" => match v {
            "builtin" => builtin,
            "custom" => !builtin,
            _ => false,
        },
        _ => false,
    })
}

/// `GET /networks?filters=...`.
pub async fn list(daemon: &Arc<Daemon>, query: &Query) -> Reply {
    let filters = super::containers::parse_filters(query)?;
    let daemon = daemon.clone();
    let all = blocking(move || {
        let mut all: Vec<Value> = BUILTIN.iter().map(|n| builtin_json(n)).collect();
        for record in list_records(&daemon.state_dir) {
            all.push(network_json(
                &record,
                &members(&daemon.state_dir, &record.name),
            ));
        }
        Ok(all)
    })
    .await?;
    let shown: Vec<Value> = all.into_iter().filter(|n| matches(n, &filters)).collect();
    json_reply(StatusCode::OK, &json!(shown))
}

fn not_found(name: &str) -> anyhow::Error {
    anyhow::anyhow!("No such network: {name}")
}

/// `GET /networks/NAME`.
pub async fn inspect(daemon: &Arc<Daemon>, name: &str) -> Reply {
    if BUILTIN.contains(&name) {
        return json_reply(StatusCode::OK, &builtin_json(name));
    }
    let (daemon, name) = (daemon.clone(), name.to_string());
    let value = blocking(move || {
        let record = find(&daemon.state_dir, &name).ok_or_else(|| not_found(&name))?;
        Ok(network_json(
            &record,
            &members(&daemon.state_dir, &record.name),
        ))
    })
    .await?;
    json_reply(StatusCode::OK, &value)
}

/// `DELETE /networks/NAME`: refused while a container (running or not) is
/// on it, as docker refuses; then the bridge and its NAT table go, as
/// `mini-docker cleanup --bridge` removes them, and the record.
pub async fn remove(daemon: Arc<Daemon>, name: &str) -> Reply {
    if BUILTIN.contains(&name) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("{name} is a pre-defined network and cannot be removed"),
        ));
    }
    let name = name.to_string();
    blocking(move || {
        let _lock = FileLock::exclusive(&networks_dir(&daemon.state_dir).join("lock"))?;
        let record = find(&daemon.state_dir, &name).ok_or_else(|| not_found(&name))?;
        let on_it = members(&daemon.state_dir, &record.name);
        if !on_it.is_empty() {
            bail!(
                "error while removing network: network {} id {} has active endpoints ({} container(s))",
                record.name,
                record.id,
                on_it.len()
            );
        }
        crate::net::cleanup(&daemon.state_dir, &record.bridge)?;
        let hosts_lock = networks_dir(&daemon.state_dir).join(format!("{}.hosts.lock", record.name));
        let _ = std::fs::remove_file(hosts_lock);
        let path = record_path(&daemon.state_dir, &record.id);
        std::fs::remove_file(&path).with_context(|| format!("remove {}", path.display()))
    })
    .await
    .map_err(ApiError::when(&["active endpoints", "still"], StatusCode::FORBIDDEN))?;
    empty(StatusCode::NO_CONTENT)
}

/// `POST /networks/NAME/connect`: a container is on one network, the one
/// it was created on; connecting it there again only adds aliases (compose
/// does that), another network is refused.
pub async fn connect(daemon: Arc<Daemon>, name: &str, body: Value) -> Reply {
    let name = name.to_string();
    let container = body["Container"].as_str().unwrap_or("").to_string();
    let aliases = super::create::alias_list(&body["EndpointConfig"]["Aliases"]);
    blocking(move || {
        let (record, dir, on_it) = network_and_member(&daemon.state_dir, &name, &container)?;
        if !on_it {
            bail!("connecting container {container} to network {name} after its create is not supported by mini-docker: give the network at create");
        }
        state::update(&dir, |s| {
            if let Some(endpoint) = s.endpoint.as_mut() {
                for alias in aliases {
                    if !endpoint.aliases.contains(&alias) {
                        endpoint.aliases.push(alias);
                    }
                }
            }
        })?;
        refresh_hosts(&daemon.state_dir, &record.name);
        Ok(())
    })
    .await
    .map_err(ApiError::when(&["not supported"], StatusCode::NOT_IMPLEMENTED))?;
    empty(StatusCode::OK)
}

/// `POST /networks/NAME/disconnect`: a stopped container may leave (compose
/// does so before it connects again); a running one may not.
pub async fn disconnect(daemon: Arc<Daemon>, name: &str, body: Value) -> Reply {
    let name = name.to_string();
    let container = body["Container"].as_str().unwrap_or("").to_string();
    blocking(move || {
        let (_, _, on_it) = network_and_member(&daemon.state_dir, &name, &container)?;
        if !on_it {
            bail!("container {container} is not connected to network {name}");
        }
        bail!("disconnecting container {container} from network {name} is not supported by mini-docker")
    })
    .await
    .map_err(ApiError::when(&["not supported"], StatusCode::NOT_IMPLEMENTED))?;
    empty(StatusCode::OK)
}

/// The network `name`, the directory of `container`, and whether the
/// container is on that network (a container is on one, the one it was
/// created on).
fn network_and_member(
    state_dir: &Path,
    name: &str,
    container: &str,
) -> anyhow::Result<(NetworkRecord, PathBuf, bool)> {
    let record = find(state_dir, name).ok_or_else(|| not_found(name))?;
    let id = state::resolve(state_dir, container)
        .map_err(|_| anyhow::anyhow!("No such container: {container}"))?;
    let dir = container_dir(state_dir, &id);
    let s = state::read(&dir)?;
    let on_it = s.endpoint.as_ref().map(|e| e.network.as_str()) == Some(record.name.as_str());
    Ok((record, dir, on_it))
}

/// The `run` flags that put a container on a user-defined network: its
/// bridge and subnet, chapter 6's own.
pub fn run_flags(record: &NetworkRecord) -> Vec<String> {
    vec![
        "--bridge".into(),
        record.bridge.clone(),
        "--subnet".into(),
        record.subnet.clone(),
    ]
}

/// The names a member is known by on its network: its aliases, its name
/// and its short id (compose looks for the short id among the aliases).
pub fn names_of(s: &State) -> Vec<String> {
    let mut names: Vec<String> = s
        .endpoint
        .as_ref()
        .map(|e| e.aliases.clone())
        .unwrap_or_default();
    names.extend(s.name.clone());
    names.push(crate::sys::short_id(&s.id).to_string());
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| !n.is_empty() && seen.insert(n.clone()));
    names
}

/// A member's /etc/hosts: its own line, then every other running member's
/// address and names.
pub fn hosts_file(me: &State, others: &[State]) -> String {
    let address = me.ip_address.as_deref().and_then(|a| a.parse().ok());
    let mut text = crate::net::files::hosts(&me.hostname, address);
    for other in others.iter().filter(|o| o.id != me.id) {
        if let Some(ip) = other.ip_address.as_deref() {
            text.push_str(&format!("{ip}\t{}\n", names_of(other).join(" ")));
        }
    }
    text
}

/// Rewrite every running member's hosts file. In place (truncate and
/// write, the same inode): the file is bind-mounted into the container,
/// and a rename would leave the mount on the old file. Under a lock:
/// compose starts services in parallel, and a refresh that read the
/// members before another's start must not write after that one's.
pub fn refresh_hosts(state_dir: &Path, network: &str) {
    let lock = networks_dir(state_dir).join(format!("{network}.hosts.lock"));
    let Ok(_lock) = FileLock::exclusive(&lock) else {
        return;
    };
    let running: Vec<State> = members(state_dir, network)
        .into_iter()
        .filter(|s| s.is_running() && s.ip_address.is_some())
        .collect();
    for member in &running {
        let path = container_dir(state_dir, &member.id).join("hosts");
        if path.exists() {
            let _ = std::fs::write(&path, hosts_file(member, &running));
        }
    }
}

/// `GET /volumes`: mini-docker has bind mounts only; compose lists volumes.
pub fn volumes() -> Reply {
    json_reply(StatusCode::OK, &json!({"Volumes": [], "Warnings": []}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::state::Endpoint;

    fn member(id: &str, name: &str, ip: &str, alias: &str) -> State {
        State {
            id: id.into(),
            name: Some(name.into()),
            hostname: id[..4].into(),
            ip_address: Some(ip.into()),
            endpoint: Some(Endpoint {
                network: "p_default".into(),
                aliases: vec![alias.into()],
            }),
            ..State::default()
        }
    }

    #[test]
    fn hosts_lists_the_other_members_by_alias_and_name() {
        let web = member("aaaa1111bbbb2222", "p_web_1", "10.97.0.2", "web");
        let client = member("cccc3333dddd4444", "p_client_1", "10.97.0.3", "client");
        let text = hosts_file(&client, &[web.clone(), client.clone()]);
        assert!(text.contains("10.97.0.3\tcccc\n"), "{text}");
        assert!(
            text.contains("10.97.0.2\tweb p_web_1 aaaa1111bbbb\n"),
            "{text}"
        );
        assert!(!text.contains("client p_client_1"), "{text}");
    }

    #[test]
    fn subnets_overlap_by_the_shorter_prefix() {
        let a: Subnet = "10.97.0.0/16".parse().unwrap();
        assert!(overlaps(a, "10.97.3.0/24".parse().unwrap()));
        assert!(!overlaps(a, "10.98.0.0/16".parse().unwrap()));
    }

    #[test]
    fn network_filters_match_labels_and_names() {
        let record = NetworkRecord {
            id: "abcd".into(),
            name: "p_default".into(),
            bridge: "mdnabcd".into(),
            subnet: "10.97.0.0/16".into(),
            created: 0,
            labels: [(
                "com.docker.compose.network".to_string(),
                "default".to_string(),
            )]
            .into(),
            options: BTreeMap::new(),
        };
        let value = network_json(&record, &[]);
        assert!(matches(
            &value,
            &json!({"label": ["com.docker.compose.network=default"]})
        ));
        assert!(matches(
            &value,
            &json!({"label": ["com.docker.compose.network"]})
        ));
        assert!(!matches(
            &value,
            &json!({"label": ["com.docker.compose.network=other"]})
        ));
        assert!(matches(&value, &json!({"name": ["p_default"]})));
        assert!(!matches(
            &builtin_json("host"),
            &json!({"name": ["p_default"]})
        ));
    }
}
