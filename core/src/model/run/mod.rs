//! Runs (errands) on a day's board document.
//!
//! Board layout: root map `runs` (run id -> run map) and `tasks` (task id -> task map),
//! both created once by [`init_board`] when the day's board is created, before it is shared
//! (two replicas creating the same root map concurrently would hide one of them).
//!
//! A run map holds its fields (written with autosurgeon), lists of stops, items, food
//! orders, receipts and comments (elements carry an `id`; ops edit one element in place),
//! a `money` map, and `events`: the append-only status log, see [`super::status`]. Status
//! and the assigned PA are derived from the log, never stored.
//!
//! Roles: coordinator, office and PA write runs (crew has no access). Assigning, unassigning, cancelling,
//! reopening and reconciling are planning decisions for the coordinator or the office; a PA
//! claims a run by accepting it and may move forward only runs assigned to them.

use automerge::transaction::{Transactable, Transaction};
use automerge::{Automerge, ObjId, ObjType, ReadDoc, ROOT};
use autosurgeon::{reconcile_insert, reconcile_prop, Hydrate, Reconcile};

use super::log_memo;
use super::status::{self, Conflict, EventKind, LoggedEvent, NewEvent};
use super::util::{
    self, check_cents, check_len, check_opt, check_required, check_time, find_by_id, get_map,
    MAX_LONG, MAX_SHORT,
};
use super::{
    require_role, transact, DomainError, EventContext, Listing, Priority, Unreadable, PLANNERS,
    RUN_WRITERS,
};
use crate::access::{Author, Role};
use crate::ids::new_record_id;

mod edits;
mod lifecycle;

pub use edits::{
    add_comment, add_food_order, add_item, add_receipt, add_stop, edit_food_order, edit_item,
    edit_run, edit_stop, remove_food_order, remove_item, remove_stop, set_item_checked,
    set_mileage, set_money, set_proof_of_delivery,
};
pub use lifecycle::{assign, check_logged_event, record_status, unassign};

/// What kind of errand a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Reconcile, Hydrate)]
pub enum RunKind {
    #[autosurgeon(rename = "pickup")]
    Pickup,
    #[autosurgeon(rename = "drop_off")]
    DropOff,
    #[autosurgeon(rename = "supply_purchase")]
    SupplyPurchase,
    /// Coffee or lunch.
    #[autosurgeon(rename = "food_order")]
    FoodOrder,
    /// Sides, distro to set and other paperwork.
    #[autosurgeon(rename = "paperwork_delivery")]
    PaperworkDelivery,
    #[autosurgeon(rename = "return")]
    Return,
    #[autosurgeon(rename = "other")]
    Other,
}

impl RunKind {
    pub const ALL: [RunKind; 7] = [
        RunKind::Pickup,
        RunKind::DropOff,
        RunKind::SupplyPurchase,
        RunKind::FoodOrder,
        RunKind::PaperworkDelivery,
        RunKind::Return,
        RunKind::Other,
    ];

    /// Kinds whose goods must be collected before they can be delivered.
    pub fn needs_pickup(self) -> bool {
        matches!(
            self,
            RunKind::Pickup | RunKind::SupplyPurchase | RunKind::FoodOrder
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Reconcile, Hydrate)]
pub enum Vehicle {
    #[autosurgeon(rename = "personal")]
    Personal,
    #[autosurgeon(rename = "production")]
    Production,
}

#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Stop {
    #[key]
    #[autosurgeon(hydrate = "util::text")]
    pub id: String,
    #[autosurgeon(hydrate = "util::text")]
    pub label: String,
    #[autosurgeon(hydrate = "util::opt_text")]
    pub address: Option<String>,
    #[autosurgeon(hydrate = "util::opt_text")]
    pub contact_name: Option<String>,
    #[autosurgeon(hydrate = "util::opt_text")]
    pub contact_phone: Option<String>,
    #[autosurgeon(hydrate = "util::opt_text")]
    pub notes: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Item {
    #[key]
    #[autosurgeon(hydrate = "util::text")]
    pub id: String,
    #[autosurgeon(hydrate = "util::text")]
    pub description: String,
    pub quantity: i64,
    pub checked: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate)]
pub struct FoodOrder {
    #[key]
    #[autosurgeon(hydrate = "util::text")]
    pub id: String,
    #[autosurgeon(hydrate = "util::text")]
    pub person: String,
    #[autosurgeon(hydrate = "util::text")]
    pub order: String,
    #[autosurgeon(hydrate = "util::opt_text")]
    pub dietary_notes: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Receipt {
    #[key]
    #[autosurgeon(hydrate = "util::text")]
    pub id: String,
    #[autosurgeon(hydrate = "util::text")]
    pub vendor: String,
    pub total_cents: i64,
    pub tax_cents: i64,
    #[autosurgeon(hydrate = "util::opt_text")]
    pub account_code: Option<String>,
    /// Reference to the photo of the receipt (a blob id the app stores).
    #[autosurgeon(hydrate = "util::opt_text")]
    pub photo_ref: Option<String>,
    #[autosurgeon(hydrate = "util::text")]
    pub added_by: String,
    pub added_at: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Money {
    /// Label of the petty-cash envelope the PA carries.
    #[autosurgeon(hydrate = "util::opt_text")]
    pub envelope: Option<String>,
    pub advanced_cents: i64,
    pub cash_returned_cents: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate)]
pub struct ProofOfDelivery {
    #[autosurgeon(hydrate = "util::text")]
    pub received_by: String,
    #[autosurgeon(hydrate = "util::opt_text")]
    pub note: Option<String>,
    #[autosurgeon(hydrate = "util::opt_text")]
    pub photo_ref: Option<String>,
    #[autosurgeon(hydrate = "util::text")]
    pub recorded_by: String,
    pub recorded_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Comment {
    #[key]
    #[autosurgeon(hydrate = "util::text")]
    pub id: String,
    #[autosurgeon(hydrate = "util::text")]
    pub author: String,
    pub at: i64,
    #[autosurgeon(hydrate = "util::text")]
    pub text: String,
}

/// A run's stored fields (everything but the status log).
#[derive(Clone, Debug, PartialEq, Reconcile, Hydrate)]
pub struct RunRecord {
    #[autosurgeon(hydrate = "util::text")]
    pub id: String,
    #[autosurgeon(hydrate = "util::text")]
    pub kind: RunKind,
    #[autosurgeon(hydrate = "util::text")]
    pub title: String,
    /// Who asked for it (a name or a member id).
    #[autosurgeon(hydrate = "util::text")]
    pub requested_by: String,
    #[autosurgeon(hydrate = "util::opt_text")]
    pub department: Option<String>,
    #[autosurgeon(hydrate = "util::text")]
    pub priority: Priority,
    /// When it is needed by, ms since 1970 (device clock).
    pub needed_by: Option<i64>,
    #[autosurgeon(hydrate = "util::opt_text")]
    pub vehicle: Option<Vehicle>,
    pub created_at: i64,
    #[autosurgeon(hydrate = "util::text")]
    pub created_by: String,
    pub stops: Vec<Stop>,
    pub items: Vec<Item>,
    pub food_orders: Vec<FoodOrder>,
    pub money: Money,
    pub receipts: Vec<Receipt>,
    /// Tenths of a mile (or km: the production's unit), so sums stay exact.
    pub mileage_tenths: Option<i64>,
    pub proof_of_delivery: Option<ProofOfDelivery>,
    pub comments: Vec<Comment>,
}

/// Derived status of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RunStatus {
    #[default]
    Requested,
    Assigned,
    Accepted,
    EnRoute,
    PickedUp,
    Delivered,
    Failed,
    Cancelled,
    Reconciled,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Requested => "requested",
            RunStatus::Assigned => "assigned",
            RunStatus::Accepted => "accepted",
            RunStatus::EnRoute => "en route",
            RunStatus::PickedUp => "picked up",
            RunStatus::Delivered => "delivered",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Reconciled => "reconciled",
        }
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Kinds of events in a run's status log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RunEventKind {
    Created,
    Assigned,
    Accepted,
    EnRoute,
    PickedUp,
    Delivered,
    Failed,
    Cancelled,
    Reopened,
    Reconciled,
}

/// What the log says about a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunState {
    pub status: RunStatus,
    pub assignee: Option<String>,
    pub failure_reason: Option<String>,
}

impl EventKind for RunEventKind {
    type State = RunState;

    fn as_str(self) -> &'static str {
        match self {
            RunEventKind::Created => "created",
            RunEventKind::Assigned => "assigned",
            RunEventKind::Accepted => "accepted",
            RunEventKind::EnRoute => "en_route",
            RunEventKind::PickedUp => "picked_up",
            RunEventKind::Delivered => "delivered",
            RunEventKind::Failed => "failed",
            RunEventKind::Cancelled => "cancelled",
            RunEventKind::Reopened => "reopened",
            RunEventKind::Reconciled => "reconciled",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        use RunEventKind::*;
        [
            Created, Assigned, Accepted, EnRoute, PickedUp, Delivered, Failed, Cancelled, Reopened,
            Reconciled,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    fn is_world(self) -> bool {
        use RunEventKind::*;
        matches!(
            self,
            Accepted | EnRoute | PickedUp | Delivered | Failed | Reconciled
        )
    }

    fn rank(self) -> u8 {
        use RunEventKind::*;
        match self {
            // planned
            Created => 0,
            Assigned => 1,
            Reopened => 2,
            Cancelled => 3,
            // happened
            Accepted => 1,
            EnRoute => 2,
            Failed => 3,
            PickedUp => 4,
            Delivered => 5,
            Reconciled => 6,
        }
    }

    fn apply(state: &RunState, e: &LoggedEvent<Self>) -> RunState {
        let mut s = state.clone();
        s.status = match e.kind {
            RunEventKind::Created => {
                s.assignee = None;
                RunStatus::Requested
            }
            RunEventKind::Assigned => {
                s.assignee = e.assignee.clone();
                if s.assignee.is_some() {
                    RunStatus::Assigned
                } else {
                    RunStatus::Requested
                }
            }
            RunEventKind::Accepted => {
                if s.assignee.is_none() {
                    s.assignee = Some(e.member.clone());
                }
                RunStatus::Accepted
            }
            RunEventKind::EnRoute => RunStatus::EnRoute,
            RunEventKind::PickedUp => RunStatus::PickedUp,
            RunEventKind::Delivered => RunStatus::Delivered,
            RunEventKind::Failed => {
                s.failure_reason = e.reason.clone();
                return RunState {
                    status: RunStatus::Failed,
                    ..s
                };
            }
            RunEventKind::Cancelled => RunStatus::Cancelled,
            RunEventKind::Reopened => {
                if s.assignee.is_some() {
                    RunStatus::Assigned
                } else {
                    RunStatus::Requested
                }
            }
            RunEventKind::Reconciled => RunStatus::Reconciled,
        };
        s.failure_reason = None;
        s
    }
}

/// A status change a person records (assignment has its own op, [`assign`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunEvent {
    Accept,
    EnRoute,
    PickUp,
    Deliver,
    /// Attempted but could not be done; the reason is required.
    Fail {
        reason: String,
    },
    Cancel,
    Reopen,
    Reconcile,
}

impl RunEvent {
    fn kind(&self) -> RunEventKind {
        match self {
            RunEvent::Accept => RunEventKind::Accepted,
            RunEvent::EnRoute => RunEventKind::EnRoute,
            RunEvent::PickUp => RunEventKind::PickedUp,
            RunEvent::Deliver => RunEventKind::Delivered,
            RunEvent::Fail { .. } => RunEventKind::Failed,
            RunEvent::Cancel => RunEventKind::Cancelled,
            RunEvent::Reopen => RunEventKind::Reopened,
            RunEvent::Reconcile => RunEventKind::Reconciled,
        }
    }
}

/// A run as the app shows it: stored fields plus what the log derives.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    pub record: RunRecord,
    pub status: RunStatus,
    pub assigned_pa: Option<String>,
    pub failure_reason: Option<String>,
    /// The whole status log in causal order.
    pub events: Vec<LoggedEvent<RunEventKind>>,
    /// Concurrent events that lost, for the coordinator to look at.
    pub conflicts: Vec<Conflict>,
    /// Log entries this version could not read (see [`status::read_log`]).
    pub ignored_events: Vec<String>,
}

impl Run {
    pub fn id(&self) -> &str {
        &self.record.id
    }
}

// ---------------------------------------------------------------------------------------
// Inputs

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StopInput {
    pub label: String,
    pub address: Option<String>,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub notes: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemInput {
    pub description: String,
    pub quantity: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FoodOrderInput {
    pub person: String,
    pub order: String,
    pub dietary_notes: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReceiptInput {
    pub vendor: String,
    pub total_cents: i64,
    pub tax_cents: i64,
    pub account_code: Option<String>,
    pub photo_ref: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProofInput {
    pub received_by: String,
    pub note: Option<String>,
    pub photo_ref: Option<String>,
}

/// Everything needed to create a run; stops, items and food orders may be added later too.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRun {
    pub kind: RunKind,
    pub title: String,
    pub requested_by: String,
    pub department: Option<String>,
    pub priority: Priority,
    pub needed_by: Option<i64>,
    pub vehicle: Option<Vehicle>,
    pub stops: Vec<StopInput>,
    pub items: Vec<ItemInput>,
    pub food_orders: Vec<FoodOrderInput>,
}

impl NewRun {
    /// A run with only the required fields set.
    pub fn new(kind: RunKind, title: impl Into<String>, requested_by: impl Into<String>) -> Self {
        NewRun {
            kind,
            title: title.into(),
            requested_by: requested_by.into(),
            department: None,
            priority: Priority::Normal,
            needed_by: None,
            vehicle: None,
            stops: Vec::new(),
            items: Vec::new(),
            food_orders: Vec::new(),
        }
    }
}

/// Field edits; `None` leaves a field as it is, `Some(None)` clears an optional one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunEdit {
    pub kind: Option<RunKind>,
    pub title: Option<String>,
    pub requested_by: Option<String>,
    pub department: Option<Option<String>>,
    pub priority: Option<Priority>,
    pub needed_by: Option<Option<i64>>,
    pub vehicle: Option<Option<Vehicle>>,
}

/// Petty cash edits, same convention as [`RunEdit`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MoneyEdit {
    pub envelope: Option<Option<String>>,
    pub advanced_cents: Option<i64>,
    pub cash_returned_cents: Option<Option<i64>>,
}

const MAX_QUANTITY: i64 = 10_000;
/// 10,000 miles in tenths: more in one run is a typo.
const MAX_MILEAGE_TENTHS: i64 = 100_000;

fn validate_stop(s: &StopInput) -> Result<(), DomainError> {
    check_required("stop label", &s.label)?;
    check_opt("stop address", &s.address, MAX_SHORT)?;
    check_opt("stop contact name", &s.contact_name, MAX_SHORT)?;
    check_opt("stop contact phone", &s.contact_phone, MAX_SHORT)?;
    check_opt("stop notes", &s.notes, MAX_LONG)
}

fn validate_item(i: &ItemInput) -> Result<(), DomainError> {
    check_required("item description", &i.description)?;
    if !(1..=MAX_QUANTITY).contains(&i.quantity) {
        return Err(DomainError::OutOfRange {
            field: "item quantity",
            reason: format!("{} is not between 1 and {MAX_QUANTITY}", i.quantity),
        });
    }
    Ok(())
}

fn validate_food(f: &FoodOrderInput) -> Result<(), DomainError> {
    check_required("food order person", &f.person)?;
    check_required("food order", &f.order)?;
    check_opt("dietary notes", &f.dietary_notes, MAX_LONG)
}

fn validate_receipt(r: &ReceiptInput) -> Result<(), DomainError> {
    check_required("receipt vendor", &r.vendor)?;
    check_cents("receipt total", r.total_cents)?;
    check_cents("receipt tax", r.tax_cents)?;
    if r.total_cents == 0 {
        return Err(DomainError::OutOfRange {
            field: "receipt total",
            reason: "a receipt of 0.00 is not a receipt".into(),
        });
    }
    if r.tax_cents > r.total_cents {
        return Err(DomainError::OutOfRange {
            field: "receipt tax",
            reason: format!(
                "tax {} is more than the total {}",
                r.tax_cents, r.total_cents
            ),
        });
    }
    check_opt("account code", &r.account_code, MAX_SHORT)?;
    check_opt("receipt photo", &r.photo_ref, MAX_SHORT)
}

fn validate_optional_department(d: &Option<String>) -> Result<(), DomainError> {
    match d {
        Some(d) => check_required("department", d),
        None => Ok(()),
    }
}

fn validate_needed_by(n: Option<i64>) -> Result<(), DomainError> {
    match n {
        Some(t) => check_time("needed-by time", t),
        None => Ok(()),
    }
}

/// Most stops, items, food orders, receipts or comments one run may hold: far beyond any
/// real errand, small enough that one record cannot make every reader slow.
const MAX_ELEMENTS: usize = 500;

fn check_count(field: &'static str, n: usize) -> Result<(), DomainError> {
    if n > MAX_ELEMENTS {
        return Err(DomainError::OutOfRange {
            field,
            reason: format!("{n} is more than {MAX_ELEMENTS}"),
        });
    }
    Ok(())
}

/// Whether a stored receipt is one [`add_receipt`] could have written.
pub fn validate_stored_receipt(rc: &Receipt) -> Result<(), DomainError> {
    check_required("receipt added by", &rc.added_by)?;
    validate_receipt(&ReceiptInput {
        vendor: rc.vendor.clone(),
        total_cents: rc.total_cents,
        tax_cents: rc.tax_cents,
        account_code: rc.account_code.clone(),
        photo_ref: rc.photo_ref.clone(),
    })
}

/// Whether a stored comment is one [`add_comment`] could have written.
pub fn validate_stored_comment(c: &Comment) -> Result<(), DomainError> {
    check_required("comment author", &c.author)?;
    check_required("comment", &c.text)?;
    check_len("comment", &c.text, MAX_LONG)
}

/// Whether a stored run is one the operations could have written: the same bounds as
/// [`create_run`] and the edit operations, applied to the whole record. The write rules
/// check every run a peer touched with it.
pub fn validate_record(r: &RunRecord) -> Result<(), DomainError> {
    check_required("run title", &r.title)?;
    check_len("run title", &r.title, MAX_SHORT)?;
    check_required("requested by", &r.requested_by)?;
    check_len("requested by", &r.requested_by, MAX_SHORT)?;
    validate_optional_department(&r.department)?;
    check_opt("department", &r.department, MAX_SHORT)?;
    validate_needed_by(r.needed_by)?;
    check_time("created at", r.created_at)?;
    check_required("created by", &r.created_by)?;
    check_count("stops", r.stops.len())?;
    check_count("items", r.items.len())?;
    check_count("food orders", r.food_orders.len())?;
    check_count("receipts", r.receipts.len())?;
    check_count("comments", r.comments.len())?;
    for s in &r.stops {
        validate_stop(&StopInput {
            label: s.label.clone(),
            address: s.address.clone(),
            contact_name: s.contact_name.clone(),
            contact_phone: s.contact_phone.clone(),
            notes: s.notes.clone(),
        })?;
    }
    for i in &r.items {
        validate_item(&ItemInput {
            description: i.description.clone(),
            quantity: i.quantity,
        })?;
    }
    for f in &r.food_orders {
        validate_food(&FoodOrderInput {
            person: f.person.clone(),
            order: f.order.clone(),
            dietary_notes: f.dietary_notes.clone(),
        })?;
    }
    r.receipts.iter().try_for_each(validate_stored_receipt)?;
    check_opt("petty-cash envelope", &r.money.envelope, MAX_SHORT)?;
    check_cents("amount advanced", r.money.advanced_cents)?;
    if let Some(c) = r.money.cash_returned_cents {
        check_cents("cash returned", c)?;
    }
    if let Some(m) = r.mileage_tenths {
        if !(0..=MAX_MILEAGE_TENTHS).contains(&m) {
            return Err(DomainError::OutOfRange {
                field: "mileage",
                reason: format!("{m} tenths is not between 0 and {MAX_MILEAGE_TENTHS}"),
            });
        }
    }
    if let Some(p) = &r.proof_of_delivery {
        check_required("received by", &p.received_by)?;
        check_len("received by", &p.received_by, MAX_SHORT)?;
        check_opt("proof note", &p.note, MAX_LONG)?;
        check_opt("proof photo", &p.photo_ref, MAX_SHORT)?;
    }
    r.comments.iter().try_for_each(validate_stored_comment)
}

// ---------------------------------------------------------------------------------------
// Board

/// Creates the day's board containers. Call once, on the device that creates the board,
/// before the document is shared. Roles: coordinator, office.
pub fn init_board(doc: &mut Automerge, by: &Author, at_ms: i64) -> Result<(), DomainError> {
    require_role(by, PLANNERS, "create a day's board")?;
    if get_map(doc, &ROOT, "runs").is_some() || get_map(doc, &ROOT, "tasks").is_some() {
        return Err(DomainError::AlreadyExists("the day's board".into()));
    }
    transact(doc, by, at_ms, |tx| {
        tx.put_object(ROOT, "runs", ObjType::Map)?;
        tx.put_object(ROOT, "tasks", ObjType::Map)?;
        Ok(())
    })
}

pub(crate) fn runs_map<R: ReadDoc>(doc: &R) -> Result<ObjId, DomainError> {
    get_map(doc, &ROOT, "runs").ok_or(DomainError::NotInitialised("a day's board"))
}

fn run_obj<R: ReadDoc>(doc: &R, run_id: &str) -> Result<ObjId, DomainError> {
    let runs = runs_map(doc)?;
    get_map(doc, &runs, run_id).ok_or_else(|| DomainError::UnknownRun(run_id.to_owned()))
}

fn events_obj<R: ReadDoc>(doc: &R, run: &ObjId) -> Result<ObjId, DomainError> {
    util::require_map(doc, run, "events", "a run")
}

fn derived<R: ReadDoc>(doc: &R, run: &ObjId) -> Result<status::Derived<RunEventKind>, DomainError> {
    let events = events_obj(doc, run)?;
    derived_from(doc, &events)
}

fn derived_from<R: ReadDoc>(
    doc: &R,
    events: &ObjId,
) -> Result<status::Derived<RunEventKind>, DomainError> {
    Ok(status::read_log::<RunEventKind, _>(doc, events))
}

fn read_run_kind(doc: &Automerge, run: &ObjId) -> Result<RunKind, DomainError> {
    Ok(util::text(doc, run, "kind".into())?)
}

// ---------------------------------------------------------------------------------------
// Operations

/// Creates a run (status: requested). Roles: coordinator, office, PA. Returns the run id.
pub fn create_run(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    new: NewRun,
) -> Result<String, DomainError> {
    require_role(by, RUN_WRITERS, "create a run")?;
    check_required("run title", &new.title)?;
    check_required("requested by", &new.requested_by)?;
    validate_optional_department(&new.department)?;
    validate_needed_by(new.needed_by)?;
    new.stops.iter().try_for_each(validate_stop)?;
    new.items.iter().try_for_each(validate_item)?;
    new.food_orders.iter().try_for_each(validate_food)?;
    let runs = runs_map(doc)?;
    let id = new_record_id();
    let record = RunRecord {
        id: id.clone(),
        kind: new.kind,
        title: new.title,
        requested_by: new.requested_by,
        department: new.department,
        priority: new.priority,
        needed_by: new.needed_by,
        vehicle: new.vehicle,
        created_at: at_ms,
        created_by: by.member_id.clone(),
        stops: new
            .stops
            .into_iter()
            .map(|s| stop_from(new_record_id(), s))
            .collect(),
        items: new
            .items
            .into_iter()
            .map(|i| Item {
                id: new_record_id(),
                description: i.description,
                quantity: i.quantity,
                checked: false,
            })
            .collect(),
        food_orders: new
            .food_orders
            .into_iter()
            .map(|f| food_from(new_record_id(), f))
            .collect(),
        money: Money::default(),
        receipts: Vec::new(),
        mileage_tenths: None,
        proof_of_delivery: None,
        comments: Vec::new(),
    };
    transact(doc, by, at_ms, |tx| {
        reconcile_prop(tx, &runs, id.as_str(), &record)?;
        let run = run_obj(tx, &id)?;
        let events = tx.put_object(&run, "events", ObjType::Map)?;
        status::append(
            tx,
            &events,
            &[],
            by,
            at_ms,
            new_event(RunEventKind::Created, &EventContext::none()),
        )?;
        Ok(id.clone())
    })
}

fn new_event<'a>(kind: RunEventKind, ctx: &'a EventContext) -> NewEvent<'a, RunEventKind> {
    NewEvent {
        kind,
        note: ctx.note.as_deref(),
        location: ctx.location.as_ref(),
        reason: None,
        assignee: None,
    }
}

fn stop_from(id: String, s: StopInput) -> Stop {
    Stop {
        id,
        label: s.label,
        address: s.address,
        contact_name: s.contact_name,
        contact_phone: s.contact_phone,
        notes: s.notes,
    }
}

fn food_from(id: String, f: FoodOrderInput) -> FoodOrder {
    FoodOrder {
        id,
        person: f.person,
        order: f.order,
        dietary_notes: f.dietary_notes,
    }
}

// ---------------------------------------------------------------------------------------
// Readers

/// One run with its derived status. A run that cannot be read is a
/// [`DomainError::Corrupt`] naming the field at fault.
pub fn read_run(doc: &Automerge, run_id: &str) -> Result<Run, DomainError> {
    let runs = runs_map(doc)?;
    read_run_in(doc, &runs, run_id)
}

fn read_run_in(doc: &Automerge, runs: &ObjId, run_id: &str) -> Result<Run, DomainError> {
    let run = match doc.get(runs, run_id)? {
        Some((automerge::Value::Object(ObjType::Map), run)) => run,
        Some(_) => return Err(DomainError::Corrupt(format!("run `{run_id}` is not a map"))),
        None => return Err(DomainError::UnknownRun(run_id.to_owned())),
    };
    let record: RunRecord = util::hydrate_at(doc, runs, run_id)?;
    let d = derived(doc, &run)?;
    Ok(Run {
        record,
        status: d.state.status,
        assigned_pa: d.state.assignee,
        failure_reason: d.state.failure_reason,
        events: d.events,
        conflicts: d.conflicts,
        ignored_events: d.ignored,
    })
}

/// Only the derived state of a run (cheap: reads the status log, not the fields).
pub fn run_state(doc: &Automerge, run_id: &str) -> Result<RunState, DomainError> {
    let run = run_obj(doc, run_id)?;
    Ok(derived(doc, &run)?.state)
}

/// Every run on the board, ordered by needed-by time (unset last), then creation time, then
/// id, and the runs that could not be read (by id), each with why. Errs only when the
/// document is not an initialised board.
pub fn list_runs(doc: &Automerge) -> Result<Listing<Run>, DomainError> {
    list_runs_where(doc, |_| true, |_| true)
}

/// [`list_runs`] keeping the runs `keep` accepts, and reporting an unreadable run only when
/// `report` accepts its derived state (`None` when even its status log cannot be read).
fn list_runs_where(
    doc: &Automerge,
    keep: impl Fn(&Run) -> bool,
    report: impl Fn(Option<&RunState>) -> bool,
) -> Result<Listing<Run>, DomainError> {
    let runs = runs_map(doc)?;
    let mut out = Listing::default();
    for id in doc.keys(&runs) {
        match read_run_in(doc, &runs, &id) {
            Ok(r) => {
                if keep(&r) {
                    out.items.push(r)
                }
            }
            Err(e) => {
                if report(run_state(doc, &id).ok().as_ref()) {
                    out.unreadable.push(Unreadable {
                        why: util::why(&e),
                        id,
                        what: "run",
                    })
                }
            }
        }
    }
    util::sort_by_deadline(&mut out.items, |r| {
        (
            r.record.needed_by,
            r.record.created_at,
            r.record.id.as_str(),
        )
    });
    Ok(out)
}

/// The runs assigned to a PA that are still to do (not delivered, reconciled or cancelled),
/// in [`list_runs`] order: what a PA's phone shows first. Unreadable runs are reported when
/// their status log says they are this PA's and open, or cannot say.
pub fn runs_for(doc: &Automerge, member_id: &str) -> Result<Listing<Run>, DomainError> {
    list_runs_where(
        doc,
        |r| r.assigned_pa.as_deref() == Some(member_id) && r.is_open(),
        |s| s.is_none_or(|s| s.assignee.as_deref() == Some(member_id) && is_open(s.status)),
    )
}

/// Runs past their needed-by time at `now_ms` that are still open: the coordinator's "late"
/// list. Unreadable runs that are (or may be) open are reported: whether they are late
/// cannot be told.
pub fn late_runs(doc: &Automerge, now_ms: i64) -> Result<Listing<Run>, DomainError> {
    list_runs_where(
        doc,
        |r| r.is_open() && r.record.needed_by.is_some_and(|n| n < now_ms),
        |s| s.is_none_or(|s| is_open(s.status)),
    )
}

fn is_open(status: RunStatus) -> bool {
    !matches!(
        status,
        RunStatus::Delivered | RunStatus::Reconciled | RunStatus::Cancelled
    )
}

impl Run {
    /// Still to be done: not delivered, reconciled or cancelled.
    pub fn is_open(&self) -> bool {
        is_open(self.status)
    }
}
