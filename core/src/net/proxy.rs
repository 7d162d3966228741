//! `-p HOST:CTR`: a userland TCP proxy, like docker-proxy. mini-docker listens
//! on the host port before the container starts (a busy port fails at once)
//! and copies each connection to CONTAINER_IP:CTR. No NAT rules, no sysctls.

use std::io;
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// `[IP:]HOST:CTR`
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PortMap {
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
    pub container_port: u16,
}

impl FromStr for PortMap {
    type Err = anyhow::Error;
    fn from_str(text: &str) -> Result<PortMap> {
        if text.starts_with('[') {
            bail!("-p {text:?}: IPv6 host addresses are not supported: give an IPv4 one, or none");
        }
        let parts: Vec<&str> = text.split(':').collect();
        let port = |p: &str| plain_port(p);
        let parsed = match parts.as_slice() {
            [host, ctr] => Some((Ipv4Addr::UNSPECIFIED, port(host), port(ctr))),
            [ip, host, ctr] => ip.parse().ok().map(|ip| (ip, port(host), port(ctr))),
            _ => None,
        };
        match parsed {
            Some((host_ip, Some(host_port), Some(container_port))) => Ok(PortMap {
                host_ip,
                host_port,
                container_port,
            }),
            _ => bail!("-p {text:?}: expected [IP:]HOSTPORT:CONTAINERPORT, ports 1 to 65535 in plain decimal, e.g. 8080:80"),
        }
    }
}

/// 1 to 65535 in plain decimal: no sign, no leading zero (u16's parser
/// takes "+80" and "080", which docker refuses).
fn plain_port(text: &str) -> Option<u16> {
    let plain = text.bytes().all(|b| b.is_ascii_digit()) && !text.starts_with('0');
    text.parse().ok().filter(|_| plain)
}

/// Listening sockets, bound before the container starts.
pub struct Listeners(Vec<(TcpListener, PortMap)>);

pub fn bind(maps: &[PortMap]) -> Result<Listeners> {
    let mut listeners = Vec::new();
    for map in maps {
        let addr = SocketAddrV4::new(map.host_ip, map.host_port);
        let listener = TcpListener::bind(addr).with_context(|| {
            format!(
                "-p {}:{}: cannot listen on {addr}",
                map.host_port, map.container_port
            )
        })?;
        listeners.push((listener, map.clone()));
    }
    Ok(Listeners(listeners))
}

/// Serve every listener from a background thread, forwarding to `container`.
pub fn serve(listeners: Listeners, container: Ipv4Addr) {
    for (listener, map) in listeners.0 {
        let target = SocketAddr::V4(SocketAddrV4::new(container, map.container_port));
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                std::thread::spawn(move || forward(client, target));
            }
        });
    }
}

fn forward(client: TcpStream, target: SocketAddr) {
    let Ok(server) = TcpStream::connect_timeout(&target, Duration::from_secs(5)) else {
        return;
    };
    let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let upstream = std::thread::spawn(move || pipe(client2, server2));
    pipe(server, client);
    let _ = upstream.join();
}

/// Copy until EOF, then pass the EOF on (half-close), so request/response protocols finish.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let _ = io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Write);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_port_maps() {
        assert_eq!(
            "8080:80".parse::<PortMap>().unwrap().host_ip,
            Ipv4Addr::UNSPECIFIED
        );
        let m: PortMap = "127.0.0.1:18080:80".parse().unwrap();
        assert_eq!(
            (m.host_ip, m.host_port, m.container_port),
            (Ipv4Addr::LOCALHOST, 18080, 80)
        );
        for bad in [
            "80",
            "0:80",
            "x:80",
            "1.2.3:80:80",
            "8080:80:90:1",
            "+8080:80",
            "08080:80",
            "8080:+80",
            "65536:80",
            "[::1]:8080:80",
            " 8080:80",
        ] {
            assert!(bad.parse::<PortMap>().is_err(), "{bad}");
        }
    }
}
