//! setlink-ffi: the uniffi surface of setlink-core for Kotlin, Swift and Python.
//!
//! A thin layer: `SetlinkStore` wraps the core `Device` behind a mutex; domain
//! operations, relay sync and the phone-to-phone link are methods on it. uniffi types
//! live only in this crate; core stays free of them.

uniffi::setup_scaffolding!();

mod error;
mod observers;
mod runs;
mod store;
mod sync;
mod types;

pub use error::SetlinkError;
pub use observers::{DocumentObserver, ObserverError, SyncStatusObserver};
pub use runs::*;
pub use store::{parse_document_id, SetlinkStore};
pub use sync::{ConnectionState, SyncStatus};
pub use types::{ChangeOrigin, DocumentInfo, DocumentKind, Identity, Role};
