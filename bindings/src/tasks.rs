//! Office tasks on a day's board: records mirroring `setlink_core::model::task` and the
//! operations as `SetlinkStore` methods.

use setlink_core::model::status::LoggedEvent;
use setlink_core::model::task as core;

use crate::error::SetlinkError;
use crate::runs::{context, edit_opt, Location, Priority, StatusConflict};
use crate::store::SetlinkStore;
use crate::types::{unreadable, Role, UnreadableRecord};

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum TaskCategory {
    FoodOrder,
    CraftyRestock,
    Phones,
    Meeting,
    Paperwork,
    Signage,
    SupplyRun,
    Filing,
    Travel,
    Other,
}
mirror_enum!(
    TaskCategory,
    core::TaskCategory,
    [
        FoodOrder,
        CraftyRestock,
        Phones,
        Meeting,
        Paperwork,
        Signage,
        SupplyRun,
        Filing,
        Travel,
        Other
    ]
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum TaskStatus {
    Open,
    InProgress,
    Blocked,
    Done,
    SignedOff,
    Cancelled,
}
mirror_enum!(
    TaskStatus,
    core::TaskStatus,
    [Open, InProgress, Blocked, Done, SignedOff, Cancelled]
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum TaskEventKind {
    Created,
    Started,
    Blocked,
    Done,
    SignedOff,
    Cancelled,
    Reopened,
}
mirror_enum!(
    TaskEventKind,
    core::TaskEventKind,
    [Created, Started, Blocked, Done, SignedOff, Cancelled, Reopened]
);

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum TaskEvent {
    Start,
    /// The reason is required.
    Block {
        reason: String,
    },
    Done,
    SignOff,
    Cancel,
    Reopen,
}

impl From<TaskEvent> for core::TaskEvent {
    fn from(e: TaskEvent) -> Self {
        match e {
            TaskEvent::Start => core::TaskEvent::Start,
            TaskEvent::Block { reason } => core::TaskEvent::Block { reason },
            TaskEvent::Done => core::TaskEvent::Done,
            TaskEvent::SignOff => core::TaskEvent::SignOff,
            TaskEvent::Cancel => core::TaskEvent::Cancel,
            TaskEvent::Reopen => core::TaskEvent::Reopen,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ChecklistEntry {
    pub id: String,
    pub text: String,
    pub done: bool,
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct TaskEventEntry {
    pub id: String,
    pub kind: TaskEventKind,
    pub at_ms: i64,
    pub member: String,
    pub device: String,
    pub role: Option<Role>,
    pub note: Option<String>,
    pub location: Option<Location>,
    pub reason: Option<String>,
}

impl From<LoggedEvent<core::TaskEventKind>> for TaskEventEntry {
    fn from(e: LoggedEvent<core::TaskEventKind>) -> Self {
        TaskEventEntry {
            id: e.id,
            kind: e.kind.into(),
            at_ms: e.at_ms,
            member: e.member,
            device: e.device,
            role: e.role.map(Into::into),
            note: e.note,
            location: e.location.map(Into::into),
            reason: e.reason,
        }
    }
}

/// The tasks a reader could read, and the ones it left out (with why).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct TaskList {
    pub tasks: Vec<Task>,
    pub unreadable: Vec<UnreadableRecord>,
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Task {
    pub id: String,
    pub title: String,
    pub category: TaskCategory,
    pub assignee: Option<String>,
    pub assigned_by: Option<String>,
    pub due_ms: Option<i64>,
    pub priority: Priority,
    pub checklist: Vec<ChecklistEntry>,
    pub linked_run: Option<String>,
    pub notes: Option<String>,
    pub created_at_ms: i64,
    pub created_by: String,
    pub status: TaskStatus,
    pub blocked_reason: Option<String>,
    pub events: Vec<TaskEventEntry>,
    pub conflicts: Vec<StatusConflict>,
}

impl From<core::Task> for Task {
    fn from(t: core::Task) -> Self {
        let r = t.record;
        Task {
            id: r.id,
            title: r.title,
            category: r.category.into(),
            assignee: r.assignee,
            assigned_by: r.assigned_by,
            due_ms: r.due,
            priority: r.priority.into(),
            checklist: r
                .checklist
                .into_iter()
                .map(|c| ChecklistEntry {
                    id: c.id,
                    text: c.text,
                    done: c.done,
                })
                .collect(),
            linked_run: r.linked_run,
            notes: r.notes,
            created_at_ms: r.created_at,
            created_by: r.created_by,
            status: t.status.into(),
            blocked_reason: t.blocked_reason,
            events: t.events.into_iter().map(Into::into).collect(),
            conflicts: t.conflicts.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NewTask {
    pub title: String,
    pub category: TaskCategory,
    #[uniffi(default = None)]
    pub assignee: Option<String>,
    #[uniffi(default = None)]
    pub due_ms: Option<i64>,
    pub priority: Priority,
    #[uniffi(default = [])]
    pub checklist: Vec<String>,
    #[uniffi(default = None)]
    pub linked_run: Option<String>,
    #[uniffi(default = None)]
    pub notes: Option<String>,
}

/// Field edits: `null` keeps a field; `clear_*` empties an optional one.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct TaskEdit {
    #[uniffi(default = None)]
    pub title: Option<String>,
    #[uniffi(default = None)]
    pub category: Option<TaskCategory>,
    #[uniffi(default = None)]
    pub due_ms: Option<i64>,
    #[uniffi(default = false)]
    pub clear_due: bool,
    #[uniffi(default = None)]
    pub priority: Option<Priority>,
    #[uniffi(default = None)]
    pub linked_run: Option<String>,
    #[uniffi(default = false)]
    pub clear_linked_run: bool,
    #[uniffi(default = None)]
    pub notes: Option<String>,
    #[uniffi(default = false)]
    pub clear_notes: bool,
}

#[uniffi::export]
impl SetlinkStore {
    /// Every task on the board, by due time, and the tasks that could not be read
    /// (`unreadable`, with why).
    pub fn list_tasks(&self, board_id: String) -> Result<TaskList, SetlinkError> {
        let l = self.read(&board_id, core::list_tasks)?;
        Ok(TaskList {
            tasks: l.items.into_iter().map(Into::into).collect(),
            unreadable: unreadable(l.unreadable),
        })
    }

    pub fn get_task(&self, board_id: String, task_id: String) -> Result<Task, SetlinkError> {
        Ok(self
            .read(&board_id, |d| core::read_task(d, &task_id))?
            .into())
    }

    /// Creates a task (coordinator or office); returns its id.
    pub fn create_task(&self, board_id: String, task: NewTask) -> Result<String, SetlinkError> {
        let new = core::NewTask {
            title: task.title,
            category: task.category.into(),
            assignee: task.assignee,
            due: task.due_ms,
            priority: task.priority.into(),
            checklist: task.checklist,
            linked_run: task.linked_run,
            notes: task.notes,
        };
        self.apply(&board_id, |doc, by, at| core::create_task(doc, by, at, new))
    }

    pub fn edit_task(
        &self,
        board_id: String,
        task_id: String,
        edit: TaskEdit,
    ) -> Result<(), SetlinkError> {
        let e = core::TaskEdit {
            title: edit.title,
            category: edit.category.map(Into::into),
            due: edit_opt("due_ms", edit.due_ms, edit.clear_due)?,
            priority: edit.priority.map(Into::into),
            linked_run: edit_opt("linked_run", edit.linked_run, edit.clear_linked_run)?,
            notes: edit_opt("notes", edit.notes, edit.clear_notes)?,
        };
        self.apply(&board_id, |doc, by, at| {
            core::edit_task(doc, by, at, &task_id, e)
        })
    }

    /// Assigns a task to a member, or unassigns it with `null`.
    pub fn assign_task(
        &self,
        board_id: String,
        task_id: String,
        assignee: Option<String>,
    ) -> Result<(), SetlinkError> {
        self.apply(&board_id, |doc, by, at| {
            core::assign_task(doc, by, at, &task_id, assignee.as_deref())
        })
    }

    pub fn add_checklist_entry(
        &self,
        board_id: String,
        task_id: String,
        text: String,
    ) -> Result<String, SetlinkError> {
        self.apply(&board_id, |doc, by, at| {
            core::add_checklist_entry(doc, by, at, &task_id, &text)
        })
    }

    pub fn set_checklist_done(
        &self,
        board_id: String,
        task_id: String,
        entry_id: String,
        done: bool,
    ) -> Result<(), SetlinkError> {
        self.apply(&board_id, |doc, by, at| {
            core::set_checklist_done(doc, by, at, &task_id, &entry_id, done)
        })
    }

    pub fn remove_checklist_entry(
        &self,
        board_id: String,
        task_id: String,
        entry_id: String,
    ) -> Result<(), SetlinkError> {
        self.apply(&board_id, |doc, by, at| {
            core::remove_checklist_entry(doc, by, at, &task_id, &entry_id)
        })
    }

    /// Records a status event (start, block, done, sign off, cancel, reopen); returns
    /// the event's id.
    pub fn record_task_status(
        &self,
        board_id: String,
        task_id: String,
        event: TaskEvent,
        note: Option<String>,
        location: Option<Location>,
    ) -> Result<String, SetlinkError> {
        self.apply(&board_id, |doc, by, at| {
            core::record_task_status(doc, by, at, &task_id, event.into(), context(note, location))
        })
    }
}
