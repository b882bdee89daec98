//! The production document: details, members and the index of every other document.
//!
//! Layout (the relay reads `documents` and `members` directly, so it is a contract):
//! - `production`: map of [`ProductionInfo`] (title, company, timezone, shoot days,
//!   departments, key contacts, walkie channels, location directory)
//! - `members`: map member id -> `{name, role, department, phone, email}`, role one of
//!   `coordinator`, `office`, `pa`, `crew`
//! - `documents`: map document id (base58check) -> `{kind, day?, member_id?}`, kind one of
//!   `production`, `board`, `call_sheet_draft`, `call_sheet_published`, `member`, `gear`,
//!   `background`, `timesheets`, `production_report`
//!
//! Roles: only coordinators write this document; everyone reads it.

use std::collections::BTreeSet;

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjId, ObjType, ReadDoc, ROOT};
use autosurgeon::{reconcile_prop, Hydrate, Reconcile};

use super::callsheet::Hospital;
use super::util::{
    self, check_day, check_opt, check_required, get_map, get_str, MAX_LONG, MAX_SHORT,
};
use super::{require_role, transact, DomainError, Listing, Unreadable, COORDINATOR};
use crate::access::{Author, DocKind, Role};
use crate::ids::{new_record_id, DocumentId};

#[derive(Clone, Debug, Default, PartialEq, Eq, Reconcile, Hydrate)]
pub struct KeyContact {
    #[autosurgeon(hydrate = "util::text")]
    pub name: String,
    /// What they are to the production ("UPM", "Location manager").
    #[autosurgeon(hydrate = "util::text")]
    pub title: String,
    #[autosurgeon(hydrate = "util::opt_text")]
    pub phone: Option<String>,
    #[autosurgeon(hydrate = "util::opt_text")]
    pub email: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Reconcile, Hydrate)]
pub struct WalkieChannel {
    pub channel: i64,
    /// Who talks on it ("Production", "Camera", "Grip/Electric").
    #[autosurgeon(hydrate = "util::text")]
    pub name: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Reconcile, Hydrate)]
pub struct LocationEntry {
    #[key]
    #[autosurgeon(hydrate = "util::text")]
    pub id: String,
    #[autosurgeon(hydrate = "util::text")]
    pub name: String,
    #[autosurgeon(hydrate = "util::text")]
    pub address: String,
    #[autosurgeon(hydrate = "util::opt_text")]
    pub parking: Option<String>,
    #[autosurgeon(hydrate = "util::opt_text")]
    pub notes: Option<String>,
    /// Where trucks, trailers and holding set up for this location.
    #[autosurgeon(hydrate = "util::opt_text")]
    pub basecamp: Option<String>,
}

/// Production details.
#[derive(Clone, Debug, Default, PartialEq, Eq, Reconcile, Hydrate)]
pub struct ProductionInfo {
    #[autosurgeon(hydrate = "util::text")]
    pub title: String,
    #[autosurgeon(hydrate = "util::text")]
    pub company: String,
    /// IANA zone name, e.g. `America/Los_Angeles`.
    #[autosurgeon(hydrate = "util::text")]
    pub timezone: String,
    /// Shoot days in order (`YYYY-MM-DD`); "Day X of Y" is a day's position in this list.
    #[autosurgeon(hydrate = "util::text_list")]
    pub shoot_days: Vec<String>,
    #[autosurgeon(hydrate = "util::text_list")]
    pub departments: Vec<String>,
    pub key_contacts: Vec<KeyContact>,
    pub walkie_channels: Vec<WalkieChannel>,
    pub locations: Vec<LocationEntry>,
    /// The hospital every call sheet names unless a day sets its own (absent in
    /// documents written before it existed, which read as `None`).
    pub nearest_hospital: Option<Hospital>,
}

impl ProductionInfo {
    /// "Day X of Y" for a shoot day, if it is one.
    pub fn day_of(&self, day: &str) -> Option<(usize, usize)> {
        let x = self.shoot_days.iter().position(|d| d == day)?;
        Some((x + 1, self.shoot_days.len()))
    }

    pub fn validate(&self) -> Result<(), DomainError> {
        check_required("production title", &self.title)?;
        check_required("company", &self.company)?;
        validate_timezone(&self.timezone)?;
        let mut last: Option<&str> = None;
        for d in &self.shoot_days {
            check_day("shoot day", d)?;
            if last.is_some_and(|l| l >= d.as_str()) {
                return Err(DomainError::InvalidValue {
                    field: "shoot days",
                    reason: format!(
                        "`{d}` is out of order or repeated; list each day once, in order"
                    ),
                });
            }
            last = Some(d);
        }
        unique("departments", self.departments.iter().map(String::as_str))?;
        for d in &self.departments {
            check_required("department", d)?;
        }
        for c in &self.key_contacts {
            check_required("contact name", &c.name)?;
            check_required("contact title", &c.title)?;
            check_opt("contact phone", &c.phone, MAX_SHORT)?;
            check_opt("contact email", &c.email, MAX_SHORT)?;
        }
        for w in &self.walkie_channels {
            validate_walkie(w)?;
        }
        unique(
            "walkie channels",
            self.walkie_channels.iter().map(|w| w.channel),
        )?;
        for l in &self.locations {
            check_required("location name", &l.name)?;
            check_required("location address", &l.address)?;
            check_opt("parking", &l.parking, MAX_LONG)?;
            check_opt("basecamp", &l.basecamp, MAX_LONG)?;
            check_opt("location notes", &l.notes, MAX_LONG)?;
        }
        unique("location ids", self.locations.iter().map(|l| l.id.as_str()))?;
        if let Some(h) = &self.nearest_hospital {
            h.validate()?;
        }
        Ok(())
    }
}

pub(crate) fn validate_walkie(w: &WalkieChannel) -> Result<(), DomainError> {
    if !(1..=99).contains(&w.channel) {
        return Err(DomainError::OutOfRange {
            field: "walkie channel",
            reason: format!("{} is not between 1 and 99", w.channel),
        });
    }
    check_required("walkie channel name", &w.name)
}

pub(crate) fn unique<T: Ord + std::fmt::Debug>(
    field: &'static str,
    it: impl Iterator<Item = T>,
) -> Result<(), DomainError> {
    let mut seen = BTreeSet::new();
    for v in it {
        if let Some(dup) = seen.replace(v) {
            return Err(DomainError::InvalidValue {
                field,
                reason: format!("{dup:?} appears twice"),
            });
        }
    }
    Ok(())
}

fn validate_timezone(tz: &str) -> Result<(), DomainError> {
    time_zone(tz).map(|_| ())
}

/// The IANA time zone named `name`, from the tz database bundled into the build (so the
/// machine's own zoneinfo, or its absence, never changes the answer). Unknown names are
/// refused with an error saying what a zone name looks like.
pub fn time_zone(name: &str) -> Result<jiff::tz::TimeZone, DomainError> {
    // Length-bounded first: the lookup is by name and must never see unbounded input.
    let tz = if name.len() <= 64 && !name.trim().is_empty() {
        jiff::tz::db().get(name).ok()
    } else {
        None
    };
    tz.ok_or_else(|| DomainError::InvalidValue {
        field: "timezone",
        reason: format!(
            "`{}` is not a known IANA time zone; use a name such as America/Los_Angeles, \
             Europe/London or UTC",
            name.chars().take(64).collect::<String>()
        ),
    })
}

/// A new location for the directory (its id is assigned).
pub fn new_location(name: &str, address: &str) -> LocationEntry {
    LocationEntry {
        id: new_record_id(),
        name: name.to_owned(),
        address: address.to_owned(),
        parking: None,
        notes: None,
        basecamp: None,
    }
}

/// A member as stored under `members`.
#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate)]
pub struct MemberInfo {
    #[autosurgeon(hydrate = "util::text")]
    pub name: String,
    #[autosurgeon(with = "role_text")]
    pub role: Role,
    #[autosurgeon(hydrate = "util::opt_text")]
    pub department: Option<String>,
    #[autosurgeon(hydrate = "util::opt_text")]
    pub phone: Option<String>,
    #[autosurgeon(hydrate = "util::opt_text")]
    pub email: Option<String>,
}

impl MemberInfo {
    pub fn new(name: impl Into<String>, role: Role) -> Self {
        MemberInfo {
            name: name.into(),
            role,
            department: None,
            phone: None,
            email: None,
        }
    }

    fn validate(&self) -> Result<(), DomainError> {
        check_required("member name", &self.name)?;
        if let Some(d) = &self.department {
            check_required("department", d)?;
        }
        check_opt("phone", &self.phone, MAX_SHORT)?;
        if let Some(e) = &self.email {
            check_len_email(e)?;
        }
        Ok(())
    }
}

fn check_len_email(e: &str) -> Result<(), DomainError> {
    util::check_len("email", e, MAX_SHORT)?;
    let valid = e
        .split_once('@')
        .is_some_and(|(a, b)| !a.is_empty() && b.contains('.') && !b.starts_with('.'));
    if !valid || e.contains(char::is_whitespace) {
        return Err(DomainError::InvalidValue {
            field: "email",
            reason: format!("`{e}` is not an email address"),
        });
    }
    Ok(())
}

/// Stores roles as their lowercase names, the form the relay reads.
mod role_text {
    use autosurgeon::{HydrateError, Prop, ReadDoc, Reconciler};

    use crate::access::Role;

    pub(super) fn reconcile<R: Reconciler>(role: &Role, mut r: R) -> Result<(), R::Error> {
        r.str(role.as_str())
    }

    pub(super) fn hydrate<D: ReadDoc>(
        doc: &D,
        obj: &automerge::ObjId,
        prop: Prop<'_>,
    ) -> Result<Role, HydrateError> {
        let s: String = super::util::text(doc, obj, prop)?;
        s.parse()
            .map_err(|e: String| HydrateError::unexpected("a role", e))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub id: String,
    pub info: MemberInfo,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Production {
    pub info: ProductionInfo,
    /// Sorted by name, then id.
    pub members: Vec<Member>,
    /// Members that could not be read (see [`read_members`]).
    pub unreadable: Vec<Unreadable>,
}

fn kind_fields(kind: &DocKind) -> Result<(&'static str, Option<&str>, Option<&str>), DomainError> {
    Ok(match kind {
        DocKind::Production => ("production", None, None),
        DocKind::Board { day } => ("board", Some(day.as_str()), None),
        DocKind::CallSheetDraft { day } => ("call_sheet_draft", Some(day.as_str()), None),
        DocKind::CallSheetPublished { day } => ("call_sheet_published", Some(day.as_str()), None),
        DocKind::Member { member_id } => ("member", None, Some(member_id.as_str())),
        DocKind::Gear => ("gear", None, None),
        DocKind::Background { day } => ("background", Some(day.as_str()), None),
        DocKind::Timesheets { member_id } => ("timesheets", None, Some(member_id.as_str())),
        DocKind::ProductionReport { day } => ("production_report", Some(day.as_str()), None),
        DocKind::Shared => {
            return Err(DomainError::InvalidValue {
                field: "document kind",
                reason: "shared documents are, by definition, not in the index".into(),
            })
        }
    })
}

/// Makes a new production document: details, the creator as its first coordinator, and the
/// index holding this document itself. Roles: coordinator (the author becomes the member
/// `by.member_id`).
pub fn init_production(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    production_id: &DocumentId,
    info: ProductionInfo,
    creator: MemberInfo,
) -> Result<(), DomainError> {
    require_role(by, COORDINATOR, "create a production")?;
    info.validate()?;
    creator.validate()?;
    if creator.role != Role::Coordinator {
        return Err(DomainError::InvalidValue {
            field: "creator role",
            reason: "the person creating a production is its first coordinator".into(),
        });
    }
    check_required("member id", &by.member_id)?;
    if get_map(doc, &ROOT, "production").is_some() {
        return Err(DomainError::AlreadyExists("a production".into()));
    }
    transact(doc, by, at_ms, |tx| {
        reconcile_prop(tx, ROOT, "production", &info)?;
        let members = tx.put_object(ROOT, "members", ObjType::Map)?;
        reconcile_prop(tx, &members, by.member_id.as_str(), &creator)?;
        let documents = tx.put_object(ROOT, "documents", ObjType::Map)?;
        put_index_entry(tx, &documents, production_id, &DocKind::Production)?;
        Ok(())
    })
}

fn put_index_entry<T: Transactable>(
    tx: &mut T,
    documents: &ObjId,
    id: &DocumentId,
    kind: &DocKind,
) -> Result<(), DomainError> {
    let (k, day, member) = kind_fields(kind)?;
    let entry = tx.put_object(documents, id.to_string(), ObjType::Map)?;
    tx.put(&entry, "kind", k)?;
    if let Some(d) = day {
        tx.put(&entry, "day", d)?;
    }
    if let Some(m) = member {
        tx.put(&entry, "member_id", m)?;
    }
    Ok(())
}

/// One of the root maps `init_production` creates (`production`, `members`, `documents`);
/// its absence means the document was never initialised as a production.
fn production_root_map<R: ReadDoc>(doc: &R, key: &str) -> Result<ObjId, DomainError> {
    get_map(doc, &ROOT, key).ok_or(DomainError::NotInitialised("a production"))
}

/// Replaces the production details. Roles: coordinator.
pub fn update_production(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    info: ProductionInfo,
) -> Result<(), DomainError> {
    require_role(by, COORDINATOR, "edit the production")?;
    info.validate()?;
    production_root_map(doc, "production")?;
    transact(doc, by, at_ms, |tx| {
        reconcile_prop(tx, ROOT, "production", &info)?;
        Ok(())
    })
}

fn coordinators(doc: &Automerge) -> Result<Vec<String>, DomainError> {
    Ok(read_members(doc)?
        .items
        .into_iter()
        .filter(|m| m.info.role == Role::Coordinator)
        .map(|m| m.id)
        .collect())
}

/// Adds a member under an id the caller chose (the relay's member id). Roles: coordinator.
pub fn add_member(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    member_id: &str,
    info: MemberInfo,
) -> Result<(), DomainError> {
    require_role(by, COORDINATOR, "add a member")?;
    check_required("member id", member_id)?;
    info.validate()?;
    let members = production_root_map(doc, "members")?;
    if get_map(doc, &members, member_id).is_some() {
        return Err(DomainError::AlreadyExists(format!("member `{member_id}`")));
    }
    transact(doc, by, at_ms, |tx| {
        reconcile_prop(tx, &members, member_id, &info)?;
        Ok(())
    })
}

/// Changes a member's details or role. The last coordinator cannot be demoted. Roles: coordinator.
pub fn update_member(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    member_id: &str,
    info: MemberInfo,
) -> Result<(), DomainError> {
    require_role(by, COORDINATOR, "edit a member")?;
    info.validate()?;
    let members = production_root_map(doc, "members")?;
    if get_map(doc, &members, member_id).is_none() {
        return Err(DomainError::UnknownMember(member_id.to_owned()));
    }
    if info.role != Role::Coordinator && coordinators(doc)? == [member_id] {
        return Err(DomainError::InvalidValue {
            field: "role",
            reason:
                "this is the production's last coordinator; make someone else coordinator first"
                    .into(),
        });
    }
    transact(doc, by, at_ms, |tx| {
        reconcile_prop(tx, &members, member_id, &info)?;
        Ok(())
    })
}

/// Removes a member. The last coordinator cannot be removed. Roles: coordinator.
pub fn remove_member(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    member_id: &str,
) -> Result<(), DomainError> {
    require_role(by, COORDINATOR, "remove a member")?;
    let members = production_root_map(doc, "members")?;
    if get_map(doc, &members, member_id).is_none() {
        return Err(DomainError::UnknownMember(member_id.to_owned()));
    }
    if coordinators(doc)? == [member_id] {
        return Err(DomainError::InvalidValue {
            field: "member",
            reason:
                "this is the production's last coordinator; make someone else coordinator first"
                    .into(),
        });
    }
    transact(doc, by, at_ms, |tx| {
        tx.delete(&members, member_id)?;
        Ok(())
    })
}

/// Adds a document to the index. A member document needs an existing member; board and call
/// sheet documents a valid day. Roles: coordinator.
pub fn register_document(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    id: &DocumentId,
    kind: &DocKind,
) -> Result<(), DomainError> {
    require_role(by, COORDINATOR, "register a document")?;
    let (_, day, member) = kind_fields(kind)?;
    if let Some(d) = day {
        check_day("day", d)?;
    }
    let documents = production_root_map(doc, "documents")?;
    if let Some(m) = member {
        let members = production_root_map(doc, "members")?;
        if get_map(doc, &members, m).is_none() {
            return Err(DomainError::UnknownMember(m.to_owned()));
        }
    }
    if get_map(doc, &documents, &id.to_string()).is_some() {
        return Err(DomainError::AlreadyExists(format!("document {id}")));
    }
    // One board / draft / published sheet per day and one doc per member: a second would
    // split the day's data between two documents.
    if kind != &DocKind::Shared && read_index(doc)?.iter().any(|(_, k)| k == kind) {
        return Err(DomainError::AlreadyExists(format!(
            "a document for {kind:?}"
        )));
    }
    transact(doc, by, at_ms, |tx| {
        put_index_entry(tx, &documents, id, kind)
    })
}

/// Every indexed document, sorted by id. Malformed entries are skipped (and logged), so one
/// bad entry written by a buggy or newer client cannot hide every other document from
/// devices and the relay; [`read_index_report`] lists what was skipped.
pub fn read_index(doc: &Automerge) -> Result<Vec<(DocumentId, DocKind)>, DomainError> {
    let report = read_index_report(doc)?;
    for (key, reason) in &report.ignored {
        tracing::warn!(key = %key, reason = %reason, "ignoring a malformed document index entry");
    }
    Ok(report.documents)
}

/// The readable index entries and the ones that were skipped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IndexReport {
    /// Every well-formed entry, sorted by id.
    pub documents: Vec<(DocumentId, DocKind)>,
    /// Each skipped entry's key with why it was skipped, in key order.
    pub ignored: Vec<(String, String)>,
}

/// Like [`read_index`], but also says which entries were skipped and why. Errs only when the
/// document has no index at all.
pub fn read_index_report(doc: &Automerge) -> Result<IndexReport, DomainError> {
    let documents = production_root_map(doc, "documents")?;
    let mut report = IndexReport::default();
    for item in doc.map_range(&documents, ..) {
        let key = item.key.to_string();
        let entry = match item.value {
            automerge::ValueRef::Object(ObjType::Map) => item.id(),
            _ => {
                report.ignored.push((key, "the entry is not a map".into()));
                continue;
            }
        };
        match parse_index_entry(doc, &key, &entry) {
            Ok(parsed) => report.documents.push(parsed),
            Err(reason) => report.ignored.push((key, reason)),
        }
    }
    Ok(report)
}

pub(crate) fn parse_index_entry(
    doc: &Automerge,
    key: &str,
    entry: &ObjId,
) -> Result<(DocumentId, DocKind), String> {
    let id: DocumentId = key
        .parse()
        .map_err(|_| "the key is not a document id".to_owned())?;
    let field = |name: &str| get_str(doc, entry, name).ok_or_else(|| format!("no `{name}`"));
    let kind = match field("kind")?.as_str() {
        "production" => DocKind::Production,
        "board" => DocKind::Board { day: field("day")? },
        "call_sheet_draft" => DocKind::CallSheetDraft { day: field("day")? },
        "call_sheet_published" => DocKind::CallSheetPublished { day: field("day")? },
        "member" => DocKind::Member {
            member_id: field("member_id")?,
        },
        "gear" => DocKind::Gear,
        "background" => DocKind::Background { day: field("day")? },
        "timesheets" => DocKind::Timesheets {
            member_id: field("member_id")?,
        },
        "production_report" => DocKind::ProductionReport { day: field("day")? },
        other => return Err(format!("unknown kind `{other}`")),
    };
    Ok((id, kind))
}

/// The document of a given kind (e.g. the board of a day), if registered.
pub fn find_document(doc: &Automerge, kind: &DocKind) -> Result<Option<DocumentId>, DomainError> {
    Ok(read_index(doc)?
        .into_iter()
        .find(|(_, k)| k == kind)
        .map(|(id, _)| id))
}

/// Every member, sorted by name then id, and the members that could not be read (by id),
/// each with why. Errs only when the document is not an initialised production.
pub fn read_members(doc: &Automerge) -> Result<Listing<Member>, DomainError> {
    let members = production_root_map(doc, "members")?;
    let mut out = Listing::default();
    for id in doc.keys(&members) {
        match util::hydrate_at::<_, MemberInfo>(doc, &members, id.as_str()) {
            Ok(info) => out.items.push(Member { id, info }),
            Err(e) => out.unreadable.push(Unreadable {
                why: util::why(&e),
                id,
                what: "member",
            }),
        }
    }
    out.items
        .sort_by(|a, b| (&a.info.name, &a.id).cmp(&(&b.info.name, &b.id)));
    Ok(out)
}

/// One member; one that cannot be read is a [`DomainError::Corrupt`] naming the field.
pub fn read_member(doc: &Automerge, member_id: &str) -> Result<Member, DomainError> {
    let members = production_root_map(doc, "members")?;
    if get_map(doc, &members, member_id).is_none() {
        return Err(DomainError::UnknownMember(member_id.to_owned()));
    }
    let info: MemberInfo = util::hydrate_at(doc, &members, member_id)?;
    Ok(Member {
        id: member_id.to_owned(),
        info,
    })
}

/// The production's details (an error naming the field when they cannot be read) and its
/// members as [`read_members`] reads them.
pub fn read_production(doc: &Automerge) -> Result<Production, DomainError> {
    production_root_map(doc, "production")?;
    let members = read_members(doc)?;
    Ok(Production {
        info: util::hydrate_at(doc, &ROOT, "production")?,
        members: members.items,
        unreadable: members.unreadable,
    })
}
