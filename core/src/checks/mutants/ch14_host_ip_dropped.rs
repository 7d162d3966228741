//! Mutant: HostIp ignored — "-p HOST:CONTAINER is enough". A binding asked
//! for 127.0.0.1 only is published on every address of the host.
use anyhow::Result;
use mini_docker::daemon::PortBinding;

pub fn publish_flags(bindings: &[PortBinding]) -> Result<Vec<String>> {
    let mut flags = Vec::new();
    for b in bindings {
        let port = b.container_port.split('/').next().unwrap_or_default();
        flags.push("-p".to_string());
        flags.push(format!("{}:{port}", b.host_port));
    }
    Ok(flags)
}
