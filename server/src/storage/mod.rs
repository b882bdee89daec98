//! The relay's storage, behind one trait so a PostgreSQL backend can replace the embedded
//! SQLite one without touching the hub or the HTTP layer.
//!
//! Every method returns a boxed future: the SQLite backend answers from a dedicated
//! thread (so the async runtime never blocks on disk), and a PostgreSQL backend would
//! answer from its own async driver. A returned `Ok` from a write means the write is
//! durable; the hub relies on that before it acknowledges a change to a peer.

pub mod files;
mod sqlite;

use automerge::ChangeHash;
use futures_util::future::BoxFuture;
use setlink_core::{DocKind, DocumentId, Role};
use thiserror::Error;

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

/// A revocation seen by [`Storage::revocations_since`]: either a whole member or one token.
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

pub trait Storage: Send + Sync + 'static {
    // --- documents -----------------------------------------------------------------
    /// Every stored chunk of a document, in order; empty when nothing is stored.
    fn load_chunks(&self, doc: DocumentId) -> BoxFuture<'_, StorageResult<Vec<Chunk>>>;
    /// Durably appends an incremental chunk and returns its sequence number. `heads` are
    /// the document's heads after it, kept so reconnects can tell which documents changed
    /// without loading them.
    fn append_chunk(
        &self,
        doc: DocumentId,
        data: Vec<u8>,
        heads: Vec<ChangeHash>,
    ) -> BoxFuture<'_, StorageResult<i64>>;
    /// Replaces exactly the chunks `replaces` with one snapshot, atomically. Chunks another
    /// writer appended meanwhile are left alone. Returns the snapshot's sequence number.
    fn compact(
        &self,
        doc: DocumentId,
        snapshot: Vec<u8>,
        replaces: Vec<i64>,
    ) -> BoxFuture<'_, StorageResult<i64>>;

    // --- sync states ---------------------------------------------------------------
    fn load_sync_state(
        &self,
        doc: DocumentId,
        peer_storage_id: String,
    ) -> BoxFuture<'_, StorageResult<Option<Vec<u8>>>>;
    /// Durably records that the relay syncs `doc` with this peer, unless a state is already
    /// stored. Push-on-connect relies on such a row existing for every document a peer may
    /// consider synced; a stale state only costs an extra push.
    fn ensure_sync_state(
        &self,
        doc: DocumentId,
        peer_storage_id: String,
        state: Vec<u8>,
    ) -> BoxFuture<'_, StorageResult<()>>;
    /// Every document synced with this peer, flagged `true` when its stored heads differ
    /// from the shared heads of the stored sync state (what the relay must push when the
    /// peer reconnects; the others it watches for later changes).
    fn synced_documents(
        &self,
        peer_storage_id: String,
    ) -> BoxFuture<'_, StorageResult<Vec<(DocumentId, bool)>>>;
    /// Sync states are an optimisation (losing one costs a longer sync, never data), so
    /// callers may batch them and need not wait for them before acknowledging changes.
    fn save_sync_states(
        &self,
        states: Vec<(DocumentId, String, Vec<u8>)>,
    ) -> BoxFuture<'_, StorageResult<()>>;

    // --- document registry ---------------------------------------------------------
    fn document_info(&self, doc: DocumentId) -> BoxFuture<'_, StorageResult<Option<DocInfo>>>;
    /// Registers documents for `production_id`. A document already registered to another
    /// production is refused and left unchanged.
    fn register_documents(
        &self,
        production_id: String,
        docs: Vec<(DocumentId, DocKind)>,
    ) -> BoxFuture<'_, StorageResult<RegisterOutcome>>;

    // --- productions and members ---------------------------------------------------
    fn create_production(&self, p: Production) -> BoxFuture<'_, StorageResult<()>>;
    fn production(&self, id: String) -> BoxFuture<'_, StorageResult<Option<Production>>>;
    fn productions(&self) -> BoxFuture<'_, StorageResult<Vec<Production>>>;
    fn create_member(&self, m: Member) -> BoxFuture<'_, StorageResult<()>>;
    fn member(&self, id: String) -> BoxFuture<'_, StorageResult<Option<Member>>>;
    fn members(&self, production_id: String) -> BoxFuture<'_, StorageResult<Vec<Member>>>;
    /// Marks the member and all their tokens revoked; returns false if no such member.
    fn revoke_member(&self, id: String, now_ms: i64) -> BoxFuture<'_, StorageResult<bool>>;
    fn revocations_since(&self, seq: i64) -> BoxFuture<'_, StorageResult<Vec<Revocation>>>;

    // --- invites and tokens --------------------------------------------------------
    fn create_invite(&self, invite: Invite) -> BoxFuture<'_, StorageResult<()>>;
    fn redeem_invite(
        &self,
        r: Redemption,
    ) -> BoxFuture<'_, StorageResult<Result<Redeemed, RedeemRefusal>>>;
    fn token(&self, token_hash: String) -> BoxFuture<'_, StorageResult<Option<TokenRecord>>>;
    /// Issues a token for an existing member (CLI `token create`, dashboard sessions).
    fn create_token(&self, t: TokenRecord) -> BoxFuture<'_, StorageResult<()>>;

    // --- dashboard sign-in (accounts) -----------------------------------------------
    /// An invite by its code's hash, without redeeming it (the dashboard refuses PA and
    /// crew codes before anything is redeemed).
    fn invite(&self, code_hash: String) -> BoxFuture<'_, StorageResult<Option<Invite>>>;
    /// Stores a dashboard session (and forgets expired ones).
    fn create_session(&self, s: DashSession) -> BoxFuture<'_, StorageResult<()>>;
    fn session(&self, secret_hash: String) -> BoxFuture<'_, StorageResult<Option<DashSession>>>;
    fn delete_session(&self, secret_hash: String) -> BoxFuture<'_, StorageResult<()>>;
    /// Sets (or replaces: the old key stops working) a member's dashboard sign-in key.
    fn set_signin_key(
        &self,
        member_id: String,
        key_hash: String,
        now_ms: i64,
    ) -> BoxFuture<'_, StorageResult<()>>;
    /// The member a sign-in key belongs to.
    fn signin_key_member(&self, key_hash: String) -> BoxFuture<'_, StorageResult<Option<String>>>;
    /// When the member's current sign-in key was made, if they have one.
    fn signin_key_created(&self, member_id: String) -> BoxFuture<'_, StorageResult<Option<i64>>>;

    /// This relay's automerge-repo storage id, created on first use and then stable, so
    /// peers can persist their sync state with the relay across restarts.
    fn relay_storage_id(&self) -> BoxFuture<'_, StorageResult<String>>;

    fn stats(&self) -> StorageStats;
    /// `Ok` when storage commits a small write now, no write has failed (disk full, I/O
    /// error) since the last one that succeeded, and no damaged page was ever read;
    /// otherwise why not.
    fn health(&self) -> BoxFuture<'_, Result<(), String>>;
    /// Waits until everything queued so far is on disk (graceful shutdown).
    fn flush(&self) -> BoxFuture<'_, StorageResult<()>>;
}

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
