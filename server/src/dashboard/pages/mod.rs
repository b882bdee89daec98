//! Pages and form handlers. HTML is rendered with maud (escaped by construction); every
//! POST handler checks role, then the CSRF token, then parses, then runs one domain op.
//! One module a page; this one holds the layout and the helpers they share.

mod acks;
mod background;
mod board;
mod callsheet;
mod crew_link;
mod gear;
mod petty_cash;
pub mod photos;
mod print;
mod publish;
mod report;
mod run;
pub mod run_edit;
mod settings;
mod signin;
mod tasks;
mod timesheets;

pub use acks::{acks, acks_fragment, remind};
pub use background::{
    add_background, background, background_fragment, background_step, background_wardrobe,
};
pub use board::{assign_run, board, board_fragment, create_run, run_status};
pub use callsheet::{callsheet_form, revision_label, save_callsheet};
pub use crew_link::{crew_link_page, new_crew_link, set_member_email};
pub use gear::{add_gear, edit_gear, gear_event, gear_fragment, gear_page, gear_return_run};
pub use petty_cash::{petty_cash, petty_cash_csv};
pub use print::{print_html, print_pdf, sheet_sections};
pub use publish::{publish, review};
pub use report::{draft_report, publish_report, report_pdf, report_view, save_report};
pub use run::run_view;
pub use settings::{save_settings, settings};
pub use signin::{home, new_signin_key, signin, signin_form, signin_key_page, signout};
pub use tasks::{
    add_checklist_item, assign_task, checklist_item, create_task, task_notes, task_status,
    task_view,
};
pub use timesheets::{review_timesheet, timesheets, timesheets_csv, timesheets_fragment};

use std::collections::HashMap;

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::Query;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup, DOCTYPE};
use setlink_core::model::Unreadable;

use super::forms::Fields;
use super::session::{Ctx, Session};
use super::{DashError, DashResult};

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
                            a href={ "/dashboard/petty-cash?day=" (d) } { "Petty cash" }
                            a href={ "/dashboard/gear?day=" (d) } { "Gear" }
                            a href={ "/dashboard/background?day=" (d) } { "Background" }
                            a href={ "/dashboard/timesheets?day=" (d) } { "Timesheets" }
                            a href={ "/dashboard/report?day=" (d) } { "Report" }
                            a href={ "/dashboard/print?day=" (d) } { "Print" }
                            a href="/dashboard/settings" { "Settings" }
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
