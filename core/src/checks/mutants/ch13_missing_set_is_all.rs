//! Mutant: a capability set config.json does not name is taken as "no
//! restriction" — every capability. Inheritable (and so ambient) then keep
//! what the spec never granted.
use anyhow::Result;

use mini_docker::oci::plan::CapabilitySets;
use mini_docker::oci_spec::runtime::{Capabilities as OciCapabilities, LinuxCapabilities};
use mini_docker::security::caps::{Capabilities, Capability};

pub fn capability_sets(capabilities: &LinuxCapabilities) -> Result<CapabilitySets> {
    Ok(CapabilitySets {
        bounding: convert(capabilities.bounding()),
        effective: convert(capabilities.effective()),
        permitted: convert(capabilities.permitted()),
        inheritable: convert(capabilities.inheritable()),
        ambient: convert(capabilities.ambient()),
    })
}

fn convert(set: &Option<OciCapabilities>) -> Capabilities {
    match set {
        // (the mistake)
        None => caps::all(),
        Some(set) => set
            .iter()
            .filter_map(|c| format!("CAP_{c}").parse::<Capability>().ok())
            .collect(),
    }
}
