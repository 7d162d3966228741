//! Mutant: `-p CONTAINER:HOST`, the order the JSON reads in ("80/tcp" is
//! the key, the host port its value). mini-docker publishes the host's 80.
use anyhow::Result;
use mini_docker::daemon::PortBinding;

pub fn publish_flags(bindings: &[PortBinding]) -> Result<Vec<String>> {
    let mut flags = Vec::new();
    for b in bindings {
        let port = b.container_port.split('/').next().unwrap_or_default();
        let ip = match b.host_ip.as_str() {
            "" => String::new(),
            ip => format!("{ip}:"),
        };
        flags.push("-p".to_string());
        flags.push(format!("{ip}{port}:{}", b.host_port));
    }
    Ok(flags)
}
