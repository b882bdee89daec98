//! Runs (errands) on a day's board: records mirroring `setlink_core::model::run`, and the
//! operations as `SetlinkStore` methods. Each call is one durable change or a typed error.

use setlink_core::model::run as core;
use setlink_core::model::status::{Conflict as CoreConflict, LoggedEvent};
use setlink_core::model::{EventContext, Location as CoreLocation, Priority as CorePriority};
use setlink_core::DocKind;

use crate::error::SetlinkError;
use crate::store::SetlinkStore;
use crate::types::{unreadable, Role, UnreadableRecord};

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Priority {
    Normal,
    Urgent,
}

impl From<CorePriority> for Priority {
    fn from(p: CorePriority) -> Self {
        match p {
            CorePriority::Normal => Priority::Normal,
            CorePriority::Urgent => Priority::Urgent,
        }
    }
}

impl From<Priority> for CorePriority {
    fn from(p: Priority) -> Self {
        match p {
            Priority::Normal => CorePriority::Normal,
            Priority::Urgent => CorePriority::Urgent,
        }
    }
}

/// A position from the phone and/or a human label ("stage 4 loading dock").
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Location {
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub label: Option<String>,
}

impl From<CoreLocation> for Location {
    fn from(l: CoreLocation) -> Self {
        Location {
            lat: l.lat,
            lon: l.lon,
            label: l.label,
        }
    }
}

impl From<Location> for CoreLocation {
    fn from(l: Location) -> Self {
        CoreLocation {
            lat: l.lat,
            lon: l.lon,
            label: l.label,
        }
    }
}

pub(crate) fn context(note: Option<String>, location: Option<Location>) -> EventContext {
    EventContext {
        note,
        location: location.map(Into::into),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum RunKind {
    Pickup,
    DropOff,
    SupplyPurchase,
    FoodOrder,
    PaperworkDelivery,
    Return,
    Other,
}

mirror_enum!(
    RunKind,
    core::RunKind,
    [
        Pickup,
        DropOff,
        SupplyPurchase,
        FoodOrder,
        PaperworkDelivery,
        Return,
        Other
    ]
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Vehicle {
    Personal,
    Production,
}
mirror_enum!(Vehicle, core::Vehicle, [Personal, Production]);

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum RunStatus {
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
mirror_enum!(
    RunStatus,
    core::RunStatus,
    [Requested, Assigned, Accepted, EnRoute, PickedUp, Delivered, Failed, Cancelled, Reconciled]
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
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
mirror_enum!(
    RunEventKind,
    core::RunEventKind,
    [
        Created, Assigned, Accepted, EnRoute, PickedUp, Delivered, Failed, Cancelled, Reopened,
        Reconciled
    ]
);

/// A status change a person records (assignment is `assign_run`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
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

impl From<RunEvent> for core::RunEvent {
    fn from(e: RunEvent) -> Self {
        match e {
            RunEvent::Accept => core::RunEvent::Accept,
            RunEvent::EnRoute => core::RunEvent::EnRoute,
            RunEvent::PickUp => core::RunEvent::PickUp,
            RunEvent::Deliver => core::RunEvent::Deliver,
            RunEvent::Fail { reason } => core::RunEvent::Fail { reason },
            RunEvent::Cancel => core::RunEvent::Cancel,
            RunEvent::Reopen => core::RunEvent::Reopen,
            RunEvent::Reconcile => core::RunEvent::Reconcile,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Stop {
    pub id: String,
    pub label: String,
    pub address: Option<String>,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub notes: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Item {
    pub id: String,
    pub description: String,
    pub quantity: i64,
    pub checked: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FoodOrder {
    pub id: String,
    pub person: String,
    pub order: String,
    pub dietary_notes: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Receipt {
    pub id: String,
    pub vendor: String,
    pub total_cents: i64,
    pub tax_cents: i64,
    pub account_code: Option<String>,
    pub photo_ref: Option<String>,
    pub added_by: String,
    pub added_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Money {
    pub envelope: Option<String>,
    pub advanced_cents: i64,
    pub cash_returned_cents: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ProofOfDelivery {
    pub received_by: String,
    pub note: Option<String>,
    pub photo_ref: Option<String>,
    pub recorded_by: String,
    pub recorded_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Comment {
    pub id: String,
    pub author: String,
    pub at_ms: i64,
    pub text: String,
}

/// One entry of a run's append-only status log.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct RunEventEntry {
    pub id: String,
    pub kind: RunEventKind,
    pub at_ms: i64,
    pub member: String,
    pub device: String,
    pub role: Option<Role>,
    pub note: Option<String>,
    pub location: Option<Location>,
    pub reason: Option<String>,
    pub assignee: Option<String>,
}

impl From<LoggedEvent<core::RunEventKind>> for RunEventEntry {
    fn from(e: LoggedEvent<core::RunEventKind>) -> Self {
        RunEventEntry {
            id: e.id,
            kind: e.kind.into(),
            at_ms: e.at_ms,
            member: e.member,
            device: e.device,
            role: e.role.map(Into::into),
            note: e.note,
            location: e.location.map(Into::into),
            reason: e.reason,
            assignee: e.assignee,
        }
    }
}

/// A concurrent event that lost (e.g. a cancel concurrent with a delivery): kept in the
/// log and shown to the coordinator.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct StatusConflict {
    pub event_id: String,
    pub event_kind: String,
    pub lost_to: String,
    pub resolved: bool,
}

impl From<CoreConflict> for StatusConflict {
    fn from(c: CoreConflict) -> Self {
        StatusConflict {
            event_id: c.event_id,
            event_kind: c.event_kind,
            lost_to: c.lost_to,
            resolved: c.resolved,
        }
    }
}

/// The runs a reader could read, and the ones it left out (with why).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct RunList {
    pub runs: Vec<Run>,
    pub unreadable: Vec<UnreadableRecord>,
}

impl From<setlink_core::model::Listing<core::Run>> for RunList {
    fn from(l: setlink_core::model::Listing<core::Run>) -> Self {
        RunList {
            runs: l.items.into_iter().map(Into::into).collect(),
            unreadable: unreadable(l.unreadable),
        }
    }
}

/// A run as the app shows it: its fields plus the status derived from its log.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Run {
    pub id: String,
    pub kind: RunKind,
    pub title: String,
    pub requested_by: String,
    pub department: Option<String>,
    pub priority: Priority,
    pub needed_by_ms: Option<i64>,
    pub vehicle: Option<Vehicle>,
    pub created_at_ms: i64,
    pub created_by: String,
    pub stops: Vec<Stop>,
    pub items: Vec<Item>,
    pub food_orders: Vec<FoodOrder>,
    pub money: Money,
    pub receipts: Vec<Receipt>,
    pub mileage_tenths: Option<i64>,
    pub proof_of_delivery: Option<ProofOfDelivery>,
    pub comments: Vec<Comment>,
    pub status: RunStatus,
    pub assigned_pa: Option<String>,
    pub failure_reason: Option<String>,
    pub events: Vec<RunEventEntry>,
    pub conflicts: Vec<StatusConflict>,
}

impl From<core::Run> for Run {
    fn from(r: core::Run) -> Self {
        let rec = r.record;
        Run {
            id: rec.id,
            kind: rec.kind.into(),
            title: rec.title,
            requested_by: rec.requested_by,
            department: rec.department,
            priority: rec.priority.into(),
            needed_by_ms: rec.needed_by,
            vehicle: rec.vehicle.map(Into::into),
            created_at_ms: rec.created_at,
            created_by: rec.created_by,
            stops: rec
                .stops
                .into_iter()
                .map(|s| Stop {
                    id: s.id,
                    label: s.label,
                    address: s.address,
                    contact_name: s.contact_name,
                    contact_phone: s.contact_phone,
                    notes: s.notes,
                })
                .collect(),
            items: rec
                .items
                .into_iter()
                .map(|i| Item {
                    id: i.id,
                    description: i.description,
                    quantity: i.quantity,
                    checked: i.checked,
                })
                .collect(),
            food_orders: rec
                .food_orders
                .into_iter()
                .map(|f| FoodOrder {
                    id: f.id,
                    person: f.person,
                    order: f.order,
                    dietary_notes: f.dietary_notes,
                })
                .collect(),
            money: Money {
                envelope: rec.money.envelope,
                advanced_cents: rec.money.advanced_cents,
                cash_returned_cents: rec.money.cash_returned_cents,
            },
            receipts: rec
                .receipts
                .into_iter()
                .map(|r| Receipt {
                    id: r.id,
                    vendor: r.vendor,
                    total_cents: r.total_cents,
                    tax_cents: r.tax_cents,
                    account_code: r.account_code,
                    photo_ref: r.photo_ref,
                    added_by: r.added_by,
                    added_at_ms: r.added_at,
                })
                .collect(),
            mileage_tenths: rec.mileage_tenths,
            proof_of_delivery: rec.proof_of_delivery.map(|p| ProofOfDelivery {
                received_by: p.received_by,
                note: p.note,
                photo_ref: p.photo_ref,
                recorded_by: p.recorded_by,
                recorded_at_ms: p.recorded_at,
            }),
            comments: rec
                .comments
                .into_iter()
                .map(|c| Comment {
                    id: c.id,
                    author: c.author,
                    at_ms: c.at,
                    text: c.text,
                })
                .collect(),
            status: r.status.into(),
            assigned_pa: r.assigned_pa,
            failure_reason: r.failure_reason,
            events: r.events.into_iter().map(Into::into).collect(),
            conflicts: r.conflicts.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct StopInput {
    pub label: String,
    #[uniffi(default = None)]
    pub address: Option<String>,
    #[uniffi(default = None)]
    pub contact_name: Option<String>,
    #[uniffi(default = None)]
    pub contact_phone: Option<String>,
    #[uniffi(default = None)]
    pub notes: Option<String>,
}

impl From<StopInput> for core::StopInput {
    fn from(s: StopInput) -> Self {
        core::StopInput {
            label: s.label,
            address: s.address,
            contact_name: s.contact_name,
            contact_phone: s.contact_phone,
            notes: s.notes,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ItemInput {
    pub description: String,
    #[uniffi(default = 1)]
    pub quantity: i64,
}

impl From<ItemInput> for core::ItemInput {
    fn from(i: ItemInput) -> Self {
        core::ItemInput {
            description: i.description,
            quantity: i.quantity,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FoodOrderInput {
    pub person: String,
    pub order: String,
    #[uniffi(default = None)]
    pub dietary_notes: Option<String>,
}

impl From<FoodOrderInput> for core::FoodOrderInput {
    fn from(f: FoodOrderInput) -> Self {
        core::FoodOrderInput {
            person: f.person,
            order: f.order,
            dietary_notes: f.dietary_notes,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ReceiptInput {
    pub vendor: String,
    pub total_cents: i64,
    #[uniffi(default = 0)]
    pub tax_cents: i64,
    #[uniffi(default = None)]
    pub account_code: Option<String>,
    #[uniffi(default = None)]
    pub photo_ref: Option<String>,
}

impl From<ReceiptInput> for core::ReceiptInput {
    fn from(r: ReceiptInput) -> Self {
        core::ReceiptInput {
            vendor: r.vendor,
            total_cents: r.total_cents,
            tax_cents: r.tax_cents,
            account_code: r.account_code,
            photo_ref: r.photo_ref,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ProofInput {
    pub received_by: String,
    #[uniffi(default = None)]
    pub note: Option<String>,
    #[uniffi(default = None)]
    pub photo_ref: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NewRun {
    pub kind: RunKind,
    pub title: String,
    pub requested_by: String,
    #[uniffi(default = None)]
    pub department: Option<String>,
    pub priority: Priority,
    #[uniffi(default = None)]
    pub needed_by_ms: Option<i64>,
    #[uniffi(default = None)]
    pub vehicle: Option<Vehicle>,
    #[uniffi(default = [])]
    pub stops: Vec<StopInput>,
    #[uniffi(default = [])]
    pub items: Vec<ItemInput>,
    #[uniffi(default = [])]
    pub food_orders: Vec<FoodOrderInput>,
}

/// Field edits: a `null` field stays as it is; `clear_*` empties an optional field.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct RunEdit {
    #[uniffi(default = None)]
    pub kind: Option<RunKind>,
    #[uniffi(default = None)]
    pub title: Option<String>,
    #[uniffi(default = None)]
    pub requested_by: Option<String>,
    #[uniffi(default = None)]
    pub department: Option<String>,
    #[uniffi(default = false)]
    pub clear_department: bool,
    #[uniffi(default = None)]
    pub priority: Option<Priority>,
    #[uniffi(default = None)]
    pub needed_by_ms: Option<i64>,
    #[uniffi(default = false)]
    pub clear_needed_by: bool,
    #[uniffi(default = None)]
    pub vehicle: Option<Vehicle>,
    #[uniffi(default = false)]
    pub clear_vehicle: bool,
}

/// Petty cash edits, same convention as [`RunEdit`].
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct MoneyEdit {
    #[uniffi(default = None)]
    pub envelope: Option<String>,
    #[uniffi(default = false)]
    pub clear_envelope: bool,
    #[uniffi(default = None)]
    pub advanced_cents: Option<i64>,
    #[uniffi(default = None)]
    pub cash_returned_cents: Option<i64>,
    #[uniffi(default = false)]
    pub clear_cash_returned: bool,
}

/// `Some(None)` to clear, `Some(Some(v))` to set, `None` to keep; a value and its clear
/// flag together are contradictory.
pub(crate) fn edit_opt<T>(
    field: &str,
    value: Option<T>,
    clear: bool,
) -> Result<Option<Option<T>>, SetlinkError> {
    match (value, clear) {
        (Some(_), true) => Err(SetlinkError::invalid(
            field,
            "give a new value or clear it, not both",
        )),
        (Some(v), false) => Ok(Some(Some(v))),
        (None, true) => Ok(Some(None)),
        (None, false) => Ok(None),
    }
}

pub(crate) fn check_day(day: &str) -> Result<(), SetlinkError> {
    let ok = day.len() == 10
        && day.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    if ok {
        Ok(())
    } else {
        Err(SetlinkError::invalid(
            "day",
            format!("`{day}` is not a date as YYYY-MM-DD"),
        ))
    }
}

#[uniffi::export]
impl SetlinkStore {
    /// Creates a day's board (runs and tasks) document on this device and returns its id.
    /// Coordinator or office.
    pub fn create_board(&self, day: String) -> Result<String, SetlinkError> {
        check_day(&day)?;
        let id = self.with(|d| {
            let role = d
                .identity()
                .map(|a| a.role)
                .ok_or(SetlinkError::NoIdentity)?;
            if !role.may_write_runs() || role == setlink_core::Role::Pa {
                return Err(SetlinkError::Forbidden {
                    role: role.to_string(),
                    action: "create a day's board (ask a coordinator or the office)".into(),
                });
            }
            Ok(d.create_document(DocKind::Board { day: day.clone() })?)
        })?;
        let doc = id.to_string();
        self.apply(&doc, core::init_board)?;
        self.register(&id, &DocKind::Board { day })?;
        Ok(doc)
    }

    /// Every run on the board, by needed-by time, and the runs that could not be read
    /// (`unreadable`, with why): one bad run never hides the others.
    pub fn list_runs(&self, board_id: String) -> Result<RunList, SetlinkError> {
        Ok(self.read(&board_id, core::list_runs)?.into())
    }

    /// The runs on the board assigned to this device's member, and the unreadable runs
    /// whose status log says they are this member's (or cannot say).
    pub fn my_runs(&self, board_id: String) -> Result<RunList, SetlinkError> {
        let me = self.member_id()?;
        let mine = self.read(&board_id, |doc| {
            let mut l = core::list_runs(doc)?;
            l.items
                .retain(|r| r.assigned_pa.as_deref() == Some(me.as_str()));
            l.unreadable.retain(|u| {
                core::run_state(doc, &u.id)
                    .map_or(true, |s| s.assignee.as_deref() == Some(me.as_str()))
            });
            Ok(l)
        })?;
        Ok(mine.into())
    }

    pub fn get_run(&self, board_id: String, run_id: String) -> Result<Run, SetlinkError> {
        Ok(self
            .read(&board_id, |doc| core::read_run(doc, &run_id))?
            .into())
    }

    /// Creates a run; returns its id. Coordinator, office or PA.
    pub fn create_run(&self, board_id: String, run: NewRun) -> Result<String, SetlinkError> {
        let new = core::NewRun {
            kind: run.kind.into(),
            title: run.title,
            requested_by: run.requested_by,
            department: run.department,
            priority: run.priority.into(),
            needed_by: run.needed_by_ms,
            vehicle: run.vehicle.map(Into::into),
            stops: run.stops.into_iter().map(Into::into).collect(),
            items: run.items.into_iter().map(Into::into).collect(),
            food_orders: run.food_orders.into_iter().map(Into::into).collect(),
        };
        self.apply(&board_id, |doc, by, at| core::create_run(doc, by, at, new))
    }

    pub fn edit_run(
        &self,
        board_id: String,
        run_id: String,
        edit: RunEdit,
    ) -> Result<(), SetlinkError> {
        let e = core::RunEdit {
            kind: edit.kind.map(Into::into),
            title: edit.title,
            requested_by: edit.requested_by,
            department: edit_opt("department", edit.department, edit.clear_department)?,
            priority: edit.priority.map(Into::into),
            needed_by: edit_opt("needed_by_ms", edit.needed_by_ms, edit.clear_needed_by)?,
            vehicle: edit_opt(
                "vehicle",
                edit.vehicle.map(core::Vehicle::from),
                edit.clear_vehicle,
            )?,
        };
        self.apply(&board_id, |doc, by, at| {
            core::edit_run(doc, by, at, &run_id, e)
        })
    }

    pub fn add_stop(
        &self,
        board_id: String,
        run_id: String,
        stop: StopInput,
    ) -> Result<String, SetlinkError> {
        self.apply(&board_id, |doc, by, at| {
            core::add_stop(doc, by, at, &run_id, stop.into())
        })
    }

    pub fn edit_stop(
        &self,
        board_id: String,
        run_id: String,
        stop_id: String,
        stop: StopInput,
    ) -> Result<(), SetlinkError> {
        self.apply(&board_id, |doc, by, at| {
            core::edit_stop(doc, by, at, &run_id, &stop_id, stop.into())
        })
    }

    pub fn remove_stop(
        &self,
        board_id: String,
        run_id: String,
        stop_id: String,
    ) -> Result<(), SetlinkError> {
        self.apply(&board_id, |doc, by, at| {
            core::remove_stop(doc, by, at, &run_id, &stop_id)
        })
    }

    pub fn add_item(
        &self,
        board_id: String,
        run_id: String,
        item: ItemInput,
    ) -> Result<String, SetlinkError> {
        self.apply(&board_id, |doc, by, at| {
            core::add_item(doc, by, at, &run_id, item.into())
        })
    }

    pub fn edit_item(
        &self,
        board_id: String,
        run_id: String,
        item_id: String,
        item: ItemInput,
    ) -> Result<(), SetlinkError> {
        self.apply(&board_id, |doc, by, at| {
            core::edit_item(doc, by, at, &run_id, &item_id, item.into())
        })
    }

    pub fn set_item_checked(
        &self,
        board_id: String,
        run_id: String,
        item_id: String,
        checked: bool,
    ) -> Result<(), SetlinkError> {
        self.apply(&board_id, |doc, by, at| {
            core::set_item_checked(doc, by, at, &run_id, &item_id, checked)
        })
    }

    pub fn remove_item(
        &self,
        board_id: String,
        run_id: String,
        item_id: String,
    ) -> Result<(), SetlinkError> {
        self.apply(&board_id, |doc, by, at| {
            core::remove_item(doc, by, at, &run_id, &item_id)
        })
    }

    pub fn add_food_order(
        &self,
        board_id: String,
        run_id: String,
        order: FoodOrderInput,
    ) -> Result<String, SetlinkError> {
        self.apply(&board_id, |doc, by, at| {
            core::add_food_order(doc, by, at, &run_id, order.into())
        })
    }

    pub fn edit_food_order(
        &self,
        board_id: String,
        run_id: String,
        order_id: String,
        order: FoodOrderInput,
    ) -> Result<(), SetlinkError> {
        self.apply(&board_id, |doc, by, at| {
            core::edit_food_order(doc, by, at, &run_id, &order_id, order.into())
        })
    }

    pub fn remove_food_order(
        &self,
        board_id: String,
        run_id: String,
        order_id: String,
    ) -> Result<(), SetlinkError> {
        self.apply(&board_id, |doc, by, at| {
            core::remove_food_order(doc, by, at, &run_id, &order_id)
        })
    }

    pub fn add_receipt(
        &self,
        board_id: String,
        run_id: String,
        receipt: ReceiptInput,
    ) -> Result<String, SetlinkError> {
        self.apply(&board_id, |doc, by, at| {
            core::add_receipt(doc, by, at, &run_id, receipt.into())
        })
    }

    pub fn set_money(
        &self,
        board_id: String,
        run_id: String,
        edit: MoneyEdit,
    ) -> Result<(), SetlinkError> {
        let e = core::MoneyEdit {
            envelope: edit_opt("envelope", edit.envelope, edit.clear_envelope)?,
            advanced_cents: edit.advanced_cents,
            cash_returned_cents: edit_opt(
                "cash_returned_cents",
                edit.cash_returned_cents,
                edit.clear_cash_returned,
            )?,
        };
        self.apply(&board_id, |doc, by, at| {
            core::set_money(doc, by, at, &run_id, e)
        })
    }

    /// Mileage in tenths of a mile (or km); `null` clears it.
    pub fn set_mileage(
        &self,
        board_id: String,
        run_id: String,
        tenths: Option<i64>,
    ) -> Result<(), SetlinkError> {
        self.apply(&board_id, |doc, by, at| {
            core::set_mileage(doc, by, at, &run_id, tenths)
        })
    }

    pub fn set_proof_of_delivery(
        &self,
        board_id: String,
        run_id: String,
        proof: ProofInput,
    ) -> Result<(), SetlinkError> {
        let p = core::ProofInput {
            received_by: proof.received_by,
            note: proof.note,
            photo_ref: proof.photo_ref,
        };
        self.apply(&board_id, |doc, by, at| {
            core::set_proof_of_delivery(doc, by, at, &run_id, p)
        })
    }

    pub fn add_comment(
        &self,
        board_id: String,
        run_id: String,
        text: String,
    ) -> Result<String, SetlinkError> {
        self.apply(&board_id, |doc, by, at| {
            core::add_comment(doc, by, at, &run_id, &text)
        })
    }

    /// Assigns or reassigns a run to a PA (member id). Coordinator or office. Returns the
    /// status event's id.
    pub fn assign_run(
        &self,
        board_id: String,
        run_id: String,
        assignee: String,
        note: Option<String>,
        location: Option<Location>,
    ) -> Result<String, SetlinkError> {
        self.apply(&board_id, |doc, by, at| {
            core::assign(doc, by, at, &run_id, &assignee, context(note, location))
        })
    }

    /// Takes a run off its PA: it is requested again, for anyone to be assigned or to
    /// claim; its history keeps who had it (an `Assigned` event naming nobody).
    /// Coordinator or office, while a PA has the run. Returns the status event's id.
    pub fn unassign_run(
        &self,
        board_id: String,
        run_id: String,
        note: Option<String>,
        location: Option<Location>,
    ) -> Result<String, SetlinkError> {
        self.apply(&board_id, |doc, by, at| {
            core::unassign(doc, by, at, &run_id, context(note, location))
        })
    }

    /// Records a status event (accept, en route, picked up, delivered, failed, ...).
    /// Returns the event's id.
    pub fn record_run_status(
        &self,
        board_id: String,
        run_id: String,
        event: RunEvent,
        note: Option<String>,
        location: Option<Location>,
    ) -> Result<String, SetlinkError> {
        self.apply(&board_id, |doc, by, at| {
            core::record_status(doc, by, at, &run_id, event.into(), context(note, location))
        })
    }
}
