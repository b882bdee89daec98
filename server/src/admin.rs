//! Productions, members, invites and tokens: the operations behind both the CLI and the
//! HTTP API, so the two cannot drift apart.

use std::time::Duration;

use serde::Serialize;
use setlink_core::{DocKind, DocumentId, Role};
use thiserror::Error;

use crate::auth::{self, hash_invite_code, hash_secret, new_invite_code, new_token, now_ms};
use crate::http::Settings;
use crate::hub::Hub;
use crate::production_doc;
use crate::storage::{
    DocInfo, Invite, Member, Production, RedeemRefusal, Redemption, Storage, StorageError,
};

#[derive(Debug, Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    NotFound(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StorageError> for AdminError {
    fn from(e: StorageError) -> Self {
        AdminError::Internal(e.to_string())
    }
}

fn check_text(field: &str, value: &str, max: usize) -> Result<String, AdminError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(AdminError::Invalid(format!("`{field}` must not be empty")));
    }
    if v.chars().count() > max {
        return Err(AdminError::Invalid(format!(
            "`{field}` is longer than {max} characters"
        )));
    }
    if v.chars().any(char::is_control) {
        return Err(AdminError::Invalid(format!(
            "`{field}` must not contain control characters"
        )));
    }
    Ok(v.to_owned())
}

#[derive(Clone, Debug, Serialize)]
pub struct NewInvite {
    pub code: String,
    pub role: Role,
    pub expires_at_ms: i64,
}

/// Creates an invite code for `role` in a production. `member_id` binds it to an
/// existing member (a new device for them) instead of creating a member on redemption.
pub async fn create_invite(
    storage: &dyn Storage,
    production_id: &str,
    role: Role,
    member_id: Option<&str>,
    created_by: Option<&str>,
    ttl: Duration,
    max_uses: Option<i64>,
) -> Result<NewInvite, AdminError> {
    if storage
        .production(production_id.to_owned())
        .await?
        .is_none()
    {
        return Err(AdminError::NotFound(format!(
            "no production `{production_id}` (list them with `setlink production list`)"
        )));
    }
    if max_uses.is_some_and(|m| m < 1) {
        return Err(AdminError::Invalid("`max_uses` must be at least 1".into()));
    }
    let code = new_invite_code();
    let now = now_ms();
    let expires_at_ms = now.saturating_add(ttl.as_millis().min(i64::MAX as u128) as i64);
    storage
        .create_invite(Invite {
            code_hash: hash_invite_code(&code),
            production_id: production_id.to_owned(),
            role,
            member_id: member_id.map(str::to_owned),
            created_by: created_by.map(str::to_owned),
            created_at_ms: now,
            expires_at_ms,
            max_uses,
            uses: 0,
        })
        .await?;
    Ok(NewInvite {
        code,
        role,
        expires_at_ms,
    })
}

#[derive(Clone, Debug, Serialize)]
pub struct RedeemResponse {
    pub token: String,
    pub member_id: String,
    pub role: Role,
    pub production_id: String,
    pub production_doc_id: String,
    /// The member's own document (acknowledgements), when the production has one for them.
    pub member_doc_id: Option<String>,
    pub expires_at_ms: i64,
}

/// Redeems an invite code for a bearer token. A first redemption creates the member and
/// adds them (and their own member document) to the production document.
pub async fn redeem(
    hub: &Hub,
    settings: &Settings,
    code: &str,
    name: &str,
    device_id: &str,
) -> Result<RedeemResponse, AdminError> {
    let device_id = check_text("device_id", device_id, 200)?;
    if auth::normalize_invite_code(code).is_empty() {
        return Err(AdminError::Invalid("`code` must not be empty".into()));
    }
    let storage = hub.storage();
    // A name is only needed when the code creates a member: a code that belongs to an
    // existing member (the demo's, a coordinator's "add a device" code) may come without
    // one. An unknown code gets the same answer with or without a name.
    let name = if name.trim().is_empty() {
        match storage.invite(hash_invite_code(code)).await? {
            Some(invite) if invite.member_id.is_none() => {
                return Err(AdminError::Invalid(
                    "`name` must not be empty: this code makes you a new member of the \
                     production, and members have names"
                        .into(),
                ))
            }
            _ => String::new(),
        }
    } else {
        check_text("name", name, 100)?
    };
    let token = new_token();
    let now = now_ms();
    let expires_at_ms =
        now.saturating_add(settings.token_ttl.as_millis().min(i64::MAX as u128) as i64);
    let red = storage
        .redeem_invite(Redemption {
            code_hash: hash_invite_code(code),
            now_ms: now,
            new_member_id: setlink_core::ids::new_record_id(),
            name,
            token_hash: hash_secret(&token),
            device_id,
            token_expires_at_ms: expires_at_ms,
        })
        .await?
        .map_err(|r| match r {
            RedeemRefusal::Unknown => {
                AdminError::Refused("unknown invite code; check it with whoever sent it".into())
            }
            other => AdminError::Refused(other.to_string()),
        })?;
    let production = storage
        .production(red.member.production_id.clone())
        .await?
        .ok_or_else(|| AdminError::Internal("member's production is missing".into()))?;
    let member_doc = if red.created_member {
        Some(add_member_to_production(hub, &production, &red.member).await?)
    } else {
        production_doc::member_doc_of(hub, production.production_doc, &red.member.id).await
    };
    Ok(RedeemResponse {
        token,
        member_id: red.member.id,
        role: red.member.role,
        production_id: production.id,
        production_doc_id: production.production_doc.to_string(),
        member_doc_id: member_doc.map(|d| d.to_string()),
        expires_at_ms,
    })
}

/// Creates the member's own document and lists the member and the document in the
/// production document, through the hub so connected devices see it at once.
async fn add_member_to_production(
    hub: &Hub,
    production: &Production,
    member: &Member,
) -> Result<DocumentId, AdminError> {
    let member_doc = DocumentId::random();
    let doc = production_doc::new_member_doc(member, now_ms())
        .map_err(|e| AdminError::Internal(e.to_string()))?;
    hub.create_document(
        member_doc,
        DocInfo {
            production_id: production.id.clone(),
            kind: DocKind::Member {
                member_id: member.id.clone(),
            },
        },
        &doc,
    )
    .await
    .map_err(|e| AdminError::Internal(e.to_string()))?;
    let m = member.clone();
    hub.change(production.production_doc, move |doc| {
        production_doc::add_member(doc, &m, member_doc, now_ms()).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| AdminError::Internal(e.to_string()))?;
    production_doc::create_timesheets(
        hub,
        &production.id,
        production.production_doc,
        member,
        now_ms(),
    )
    .await
    .map_err(AdminError::Internal)?;
    Ok(member_doc)
}

/// Revokes a member: their tokens stop working and their connections end at once.
/// `within` restricts the member to one production (HTTP callers may only revoke their own).
pub async fn revoke_member(
    hub: &Hub,
    within: Option<&str>,
    member_id: &str,
) -> Result<usize, AdminError> {
    let storage = hub.storage();
    let member = storage
        .member(member_id.to_owned())
        .await?
        .filter(|m| within.is_none_or(|p| m.production_id == p))
        .ok_or_else(|| {
            AdminError::NotFound(format!("no member `{member_id}` in this production"))
        })?;
    storage.revoke_member(member.id.clone(), now_ms()).await?;
    Ok(hub.kick_member(&member.id, "your access to this production was revoked"))
}

/// A new production's details; company defaults to the title and timezone to UTC.
#[derive(Clone, Copy, Debug)]
pub struct ProductionDetails<'a> {
    pub title: &'a str,
    pub company: Option<&'a str>,
    pub timezone: Option<&'a str>,
}

/// What `setlink production create` prints.
#[derive(Clone, Debug, Serialize)]
pub struct CreatedProduction {
    pub production_id: String,
    pub production_doc_id: String,
    pub coordinator_member_id: String,
    pub coordinator_invite: String,
}

/// Creates a production, its production document (with its first coordinator listed and
/// that coordinator's own member document) and a one-use invite code for the coordinator.
pub async fn create_production(
    storage: &dyn Storage,
    details: ProductionDetails<'_>,
    coordinator_name: &str,
    settings: &Settings,
) -> Result<CreatedProduction, AdminError> {
    let title = check_text("title", details.title, 200)?;
    let company = check_text("company", details.company.unwrap_or(&title), 200)?;
    let timezone = check_text("timezone", details.timezone.unwrap_or("UTC"), 64)?;
    let coordinator_name = check_text("coordinator name", coordinator_name, 100)?;
    let now = now_ms();
    let production_id = setlink_core::ids::new_record_id();
    let production_doc = DocumentId::random();
    let doc_info = production_doc::ProductionInfo {
        title: title.clone(),
        company,
        timezone,
        ..Default::default()
    };
    // Validate before anything is stored, so a bad company or zone leaves nothing behind.
    doc_info
        .validate()
        .map_err(|e| AdminError::Invalid(e.to_string()))?;
    storage
        .create_production(Production {
            id: production_id.clone(),
            title: title.clone(),
            production_doc,
            created_at_ms: now,
        })
        .await?;
    let coordinator = Member {
        id: setlink_core::ids::new_record_id(),
        production_id: production_id.clone(),
        name: coordinator_name,
        role: Role::Coordinator,
        created_at_ms: now,
        revoked_at_ms: None,
    };
    storage.create_member(coordinator.clone()).await?;
    let member_doc_id = DocumentId::random();
    let member_doc = production_doc::new_member_doc(&coordinator, now)
        .map_err(|e| AdminError::Internal(e.to_string()))?;
    let mut doc = production_doc::new_production_doc(
        production_doc,
        doc_info,
        &coordinator,
        member_doc_id,
        now,
    )
    .map_err(|e| AdminError::Internal(e.to_string()))?;
    // One gear list a production, made with it so every phone has it from the start.
    let gear_id = DocumentId::random();
    let mut gear_doc = automerge::Automerge::new();
    setlink_core::model::gear::init_gear(&mut gear_doc, &production_doc::relay_author(), now)
        .map_err(|e| AdminError::Internal(e.to_string()))?;
    production_doc::index_document(&mut doc, gear_id, &DocKind::Gear, now)
        .map_err(|e| AdminError::Internal(e.to_string()))?;
    let timesheets_id = DocumentId::random();
    let timesheets_kind = DocKind::Timesheets {
        member_id: coordinator.id.clone(),
    };
    let timesheets = production_doc::new_timesheets_doc(&coordinator, now)
        .map_err(|e| AdminError::Internal(e.to_string()))?;
    production_doc::index_document(&mut doc, timesheets_id, &timesheets_kind, now)
        .map_err(|e| AdminError::Internal(e.to_string()))?;
    store_new_doc(
        storage,
        &production_id,
        production_doc,
        DocKind::Production,
        &doc,
    )
    .await?;
    store_new_doc(
        storage,
        &production_id,
        member_doc_id,
        DocKind::Member {
            member_id: coordinator.id.clone(),
        },
        &member_doc,
    )
    .await?;
    store_new_doc(storage, &production_id, gear_id, DocKind::Gear, &gear_doc).await?;
    store_new_doc(
        storage,
        &production_id,
        timesheets_id,
        timesheets_kind,
        &timesheets,
    )
    .await?;
    let invite = create_invite(
        storage,
        &production_id,
        Role::Coordinator,
        Some(&coordinator.id),
        None,
        settings.invite_ttl,
        Some(1),
    )
    .await?;
    Ok(CreatedProduction {
        production_id,
        production_doc_id: production_doc.to_string(),
        coordinator_member_id: coordinator.id,
        coordinator_invite: invite.code,
    })
}

/// Registers and stores a document made outside the hub (CLI, demo seeding before serve).
pub async fn store_new_doc(
    storage: &dyn Storage,
    production_id: &str,
    id: DocumentId,
    kind: DocKind,
    doc: &automerge::Automerge,
) -> Result<(), AdminError> {
    let out = storage
        .register_documents(production_id.to_owned(), vec![(id, kind)])
        .await?;
    if !out.refused.is_empty() {
        return Err(AdminError::Internal(format!(
            "document {id} belongs to another production"
        )));
    }
    storage
        .append_chunk(id, doc.save(), doc.get_heads())
        .await?;
    Ok(())
}
