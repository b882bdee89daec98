//! The day's draft call sheet: created, replaced, updated, and the crew calls edited
//! one at a time.

use super::*;

pub(super) fn check_draft_day(doc: &Automerge) -> Result<String, DomainError> {
    get_text(doc, &ROOT, "day").ok_or(DomainError::NotInitialised("a call sheet draft"))
}

/// Creates the draft for `day` with `sheet` as its content. Roles: coordinator.
pub fn init_draft(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    day: &str,
    sheet: CallSheet,
) -> Result<(), DomainError> {
    require_role(by, COORDINATOR, "create a call sheet")?;
    check_day("day", day)?;
    if sheet.header.date != day {
        return Err(DomainError::InvalidValue {
            field: "call sheet date",
            reason: format!(
                "the sheet is dated {} but the draft is for {day}",
                sheet.header.date
            ),
        });
    }
    sheet.validate()?;
    if get_map(doc, &ROOT, "sheet").is_some() {
        return Err(DomainError::AlreadyExists("a call sheet draft".into()));
    }
    transact(doc, by, at_ms, |tx| {
        tx.put(ROOT, "day", day)?;
        reconcile_prop(tx, ROOT, "sheet", &sheet)?;
        Ok(())
    })
}

/// The draft's current content, read as far as possible: a row (scene, cast member, crew
/// call, ...) or a section (header, weather, ...) that cannot be read is left out (a section
/// reads as empty) and listed in `unreadable`. Errs only when the document is not an
/// initialised draft. Roles (enforced by the device and relay): coordinator, office.
pub fn read_draft(doc: &Automerge) -> Result<Partial<CallSheet>, DomainError> {
    check_draft_day(doc)?;
    let sheet = util::require_map(doc, &ROOT, "sheet", "a call sheet draft")?;
    let mut unreadable = Vec::new();
    let value = read_sheet_lenient(doc, &sheet, "", &mut unreadable);
    Ok(Partial { value, unreadable })
}

/// The draft's exact content, or [`DomainError::Corrupt`] naming the first field that cannot
/// be read. Edits and publishing use this: they must never drop what they cannot read.
pub fn read_draft_strict(doc: &Automerge) -> Result<CallSheet, DomainError> {
    check_draft_day(doc)?;
    util::hydrate_at(doc, &ROOT, "sheet")
}

/// Replaces the draft's content with `sheet` without reading the old content first, so it
/// also works on a draft with rows this version cannot read (those rows are removed). For
/// editors that show the whole sheet and save it whole. Roles: coordinator.
pub fn replace_draft(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    sheet: CallSheet,
) -> Result<(), DomainError> {
    require_role(by, COORDINATOR, "edit a call sheet")?;
    let day = check_draft_day(doc)?;
    if sheet.header.date != day {
        return Err(DomainError::InvalidValue {
            field: "call sheet date",
            reason: format!("this draft is for {day}; create another day's draft instead"),
        });
    }
    sheet.validate()?;
    transact(doc, by, at_ms, |tx| {
        reconcile_prop(tx, ROOT, "sheet", &sheet)?;
        Ok(())
    })
}

/// A string in a list, scalar or Text.
struct ListText(String);

impl Hydrate for ListText {
    fn hydrate_string(s: &str) -> Result<Self, autosurgeon::HydrateError> {
        Ok(ListText(s.to_owned()))
    }
    fn hydrate_text<D: autosurgeon::ReadDoc>(
        doc: &D,
        obj: &automerge::ObjId,
    ) -> Result<Self, autosurgeon::HydrateError> {
        Ok(ListText(doc.text(obj)?))
    }
}

/// The row lists of one object, read with [`util::lenient_rows`].
struct Rows<'a> {
    doc: &'a Automerge,
    obj: &'a automerge::ObjId,
    context: &'a str,
}

impl Rows<'_> {
    fn read<T: Hydrate>(
        &self,
        key: &str,
        what: &'static str,
        unreadable: &mut Vec<Unreadable>,
    ) -> Vec<T> {
        util::lenient_rows(self.doc, self.obj, key, what, self.context, unreadable)
    }
}

/// Reads the sheet at `sheet` section by section and row by row, leaving out (and listing)
/// what cannot be read. `context` prefixes every reason (`revision 2 (Blue): `).
pub(super) fn read_sheet_lenient(
    doc: &Automerge,
    sheet: &automerge::ObjId,
    context: &str,
    unreadable: &mut Vec<Unreadable>,
) -> CallSheet {
    fn part<T: Hydrate + Default>(
        doc: &Automerge,
        obj: &automerge::ObjId,
        key: &'static str,
        context: &str,
        unreadable: &mut Vec<Unreadable>,
    ) -> T {
        util::hydrate_at(doc, obj, key).unwrap_or_else(|e| {
            unreadable.push(Unreadable {
                id: key.to_owned(),
                what: "call sheet section",
                why: format!("{context}{}", util::why(&e)),
            });
            T::default()
        })
    }
    let rows = Rows {
        doc,
        obj: sheet,
        context,
    };
    let times = match get_map(doc, sheet, "times") {
        Some(t) => Times {
            general_call: part(doc, &t, "general_call", context, unreadable),
            shooting_call: part(doc, &t, "shooting_call", context, unreadable),
            meals: util::lenient_rows(doc, &t, "meals", "meal", context, unreadable),
            estimated_wrap: part(doc, &t, "estimated_wrap", context, unreadable),
        },
        None => part(doc, sheet, "times", context, unreadable),
    };
    CallSheet {
        header: part(doc, sheet, "header", context, unreadable),
        times,
        weather: part(doc, sheet, "weather", context, unreadable),
        locations: rows.read("locations", "location", unreadable),
        nearest_hospital: part(doc, sheet, "nearest_hospital", context, unreadable),
        scenes: rows.read("scenes", "scene", unreadable),
        cast: rows.read("cast", "cast member", unreadable),
        background: rows.read("background", "background row", unreadable),
        crew_calls: rows.read("crew_calls", "crew call", unreadable),
        department_notes: rows.read("department_notes", "department note", unreadable),
        advance_schedule: rows.read("advance_schedule", "advance schedule day", unreadable),
        walkie_channels: rows.read("walkie_channels", "walkie channel", unreadable),
        safety_notes: rows
            .read::<ListText>("safety_notes", "safety note", unreadable)
            .into_iter()
            .map(|t| t.0)
            .collect(),
    }
}

/// Edits the draft with `edit`, then checks the whole sheet and writes only what changed.
/// Any section can be edited this way. Roles: coordinator.
pub fn update_draft(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    edit: impl FnOnce(&mut CallSheet) -> Result<(), DomainError>,
) -> Result<(), DomainError> {
    require_role(by, COORDINATOR, "edit a call sheet")?;
    let day = check_draft_day(doc)?;
    let mut sheet = read_draft_strict(doc)?;
    edit(&mut sheet)?;
    if sheet.header.date != day {
        return Err(DomainError::InvalidValue {
            field: "call sheet date",
            reason: format!("this draft is for {day}; create another day's draft instead"),
        });
    }
    sheet.validate()?;
    transact(doc, by, at_ms, |tx| {
        reconcile_prop(tx, ROOT, "sheet", &sheet)?;
        Ok(())
    })
}

/// Moves general call; every crew call given as an offset moves with it. Roles: coordinator.
pub fn set_general_call(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    minutes: i64,
) -> Result<(), DomainError> {
    update_draft(doc, by, at_ms, |s| {
        check_minute("general call", Some(minutes))?;
        s.times.general_call = Some(minutes);
        Ok(())
    })
}

/// A crew call row to add or replace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrewCallInput {
    pub department: String,
    pub position: Option<String>,
    pub name: Option<String>,
    pub member_id: Option<String>,
    pub call: CallSpec,
}

impl CrewCallInput {
    pub fn department(department: &str, call: CallSpec) -> Self {
        CrewCallInput {
            department: department.to_owned(),
            position: None,
            name: None,
            member_id: None,
            call,
        }
    }
}

/// Adds a crew call row. Roles: coordinator. Returns its id.
pub fn add_crew_call(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    row: CrewCallInput,
) -> Result<String, DomainError> {
    require_role(by, COORDINATOR, "edit a call sheet")?;
    validate_crew_call(
        &row.department,
        &row.position,
        &row.name,
        &row.member_id,
        &row.call,
    )?;
    let sheet = read_draft_strict(doc)?;
    if let Some(m) = &row.member_id {
        if sheet
            .crew_calls
            .iter()
            .any(|c| c.member_id.as_ref() == Some(m))
        {
            return Err(DomainError::AlreadyExists(format!(
                "a crew call for member `{m}`"
            )));
        }
    }
    let sheet_obj = util::require_map(doc, &ROOT, "sheet", "a call sheet draft")?;
    let list = get_list(doc, &sheet_obj, "crew_calls")
        .ok_or_else(|| DomainError::Corrupt("the call sheet has no crew calls list".into()))?;
    let id = new_record_id();
    let value = CrewCall {
        id: id.clone(),
        department: row.department,
        position: row.position,
        name: row.name,
        member_id: row.member_id,
        call: row.call,
    };
    // A direct insert, so two coordinators adding rows concurrently both keep theirs.
    transact(doc, by, at_ms, |tx| {
        let len = tx.length(&list);
        reconcile_insert(tx, list.clone(), len, &value)?;
        Ok(())
    })?;
    Ok(id)
}

/// Replaces a crew call row. Roles: coordinator.
pub fn edit_crew_call(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    id: &str,
    row: CrewCallInput,
) -> Result<(), DomainError> {
    update_draft(doc, by, at_ms, |s| {
        let c = s
            .crew_calls
            .iter_mut()
            .find(|c| c.id == id)
            .ok_or_else(|| DomainError::UnknownCallSheetEntry {
                what: "crew call",
                id: id.to_owned(),
            })?;
        c.department = row.department;
        c.position = row.position;
        c.name = row.name;
        c.member_id = row.member_id;
        c.call = row.call;
        Ok(())
    })
}

/// Removes a crew call row. Roles: coordinator.
pub fn remove_crew_call(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    id: &str,
) -> Result<(), DomainError> {
    update_draft(doc, by, at_ms, |s| {
        let before = s.crew_calls.len();
        s.crew_calls.retain(|c| c.id != id);
        if s.crew_calls.len() == before {
            return Err(DomainError::UnknownCallSheetEntry {
                what: "crew call",
                id: id.to_owned(),
            });
        }
        Ok(())
    })
}
