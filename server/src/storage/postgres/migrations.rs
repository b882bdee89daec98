//! The PostgreSQL schema's versioned migrations.
//!
//! `schema_migrations(version, applied_at)` records each applied version. Every
//! migration runs in its own transaction that first takes `pg_advisory_xact_lock`, so
//! relays starting at once on an empty database apply each migration exactly once: the
//! others wait on the lock, then find the version recorded and skip it.

use deadpool_postgres::Object;

use super::pg_err;
use crate::storage::{StorageError, StorageResult};

/// The advisory lock every relay takes while it migrates ("setlink" + 1).
const MIGRATION_LOCK: i64 = 0x7365_746c_696e_6b01;

const V1_SCHEMA: &str = r#"
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE productions (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    production_doc BYTEA NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE TABLE members (
    id TEXT PRIMARY KEY,
    production_id TEXT NOT NULL REFERENCES productions(id),
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT
);
CREATE INDEX members_by_production ON members(production_id);
CREATE TABLE invites (
    code_hash TEXT PRIMARY KEY,
    production_id TEXT NOT NULL REFERENCES productions(id),
    role TEXT NOT NULL,
    member_id TEXT REFERENCES members(id),
    created_by TEXT,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    max_uses BIGINT,
    uses BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY,
    member_id TEXT NOT NULL REFERENCES members(id),
    device_id TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT
);
CREATE INDEX tokens_by_member ON tokens(member_id);
CREATE TABLE revocations (
    seq BIGSERIAL PRIMARY KEY,
    member_id TEXT,
    token_hash TEXT,
    at_ms BIGINT NOT NULL
);
CREATE TABLE documents (
    id BYTEA PRIMARY KEY,
    production_id TEXT NOT NULL REFERENCES productions(id),
    kind TEXT NOT NULL
);
CREATE TABLE doc_heads (
    doc_id BYTEA PRIMARY KEY,
    heads BYTEA NOT NULL
);
CREATE TABLE doc_chunks (
    seq BIGSERIAL PRIMARY KEY,
    doc_id BYTEA NOT NULL,
    snapshot BOOLEAN NOT NULL,
    data BYTEA NOT NULL
);
CREATE INDEX doc_chunks_by_doc ON doc_chunks(doc_id, seq);
CREATE TABLE sync_states (
    doc_id BYTEA NOT NULL,
    peer TEXT NOT NULL,
    state BYTEA NOT NULL,
    PRIMARY KEY (doc_id, peer)
);
CREATE INDEX sync_states_by_peer ON sync_states(peer);
CREATE TABLE dashboard_sessions (
    secret_hash TEXT PRIMARY KEY,
    member_id TEXT NOT NULL REFERENCES members(id),
    device_id TEXT NOT NULL,
    token_hash TEXT,
    csrf TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
CREATE INDEX dashboard_sessions_by_member ON dashboard_sessions(member_id);
CREATE TABLE signin_keys (
    member_id TEXT PRIMARY KEY REFERENCES members(id),
    key_hash TEXT NOT NULL UNIQUE,
    created_at_ms BIGINT NOT NULL
);
"#;

/// Sign-in attempts counted across relays, per key and one-minute window
/// (`count_sign_in_attempts`); windows older than the last two are deleted as new ones fill.
const V2_SIGN_IN_ATTEMPTS: &str = r#"
CREATE TABLE sign_in_attempts (
    key TEXT NOT NULL,
    window_start_ms BIGINT NOT NULL,
    attempts INTEGER NOT NULL,
    PRIMARY KEY (key, window_start_ms)
);
CREATE INDEX sign_in_attempts_by_window ON sign_in_attempts (window_start_ms);
"#;

/// Personal call-sheet links, one per member (`AccountsStore::set_crew_link`).
const V3_CREW_LINKS: &str = r#"
CREATE TABLE crew_links (
    member_id TEXT PRIMARY KEY REFERENCES members(id),
    link_key TEXT NOT NULL UNIQUE,
    created_at_ms BIGINT NOT NULL
);
"#;

/// The outbox of call-sheet emails (`AccountsStore::queue_mail`).
const V4_MAIL_OUTBOX: &str = r#"
CREATE TABLE mail_outbox (
    id BIGSERIAL PRIMARY KEY,
    production_id TEXT NOT NULL REFERENCES productions(id),
    member_id TEXT NOT NULL REFERENCES members(id),
    kind TEXT NOT NULL,
    day TEXT NOT NULL,
    revision BIGINT NOT NULL,
    to_addr TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_ms BIGINT NOT NULL,
    last_error TEXT,
    done_at_ms BIGINT,
    created_at_ms BIGINT NOT NULL,
    UNIQUE (member_id, kind, day, revision)
);
CREATE INDEX mail_outbox_due ON mail_outbox (state, next_attempt_ms);
CREATE INDEX mail_outbox_by_day ON mail_outbox (production_id, day);
"#;

/// Photos and PDFs uploaded for receipts and proof of delivery (`AttachmentStore`).
const V5_ATTACHMENTS: &str = r#"
CREATE TABLE attachment_parts (
    production_id TEXT NOT NULL REFERENCES productions(id),
    hash TEXT NOT NULL,
    part_offset BIGINT NOT NULL,
    size BIGINT NOT NULL,
    mime TEXT NOT NULL,
    bytes BYTEA NOT NULL,
    written_at_ms BIGINT NOT NULL,
    PRIMARY KEY (production_id, hash, part_offset)
);
CREATE TABLE attachments (
    production_id TEXT NOT NULL REFERENCES productions(id),
    hash TEXT NOT NULL,
    mime TEXT NOT NULL,
    size BIGINT NOT NULL,
    bytes BYTEA NOT NULL,
    thumb BYTEA,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (production_id, hash)
);
CREATE INDEX attachments_by_age ON attachments (created_at_ms);
CREATE TABLE attachment_refs (
    production_id TEXT NOT NULL,
    hash TEXT NOT NULL,
    doc_id BYTEA NOT NULL,
    PRIMARY KEY (production_id, hash, doc_id)
);
"#;

/// Entry `i` is version `i + 1`. Append new entries; never edit one that has shipped.
pub(super) const MIGRATIONS: &[&str] = &[
    V1_SCHEMA,
    V2_SIGN_IN_ATTEMPTS,
    V3_CREW_LINKS,
    V4_MAIL_OUTBOX,
    V5_ATTACHMENTS,
];

/// Brings the database to the newest schema this relay knows, each migration once.
pub(super) async fn migrate(client: &mut Object) -> StorageResult<()> {
    let known = MIGRATIONS.len() as i64;
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let version = i as i64 + 1;
        let tx = client.transaction().await.map_err(pg_err)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(pg_err)?;
        let exists: bool = tx
            .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
            .await
            .map_err(pg_err)?
            .get(0);
        if !exists {
            tx.batch_execute(
                "CREATE TABLE schema_migrations (
                     version BIGINT PRIMARY KEY,
                     applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
                 )",
            )
            .await
            .map_err(pg_err)?;
        }
        let newest: Option<i64> = tx
            .query_one("SELECT MAX(version) FROM schema_migrations", &[])
            .await
            .map_err(pg_err)?
            .get(0);
        if let Some(newest) = newest.filter(|n| *n > known) {
            return Err(StorageError::Database(format!(
                "the PostgreSQL database's schema is version {newest}, newer than this relay knows ({known}); run a newer setlink"
            )));
        }
        if newest.is_some_and(|n| n >= version) {
            tx.commit().await.map_err(pg_err)?;
            continue;
        }
        tx.batch_execute(sql).await.map_err(pg_err)?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[&version],
        )
        .await
        .map_err(pg_err)?;
        tx.commit().await.map_err(pg_err)?;
        tracing::info!(version, "PostgreSQL schema migrated");
    }
    Ok(())
}
