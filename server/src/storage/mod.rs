//! The relay's storage, split by concern: [`DocStore`] (documents, sync states, the
//! document registry, the cross-relay feed) and [`AccountsStore`] (productions, members,
//! invites, tokens, sessions). [`Storage`] is both, so `Arc<dyn Storage>` carries one
//! backend: the embedded SQLite one (`sqlite/`, one relay per data directory) or
//! PostgreSQL (`postgres/`, several relays on one database, LISTEN/NOTIFY between them).
//!
//! Every method returns a boxed future: the SQLite backend answers from a dedicated
//! thread (so the async runtime never blocks on disk), and a PostgreSQL backend would
//! answer from its own async driver. A returned `Ok` from a write means the write is
//! durable; the hub relies on that before it acknowledges a change to a peer.

mod accounts;
mod attachments;
#[cfg(test)]
mod contract_tests;
mod docs;
pub mod files;
pub mod postgres;

mod sqlite;

use automerge::ChangeHash;
use setlink_core::{DocKind, DocumentId, Role};
use thiserror::Error;

pub use accounts::AccountsStore;
pub use attachments::{
    AttachmentMeta, AttachmentRefs, AttachmentStore, NewPart, PartOutcome, UploadState,
};
pub use docs::{DocStore, Presence, StoreEvent};

pub use postgres::{is_postgres_url, PostgresOptions, PostgresStorage};
pub use sqlite::{SqliteOptions, SqliteStorage};

#[derive(Debug, Error)]
pub enum StorageError {
    #[error("database error: {0}")]
    Database(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the storage thread has stopped")]
    Stopped,
    #[error("{0}")]
    Conflict(String),
    /// The storage itself failed (disk full, I/O error, damaged file), as opposed to a
    /// refused statement: `/healthz` reports it.
    #[error("storage failure: {0}")]
    Fault(String),
    /// The database file is damaged (SQLite reads malformed pages): it does not heal, so
    /// `/healthz` reports it until the relay is restarted on a restored file.
    #[error("the database is damaged: {0}")]
    Damaged(String),
}

impl From<rusqlite::Error> for StorageError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode as C;
        match e.sqlite_error_code() {
            Some(C::DatabaseCorrupt | C::NotADatabase) => StorageError::Damaged(e.to_string()),
            Some(C::DiskFull | C::SystemIoFailure | C::CannotOpen | C::ReadOnly) => {
                StorageError::Fault(e.to_string())
            }
            _ => StorageError::Database(e.to_string()),
        }
    }
}

impl StorageError {
    /// The same failure, for each job of a transaction that failed as a whole.
    pub(crate) fn clone_for_callers(&self) -> StorageError {
        match self {
            StorageError::Database(m) => StorageError::Database(m.clone()),
            StorageError::Corrupt(m) => StorageError::Corrupt(m.clone()),
            StorageError::Stopped => StorageError::Stopped,
            StorageError::Conflict(m) => StorageError::Conflict(m.clone()),
            StorageError::Fault(m) => StorageError::Fault(m.clone()),
            StorageError::Damaged(m) => StorageError::Damaged(m.clone()),
        }
    }
}

pub type StorageResult<T> = Result<T, StorageError>;

/// One stored piece of a document: either a full snapshot (`Automerge::save`) or an
/// incremental run of changes (`Automerge::save_after`).
#[derive(Clone, Debug)]
pub struct Chunk {
    pub seq: i64,
    pub snapshot: bool,
    pub data: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocInfo {
    pub production_id: String,
    pub kind: DocKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Production {
    pub id: String,
    pub title: String,
    pub production_doc: DocumentId,
    pub created_at_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub id: String,
    pub production_id: String,
    pub name: String,
    pub role: Role,
    pub created_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invite {
    /// sha256 of the code; the code itself is shown once and never stored.
    pub code_hash: String,
    pub production_id: String,
    pub role: Role,
    /// When set, redeeming adds a device to this existing member instead of creating one.
    pub member_id: Option<String>,
    pub created_by: Option<String>,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    pub max_uses: Option<i64>,
    pub uses: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    pub token_hash: String,
    pub member_id: String,
    pub device_id: String,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
}

/// A member's personal call-sheet link (see [`AccountsStore::set_crew_link`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrewLink {
    pub link_key: String,
    pub created_at_ms: i64,
}

/// What an outbox email is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MailKind {
    /// A revision was published: the member's call and link.
    Published,
    /// The member had not confirmed by the time the office set.
    Reminder,
}

impl MailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::Published => "published",
            MailKind::Reminder => "reminder",
        }
    }

    pub fn parse(s: &str) -> Option<MailKind> {
        match s {
            "published" => Some(MailKind::Published),
            "reminder" => Some(MailKind::Reminder),
            _ => None,
        }
    }
}

/// An email to queue (`AccountsStore::queue_mail`). At most one per member, kind, day and
/// revision is ever queued, so queuing again (a retried request, two relays) sends nothing
/// twice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMail {
    pub production_id: String,
    pub member_id: String,
    pub kind: MailKind,
    pub day: String,
    pub revision: i64,
    pub to_addr: String,
    pub subject: String,
    pub body: String,
    /// Not sent before this (a reminder's time; now for the rest).
    pub due_at_ms: i64,
}

/// An email taken from the outbox to send (`AccountsStore::claim_mail`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedMail {
    pub id: i64,
    pub mail: NewMail,
    /// Tries so far, this one included.
    pub attempts: i64,
}

/// How a send ended (`AccountsStore::finish_mail`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MailOutcome {
    Sent,
    /// Not delivered, worth another try at `at_ms` (the server was down, or said "later").
    Retry {
        error: String,
        at_ms: i64,
    },
    /// Given up: retries used up, or an address that cannot be sent to.
    Failed {
        error: String,
    },
    /// The mail server refused the recipient for good (a 5xx reply).
    Bounced {
        error: String,
    },
    /// Not needed any more (a reminder to a member who confirmed meanwhile).
    Skipped {
        why: String,
    },
}

/// The outbox columns an outcome sets: state, last error, next attempt (when it changes),
/// done at (when it is final). Both backends store outcomes through this.
pub(crate) fn outcome_columns(
    outcome: MailOutcome,
    now_ms: i64,
) -> (&'static str, Option<String>, Option<i64>, Option<i64>) {
    match outcome {
        MailOutcome::Sent => ("sent", None, None, Some(now_ms)),
        MailOutcome::Retry { error, at_ms } => ("retrying", Some(error), Some(at_ms), None),
        MailOutcome::Failed { error } => ("failed", Some(error), None, Some(now_ms)),
        MailOutcome::Bounced { error } => ("bounced", Some(error), None, Some(now_ms)),
        MailOutcome::Skipped { why } => ("skipped", Some(why), None, Some(now_ms)),
    }
}

/// Where one outbox email stands, for the acknowledgements page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailStatus {
    pub member_id: String,
    pub kind: MailKind,
    pub revision: i64,
    /// `queued`, `retrying`, `sent`, `failed`, `bounced` or `skipped`.
    pub state: String,
    pub error: Option<String>,
    pub attempts: i64,
    /// When it was sent or given up; for the rest, when it is next tried.
    pub at_ms: i64,
}

/// A dashboard session, stored so it survives a relay restart. The cookie's secret is
/// kept as sha256 only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DashSession {
    pub secret_hash: String,
    pub member_id: String,
    /// The device id the dashboard writes under (`dashboard-...`), so history shows it.
    pub device_id: String,
    /// When signed in with a device's bearer token: that token, re-checked on every request.
    pub token_hash: Option<String>,
    pub csrf: String,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
}

/// What redeeming an invite needs written, atomically with counting the use.
#[derive(Clone, Debug)]
pub struct Redemption {
    pub code_hash: String,
    pub now_ms: i64,
    /// Used only when the invite is not bound to an existing member.
    pub new_member_id: String,
    pub name: String,
    pub token_hash: String,
    pub device_id: String,
    pub token_expires_at_ms: i64,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum RedeemRefusal {
    #[error("unknown invite code")]
    Unknown,
    #[error("this invite code expired")]
    Expired,
    #[error("this invite code has been used up")]
    UsedUp,
    #[error("the member this invite was for has been revoked")]
    MemberRevoked,
}

#[derive(Clone, Debug)]
pub struct Redeemed {
    pub member: Member,
    /// true when the redemption created the member (so the production doc needs them added).
    pub created_member: bool,
}

/// A revocation seen by [`AccountsStore::revocations_since`]: either a whole member or one token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation {
    pub seq: i64,
    pub member_id: Option<String>,
    pub token_hash: Option<String>,
}

/// Result of registering documents from a production doc's index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegisterOutcome {
    /// Documents newly registered or whose kind changed.
    pub changed: Vec<(DocumentId, DocKind)>,
    /// Documents that belong to another production; never moved.
    pub refused: Vec<DocumentId>,
}

/// Totals that feed /metrics and the write-amplification benchmark.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StorageStats {
    /// Payload bytes handed to storage for documents (incrementals + snapshots).
    pub doc_bytes_written: u64,
    pub sync_state_bytes_written: u64,
    pub commits: u64,
}

/// Everything the relay stores: documents and accounts. Implemented for every type that
/// implements both halves, so `Arc<dyn Storage>` carries one backend.
pub trait Storage: DocStore + AccountsStore + AttachmentStore {}

impl<T: DocStore + AccountsStore + AttachmentStore> Storage for T {}

pub(crate) fn kind_to_json(kind: &DocKind) -> String {
    // DocKind's serde form is a small tagged JSON object; it cannot fail to serialise.
    serde_json::to_string(kind).unwrap_or_else(|_| "{\"kind\":\"shared\"}".to_owned())
}

pub(crate) fn kind_from_json(s: &str) -> StorageResult<DocKind> {
    serde_json::from_str(s).map_err(|e| StorageError::Corrupt(format!("document kind `{s}`: {e}")))
}

pub(crate) fn heads_to_bytes(heads: &[ChangeHash]) -> Vec<u8> {
    let mut sorted = heads.to_vec();
    sorted.sort();
    sorted.iter().flat_map(|h| h.0).collect()
}
