//! setlink-ffi: the uniffi surface of setlink-core for Kotlin, Swift and Python.
//!
//! A thin layer: `SetlinkStore` wraps the core `Device` behind a mutex; domain
//! operations, photos, relay sync and the phone-to-phone link are methods on it. uniffi types
//! live only in this crate; core stays free of them.

uniffi::setup_scaffolding!();

/// `From` both ways between a fieldless core enum and its mirror with the same variants.
macro_rules! mirror_enum {
    ($ours:ident, $theirs:path, [$($v:ident),* $(,)?]) => {
        impl From<$theirs> for $ours {
            fn from(x: $theirs) -> Self {
                use $theirs as T;
                match x { $(T::$v => $ours::$v),* }
            }
        }
        impl From<$ours> for $theirs {
            fn from(x: $ours) -> Self {
                use $theirs as T;
                match x { $($ours::$v => T::$v),* }
            }
        }
    };
}

mod background;
mod callsheet;
mod error;
mod gear;
mod observers;
mod peer;
mod photos;
mod production;
mod runs;
mod store;
mod sync;
mod tasks;
mod timesheets;
mod types;

pub use background::*;
pub use callsheet::*;
pub use error::SetlinkError;
pub use gear::*;
pub use observers::{
    DocumentObserver, ObserverError, PresenceObserver, RefusalObserver, SyncStatusObserver,
};
pub use peer::{PeerEvent, PeerLink, PeerProgress};
pub use photos::PhotoRef;
pub use production::*;
pub use runs::*;
pub use store::{enable_logging, parse_document_id, SetlinkStore};
pub use sync::{
    ConnectionState, Invitation, Presence, Refusal, RelayOptions, SyncProblem, SyncProblemKind,
    SyncStatus,
};
pub use tasks::*;
pub use timesheets::*;
pub use types::{ChangeOrigin, DocumentInfo, DocumentKind, Identity, Role, UnreadableRecord};
