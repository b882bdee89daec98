//! Reading and writing a production's documents on behalf of a signed-in member.
//!
//! Documents are found through the production doc's index, never from ids a browser
//! sends, so another production's documents cannot be named. Every write re-checks the
//! document's registered production and the role table before running the domain op
//! through `Hub::change`, which stores it and fans it out exactly like a device change.

use std::collections::BTreeMap;

use automerge::Automerge;
use setlink_core::model::member::{self, Ack};
use setlink_core::model::{callsheet, run, task};
use setlink_core::{Author, DocKind, DocumentId, DomainError};

use super::session::Ctx;
use super::{DashError, DashResult};
use crate::auth::now_ms;
use crate::hub::HubError;
use crate::production_doc;
use crate::storage::{DocInfo, Member, Production};
use crate::today::Today;

/// A shoot day as `YYYY-MM-DD`, checked; `today`'s day when none is given.
pub fn parse_day(raw: Option<&str>, today: &Today) -> DashResult<String> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        Some(raw) => check_day(raw),
        None => Ok(today.day()),
    }
}

/// A shoot day as `YYYY-MM-DD`, checked (an empty one is refused, not defaulted).
pub fn check_day(raw: &str) -> DashResult<String> {
    let raw = raw.trim();
    let ok = raw.len() == 10
        && raw.char_indices().all(|(i, c)| {
            if i == 4 || i == 7 {
                c == '-'
            } else {
                c.is_ascii_digit()
            }
        })
        && time::Date::parse(
            raw,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .is_ok();
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(DashError::bad_request(format!(
            "`{}` is not a day; use YYYY-MM-DD, e.g. 2026-11-24",
            raw.chars().take(40).collect::<String>()
        )))
    }
}

fn hub_error(e: HubError) -> DashError {
    match e {
        HubError::Unavailable(id) => {
            DashError::not_found(format!("document {id} is not available on this relay"))
        }
        other => DashError::internal(other),
    }
}

pub async fn production(ctx: &Ctx) -> DashResult<Production> {
    ctx.state
        .storage()
        .production(ctx.session.production_id.clone())
        .await
        .map_err(DashError::internal)?
        .ok_or_else(|| DashError::not_found("your production no longer exists on this relay"))
}

/// The production's members (from the relay's membership records), active first.
pub async fn members(ctx: &Ctx) -> DashResult<Vec<Member>> {
    let mut list = ctx
        .state
        .storage()
        .members(ctx.session.production_id.clone())
        .await
        .map_err(DashError::internal)?;
    list.sort_by(|a, b| {
        (a.revoked_at_ms.is_some(), a.role.as_str(), &a.name).cmp(&(
            b.revoked_at_ms.is_some(),
            b.role.as_str(),
            &b.name,
        ))
    });
    Ok(list)
}

pub fn names(members: &[Member]) -> BTreeMap<String, String> {
    members
        .iter()
        .map(|m| (m.id.clone(), m.name.clone()))
        .collect()
}

pub async fn index(ctx: &Ctx, production: &Production) -> DashResult<Vec<(DocumentId, DocKind)>> {
    ctx.state
        .hub
        .read(production.production_doc, production_doc::read_index)
        .await
        .map_err(hub_error)?
        .map_err(|e| DashError::internal(format!("the production document's index: {e}")))
}

pub fn find(index: &[(DocumentId, DocKind)], kind: &DocKind) -> Option<DocumentId> {
    // Two coordinators creating a day's doc offline can both index one; the smallest id
    // is the one every replica picks.
    index
        .iter()
        .filter(|(_, k)| k == kind)
        .map(|(id, _)| *id)
        .min_by_key(|id| id.to_string())
}

/// The document of `kind` for this production, creating, initialising and indexing it
/// (through the hub, so devices hear of it) when there is none yet.
pub async fn ensure(
    ctx: &Ctx,
    production: &Production,
    kind: DocKind,
    init: impl FnOnce(&mut Automerge, &Author, i64) -> Result<(), DomainError>,
) -> DashResult<DocumentId> {
    if !kind.may_write(ctx.session.role, &ctx.session.member_id) {
        return Err(DashError::forbidden(format!(
            "a {} may not create this document",
            ctx.session.role
        )));
    }
    let _guard = ctx.dash.create_lock.lock().await;
    if let Some(id) = find(&index(ctx, production).await?, &kind) {
        return Ok(id);
    }
    let mut doc = Automerge::new();
    init(&mut doc, &ctx.session.author(), now_ms())?;
    let id = DocumentId::random();
    ctx.state
        .hub
        .create_document(
            id,
            DocInfo {
                production_id: production.id.clone(),
                kind: kind.clone(),
            },
            &doc,
        )
        .await
        .map_err(hub_error)?;
    ctx.state
        .hub
        .change(production.production_doc, move |doc| {
            production_doc::index_document(doc, id, &kind, now_ms()).map_err(|e| e.to_string())
        })
        .await
        .map_err(hub_error)?;
    Ok(id)
}

/// Checks that `doc_id` is this production's and the member may write it.
async fn check_writable(ctx: &Ctx, doc_id: DocumentId) -> DashResult<DocKind> {
    let info = ctx
        .state
        .storage()
        .document_info(doc_id)
        .await
        .map_err(DashError::internal)?
        .filter(|i| i.production_id == ctx.session.production_id)
        .ok_or_else(|| {
            DashError::not_found(format!("document {doc_id} is not in your production"))
        })?;
    if !info
        .kind
        .may_write(ctx.session.role, &ctx.session.member_id)
    {
        return Err(DashError::forbidden(format!(
            "a {} may not change this document; nothing was changed",
            ctx.session.role
        )));
    }
    Ok(info.kind)
}

/// Runs one domain op on the relay's copy of a document, as the signed-in member, then
/// stores and fans out the change like a device's.
pub async fn write<T: Send>(
    ctx: &Ctx,
    doc_id: DocumentId,
    op: impl FnOnce(&mut Automerge, &Author, i64) -> Result<T, DomainError> + Send,
) -> DashResult<T> {
    check_writable(ctx, doc_id).await?;
    let author = ctx.session.author();
    let mut refused: Option<DomainError> = None;
    let out = ctx
        .state
        .hub
        .change(doc_id, |doc| {
            op(doc, &author, now_ms()).map_err(|e| {
                let text = e.to_string();
                refused = Some(e);
                text
            })
        })
        .await;
    match (out, refused) {
        (Ok(v), _) => Ok(v),
        (Err(_), Some(e)) => Err(e.into()),
        (Err(e), None) => Err(hub_error(e)),
    }
}

pub async fn read<T: Send>(
    ctx: &Ctx,
    doc_id: DocumentId,
    f: impl FnOnce(&Automerge) -> T + Send,
) -> DashResult<T> {
    ctx.state.hub.read(doc_id, f).await.map_err(hub_error)
}

// ---------------------------------------------------------------------------------------
// What the pages show

pub struct BoardData {
    pub day: String,
    pub runs: Vec<run::Run>,
    pub tasks: Vec<task::Task>,
    pub members: Vec<Member>,
    pub production: Production,
}

pub async fn board(ctx: &Ctx, day: &str) -> DashResult<BoardData> {
    let production = production(ctx).await?;
    let members = members(ctx).await?;
    let idx = index(ctx, &production).await?;
    let board = find(
        &idx,
        &DocKind::Board {
            day: day.to_owned(),
        },
    );
    let (runs, tasks) = match board {
        Some(id) => {
            read(ctx, id, |d| -> Result<_, DomainError> {
                // A board a device has indexed but not yet synced reads as empty.
                let runs = match run::list_runs(d) {
                    Err(DomainError::NotInitialised(_)) => Vec::new(),
                    other => other?,
                };
                let tasks = match task::list_tasks(d) {
                    Err(DomainError::NotInitialised(_)) => Vec::new(),
                    other => other?,
                };
                Ok((runs, tasks))
            })
            .await??
        }
        None => (Vec::new(), Vec::new()),
    };
    Ok(BoardData {
        day: day.to_owned(),
        runs,
        tasks,
        members,
        production,
    })
}

/// The day's board, created when the first run or task is added to it.
pub async fn ensure_board(ctx: &Ctx, day: &str) -> DashResult<DocumentId> {
    let production = production(ctx).await?;
    ensure(
        ctx,
        &production,
        DocKind::Board {
            day: day.to_owned(),
        },
        run::init_board,
    )
    .await
}

/// The day's board when it exists; the error names the day when it does not.
pub async fn existing_board(ctx: &Ctx, day: &str) -> DashResult<DocumentId> {
    let production = production(ctx).await?;
    find(
        &index(ctx, &production).await?,
        &DocKind::Board {
            day: day.to_owned(),
        },
    )
    .ok_or_else(|| {
        DashError::not_found(format!(
            "there is no board for {day} in your production yet; nothing was changed"
        ))
    })
}

pub struct SheetData {
    pub draft_doc: Option<DocumentId>,
    pub draft: callsheet::CallSheet,
    pub revisions: Vec<callsheet::Revision>,
}

pub async fn sheet(ctx: &Ctx, day: &str) -> DashResult<SheetData> {
    let production = production(ctx).await?;
    let idx = index(ctx, &production).await?;
    let draft_doc = find(
        &idx,
        &DocKind::CallSheetDraft {
            day: day.to_owned(),
        },
    );
    let draft = match draft_doc {
        Some(id) => match read(ctx, id, callsheet::read_draft).await? {
            Ok(s) => s,
            Err(DomainError::NotInitialised(_)) => {
                callsheet::CallSheet::for_day(day, &production.title)
            }
            Err(e) => return Err(e.into()),
        },
        None => callsheet::CallSheet::for_day(day, &production.title),
    };
    let revisions = published_revisions(ctx, &idx, day).await?;
    Ok(SheetData {
        draft_doc,
        draft,
        revisions,
    })
}

async fn published_revisions(
    ctx: &Ctx,
    idx: &[(DocumentId, DocKind)],
    day: &str,
) -> DashResult<Vec<callsheet::Revision>> {
    match find(
        idx,
        &DocKind::CallSheetPublished {
            day: day.to_owned(),
        },
    ) {
        Some(id) => match read(ctx, id, callsheet::read_revisions).await? {
            Ok(r) => Ok(r),
            Err(DomainError::NotInitialised(_)) => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        },
        None => Ok(Vec::new()),
    }
}

/// Replaces the day's draft with `sheet` (creating the draft the first time).
pub async fn save_draft(ctx: &Ctx, day: &str, sheet: callsheet::CallSheet) -> DashResult<()> {
    let production = production(ctx).await?;
    sheet.validate()?;
    let initial = sheet.clone();
    let d = day.to_owned();
    let id = ensure(
        ctx,
        &production,
        DocKind::CallSheetDraft {
            day: day.to_owned(),
        },
        move |doc, by, at| callsheet::init_draft(doc, by, at, &d, initial),
    )
    .await?;
    write(ctx, id, move |doc, by, at| {
        callsheet::update_draft(doc, by, at, move |s| {
            *s = sheet;
            Ok(())
        })
    })
    .await
}

/// Freezes the draft as the next revision in the day's published document.
pub async fn publish(ctx: &Ctx, day: &str, summary: &str) -> DashResult<callsheet::Revision> {
    let production = production(ctx).await?;
    let idx = index(ctx, &production).await?;
    let draft_id = find(
        &idx,
        &DocKind::CallSheetDraft {
            day: day.to_owned(),
        },
    )
    .ok_or_else(|| {
        DashError::not_found(format!(
            "there is no call sheet draft for {day}; save the draft first. Nothing was published."
        ))
    })?;
    let draft = read(ctx, draft_id, |d| d.clone()).await?;
    let d = day.to_owned();
    let published = ensure(
        ctx,
        &production,
        DocKind::CallSheetPublished {
            day: day.to_owned(),
        },
        move |doc, by, at| callsheet::init_published(doc, by, at, &d),
    )
    .await?;
    let summary = summary.to_owned();
    write(ctx, published, move |doc, by, at| {
        callsheet::publish(&draft, doc, by, at, &summary)
    })
    .await
}

pub struct AckRow {
    pub member: Member,
    /// Their acknowledgement of the latest revision.
    pub latest: Option<Ack>,
    /// The newest revision they have received, if any.
    pub newest_received: Option<i64>,
}

pub struct AckData {
    pub revisions: Vec<callsheet::Revision>,
    pub rows: Vec<AckRow>,
}

pub async fn acks(ctx: &Ctx, day: &str) -> DashResult<AckData> {
    let production = production(ctx).await?;
    let idx = index(ctx, &production).await?;
    let revisions = published_revisions(ctx, &idx, day).await?;
    let latest = revisions.iter().map(|r| r.number).max();
    let mut rows = Vec::new();
    for m in members(ctx).await? {
        if m.revoked_at_ms.is_some() {
            continue;
        }
        let kind = DocKind::Member {
            member_id: m.id.clone(),
        };
        let all: Vec<Ack> = match find(&idx, &kind) {
            Some(id) => read(ctx, id, member::read_acks).await?,
            None => Vec::new(),
        };
        let mine: Vec<&Ack> = all.iter().filter(|a| a.day == day).collect();
        let newest_received = mine
            .iter()
            .filter(|a| a.received_at.is_some())
            .map(|a| a.revision)
            .max();
        let latest_ack =
            latest.and_then(|n| mine.iter().find(|a| a.revision == n).map(|a| (*a).clone()));
        rows.push(AckRow {
            member: m,
            latest: latest_ack,
            newest_received,
        });
    }
    Ok(AckData { revisions, rows })
}
