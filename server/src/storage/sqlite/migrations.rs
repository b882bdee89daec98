//! The SQLite schema's versioned migrations (`PRAGMA user_version`).

use rusqlite::Connection;

use crate::storage::{StorageError, StorageResult};

pub(super) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS productions (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    production_doc BLOB NOT NULL,
    created_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS members (
    id TEXT PRIMARY KEY,
    production_id TEXT NOT NULL REFERENCES productions(id),
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    revoked_at_ms INTEGER
);
CREATE INDEX IF NOT EXISTS members_by_production ON members(production_id);
CREATE TABLE IF NOT EXISTS invites (
    code_hash TEXT PRIMARY KEY,
    production_id TEXT NOT NULL REFERENCES productions(id),
    role TEXT NOT NULL,
    member_id TEXT REFERENCES members(id),
    created_by TEXT,
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    max_uses INTEGER,
    uses INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS tokens (
    token_hash TEXT PRIMARY KEY,
    member_id TEXT NOT NULL REFERENCES members(id),
    device_id TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    revoked_at_ms INTEGER
);
CREATE INDEX IF NOT EXISTS tokens_by_member ON tokens(member_id);
CREATE TABLE IF NOT EXISTS revocations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    member_id TEXT,
    token_hash TEXT,
    at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    id BLOB PRIMARY KEY,
    production_id TEXT NOT NULL REFERENCES productions(id),
    kind TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS doc_heads (
    doc_id BLOB PRIMARY KEY,
    heads BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS doc_chunks (
    doc_id BLOB NOT NULL,
    seq INTEGER NOT NULL,
    snapshot INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (doc_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sync_states (
    doc_id BLOB NOT NULL,
    peer TEXT NOT NULL,
    state BLOB NOT NULL,
    PRIMARY KEY (doc_id, peer)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sync_states_by_peer ON sync_states(peer);
"#;

/// Accounts, version 2: dashboard sessions (stored, so they survive a restart; expiring;
/// refused once their member is revoked) and each member's reusable dashboard sign-in key.
/// Secrets are stored as sha256 only, like tokens and invite codes.
const ACCOUNTS_V2: &str = r#"
CREATE TABLE dashboard_sessions (
    secret_hash TEXT PRIMARY KEY,
    member_id TEXT NOT NULL REFERENCES members(id),
    device_id TEXT NOT NULL,
    token_hash TEXT,
    csrf TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL
);
CREATE INDEX dashboard_sessions_by_member ON dashboard_sessions(member_id);
CREATE TABLE signin_keys (
    member_id TEXT PRIMARY KEY REFERENCES members(id),
    key_hash TEXT NOT NULL UNIQUE,
    created_at_ms INTEGER NOT NULL
);
"#;

/// Personal call-sheet links, one per member (`AccountsStore::set_crew_link`).
const CREW_LINKS_V3: &str = r#"
CREATE TABLE crew_links (
    member_id TEXT PRIMARY KEY REFERENCES members(id),
    link_key TEXT NOT NULL UNIQUE,
    created_at_ms INTEGER NOT NULL
);
"#;

/// The outbox of call-sheet emails (`AccountsStore::queue_mail`).
const MAIL_OUTBOX_V4: &str = r#"
CREATE TABLE mail_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    production_id TEXT NOT NULL REFERENCES productions(id),
    member_id TEXT NOT NULL REFERENCES members(id),
    kind TEXT NOT NULL,
    day TEXT NOT NULL,
    revision INTEGER NOT NULL,
    to_addr TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    last_error TEXT,
    done_at_ms INTEGER,
    created_at_ms INTEGER NOT NULL,
    UNIQUE (member_id, kind, day, revision)
);
CREATE INDEX mail_outbox_due ON mail_outbox (state, next_attempt_ms);
CREATE INDEX mail_outbox_by_day ON mail_outbox (production_id, day);
"#;

/// Photos and PDFs uploaded for receipts and proof of delivery (`AttachmentStore`): the
/// parts of unfinished uploads, the stored attachments (once per production and hash),
/// and the documents each was uploaded for.
const ATTACHMENTS_V5: &str = r#"
CREATE TABLE attachment_parts (
    production_id TEXT NOT NULL REFERENCES productions(id),
    hash TEXT NOT NULL,
    part_offset INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mime TEXT NOT NULL,
    bytes BLOB NOT NULL,
    written_at_ms INTEGER NOT NULL,
    PRIMARY KEY (production_id, hash, part_offset)
);
CREATE TABLE attachments (
    production_id TEXT NOT NULL REFERENCES productions(id),
    hash TEXT NOT NULL,
    mime TEXT NOT NULL,
    size INTEGER NOT NULL,
    bytes BLOB NOT NULL,
    thumb BLOB,
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (production_id, hash)
);
CREATE INDEX attachments_by_age ON attachments (created_at_ms);
CREATE TABLE attachment_refs (
    production_id TEXT NOT NULL,
    hash TEXT NOT NULL,
    doc_id BLOB NOT NULL,
    PRIMARY KEY (production_id, hash, doc_id)
);
"#;

/// Versioned migrations: entry `i` takes the schema from version `i` to `i + 1`
/// (`PRAGMA user_version`). Version 1 is the schema from before versioning; its
/// statements are `IF NOT EXISTS`, so a database made then (at version 0) passes through
/// it unchanged. Append new entries; never edit one that has shipped.
pub(super) const MIGRATIONS: &[&str] = &[
    SCHEMA,
    ACCOUNTS_V2,
    CREW_LINKS_V3,
    MAIL_OUTBOX_V4,
    ATTACHMENTS_V5,
];

pub(super) fn migrate(conn: &mut Connection) -> StorageResult<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StorageError::Database(format!(
            "the database's schema is version {version}, newer than this relay knows ({known}); run a newer setlink"
        )));
    }
    for sql in MIGRATIONS.iter().skip(version.max(0) as usize) {
        tx.execute_batch(sql)?;
    }
    if version < known {
        tx.pragma_update(None, "user_version", known)?;
    }
    tx.commit()?;
    Ok(())
}
