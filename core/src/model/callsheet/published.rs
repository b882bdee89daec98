//! Published revisions: numbered, coloured, frozen once published, and the readers of
//! the latest one and of a member's own call time.

use super::draft::{check_draft_day, read_sheet_lenient};
use super::*;

/// Revision colours in the industry order; revision n has colour `(n - 1) % 9`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Reconcile, Hydrate)]
pub enum Colour {
    White,
    Blue,
    Pink,
    Yellow,
    Green,
    Goldenrod,
    Buff,
    Salmon,
    Cherry,
}

impl Colour {
    pub const ORDER: [Colour; 9] = [
        Colour::White,
        Colour::Blue,
        Colour::Pink,
        Colour::Yellow,
        Colour::Green,
        Colour::Goldenrod,
        Colour::Buff,
        Colour::Salmon,
        Colour::Cherry,
    ];

    /// The colour of revision `number` (1 = White), wrapping after Cherry. Any `i64` is
    /// accepted because numbers come from synced documents; `number - 1` is never computed
    /// so `i64::MIN` cannot overflow.
    pub fn for_revision(number: i64) -> Colour {
        const N: i64 = Colour::ORDER.len() as i64;
        // rem_euclid is in 0..N, so (r + N - 1) % N is in 0..N and indexes ORDER.
        let i = (number.rem_euclid(N) + N - 1) % N;
        Self::ORDER[i as usize]
    }
}

/// One published revision, frozen.
#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Revision {
    #[autosurgeon(hydrate = "util::text")]
    pub id: String,
    pub number: i64,
    #[autosurgeon(hydrate = "util::text")]
    pub colour: Colour,
    pub published_at: i64,
    #[autosurgeon(hydrate = "util::text")]
    pub published_by: String,
    #[autosurgeon(hydrate = "util::text")]
    pub summary: String,
    pub sheet: CallSheet,
}

/// Creates the published document for `day` (empty list of revisions). Roles: coordinator.
pub fn init_published(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    day: &str,
) -> Result<(), DomainError> {
    require_role(by, COORDINATOR, "create a call sheet")?;
    check_day("day", day)?;
    if get_list(doc, &ROOT, "revisions").is_some() {
        return Err(DomainError::AlreadyExists("a published call sheet".into()));
    }
    transact(doc, by, at_ms, |tx| {
        tx.put(ROOT, "day", day)?;
        tx.put_object(ROOT, "revisions", ObjType::List)?;
        Ok(())
    })
}

/// Freezes the draft's current content as the next revision: number = highest so far + 1,
/// colour from [`Colour::for_revision`]. A summary of changes is required from revision 2 on.
/// Only the published document changes. Roles: coordinator.
pub fn publish(
    draft: &Automerge,
    published: &mut Automerge,
    by: &Author,
    at_ms: i64,
    summary: &str,
) -> Result<Revision, DomainError> {
    require_role(by, COORDINATOR, "publish a call sheet")?;
    let draft_day = check_draft_day(draft)?;
    let day = get_text(published, &ROOT, "day")
        .ok_or(DomainError::NotInitialised("a published call sheet"))?;
    if draft_day != day {
        return Err(DomainError::InvalidValue {
            field: "call sheet day",
            reason: format!("the draft is for {draft_day} but the published sheet is for {day}"),
        });
    }
    let sheet = read_draft_strict(draft)?;
    publish_sheet(published, by, at_ms, sheet, summary)
}

/// Freezes `sheet` as the next revision of the published document for its day, like
/// [`publish`] but from the sheet itself rather than a draft document: a dashboard that
/// saves and publishes one submitted form publishes exactly what was submitted, whatever
/// the draft document holds by the time the write runs. Roles: coordinator.
pub fn publish_sheet(
    published: &mut Automerge,
    by: &Author,
    at_ms: i64,
    sheet: CallSheet,
    summary: &str,
) -> Result<Revision, DomainError> {
    require_role(by, COORDINATOR, "publish a call sheet")?;
    let day = get_text(published, &ROOT, "day")
        .ok_or(DomainError::NotInitialised("a published call sheet"))?;
    if sheet.header.date != day {
        return Err(DomainError::InvalidValue {
            field: "call sheet day",
            reason: format!(
                "the sheet is dated {} but the published sheet is for {day}",
                sheet.header.date
            ),
        });
    }
    sheet.validate()?;
    check_len("summary of changes", summary, MAX_LONG)?;
    let list = get_list(published, &ROOT, "revisions")
        .ok_or(DomainError::NotInitialised("a published call sheet"))?;
    // Every stored number counts, also of revisions this version cannot otherwise read.
    let highest = (0..published.length(&list))
        .filter_map(|i| match published.get(&list, i) {
            Ok(Some((automerge::Value::Object(ObjType::Map), rev))) => {
                get_i64(published, &rev, "number")
            }
            _ => None,
        })
        .max()
        .unwrap_or(0);
    // A peer may have synced in any number; refuse rather than overflow or wrap.
    let number = highest.checked_add(1).ok_or_else(|| {
        DomainError::Corrupt(format!(
            "the highest published revision number is {highest}; no next number exists"
        ))
    })?;
    if number > 1 && summary.trim().is_empty() {
        return Err(DomainError::InvalidValue {
            field: "summary of changes",
            reason: "say what changed since the last revision".into(),
        });
    }
    let revision = Revision {
        id: new_record_id(),
        number,
        colour: Colour::for_revision(number),
        published_at: at_ms,
        published_by: by.member_id.clone(),
        summary: summary.to_owned(),
        sheet,
    };
    transact(published, by, at_ms, |tx| {
        let len = tx.length(&list);
        reconcile_insert(tx, list.clone(), len, &revision)?;
        Ok(())
    })?;
    Ok(revision)
}

/// A revision's own fields, read before its sheet.
#[derive(Hydrate)]
struct RevisionMeta {
    #[autosurgeon(hydrate = "util::text")]
    id: String,
    number: i64,
    #[autosurgeon(hydrate = "util::text")]
    colour: Colour,
    published_at: i64,
    #[autosurgeon(hydrate = "util::text")]
    published_by: String,
    #[autosurgeon(hydrate = "util::text")]
    summary: String,
}

/// All revisions, oldest first. Two coordinators publishing offline at once can both make
/// "revision n"; ordering by (number, time, id) still gives every replica the same latest.
///
/// Read as far as possible: a revision whose own fields (number, colour, ...) or whose
/// sheet cannot be read at all is left out; inside a readable revision a row or section that
/// cannot be read is left out. Both are listed in `unreadable`, the latter with the
/// revision named in the reason. Errs only when the document is not an initialised
/// published sheet.
pub fn read_revisions(doc: &Automerge) -> Result<Listing<Revision>, DomainError> {
    let parts = read_revision_parts(doc)?;
    let mut out = Listing {
        items: Vec::with_capacity(parts.items.len()),
        unreadable: parts.unreadable,
    };
    for rev in parts.items {
        out.items.push(rev.value);
        out.unreadable.extend(rev.unreadable);
    }
    Ok(out)
}

/// [`read_revisions`] keeping apart what was left out of each readable revision (in its
/// `unreadable`) and the revisions that could not be read at all (in the listing's).
pub fn read_revision_parts(doc: &Automerge) -> Result<Listing<Partial<Revision>>, DomainError> {
    let Some(list) = get_list(doc, &ROOT, "revisions") else {
        return Err(DomainError::NotInitialised("a published call sheet"));
    };
    let mut revisions = Vec::new();
    let mut unreadable = Vec::new();
    for i in 0..doc.length(&list) {
        let elem = match doc.get(&list, i) {
            Ok(Some((automerge::Value::Object(ObjType::Map), elem))) => Some(elem),
            _ => None,
        };
        let id = elem
            .as_ref()
            .and_then(|e| get_text(doc, e, "id"))
            .unwrap_or_else(|| format!("revisions[{i}]"));
        let meta: Result<RevisionMeta, DomainError> = util::hydrate_at(doc, &list, i);
        let sheet = elem.as_ref().and_then(|e| get_map(doc, e, "sheet"));
        match (meta, sheet) {
            (Ok(m), Some(sheet)) => {
                let context = format!("revision {} ({:?}): ", m.number, m.colour);
                let mut rows = Vec::new();
                let sheet = read_sheet_lenient(doc, &sheet, &context, &mut rows);
                let rev = Revision {
                    id: m.id,
                    number: m.number,
                    colour: m.colour,
                    published_at: m.published_at,
                    published_by: m.published_by,
                    summary: m.summary,
                    sheet,
                };
                revisions.push(Partial {
                    value: rev,
                    unreadable: rows,
                });
            }
            (Err(e), _) => unreadable.push(Unreadable {
                id,
                what: "call sheet revision",
                why: util::why(&e),
            }),
            (Ok(_), None) => unreadable.push(Unreadable {
                id,
                what: "call sheet revision",
                why: "it has no `sheet` map".into(),
            }),
        }
    }
    revisions.sort_by(|a, b| {
        let (a, b) = (&a.value, &b.value);
        (a.number, a.published_at, &a.id).cmp(&(b.number, b.published_at, &b.id))
    });
    Ok(Listing {
        items: revisions,
        unreadable,
    })
}

/// The latest readable revision (see [`read_revisions`] for what may have been left out).
pub fn latest_revision(doc: &Automerge) -> Result<Revision, DomainError> {
    Ok(latest_revision_partial(doc)?.value)
}

/// The latest readable revision, with the rows left out of it and the revisions that could
/// not be read at all (one of which may be newer): what a phone shows and warns about.
pub fn latest_revision_partial(doc: &Automerge) -> Result<Partial<Revision>, DomainError> {
    let Listing {
        items: mut revisions,
        mut unreadable,
    } = read_revision_parts(doc)?;
    let Some(Partial {
        value,
        unreadable: rows,
    }) = revisions.pop()
    else {
        return Err(match unreadable.first() {
            None => DomainError::NotPublished,
            Some(u) => DomainError::Corrupt(format!(
                "no published revision can be read ({} {}: {})",
                u.what, u.id, u.why
            )),
        });
    };
    unreadable.extend(rows);
    Ok(Partial { value, unreadable })
}

/// Where a person's call time came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallSource {
    /// A row for this member.
    Personal,
    /// Their department's row.
    Department,
    /// No row applies: general crew call.
    General,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallTime {
    /// Minutes after midnight of the shoot day.
    pub minutes: i64,
    pub source: CallSource,
    pub revision: i64,
    pub colour: Colour,
}

/// A person's call time on the latest published revision: their own row, else their
/// department's row (one without a member), else general call.
pub fn call_time_for(
    doc: &Automerge,
    member_id: &str,
    department: Option<&str>,
) -> Result<CallTime, DomainError> {
    call_time_on(&latest_revision(doc)?, member_id, department)
}

/// [`call_time_for`] on a revision already read.
pub fn call_time_on(
    rev: &Revision,
    member_id: &str,
    department: Option<&str>,
) -> Result<CallTime, DomainError> {
    let sheet = &rev.sheet;
    let personal = sheet
        .crew_calls
        .iter()
        .find(|c| c.member_id.as_deref() == Some(member_id));
    let dept = department.and_then(|d| {
        sheet
            .crew_calls
            .iter()
            .find(|c| c.member_id.is_none() && c.department.eq_ignore_ascii_case(d))
    });
    let (minutes, source) = match (personal, dept) {
        (Some(c), _) => (sheet.resolve(&c.call), CallSource::Personal),
        (None, Some(c)) => (sheet.resolve(&c.call), CallSource::Department),
        (None, None) => (sheet.times.general_call, CallSource::General),
    };
    let minutes = minutes.ok_or_else(|| DomainError::InvalidValue {
        field: "general call",
        reason: "the published sheet has no general call, so offset calls have no time; publish a revision with one".into(),
    })?;
    Ok(CallTime {
        minutes,
        source,
        revision: rev.number,
        colour: rev.colour,
    })
}
