//! Office tasks on the board: the table, and creating, assigning and moving a task.

use std::collections::BTreeMap;

use axum::extract::Path;
use axum::response::Response;
use maud::{html, Markup};
use setlink_core::model::task::{self, NewTask, TaskEvent, TaskStatus};
use setlink_core::model::{EventContext, Priority};

use crate::dashboard::data::{self, BoardData};
use crate::dashboard::forms::{self, Fields};
use crate::dashboard::refill::{Prefill, Refill};
use crate::dashboard::session::{Ctx, Session};
use crate::dashboard::{DashError, DashResult};
use crate::zone::Zone;

use super::board::{
    assignees, back_to_board, board_page, check_assignee, name_of, status_class, BoardRefill,
};
use super::{form, F};

pub(super) fn tasks_panel(
    b: &BoardData,
    s: &Session,
    names: &BTreeMap<String, String>,
    now: i64,
    z: &Zone,
) -> Markup {
    html! {
        section #tasks {
            h2 { "Office tasks" }
            @if b.tasks.is_empty() {
                p.empty { "No tasks for this day yet." }
            } @else {
                table {
                    thead { tr { th { "Task" } th { "Category" } th { "Assignee" } th { "Due" } th { "Status" } th { "" } } }
                    tbody {
                        @for t in &b.tasks {
                            @let overdue = t.record.due.is_some_and(|d| d < now) && matches!(t.status, TaskStatus::Open | TaskStatus::InProgress | TaskStatus::Blocked);
                            tr.late[overdue] data-task-id=(t.record.id) {
                                td {
                                    (t.record.title)
                                    @if t.record.priority == Priority::Urgent { " " strong.urgent-flag { "URGENT" } }
                                    @if !t.record.checklist.is_empty() {
                                        " " small { (t.record.checklist.iter().filter(|c| c.done).count()) "/" (t.record.checklist.len()) " done" }
                                    }
                                    @if t.conflicts.iter().any(|c| !c.resolved) { " " span.conflict-flag { "conflict" } }
                                }
                                td { (forms::task_category_label(t.record.category)) }
                                td.assignee { (t.record.assignee.as_deref().map(|a| name_of(names, a)).unwrap_or("—")) }
                                td { (t.record.due.map(|t| z.hhmm(t)).unwrap_or_else(|| "—".into())) @if overdue { " " strong.late-flag { "LATE" } } }
                                td { span class=(status_class(t.status.as_str())) { (t.status.as_str()) }
                                     @if let Some(r) = &t.blocked_reason { " · " (r) } }
                                td.actions {
                                    form method="post" action={ "/dashboard/tasks/" (t.record.id) "/assign" } {
                                        input type="hidden" name="_csrf" value=(s.csrf);
                                        input type="hidden" name="day" value=(b.day);
                                        select name="assignee" aria-label="Assignee" {
                                            option value="" { "— unassigned —" }
                                            @for m in assignees(&b.members) {
                                                option value=(m.id) selected[t.record.assignee.as_deref() == Some(m.id.as_str())] { (m.name) }
                                            }
                                        }
                                        button type="submit" { "Assign" }
                                    }
                                    @if TASK_ACTIONS.iter().any(|(_, _, e)| e.allowed_from().contains(&t.status)) {
                                        form method="post" action={ "/dashboard/tasks/" (t.record.id) "/status" } {
                                            input type="hidden" name="_csrf" value=(s.csrf);
                                            input type="hidden" name="day" value=(b.day);
                                            select name="action" aria-label="Task status" {
                                                // Only what the task's status allows now.
                                                @for (value, label, event) in TASK_ACTIONS {
                                                    @if event.allowed_from().contains(&t.status) {
                                                        option value=(value) { (label) }
                                                    }
                                                }
                                            }
                                            input name="reason" placeholder="reason (if blocked)" size="12";
                                            button type="submit" { "Set" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The new-task form on the board; after a refusal, what was typed and the error.
pub(super) fn new_task_form(b: &BoardData, s: &Session, z: &Zone, p: Prefill) -> Markup {
    let sel = |name: &str, value: &str, stored: bool| p.selected(name, value, stored);
    html! {
        details.new open[p.is_refused()] {
            summary { "New task" }
            form #new-task method="post" action="/dashboard/tasks" {
                (p.summary())
                input type="hidden" name="_csrf" value=(s.csrf);
                input type="hidden" name="day" value=(b.day);
                label { "Title" input name="title" required maxlength="200" value=(p.value("title", "")); (p.error("title")) }
                label { "Category" select name="category" {
                    @for (_, v, l) in forms::TASK_CATEGORIES { option value=(v) selected[sel("category", v, false)] { (l) } }
                } (p.error("category")) }
                label { "Assign to" select name="assignee" {
                    option value="" { "— unassigned —" }
                    @for m in assignees(&b.members) { option value=(m.id) selected[sel("assignee", &m.id, false)] { (m.name) } }
                } (p.error("assignee")) }
                label { "Due (" (z.name()) ")" input name="due" placeholder="HH:MM" value=(p.value("due", "")); (p.error("due")) }
                label { "Priority" select name="priority" {
                    option value="normal" selected[sel("priority", "normal", true)] { "Normal" }
                    option value="urgent" selected[sel("priority", "urgent", false)] { "Urgent" }
                } (p.error("priority")) }
                label { "Checklist (one per line)" textarea name="checklist" rows="3" { (p.value("checklist", "")) } (p.error("checklist")) }
                label { "Notes" textarea name="notes" rows="2" { (p.value("notes", "")) } (p.error("notes")) }
                button type="submit" { "Create task" }
            }
        }
    }
}

/// The task actions the dashboard offers: form value, label, and the event it records.
const TASK_ACTIONS: [(&str, &str, TaskEvent); 6] = [
    ("start", "Start", TaskEvent::Start),
    ("done", "Done", TaskEvent::Done),
    ("sign_off", "Sign off", TaskEvent::SignOff),
    (
        "block",
        "Blocked…",
        TaskEvent::Block {
            reason: String::new(),
        },
    ),
    ("cancel", "Cancel", TaskEvent::Cancel),
    ("reopen", "Reopen", TaskEvent::Reopen),
];

pub async fn create_task(ctx: Ctx, f: F) -> DashResult<Response> {
    ctx.require_office()?;
    let f = form(f)?;
    ctx.check_csrf(f.csrf())?;
    let day = ctx.day(f.raw("day"))?;
    match create_task_from(&ctx, &day, &f).await {
        Ok(()) => Ok(back_to_board(&day)),
        Err(e) => board_page(&ctx, &day, BoardRefill::NewTask(Refill::of(f, e)?)).await,
    }
}

async fn create_task_from(ctx: &Ctx, day: &str, f: &Fields) -> DashResult<()> {
    let mut new = NewTask::new(
        f.required("title", "A title")?,
        forms::task_category(f.raw("category").unwrap_or("")).map_err(|e| e.on("category"))?,
    );
    new.assignee = f.opt("assignee")?;
    check_assignee(ctx, new.assignee.as_deref())
        .await
        .map_err(|e| e.on("assignee"))?;
    new.due = match f.opt("due")? {
        Some(t) => Some(forms::time_on_day("Due", day, &t, &ctx.zone).map_err(|e| e.on("due"))?),
        None => None,
    };
    new.priority = forms::priority(f.raw("priority")).map_err(|e| e.on("priority"))?;
    new.checklist = f
        .opt("checklist")?
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    new.notes = f.opt("notes")?;
    let board = data::ensure_board(ctx, day).await?;
    data::write(ctx, board, move |doc, by, at| {
        task::create_task(doc, by, at, new)
    })
    .await?;
    Ok(())
}

pub async fn assign_task(ctx: Ctx, Path(task_id): Path<String>, f: F) -> DashResult<Response> {
    ctx.require_office()?;
    let f = form(f)?;
    ctx.check_csrf(f.csrf())?;
    let day = ctx.day(f.raw("day"))?;
    let assignee = f.opt("assignee")?;
    check_assignee(&ctx, assignee.as_deref()).await?;
    let board = data::existing_board(&ctx, &day).await?;
    data::write(&ctx, board, move |doc, by, at| {
        task::assign_task(doc, by, at, &task_id, assignee.as_deref())
    })
    .await?;
    Ok(back_to_board(&day))
}

pub async fn task_status(ctx: Ctx, Path(task_id): Path<String>, f: F) -> DashResult<Response> {
    ctx.require_office()?;
    let f = form(f)?;
    ctx.check_csrf(f.csrf())?;
    let day = ctx.day(f.raw("day"))?;
    let event = match f.raw("action").unwrap_or("") {
        "start" => TaskEvent::Start,
        "done" => TaskEvent::Done,
        "sign_off" => TaskEvent::SignOff,
        "cancel" => TaskEvent::Cancel,
        "reopen" => TaskEvent::Reopen,
        "block" => TaskEvent::Block {
            reason: f.required("reason", "A reason for blocking the task")?,
        },
        other => {
            return Err(DashError::bad_request(format!(
                "`{}` is not a task status change (start, done, sign_off, block, cancel, reopen); nothing was changed",
                other.chars().take(40).collect::<String>()
            )))
        }
    };
    let board = data::existing_board(&ctx, &day).await?;
    data::write(&ctx, board, move |doc, by, at| {
        task::record_task_status(doc, by, at, &task_id, event, EventContext::none())
    })
    .await?;
    Ok(back_to_board(&day))
}
