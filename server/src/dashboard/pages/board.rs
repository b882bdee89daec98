//! The day's board: run cards by status, PAs on the move, and the run actions a
//! coordinator takes from it.

use std::collections::BTreeMap;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use setlink_core::model::run::{self, NewRun, Run, RunEvent, RunStatus, StopInput};
use setlink_core::model::status::LoggedEvent;
use setlink_core::model::{EventContext, Priority};
use setlink_core::Role;

use crate::dashboard::data::{self, BoardData};
use crate::dashboard::forms::{self, Fields};
use crate::dashboard::refill::{Prefill, Refill};
use crate::dashboard::session::{Ctx, Session};
use crate::dashboard::{DashError, DashResult};
use crate::storage::Member;
use crate::zone::Zone;

use super::run::run_url;
use super::signin::{signin_key_banner, signin_key_created};
use super::tasks::{new_task_form, tasks_panel};
use super::{day_of, form, html_response, page, query, see_other, unreadable_note, F, Q};

/// How long ago `ms` was. `ms` comes from synced documents, which any peer with write
/// access may fill with any `i64`, so the difference saturates instead of overflowing.
pub(super) fn age(ms: i64, now: i64) -> String {
    let mins = now.saturating_sub(ms).max(0) / 60_000;
    match mins {
        0 => "just now".into(),
        m if m < 60 => format!("{m} min"),
        m if m < 48 * 60 => format!("{} h {} min", m / 60, m % 60),
        m => format!("{} days", m / (24 * 60)),
    }
}

const COLUMNS: [(&str, &[RunStatus]); 7] = [
    ("Requested", &[RunStatus::Requested]),
    ("Assigned", &[RunStatus::Assigned]),
    (
        "Accepted / en route",
        &[RunStatus::Accepted, RunStatus::EnRoute],
    ),
    ("Picked up", &[RunStatus::PickedUp]),
    ("Failed", &[RunStatus::Failed]),
    ("Delivered", &[RunStatus::Delivered, RunStatus::Reconciled]),
    ("Cancelled", &[RunStatus::Cancelled]),
];

fn is_open(s: RunStatus) -> bool {
    !matches!(
        s,
        RunStatus::Delivered | RunStatus::Reconciled | RunStatus::Cancelled
    )
}

fn is_late(r: &Run, now: i64) -> bool {
    is_open(r.status) && r.record.needed_by.is_some_and(|n| n < now)
}

pub(super) fn name_of<'a>(names: &'a BTreeMap<String, String>, id: &'a str) -> &'a str {
    names.get(id).map(String::as_str).unwrap_or(id)
}

pub(super) fn status_class(s: &str) -> String {
    format!("status s-{}", s.replace(' ', "-"))
}

pub(super) fn assignees(members: &[Member]) -> Vec<&Member> {
    members
        .iter()
        .filter(|m| m.revoked_at_ms.is_none() && m.role != Role::Crew)
        .collect()
}

fn run_card(
    b: &BoardData,
    s: &Session,
    r: &Run,
    names: &BTreeMap<String, String>,
    now: i64,
    z: &Zone,
) -> Markup {
    let late = is_late(r, now);
    let open_conflicts: Vec<_> = r.conflicts.iter().filter(|c| !c.resolved).collect();
    let kind = forms::run_kind_name(r.record.kind).1;
    html! {
        article.card.late[late].urgent[r.record.priority == Priority::Urgent] data-run-id=(r.id()) data-status=(r.status.as_str()) {
            h3 { (r.record.title) }
            p.meta {
                span class=(status_class(r.status.as_str())) { (r.status.as_str()) }
                " · " (kind)
                @if r.record.priority == Priority::Urgent { " · " strong.urgent-flag { "URGENT" } }
                @if late { " · " strong.late-flag { "LATE" } }
            }
            dl {
                dt { "Assignee" } dd.assignee { (r.assigned_pa.as_deref().map(|a| name_of(names, a)).unwrap_or("—")) }
                dt { "Age" } dd { (age(r.record.created_at, now)) }
                dt { "Needed by" } dd { (r.record.needed_by.map(|t| z.hhmm(t)).unwrap_or_else(|| "—".into())) }
                @if let Some(d) = &r.record.department { dt { "Dept" } dd { (d) } }
                @if let Some(stop) = r.record.stops.first() { dt { "Stop" } dd { (stop.label) } }
                @if let Some(f) = &r.failure_reason { dt { "Failed" } dd { (f) } }
            }
            p.open { a.run-link href=(run_url(r.id(), &b.day)) { "Open the run →" } }
            @if !open_conflicts.is_empty() {
                div.conflict role="note" {
                    strong { "Conflict: " }
                    @for c in &open_conflicts {
                        @let winner = r.events.iter().find(|e| e.id == c.lost_to);
                        span {
                            "“" (c.event_kind.replace('_', " ")) "” happened concurrently and lost to “"
                            (winner.map(run_event_label).unwrap_or("another event")) "”"
                            @if let Some(w) = winner { " (by " (name_of(names, &w.member)) ")" }
                            ". "
                        }
                    }
                }
            }
            details.history data-key={ "history-" (r.id()) } {
                summary { "History (" (r.events.len()) ")" }
                ol {
                    @for e in &r.events {
                        li {
                            (z.hhmm(e.at_ms)) " " strong { (run_event_label(e)) }
                            @if let Some(a) = &e.assignee { " → " (name_of(names, a)) }
                            " · " (name_of(names, &e.member))
                            @if let Some(n) = &e.note { " · “" (n) "”" }
                            @if let Some(n) = &e.reason { " · " (n) }
                        }
                    }
                }
            }
            div.actions {
                form method="post" action={ "/dashboard/runs/" (r.id()) "/assign" } {
                    input type="hidden" name="_csrf" value=(s.csrf);
                    input type="hidden" name="day" value=(b.day);
                    select name="assignee" aria-label="Assignee" {
                        option value="" { "— unassigned —" }
                        @for m in assignees(&b.members) {
                            option value=(m.id) selected[r.assigned_pa.as_deref() == Some(m.id.as_str())] { (m.name) " (" (m.role.as_str()) ")" }
                        }
                    }
                    button type="submit" { @if r.assigned_pa.is_some() { "Reassign" } @else { "Assign" } }
                }
                @if r.status == RunStatus::Cancelled {
                    (status_button(s, &b.day, r.id(), "reopen", "Reopen"))
                } @else if is_open(r.status) {
                    (status_button(s, &b.day, r.id(), "cancel", "Cancel"))
                }
                @if r.status == RunStatus::Delivered {
                    (status_button(s, &b.day, r.id(), "reconcile", "Reconcile"))
                }
            }
        }
    }
}

/// What a status event reads as; an `assigned` event naming nobody took the run off its PA.
pub(super) fn run_event_label(e: &LoggedEvent<run::RunEventKind>) -> &'static str {
    use run::RunEventKind::*;
    match e.kind {
        Created => "created",
        Assigned if e.assignee.is_none() => "unassigned",
        Assigned => "assigned",
        Accepted => "accepted",
        EnRoute => "en route",
        PickedUp => "picked up",
        Delivered => "delivered",
        Failed => "failed",
        Cancelled => "cancelled",
        Reopened => "reopened",
        Reconciled => "reconciled",
    }
}

fn status_button(s: &Session, day: &str, run_id: &str, action: &str, label: &str) -> Markup {
    html! {
        form method="post" action={ "/dashboard/runs/" (run_id) "/status" } {
            input type="hidden" name="_csrf" value=(s.csrf);
            input type="hidden" name="day" value=(day);
            input type="hidden" name="action" value=(action);
            button type="submit" class={ "btn-" (action) } { (label) }
        }
    }
}

fn presence_panel(ctx: &Ctx, b: &BoardData, names: &BTreeMap<String, String>, now: i64) -> Markup {
    let z = &ctx.zone;
    let list = ctx.dash.presence.for_production(&ctx.session.production_id);
    let run_title = |id: &str| {
        b.runs
            .iter()
            .find(|r| r.id() == id)
            .map(|r| r.record.title.clone())
            .unwrap_or_else(|| id.to_owned())
    };
    html! {
        section #presence {
            h2 { "PAs on the move" }
            @if list.is_empty() {
                p.empty { "No live position from any PA right now." }
            } @else {
                table.stack {
                    thead { tr { th { "PA" } th { "Run" } th { "Doing" } th { "ETA" } th { "Seen" } } }
                    tbody {
                        @for p in &list {
                            tr data-member=(p.member_id) {
                                td.who { (name_of(names, &p.member_id)) }
                                td data-label="Run" { (p.run_id.as_deref().map(run_title).unwrap_or_else(|| "—".into())) }
                                td data-label="Doing" { (p.status.as_deref().unwrap_or("—")) @if let Some(n) = &p.note { " · " (n) } }
                                td.eta data-label="ETA" {
                                    @if let Some(eta) = p.eta_ms {
                                        (z.hhmm(eta))
                                        @let mins = eta.saturating_sub(now) / 60_000;
                                        @if mins >= 0 { " (in " (mins) " min)" } @else { " (" (-mins) " min ago)" }
                                    } @else { "—" }
                                }
                                td data-label="Seen" { (age(p.at_ms, now)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn board_fragment_markup(ctx: &Ctx, b: &BoardData) -> Markup {
    let now = ctx.now_ms();
    let z = &ctx.zone;
    let names = data::names(&b.members);
    let late = b.runs.iter().filter(|r| is_late(r, now)).count();
    let conflicted: Vec<&Run> = b
        .runs
        .iter()
        .filter(|r| r.conflicts.iter().any(|c| !c.resolved))
        .collect();
    let open = b.runs.iter().filter(|r| is_open(r.status)).count();
    html! {
        (unreadable_note(&b.unreadable))
        p.summary {
            strong { (b.runs.len()) } " runs · " strong { (open) } " open · "
            strong.late-flag[late > 0] { (late) " late" } " · "
            strong.conflict-flag[!conflicted.is_empty()] { (conflicted.len()) " with conflicts" }
            " · updated " span #updated data-updated=(z.clock(now)) { (z.clock(now)) }
        }
        @if !conflicted.is_empty() {
            section #conflicts {
                h2 { "Conflicts to look at" }
                ul { @for r in &conflicted { li { a href={ "#run-" (r.id()) } { (r.record.title) } " — " (r.status.as_str()) } } }
            }
        }
        section #runs.columns {
            @for (label, statuses) in COLUMNS {
                @let runs: Vec<&Run> = b.runs.iter().filter(|r| statuses.contains(&r.status)).collect();
                div.column.empty[runs.is_empty()] data-column=(label) {
                    h2 { (label) " " span.count { (runs.len()) } }
                    @for r in runs { div id={ "run-" (r.id()) } { (run_card(b, &ctx.session, r, &names, now, z)) } }
                }
            }
        }
        (presence_panel(ctx, b, &names, now))
        (tasks_panel(b, &ctx.session, &names, now, z))
    }
}

fn new_run_form(b: &BoardData, s: &Session, z: &Zone, p: Prefill) -> Markup {
    let sel = |name: &str, value: &str, stored: bool| p.selected(name, value, stored);
    html! {
        details.new open[b.runs.is_empty() || p.is_refused()] {
            summary { "New run" }
            form #new-run method="post" action="/dashboard/runs" {
                (p.summary())
                input type="hidden" name="_csrf" value=(s.csrf);
                input type="hidden" name="day" value=(b.day);
                label { "Title" input name="title" required maxlength="200" value=(p.value("title", "")); (p.error("title")) }
                label { "Kind" select name="kind" {
                    @for k in run::RunKind::ALL { @let (v, l) = forms::run_kind_name(k); option value=(v) selected[sel("kind", v, false)] { (l) } }
                } (p.error("kind")) }
                label { "Requested by" input name="requested_by" required value=(p.value("requested_by", "")); (p.error("requested_by")) }
                label { "Department" input name="department" value=(p.value("department", "")); (p.error("department")) }
                label { "Priority" select name="priority" {
                    option value="normal" selected[sel("priority", "normal", true)] { "Normal" }
                    option value="urgent" selected[sel("priority", "urgent", false)] { "Urgent" }
                } (p.error("priority")) }
                label { "Needed by (" (z.name()) ")" input name="needed_by" placeholder="HH:MM" value=(p.value("needed_by", "")); (p.error("needed_by")) }
                label { "Stop" input name="stop" placeholder="where to go" value=(p.value("stop", "")); (p.error("stop")) }
                label { "Address" input name="address" value=(p.value("address", "")); (p.error("address")) }
                label { "Assign to" select name="assignee" {
                    option value="" { "— unassigned —" }
                    @for m in assignees(&b.members) { option value=(m.id) selected[sel("assignee", &m.id, false)] { (m.name) " (" (m.role.as_str()) ")" } }
                } (p.error("assignee")) }
                button type="submit" { "Create run" }
            }
        }
    }
}

/// Which of the board's forms a refusal came back to.
pub(super) enum BoardRefill {
    None,
    NewRun(Refill),
    NewTask(Refill),
}

/// The board page; after a refused new run or task, that form again with what was typed.
pub(super) async fn board_page(ctx: &Ctx, day: &str, refill: BoardRefill) -> DashResult<Response> {
    let b = data::board(ctx, day).await?;
    let has_key = signin_key_created(ctx).await?.is_some();
    let (status, run_p, task_p) = match &refill {
        BoardRefill::None => (StatusCode::OK, Prefill::none(), Prefill::none()),
        BoardRefill::NewRun(r) => (r.status(), Prefill::new(Some(r)), Prefill::none()),
        BoardRefill::NewTask(r) => (r.status(), Prefill::none(), Prefill::new(Some(r))),
    };
    let body = html! {
        h1 { (b.production.title) " — board for " (day) }
        p #zone.hint { "Times are in " (ctx.zone.name()) " (the production's time zone)." }
        @if !has_key { (signin_key_banner()) }
        (new_run_form(&b, &ctx.session, &ctx.zone, run_p))
        (new_task_form(&b, &ctx.session, &ctx.zone, task_p))
        div #board data-live="board presence" data-src={ "/dashboard/fragment/board?day=" (day) } {
            (board_fragment_markup(ctx, &b))
        }
        p #live-status.live { "connecting…" }
    };
    Ok(html_response(
        status,
        page("Board", Some(&ctx.session), Some(day), body),
    ))
}

pub async fn board(ctx: Ctx, q: Q) -> DashResult<Response> {
    ctx.require_office()?;
    let q = query(q)?;
    let day = day_of(&ctx, &q)?;
    board_page(&ctx, &day, BoardRefill::None).await
}

pub async fn board_fragment(ctx: Ctx, q: Q) -> DashResult<Response> {
    ctx.require_office()?;
    let q = query(q)?;
    let day = day_of(&ctx, &q)?;
    let b = data::board(&ctx, &day).await?;
    Ok(html_response(
        StatusCode::OK,
        board_fragment_markup(&ctx, &b),
    ))
}

pub(super) fn back_to_board(day: &str) -> Response {
    see_other(format!("/dashboard/board?day={day}"))
}

/// An active member of this production who can take runs (not crew).
pub(super) async fn check_assignee(ctx: &Ctx, id: Option<&str>) -> DashResult<()> {
    let Some(id) = id else { return Ok(()) };
    let ok = data::members(ctx)
        .await?
        .iter()
        .any(|m| m.id == id && m.revoked_at_ms.is_none() && m.role != Role::Crew);
    if ok {
        Ok(())
    } else {
        Err(DashError::bad_request(format!(
            "`{}` is not an active PA, office or coordinator member of your production; nothing was changed",
            id.chars().take(60).collect::<String>()
        )))
    }
}

pub async fn create_run(ctx: Ctx, f: F) -> DashResult<Response> {
    ctx.require_office()?;
    let f = form(f)?;
    ctx.check_csrf(f.csrf())?;
    let day = ctx.day(f.raw("day"))?;
    match create_run_from(&ctx, &day, &f).await {
        Ok(()) => Ok(back_to_board(&day)),
        Err(e) => board_page(&ctx, &day, BoardRefill::NewRun(Refill::of(f, e)?)).await,
    }
}

async fn create_run_from(ctx: &Ctx, day: &str, f: &Fields) -> DashResult<()> {
    let mut new = NewRun::new(
        forms::run_kind(f.raw("kind").unwrap_or("")).map_err(|e| e.on("kind"))?,
        f.required("title", "A title")?,
        f.required("requested_by", "Requested by")?,
    );
    new.department = f.opt("department")?;
    new.priority = forms::priority(f.raw("priority")).map_err(|e| e.on("priority"))?;
    new.needed_by = match f.opt("needed_by")? {
        Some(t) => Some(
            forms::time_on_day("Needed by", day, &t, &ctx.zone).map_err(|e| e.on("needed_by"))?,
        ),
        None => None,
    };
    if let Some(label) = f.opt("stop")? {
        new.stops.push(StopInput {
            label,
            address: f.opt("address")?,
            ..StopInput::default()
        });
    }
    let assignee = f.opt("assignee")?;
    check_assignee(ctx, assignee.as_deref())
        .await
        .map_err(|e| e.on("assignee"))?;
    let board = data::ensure_board(ctx, day).await?;
    let run_id = data::write(ctx, board, move |doc, by, at| {
        run::create_run(doc, by, at, new)
    })
    .await?;
    if let Some(a) = assignee {
        data::write(ctx, board, move |doc, by, at| {
            run::assign(doc, by, at, &run_id, &a, EventContext::none())
        })
        .await?;
    }
    Ok(())
}

pub async fn assign_run(ctx: Ctx, Path(run_id): Path<String>, f: F) -> DashResult<Response> {
    ctx.require_office()?;
    let f = form(f)?;
    ctx.check_csrf(f.csrf())?;
    let day = ctx.day(f.raw("day"))?;
    let assignee = f.opt("assignee")?;
    check_assignee(&ctx, assignee.as_deref()).await?;
    let board = data::existing_board(&ctx, &day).await?;
    // No one chosen takes the run off its PA.
    data::write(&ctx, board, move |doc, by, at| match assignee {
        Some(a) => run::assign(doc, by, at, &run_id, &a, EventContext::none()),
        None => run::unassign(doc, by, at, &run_id, EventContext::none()),
    })
    .await?;
    Ok(back_to_board(&day))
}

pub async fn run_status(ctx: Ctx, Path(run_id): Path<String>, f: F) -> DashResult<Response> {
    ctx.require_office()?;
    let f = form(f)?;
    ctx.check_csrf(f.csrf())?;
    let day = ctx.day(f.raw("day"))?;
    let event = match f.raw("action").unwrap_or("") {
        "cancel" => RunEvent::Cancel,
        "reopen" => RunEvent::Reopen,
        "reconcile" => RunEvent::Reconcile,
        other => {
            return Err(DashError::bad_request(format!(
                "`{}` is not something the dashboard does to a run (cancel, reopen, reconcile); nothing was changed",
                other.chars().take(40).collect::<String>()
            )))
        }
    };
    let note = f.opt("note")?;
    let board = data::existing_board(&ctx, &day).await?;
    data::write(&ctx, board, move |doc, by, at| {
        let ctx = EventContext {
            note,
            location: None,
        };
        run::record_status(doc, by, at, &run_id, event, ctx)
    })
    .await?;
    Ok(back_to_board(&day))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::Zone;

    #[test]
    fn times_from_synced_documents_render_whatever_their_value() {
        let now = 1_700_000_000_000;
        assert_eq!(age(now - 5 * 60_000, now), "5 min");
        assert_eq!(age(now + 60_000, now), "just now");
        assert_eq!(
            age(i64::MIN, now),
            format!("{} days", i64::MAX / 60_000 / (24 * 60))
        );
        assert_eq!(age(i64::MAX, i64::MIN), "just now");
        let z = Zone::utc();
        assert_eq!(z.hhmm(i64::MIN).len(), 5);
        assert_eq!(z.hhmm(-60_000), "23:59");
        assert_eq!(z.hhmm(i64::MAX).len(), 5);
    }
}
