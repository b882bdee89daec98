//! The production's gear and walkies: one document per production (`DocKind::Gear`).
//!
//! Layout: root map `items` (item id -> item map), created once by [`init_gear`] before the
//! document is shared. An item map holds its fields (written with autosurgeon: name,
//! category, label or serial, owner, due back, condition, and for walkies channel and
//! battery) and `events`, the append-only sign-out log (see [`super::status`]). Who has an
//! item, since when, and whether it is lost, damaged or back with its owner are derived
//! from the log, never stored, so two PAs signing the same walkie out offline to different
//! people end, on every replica, with the same holder and the other sign-out kept as a
//! [`Conflict`].
//!
//! Items are never deleted: one that went back to the rental house stays in the log as
//! `returned_to_owner`, one that went missing as `lost`.
//!
//! Roles (the role table lets coordinator, office and PA write this document; crew never
//! reads it):
//! - adding an item, and changing what an item *is* (name, category, label, owner, due
//!   back: [`INVENTORY_FIELDS`]): coordinator or office, who keep the inventory and the
//!   rental paperwork;
//! - updating condition notes, a walkie's channel and battery: anyone who handles gear;
//! - signing out, recording a return, reporting lost or damaged, recording that an item
//!   went back to its owner: anyone who handles gear. Returns are open to every PA on
//!   purpose: walkies are mostly signed out to crew, who cannot write this document, and
//!   collected by whichever PA is at the truck at wrap;
//! - marking a lost item found or a damaged one repaired: coordinator or office, who settle
//!   loss and damage with the owner.
//!
//! Transitions ([`lifecycle`]): sign out only what is in (not held, lost or back with its
//! owner); return only what is signed out; `returned_to_owner` only a borrowed or rented
//! item (one with an owner) that is not lost.

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjId, ObjType, ReadDoc, ROOT};
use autosurgeon::{reconcile_prop, Hydrate, Reconcile};

use super::status::{self, Conflict, LoggedEvent};
use super::util::{self, check_day, check_opt, check_required, check_time, get_map, MAX_LONG};
use super::{require_role, transact, DomainError, Listing, Unreadable, PLANNERS, RUN_WRITERS};
use crate::access::Author;
use crate::ids::new_record_id;

mod lifecycle;
mod wrap;

pub use lifecycle::{
    check_logged_gear_event, mark_found, mark_repaired, report_damaged, report_lost, return_item,
    returned_to_owner, sign_out, GearEventKind, GearState,
};
pub use wrap::{
    format_still_out, held_by, overdue, return_run_input, still_out, still_out_summary,
};

/// What kind of gear an item is. Walkies are counted as a kind in the wrap check ("3
/// walkies"); every other item by its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Reconcile, Hydrate)]
pub enum GearCategory {
    #[autosurgeon(rename = "walkie")]
    Walkie,
    #[autosurgeon(rename = "camera")]
    Camera,
    #[autosurgeon(rename = "grip")]
    Grip,
    #[autosurgeon(rename = "electric")]
    Electric,
    #[autosurgeon(rename = "sound")]
    Sound,
    #[autosurgeon(rename = "props")]
    Props,
    #[autosurgeon(rename = "wardrobe")]
    Wardrobe,
    #[autosurgeon(rename = "vehicle")]
    Vehicle,
    #[autosurgeon(rename = "other")]
    Other,
}

impl GearCategory {
    pub const ALL: [GearCategory; 9] = [
        GearCategory::Walkie,
        GearCategory::Camera,
        GearCategory::Grip,
        GearCategory::Electric,
        GearCategory::Sound,
        GearCategory::Props,
        GearCategory::Wardrobe,
        GearCategory::Vehicle,
        GearCategory::Other,
    ];

    /// The stored name, also what forms send.
    pub fn as_str(self) -> &'static str {
        match self {
            GearCategory::Walkie => "walkie",
            GearCategory::Camera => "camera",
            GearCategory::Grip => "grip",
            GearCategory::Electric => "electric",
            GearCategory::Sound => "sound",
            GearCategory::Props => "props",
            GearCategory::Wardrobe => "wardrobe",
            GearCategory::Vehicle => "vehicle",
            GearCategory::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// A walkie's battery as last checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Reconcile, Hydrate)]
pub enum Battery {
    #[autosurgeon(rename = "full")]
    Full,
    #[autosurgeon(rename = "half")]
    Half,
    #[autosurgeon(rename = "low")]
    Low,
    #[autosurgeon(rename = "dead")]
    Dead,
}

impl Battery {
    pub const ALL: [Battery; 4] = [Battery::Full, Battery::Half, Battery::Low, Battery::Dead];

    pub fn as_str(self) -> &'static str {
        match self {
            Battery::Full => "full",
            Battery::Half => "half",
            Battery::Low => "low",
            Battery::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.as_str() == s)
    }
}

/// An item's stored fields (everything but the sign-out log).
#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate)]
pub struct GearRecord {
    #[autosurgeon(hydrate = "util::text")]
    pub id: String,
    #[autosurgeon(hydrate = "util::text")]
    pub name: String,
    #[autosurgeon(hydrate = "util::text")]
    pub category: GearCategory,
    /// The label on it or its serial number.
    #[autosurgeon(hydrate = "util::opt_text")]
    pub label: Option<String>,
    /// The rental house or lender; `None` when the production owns it.
    #[autosurgeon(hydrate = "util::opt_text")]
    pub owner: Option<String>,
    /// When a borrowed or rented item must go back, `YYYY-MM-DD` in the production's zone.
    #[autosurgeon(hydrate = "util::opt_text")]
    pub due_back: Option<String>,
    #[autosurgeon(hydrate = "util::opt_text")]
    pub condition: Option<String>,
    /// A walkie's channel. Read like the optional texts so a client that leaves the key
    /// out (JavaScript does for what it has no value for) reads as `None`.
    #[autosurgeon(hydrate = "util::opt_text")]
    pub channel: Option<i64>,
    #[autosurgeon(hydrate = "util::opt_text")]
    pub battery: Option<Battery>,
    pub created_at: i64,
    #[autosurgeon(hydrate = "util::text")]
    pub created_by: String,
}

/// An item as the app shows it: its fields plus what its log derives.
#[derive(Clone, Debug, PartialEq)]
pub struct GearItem {
    pub record: GearRecord,
    /// Who has it now (a member id, or the name it was signed out to); kept while it is
    /// lost, as who had it last.
    pub holder: Option<String>,
    /// When it was signed out to `holder`, ms since 1970 (device clock).
    pub out_since: Option<i64>,
    pub lost: bool,
    pub damaged: bool,
    /// What the last damage report said.
    pub damage: Option<String>,
    /// It went back to the rental house or lender.
    pub with_owner: bool,
    /// The whole log in causal order.
    pub events: Vec<LoggedEvent<GearEventKind>>,
    /// Concurrent events that lost (two sign-outs of one walkie), for the office to see.
    pub conflicts: Vec<Conflict>,
    /// Log entries this version could not read.
    pub ignored_events: Vec<String>,
}

impl GearItem {
    pub fn id(&self) -> &str {
        &self.record.id
    }

    /// Signed out to someone, not returned and not lost.
    pub fn is_out(&self) -> bool {
        self.holder.is_some() && !self.lost
    }
}

/// A new inventory item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewGearItem {
    pub name: String,
    pub category: GearCategory,
    pub label: Option<String>,
    pub owner: Option<String>,
    pub due_back: Option<String>,
    pub condition: Option<String>,
    pub channel: Option<i64>,
    pub battery: Option<Battery>,
}

impl NewGearItem {
    /// An item with only the required fields set.
    pub fn new(name: impl Into<String>, category: GearCategory) -> Self {
        NewGearItem {
            name: name.into(),
            category,
            label: None,
            owner: None,
            due_back: None,
            condition: None,
            channel: None,
            battery: None,
        }
    }
}

/// Field edits; `None` keeps a field, `Some(None)` clears an optional one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GearEdit {
    pub name: Option<String>,
    pub category: Option<GearCategory>,
    pub label: Option<Option<String>>,
    pub owner: Option<Option<String>>,
    pub due_back: Option<Option<String>>,
    pub condition: Option<Option<String>>,
    pub channel: Option<Option<i64>>,
    pub battery: Option<Option<Battery>>,
}

impl GearEdit {
    fn touches_inventory(&self) -> bool {
        self.name.is_some()
            || self.category.is_some()
            || self.label.is_some()
            || self.owner.is_some()
            || self.due_back.is_some()
    }
}

/// Fields that say what an item is and whose it is: only the coordinator or the office
/// change them (the write rules hold peers to it too). Condition, channel and battery are
/// for whoever has the item in hand.
pub const INVENTORY_FIELDS: [&str; 5] = ["name", "category", "label", "owner", "due_back"];

/// Highest walkie channel we accept: radios have 16 to a few hundred; more is a typo.
pub const MAX_CHANNEL: i64 = 999;

/// Whether a stored item is one the operations could have written. The write rules check
/// every item a peer touched with it.
pub fn validate_record(r: &GearRecord) -> Result<(), DomainError> {
    check_required("gear name", &r.name)?;
    check_optional_line("gear label", &r.label)?;
    check_optional_line("gear owner", &r.owner)?;
    if let Some(d) = &r.due_back {
        check_day("due back", d)?;
    }
    check_opt("condition", &r.condition, MAX_LONG)?;
    if let Some(c) = r.channel {
        if !(0..=MAX_CHANNEL).contains(&c) {
            return Err(DomainError::OutOfRange {
                field: "walkie channel",
                reason: format!("{c} is not between 0 and {MAX_CHANNEL}"),
            });
        }
    }
    check_time("created at", r.created_at)?;
    check_required("created by", &r.created_by)
}

/// An optional single line: absent, or not blank and not too long.
fn check_optional_line(field: &'static str, s: &Option<String>) -> Result<(), DomainError> {
    match s {
        Some(s) => check_required(field, s),
        None => Ok(()),
    }
}

/// Creates the gear document's container. Call once, on the device (or relay) that
/// creates the document, before it is shared. Roles: coordinator, office.
pub fn init_gear(doc: &mut Automerge, by: &Author, at_ms: i64) -> Result<(), DomainError> {
    require_role(by, PLANNERS, "create the gear list")?;
    if doc.get(ROOT, "items")?.is_some() {
        return Err(DomainError::AlreadyExists("the gear list".into()));
    }
    transact(doc, by, at_ms, |tx| {
        tx.put_object(ROOT, "items", ObjType::Map)?;
        Ok(())
    })
}

fn items_map<R: ReadDoc>(doc: &R) -> Result<ObjId, DomainError> {
    get_map(doc, &ROOT, "items").ok_or(DomainError::NotInitialised("the gear list"))
}

fn item_obj<R: ReadDoc>(doc: &R, item_id: &str) -> Result<ObjId, DomainError> {
    let items = items_map(doc)?;
    get_map(doc, &items, item_id).ok_or_else(|| DomainError::UnknownGearItem(item_id.to_owned()))
}

fn events_obj<R: ReadDoc>(doc: &R, item: &ObjId) -> Result<ObjId, DomainError> {
    util::require_map(doc, item, "events", "a gear item")
}

/// Adds an item to the inventory (in, with no one). Roles: coordinator, office. Returns
/// the item id.
pub fn add_item(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    new: NewGearItem,
) -> Result<String, DomainError> {
    require_role(by, PLANNERS, "add gear to the inventory")?;
    let items = items_map(doc)?;
    let id = new_record_id();
    let record = GearRecord {
        id: id.clone(),
        name: new.name,
        category: new.category,
        label: new.label,
        owner: new.owner,
        due_back: new.due_back,
        condition: new.condition,
        channel: new.channel,
        battery: new.battery,
        created_at: at_ms,
        created_by: by.member_id.clone(),
    };
    validate_record(&record)?;
    transact(doc, by, at_ms, |tx| {
        reconcile_prop(tx, &items, id.as_str(), &record)?;
        let item = item_obj(tx, &id)?;
        let events = tx.put_object(&item, "events", ObjType::Map)?;
        status::append(
            tx,
            &events,
            &[],
            by,
            at_ms,
            lifecycle::new_event(GearEventKind::Created, None),
        )?;
        Ok(id.clone())
    })
}

/// Edits an item's fields. Roles: name, category, label, owner and due back: coordinator,
/// office; condition, channel and battery: coordinator, office, PA. The edited item must
/// still validate; fields whose value is unchanged are not written.
pub fn edit_item(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    item_id: &str,
    edit: GearEdit,
) -> Result<(), DomainError> {
    if edit.touches_inventory() {
        require_role(by, PLANNERS, "change what a gear item is or whose it is")?;
    } else {
        require_role(by, RUN_WRITERS, "update a gear item")?;
    }
    let items = items_map(doc)?;
    item_obj(doc, item_id)?;
    let old: GearRecord = util::hydrate_at(doc, &items, item_id)?;
    let mut new = old.clone();
    if let Some(v) = &edit.name {
        new.name = v.clone();
    }
    if let Some(v) = edit.category {
        new.category = v;
    }
    if let Some(v) = &edit.label {
        new.label = v.clone();
    }
    if let Some(v) = &edit.owner {
        new.owner = v.clone();
    }
    if let Some(v) = &edit.due_back {
        new.due_back = v.clone();
    }
    if let Some(v) = &edit.condition {
        new.condition = v.clone();
    }
    if let Some(v) = edit.channel {
        new.channel = v;
    }
    if let Some(v) = edit.battery {
        new.battery = v;
    }
    validate_record(&new)?;
    if new == old {
        return Ok(());
    }
    let item = item_obj(doc, item_id)?;
    transact(doc, by, at_ms, |tx| {
        // One field at a time, so a concurrent edit of another field on another device
        // merges instead of being overwritten.
        if new.name != old.name {
            reconcile_prop(tx, &item, "name", &new.name)?;
        }
        if new.category != old.category {
            reconcile_prop(tx, &item, "category", new.category)?;
        }
        if new.label != old.label {
            reconcile_prop(tx, &item, "label", &new.label)?;
        }
        if new.owner != old.owner {
            reconcile_prop(tx, &item, "owner", &new.owner)?;
        }
        if new.due_back != old.due_back {
            reconcile_prop(tx, &item, "due_back", &new.due_back)?;
        }
        if new.condition != old.condition {
            reconcile_prop(tx, &item, "condition", &new.condition)?;
        }
        if new.channel != old.channel {
            reconcile_prop(tx, &item, "channel", new.channel)?;
        }
        if new.battery != old.battery {
            reconcile_prop(tx, &item, "battery", new.battery)?;
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------
// Readers

/// One item with its derived state. An item that cannot be read is a
/// [`DomainError::Corrupt`] naming the field at fault.
pub fn read_item(doc: &Automerge, item_id: &str) -> Result<GearItem, DomainError> {
    let items = items_map(doc)?;
    read_item_in(doc, &items, item_id)
}

fn read_item_in(doc: &Automerge, items: &ObjId, item_id: &str) -> Result<GearItem, DomainError> {
    let item = match doc.get(items, item_id)? {
        Some((automerge::Value::Object(ObjType::Map), item)) => item,
        Some(_) => {
            return Err(DomainError::Corrupt(format!(
                "gear item `{item_id}` is not a map"
            )))
        }
        None => return Err(DomainError::UnknownGearItem(item_id.to_owned())),
    };
    let record: GearRecord = util::hydrate_at(doc, items, item_id)?;
    let events = events_obj(doc, &item)?;
    let d = status::read_log::<GearEventKind, _>(doc, &events);
    Ok(GearItem {
        record,
        holder: d.state.holder,
        out_since: d.state.out_since,
        lost: d.state.lost,
        damaged: d.state.damaged,
        damage: d.state.damage,
        with_owner: d.state.with_owner,
        events: d.events,
        conflicts: d.conflicts,
        ignored_events: d.ignored,
    })
}

/// Every item, by category (walkies first), then name, then id, and the items that could
/// not be read (by id), each with why. Errs only when the document is not an initialised
/// gear list.
pub fn list_items(doc: &Automerge) -> Result<Listing<GearItem>, DomainError> {
    let items = items_map(doc)?;
    let mut out = Listing::default();
    for id in doc.keys(&items) {
        match read_item_in(doc, &items, &id) {
            Ok(i) => out.items.push(i),
            Err(e) => out.unreadable.push(Unreadable {
                why: util::why(&e),
                id,
                what: "gear item",
            }),
        }
    }
    out.items.sort_by(|a, b| {
        let key = |i: &GearItem| (i.record.category, i.record.name.to_lowercase());
        key(a)
            .cmp(&key(b))
            .then_with(|| a.record.id.cmp(&b.record.id))
    });
    Ok(out)
}
