//! Receipt and proof-of-delivery photos on the dashboard: thumbnails on the run page and
//! petty cash, the full picture on click, and the photo's name in the petty-cash CSV.
//! A photo is addressed by its hash and the day whose board references it; the relay
//! reads that board and checks the role table before it sends a byte
//! (`attachments::check`), as for a device.

use std::collections::BTreeMap;

use axum::extract::Path;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use setlink_core::attachment::{AttachmentRef, AttachmentType};

use super::{day_of, query, Q};
use crate::attachments::{self, download, Asker, Need};
use crate::dashboard::data;
use crate::dashboard::session::Ctx;

/// Which referenced photos the relay holds whole (the others are still on their way from
/// the phone that took them), and whether each has a thumbnail.
#[derive(Default)]
pub struct Photos {
    stored: BTreeMap<String, bool>,
}

impl Photos {
    /// Looks up every attachment `refs` name (legacy free-text references are skipped).
    pub async fn lookup(ctx: &Ctx, refs: Vec<String>) -> Photos {
        let mut stored = BTreeMap::new();
        for r in refs {
            let Some((hash, _)) = AttachmentRef::parse_reference(&r) else {
                continue;
            };
            if stored.contains_key(&hash) {
                continue;
            }
            // A lookup that fails shows the photo as not here yet; the page still renders.
            let meta = ctx
                .state
                .storage()
                .attachment(ctx.session.production_id.clone(), hash.clone())
                .await
                .ok()
                .flatten();
            if let Some(m) = meta {
                stored.insert(hash, m.has_thumb);
            }
        }
        Photos { stored }
    }

    /// A photo as the dashboard shows it: its thumbnail linking to the full picture, a
    /// link for a PDF or HEIC, "uploading" while the phone has not sent it, or a legacy
    /// free-text reference as text.
    pub fn show(&self, day: &str, photo_ref: &str, alt: &str) -> Markup {
        let Some((hash, kind)) = AttachmentRef::parse_reference(photo_ref) else {
            return html! { span.photo-ref { "photo " code { (photo_ref) } } };
        };
        let full = format!("/dashboard/photos/{hash}?day={day}");
        match self.stored.get(&hash) {
            None => html! {
                span.photo.pending data-photo=(hash) title="The phone that took it has not finished uploading it" {
                    "photo uploading…"
                }
            },
            Some(true) => html! {
                a.photo href=(full) target="_blank" data-photo=(hash) {
                    img.thumb src={ "/dashboard/photos/" (hash) "/thumb?day=" (day) } alt=(alt) loading="lazy";
                }
            },
            Some(false) => html! {
                a.photo href=(full) target="_blank" data-photo=(hash) { (label(kind)) }
            },
        }
    }
}

fn label(kind: AttachmentType) -> &'static str {
    match kind {
        AttachmentType::Pdf => "receipt (PDF)",
        AttachmentType::Heic => "photo (HEIC)",
        AttachmentType::Jpeg | AttachmentType::Png => "photo",
    }
}

/// The photo's file name for exports (`<hash>.<ext>`), or a legacy reference as it is.
pub fn file_name(photo_ref: &str) -> String {
    match AttachmentRef::parse_reference(photo_ref) {
        Some((hash, kind)) => format!("{hash}.{}", kind.extension()),
        None => photo_ref.to_owned(),
    }
}

/// Where the dashboard serves the photo (`None` for a legacy reference).
pub fn url(day: &str, photo_ref: &str) -> Option<String> {
    AttachmentRef::parse_reference(photo_ref)
        .map(|(hash, _)| format!("/dashboard/photos/{hash}?day={day}"))
}

/// Checks the signed-in member may read the day's board and that it references `hash`.
async fn allowed(ctx: &Ctx, hash: &str, q: Q) -> Result<String, Response> {
    let hash = attachments::parse_hash(hash).map_err(IntoResponse::into_response)?;
    let q = query(q).map_err(IntoResponse::into_response)?;
    let day = day_of(ctx, &q).map_err(IntoResponse::into_response)?;
    let board = data::existing_board(ctx, &day)
        .await
        .map_err(IntoResponse::into_response)?;
    let s = &ctx.session;
    let asker = Asker {
        production_id: &s.production_id,
        member_id: &s.member_id,
        role: s.role,
    };
    attachments::check(&ctx.state.hub, &asker, board, &hash, Need::Read)
        .await
        .map_err(IntoResponse::into_response)?;
    Ok(hash)
}

/// `GET /dashboard/photos/{hash}?day=`: the photo (byte ranges too).
pub async fn photo(ctx: Ctx, Path(hash): Path<String>, q: Q, headers: HeaderMap) -> Response {
    let hash = match allowed(&ctx, &hash, q).await {
        Ok(h) => h,
        Err(r) => return r,
    };
    let storage = ctx.state.storage();
    download::attachment(
        storage.as_ref(),
        &ctx.session.production_id,
        &hash,
        &headers,
    )
    .await
    .into_response()
}

/// `GET /dashboard/photos/{hash}/thumb?day=`: its thumbnail.
pub async fn thumb(ctx: Ctx, Path(hash): Path<String>, q: Q) -> Response {
    let hash = match allowed(&ctx, &hash, q).await {
        Ok(h) => h,
        Err(r) => return r,
    };
    download::thumbnail(
        ctx.state.storage().as_ref(),
        &ctx.session.production_id,
        &hash,
    )
    .await
    .into_response()
}
