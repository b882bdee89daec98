//! Photos and PDFs that receipts and proofs of delivery reference
//! (`sha256:<hex>;<mime>` in their `photo_ref`, see `setlink_core::attachment`).
//!
//! Devices upload an attachment after the document that references it has synced, in
//! parts a dropped connection resumes (`upload.rs`); the relay keeps it once per
//! production (`storage::AttachmentStore`), lets only members who may read a referencing
//! document fetch it (`access.rs`, the role table), answers byte ranges (`download.rs`),
//! draws thumbnails for the dashboard (`thumb.rs`) and collects what nothing references
//! after a grace period (`collect.rs`).

mod access;
pub mod collect;
pub mod download;
mod thumb;
mod upload;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use tokio::sync::Semaphore;

pub use access::{check, parse_doc, parse_hash, Asker, Need};

use crate::http::{ApiError, AppState, Authenticated};

/// The largest part of an upload: a phone on one bar of signal finishes a part in
/// seconds, and a dropped connection loses at most this much.
pub const MAX_PART_BYTES: usize = 1024 * 1024;

/// The relay's limits on attachments (`serve --max-attachment-bytes`,
/// `--attachment-grace-secs`).
#[derive(Debug, Clone)]
pub struct AttachmentSettings {
    pub max_bytes: u64,
    /// How long an unfinished upload, or an attachment nothing references any more, is
    /// kept before it is collected.
    pub grace: Duration,
    /// Parts being received at once: bounds the memory uploads hold.
    pub parts: Arc<Semaphore>,
    /// Uploads being checked whole at once (each holds its whole attachment in memory).
    pub finishing: Arc<Semaphore>,
}

/// Parts received at once (× `MAX_PART_BYTES` of memory at most).
const PARTS_AT_ONCE: usize = 32;
/// Uploads checked at once (× `max_bytes` of memory at most).
const FINISHING_AT_ONCE: usize = 2;

impl AttachmentSettings {
    pub fn new(max_bytes: u64, grace: Duration) -> Self {
        AttachmentSettings {
            max_bytes,
            grace,
            parts: Arc::new(Semaphore::new(PARTS_AT_ONCE)),
            finishing: Arc::new(Semaphore::new(FINISHING_AT_ONCE)),
        }
    }
}

impl Default for AttachmentSettings {
    fn default() -> Self {
        AttachmentSettings::new(
            setlink_core::attachment::MAX_ATTACHMENT_BYTES,
            Duration::from_secs(24 * 3600),
        )
    }
}

/// `/api/attachments/*` for devices (bearer tokens). The dashboard's own routes are in
/// `dashboard/pages/attachments.rs`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/attachments/{hash}", get(fetch))
        .route(
            "/api/attachments/{hash}/upload",
            get(upload::state).put(upload::put_part),
        )
        // The part's own limit (MAX_PART_BYTES) is applied while it is read.
        .layer(axum::extract::DefaultBodyLimit::disable())
}

#[derive(Deserialize)]
struct DocQuery {
    doc: String,
}

/// `GET /api/attachments/{hash}?doc=`: the bytes, for a member who may read `doc`.
async fn fetch(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(hash): Path<String>,
    Query(q): Query<DocQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let hash = parse_hash(&hash)?;
    let doc = parse_doc(&q.doc)?;
    check(&state.hub, &Asker::from(&p), doc, &hash, Need::Read).await?;
    download::attachment(state.storage().as_ref(), &p.production_id, &hash, &headers).await
}
