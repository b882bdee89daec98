//! The PROXY protocol (v1 text or v2 binary, as haproxy's `send-proxy` / `send-proxy-v2`
//! send it) from a trusted load balancer: the client's own address, so per-address
//! connection caps and sign-in limits count phones, not the load balancer.
//!
//! Only connections from addresses named with `--proxy-protocol-from` are read this way,
//! and each of them must start with a header: a client elsewhere cannot claim another
//! address, and a trusted balancer that forgot `send-proxy` is refused rather than making
//! every phone look like one address. Parsing is ppp's; this module reads exactly the
//! header's bytes off the socket (nothing of the request after it) under a deadline.

use std::net::{IpAddr, SocketAddr};

use tokio::io::{AsyncRead, AsyncReadExt};

/// The v2 signature; a v1 header starts with `PROXY `.
const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// v1 headers are at most 107 bytes, CRLF included.
const V1_MAX: usize = 107;
/// Longest v2 address block and TLVs we accept (haproxy sends well under this).
const V2_MAX_PAYLOAD: usize = 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProxyHeaderError {
    #[error("no PROXY protocol header from a trusted load balancer")]
    Missing,
    #[error("malformed PROXY protocol header: {0}")]
    Malformed(String),
    #[error("connection closed before the PROXY protocol header ended")]
    Closed,
}

/// Reads one PROXY header from `io` and returns the client's address: the header's source,
/// or `peer` itself for a header that names none (v2 `LOCAL`, as in health checks, or v1
/// `UNKNOWN`).
pub async fn read<R: AsyncRead + Unpin>(
    io: &mut R,
    peer: SocketAddr,
) -> Result<SocketAddr, ProxyHeaderError> {
    let mut head = [0u8; 16];
    read_exact(io, &mut head[..6]).await?;
    if head[..6] == *b"PROXY " {
        return read_v1(io, peer).await;
    }
    if head[..6] != V2_SIGNATURE[..6] {
        return Err(ProxyHeaderError::Missing);
    }
    read_exact(io, &mut head[6..]).await?;
    let len = u16::from_be_bytes([head[14], head[15]]) as usize;
    if len > V2_MAX_PAYLOAD {
        return Err(ProxyHeaderError::Malformed(format!(
            "{len}-byte address block"
        )));
    }
    let mut whole = head.to_vec();
    whole.resize(16 + len, 0);
    read_exact(io, &mut whole[16..]).await?;
    source_v2(&whole, peer)
}

/// The client address in a complete v2 header.
pub fn source_v2(bytes: &[u8], peer: SocketAddr) -> Result<SocketAddr, ProxyHeaderError> {
    use ppp::v2::{Addresses, Command, Header};
    let h = Header::try_from(bytes).map_err(|e| ProxyHeaderError::Malformed(e.to_string()))?;
    if h.command == Command::Local {
        return Ok(peer);
    }
    Ok(match h.addresses {
        Addresses::IPv4(a) => SocketAddr::new(IpAddr::V4(a.source_address), a.source_port),
        Addresses::IPv6(a) => SocketAddr::new(IpAddr::V6(a.source_address), a.source_port),
        Addresses::Unspecified | Addresses::Unix(_) => peer,
    })
}

/// The client address in a complete v1 header (CRLF included).
pub fn source_v1(line: &[u8], peer: SocketAddr) -> Result<SocketAddr, ProxyHeaderError> {
    use ppp::v1::{Addresses, Header};
    let h = Header::try_from(line).map_err(|e| ProxyHeaderError::Malformed(e.to_string()))?;
    Ok(match h.addresses {
        Addresses::Tcp4(a) => SocketAddr::new(IpAddr::V4(a.source_address), a.source_port),
        Addresses::Tcp6(a) => SocketAddr::new(IpAddr::V6(a.source_address), a.source_port),
        Addresses::Unknown => peer,
    })
}

async fn read_v1<R: AsyncRead + Unpin>(
    io: &mut R,
    peer: SocketAddr,
) -> Result<SocketAddr, ProxyHeaderError> {
    // Byte by byte up to the CRLF: whatever follows is the client's request, which must
    // stay on the socket for the HTTP server. At most ~100 one-byte reads per connection.
    let mut line = b"PROXY ".to_vec();
    while !line.ends_with(b"\r\n") {
        if line.len() >= V1_MAX {
            return Err(ProxyHeaderError::Malformed("v1 header too long".into()));
        }
        let mut b = [0u8; 1];
        read_exact(io, &mut b).await?;
        line.push(b[0]);
    }
    source_v1(&line, peer)
}

async fn read_exact<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut [u8],
) -> Result<(), ProxyHeaderError> {
    io.read_exact(buf)
        .await
        .map(|_| ())
        .map_err(|_| ProxyHeaderError::Closed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> SocketAddr {
        "127.0.0.1:40000".parse().unwrap()
    }

    fn v2(addresses: ppp::v2::Addresses, command: ppp::v2::Command) -> Vec<u8> {
        use ppp::v2::{Builder, Protocol, Version};
        Builder::with_addresses(Version::Two | command, Protocol::Stream, addresses)
            .build()
            .unwrap()
    }

    async fn read_all(bytes: &[u8]) -> (Result<SocketAddr, ProxyHeaderError>, Vec<u8>) {
        let mut r = bytes;
        let got = read(&mut r, peer()).await;
        (got, r.to_vec())
    }

    #[tokio::test]
    async fn v2_gives_the_client_address_and_leaves_the_request_on_the_socket() {
        let client: SocketAddr = "203.0.113.7:51000".parse().unwrap();
        let lb: SocketAddr = "10.0.0.2:7878".parse().unwrap();
        let mut bytes = v2((client, lb).into(), ppp::v2::Command::Proxy);
        bytes.extend_from_slice(b"GET /healthz HTTP/1.1\r\n");
        let (got, rest) = read_all(&bytes).await;
        assert_eq!(got, Ok(client));
        assert_eq!(rest, b"GET /healthz HTTP/1.1\r\n");
    }

    #[tokio::test]
    async fn a_local_v2_header_is_the_balancer_itself() {
        let bytes = v2(ppp::v2::Addresses::Unspecified, ppp::v2::Command::Local);
        assert_eq!(read_all(&bytes).await.0, Ok(peer()));
    }

    #[tokio::test]
    async fn v1_gives_the_client_address_and_leaves_the_request_on_the_socket() {
        let (got, rest) =
            read_all(b"PROXY TCP6 2001:db8::1 2001:db8::2 51000 443\r\nGET / HTTP/1.1\r\n").await;
        assert_eq!(got, Ok("[2001:db8::1]:51000".parse().unwrap()));
        assert_eq!(rest, b"GET / HTTP/1.1\r\n");
        let (got, _) = read_all(b"PROXY UNKNOWN\r\n").await;
        assert_eq!(got, Ok(peer()));
    }

    #[tokio::test]
    async fn a_request_without_a_header_and_garbage_are_refused() {
        assert_eq!(
            read_all(b"GET / HTTP/1.1\r\n\r\n").await.0,
            Err(ProxyHeaderError::Missing)
        );
        assert!(matches!(
            read_all(b"PROXY TCP4 not-an-address 10.0.0.1 1 2\r\n")
                .await
                .0,
            Err(ProxyHeaderError::Malformed(_))
        ));
        let long = [b"PROXY TCP4 ".as_slice(), &[b'1'; 200]].concat();
        assert!(matches!(
            read_all(&long).await.0,
            Err(ProxyHeaderError::Malformed(_))
        ));
        let mut huge = V2_SIGNATURE.to_vec();
        huge.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
        assert!(matches!(
            read_all(&huge).await.0,
            Err(ProxyHeaderError::Malformed(_))
        ));
        assert_eq!(
            read_all(b"PROXY TCP4 1.2.3.4").await.0,
            Err(ProxyHeaderError::Closed)
        );
    }
}
