//! The report document: created once, the draft saved whole, revisions published from it
//! and frozen, and the readers of both.

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjId, ObjType, ReadDoc, ROOT};
use autosurgeon::{reconcile_insert, reconcile_prop, Hydrate, Reconcile};

use super::{
    BackgroundLine, GearOutLine, ReportContent, ReportMeal, ReportScene, ReportTimes,
    MAX_REPORT_TEXT,
};
use crate::access::Author;
use crate::ids::new_record_id;
use crate::model::util::{self, check_day, check_len, get_i64, get_list, get_map, get_text};
use crate::model::{
    require_role, transact, DomainError, Listing, Partial, Unreadable, COORDINATOR,
};

/// One published revision of the report, frozen.
#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate)]
pub struct ReportRevision {
    #[autosurgeon(hydrate = "util::text")]
    pub id: String,
    pub number: i64,
    pub published_at: i64,
    #[autosurgeon(hydrate = "util::text")]
    pub published_by: String,
    #[autosurgeon(hydrate = "util::text")]
    pub summary: String,
    pub report: ReportContent,
}

const WHAT: &str = "a production report";

fn report_day(doc: &Automerge) -> Result<String, DomainError> {
    get_text(doc, &ROOT, "day").ok_or(DomainError::NotInitialised(WHAT))
}

/// Creates the report for `day`: a blank draft and no revisions. Roles: coordinator.
pub fn init_report(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    day: &str,
) -> Result<(), DomainError> {
    require_role(by, COORDINATOR, "create a production report")?;
    check_day("day", day)?;
    if doc.get(ROOT, "day")?.is_some() {
        return Err(DomainError::AlreadyExists(WHAT.into()));
    }
    let blank = ReportContent::blank(day);
    transact(doc, by, at_ms, |tx| {
        tx.put(ROOT, "day", day)?;
        reconcile_prop(tx, ROOT, "draft", &blank)?;
        tx.put_object(ROOT, "revisions", ObjType::List)?;
        Ok(())
    })
}

/// Checks `content` for this document: valid, and for its day.
fn check_content(doc: &Automerge, content: &ReportContent) -> Result<(), DomainError> {
    let day = report_day(doc)?;
    if content.day != day {
        return Err(DomainError::InvalidValue {
            field: "report day",
            reason: format!(
                "the report is for {} but this document is {day}'s",
                content.day
            ),
        });
    }
    content.validate()
}

/// Replaces the draft with `content`: only the fields that changed are written. The
/// dashboard shows the whole report and saves it whole. Roles: coordinator.
pub fn save_draft(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    content: ReportContent,
) -> Result<(), DomainError> {
    require_role(by, COORDINATOR, "edit the production report")?;
    check_content(doc, &content)?;
    transact(doc, by, at_ms, |tx| {
        reconcile_prop(tx, ROOT, "draft", &content)?;
        Ok(())
    })
}

/// Freezes the draft as the next revision: number = highest so far + 1, published now by
/// `by`. A summary of what changed is required from revision 2 on, and a revision that
/// reads the same as the latest is refused (the office already has it). Returns the new
/// revision's number. Roles: coordinator.
pub fn publish(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    summary: &str,
) -> Result<i64, DomainError> {
    require_role(by, COORDINATOR, "publish the production report")?;
    let content = read_draft_strict(doc)?;
    publish_content(doc, by, at_ms, None, content, summary)
}

/// Saves `content` as the draft and publishes exactly it, in one commit: what the
/// coordinator submitted is what goes out, whatever the draft held a moment before.
/// Refused as a whole like [`save_draft`] and [`publish`]. Roles: coordinator.
pub fn save_and_publish(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    content: ReportContent,
    summary: &str,
) -> Result<i64, DomainError> {
    require_role(by, COORDINATOR, "publish the production report")?;
    publish_content(doc, by, at_ms, Some(content.clone()), content, summary)
}

fn publish_content(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    save: Option<ReportContent>,
    content: ReportContent,
    summary: &str,
) -> Result<i64, DomainError> {
    check_content(doc, &content)?;
    check_len("summary of changes", summary, MAX_REPORT_TEXT)?;
    let list = get_list(doc, &ROOT, "revisions").ok_or(DomainError::NotInitialised(WHAT))?;
    // Every stored number counts, also of revisions this version cannot otherwise read.
    let highest = (0..doc.length(&list))
        .filter_map(|i| match doc.get(&list, i) {
            Ok(Some((automerge::Value::Object(ObjType::Map), rev))) => get_i64(doc, &rev, "number"),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    let number = highest.checked_add(1).ok_or_else(|| {
        DomainError::Corrupt(format!(
            "the highest published revision number is {highest}; no next number exists"
        ))
    })?;
    if let Some(latest) = read_revisions(doc)?.items.last() {
        if latest.report == content {
            return Err(DomainError::InvalidTransition {
                what: "production report",
                from: format!("unchanged since revision {}", latest.number),
                event: "publish".into(),
                hint: "change the draft first; the office already has this revision",
            });
        }
    }
    if number > 1 && summary.trim().is_empty() {
        return Err(DomainError::InvalidValue {
            field: "summary of changes",
            reason: "say what changed since the last revision".into(),
        });
    }
    let revision = ReportRevision {
        id: new_record_id(),
        number,
        published_at: at_ms,
        published_by: by.member_id.clone(),
        summary: summary.to_owned(),
        report: content,
    };
    transact(doc, by, at_ms, |tx| {
        if let Some(content) = &save {
            reconcile_prop(tx, ROOT, "draft", content)?;
        }
        let len = tx.length(&list);
        reconcile_insert(tx, list.clone(), len, &revision)?;
        Ok(())
    })?;
    Ok(number)
}

/// Reads the report at `obj` field by field and row by row, leaving out (and listing) what
/// cannot be read. `context` prefixes every reason (`revision 2: `).
fn read_content_lenient(
    doc: &Automerge,
    obj: &ObjId,
    context: &str,
    unreadable: &mut Vec<Unreadable>,
) -> ReportContent {
    fn part<T: Hydrate + Default>(
        doc: &Automerge,
        obj: &ObjId,
        key: &'static str,
        context: &str,
        unreadable: &mut Vec<Unreadable>,
    ) -> T {
        // A field that is not there reads as its default: older reports lack nothing
        // today, but a new optional field must not make them unreadable.
        if doc.get(obj, key).ok().flatten().is_none() {
            return T::default();
        }
        util::hydrate_at(doc, obj, key).unwrap_or_else(|e| {
            unreadable.push(Unreadable {
                id: key.to_owned(),
                what: "report field",
                why: format!("{context}{}", util::why(&e)),
            });
            T::default()
        })
    }
    let times = match get_map(doc, obj, "times") {
        Some(t) => ReportTimes {
            crew_call: part(doc, &t, "crew_call", context, unreadable),
            first_shot: part(doc, &t, "first_shot", context, unreadable),
            meals: util::lenient_rows::<ReportMeal>(doc, &t, "meals", "meal", context, unreadable),
            camera_wrap: part(doc, &t, "camera_wrap", context, unreadable),
            last_out: part(doc, &t, "last_out", context, unreadable),
        },
        None => part(doc, obj, "times", context, unreadable),
    };
    let scenes: Vec<ReportScene> =
        util::lenient_rows(doc, obj, "scenes", "report scene", context, unreadable);
    let background: Vec<BackgroundLine> = util::lenient_rows(
        doc,
        obj,
        "background",
        "background line",
        context,
        unreadable,
    );
    let gear_out: Vec<GearOutLine> =
        util::lenient_rows(doc, obj, "gear_out", "gear line", context, unreadable);
    ReportContent {
        day: part(doc, obj, "day", context, unreadable),
        production_title: part(doc, obj, "production_title", context, unreadable),
        day_number: part(doc, obj, "day_number", context, unreadable),
        total_days: part(doc, obj, "total_days", context, unreadable),
        times,
        scenes,
        background,
        runs_completed: part(doc, obj, "runs_completed", context, unreadable),
        runs_not_completed: part(doc, obj, "runs_not_completed", context, unreadable),
        gear_out,
        incidents: part(doc, obj, "incidents", context, unreadable),
        notes: part(doc, obj, "notes", context, unreadable),
    }
}

/// The draft as far as it can be read: a field or row that cannot be read is left out and
/// listed. Errs only when the document is not an initialised report. Roles (enforced by
/// the device and relay): coordinator, office.
pub fn read_draft(doc: &Automerge) -> Result<Partial<ReportContent>, DomainError> {
    report_day(doc)?;
    let draft = util::require_map(doc, &ROOT, "draft", WHAT)?;
    let mut unreadable = Vec::new();
    let value = read_content_lenient(doc, &draft, "", &mut unreadable);
    Ok(Partial { value, unreadable })
}

/// The draft exactly, or [`DomainError::Corrupt`] naming the first field that cannot be
/// read: publishing uses this, as it must never drop what it cannot read.
pub fn read_draft_strict(doc: &Automerge) -> Result<ReportContent, DomainError> {
    report_day(doc)?;
    util::hydrate_at(doc, &ROOT, "draft")
}

/// A revision's own fields, read before its content.
#[derive(Hydrate)]
struct RevisionMeta {
    #[autosurgeon(hydrate = "util::text")]
    id: String,
    number: i64,
    published_at: i64,
    #[autosurgeon(hydrate = "util::text")]
    published_by: String,
    #[autosurgeon(hydrate = "util::text")]
    summary: String,
}

/// Every revision, oldest first, ordered by (number, time, id) so two coordinators who
/// published the same number offline give every replica the same latest. Read as far as
/// possible: a revision whose own fields cannot be read is left out; inside a readable one,
/// fields and rows that cannot be read are left out; both are listed, the latter naming
/// the revision.
pub fn read_revisions(doc: &Automerge) -> Result<Listing<ReportRevision>, DomainError> {
    report_day(doc)?;
    let list = util::require_list(doc, &ROOT, "revisions", WHAT)?;
    let mut items = Vec::new();
    let mut unreadable = Vec::new();
    for i in 0..doc.length(&list) {
        let elem = match doc.get(&list, i) {
            Ok(Some((automerge::Value::Object(ObjType::Map), e))) => Some(e),
            _ => None,
        };
        let id = elem
            .as_ref()
            .and_then(|e| get_text(doc, e, "id"))
            .unwrap_or_else(|| format!("revisions[{i}]"));
        let meta: Result<RevisionMeta, DomainError> = util::hydrate_at(doc, &list, i);
        let report = elem.as_ref().and_then(|e| get_map(doc, e, "report"));
        match (meta, report) {
            (Ok(m), Some(report)) => {
                let context = format!("revision {}: ", m.number);
                let report = read_content_lenient(doc, &report, &context, &mut unreadable);
                items.push(ReportRevision {
                    id: m.id,
                    number: m.number,
                    published_at: m.published_at,
                    published_by: m.published_by,
                    summary: m.summary,
                    report,
                });
            }
            (Err(e), _) => unreadable.push(Unreadable {
                id,
                what: "report revision",
                why: util::why(&e),
            }),
            (Ok(_), None) => unreadable.push(Unreadable {
                id,
                what: "report revision",
                why: "it has no `report` map".into(),
            }),
        }
    }
    items.sort_by(|a, b| (a.number, a.published_at, &a.id).cmp(&(b.number, b.published_at, &b.id)));
    Ok(Listing { items, unreadable })
}

/// The latest readable revision; `None` before the first is published.
pub fn latest_revision(doc: &Automerge) -> Result<Option<ReportRevision>, DomainError> {
    Ok(read_revisions(doc)?.items.pop())
}
