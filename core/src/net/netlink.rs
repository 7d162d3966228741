//! A small synchronous face on rtnetlink: the same messages `ip link`, `ip addr`
//! and `ip route` send, without forking `ip` once per step.
//!
//! rtnetlink is async; each `Netlink` owns a current-thread tokio runtime that
//! drives the netlink socket only while one of these calls waits (no threads).

use std::net::{IpAddr, Ipv4Addr};

use anyhow::{anyhow, Context, Result};
use futures_util::stream::TryStreamExt;
use nix::unistd::Pid;
use rtnetlink::{Handle, LinkBridge, LinkUnspec, LinkVeth, RouteMessageBuilder};
use tokio::runtime::Runtime;

/// Netlink (and one plain socket) in one network namespace: the one the
/// calling thread is in when a call first needs it.
pub struct Netlink {
    /// rtnetlink over a current-thread tokio runtime, made on first use: the
    /// runtime and socket cost more than a container with `--network none`
    /// needs, which is just `lo` up (one ioctl, below).
    rtnl: std::cell::OnceCell<(Runtime, Handle)>,
}

/// One interface, as a dump lists it: what `cleanup` needs to know.
#[derive(Debug, Default)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// `ip link set NAME alias TEXT`: a free-text label.
    pub alias: Option<String>,
    /// The index of the bridge this interface is a port of.
    pub master: Option<u32>,
    /// IFF_UP: `ip link set NAME up` was done.
    pub up: bool,
}

impl Netlink {
    /// Nothing is opened yet: see the field.
    pub fn open() -> Result<Netlink> {
        Ok(Netlink {
            rtnl: std::cell::OnceCell::new(),
        })
    }

    fn rtnl(&self) -> Result<&(Runtime, Handle)> {
        if let Some(rtnl) = self.rtnl.get() {
            return Ok(rtnl);
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .context("tokio runtime")?;
        let (connection, handle, _) = runtime
            .block_on(async { rtnetlink::new_connection() })
            .context("open a netlink socket")?;
        runtime.spawn(connection);
        Ok(self.rtnl.get_or_init(|| (runtime, handle)))
    }

    fn handle(&self) -> Result<&Handle> {
        Ok(&self.rtnl()?.1)
    }

    fn block_on<F: std::future::Future>(&self, future: F) -> Result<F::Output> {
        Ok(self.rtnl()?.0.block_on(future))
    }

    fn index(&self, name: &str) -> Result<u32> {
        let request = self
            .handle()?
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        let link = self.block_on(async { Box::pin(request).try_next().await })?;
        match link {
            Ok(Some(link)) => Ok(link.header.index),
            _ => Err(anyhow!("no network interface named {name}")),
        }
    }

    pub fn exists(&self, name: &str) -> bool {
        self.index(name).is_ok()
    }

    /// Every interface of this namespace, as `ip link show` lists them.
    pub fn links(&self) -> Result<Vec<Link>> {
        use netlink_packet_route::link::LinkAttribute;
        let request = self.handle()?.link().get().execute();
        let messages: Vec<_> = self
            .block_on(request.try_collect())?
            .map_err(|e| anyhow!("netlink: list interfaces: {e}"))?;
        let links = messages.into_iter().map(|message| {
            let mut link = Link {
                index: message.header.index,
                up: message
                    .header
                    .flags
                    .contains(netlink_packet_route::link::LinkFlags::Up),
                ..Link::default()
            };
            for attribute in message.attributes {
                match attribute {
                    LinkAttribute::IfName(name) => link.name = name,
                    LinkAttribute::IfAlias(alias) => link.alias = Some(alias),
                    LinkAttribute::Controller(index) => link.master = Some(index),
                    _ => {}
                }
            }
            link
        });
        Ok(links.collect())
    }

    /// The ports of `bridge`: the interfaces whose master it is
    /// (`ip link show master BRIDGE`), whoever plugged them in.
    pub fn ports(&self, bridge: &str) -> Result<Vec<String>> {
        let bridge = self.index(bridge)?;
        let links = self.links()?.into_iter();
        Ok(links
            .filter(|link| link.master == Some(bridge))
            .map(|link| link.name)
            .collect())
    }

    /// The IPv4 addresses on `name` (`ip -4 addr show NAME`).
    pub fn ipv4_addresses(&self, name: &str) -> Result<Vec<(Ipv4Addr, u8)>> {
        use netlink_packet_route::address::AddressAttribute;
        let request = self
            .handle()?
            .address()
            .get()
            .set_link_index_filter(self.index(name)?)
            .execute();
        let messages: Vec<_> = self
            .block_on(request.try_collect())?
            .map_err(|e| anyhow!("netlink: list the addresses of {name}: {e}"))?;
        let addresses = messages.into_iter().flat_map(|message| {
            let prefix = message.header.prefix_len;
            message.attributes.into_iter().filter_map(move |a| match a {
                AddressAttribute::Address(IpAddr::V4(address)) => Some((address, prefix)),
                _ => None,
            })
        });
        Ok(addresses.collect())
    }

    /// The gateway of the IPv4 default route, if there is one (`ip route show default`).
    pub fn default_gateway(&self) -> Result<Option<Ipv4Addr>> {
        use netlink_packet_route::route::{RouteAddress, RouteAttribute};
        let all = RouteMessageBuilder::<Ipv4Addr>::new().build();
        let request = self.handle()?.route().get(all).execute();
        let routes: Vec<_> = self
            .block_on(request.try_collect())?
            .map_err(|e| anyhow!("netlink: list the routes: {e}"))?;
        let gateway = routes
            .into_iter()
            .filter(|route| route.header.destination_prefix_length == 0)
            .flat_map(|route| route.attributes)
            .find_map(|attribute| match attribute {
                RouteAttribute::Gateway(RouteAddress::Inet(gateway)) => Some(gateway),
                _ => None,
            });
        Ok(gateway)
    }

    fn set(&self, what: &str, message: netlink_packet_route::link::LinkMessage) -> Result<()> {
        let request = self.handle()?.link().set(message).execute();
        self.block_on(request)?
            .map_err(|e| anyhow!("netlink: {what}: {e}"))
    }

    pub fn create_bridge(&self, name: &str) -> Result<()> {
        let request = self
            .handle()?
            .link()
            .add(LinkBridge::new(name).build())
            .execute();
        self.block_on(request)?
            .map_err(|e| anyhow!("netlink: create bridge {name}: {e}"))
    }

    /// A veth pair: whatever enters one end leaves the other.
    pub fn create_veth(&self, name: &str, peer: &str) -> Result<()> {
        let request = self
            .handle()?
            .link()
            .add(LinkVeth::new(name, peer).build())
            .execute();
        self.block_on(request)?
            .map_err(|e| anyhow!("netlink: create veth {name} <-> {peer}: {e}"))
    }

    /// A veth pair whose `peer` end is born inside the network namespace of
    /// process `pid` (`ip link add NAME type veth peer name PEER netns PID`).
    /// Creating it there is much cheaper than moving it there afterwards: a
    /// move unregisters the device and waits for the network stack (RCU).
    pub fn create_veth_into(&self, name: &str, peer: &str, pid: Pid) -> Result<()> {
        use netlink_packet_route::link::{InfoData, InfoKind, InfoVeth};
        let peer_message = rtnetlink::LinkMessageBuilder::<LinkUnspec>::new()
            .name(peer.to_string())
            .setns_by_pid(pid.as_raw() as u32)
            .build();
        let message = rtnetlink::LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
            .name(name.to_string())
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_message)))
            .build();
        let request = self.handle()?.link().add(message).execute();
        self.block_on(request)?.map_err(|e| {
            anyhow!("netlink: create veth {name} <-> {peer} in the namespace of pid {pid}: {e}")
        })
    }

    /// Make `name` a port of `bridge` (`ip link set NAME master BRIDGE`).
    pub fn set_master(&self, name: &str, bridge: &str) -> Result<()> {
        let message = LinkUnspec::new_with_index(self.index(name)?)
            .controller(self.index(bridge)?)
            .build();
        self.set(&format!("attach {name} to {bridge}"), message)
    }

    /// `ip link set NAME up`. Only a flag: SIOCGIFFLAGS, add IFF_UP,
    /// SIOCSIFFLAGS on any socket of this namespace — no netlink needed.
    pub fn set_up(&self, name: &str) -> Result<()> {
        let socket = nix::sys::socket::socket(
            nix::sys::socket::AddressFamily::Inet,
            nix::sys::socket::SockType::Datagram,
            nix::sys::socket::SockFlag::SOCK_CLOEXEC,
            None,
        )
        .context("socket for interface flags")?;
        let fd = std::os::fd::AsRawFd::as_raw_fd(&socket);
        // SAFETY: ifreq is plain data; zeroed is a valid value.
        let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
        if name.is_empty() || name.len() >= request.ifr_name.len() {
            anyhow::bail!("no network interface named {name}");
        }
        for (slot, byte) in request.ifr_name.iter_mut().zip(name.bytes()) {
            *slot = byte as libc::c_char;
        }
        // SAFETY: fd is an open socket; request is a valid ifreq for both calls.
        unsafe {
            if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut request) != 0 {
                anyhow::bail!("no network interface named {name}");
            }
            request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            if libc::ioctl(fd, libc::SIOCSIFFLAGS, &request) != 0 {
                let err = std::io::Error::last_os_error();
                anyhow::bail!("set {name} up: {err}");
            }
        }
        Ok(())
    }

    /// Move `name` into the network namespace of process `pid`
    /// (`ip link set NAME netns PID`). It arrives there down, and leaves
    /// whatever bridge it was a port of.
    pub fn move_to_netns(&self, name: &str, pid: Pid) -> Result<()> {
        let message = LinkUnspec::new_with_index(self.index(name)?)
            .setns_by_pid(pid.as_raw() as u32)
            .build();
        self.set(
            &format!("move {name} into the namespace of pid {pid}"),
            message,
        )
    }

    /// Rename an interface (`ip link set NAME name NEW_NAME`). Older kernels
    /// rename only an interface that is down (EBUSY otherwise).
    pub fn rename(&self, name: &str, new_name: &str) -> Result<()> {
        let message = LinkUnspec::new_with_index(self.index(name)?)
            .name(new_name)
            .build();
        self.set(&format!("rename {name} to {new_name}"), message)
            .map_err(|e| match e.to_string().contains("busy") {
                true => anyhow!(
                    "{e} ({name} is up: this kernel renames only an interface that is down)"
                ),
                false => e,
            })
    }

    pub fn add_address(&self, name: &str, address: Ipv4Addr, prefix: u8) -> Result<()> {
        let request = self
            .handle()?
            .address()
            .add(self.index(name)?, IpAddr::V4(address), prefix)
            .execute();
        self.block_on(request)?
            .map_err(|e| anyhow!("netlink: add {address}/{prefix} to {name}: {e}"))
    }

    /// `ip route add default via GATEWAY`.
    pub fn add_default_route(&self, gateway: Ipv4Addr) -> Result<()> {
        let route = RouteMessageBuilder::<Ipv4Addr>::new()
            .gateway(gateway)
            .build();
        let request = self.handle()?.route().add(route).execute();
        self.block_on(request)?.map_err(|e| {
            anyhow!("netlink: default route via {gateway}: {e} (the kernel takes a gateway only on the subnet of an interface that is up: its address and prefix)")
        })
    }

    /// A free-text label on the interface (`ip link set NAME alias TEXT`).
    pub fn set_alias(&self, name: &str, alias: &str) -> Result<()> {
        self.set(
            &format!("label {name}"),
            LinkUnspec::new_with_index(self.index(name)?)
                .alias(alias)
                .build(),
        )
    }

    /// Delete an interface (for a veth: both ends).
    pub fn delete(&self, name: &str) -> Result<()> {
        let request = self.handle()?.link().del(self.index(name)?).execute();
        self.block_on(request)?
            .map_err(|e| anyhow!("netlink: delete {name}: {e}"))
    }
}
