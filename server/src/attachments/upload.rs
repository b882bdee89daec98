//! Uploads in parts: each part is appended only where the upload stands and is durable
//! before the device hears `received`, so a device whose connection dropped asks
//! `GET …/upload` and continues from there. The last part completes the upload: the whole
//! is checked (its sha256 is its name, its bytes are of the declared type and, for JPEG
//! and PNG, decode) and stored with its thumbnail in one transaction, or discarded.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};
use setlink_core::attachment::{self, AttachmentType};

use super::access::{self, Asker, Need};
use super::{thumb, MAX_PART_BYTES};
use crate::http::{ApiError, AppState, Authenticated};
use crate::storage::{NewPart, PartOutcome, UploadState};

#[derive(Deserialize)]
pub struct StateQuery {
    doc: String,
}

#[derive(Deserialize)]
pub struct PartQuery {
    doc: String,
    offset: u64,
    size: u64,
    #[serde(rename = "type")]
    mime: String,
}

#[derive(Serialize, Debug, PartialEq, Eq)]
pub struct Progress {
    received: u64,
    size: Option<u64>,
    complete: bool,
}

impl Progress {
    /// An attachment of `size` bytes stored whole.
    fn stored(size: u64) -> Progress {
        Progress {
            received: size,
            size: Some(size),
            complete: true,
        }
    }
}

impl From<UploadState> for Progress {
    fn from(s: UploadState) -> Self {
        Progress {
            received: s.received,
            size: s.size,
            complete: s.complete,
        }
    }
}

fn storage_error(e: impl ToString) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
}

/// `GET /api/attachments/{hash}/upload?doc=`: how far the upload has come.
pub async fn state(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(hash): Path<String>,
    Query(q): Query<StateQuery>,
) -> Result<Json<Progress>, ApiError> {
    let hash = access::parse_hash(&hash)?;
    let doc = access::parse_doc(&q.doc)?;
    access::check(&state.hub, &Asker::from(&p), doc, &hash, Need::Write).await?;
    let s = state
        .storage()
        .upload_state(p.production_id.clone(), hash.clone())
        .await
        .map_err(storage_error)?;
    if let Some(kind) = held_whole(&s) {
        // Every byte arrived but the relay stopped before storing it whole (killed between
        // the last part and its check): finish it now, or say why it was discarded.
        finish(&state, &p.production_id, &hash, kind, doc).await?;
        return Ok(Json(Progress::stored(s.received)));
    }
    Ok(Json(s.into()))
}

/// The type of an upload whose parts hold every byte but which is not stored whole.
fn held_whole(s: &UploadState) -> Option<AttachmentType> {
    let whole = !s.complete && s.received > 0 && s.size == Some(s.received);
    whole
        .then(|| s.mime.as_deref().and_then(AttachmentType::from_mime))
        .flatten()
}

/// `PUT /api/attachments/{hash}/upload?doc=&offset=&size=&type=`: one part.
pub async fn put_part(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(hash): Path<String>,
    Query(q): Query<PartQuery>,
    body: Body,
) -> Result<Json<Progress>, ApiError> {
    let hash = access::parse_hash(&hash)?;
    let doc = access::parse_doc(&q.doc)?;
    let limits = &state.settings.attachments;
    let kind = AttachmentType::from_mime(&q.mime).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "{:?} is not an attachment type: send a JPEG, PNG or HEIC photo or a PDF",
                q.mime
            ),
        )
    })?;
    if q.size == 0 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "an attachment of 0 bytes is empty",
        ));
    }
    if q.size > limits.max_bytes {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the attachment is {} bytes; the relay takes at most {}",
                q.size, limits.max_bytes
            ),
        ));
    }
    access::check(&state.hub, &Asker::from(&p), doc, &hash, Need::Write).await?;
    // Bodies are read one at a time per permit, so uploads at once hold at most
    // permits × MAX_PART_BYTES in memory however many phones send.
    let _permit = limits
        .parts
        .acquire()
        .await
        .map_err(|_| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the relay is stopping"))?;
    let bytes = http_body_util::Limited::new(body, MAX_PART_BYTES)
        .collect()
        .await
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("a part may be at most {MAX_PART_BYTES} bytes"),
                )
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("the part did not arrive whole: {e}"),
                )
            }
        })?
        .to_bytes()
        .to_vec();
    let end = q.offset.checked_add(bytes.len() as u64);
    if end.is_none_or(|end| end > q.size) || bytes.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "a part of {} bytes at offset {} does not fit an attachment of {} bytes",
                bytes.len(),
                q.offset,
                q.size
            ),
        ));
    }
    if q.offset == 0 && attachment::sniff(&bytes) != Some(kind) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("the bytes are not a {}: nothing was stored", kind.mime()),
        ));
    }
    let storage = state.storage();
    let outcome = storage
        .append_part(NewPart {
            production_id: p.production_id.clone(),
            hash: hash.clone(),
            offset: q.offset,
            size: q.size,
            mime: kind.mime().to_owned(),
            bytes,
            now_ms: state.settings.today.now_ms(),
        })
        .await
        .map_err(storage_error)?;
    let received = match outcome {
        PartOutcome::Stored { received } => received,
        PartOutcome::Complete { size } => {
            storage
                .add_attachment_ref(p.production_id.clone(), hash, doc)
                .await
                .map_err(storage_error)?;
            return Ok(Json(Progress::stored(size)));
        }
        // All of it arrived before, and the relay stopped before storing it whole: the
        // re-sent last part finishes it below.
        PartOutcome::WrongOffset { received } if received == q.size => received,
        PartOutcome::WrongOffset { received } => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("the relay holds {received} bytes of this upload; send from there"),
            )
            .with("received", received))
        }
        PartOutcome::Inconsistent { size, mime } => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "this upload began as {size} bytes of {mime}; a part names {} bytes of {}",
                    q.size,
                    kind.mime()
                ),
            ))
        }
    };
    if received < q.size {
        return Ok(Json(Progress {
            received,
            size: Some(q.size),
            complete: false,
        }));
    }
    finish(&state, &p.production_id, &hash, kind, doc).await?;
    Ok(Json(Progress::stored(q.size)))
}

/// Checks the whole upload and stores it, or discards it with why.
async fn finish(
    state: &AppState,
    production_id: &str,
    hash: &str,
    kind: AttachmentType,
    doc: setlink_core::DocumentId,
) -> Result<(), ApiError> {
    let storage = state.storage();
    let _permit = state
        .settings
        .attachments
        .finishing
        .acquire()
        .await
        .map_err(|_| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the relay is stopping"))?;
    let bytes = storage
        .upload_bytes(production_id.to_owned(), hash.to_owned())
        .await
        .map_err(storage_error)?;
    let expected = hash.to_owned();
    let (bytes, checked) = tokio::task::spawn_blocking(move || {
        let checked = check_whole(kind, &expected, &bytes);
        (bytes, checked)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let thumb = match checked {
        Ok(thumb) => thumb,
        Err((status, why)) => {
            storage
                .discard_upload(production_id.to_owned(), hash.to_owned())
                .await
                .map_err(storage_error)?;
            return Err(ApiError::new(
                status,
                format!("{why}: the upload was discarded; send it again from the start"),
            )
            .with("received", 0));
        }
    };
    storage
        .finish_upload(
            production_id.to_owned(),
            hash.to_owned(),
            kind.mime().to_owned(),
            bytes,
            thumb,
            state.settings.today.now_ms(),
        )
        .await
        .map_err(storage_error)?;
    storage
        .add_attachment_ref(production_id.to_owned(), hash.to_owned(), doc)
        .await
        .map_err(storage_error)?;
    Ok(())
}

/// The whole upload's checks, run off the async workers (hashing and decoding
/// megabytes): the thumbnail, or the status and why the bytes are refused.
fn check_whole(
    kind: AttachmentType,
    expected: &str,
    bytes: &[u8],
) -> Result<Option<Vec<u8>>, (StatusCode, String)> {
    let actual = attachment::hash(bytes);
    if actual != expected {
        return Err((
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("the bytes received hash to {actual}, not {expected}"),
        ));
    }
    if attachment::sniff(bytes) != Some(kind) {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("the bytes are not a {}", kind.mime()),
        ));
    }
    thumb::thumbnail(kind, bytes).map_err(|why| (StatusCode::UNSUPPORTED_MEDIA_TYPE, why))
}
