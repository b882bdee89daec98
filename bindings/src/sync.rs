//! Relay sync status and the slot holding a running sync session.

use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ConnectionState {
    Offline,
    Connecting,
    Syncing,
    InSync,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncStatus {
    pub state: ConnectionState,
    /// Local changes the relay has not yet confirmed.
    pub pending_local_changes: u64,
    /// When the device was last fully in sync with the relay (ms since the epoch).
    pub last_synced_at_ms: Option<i64>,
    pub last_error: Option<String>,
}

impl SyncStatus {
    pub(crate) fn offline() -> Self {
        SyncStatus {
            state: ConnectionState::Offline,
            pending_local_changes: 0,
            last_synced_at_ms: None,
            last_error: None,
        }
    }
}

#[derive(Default)]
pub(crate) struct SyncSlot {
    status: Mutex<Option<SyncStatus>>,
}

impl SyncSlot {
    pub(crate) fn status(&self) -> SyncStatus {
        self.status
            .lock()
            .ok()
            .and_then(|s| s.clone())
            .unwrap_or_else(SyncStatus::offline)
    }

    pub(crate) fn stop_blocking(&self) {}
}
