//! Office tasks on a day's board document (root map `tasks`, see [`super::run::init_board`]).
//!
//! Same storage approach as runs: fields written with autosurgeon, a checklist list whose
//! entries are edited in place, and an append-only status log (`events`) from which the
//! status is derived: `open → in progress → done → signed off`, plus blocked and cancelled.
//!
//! Roles: coordinator, office and PA create tasks, edit them and move them forward (a PA
//! only tasks that are unassigned or assigned to them). Assigning, signing off, cancelling
//! and reopening are for the coordinator or the office.

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjId, ObjType, ReadDoc, ROOT};
use autosurgeon::{hydrate_prop, reconcile_insert, reconcile_prop, Hydrate, Reconcile};

use super::log_memo;
use super::status::{self, Conflict, EventKind, LoggedEvent, NewEvent};
use super::util::{self, check_opt, check_required, check_time, find_by_id, get_map, MAX_LONG};
use super::{
    require_role, transact, DomainError, EventContext, Listing, Priority, Unreadable, PLANNERS,
    RUN_WRITERS,
};
use crate::access::{Author, Role};
use crate::ids::new_record_id;

/// Task categories from PRODUCT.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Reconcile, Hydrate)]
pub enum TaskCategory {
    /// Coffee or lunch order.
    #[autosurgeon(rename = "food_order")]
    FoodOrder,
    #[autosurgeon(rename = "crafty_restock")]
    CraftyRestock,
    #[autosurgeon(rename = "phones")]
    Phones,
    /// Meeting or table read.
    #[autosurgeon(rename = "meeting")]
    Meeting,
    /// Paperwork and sides.
    #[autosurgeon(rename = "paperwork")]
    Paperwork,
    #[autosurgeon(rename = "signage")]
    Signage,
    #[autosurgeon(rename = "supply_run")]
    SupplyRun,
    #[autosurgeon(rename = "filing")]
    Filing,
    /// Travel and accommodation.
    #[autosurgeon(rename = "travel")]
    Travel,
    #[autosurgeon(rename = "other")]
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate)]
pub struct ChecklistEntry {
    #[key]
    #[autosurgeon(hydrate = "util::text")]
    pub id: String,
    #[autosurgeon(hydrate = "util::text")]
    pub text: String,
    pub done: bool,
}

/// A task's stored fields (everything but the status log).
#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate)]
pub struct TaskRecord {
    #[autosurgeon(hydrate = "util::text")]
    pub id: String,
    #[autosurgeon(hydrate = "util::text")]
    pub title: String,
    #[autosurgeon(hydrate = "util::text")]
    pub category: TaskCategory,
    #[autosurgeon(hydrate = "util::opt_text")]
    pub assignee: Option<String>,
    #[autosurgeon(hydrate = "util::opt_text")]
    pub assigned_by: Option<String>,
    /// Due time, ms since 1970.
    pub due: Option<i64>,
    #[autosurgeon(hydrate = "util::text")]
    pub priority: Priority,
    pub checklist: Vec<ChecklistEntry>,
    /// A run on the same board this task belongs to.
    #[autosurgeon(hydrate = "util::opt_text")]
    pub linked_run: Option<String>,
    #[autosurgeon(hydrate = "util::opt_text")]
    pub notes: Option<String>,
    pub created_at: i64,
    #[autosurgeon(hydrate = "util::text")]
    pub created_by: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TaskStatus {
    #[default]
    Open,
    InProgress,
    Blocked,
    Done,
    SignedOff,
    Cancelled,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Open => "open",
            TaskStatus::InProgress => "in progress",
            TaskStatus::Blocked => "blocked",
            TaskStatus::Done => "done",
            TaskStatus::SignedOff => "signed off",
            TaskStatus::Cancelled => "cancelled",
        }
    }
}

impl std::fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskEventKind {
    Created,
    Started,
    Blocked,
    Done,
    SignedOff,
    Cancelled,
    Reopened,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskState {
    pub status: TaskStatus,
    pub blocked_reason: Option<String>,
}

impl EventKind for TaskEventKind {
    type State = TaskState;

    fn as_str(self) -> &'static str {
        match self {
            TaskEventKind::Created => "created",
            TaskEventKind::Started => "started",
            TaskEventKind::Blocked => "blocked",
            TaskEventKind::Done => "done",
            TaskEventKind::SignedOff => "signed_off",
            TaskEventKind::Cancelled => "cancelled",
            TaskEventKind::Reopened => "reopened",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        use TaskEventKind::*;
        [
            Created, Started, Blocked, Done, SignedOff, Cancelled, Reopened,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    fn is_world(self) -> bool {
        use TaskEventKind::*;
        matches!(self, Started | Blocked | Done | SignedOff)
    }

    fn rank(self) -> u8 {
        use TaskEventKind::*;
        match self {
            Created => 0,
            Reopened => 1,
            Cancelled => 2,
            Started => 1,
            Blocked => 2,
            Done => 3,
            SignedOff => 4,
        }
    }

    fn apply(_state: &TaskState, e: &LoggedEvent<Self>) -> TaskState {
        let status = match e.kind {
            TaskEventKind::Created | TaskEventKind::Reopened => TaskStatus::Open,
            TaskEventKind::Started => TaskStatus::InProgress,
            TaskEventKind::Blocked => {
                return TaskState {
                    status: TaskStatus::Blocked,
                    blocked_reason: e.reason.clone(),
                }
            }
            TaskEventKind::Done => TaskStatus::Done,
            TaskEventKind::SignedOff => TaskStatus::SignedOff,
            TaskEventKind::Cancelled => TaskStatus::Cancelled,
        };
        TaskState {
            status,
            blocked_reason: None,
        }
    }
}

/// A status change on a task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskEvent {
    /// Start, or resume after being blocked.
    Start,
    Block {
        reason: String,
    },
    Done,
    SignOff,
    Cancel,
    Reopen,
}

impl TaskEvent {
    /// What the event does, as a verb for messages ("cannot sign off a task that is …").
    pub fn verb(&self) -> &'static str {
        match self {
            TaskEvent::Start => "start",
            TaskEvent::Block { .. } => "block",
            TaskEvent::Done => "mark done",
            TaskEvent::SignOff => "sign off",
            TaskEvent::Cancel => "cancel",
            TaskEvent::Reopen => "reopen",
        }
    }

    /// The statuses this event may be recorded from.
    pub fn allowed_from(&self) -> &'static [TaskStatus] {
        use TaskStatus::*;
        match self {
            TaskEvent::Start => &[Open, Blocked],
            TaskEvent::Block { .. } => &[Open, InProgress],
            TaskEvent::Done => &[Open, InProgress],
            TaskEvent::SignOff => &[Done],
            TaskEvent::Cancel => &[Open, InProgress, Blocked],
            TaskEvent::Reopen => &[Done, Cancelled],
        }
    }

    fn kind(&self) -> TaskEventKind {
        match self {
            TaskEvent::Start => TaskEventKind::Started,
            TaskEvent::Block { .. } => TaskEventKind::Blocked,
            TaskEvent::Done => TaskEventKind::Done,
            TaskEvent::SignOff => TaskEventKind::SignedOff,
            TaskEvent::Cancel => TaskEventKind::Cancelled,
            TaskEvent::Reopen => TaskEventKind::Reopened,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Task {
    pub record: TaskRecord,
    pub status: TaskStatus,
    pub blocked_reason: Option<String>,
    pub events: Vec<LoggedEvent<TaskEventKind>>,
    pub conflicts: Vec<Conflict>,
    /// Log entries this version could not read.
    pub ignored_events: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTask {
    pub title: String,
    pub category: TaskCategory,
    pub assignee: Option<String>,
    pub due: Option<i64>,
    pub priority: Priority,
    pub checklist: Vec<String>,
    pub linked_run: Option<String>,
    pub notes: Option<String>,
}

impl NewTask {
    pub fn new(title: impl Into<String>, category: TaskCategory) -> Self {
        NewTask {
            title: title.into(),
            category,
            assignee: None,
            due: None,
            priority: Priority::Normal,
            checklist: Vec::new(),
            linked_run: None,
            notes: None,
        }
    }
}

/// Field edits; `None` keeps a field, `Some(None)` clears an optional one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskEdit {
    pub title: Option<String>,
    pub category: Option<TaskCategory>,
    pub due: Option<Option<i64>>,
    pub priority: Option<Priority>,
    pub linked_run: Option<Option<String>>,
    pub notes: Option<Option<String>>,
}

fn tasks_map<R: ReadDoc>(doc: &R) -> Result<ObjId, DomainError> {
    get_map(doc, &ROOT, "tasks").ok_or(DomainError::NotInitialised("a day's board"))
}

fn task_obj<R: ReadDoc>(doc: &R, task_id: &str) -> Result<ObjId, DomainError> {
    let tasks = tasks_map(doc)?;
    get_map(doc, &tasks, task_id).ok_or_else(|| DomainError::UnknownTask(task_id.to_owned()))
}

fn derived<R: ReadDoc>(
    doc: &R,
    task: &ObjId,
) -> Result<status::Derived<TaskEventKind>, DomainError> {
    let events = util::require_map(doc, task, "events", "a task")?;
    Ok(status::read_log::<TaskEventKind, _>(doc, &events))
}

fn check_linked_run<R: ReadDoc>(doc: &R, run: &Option<String>) -> Result<(), DomainError> {
    if let Some(r) = run {
        let runs = super::run::runs_map(doc)?;
        if get_map(doc, &runs, r).is_none() {
            return Err(DomainError::UnknownRun(r.clone()));
        }
    }
    Ok(())
}

fn check_entry(text: &str) -> Result<(), DomainError> {
    check_required("checklist entry", text)
}

/// Whether a stored task is one the operations could have written (see
/// [`super::run::validate_record`]).
pub fn validate_record(t: &TaskRecord) -> Result<(), DomainError> {
    check_required("task title", &t.title)?;
    util::check_len("task title", &t.title, util::MAX_SHORT)?;
    if let Some(a) = &t.assignee {
        check_required("assignee", a)?;
    }
    if let Some(d) = t.due {
        check_time("due time", d)?;
    }
    if t.checklist.len() > 500 {
        return Err(DomainError::OutOfRange {
            field: "checklist",
            reason: format!("{} entries is more than 500", t.checklist.len()),
        });
    }
    for c in &t.checklist {
        check_entry(&c.text)?;
        util::check_len("checklist entry", &c.text, util::MAX_SHORT)?;
    }
    check_opt("task notes", &t.notes, MAX_LONG)?;
    check_time("created at", t.created_at)?;
    check_required("created by", &t.created_by)
}

/// Creates a task (status: open). Roles: coordinator, office, PA; only the coordinator and
/// the office may give it an assignee. Returns the task id.
pub fn create_task(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    new: NewTask,
) -> Result<String, DomainError> {
    require_role(by, RUN_WRITERS, "create a task")?;
    if new.assignee.is_some() {
        require_role(by, PLANNERS, "assign a task")?;
    }
    check_required("task title", &new.title)?;
    if let Some(a) = &new.assignee {
        check_required("assignee", a)?;
    }
    if let Some(d) = new.due {
        check_time("due time", d)?;
    }
    new.checklist.iter().try_for_each(|c| check_entry(c))?;
    check_opt("task notes", &new.notes, MAX_LONG)?;
    let tasks = tasks_map(doc)?;
    check_linked_run(doc, &new.linked_run)?;
    let id = new_record_id();
    let record = TaskRecord {
        id: id.clone(),
        title: new.title,
        category: new.category,
        assigned_by: new.assignee.as_ref().map(|_| by.member_id.clone()),
        assignee: new.assignee,
        due: new.due,
        priority: new.priority,
        checklist: new
            .checklist
            .into_iter()
            .map(|text| ChecklistEntry {
                id: new_record_id(),
                text,
                done: false,
            })
            .collect(),
        linked_run: new.linked_run,
        notes: new.notes,
        created_at: at_ms,
        created_by: by.member_id.clone(),
    };
    transact(doc, by, at_ms, |tx| {
        reconcile_prop(tx, &tasks, id.as_str(), &record)?;
        let task = task_obj(tx, &id)?;
        let events = tx.put_object(&task, "events", ObjType::Map)?;
        status::append(
            tx,
            &events,
            &[],
            by,
            at_ms,
            plain_event(TaskEventKind::Created, &EventContext::none()),
        )?;
        Ok(id.clone())
    })
}

fn plain_event(kind: TaskEventKind, ctx: &EventContext) -> NewEvent<'_, TaskEventKind> {
    NewEvent {
        kind,
        note: ctx.note.as_deref(),
        location: ctx.location.as_ref(),
        reason: None,
        assignee: None,
    }
}

/// Edits a task's fields. Roles: coordinator, office, PA.
pub fn edit_task(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    task_id: &str,
    edit: TaskEdit,
) -> Result<(), DomainError> {
    require_role(by, RUN_WRITERS, "edit a task")?;
    if let Some(t) = &edit.title {
        check_required("task title", t)?;
    }
    if let Some(Some(d)) = edit.due {
        check_time("due time", d)?;
    }
    if let Some(n) = &edit.notes {
        check_opt("task notes", n, MAX_LONG)?;
    }
    let task = task_obj(doc, task_id)?;
    if let Some(r) = &edit.linked_run {
        check_linked_run(doc, r)?;
    }
    transact(doc, by, at_ms, |tx| {
        if let Some(t) = &edit.title {
            reconcile_prop(tx, &task, "title", t)?;
        }
        if let Some(c) = edit.category {
            reconcile_prop(tx, &task, "category", c)?;
        }
        if let Some(d) = edit.due {
            reconcile_prop(tx, &task, "due", d)?;
        }
        if let Some(p) = edit.priority {
            reconcile_prop(tx, &task, "priority", p)?;
        }
        if let Some(r) = &edit.linked_run {
            reconcile_prop(tx, &task, "linked_run", r)?;
        }
        if let Some(n) = &edit.notes {
            reconcile_prop(tx, &task, "notes", n)?;
        }
        Ok(())
    })
}

/// Gives the task to someone (or takes it back with `None`); records who assigned it.
/// Roles: coordinator, office.
pub fn assign_task(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    task_id: &str,
    assignee: Option<&str>,
) -> Result<(), DomainError> {
    require_role(by, PLANNERS, "assign a task")?;
    if let Some(a) = assignee {
        check_required("assignee", a)?;
    }
    let task = task_obj(doc, task_id)?;
    transact(doc, by, at_ms, |tx| {
        reconcile_prop(tx, &task, "assignee", assignee)?;
        reconcile_prop(
            tx,
            &task,
            "assigned_by",
            assignee.map(|_| by.member_id.as_str()),
        )?;
        Ok(())
    })
}

/// Adds a checklist entry. Roles: coordinator, office, PA. Returns its id.
pub fn add_checklist_entry(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    task_id: &str,
    text: &str,
) -> Result<String, DomainError> {
    require_role(by, RUN_WRITERS, "edit a checklist")?;
    check_entry(text)?;
    let task = task_obj(doc, task_id)?;
    let list = util::require_list(doc, &task, "checklist", "a task")?;
    let id = new_record_id();
    let entry = ChecklistEntry {
        id: id.clone(),
        text: text.to_owned(),
        done: false,
    };
    transact(doc, by, at_ms, |tx| {
        let len = tx.length(&list);
        reconcile_insert(tx, list.clone(), len, &entry)?;
        Ok(())
    })?;
    Ok(id)
}

fn find_entry(
    doc: &Automerge,
    task_id: &str,
    entry_id: &str,
) -> Result<(ObjId, usize, ObjId), DomainError> {
    let task = task_obj(doc, task_id)?;
    let list = util::require_list(doc, &task, "checklist", "a task")?;
    let (idx, obj) =
        find_by_id(doc, &list, entry_id).ok_or_else(|| DomainError::UnknownChecklistEntry {
            task: task_id.to_owned(),
            entry: entry_id.to_owned(),
        })?;
    Ok((list, idx, obj))
}

/// Ticks (or unticks) a checklist entry. Roles: coordinator, office, PA.
pub fn set_checklist_done(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    task_id: &str,
    entry_id: &str,
    done: bool,
) -> Result<(), DomainError> {
    require_role(by, RUN_WRITERS, "tick a checklist entry")?;
    let (_, _, obj) = find_entry(doc, task_id, entry_id)?;
    transact(doc, by, at_ms, |tx| {
        tx.put(&obj, "done", done)?;
        Ok(())
    })
}

/// Roles: coordinator, office, PA.
pub fn remove_checklist_entry(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    task_id: &str,
    entry_id: &str,
) -> Result<(), DomainError> {
    require_role(by, RUN_WRITERS, "edit a checklist")?;
    let (list, idx, _) = find_entry(doc, task_id, entry_id)?;
    transact(doc, by, at_ms, |tx| {
        tx.delete(&list, idx)?;
        Ok(())
    })
}

/// Records a status change on a task. Returns the event id. Rules (status before -> event):
/// start: open or blocked; block (reason required): open or in progress; done: open or in
/// progress; sign off: done; cancel: open, in progress or blocked; reopen: done or cancelled.
/// Roles: start, block, done: coordinator, office, or a PA on a task unassigned or assigned
/// to them. Sign off, cancel, reopen: coordinator, office.
pub fn record_task_status(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    task_id: &str,
    event: TaskEvent,
    ctx: EventContext,
) -> Result<String, DomainError> {
    let kind = event.kind();
    ctx.validate()?;
    let task = task_obj(doc, task_id)?;
    let events = util::require_map(doc, &task, "events", "a task")?;
    let d = log_memo::tip::<TaskEventKind, _>(doc, &events);
    let assignee: Option<String> = hydrate_prop(doc, &task, "assignee")?;
    check_task_event(&d.state, &event, by, assignee.as_deref())?;
    let reason = match &event {
        TaskEvent::Block { reason } => Some(reason.as_str()),
        _ => None,
    };
    let id = transact(doc, by, at_ms, |tx| {
        let mut ev = plain_event(kind, &ctx);
        ev.reason = reason;
        status::append(tx, &events, &d.heads, by, at_ms, ev)
    })?;
    log_memo::appended::<TaskEventKind, _>(doc, &events, &id);
    Ok(id)
}

/// Whether an event already in a task's log was allowed, given the state its author saw
/// and the task's assignee: the rules of [`record_task_status`], applied by the write rules
/// to every event a peer sends.
pub fn check_logged_task_event(
    seen: &TaskState,
    event: &LoggedEvent<TaskEventKind>,
    role: Role,
    assignee: Option<&str>,
) -> Result<(), DomainError> {
    let by = Author {
        member_id: event.member.clone(),
        device_id: event.device.clone(),
        role,
    };
    let task_event = match event.kind {
        TaskEventKind::Created => {
            return Err(DomainError::InvalidTransition {
                what: "task",
                from: seen.status.to_string(),
                event: "create".into(),
                hint: "a task is created once, with its first event",
            })
        }
        TaskEventKind::Started => TaskEvent::Start,
        TaskEventKind::Blocked => TaskEvent::Block {
            reason: event.reason.clone().unwrap_or_default(),
        },
        TaskEventKind::Done => TaskEvent::Done,
        TaskEventKind::SignedOff => TaskEvent::SignOff,
        TaskEventKind::Cancelled => TaskEvent::Cancel,
        TaskEventKind::Reopened => TaskEvent::Reopen,
    };
    check_task_event(seen, &task_event, &by, assignee)
}

fn check_task_event(
    seen: &TaskState,
    event: &TaskEvent,
    by: &Author,
    assignee: Option<&str>,
) -> Result<(), DomainError> {
    use TaskStatus::*;
    let kind = event.kind();
    match kind {
        TaskEventKind::SignedOff => require_role(by, PLANNERS, "sign off a task")?,
        TaskEventKind::Cancelled => require_role(by, PLANNERS, "cancel a task")?,
        TaskEventKind::Reopened => require_role(by, PLANNERS, "reopen a task")?,
        _ => require_role(by, RUN_WRITERS, "update a task's status")?,
    }
    if let TaskEvent::Block { reason } = event {
        check_required("blocked reason", reason)?;
    }
    let from = seen.status;
    if !event.allowed_from().contains(&from) {
        return Err(DomainError::InvalidTransition {
            what: "task",
            from: from.to_string(),
            event: event.verb().to_owned(),
            hint: match from {
                SignedOff => "it is signed off and closed",
                Cancelled => "reopen it first",
                Blocked => "start it again once it is unblocked",
                Done => "reopen it to change it",
                _ => "mark it done first",
            },
        });
    }
    if by.role == Role::Pa && assignee.is_some_and(|a| a != by.member_id) {
        return Err(DomainError::Forbidden {
            role: Role::Pa,
            action: "update a task assigned to someone else",
            allowed: "coordinator or the office to reassign it",
        });
    }
    Ok(())
}

/// One task with its derived status. A task that cannot be read is a
/// [`DomainError::Corrupt`] naming the field at fault.
pub fn read_task(doc: &Automerge, task_id: &str) -> Result<Task, DomainError> {
    let tasks = tasks_map(doc)?;
    read_task_in(doc, &tasks, task_id)
}

fn read_task_in(doc: &Automerge, tasks: &ObjId, task_id: &str) -> Result<Task, DomainError> {
    let task = match doc.get(tasks, task_id)? {
        Some((automerge::Value::Object(ObjType::Map), task)) => task,
        Some(_) => {
            return Err(DomainError::Corrupt(format!(
                "task `{task_id}` is not a map"
            )))
        }
        None => return Err(DomainError::UnknownTask(task_id.to_owned())),
    };
    let record: TaskRecord = util::hydrate_at(doc, tasks, task_id)?;
    let d = derived(doc, &task)?;
    Ok(Task {
        record,
        status: d.state.status,
        blocked_reason: d.state.blocked_reason,
        events: d.events,
        conflicts: d.conflicts,
        ignored_events: d.ignored,
    })
}

pub fn task_state(doc: &Automerge, task_id: &str) -> Result<TaskState, DomainError> {
    let task = task_obj(doc, task_id)?;
    Ok(derived(doc, &task)?.state)
}

/// Every task on the board, by due time (unset last), then creation time, then id, and the
/// tasks that could not be read (by id), each with why. Errs only when the document is not
/// an initialised board.
pub fn list_tasks(doc: &Automerge) -> Result<Listing<Task>, DomainError> {
    let tasks = tasks_map(doc)?;
    let mut out = Listing::default();
    for id in doc.keys(&tasks) {
        match read_task_in(doc, &tasks, &id) {
            Ok(t) => out.items.push(t),
            Err(e) => out.unreadable.push(Unreadable {
                why: util::why(&e),
                id,
                what: "task",
            }),
        }
    }
    util::sort_by_deadline(&mut out.items, |t| {
        (t.record.due, t.record.created_at, t.record.id.as_str())
    });
    Ok(out)
}
