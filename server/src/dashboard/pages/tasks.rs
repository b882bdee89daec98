//! Office tasks: the table on the board, each task's own page (notes, checklist, status,
//! history), and the handlers behind their forms, one domain op each.
//!
//! The board's table stays one line a task with the quick assign and status forms; the
//! task's page holds everything else. A refused task form comes back as the task's page
//! with that form showing what was typed and the error by its field: the board's task
//! table is a live panel whose refreshes would replace a refilled form.

use std::collections::BTreeMap;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use setlink_core::model::task::{
    self, NewTask, Task, TaskEdit, TaskEvent, TaskEventKind, TaskStatus,
};
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
use super::{day_of, form, html_response, page, query, see_other, unreadable_note, F, Q};

/// A record id as one path segment. Ids come from synced documents, which a faulty peer
/// may fill with any text: anything but unreserved characters is percent-encoded, so a
/// link or a redirect always stays well formed and on this task.
fn seg(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Where a task's page lives.
fn task_href(day: &str, task_id: &str) -> String {
    format!("/dashboard/tasks/{}?day={day}", seg(task_id))
}

/// Where a task's form posts: `/dashboard/tasks/<id>/<rest>`.
fn task_action(task_id: &str, rest: &str) -> String {
    format!("/dashboard/tasks/{}/{rest}", seg(task_id))
}

fn checklist_count(t: &Task) -> Markup {
    html! {
        @if !t.record.checklist.is_empty() {
            small.checklist-count { (t.record.checklist.iter().filter(|c| c.done).count()) "/" (t.record.checklist.len()) " done" }
        }
    }
}

fn is_overdue(t: &Task, now: i64) -> bool {
    t.record.due.is_some_and(|d| d < now)
        && matches!(
            t.status,
            TaskStatus::Open | TaskStatus::InProgress | TaskStatus::Blocked
        )
}

/// The first line of a task's notes, shortened for the board's table.
fn notes_excerpt(notes: &str) -> String {
    let line = notes.lines().next().unwrap_or("").trim();
    let mut out: String = line.chars().take(80).collect();
    if out.chars().count() < notes.trim().chars().count() {
        out.push('…');
    }
    out
}

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
                table.tasks.stack {
                    thead { tr { th { "Task" } th { "Category" } th { "Assignee" } th { "Due" } th { "Status" } th { "" } } }
                    tbody {
                        @for t in &b.tasks {
                            @let overdue = is_overdue(t, now);
                            tr.late[overdue] id={ "task-" (seg(&t.record.id)) } data-task-id=(t.record.id) {
                                td.task-title {
                                    a href=(task_href(&b.day, &t.record.id)) { (t.record.title) }
                                    @if t.record.priority == Priority::Urgent { " " strong.urgent-flag { "URGENT" } }
                                    " " (checklist_count(t))
                                    @if t.conflicts.iter().any(|c| !c.resolved) { " " span.conflict-flag { "conflict" } }
                                    @if let Some(n) = t.record.notes.as_deref().filter(|n| !n.trim().is_empty()) {
                                        p.notes-excerpt { (notes_excerpt(n)) }
                                    }
                                }
                                td data-label="Category" { (forms::task_category_label(t.record.category)) }
                                td.assignee data-label="Assignee" { (t.record.assignee.as_deref().map(|a| name_of(names, a)).unwrap_or("—")) }
                                td data-label="Due" { (t.record.due.map(|t| z.hhmm(t)).unwrap_or_else(|| "—".into())) @if overdue { " " strong.late-flag { "LATE" } } }
                                td data-label="Status" { span class=(status_class(t.status.as_str())) { (t.status.as_str()) }
                                     @if let Some(r) = &t.blocked_reason { " · " (r) } }
                                td.actions {
                                    (assign_form(&b.day, s, t, &b.members, Back::Board, Prefill::none()))
                                    (status_form(&b.day, s, t, Back::Board, Prefill::none()))
                                    a.open-task href=(task_href(&b.day, &t.record.id)) { "Notes & checklist" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Where a task form's handler sends the coordinator after it worked: back to the page
/// the form was on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Back {
    Board,
    Task,
}

impl Back {
    fn of(f: &Fields) -> Back {
        match f.raw("back") {
            Some("task") => Back::Task,
            _ => Back::Board,
        }
    }
    fn value(self) -> &'static str {
        match self {
            Back::Board => "board",
            Back::Task => "task",
        }
    }
    /// The page to go back to, at the part of it the form was in.
    fn response(self, day: &str, task_id: &str, which: &TaskForm) -> Response {
        match self {
            Back::Board => see_other(format!("/dashboard/board?day={day}#task-{}", seg(task_id))),
            Back::Task => see_other(format!("{}{}", task_href(day, task_id), which.anchor())),
        }
    }
}

/// The fields every task form carries.
fn hidden(day: &str, s: &Session, back: Back) -> Markup {
    html! {
        input type="hidden" name="_csrf" value=(s.csrf);
        input type="hidden" name="day" value=(day);
        input type="hidden" name="back" value=(back.value());
    }
}

fn assign_form(
    day: &str,
    s: &Session,
    t: &Task,
    members: &[crate::storage::Member],
    back: Back,
    p: Prefill,
) -> Markup {
    html! {
        form.task-assign method="post" action=(task_action(&t.record.id, "assign")) {
            (p.summary())
            (hidden(day, s, back))
            label.inline { span.label-text { "Assignee" }
                select name="assignee" autofocus[p.is_about("assignee")] {
                    option value="" { "— unassigned —" }
                    @for m in assignees(members) {
                        option value=(m.id) selected[p.selected("assignee", &m.id, t.record.assignee.as_deref() == Some(m.id.as_str()))] { (m.name) }
                    }
                }
                (p.error("assignee"))
            }
            button type="submit" { "Assign" }
        }
    }
}

fn status_form(day: &str, s: &Session, t: &Task, back: Back, p: Prefill) -> Markup {
    html! {
        @if TASK_ACTIONS.iter().any(|(_, _, e)| e.allowed_from().contains(&t.status)) {
            form.task-status method="post" action=(task_action(&t.record.id, "status")) {
                (p.summary())
                (hidden(day, s, back))
                label.inline { span.label-text { "Task status" }
                    select name="action" autofocus[p.is_about("action")] {
                        // Only what the task's status allows now.
                        @for (value, label, event) in TASK_ACTIONS {
                            @if event.allowed_from().contains(&t.status) {
                                option value=(value) selected[p.selected("action", value, false)] { (label) }
                            }
                        }
                    }
                    (p.error("action"))
                }
                label.inline { span.label-text { "Reason (if blocked)" }
                    input name="reason" placeholder="reason (if blocked)" size="12" maxlength="2000" value=(p.value("reason", "")) autofocus[p.is_about("reason")];
                    (p.error("reason"))
                }
                button type="submit" { "Set" }
            }
        } @else {
            // Nothing can change the status now (signed off): a refusal still says why.
            (p.summary())
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

// ---------------------------------------------------------------------------------------
// The task's page

/// Which of a task's forms a refusal came back to.
enum TaskForm {
    Assign,
    Status,
    Notes,
    AddItem,
    /// Ticking, unticking or removing the checklist entry with this id.
    Item(String),
}

impl TaskForm {
    /// Where on the task's page the form sits.
    fn anchor(&self) -> &'static str {
        match self {
            TaskForm::Assign | TaskForm::Status => "",
            TaskForm::Notes => "#notes",
            TaskForm::AddItem | TaskForm::Item(_) => "#checklist",
        }
    }
}

struct TaskRefill {
    form: TaskForm,
    refill: Refill,
}

fn task_event_label(k: TaskEventKind) -> &'static str {
    match k {
        TaskEventKind::Created => "created",
        TaskEventKind::Started => "started",
        TaskEventKind::Blocked => "blocked",
        TaskEventKind::Done => "done",
        TaskEventKind::SignedOff => "signed off",
        TaskEventKind::Cancelled => "cancelled",
        TaskEventKind::Reopened => "reopened",
    }
}

fn notes_form(day: &str, s: &Session, t: &Task, p: Prefill) -> Markup {
    html! {
        form #task-notes method="post" action=(task_action(&t.record.id, "notes")) {
            (p.summary())
            (hidden(day, s, Back::Task))
            label.wide { "Notes"
                textarea name="notes" rows="4" autofocus[p.is_about("notes")] { (p.value("notes", t.record.notes.clone().unwrap_or_default())) }
                (p.error("notes"))
            }
            button type="submit" { "Save notes" }
        }
    }
}

fn checklist_section(day: &str, s: &Session, t: &Task, refill: Option<&TaskRefill>) -> Markup {
    let item_p = |id: &str| {
        Prefill::new(
            refill
                .filter(|r| matches!(&r.form, TaskForm::Item(e) if e == id))
                .map(|r| &r.refill),
        )
    };
    let add_p = Prefill::new(
        refill
            .filter(|r| matches!(r.form, TaskForm::AddItem))
            .map(|r| &r.refill),
    );
    // A refusal about an item no longer on the list still says why, above the list.
    let gone_p = Prefill::new(
        refill
            .filter(|r| {
                matches!(&r.form, TaskForm::Item(e) if !t.record.checklist.iter().any(|c| &c.id == e))
            })
            .map(|r| &r.refill),
    );
    html! {
        section #checklist {
            h2 { "Checklist " (checklist_count(t)) }
            (gone_p.summary())
            @if t.record.checklist.is_empty() {
                p.empty { "No checklist items yet." }
            } @else {
                ul.checklist {
                    @for c in &t.record.checklist {
                        @let p = item_p(&c.id);
                        li.done[c.done] data-entry-id=(c.id) {
                            (p.summary())
                            form.tick method="post" action=(task_action(&t.record.id, &format!("checklist/{}", seg(&c.id)))) {
                                (hidden(day, s, Back::Task))
                                @if c.done {
                                    button type="submit" name="action" value="untick" aria-pressed="true" title="Untick" { span.box { "☑" } " " (c.text) }
                                } @else {
                                    button type="submit" name="action" value="tick" aria-pressed="false" title="Tick" { span.box { "☐" } " " (c.text) }
                                }
                            }
                            form.remove method="post" action=(task_action(&t.record.id, &format!("checklist/{}", seg(&c.id)))) {
                                (hidden(day, s, Back::Task))
                                button.btn-cancel type="submit" name="action" value="remove" aria-label={ "Remove “" (c.text) "”" } { "Remove" }
                            }
                        }
                    }
                }
            }
            form #checklist-add method="post" action=(task_action(&t.record.id, "checklist")) {
                (add_p.summary())
                (hidden(day, s, Back::Task))
                label.inline { span.label-text { "New item" }
                    input name="text" maxlength="200" placeholder="what to do" value=(add_p.value("text", "")) autofocus[add_p.is_about("text")];
                    (add_p.error("text"))
                }
                button type="submit" { "Add item" }
            }
        }
    }
}

async fn task_page(
    ctx: &Ctx,
    day: &str,
    task_id: &str,
    refill: Option<TaskRefill>,
) -> DashResult<Response> {
    let b = data::board(ctx, day).await?;
    let Some(t) = b.tasks.iter().find(|t| t.record.id == task_id) else {
        return Err(DashError::not_found(format!(
            "there is no task `{}` on the board for {day}",
            task_id.chars().take(60).collect::<String>()
        )));
    };
    let z = &ctx.zone;
    let s = &ctx.session;
    let now = ctx.now_ms();
    let names = data::names(&b.members);
    let p_for = |want: fn(&TaskForm) -> bool| {
        Prefill::new(refill.as_ref().filter(|r| want(&r.form)).map(|r| &r.refill))
    };
    let overdue = is_overdue(t, now);
    let body = html! {
        p.back { a href={ "/dashboard/board?day=" (day) } { "← Board for " (day) } }
        (unreadable_note(&b.unreadable))
        article.task-page data-task-id=(t.record.id) data-status=(t.status.as_str()) {
            h1 { (t.record.title)
                @if t.record.priority == Priority::Urgent { " " strong.urgent-flag { "URGENT" } }
            }
            dl.task-facts {
                dt { "Status" } dd { span class=(status_class(t.status.as_str())) { (t.status.as_str()) }
                    @if let Some(r) = &t.blocked_reason { " · " (r) } }
                dt { "Category" } dd { (forms::task_category_label(t.record.category)) }
                dt { "Assignee" } dd.assignee { (t.record.assignee.as_deref().map(|a| name_of(&names, a)).unwrap_or("—"))
                    @if let Some(by) = &t.record.assigned_by { " " small.hint { "(by " (name_of(&names, by)) ")" } } }
                dt { "Due" } dd { (t.record.due.map(|d| z.hhmm(d)).unwrap_or_else(|| "—".into())) " " small.hint { (z.name()) }
                    @if overdue { " " strong.late-flag { "LATE" } } }
            }
            @if t.conflicts.iter().any(|c| !c.resolved) {
                p.conflict role="note" { "Two status changes happened at the same time; the history shows both." }
            }
            div.task-actions {
                (assign_form(day, s, t, &b.members, Back::Task, p_for(|f| matches!(f, TaskForm::Assign))))
                (status_form(day, s, t, Back::Task, p_for(|f| matches!(f, TaskForm::Status))))
            }
            section #notes {
                h2 { "Notes" }
                (notes_form(day, s, t, p_for(|f| matches!(f, TaskForm::Notes))))
            }
            (checklist_section(day, s, t, refill.as_ref()))
            section #task-history {
                h2 { "History" }
                ol.history {
                    @for e in &t.events {
                        li {
                            (z.hhmm(e.at_ms)) " " strong { (task_event_label(e.kind)) }
                            " · " (name_of(&names, &e.member))
                            @if let Some(n) = &e.reason { " · " (n) }
                            @if let Some(n) = &e.note { " · “" (n) "”" }
                        }
                    }
                }
            }
        }
    };
    let status = refill
        .as_ref()
        .map(|r| r.refill.status())
        .unwrap_or(StatusCode::OK);
    Ok(html_response(
        status,
        page(&t.record.title, Some(s), Some(day), body),
    ))
}

pub async fn task_view(ctx: Ctx, Path(task_id): Path<String>, q: Q) -> DashResult<Response> {
    ctx.require_office()?;
    let q = query(q)?;
    let day = day_of(&ctx, &q)?;
    task_page(&ctx, &day, &task_id, None).await
}

/// A task form's post: role, CSRF token, then the day it is about.
fn open_form(ctx: &Ctx, f: F) -> DashResult<(Fields, String)> {
    ctx.require_office()?;
    let f = form(f)?;
    ctx.check_csrf(f.csrf())?;
    let day = ctx.day(f.raw("day"))?;
    Ok((f, day))
}

/// After it worked, back where the form was; after a refusal of the input, the task's page
/// with that form as typed and the error by its field.
async fn answer(
    ctx: &Ctx,
    day: &str,
    task_id: &str,
    f: Fields,
    which: TaskForm,
    result: DashResult<()>,
) -> DashResult<Response> {
    match result {
        Ok(()) => Ok(Back::of(&f).response(day, task_id, &which)),
        Err(e) => {
            let refill = TaskRefill {
                form: which,
                refill: Refill::of(f, e)?,
            };
            task_page(ctx, day, task_id, Some(refill)).await
        }
    }
}

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
    let (f, day) = open_form(&ctx, f)?;
    let result = assign_from(&ctx, &day, &task_id, &f).await;
    answer(&ctx, &day, &task_id, f, TaskForm::Assign, result).await
}

async fn assign_from(ctx: &Ctx, day: &str, task_id: &str, f: &Fields) -> DashResult<()> {
    let assignee = f.opt("assignee")?;
    check_assignee(ctx, assignee.as_deref())
        .await
        .map_err(|e| e.on("assignee"))?;
    let board = data::existing_board(ctx, day).await?;
    let task_id = task_id.to_owned();
    data::write(ctx, board, move |doc, by, at| {
        task::assign_task(doc, by, at, &task_id, assignee.as_deref())
    })
    .await
    .map_err(|e| e.on("assignee"))
}

pub async fn task_status(ctx: Ctx, Path(task_id): Path<String>, f: F) -> DashResult<Response> {
    let (f, day) = open_form(&ctx, f)?;
    let result = status_from(&ctx, &day, &task_id, &f).await;
    answer(&ctx, &day, &task_id, f, TaskForm::Status, result).await
}

async fn status_from(ctx: &Ctx, day: &str, task_id: &str, f: &Fields) -> DashResult<()> {
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
            ))
            .on("action"))
        }
    };
    let board = data::existing_board(ctx, day).await?;
    let task_id = task_id.to_owned();
    data::write(ctx, board, move |doc, by, at| {
        task::record_task_status(doc, by, at, &task_id, event, EventContext::none())
    })
    .await
    .map(drop)
    .map_err(|e| e.on("action"))
}

pub async fn task_notes(ctx: Ctx, Path(task_id): Path<String>, f: F) -> DashResult<Response> {
    let (f, day) = open_form(&ctx, f)?;
    let result = notes_from(&ctx, &day, &task_id, &f).await;
    answer(&ctx, &day, &task_id, f, TaskForm::Notes, result).await
}

async fn notes_from(ctx: &Ctx, day: &str, task_id: &str, f: &Fields) -> DashResult<()> {
    // Blank notes clear them.
    let edit = TaskEdit {
        notes: Some(f.opt("notes")?),
        ..TaskEdit::default()
    };
    let board = data::existing_board(ctx, day).await?;
    let task_id = task_id.to_owned();
    data::write(ctx, board, move |doc, by, at| {
        task::edit_task(doc, by, at, &task_id, edit)
    })
    .await
    .map_err(|e| e.on("notes"))
}

pub async fn add_checklist_item(
    ctx: Ctx,
    Path(task_id): Path<String>,
    f: F,
) -> DashResult<Response> {
    let (f, day) = open_form(&ctx, f)?;
    let result = add_item_from(&ctx, &day, &task_id, &f).await;
    answer(&ctx, &day, &task_id, f, TaskForm::AddItem, result).await
}

async fn add_item_from(ctx: &Ctx, day: &str, task_id: &str, f: &Fields) -> DashResult<()> {
    let text = f.required("text", "The checklist item's text")?;
    let board = data::existing_board(ctx, day).await?;
    let task_id = task_id.to_owned();
    data::write(ctx, board, move |doc, by, at| {
        task::add_checklist_entry(doc, by, at, &task_id, &text)
    })
    .await
    .map(drop)
    .map_err(|e| e.on("text"))
}

/// Ticks, unticks or removes one checklist item (`action`: tick, untick, remove).
pub async fn checklist_item(
    ctx: Ctx,
    Path((task_id, entry_id)): Path<(String, String)>,
    f: F,
) -> DashResult<Response> {
    let (f, day) = open_form(&ctx, f)?;
    let result = item_from(&ctx, &day, &task_id, &entry_id, &f).await;
    answer(&ctx, &day, &task_id, f, TaskForm::Item(entry_id), result).await
}

async fn item_from(
    ctx: &Ctx,
    day: &str,
    task_id: &str,
    entry_id: &str,
    f: &Fields,
) -> DashResult<()> {
    enum Op {
        Done(bool),
        Remove,
    }
    let op = match f.raw("action").unwrap_or("") {
        "tick" => Op::Done(true),
        "untick" => Op::Done(false),
        "remove" => Op::Remove,
        other => {
            return Err(DashError::bad_request(format!(
                "`{}` is not something the dashboard does to a checklist item (tick, untick, remove); nothing was changed",
                other.chars().take(40).collect::<String>()
            )))
        }
    };
    let board = data::existing_board(ctx, day).await?;
    let (task_id, entry_id) = (task_id.to_owned(), entry_id.to_owned());
    data::write(ctx, board, move |doc, by, at| match op {
        Op::Done(done) => task::set_checklist_done(doc, by, at, &task_id, &entry_id, done),
        Op::Remove => task::remove_checklist_entry(doc, by, at, &task_id, &entry_id),
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_documents_stay_one_path_segment() {
        assert_eq!(seg("e2af0ff7-6469-49b0"), "e2af0ff7-6469-49b0");
        assert_eq!(seg("a/b?c#d\n é"), "a%2Fb%3Fc%23d%0A%20%C3%A9");
        assert_eq!(
            task_href("2030-06-14", "x/../y"),
            "/dashboard/tasks/x%2F..%2Fy?day=2030-06-14"
        );
    }

    #[test]
    fn the_board_shows_the_first_line_of_the_notes_shortened() {
        assert_eq!(notes_excerpt("Call Rita first"), "Call Rita first");
        assert_eq!(notes_excerpt("line one\nline two"), "line one…");
        let long = "x".repeat(100);
        assert_eq!(notes_excerpt(&long).chars().count(), 81);
        assert!(notes_excerpt(&long).ends_with('…'));
    }
}
