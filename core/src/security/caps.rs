//! Capabilities: docker's default 14, and `--cap-add` / `--cap-drop` /
//! `--privileged` on top of them.

use anyhow::{bail, Result};
pub use caps::{CapSet, Capability, CapsHashSet as Capabilities};

/// What docker keeps for a container (moby's oci/caps/defaults.go). Gone,
/// among others: SYS_ADMIN (mount, namespaces...), SYS_MODULE, SYS_PTRACE,
/// SYS_RAWIO, SYS_TIME, NET_ADMIN, DAC_READ_SEARCH (open_by_handle_at).
pub const DOCKER_DEFAULT: [Capability; 14] = [
    Capability::CAP_CHOWN,
    Capability::CAP_DAC_OVERRIDE,
    Capability::CAP_FSETID,
    Capability::CAP_FOWNER,
    Capability::CAP_MKNOD,
    Capability::CAP_NET_RAW,
    Capability::CAP_SETGID,
    Capability::CAP_SETUID,
    Capability::CAP_SETFCAP,
    Capability::CAP_SETPCAP,
    Capability::CAP_NET_BIND_SERVICE,
    Capability::CAP_SYS_CHROOT,
    Capability::CAP_KILL,
    Capability::CAP_AUDIT_WRITE,
];

/// Docker's order: start from the default (every capability the kernel knows
/// with `--privileged`), drop `--cap-drop`, then add `--cap-add`. ALL works in both.
pub fn resolve(add: &[String], drop: &[String], privileged: bool) -> Result<Capabilities> {
    let every = || caps::runtime::procfs_all_supported(None).unwrap_or_else(|_| caps::all());
    let mut set: Capabilities = match privileged {
        true => every(),
        false => DOCKER_DEFAULT.into_iter().collect(),
    };
    for name in drop {
        match parse(name, "--cap-drop")? {
            None => set.clear(),
            Some(cap) => {
                set.remove(&cap);
            }
        }
    }
    for name in add {
        match parse(name, "--cap-add")? {
            None => set.extend(every()),
            Some(cap) => {
                set.insert(cap);
            }
        }
    }
    Ok(set)
}

/// "NET_ADMIN", "net_admin", "CAP_NET_ADMIN"; None = ALL.
fn parse(name: &str, flag: &str) -> Result<Option<Capability>> {
    let upper = name.trim().to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(None);
    }
    let full = match upper.starts_with("CAP_") {
        true => upper,
        false => format!("CAP_{upper}"),
    };
    match full.parse::<Capability>() {
        Ok(cap) => Ok(Some(cap)),
        Err(_) => {
            bail!("{flag} {name:?}: no such capability (see capabilities(7); ALL means every one)")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(set: &Capabilities) -> Vec<String> {
        let mut v: Vec<String> = set.iter().map(|c| c.to_string()).collect();
        v.sort();
        v
    }

    #[test]
    fn docker_default_is_fourteen() {
        let set = resolve(&[], &[], false).unwrap();
        assert_eq!(set.len(), 14);
        assert!(!set.contains(&Capability::CAP_SYS_ADMIN));
    }

    #[test]
    fn drop_then_add_like_docker() {
        let set = resolve(&["net_admin".into()], &["ALL".into()], false).unwrap();
        assert_eq!(names(&set), ["CAP_NET_ADMIN"]);
        let set = resolve(&["CAP_SYS_PTRACE".into()], &["chown".into()], false).unwrap();
        assert!(set.contains(&Capability::CAP_SYS_PTRACE) && !set.contains(&Capability::CAP_CHOWN));
        assert!(resolve(&[], &[], true)
            .unwrap()
            .contains(&Capability::CAP_SYS_ADMIN));
        let err = resolve(&["SYS_NOPE".into()], &[], false).unwrap_err();
        assert!(format!("{err}").contains("SYS_NOPE"));
    }
}
