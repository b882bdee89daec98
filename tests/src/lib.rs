//! Helpers for the cross-process tests: start the real relay binary on an ephemeral
//! port with a temporary data directory, talk HTTP to it, and run lightweight test
//! devices (in-memory Automerge documents driven by core's sans-IO sync engine over a
//! real WebSocket).

pub mod bench;
pub mod board;
pub mod certs;
pub mod cluster;
pub mod compare;
pub mod dashboard;
pub mod demo;
pub mod fanout;
pub mod http;
pub mod js;
pub mod peer;
pub mod phone;
pub mod photos;
pub mod proxy;
pub mod refusals;
pub mod relay;

pub use peer::{Peer, PeerDocs};
pub use relay::Relay;

/// Fails the test with a message after `secs` if `fut` has not finished.
pub async fn within<T>(secs: u64, what: &str, fut: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(std::time::Duration::from_secs(secs), fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {secs}s waiting for {what}"),
    }
}
