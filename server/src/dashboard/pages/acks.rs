//! Who has received, opened and confirmed the day's published call sheet.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{html, Markup};

use crate::dashboard::data::{self, AckData};
use crate::dashboard::forms;
use crate::dashboard::session::Ctx;
use crate::dashboard::{DashError, DashResult};
use crate::mail;
use crate::storage::{MailKind, MailStatus};
use crate::zone::Zone;

use super::callsheet::revision_label;
use super::{day_of, form, html_response, page, query, see_other, unreadable_note, F, Q};

/// One member's email about the latest revision, as a cell: the call-sheet email's
/// delivery, then the reminder's.
fn mail_cell(mail: &[MailStatus], member: &str, revision: i64, zone: &Zone) -> Markup {
    let of = |kind: MailKind| {
        mail.iter()
            .rev()
            .find(|m| m.member_id == member && m.kind == kind && m.revision == revision)
    };
    let line = |m: &MailStatus, what: &str| -> Markup {
        let error = m.error.as_deref().unwrap_or("");
        html! {
            span.mail data-kind=(m.kind.as_str()) data-mail=(m.state) {
                (what) " "
                @match m.state.as_str() {
                    "sent" => { "sent " (zone.hhmm(m.at_ms)) }
                    "queued" => { "queued for " (zone.hhmm(m.at_ms)) }
                    "retrying" => { "not sent yet (" (m.attempts) " tries; next " (zone.hhmm(m.at_ms)) "): " (error) }
                    "skipped" => { "not needed: " (error) }
                    state => { strong.late-flag { (state) } ": " (error) }
                }
            }
        }
    };
    html! {
        @if let Some(m) = of(MailKind::Published) { (line(m, "Email")) }
        @if let Some(m) = of(MailKind::Reminder) { br; (line(m, "Reminder")) }
    }
}

fn acks_markup(day: &str, a: &AckData, mail: Option<&[MailStatus]>, zone: &Zone) -> Markup {
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
                table #acks-table.acks.stack {
                    thead { tr { th { "Member" } th { "Role" } th { "Received" } th { "Opened" } th { "Confirmed" } th { "On revision" } @if mail.is_some() { th { "Email" } } th { "Link" } } }
                    tbody {
                        @for r in &a.rows {
                            @let l = r.latest.clone().unwrap_or_default();
                            @let stale = l.received_at.is_none();
                            tr.stale[stale] data-member=(r.member.id) data-state=(if l.confirmed_at.is_some() { "confirmed" } else if l.opened_at.is_some() { "opened" } else if l.received_at.is_some() { "received" } else { "none" }) {
                                td.member { (r.member.name) }
                                td.role data-label="Role" { (r.member.role.as_str()) }
                                td.received data-label="Received" { (when(l.received_at)) }
                                td.opened data-label="Opened" { (when(l.opened_at)) }
                                td.confirmed data-label="Confirmed" { (when(l.confirmed_at)) }
                                td.revision data-label="On revision" {
                                    @match r.newest_received {
                                        Some(n) if n == latest.number => { (n) " (latest)" }
                                        Some(n) => { strong.late-flag { (n) " — older revision" } }
                                        None => { strong.late-flag { "none received" } }
                                    }
                                }
                                @if let Some(mail) = mail {
                                    td.email data-label="Email" { (mail_cell(mail, &r.member.id, latest.number, zone)) }
                                }
                                td.link data-label="Link" { a href={ "/dashboard/crew-link?member=" (r.member.id) } { "Call-sheet link" } }
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
    let mail = mail_statuses(&ctx, &day).await?;
    let body = html! {
        h1 { "Who has the call sheet for " (day) }
        @if let Some(n) = q.get("reminders") { p.ok #reminders role="status" { "Reminder queued for " (n) " members who have not confirmed." } }
        div #acks data-live="acks sheet" data-src={ "/dashboard/fragment/acks?day=" (day) } { (acks_markup(&day, &a, mail.as_deref(), &ctx.zone)) }
        p #live-status.live { "connecting…" }
        @if mail.is_some() && !a.revisions.is_empty() {
            form #remind method="post" action={ "/dashboard/acks/remind?day=" (day) } {
                input type="hidden" name="_csrf" value=(ctx.session.csrf);
                label { "Email a reminder to whoever has not confirmed by "
                    input type="datetime-local" name="remind_at" required; }
                " " button type="submit" { "Schedule reminder" }
            }
        }
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
    let mail = mail_statuses(&ctx, &day).await?;
    Ok(html_response(
        StatusCode::OK,
        acks_markup(&day, &a, mail.as_deref(), &ctx.zone),
    ))
}

/// The day's outbox, when the relay sends email.
async fn mail_statuses(ctx: &Ctx, day: &str) -> DashResult<Option<Vec<MailStatus>>> {
    if ctx.state.settings.mail.is_none() {
        return Ok(None);
    }
    ctx.state
        .storage()
        .mail_statuses(ctx.session.production_id.clone(), day.to_owned())
        .await
        .map(Some)
        .map_err(DashError::internal)
}

/// `POST /dashboard/acks/remind?day=` (`remind_at`, `YYYY-MM-DDTHH:MM` in the production's
/// zone): queues a reminder for each member who has not confirmed the latest revision.
/// A time already past sends them at once.
pub async fn remind(ctx: Ctx, headers: HeaderMap, q: Q, f: F) -> DashResult<Response> {
    ctx.require_office()?;
    let f = form(f)?;
    ctx.check_csrf(f.csrf())?;
    let q = query(q)?;
    let day = day_of(&ctx, &q)?;
    if ctx.state.settings.mail.is_none() {
        return Err(DashError::new(
            StatusCode::CONFLICT,
            "this relay sends no email (start it with --smtp-host and --mail-from)",
        ));
    }
    let raw = f.required("remind_at", "The reminder's time")?;
    let refused = || {
        DashError::bad_request(format!(
            "{raw:?} is not a date and time (YYYY-MM-DDTHH:MM); nothing was scheduled"
        ))
        .on("remind_at")
    };
    let (date, time) = raw.split_once('T').ok_or_else(refused)?;
    // A browser may add seconds (`08:00:00`); the reminder goes by the minute.
    let time = time.get(..5).unwrap_or(time);
    let at =
        forms::time_on_day("The reminder's time", date, time, &ctx.zone).map_err(|_| refused())?;
    let origin = crate::crew::origin(&ctx.state, &headers);
    let queued = mail::queue::queue_reminders(&ctx, &origin, &day, at).await?;
    Ok(see_other(format!(
        "/dashboard/acks?day={day}&reminders={}",
        queued.queued
    )))
}
