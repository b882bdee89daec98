//! Publishing a call sheet revision, in two steps from the draft form itself:
//!
//! 1. "Save and review" (`POST /dashboard/callsheet/review`) saves the draft as typed and
//!    shows what changed since the latest revision, section by section
//!    (`callsheet_diff::diff`), with the summary of changes prefilled from it
//!    (`callsheet_diff::summary`, editable). The reviewed form travels on, hidden.
//! 2. "Publish revision N" (`POST /dashboard/callsheet/publish`) saves that same content
//!    and publishes exactly it (`data::save_and_publish`).
//!
//! So a revision always holds what the coordinator reviewed; nothing unsaved can be left
//! behind. A sheet that reads the same as the latest revision is refused (409, the form
//! back as typed): a revision that changes nothing would still cost every member a new
//! colour and a new acknowledgement.

use std::fmt::Write;

use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use setlink_core::model::callsheet::{CallSheet, Revision};
use setlink_core::model::callsheet_diff::{self, Change};

use crate::dashboard::data;
use crate::dashboard::forms::Fields;
use crate::dashboard::refill::{Prefill, Refill};
use crate::dashboard::session::Ctx;
use crate::dashboard::{DashError, DashResult};
use crate::mail;

use super::callsheet::{callsheet_page, revision_label, sheet_from};
use super::{day_of, form, html_response, page, query, see_other, F, Q};

/// The fields of the draft form that travel through the review (everything but the
/// token and the summary, which the review form has its own of).
fn carried(f: &Fields) -> impl Iterator<Item = &(String, String)> {
    f.0.iter().filter(|(k, _)| {
        !matches!(
            k.as_str(),
            "_csrf" | "summary" | "save" | "review" | "email_crew"
        )
    })
}

fn change_item(c: &Change) -> Markup {
    let kind = match c {
        Change::Added { .. } => "added",
        Change::Removed { .. } => "removed",
        Change::Changed { .. } => "changed",
    };
    html! { li class={ "change " (kind) } data-change=(kind) { (c.describe()) } }
}

/// The review page: what changed, the summary, and the publish button.
fn review_page(
    ctx: &Ctx,
    day: &str,
    f: &Fields,
    latest: Option<&Revision>,
    sheet: &CallSheet,
    p: Prefill,
) -> Markup {
    let diff = latest.map(|r| callsheet_diff::diff(&r.sheet, sheet));
    let prefill = diff
        .as_deref()
        .map(callsheet_diff::summary)
        .unwrap_or_default();
    let next = latest.map(|r| r.number.saturating_add(1)).unwrap_or(1);
    let body = html! {
        h1 { "Publish the call sheet for " (day) }
        @if !p.is_refused() { p.ok role="status" { "Draft saved." } }
        section #diff.diff {
            @match (&diff, latest) {
                (Some(d), Some(r)) => {
                    h2 { "What changed since " (revision_label(r)) }
                    @for s in d {
                        section.diff-section data-section=(s.section) {
                            h3 { (s.section) }
                            ul { @for c in &s.changes { (change_item(c)) } }
                        }
                    }
                }
                _ => {
                    h2 { "First revision" }
                    p { "Nothing has been published for this day: revision 1 publishes the whole sheet." }
                }
            }
        }
        form #publish method="post" action={ "/dashboard/callsheet/publish?day=" (day) } {
            input type="hidden" name="_csrf" value=(ctx.session.csrf);
            @for (k, v) in carried(f) { input type="hidden" name=(k) value=(v); }
            (p.summary())
            label.wide { "Summary of changes" @if latest.is_some() { " (required; edit it as you like)" }
                textarea name="summary" rows="3" { (p.value("summary", prefill)) }
                (p.error("summary"))
            }
            @if ctx.state.settings.mail.is_some() {
                label.check { input #email-crew type="checkbox" name="email_crew" value="on" checked;
                    " Email every member their call and their link" }
            }
            div.sheet-actions {
                button type="submit" { "Publish revision " (next) }
                a href={ "/dashboard/callsheet?day=" (day) } { "Back to the draft" }
            }
        }
    };
    page("Publish call sheet", Some(&ctx.session), Some(day), body)
}

/// The latest readable revision of the day, if any.
async fn latest(ctx: &Ctx, day: &str) -> DashResult<Option<Revision>> {
    Ok(data::sheet(ctx, day).await?.revisions.into_iter().last())
}

fn unchanged(r: &Revision) -> DashError {
    DashError::new(
        StatusCode::CONFLICT,
        format!(
            "Nothing changed since {}: there is nothing to publish. Change the draft first; nothing was published",
            revision_label(r)
        ),
    )
}

pub async fn review(ctx: Ctx, q: Q, f: F) -> DashResult<Response> {
    ctx.require_coordinator("publish call sheets")?;
    let f = form(f)?;
    ctx.check_csrf(f.csrf())?;
    let q = query(q)?;
    let day = day_of(&ctx, &q)?;
    let checked = async {
        let sheet = sheet_from(&ctx, &day, &f).await?;
        data::save_draft(&ctx, &day, sheet.clone()).await?;
        let latest = latest(&ctx, &day).await?;
        if let Some(r) = latest.as_ref() {
            if callsheet_diff::diff(&r.sheet, &sheet).is_empty() {
                return Err(unchanged(r));
            }
        }
        Ok((sheet, latest))
    }
    .await;
    match checked {
        Ok((sheet, latest)) => Ok(html_response(
            StatusCode::OK,
            review_page(&ctx, &day, &f, latest.as_ref(), &sheet, Prefill::none()),
        )),
        Err(e) => {
            let refill = Refill::of(f, e)?;
            callsheet_page(&ctx, &day, None, Some(&refill), html! {}).await
        }
    }
}

pub async fn publish(ctx: Ctx, headers: HeaderMap, q: Q, f: F) -> DashResult<Response> {
    ctx.require_coordinator("publish call sheets")?;
    let f = form(f)?;
    ctx.check_csrf(f.csrf())?;
    let q = query(q)?;
    let day = day_of(&ctx, &q)?;
    let sheet = match sheet_from(&ctx, &day, &f).await {
        Ok(s) => s,
        Err(e) => {
            let refill = Refill::of(f, e)?;
            return callsheet_page(&ctx, &day, None, Some(&refill), html! {}).await;
        }
    };
    let summary = f.opt("summary")?.unwrap_or_default();
    let latest = latest(&ctx, &day).await?;
    let refused = match latest.as_ref() {
        Some(r) if callsheet_diff::diff(&r.sheet, &sheet).is_empty() => Err(unchanged(r)),
        Some(_) if summary.is_empty() => Err(DashError::bad_request(
            "Summary of changes: say what changed since the last revision; nothing was published",
        )
        .on("summary")),
        // Saves and publishes in one step; also refuses an unchanged sheet by itself, should
        // another coordinator publish the same content meanwhile.
        _ => data::save_and_publish(&ctx, &day, sheet.clone(), &summary).await,
    };
    let e = match refused {
        Ok(rev) => {
            let mut to = format!("/dashboard/callsheet?day={day}&published={}", rev.number);
            if ctx.state.settings.mail.is_some() && f.opt("email_crew")?.is_some() {
                // Published already: a failure to queue is said, not hidden behind a
                // refused publish.
                let origin = crate::crew::origin(&ctx.state, &headers);
                match mail::queue::queue_published(&ctx, &origin, &day, &rev, latest.as_ref()).await
                {
                    Ok(q) => {
                        let _ = write!(
                            to,
                            "&emailed={}&no_address={}",
                            q.queued,
                            q.no_address.len()
                        );
                    }
                    Err(e) => {
                        tracing::error!(error = %e.message, %day, "cannot queue call sheet email");
                        to.push_str("&emailed=error");
                    }
                }
            }
            return Ok(see_other(to));
        }
        Err(e) => e,
    };
    let about_summary = e.field.as_deref() == Some("summary")
        || (e.status == StatusCode::BAD_REQUEST && e.message.contains("summary of changes"));
    if about_summary {
        let refill = Refill::of(f, e.on("summary"))?;
        return Ok(html_response(
            refill.status(),
            review_page(
                &ctx,
                &day,
                refill.fields(),
                latest.as_ref(),
                &sheet,
                Prefill::new(Some(&refill)),
            ),
        ));
    }
    let refill = Refill::of(f, e)?;
    callsheet_page(&ctx, &day, None, Some(&refill), html! {}).await
}
