//! The device sync client.
//!
//! - [`link::DeviceLink`] (no IO): a [`crate::Device`] synced with one peer through the
//!   sans-IO engine, frames in and out. Used by the WebSocket client and directly for
//!   phone-to-phone links (see [`link`] and `tests/sync_client.rs`).
//! - [`ws::SyncClient`] (feature `client`): the tokio + tokio-tungstenite transport to
//!   the relay, with reconnect, backoff and jitter, presence, and [`SyncStatus`].
//! - [`attachments`] (feature `client`): photos up and down over HTTP(S) beside sync.

#[cfg(feature = "client")]
pub mod attachments;
#[cfg(feature = "client")]
pub mod connect;
pub mod link;
pub mod scope;
#[cfg(feature = "client")]
pub mod ws;

#[cfg(feature = "client")]
pub use attachments::{AttachmentClient, TransferError};
#[cfg(feature = "client")]
pub use connect::{ConnectError, ConnectOptions};
pub use link::{DeviceLink, LinkError, LinkEvent, LinkProgress};
pub use scope::{AllDocuments, ProductionScope, SyncScope};
#[cfg(feature = "client")]
pub use ws::{ClientConfig, SyncClient};

use crate::ids::DocumentId;
use crate::sync::wire::PeerId;

/// Where syncing with the relay stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncState {
    /// Not connected; waiting to retry.
    #[default]
    Offline,
    /// Dialing the relay, or connected and waiting for its handshake.
    Connecting,
    /// Connected and exchanging changes.
    Syncing,
    /// Connected; the relay has everything this device has and vice versa.
    InSync,
    /// The relay refused this device's token (unknown, expired or revoked). The client has
    /// stopped; local changes stay pending until the member signs in again (redeems a new
    /// code) and the app starts syncing with the new token.
    SignInRequired,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncStatus {
    pub state: SyncState,
    /// Changes on this device the relay has not confirmed having.
    pub pending_local_changes: u64,
    /// When the device was last seen fully in sync (device clock, ms since the epoch).
    pub last_synced_at_ms: Option<i64>,
    /// Why the last attempt to connect failed (no signal, a certificate this device does
    /// not trust, ...); `None` once connected.
    #[cfg(feature = "client")]
    pub last_error: Option<ConnectError>,
    /// Bytes of attachments taken on this device that the relay does not have yet
    /// (less what of the one uploading it already holds).
    pub attachment_bytes_pending: u64,
}

/// Hears every change of [`SyncStatus`]. Called from the client's task: return quickly.
pub trait SyncStatusObserver: Send + Sync {
    fn status_changed(&self, status: &SyncStatus);
}

/// A change the write rules refused (see [`crate::rules`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusalEvent {
    pub document_id: DocumentId,
    /// True when the relay refused a change this device made: the app should say so, and
    /// may call [`crate::Device::drop_unconfirmed_changes`] to return the document to the
    /// relay's state. False when this device refused changes the relay sent.
    pub ours: bool,
    /// The rule's stable name (`authorship`, `transition`, `append-only`, ...).
    pub rule: String,
    pub path: String,
    pub message: String,
}

/// Hears refusals. Called from the client's task: return quickly.
pub trait RefusalObserver: Send + Sync {
    fn refused(&self, event: &RefusalEvent);
}

/// Live data about a document from another peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceEvent {
    pub document_id: DocumentId,
    pub sender_id: PeerId,
    /// As sent; [`decode_presence`] reads the string maps setlink and JS clients send.
    pub data: Vec<u8>,
}

/// Hears presence from other peers. Called from the client's task: return quickly.
pub trait PresenceObserver: Send + Sync {
    fn presence(&self, event: &PresenceEvent);
}

/// Encodes presence as a CBOR map of strings: what a JS automerge-repo peer's
/// `handle.broadcast({...})` sends and what its `ephemeral-message` event decodes.
pub fn encode_presence(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut e = minicbor::Encoder::new(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = e.map(fields.len() as u64);
    for (k, v) in fields {
        let _ = e.str(k);
        let _ = e.str(v);
    }
    e.into_writer()
}

/// Reads presence sent as a CBOR map; string and integer values are kept (integers as
/// decimal text), others skipped. `None` if `data` is not a CBOR map.
pub fn decode_presence(data: &[u8]) -> Option<Vec<(String, String)>> {
    use minicbor::data::Type;
    let mut d = minicbor::Decoder::new(data);
    let len = d.map().ok()?;
    let mut out = Vec::new();
    let mut i = 0u64;
    loop {
        match len {
            Some(n) if i >= n => break,
            None if d.datatype().ok()? == Type::Break => break,
            _ => {}
        }
        i += 1;
        let key = match d.datatype().ok()? {
            Type::String => d.str().ok()?.to_owned(),
            _ => {
                d.skip().ok()?;
                d.skip().ok()?;
                continue;
            }
        };
        let value = match d.datatype().ok()? {
            Type::String => d.str().ok()?.to_owned(),
            Type::U8 | Type::U16 | Type::U32 | Type::U64 => d.u64().ok()?.to_string(),
            Type::I8 | Type::I16 | Type::I32 | Type::I64 | Type::Int => {
                i64::try_from(d.int().ok()?).ok()?.to_string()
            }
            _ => {
                d.skip().ok()?;
                continue;
            }
        };
        out.push((key, value));
    }
    Some(out)
}
