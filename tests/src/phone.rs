//! The real device stack as the app runs it: core's `Device` on a SQLite file, with an
//! identity from redeemed credentials, and a `SyncClient` configuration for a test relay
//! (short reconnect backoff, so tests do not wait out a phone's patience).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use setlink_core::client::ClientConfig;
use setlink_core::{Author, Device, Role};

use crate::http::Creds;
use crate::Relay;

/// A device store at `path` (opened again if it exists) signed in as `c`, named `name`.
pub fn open_device(path: &Path, c: &Creds, name: &str, role: Role) -> Arc<Mutex<Device>> {
    let mut d = Device::open(path).expect("open device store");
    d.set_identity(Author {
        member_id: c.member_id.clone(),
        device_id: name.into(),
        role,
    })
    .expect("identity");
    Arc::new(Mutex::new(d))
}

/// Sync with `relay` as `c`, retrying within half a second.
pub fn client_config(relay: &Relay, c: &Creds) -> ClientConfig {
    let mut cfg = ClientConfig::new(relay.ws_url(), c.token.clone());
    cfg.backoff_initial = Duration::from_millis(50);
    cfg.backoff_max = Duration::from_millis(500);
    cfg
}
