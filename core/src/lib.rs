//! setlink-core: the domain model of a production's runs, tasks and call sheets as
//! Automerge documents, the durable SQLite store on the device, and the sans-IO
//! automerge-repo sync engine. See ARCHITECTURE.md at the workspace root for the map.

pub mod access;
pub mod attachment;
pub mod client;
pub mod device;
pub mod ids;
pub mod model;
pub mod rules;
pub mod store;
pub mod sync;

pub use access::{Author, DocKind, Role};
pub use device::{
    ChangeOrigin, Clock, Device, DeviceError, DocumentObserver, ObserverId, SystemClock,
};
pub use ids::DocumentId;
pub use model::DomainError;
pub use store::{Store, StoreError};
