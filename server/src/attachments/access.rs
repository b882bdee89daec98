//! Who may upload or read an attachment: a member of its production who may write (to
//! upload) or read (to fetch) a document that references it, by the same role table as
//! every document (`DocKind::may_read` / `may_write`). The reference is read from the
//! document itself, so a hash typed into a request opens nothing.

use axum::http::StatusCode;
use setlink_core::{attachment, DocumentId, Role};

use crate::http::ApiError;
use crate::hub::Hub;

/// The member asking.
pub struct Asker<'a> {
    pub production_id: &'a str,
    pub member_id: &'a str,
    pub role: Role,
}

impl<'a> From<&'a crate::auth::Principal> for Asker<'a> {
    fn from(p: &'a crate::auth::Principal) -> Self {
        Asker {
            production_id: &p.production_id,
            member_id: &p.member_id,
            role: p.role,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Need {
    Read,
    Write,
}

/// A document id from a query (`automerge:` prefix allowed).
pub fn parse_doc(raw: &str) -> Result<DocumentId, ApiError> {
    let raw = raw.strip_prefix("automerge:").unwrap_or(raw);
    raw.parse::<DocumentId>().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("{raw:?} is not a document id"),
        )
    })
}

/// A sha256 in lowercase hex, as attachments are named.
pub fn parse_hash(raw: &str) -> Result<String, ApiError> {
    if attachment::is_hash(raw) {
        Ok(raw.to_owned())
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("{raw:?} is not an attachment hash (64 lowercase hex digits of its sha256)"),
        ))
    }
}

/// Ok when `asker` may `need` `doc` and `doc` references `hash`.
pub async fn check(
    hub: &Hub,
    asker: &Asker<'_>,
    doc: DocumentId,
    hash: &str,
    need: Need,
) -> Result<(), ApiError> {
    let info = hub
        .storage()
        .document_info(doc)
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    // Another production's document is answered as unknown: its existence is not ours to tell.
    let Some(info) = info.filter(|i| i.production_id == asker.production_id) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no document {doc} in this production"),
        ));
    };
    let allowed = match need {
        Need::Read => info.kind.may_read(asker.role, asker.member_id),
        Need::Write => info.kind.may_write(asker.role, asker.member_id),
    };
    if !allowed {
        let verb = if need == Need::Read { "read" } else { "write" };
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "a {} may not {verb} document {doc}, so not its attachments",
                asker.role
            ),
        ));
    }
    let hash_owned = hash.to_owned();
    let referenced = hub
        .read(doc, move |d| attachment::board_references(d, &hash_owned))
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    if !referenced {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "document {doc} does not reference attachment {hash}: sync the receipt or proof of delivery first"
            ),
        ));
    }
    Ok(())
}
