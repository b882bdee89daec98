//! Reading and writing a production's documents on behalf of a signed-in member.
//!
//! Documents are found through the production doc's index, never from ids a browser
//! sends, and every id the index gives is checked against the relay's registry before it
//! is read: an entry naming another production's document (a coordinator can write any id
//! into their own index), one the relay does not know, or one registered as another kind
//! is ignored and reported. Every write re-checks the document's registered production and
//! the role table before running the domain op through `Hub::change`, which stores it and
//! fans it out exactly like a device change.
//!
//! Reads degrade (PRODUCT.md promise 6): a record, row, index entry or document that cannot
//! be read is left out and listed as [`Unreadable`] beside what could be read, for the page
//! to show as a note; a document's content never makes a page fail.

use std::collections::BTreeMap;

use automerge::Automerge;
use setlink_core::model::member::{self, Ack};
use setlink_core::model::{
    callsheet, callsheet_diff, production as core_production, run, task, Unreadable,
};
use setlink_core::{Author, DocKind, DocumentId, DomainError};

use super::session::Ctx;
use super::{DashError, DashResult};
use crate::hub::HubError;
use crate::production_doc;
use crate::storage::{DocInfo, Member, Production};
use crate::today::Today;
use crate::zone::Zone;

/// A shoot day as `YYYY-MM-DD`, checked; today in `zone` when none is given.
pub fn parse_day(raw: Option<&str>, today: &Today, zone: &Zone) -> DashResult<String> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        Some(raw) => check_day(raw),
        None => Ok(today.day_in(zone)),
    }
}

/// The production's time zone, from its production document. A production whose
/// document cannot be read (or names a zone this build does not know) is shown in UTC
/// rather than not at all; every clock on the page names its zone, so that is visible.
pub async fn production_zone(state: &crate::http::AppState, production_id: &str) -> Zone {
    let Ok(Some(p)) = state.storage().production(production_id.to_owned()).await else {
        return Zone::utc();
    };
    let name = state
        .hub
        .read(p.production_doc, |d| {
            core_production::read_production(d).map(|p| p.info.timezone)
        })
        .await;
    match name {
        Ok(Ok(name)) => Zone::named(&name).unwrap_or_else(|_| Zone::utc()),
        _ => Zone::utc(),
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

/// Who published a revision, by name (their id when the relay has no such member).
pub async fn publisher_name(ctx: &Ctx, rev: &callsheet::Revision) -> DashResult<String> {
    Ok(names(&members(ctx).await?)
        .remove(&rev.published_by)
        .unwrap_or_else(|| rev.published_by.clone()))
}

pub fn names(members: &[Member]) -> BTreeMap<String, String> {
    members
        .iter()
        .map(|m| (m.id.clone(), m.name.clone()))
        .collect()
}

/// The production document's index as read: well-formed entries (not yet checked against
/// the registry, see [`resolve`]) and the malformed ones, reported.
#[derive(Default)]
pub struct Index {
    entries: Vec<(DocumentId, DocKind)>,
    pub skipped: Vec<Unreadable>,
}

impl Index {
    /// The days the index has a published call sheet for, oldest first, each once.
    pub fn published_days(&self) -> Vec<String> {
        let mut days: Vec<String> = self
            .entries
            .iter()
            .filter_map(|(_, k)| match k {
                DocKind::CallSheetPublished { day } => Some(day.clone()),
                _ => None,
            })
            .collect();
        days.sort();
        days.dedup();
        days
    }
}

pub async fn index(ctx: &Ctx, production: &Production) -> DashResult<Index> {
    let report = ctx
        .state
        .hub
        .read(
            production.production_doc,
            core_production::read_index_report,
        )
        .await
        .map_err(hub_error)?;
    Ok(match report {
        Ok(r) => Index {
            entries: r.documents,
            skipped: r
                .ignored
                .into_iter()
                .map(|(key, why)| Unreadable {
                    id: key,
                    what: "document index entry",
                    why,
                })
                .collect(),
        },
        Err(e) => Index {
            entries: Vec::new(),
            skipped: vec![Unreadable {
                id: production.production_doc.to_string(),
                what: "production document",
                why: format!("its document index cannot be read: {e}"),
            }],
        },
    })
}

/// The document of `kind` the index names, if the relay's registry says it is this
/// production's and of that kind. Entries that fail the check are left out and returned,
/// so the page can say so. Two coordinators creating a day's document offline can both
/// index one; the smallest id (of this production's) is the one every replica picks.
pub async fn resolve(
    ctx: &Ctx,
    index: &Index,
    kind: &DocKind,
) -> DashResult<(Option<DocumentId>, Vec<Unreadable>)> {
    let mut candidates: Vec<DocumentId> = index
        .entries
        .iter()
        .filter(|(_, k)| k == kind)
        .map(|(id, _)| *id)
        .collect();
    candidates.sort_by_key(|id| id.to_string());
    let mut skipped = Vec::new();
    for id in candidates {
        let info = ctx
            .state
            .storage()
            .document_info(id)
            .await
            .map_err(DashError::internal)?;
        let why = match info {
            Some(i) if i.production_id != ctx.session.production_id => {
                "it names another production's document, so it is ignored".to_owned()
            }
            Some(i) if &i.kind != kind => format!(
                "the relay has this document as {:?}, not {kind:?}, so it is ignored",
                i.kind
            ),
            Some(_) => return Ok((Some(id), skipped)),
            None => "the relay does not know this document (yet), so it is ignored".to_owned(),
        };
        tracing::warn!(doc = %id, production = %ctx.session.production_id, reason = %why, "dashboard ignores an index entry");
        skipped.push(Unreadable {
            id: id.to_string(),
            what: "document index entry",
            why,
        });
    }
    Ok((None, skipped))
}

/// Reads a document for a page: a document that cannot be loaded becomes one
/// [`Unreadable`] (`what` it is, its id, why) instead of an error page.
async fn read_for_page<T: Send>(
    ctx: &Ctx,
    doc_id: DocumentId,
    what: &'static str,
    f: impl FnOnce(&Automerge) -> T + Send,
) -> Result<T, Unreadable> {
    ctx.state.hub.read(doc_id, f).await.map_err(|e| Unreadable {
        id: doc_id.to_string(),
        what,
        why: match e {
            HubError::Unavailable(_) => "it is not on this relay yet".to_owned(),
            other => other.to_string(),
        },
    })
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
    let (found, skipped) = resolve(ctx, &index(ctx, production).await?, &kind).await?;
    if let Some(id) = found {
        return Ok(id);
    }
    if let Some(u) = skipped.first() {
        // The index already has an entry of this kind (one per kind), so a new document
        // could not be indexed.
        return Err(DashError::new(
            axum::http::StatusCode::CONFLICT,
            format!(
                "your production's index lists document {} for this, but {}; a coordinator must remove that entry first. Nothing was changed",
                u.id, u.why
            ),
        ));
    }
    let mut doc = Automerge::new();
    init(&mut doc, &ctx.session.author(), ctx.now_ms())?;
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
    let now = ctx.now_ms();
    ctx.state
        .hub
        .change(production.production_doc, move |doc| {
            production_doc::index_document(doc, id, &kind, now).map_err(|e| e.to_string())
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

/// Runs one domain op on the relay's copy of a document, as the signed-in member at the
/// relay's clock (`serve --today INSTANT` stops it, for tests and demos), then
/// stores and fans out the change like a device's.
pub async fn write<T: Send>(
    ctx: &Ctx,
    doc_id: DocumentId,
    op: impl FnOnce(&mut Automerge, &Author, i64) -> Result<T, DomainError> + Send,
) -> DashResult<T> {
    check_writable(ctx, doc_id).await?;
    let author = ctx.session.author();
    let now = ctx.now_ms();
    let mut refused: Option<DomainError> = None;
    let out = ctx
        .state
        .hub
        .change(doc_id, |doc| {
            op(doc, &author, now).map_err(|e| {
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
    /// Runs, tasks, index entries or the board document itself that could not be read.
    pub unreadable: Vec<Unreadable>,
}

pub async fn board(ctx: &Ctx, day: &str) -> DashResult<BoardData> {
    let production = production(ctx).await?;
    let members = members(ctx).await?;
    let idx = index(ctx, &production).await?;
    let (board, mut unreadable) = resolve(
        ctx,
        &idx,
        &DocKind::Board {
            day: day.to_owned(),
        },
    )
    .await?;
    let (mut runs, mut tasks) = (Vec::new(), Vec::new());
    if let Some(id) = board {
        let read = read_for_page(ctx, id, "board document", |d| {
            (run::list_runs(d), task::list_tasks(d))
        })
        .await;
        match read {
            Ok((r, t)) => {
                // A board a device has indexed but not yet synced reads as empty.
                let not_a_board = |e: DomainError| match e {
                    DomainError::NotInitialised(_) => None,
                    e => Some(Unreadable {
                        id: id.to_string(),
                        what: "board document",
                        why: e.to_string(),
                    }),
                };
                match r {
                    Ok(l) => {
                        runs = l.items;
                        unreadable.extend(l.unreadable);
                    }
                    Err(e) => unreadable.extend(not_a_board(e)),
                }
                match t {
                    Ok(l) => {
                        tasks = l.items;
                        unreadable.extend(l.unreadable);
                    }
                    Err(e) => unreadable.extend(not_a_board(e)),
                }
            }
            Err(u) => unreadable.push(u),
        }
    }
    unreadable.extend(idx.skipped);
    Ok(BoardData {
        day: day.to_owned(),
        runs,
        tasks,
        members,
        production,
        unreadable,
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
    let kind = DocKind::Board {
        day: day.to_owned(),
    };
    resolve(ctx, &index(ctx, &production).await?, &kind)
        .await?
        .0
        .ok_or_else(|| {
            DashError::not_found(format!(
                "there is no board for {day} in your production yet; nothing was changed"
            ))
        })
}

pub struct SheetData {
    pub draft_doc: Option<DocumentId>,
    /// The draft as far as it could be read.
    pub draft: callsheet::CallSheet,
    /// Readable revisions, oldest first.
    pub revisions: Vec<callsheet::Revision>,
    /// What was left out of each readable revision, by revision id.
    pub revision_unreadable: BTreeMap<String, Vec<Unreadable>>,
    /// Revisions that could not be read at all, documents and index entries left out.
    pub published_unreadable: Vec<Unreadable>,
    /// Rows and sections of the draft, and the draft document or its index entries,
    /// that could not be read.
    pub draft_unreadable: Vec<Unreadable>,
}

impl SheetData {
    /// Everything left out, draft and published.
    pub fn unreadable(&self) -> Vec<Unreadable> {
        let mut all = self.draft_unreadable.clone();
        all.extend(self.published_unreadable.iter().cloned());
        all.extend(self.revision_unreadable.values().flatten().cloned());
        all
    }

    /// What a printout of `rev` leaves out: its own rows, and revisions that could not be
    /// read at all (one may be newer).
    pub fn unreadable_for(&self, rev: &callsheet::Revision) -> Vec<Unreadable> {
        let mut out = self
            .revision_unreadable
            .get(&rev.id)
            .cloned()
            .unwrap_or_default();
        out.extend(
            self.published_unreadable
                .iter()
                .filter(|u| u.what == "call sheet revision")
                .cloned(),
        );
        out
    }
}

pub async fn sheet(ctx: &Ctx, day: &str) -> DashResult<SheetData> {
    let production = production(ctx).await?;
    let idx = index(ctx, &production).await?;
    let (draft_doc, mut draft_unreadable) = resolve(
        ctx,
        &idx,
        &DocKind::CallSheetDraft {
            day: day.to_owned(),
        },
    )
    .await?;
    let blank = || callsheet::CallSheet::for_day(day, &production.title);
    let draft = match draft_doc {
        Some(id) => match read_for_page(ctx, id, "call sheet draft", callsheet::read_draft).await {
            Ok(Ok(read)) => {
                draft_unreadable.extend(read.unreadable);
                read.value
            }
            Ok(Err(DomainError::NotInitialised(_))) => blank(),
            Ok(Err(e)) => {
                draft_unreadable.push(Unreadable {
                    id: id.to_string(),
                    what: "call sheet draft",
                    why: e.to_string(),
                });
                blank()
            }
            Err(u) => {
                draft_unreadable.push(u);
                blank()
            }
        },
        None => blank(),
    };
    let (revisions, revision_unreadable, mut published_unreadable) =
        published_revisions(ctx, &idx, day).await?;
    published_unreadable.extend(idx.skipped);
    Ok(SheetData {
        draft_doc,
        draft,
        revisions,
        revision_unreadable,
        published_unreadable,
        draft_unreadable,
    })
}

pub type Revisions = (
    Vec<callsheet::Revision>,
    BTreeMap<String, Vec<Unreadable>>,
    Vec<Unreadable>,
);

/// The day's readable revisions, what was left out of each (by revision id), and what could
/// not be read at all (revisions, the document, index entries).
pub async fn published_revisions(ctx: &Ctx, idx: &Index, day: &str) -> DashResult<Revisions> {
    let (doc, mut skipped) = resolve(
        ctx,
        idx,
        &DocKind::CallSheetPublished {
            day: day.to_owned(),
        },
    )
    .await?;
    let mut revisions = Vec::new();
    let mut per_revision = BTreeMap::new();
    if let Some(id) = doc {
        match read_for_page(
            ctx,
            id,
            "published call sheet",
            callsheet::read_revision_parts,
        )
        .await
        {
            Ok(Ok(parts)) => {
                for rev in parts.items {
                    if !rev.unreadable.is_empty() {
                        per_revision.insert(rev.value.id.clone(), rev.unreadable);
                    }
                    revisions.push(rev.value);
                }
                skipped.extend(parts.unreadable);
            }
            Ok(Err(DomainError::NotInitialised(_))) => {}
            Ok(Err(e)) => skipped.push(Unreadable {
                id: id.to_string(),
                what: "published call sheet",
                why: e.to_string(),
            }),
            Err(u) => skipped.push(u),
        }
    }
    Ok((revisions, per_revision, skipped))
}

/// Replaces the day's draft with `sheet` (creating the draft the first time). The editor
/// shows the whole sheet and saves it whole, so rows of the draft that could not be read
/// (and were shown as such) are removed.
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
        callsheet::replace_draft(doc, by, at, sheet)
    })
    .await
}

/// Saves `sheet` as the day's draft and publishes exactly it as the next revision: the
/// one step the dashboard publishes with, so a revision never goes out with content other
/// than what the coordinator reviewed (the draft document may change under the request;
/// the revision is `sheet`, not a re-read of the draft). Refused before anything is
/// written when the sheet is invalid; refused (409) when it reads the same as the latest
/// revision (`callsheet_diff::publish_changed`).
pub async fn save_and_publish(
    ctx: &Ctx,
    day: &str,
    sheet: callsheet::CallSheet,
    summary: &str,
) -> DashResult<callsheet::Revision> {
    sheet.validate()?;
    let production = production(ctx).await?;
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
    // Checked on the published document first, so a refused publish saves nothing either.
    let (check, summary_check, author) = (sheet.clone(), summary.to_owned(), ctx.session.author());
    let now = ctx.now_ms();
    read(ctx, published, move |doc| {
        let mut fork = doc.fork();
        callsheet_diff::publish_changed(&mut fork, &author, now, check, &summary_check).map(|_| ())
    })
    .await??;
    save_draft(ctx, day, sheet.clone()).await?;
    let summary = summary.to_owned();
    let rev = write(ctx, published, move |doc, by, at| {
        callsheet_diff::publish_changed(doc, by, at, sheet, &summary)
    })
    .await?;
    // Holding checks people in against this sheet: the day's background document is there
    // for the phones from now on. The revision is out either way; the background page
    // creates the document on its first visit if this could not.
    if let Err(e) = ensure_background(ctx, day).await {
        tracing::warn!(day, error = %e.message, "the day's background document was not created on publish");
    }
    Ok(rev)
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
    /// Acknowledgements, member documents, revisions and index entries that could not be
    /// read.
    pub unreadable: Vec<Unreadable>,
}

pub async fn acks(ctx: &Ctx, day: &str) -> DashResult<AckData> {
    let production = production(ctx).await?;
    let idx = index(ctx, &production).await?;
    let (revisions, per_revision, mut unreadable) = published_revisions(ctx, &idx, day).await?;
    unreadable.extend(per_revision.into_values().flatten());
    let latest = revisions.iter().map(|r| r.number).max();
    let mut rows = Vec::new();
    for m in members(ctx).await? {
        if m.revoked_at_ms.is_some() {
            continue;
        }
        let kind = DocKind::Member {
            member_id: m.id.clone(),
        };
        let (doc, skipped) = resolve(ctx, &idx, &kind).await?;
        unreadable.extend(skipped);
        let all: Vec<Ack> = match doc {
            Some(id) => match read_for_page(ctx, id, "member document", member::read_acks).await {
                Ok(l) => {
                    unreadable.extend(l.unreadable.into_iter().map(|u| Unreadable {
                        why: format!("in {}'s document: {}", m.name, u.why),
                        ..u
                    }));
                    l.items
                }
                Err(u) => {
                    unreadable.push(u);
                    Vec::new()
                }
            },
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
    unreadable.extend(idx.skipped);
    Ok(AckData {
        revisions,
        rows,
        unreadable,
    })
}

// ---------------------------------------------------------------------------------------
// Background at holding

pub struct BackgroundData {
    pub day: String,
    pub people: Vec<setlink_core::model::background::BackgroundPerson>,
    /// The latest published revision's background rows, and that revision; `None` when
    /// the day has no readable published revision.
    pub sheet: Option<(callsheet::Revision, Vec<callsheet::Background>)>,
    pub members: Vec<Member>,
    /// People, revisions, documents and index entries that could not be read.
    pub unreadable: Vec<Unreadable>,
}

/// The day's background document, created and indexed when there is none yet (the page's
/// first visit; publishing a call sheet does it too).
pub async fn ensure_background(ctx: &Ctx, day: &str) -> DashResult<DocumentId> {
    let production = production(ctx).await?;
    let kind = DocKind::Background {
        day: day.to_owned(),
    };
    let init = setlink_core::model::background::init_background;
    ensure(ctx, &production, kind, init).await
}

/// The day's roster and the numbers the latest published call sheet expects.
/// `doc` is the day's background document, `None` when it has none yet (nobody added).
pub async fn background(
    ctx: &Ctx,
    day: &str,
    doc: Option<DocumentId>,
) -> DashResult<BackgroundData> {
    let production = production(ctx).await?;
    let members = members(ctx).await?;
    let idx = index(ctx, &production).await?;
    let (revisions, per_revision, mut unreadable) = published_revisions(ctx, &idx, day).await?;
    let sheet = revisions.last().map(|r| {
        unreadable.extend(per_revision.get(&r.id).into_iter().flatten().cloned());
        (r.clone(), r.sheet.background.clone())
    });
    let mut people = Vec::new();
    if let Some(doc) = doc {
        let list = setlink_core::model::background::list_people;
        match read_for_page(ctx, doc, "background document", list).await {
            Ok(Ok(l)) => {
                people = l.items;
                unreadable.extend(l.unreadable);
            }
            // Created on a device and indexed, not yet synced here: nobody yet.
            Ok(Err(DomainError::NotInitialised(_))) => {}
            Ok(Err(e)) => unreadable.push(Unreadable {
                id: doc.to_string(),
                what: "background document",
                why: e.to_string(),
            }),
            Err(u) => unreadable.push(u),
        }
    }
    unreadable.extend(idx.skipped);
    Ok(BackgroundData {
        day: day.to_owned(),
        people,
        sheet,
        members,
        unreadable,
    })
}

// ---------------------------------------------------------------------------------------
// Timesheets

/// One member's timesheets, as the timesheets page and the payroll export read them.
pub struct MemberTimesheets {
    pub member: Member,
    /// From the production document's member list (the relay's records have none).
    pub department: Option<String>,
    /// Every readable day, oldest first.
    pub days: Vec<setlink_core::model::timesheet::DayTimesheet>,
}

pub struct TimesheetsData {
    pub members: Vec<MemberTimesheets>,
    /// Days, documents and index entries that could not be read.
    pub unreadable: Vec<Unreadable>,
}

/// Every member's timesheets. An active member with no timesheets document (they joined
/// before the relay made one on redeem) gets one here, claimed for them and indexed
/// through the hub exactly as on redeem: that is the relay's bookkeeping, not a write by
/// whoever opened the page, so the office's visit creates it too.
pub async fn timesheets(ctx: &Ctx) -> DashResult<TimesheetsData> {
    use setlink_core::model::timesheet;
    let production = production(ctx).await?;
    let idx = index(ctx, &production).await?;
    let mut unreadable = Vec::new();
    let roster = read(
        ctx,
        production.production_doc,
        core_production::read_members,
    )
    .await?;
    let departments: BTreeMap<String, Option<String>> = match roster {
        Ok(l) => l
            .items
            .into_iter()
            .map(|m| (m.id, m.info.department))
            .collect(),
        // Departments are only shown: the page goes on without them and says why.
        Err(e) => {
            unreadable.push(Unreadable {
                id: production.production_doc.to_string(),
                what: "production document",
                why: format!("its member list cannot be read, so departments are left out: {e}"),
            });
            BTreeMap::new()
        }
    };
    let mut out = Vec::new();
    for m in members(ctx).await? {
        let kind = DocKind::Timesheets {
            member_id: m.id.clone(),
        };
        let (found, skipped) = resolve(ctx, &idx, &kind).await?;
        let blocked = !skipped.is_empty();
        unreadable.extend(skipped);
        let doc = match found {
            Some(id) => Some(id),
            // An entry the registry refuses blocks a new one (see `ensure`); it is reported.
            None if m.revoked_at_ms.is_none() && !blocked => {
                Some(ensure_timesheets(ctx, &production, &m).await?)
            }
            None => None,
        };
        let mut days = Vec::new();
        if let Some(id) = doc {
            match read_for_page(ctx, id, "timesheets document", timesheet::list).await {
                Ok(Ok(l)) => {
                    days = l.items;
                    unreadable.extend(l.unreadable.into_iter().map(|u| Unreadable {
                        why: format!("in {}'s timesheets: {}", m.name, u.why),
                        ..u
                    }));
                }
                Ok(Err(DomainError::NotInitialised(_))) => {}
                Ok(Err(e)) => unreadable.push(Unreadable {
                    id: id.to_string(),
                    what: "timesheets document",
                    why: e.to_string(),
                }),
                Err(u) => unreadable.push(u),
            }
        }
        out.push(MemberTimesheets {
            department: departments.get(&m.id).cloned().flatten(),
            member: m,
            days,
        });
    }
    unreadable.extend(idx.skipped);
    Ok(TimesheetsData {
        members: out,
        unreadable,
    })
}

/// `member`'s timesheets document, created when the index has none (under the dashboard's
/// creation lock, the index read again, so two page loads make one).
async fn ensure_timesheets(
    ctx: &Ctx,
    production: &Production,
    member: &Member,
) -> DashResult<DocumentId> {
    let _guard = ctx.dash.create_lock.lock().await;
    let kind = DocKind::Timesheets {
        member_id: member.id.clone(),
    };
    if let (Some(id), _) = resolve(ctx, &index(ctx, production).await?, &kind).await? {
        return Ok(id);
    }
    production_doc::create_timesheets(
        &ctx.state.hub,
        &production.id,
        production.production_doc,
        member,
        ctx.now_ms(),
    )
    .await
    .map_err(DashError::internal)
}

/// `member_id`'s timesheets document, from the index; the error names the member when
/// there is none.
pub async fn existing_timesheets(ctx: &Ctx, member_id: &str) -> DashResult<DocumentId> {
    let production = production(ctx).await?;
    let kind = DocKind::Timesheets {
        member_id: member_id.to_owned(),
    };
    resolve(ctx, &index(ctx, &production).await?, &kind)
        .await?
        .0
        .ok_or_else(|| {
            DashError::not_found(format!(
                "there are no timesheets for member `{}` in your production; nothing was changed",
                member_id.chars().take(60).collect::<String>()
            ))
        })
}
