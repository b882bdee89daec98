//! Pages and form handlers. HTML is rendered with maud (escaped by construction); every
//! POST handler checks role, then the CSRF token, then parses, then runs one domain op.

use std::collections::{BTreeMap, HashMap};

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::{html, Markup, DOCTYPE};
use setlink_core::model::callsheet::{self, CallSheet, Revision};
use setlink_core::model::run::{self, NewRun, Run, RunEvent, RunStatus, StopInput};
use setlink_core::model::task::{self, NewTask, TaskEvent, TaskStatus};
use setlink_core::model::{EventContext, Priority, Unreadable};
use setlink_core::Role;

use super::data::{self, AckData, BoardData};
use super::forms::{self, Fields};
use super::session::{self, Ctx, Session, Sessions};
use super::{pdf, DashError, DashResult, Dashboard};
use crate::auth::now_ms;
use crate::http::AppState;
use crate::storage::Member;
use crate::zone::Zone;

type Q = Result<Query<HashMap<String, String>>, QueryRejection>;
type F = Result<Form<Vec<(String, String)>>, FormRejection>;

fn query(q: Q) -> DashResult<HashMap<String, String>> {
    q.map(|Query(q)| q)
        .map_err(|e| DashError::bad_request(format!("bad query string: {}", e.body_text())))
}

fn form(f: F) -> DashResult<Fields> {
    f.map(|Form(v)| Fields(v)).map_err(|e| {
        DashError::new(
            e.status(),
            format!(
                "the form could not be read ({}); nothing was changed",
                e.body_text()
            ),
        )
    })
}

fn day_of(ctx: &Ctx, q: &HashMap<String, String>) -> DashResult<String> {
    ctx.day(q.get("day").map(String::as_str))
}

// ---------------------------------------------------------------------------------------
// Layout

fn page(title: &str, session: Option<&Session>, day: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · setlink" }
                link rel="stylesheet" href="/dashboard/static/app.css";
                script src="/dashboard/static/app.js" defer {}
            }
            body {
                header.top {
                    span.brand { "setlink" }
                    @if let Some(s) = session {
                        @let d = day.unwrap_or("");
                        nav {
                            a href={ "/dashboard/board?day=" (d) } { "Board" }
                            a href={ "/dashboard/callsheet?day=" (d) } { "Call sheet" }
                            a href={ "/dashboard/acks?day=" (d) } { "Acknowledgements" }
                            a href={ "/dashboard/print?day=" (d) } { "Print" }
                            a href="/dashboard/signin-key" { "Sign-in key" }
                        }
                        @if let Some(d) = day {
                            form.day method="get" {
                                label { "Day " input type="date" name="day" value=(d); }
                                button type="submit" { "Go" }
                            }
                        }
                        span.who { (s.name) " · " (s.role.as_str()) }
                        form.signout method="post" action="/dashboard/signout" {
                            input type="hidden" name="_csrf" value=(s.csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// Only our own scripts, styles and form targets; never framed (a framed dashboard could
/// be clickjacked into cancelling runs).
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn html_response(status: StatusCode, m: Markup) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "same-origin"),
        ],
        m.into_string(),
    )
        .into_response()
}

pub fn error_page(status: StatusCode, message: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    let body = html! {
        section.error {
            h1 { (status.as_u16()) " " (title) }
            p #error role="alert" { (message) }
            p {
                @if status == StatusCode::UNAUTHORIZED {
                    a href="/dashboard/signin" { "Sign in" }
                } @else {
                    a href="/dashboard/board" { "Back to the board" }
                }
            }
        }
    };
    html_response(status, page(title, None, None, body))
}

/// "1 run could not be read: <id> — <why>": what a page left out, grouped by kind of
/// record, so a person knows the view is incomplete and what to look at. Empty when
/// everything was read.
fn unreadable_note(list: &[Unreadable]) -> Markup {
    fn plural(what: &str, n: usize) -> String {
        if n == 1 {
            what.to_owned()
        } else if let Some(stem) = what
            .strip_suffix('y')
            .filter(|s| !s.ends_with(['a', 'e', 'o', 'u']))
        {
            format!("{stem}ies")
        } else {
            format!("{what}s")
        }
    }
    let mut groups: Vec<(&str, Vec<&Unreadable>)> = Vec::new();
    for u in list {
        match groups.iter_mut().find(|(w, _)| *w == u.what) {
            Some((_, g)) => g.push(u),
            None => groups.push((u.what, vec![u])),
        }
    }
    html! {
        @if !groups.is_empty() {
            section.unreadable #unreadable role="note" {
                ul {
                    @for (what, items) in &groups {
                        @if let [u] = items.as_slice() {
                            li { "1 " (what) " could not be read: " code { (u.id) } " — " (u.why) }
                        } @else {
                            li {
                                (items.len()) " " (plural(what, items.len())) " could not be read:"
                                ul { @for u in items { li { code { (u.id) } " — " (u.why) } } }
                            }
                        }
                    }
                }
                p.hint { "Everything else is shown. These were written by a newer or faulty app; they stay in the document untouched." }
            }
        }
    }
}

fn see_other(to: String) -> Response {
    Redirect::to(&to).into_response()
}

// ---------------------------------------------------------------------------------------
// Sign-in

pub async fn home(
    State(state): State<AppState>,
    Extension(dash): Extension<std::sync::Arc<Dashboard>>,
    headers: HeaderMap,
) -> Response {
    dash.start_watcher(&state.hub);
    let signed_in = match session::cookie_secret(&headers) {
        Some(s) => Sessions::get(state.storage().as_ref(), &s).await.is_ok(),
        None => false,
    };
    if signed_in {
        see_other("/dashboard/board".into())
    } else {
        see_other("/dashboard/signin".into())
    }
}

fn signin_page(status: StatusCode, error: Option<&str>) -> Response {
    let body = html! {
        section.signin {
            h1 { "Sign in to the dashboard" }
            p { "Use your sign-in key, or the coordinator or office invite code you were given (the demo prints one per role), or an access token from one of your devices." }
            @if let Some(e) = error { p #error role="alert" { (e) } }
            form method="post" action="/dashboard/signin" {
                label { "Sign-in key, invite code or access token" input #signin-code type="password" name="code" autocomplete="current-password" required autofocus; }
                label { "Your name " small { "(only for a first sign-in with a new code)" } input name="name" autocomplete="name"; }
                button type="submit" { "Sign in" }
            }
        }
    };
    html_response(status, page("Sign in", None, None, body))
}

pub async fn signin_form(
    State(state): State<AppState>,
    Extension(dash): Extension<std::sync::Arc<Dashboard>>,
) -> Response {
    dash.start_watcher(&state.hub);
    signin_page(StatusCode::OK, None)
}

pub async fn signin(
    State(state): State<AppState>,
    Extension(dash): Extension<std::sync::Arc<Dashboard>>,
    connect: Option<Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    f: F,
) -> Response {
    dash.start_watcher(&state.hub);
    let ip = connect.map(|Extension(axum::extract::ConnectInfo(a))| a.ip());
    match signin_inner(&state, ip, &headers, f).await {
        Ok(r) => r,
        Err(e) if e.status == StatusCode::UNAUTHORIZED || e.status == StatusCode::BAD_REQUEST => {
            signin_page(e.status, Some(&e.message))
        }
        Err(e) => e.into_response(),
    }
}

fn refuse_app_role(role: Role, what: &str) -> DashError {
    DashError::forbidden(format!(
        "the dashboard is for coordinators and the production office; a {role} uses the setlink app{what}"
    ))
}

async fn signin_inner(
    state: &AppState,
    ip: Option<std::net::IpAddr>,
    headers: &HeaderMap,
    f: F,
) -> DashResult<Response> {
    session::check_same_origin(headers)?;
    let f = form(f)?;
    let code = f.required("code", "The sign-in key, invite code or access token")?;
    // Every guess counts against the caller's address and against the secret guessed.
    if let Err(retry) = state.settings.sign_in_limits.check(ip, &code) {
        return Ok(crate::limits::too_many(retry, "sign-in attempts"));
    }
    let storage = state.storage().as_ref();
    let unauthorized =
        |why: String| DashError::new(StatusCode::UNAUTHORIZED, format!("cannot sign in: {why}"));
    let device_id = format!("dashboard-{}", &session::random_secret()[..12]);
    let (member_id, token_hash) = if code.starts_with("slk_") {
        let p = crate::auth::authenticate(storage, &code, now_ms())
            .await
            .map_err(|e| match e {
                crate::auth::AuthError::Storage(e) => DashError::internal(e),
                other => unauthorized(other.to_string()),
            })?;
        (p.member_id, Some(p.token_hash))
    } else if crate::auth::is_signin_key(&code) {
        let member = storage
            .signin_key_member(crate::auth::hash_signin_key(&code))
            .await
            .map_err(DashError::internal)?
            .ok_or_else(|| {
                unauthorized(
                    "unknown sign-in key (a newer key replaces the old one); sign in with an invite code or ask a coordinator for one".into(),
                )
            })?;
        (member, None)
    } else {
        // An invite code. PA and crew codes are refused before anything is redeemed: the
        // code keeps its uses and no member is created.
        if let Some(invite) = storage
            .invite(crate::auth::hash_invite_code(&code))
            .await
            .map_err(DashError::internal)?
        {
            if matches!(invite.role, Role::Pa | Role::Crew) {
                return Err(refuse_app_role(
                    invite.role,
                    "; the code was not used, so it still works in the app",
                ));
            }
        }
        let name = f.opt("name")?.unwrap_or_else(|| "Dashboard".to_owned());
        // The dashboard's device token lives as long as its session, not a phone's 90 days.
        let mut settings = (*state.settings).clone();
        settings.token_ttl = session::SESSION_TTL;
        let red = crate::admin::redeem(&state.hub, &settings, &code, &name, &device_id)
            .await
            .map_err(|e| match e {
                crate::admin::AdminError::Internal(m) => DashError::internal(m),
                crate::admin::AdminError::Invalid(m) => DashError::bad_request(m),
                other => unauthorized(other.to_string()),
            })?;
        (red.member_id, Some(crate::auth::hash_secret(&red.token)))
    };
    let member = storage
        .member(member_id)
        .await
        .map_err(DashError::internal)?
        .filter(|m| m.revoked_at_ms.is_none())
        .ok_or_else(|| unauthorized("this member has been revoked".into()))?;
    if matches!(member.role, Role::Pa | Role::Crew) {
        return Err(refuse_app_role(member.role, ""));
    }
    let secret = Sessions::open(storage, &member, device_id, token_hash)
        .await
        .map_err(DashError::internal)?;
    let mut resp = see_other("/dashboard/board".into());
    if let Ok(v) = session::set_cookie(headers, &secret).parse() {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

pub async fn signout(ctx: Ctx, headers: HeaderMap, f: F) -> DashResult<Response> {
    let f = form(f)?;
    ctx.check_csrf(f.csrf())?;
    if let Some(secret) = session::cookie_secret(&headers) {
        Sessions::close(ctx.state.storage().as_ref(), &secret)
            .await
            .map_err(DashError::internal)?;
    }
    let mut resp = see_other("/dashboard/signin".into());
    if let Ok(v) = session::clear_cookie().parse() {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// When the member's sign-in key was made, if they have one.
async fn signin_key_created(ctx: &Ctx) -> DashResult<Option<i64>> {
    ctx.state
        .storage()
        .signin_key_created(ctx.session.member_id.clone())
        .await
        .map_err(DashError::internal)
}

/// The reminder on the board for a member who has no sign-in key yet.
fn signin_key_banner() -> Markup {
    html! {
        p #signin-key-banner.notice {
            "You signed in with an invite code. "
            a href="/dashboard/signin-key" { "Make your sign-in key" }
            " to sign in again without a new code."
        }
    }
}

fn signin_key_markup(
    session: &Session,
    zone: &Zone,
    created: Option<i64>,
    new_key: Option<&str>,
) -> Markup {
    html! {
        h1 { "Your sign-in key" }
        p { "Your sign-in key is yours alone and signs you in to this dashboard again and again, on any browser, without a new invite code. Keep it in your password manager. Revoking you as a member ends it, with every session." }
        @if let Some(key) = new_key {
            section #new-key {
                p { strong { "Your new sign-in key (shown once):" } }
                p { code #signin-key { (key) } }
                p { "Or bookmark this sign-in link; the key stays in the part of the link the browser never sends:" }
                p { a #signin-link href={ "/dashboard/signin#key=" (key) } { "/dashboard/signin#key=" (key) } }
            }
        } @else if let Some(at) = created {
            p #key-state { "You have a sign-in key (made " (zone.date_time(at)) "). Making a new one replaces it." }
        } @else {
            p #key-state { "You have no sign-in key yet." }
        }
        form method="post" action="/dashboard/signin-key" {
            input type="hidden" name="_csrf" value=(session.csrf);
            button type="submit" { @if created.is_some() || new_key.is_some() { "Make a new sign-in key" } @else { "Make my sign-in key" } }
        }
    }
}

pub async fn signin_key_page(ctx: Ctx) -> DashResult<Response> {
    let created = signin_key_created(&ctx).await?;
    Ok(html_response(
        StatusCode::OK,
        page(
            "Sign-in key",
            Some(&ctx.session),
            None,
            signin_key_markup(&ctx.session, &ctx.zone, created, None),
        ),
    ))
}

/// Makes (or replaces) the member's sign-in key and shows it once.
pub async fn new_signin_key(ctx: Ctx, f: F) -> DashResult<Response> {
    let f = form(f)?;
    ctx.check_csrf(f.csrf())?;
    let key = crate::auth::new_signin_key();
    let now = now_ms();
    ctx.state
        .storage()
        .set_signin_key(
            ctx.session.member_id.clone(),
            crate::auth::hash_signin_key(&key),
            now,
        )
        .await
        .map_err(DashError::internal)?;
    Ok(html_response(
        StatusCode::OK,
        page(
            "Sign-in key",
            Some(&ctx.session),
            None,
            signin_key_markup(&ctx.session, &ctx.zone, Some(now), Some(&key)),
        ),
    ))
}

// ---------------------------------------------------------------------------------------
// Board

/// How long ago `ms` was. `ms` comes from synced documents, which any peer with write
/// access may fill with any `i64`, so the difference saturates instead of overflowing.
fn age(ms: i64, now: i64) -> String {
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

fn name_of<'a>(names: &'a BTreeMap<String, String>, id: &'a str) -> &'a str {
    names.get(id).map(String::as_str).unwrap_or(id)
}

fn status_class(s: &str) -> String {
    format!("status s-{}", s.replace(' ', "-"))
}

fn assignees(members: &[Member]) -> Vec<&Member> {
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
            @if !open_conflicts.is_empty() {
                div.conflict role="note" {
                    strong { "Conflict: " }
                    @for c in &open_conflicts {
                        @let winner = r.events.iter().find(|e| e.id == c.lost_to);
                        span {
                            "“" (c.event_kind.replace('_', " ")) "” happened concurrently and lost to “"
                            (winner.map(|w| run_event_label(w.kind)).unwrap_or("another event")) "”"
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
                            (z.hhmm(e.at_ms)) " " strong { (run_event_label(e.kind)) }
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

fn run_event_label(k: run::RunEventKind) -> &'static str {
    use run::RunEventKind::*;
    match k {
        Created => "created",
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
                table {
                    thead { tr { th { "PA" } th { "Run" } th { "Doing" } th { "ETA" } th { "Seen" } } }
                    tbody {
                        @for p in &list {
                            tr data-member=(p.member_id) {
                                td { (name_of(names, &p.member_id)) }
                                td { (p.run_id.as_deref().map(run_title).unwrap_or_else(|| "—".into())) }
                                td { (p.status.as_deref().unwrap_or("—")) @if let Some(n) = &p.note { " · " (n) } }
                                td.eta {
                                    @if let Some(eta) = p.eta_ms {
                                        (z.hhmm(eta))
                                        @let mins = eta.saturating_sub(now) / 60_000;
                                        @if mins >= 0 { " (in " (mins) " min)" } @else { " (" (-mins) " min ago)" }
                                    } @else { "—" }
                                }
                                td { (age(p.at_ms, now)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn tasks_panel(
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
                div.column data-column=(label) {
                    h2 { (label) " " span.count { (runs.len()) } }
                    @for r in runs { div id={ "run-" (r.id()) } { (run_card(b, &ctx.session, r, &names, now, z)) } }
                }
            }
        }
        (presence_panel(ctx, b, &names, now))
        (tasks_panel(b, &ctx.session, &names, now, z))
    }
}

fn new_run_form(b: &BoardData, s: &Session, z: &Zone) -> Markup {
    html! {
        details.new open[b.runs.is_empty()] {
            summary { "New run" }
            form #new-run method="post" action="/dashboard/runs" {
                input type="hidden" name="_csrf" value=(s.csrf);
                input type="hidden" name="day" value=(b.day);
                label { "Title" input name="title" required maxlength="200"; }
                label { "Kind" select name="kind" {
                    @for k in run::RunKind::ALL { @let (v, l) = forms::run_kind_name(k); option value=(v) { (l) } }
                } }
                label { "Requested by" input name="requested_by" required; }
                label { "Department" input name="department"; }
                label { "Priority" select name="priority" { option value="normal" { "Normal" } option value="urgent" { "Urgent" } } }
                label { "Needed by (" (z.name()) ")" input name="needed_by" placeholder="HH:MM"; }
                label { "Stop" input name="stop" placeholder="where to go"; }
                label { "Address" input name="address"; }
                label { "Assign to" select name="assignee" {
                    option value="" { "— unassigned —" }
                    @for m in assignees(&b.members) { option value=(m.id) { (m.name) " (" (m.role.as_str()) ")" } }
                } }
                button type="submit" { "Create run" }
            }
        }
        details.new {
            summary { "New task" }
            form #new-task method="post" action="/dashboard/tasks" {
                input type="hidden" name="_csrf" value=(s.csrf);
                input type="hidden" name="day" value=(b.day);
                label { "Title" input name="title" required maxlength="200"; }
                label { "Category" select name="category" {
                    @for (_, v, l) in forms::TASK_CATEGORIES { option value=(v) { (l) } }
                } }
                label { "Assign to" select name="assignee" {
                    option value="" { "— unassigned —" }
                    @for m in assignees(&b.members) { option value=(m.id) { (m.name) } }
                } }
                label { "Due (" (z.name()) ")" input name="due" placeholder="HH:MM"; }
                label { "Priority" select name="priority" { option value="normal" { "Normal" } option value="urgent" { "Urgent" } } }
                label { "Checklist (one per line)" textarea name="checklist" rows="3" {} }
                label { "Notes" textarea name="notes" rows="2" {} }
                button type="submit" { "Create task" }
            }
        }
    }
}

pub async fn board(ctx: Ctx, q: Q) -> DashResult<Response> {
    ctx.require_office()?;
    let q = query(q)?;
    let day = day_of(&ctx, &q)?;
    let b = data::board(&ctx, &day).await?;
    let has_key = signin_key_created(&ctx).await?.is_some();
    let body = html! {
        h1 { (b.production.title) " — board for " (day) }
        p #zone.hint { "Times are in " (ctx.zone.name()) " (the production's time zone)." }
        @if !has_key { (signin_key_banner()) }
        (new_run_form(&b, &ctx.session, &ctx.zone))
        div #board data-live="board presence" data-src={ "/dashboard/fragment/board?day=" (day) } {
            (board_fragment_markup(&ctx, &b))
        }
        p #live-status.live { "connecting…" }
    };
    Ok(html_response(
        StatusCode::OK,
        page("Board", Some(&ctx.session), Some(&day), body),
    ))
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

fn back_to_board(day: &str) -> Response {
    see_other(format!("/dashboard/board?day={day}"))
}

/// An active member of this production who can take runs (not crew).
async fn check_assignee(ctx: &Ctx, id: Option<&str>) -> DashResult<()> {
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
    let mut new = NewRun::new(
        forms::run_kind(f.raw("kind").unwrap_or(""))?,
        f.required("title", "A title")?,
        f.required("requested_by", "Requested by")?,
    );
    new.department = f.opt("department")?;
    new.priority = forms::priority(f.raw("priority"))?;
    new.needed_by = match f.opt("needed_by")? {
        Some(t) => Some(forms::time_on_day("Needed by", &day, &t, &ctx.zone)?),
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
    check_assignee(&ctx, assignee.as_deref()).await?;
    let board = data::ensure_board(&ctx, &day).await?;
    let run_id = data::write(&ctx, board, move |doc, by, at| {
        run::create_run(doc, by, at, new)
    })
    .await?;
    if let Some(a) = assignee {
        data::write(&ctx, board, move |doc, by, at| {
            run::assign(doc, by, at, &run_id, &a, EventContext::none())
        })
        .await?;
    }
    Ok(back_to_board(&day))
}

pub async fn assign_run(ctx: Ctx, Path(run_id): Path<String>, f: F) -> DashResult<Response> {
    ctx.require_office()?;
    let f = form(f)?;
    ctx.check_csrf(f.csrf())?;
    let day = ctx.day(f.raw("day"))?;
    let assignee = f.opt("assignee")?;
    check_assignee(&ctx, assignee.as_deref()).await?;
    let board = data::existing_board(&ctx, &day).await?;
    // The domain's assign takes a member; clearing the assignee is a reopen without one.
    let Some(assignee) = assignee else {
        return Err(DashError::bad_request(
            "choose who to assign the run to (to take it off someone, cancel and reopen it); nothing was changed",
        ));
    };
    data::write(&ctx, board, move |doc, by, at| {
        run::assign(doc, by, at, &run_id, &assignee, EventContext::none())
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

pub async fn create_task(ctx: Ctx, f: F) -> DashResult<Response> {
    ctx.require_office()?;
    let f = form(f)?;
    ctx.check_csrf(f.csrf())?;
    let day = ctx.day(f.raw("day"))?;
    let mut new = NewTask::new(
        f.required("title", "A title")?,
        forms::task_category(f.raw("category").unwrap_or(""))?,
    );
    new.assignee = f.opt("assignee")?;
    check_assignee(&ctx, new.assignee.as_deref()).await?;
    new.due = match f.opt("due")? {
        Some(t) => Some(forms::time_on_day("Due", &day, &t, &ctx.zone)?),
        None => None,
    };
    new.priority = forms::priority(f.raw("priority"))?;
    new.checklist = f
        .opt("checklist")?
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    new.notes = f.opt("notes")?;
    let board = data::ensure_board(&ctx, &day).await?;
    data::write(&ctx, board, move |doc, by, at| {
        task::create_task(doc, by, at, new)
    })
    .await?;
    Ok(back_to_board(&day))
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

// ---------------------------------------------------------------------------------------
// Call sheet

fn colour_name(c: callsheet::Colour) -> &'static str {
    use callsheet::Colour::*;
    match c {
        White => "White",
        Blue => "Blue",
        Pink => "Pink",
        Yellow => "Yellow",
        Green => "Green",
        Goldenrod => "Goldenrod",
        Buff => "Buff",
        Salmon => "Salmon",
        Cherry => "Cherry",
    }
}

pub fn revision_label(r: &Revision) -> String {
    format!("Revision {} ({})", r.number, colour_name(r.colour))
}

/// The draft editor; `editable` is false for the office, who may read drafts only.
fn sheet_form(day: &str, s: &Session, sheet: &CallSheet, editable: bool) -> Markup {
    let t = forms::sheet_text(sheet);
    let h = &sheet.header;
    let o = |v: &Option<String>| v.clone().unwrap_or_default();
    let n = |v: Option<i64>| v.map(|x| x.to_string()).unwrap_or_default();
    let hosp = sheet.nearest_hospital.clone().unwrap_or_default();
    let w = &sheet.weather;
    let area = |name: &str, label: &str, hint: &str, value: &str, rows: usize| {
        html! {
            label.wide { (label) " " small.hint { (hint) } textarea name=(name) rows=(rows) { (value) } }
        }
    };
    html! {
        form #sheet method="post" action={ "/dashboard/callsheet?day=" (day) } {
            input type="hidden" name="_csrf" value=(s.csrf);
            // A disabled fieldset disables every control inside it.
            fieldset.plain disabled[!editable] {
            fieldset { legend { "Header" }
                label { "Production" input name="production_title" value=(h.production_title) required; }
                label { "Date" input value=(day) disabled; }
                label { "Day" input name="day_number" value=(n(h.day_number)) size="4"; }
                label { "of" input name="total_days" value=(n(h.total_days)) size="4"; }
                label { "Call sheet #" input name="call_sheet_number" value=(n(h.call_sheet_number)) size="4"; }
                label { "Director" input name="director" value=(o(&h.director)); }
                label { "Producers" input name="producers" value=(h.producers.join(", ")) placeholder="comma separated"; }
                label { "UPM" input name="upm" value=(o(&h.upm)); }
                label { "ADs" input name="ads" value=(h.ads.join(", ")) placeholder="comma separated"; }
                label { "Production office phone" input name="production_office_phone" value=(o(&h.production_office_phone)); }
            }
            fieldset { legend { "Times" }
                label { "General crew call" input name="general_call" value=(forms::fmt_minutes(sheet.times.general_call)) placeholder="HH:MM" size="6"; }
                label { "Shooting call" input name="shooting_call" value=(forms::fmt_minutes(sheet.times.shooting_call)) placeholder="HH:MM" size="6"; }
                label { "Estimated wrap" input name="estimated_wrap" value=(forms::fmt_minutes(sheet.times.estimated_wrap)) placeholder="HH:MM" size="6"; }
                (area("meals", "Meals", "label | HH:MM", &t.meals, 2))
            }
            fieldset { legend { "Weather" }
                label { "High" input name="weather_high" value=(n(w.high)) size="4"; }
                label { "Low" input name="weather_low" value=(n(w.low)) size="4"; }
                label { "Unit" select name="weather_unit" {
                    option value="F" selected[w.unit == callsheet::TempUnit::Fahrenheit] { "°F" }
                    option value="C" selected[w.unit == callsheet::TempUnit::Celsius] { "°C" }
                } }
                label { "Conditions" input name="weather_conditions" value=(o(&w.conditions)); }
                label { "Rain %" input name="rain_chance" value=(n(w.rain_chance_percent)) size="4"; }
                label { "Sunrise" input name="sunrise" value=(forms::fmt_minutes(w.sunrise)) size="6"; }
                label { "Sunset" input name="sunset" value=(forms::fmt_minutes(w.sunset)) size="6"; }
                label { "Weather-cover set" input name="weather_cover_set" value=(o(&w.weather_cover_set)); }
            }
            fieldset { legend { "Locations" }
                (area("locations", "Locations", "name | address | parking | basecamp | notes", &t.locations, 3))
                label { "Nearest hospital" input name="hospital_name" value=(hosp.name); }
                label { "Address" input name="hospital_address" value=(hosp.address); }
                label { "Phone" input name="hospital_phone" value=(hosp.phone); }
            }
            fieldset { legend { "Scenes" }
                (area("scenes", "Scenes", "number | INT/EXT | set | D/N | description | cast numbers | pages (1 3/8) | location", &t.scenes, 4))
            }
            fieldset { legend { "Cast" }
                (area("cast", "Cast", "number | character | actor | status | pickup | hair/makeup | on set | notes", &t.cast, 4))
            }
            fieldset { legend { "Background" }
                (area("background", "Background", "count | description | report time | report place | notes", &t.background, 2))
            }
            fieldset { legend { "Crew calls" }
                (area("crew_calls", "Crew calls by department", "department | position | name | call: HH:MM, or an offset from general call like -30 or +15. A name that is a member's name becomes that member's own call on their phone.", &t.crew_calls, 6))
            }
            fieldset { legend { "Notes and schedule" }
                (area("department_notes", "Department notes", "department | note", &t.department_notes, 3))
                (area("advance_schedule", "Advance schedule", "YYYY-MM-DD | summary | scene numbers", &t.advance_schedule, 3))
                (area("walkie_channels", "Walkie channels", "channel | name", &t.walkie_channels, 3))
                (area("safety_notes", "Safety notes", "one per line", &t.safety_notes, 3))
            }
            @if editable { button type="submit" { "Save draft" } }
            }
        }
    }
}

pub async fn callsheet_form(ctx: Ctx, q: Q) -> DashResult<Response> {
    // The office reads drafts (PRODUCT.md's role table); only coordinators edit and publish.
    ctx.require_office()?;
    let editable = ctx.session.is_coordinator();
    let q = query(q)?;
    let day = day_of(&ctx, &q)?;
    let d = data::sheet(&ctx, &day).await?;
    let latest = d.revisions.last();
    let body = html! {
        h1 { "Call sheet for " (day) }
        (unreadable_note(&d.unreadable()))
        @if editable && !d.draft_unreadable.is_empty() {
            p.hint { "Saving the draft removes from it the rows that could not be read." }
        }
        @if q.contains_key("saved") { p.ok role="status" { "Draft saved." } }
        @if let Some(n) = q.get("published") { p.ok role="status" { "Published revision " (n) "; devices receive it with their next sync." } }
        section.revisions {
            h2 { "Published" }
            @if d.revisions.is_empty() { p { "Nothing published for this day yet." } }
            ul {
                @for r in d.revisions.iter().rev() {
                    li {
                        span class={ "swatch c-" (colour_name(r.colour).to_lowercase()) } {}
                        (revision_label(r)) " · " (ctx.zone.clock(r.published_at))
                        @if !r.summary.is_empty() { " · " (r.summary) }
                        " · " a href={ "/dashboard/print?day=" (day) "&rev=" (r.number) } { "print" }
                        " · " a href={ "/dashboard/print.pdf?day=" (day) "&rev=" (r.number) } { "PDF" }
                    }
                }
            }
            @if !editable {
                p.readonly { "Read-only: the office reads drafts; a coordinator edits and publishes them." }
            } @else if d.draft_doc.is_some() {
                form #publish method="post" action={ "/dashboard/callsheet/publish?day=" (day) } {
                    input type="hidden" name="_csrf" value=(ctx.session.csrf);
                    label { "Summary of changes" @if latest.is_some() { " (required)" }
                        input name="summary" size="50"; }
                    button type="submit" { "Publish revision " (latest.map(|r| r.number.saturating_add(1)).unwrap_or(1)) }
                }
            } @else {
                p { "Save the draft once before publishing." }
            }
        }
        h2 { "Draft" }
        (sheet_form(&day, &ctx.session, &d.draft, editable))
    };
    Ok(html_response(
        StatusCode::OK,
        page("Call sheet", Some(&ctx.session), Some(&day), body),
    ))
}

pub async fn save_callsheet(ctx: Ctx, q: Q, f: F) -> DashResult<Response> {
    ctx.require_coordinator("edit call sheet drafts")?;
    let f = form(f)?;
    ctx.check_csrf(f.csrf())?;
    let q = query(q)?;
    let day = day_of(&ctx, &q)?;
    let current = data::sheet(&ctx, &day).await?;
    let mut sheet = forms::call_sheet(&f, &day, &current.draft)?;
    forms::link_members(&mut sheet, &data::members(&ctx).await?);
    data::save_draft(&ctx, &day, sheet).await?;
    Ok(see_other(format!("/dashboard/callsheet?day={day}&saved=1")))
}

pub async fn publish(ctx: Ctx, q: Q, f: F) -> DashResult<Response> {
    ctx.require_coordinator("publish call sheets")?;
    let f = form(f)?;
    ctx.check_csrf(f.csrf())?;
    let q = query(q)?;
    let day = day_of(&ctx, &q)?;
    let summary = f.opt("summary")?.unwrap_or_default();
    let rev = data::publish(&ctx, &day, &summary).await?;
    Ok(see_other(format!(
        "/dashboard/callsheet?day={day}&published={}",
        rev.number
    )))
}

// ---------------------------------------------------------------------------------------
// Acknowledgements

fn acks_markup(day: &str, a: &AckData, zone: &Zone) -> Markup {
    let latest = a.revisions.last();
    let when = |t: Option<i64>| {
        t.map(|t| format!("✓ {}", zone.hhmm(t)))
            .unwrap_or_else(|| "—".into())
    };
    html! {
        (unreadable_note(&a.unreadable))
        @match latest {
            None => p.empty { "No call sheet has been published for " (day) " yet." },
            Some(latest) => {
                @let behind = a.rows.iter().filter(|r| r.latest.as_ref().and_then(|x| x.received_at).is_none()).count();
                p.summary {
                    "Latest: " strong { (revision_label(latest)) } " · "
                    strong.late-flag[behind > 0] { (behind) } " of " (a.rows.len()) " members have not received it"
                }
                table #acks-table {
                    thead { tr { th { "Member" } th { "Role" } th { "Received" } th { "Opened" } th { "Confirmed" } th { "On revision" } } }
                    tbody {
                        @for r in &a.rows {
                            @let l = r.latest.clone().unwrap_or_default();
                            @let stale = l.received_at.is_none();
                            tr.stale[stale] data-member=(r.member.id) data-state=(if l.confirmed_at.is_some() { "confirmed" } else if l.opened_at.is_some() { "opened" } else if l.received_at.is_some() { "received" } else { "none" }) {
                                td { (r.member.name) }
                                td { (r.member.role.as_str()) }
                                td.received { (when(l.received_at)) }
                                td.opened { (when(l.opened_at)) }
                                td.confirmed { (when(l.confirmed_at)) }
                                td {
                                    @match r.newest_received {
                                        Some(n) if n == latest.number => { (n) " (latest)" }
                                        Some(n) => { strong.late-flag { (n) " — older revision" } }
                                        None => { strong.late-flag { "none received" } }
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

pub async fn acks(ctx: Ctx, q: Q) -> DashResult<Response> {
    ctx.require_office()?;
    let q = query(q)?;
    let day = day_of(&ctx, &q)?;
    let a = data::acks(&ctx, &day).await?;
    let body = html! {
        h1 { "Who has the call sheet for " (day) }
        div #acks data-live="acks sheet" data-src={ "/dashboard/fragment/acks?day=" (day) } { (acks_markup(&day, &a, &ctx.zone)) }
        p #live-status.live { "connecting…" }
    };
    Ok(html_response(
        StatusCode::OK,
        page("Acknowledgements", Some(&ctx.session), Some(&day), body),
    ))
}

pub async fn acks_fragment(ctx: Ctx, q: Q) -> DashResult<Response> {
    ctx.require_office()?;
    let q = query(q)?;
    let day = day_of(&ctx, &q)?;
    let a = data::acks(&ctx, &day).await?;
    Ok(html_response(
        StatusCode::OK,
        acks_markup(&day, &a, &ctx.zone),
    ))
}

// ---------------------------------------------------------------------------------------
// Print

/// The revision a print asks for (the latest by default), who published it, and what of it
/// could not be read (to say so on the printout).
async fn chosen_revision(
    ctx: &Ctx,
    q: &HashMap<String, String>,
) -> DashResult<(String, Revision, String, Vec<Unreadable>)> {
    ctx.require_office()?;
    let day = day_of(ctx, q)?;
    let d = data::sheet(ctx, &day).await?;
    let rev = match q.get("rev").map(|s| s.trim()).filter(|s| !s.is_empty()) {
        Some(n) => {
            let n = forms::int("Revision", n, 1, 1_000_000)?;
            d.revisions
                .iter()
                .rev()
                .find(|r| r.number == n)
                .cloned()
                .ok_or_else(|| {
                    DashError::not_found(format!("revision {n} of {day} has not been published"))
                })?
        }
        None => d.revisions.last().cloned().ok_or_else(|| {
            let skipped = d.published_unreadable.len();
            DashError::not_found(if skipped == 0 {
                format!("no call sheet has been published for {day} yet")
            } else {
                format!(
                    "no readable call sheet revision for {day}: {skipped} published revision(s) or document(s) could not be read (see the call sheet page)"
                )
            })
        })?,
    };
    let unreadable = d.unreadable_for(&rev);
    let names = data::names(&data::members(ctx).await?);
    let by = names
        .get(&rev.published_by)
        .cloned()
        .unwrap_or_else(|| rev.published_by.clone());
    Ok((day, rev, by, unreadable))
}

pub async fn print_html(ctx: Ctx, q: Q) -> DashResult<Response> {
    let q = query(q)?;
    let (day, rev, by, unreadable) = chosen_revision(&ctx, &q).await?;
    let s = &rev.sheet;
    let h = &s.header;
    let m = |v: Option<i64>| forms::fmt_minutes(v);
    let body = html! {
        article.sheet {
            (unreadable_note(&unreadable))
            p.screen-only {
                a href={ "/dashboard/print.pdf?day=" (day) "&rev=" (rev.number) } { "Download PDF" }
                " · " button type="button" data-print { "Print" }
            }
            header.sheet-head {
                div {
                    h1 { (h.production_title) }
                    p { "Call sheet" @if let Some(n) = h.call_sheet_number { " #" (n) } " · " (h.date)
                        @if let Some(d) = h.day_number { " · Day " (d) @if let Some(t) = h.total_days { " of " (t) } } }
                    p { @if let Some(d) = &h.director { "Director: " (d) " · " }
                        @if !h.producers.is_empty() { "Producers: " (h.producers.join(", ")) " · " }
                        @if let Some(u) = &h.upm { "UPM: " (u) " · " }
                        @if !h.ads.is_empty() { "ADs: " (h.ads.join(", ")) } }
                    @if let Some(p) = &h.production_office_phone { p { "Production office: " (p) } }
                }
                div.callbox {
                    p.big { "Crew call " (m(s.times.general_call)) }
                    p { "Shooting call " (m(s.times.shooting_call)) }
                    @for meal in &s.times.meals { p { (meal.label) " " (forms::fmt_minutes(Some(meal.at))) } }
                    p { "Est. wrap " (m(s.times.estimated_wrap)) }
                    p.rev { (revision_label(&rev)) " · published " (ctx.zone.clock(rev.published_at)) " by " (by) }
                    @if !rev.summary.is_empty() { p.rev { "Changes: " (rev.summary) } }
                }
            }
            section.grid2 {
                div { h2 { "Weather" }
                    p { @if let Some(hi) = s.weather.high { "High " (hi) "° " } @if let Some(lo) = s.weather.low { "Low " (lo) "° " }
                        @if let Some(c) = &s.weather.conditions { (c) } @if let Some(r) = s.weather.rain_chance_percent { " · rain " (r) "%" } }
                    p { "Sunrise " (m(s.weather.sunrise)) " · Sunset " (m(s.weather.sunset)) }
                    @if let Some(c) = &s.weather.weather_cover_set { p { "Weather cover: " (c) } }
                }
                div { h2 { "Locations" }
                    @for l in &s.locations { p { strong { (l.name) } " — " (l.address)
                        @if let Some(p) = &l.parking { " · Parking: " (p) } @if let Some(b) = &l.basecamp { " · Basecamp: " (b) }
                        @if let Some(n) = &l.notes { " · " (n) } } }
                    @if let Some(hh) = &s.nearest_hospital { p.hospital { "Nearest hospital: " strong { (hh.name) } ", " (hh.address) ", " (hh.phone) } }
                }
            }
            @if !s.scenes.is_empty() {
                h2 { "Scenes" }
                table { thead { tr { th { "Sc" } th { "I/E" } th { "Set" } th { "D/N" } th { "Description" } th { "Cast" } th { "Pages" } th { "Location" } } }
                    tbody { @for x in &s.scenes { tr { td { (x.number) } td { (forms::int_ext(x.int_ext)) } td { (x.set) } td { (forms::day_night(x.day_night)) }
                        td { (x.description) } td { (x.cast_numbers.join(", ")) } td { (forms::fmt_eighths(x.pages_eighths)) } td { (x.location.clone().unwrap_or_default()) } } } } }
            }
            @if !s.cast.is_empty() {
                h2 { "Cast" }
                table { thead { tr { th { "#" } th { "Character" } th { "Actor" } th { "Status" } th { "Pickup" } th { "H/MU" } th { "On set" } th { "Notes" } } }
                    tbody { @for c in &s.cast { tr { td { (c.number) } td { (c.character) } td { (c.actor) } td { (c.status.clone().unwrap_or_default()) }
                        td { (m(c.pickup)) } td { (m(c.hair_makeup)) } td { (m(c.on_set)) } td { (c.notes.clone().unwrap_or_default()) } } } } }
            }
            @if !s.background.is_empty() {
                h2 { "Background" }
                table { tbody { @for b in &s.background { tr { td { (b.count) } td { (b.description) } td { (m(b.report_time)) } td { (b.report_place.clone().unwrap_or_default()) } td { (b.notes.clone().unwrap_or_default()) } } } } }
            }
            @if !s.crew_calls.is_empty() {
                h2 { "Crew calls" }
                table.crew { thead { tr { th { "Department" } th { "Position" } th { "Name" } th { "Call" } } }
                    tbody { @for c in &s.crew_calls { tr { td { (c.department) } td { (c.position.clone().unwrap_or_default()) } td { (c.name.clone().unwrap_or_default()) }
                        td { (m(s.resolve(&c.call))) @if let callsheet::CallSpec::Offset(o) = c.call { small { " (" (forms::fmt_call_spec(&callsheet::CallSpec::Offset(o))) ")" } } } } } } }
            }
            section.grid2 {
                @if !s.department_notes.is_empty() { div { h2 { "Department notes" } @for d in &s.department_notes { p { strong { (d.department) ": " } (d.note) } } } }
                @if !s.walkie_channels.is_empty() { div { h2 { "Walkie channels" } @for w in &s.walkie_channels { p { "Ch " (w.channel) " — " (w.name) } } } }
                @if !s.advance_schedule.is_empty() { div { h2 { "Advance schedule" } @for a in &s.advance_schedule { p { strong { (a.date) } " " (a.summary) @if !a.scenes.is_empty() { " (sc " (a.scenes.join(", ")) ")" } } } } }
                @if !s.safety_notes.is_empty() { div { h2 { "Safety" } @for n in &s.safety_notes { p { (n) } } } }
            }
        }
    };
    let title = format!("{} — {}", h.production_title, revision_label(&rev));
    let doc = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) }
                link rel="stylesheet" href="/dashboard/static/app.css";
                script src="/dashboard/static/app.js" defer {}
            }
            body.print { (body) }
        }
    };
    Ok(html_response(StatusCode::OK, doc))
}

pub async fn print_pdf(ctx: Ctx, q: Q) -> DashResult<Response> {
    let q = query(q)?;
    let (day, rev, by, unreadable) = chosen_revision(&ctx, &q).await?;
    let notes: Vec<String> = unreadable
        .iter()
        .map(|u| format!("1 {} could not be read: {} — {}", u.what, u.id, u.why))
        .collect();
    let filename = format!("callsheet-{day}-rev{}.pdf", rev.number);
    // Tens of milliseconds of CPU (more for the first, which loads the fonts): off the
    // async workers, so syncing clients are not held up behind a print.
    let zone = ctx.zone.clone();
    let bytes = tokio::task::spawn_blocking(move || pdf::render(&rev, &by, &notes, &zone))
        .await
        .map_err(|e| DashError::internal(format!("rendering the PDF failed: {e}")))?;
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/pdf".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"{filename}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

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
