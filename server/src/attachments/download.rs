//! Sending a stored attachment: whole, or the one byte range a `Range:` header asks for
//! (a phone resuming a download on a poor signal), and thumbnails.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::http::ApiError;
use crate::storage::Storage;

/// Attachments never change under a name (the name is their hash).
const IMMUTABLE: &str = "private, max-age=31536000, immutable";

fn unavailable(e: impl ToString) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
}

fn not_stored(hash: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("attachment {hash} is not on the relay yet: the device that took it has not finished uploading"),
    )
}

/// The attachment's bytes, or the range `request` asks for (206), or 416.
pub async fn attachment(
    storage: &dyn Storage,
    production_id: &str,
    hash: &str,
    request: &HeaderMap,
) -> Result<Response, ApiError> {
    let meta = storage
        .attachment(production_id.to_owned(), hash.to_owned())
        .await
        .map_err(unavailable)?
        .ok_or_else(|| not_stored(hash))?;
    let range = match request.get(header::RANGE).map(|v| v.to_str()) {
        None => None,
        Some(Ok(raw)) => {
            match http_range_header::parse_range_header(raw).and_then(|r| r.validate(meta.size)) {
                // One range is what downloads resume with; several are sent whole.
                Ok(ranges) if ranges.len() == 1 => Some(ranges[0].clone()),
                Ok(_) => None,
                Err(_) => {
                    return Ok((
                        StatusCode::RANGE_NOT_SATISFIABLE,
                        [(header::CONTENT_RANGE, format!("bytes */{}", meta.size))],
                        format!(
                            "the range {raw:?} is not within the attachment's {} bytes\n",
                            meta.size
                        ),
                    )
                        .into_response())
                }
            }
        }
        Some(Err(_)) => None,
    };
    let (start, len) = match &range {
        Some(r) => (*r.start(), r.end() - r.start() + 1),
        None => (0, meta.size),
    };
    let bytes = storage
        .attachment_range(production_id.to_owned(), hash.to_owned(), start, len)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| not_stored(hash))?;
    let mut headers = HeaderMap::new();
    let mime = HeaderValue::from_str(&meta.mime)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, mime);
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{hash}\"")) {
        headers.insert(header::ETAG, etag);
    }
    // Served as a download, never rendered as a page of the relay's origin (a PDF).
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(match range {
        Some(r) => {
            if let Ok(v) =
                HeaderValue::from_str(&format!("bytes {}-{}/{}", r.start(), r.end(), meta.size))
            {
                headers.insert(header::CONTENT_RANGE, v);
            }
            (StatusCode::PARTIAL_CONTENT, headers, bytes).into_response()
        }
        None => (StatusCode::OK, headers, bytes).into_response(),
    })
}

/// The attachment's thumbnail (JPEG), or 404 when it has none (HEIC, PDF).
pub async fn thumbnail(
    storage: &dyn Storage,
    production_id: &str,
    hash: &str,
) -> Result<Response, ApiError> {
    let thumb = storage
        .attachment_thumb(production_id.to_owned(), hash.to_owned())
        .await
        .map_err(unavailable)?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!(
                    "attachment {hash} has no thumbnail (not uploaded yet, or not a JPEG or PNG)"
                ),
            )
        })?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, IMMUTABLE),
        ],
        thumb,
    )
        .into_response())
}
