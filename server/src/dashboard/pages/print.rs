//! A published revision printed: as an HTML page and as a PDF.

use std::collections::HashMap;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};
use setlink_core::model::callsheet::{self, Revision};
use setlink_core::model::callsheet_text;
use setlink_core::model::Unreadable;

use crate::dashboard::data;
use crate::dashboard::forms;
use crate::dashboard::session::Ctx;
use crate::dashboard::{pdf, DashError, DashResult};
use crate::zone::Zone;

use super::callsheet::revision_label;
use super::{day_of, html_response, query, unreadable_note, Q};

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
    let by = data::publisher_name(ctx, &rev).await?;
    Ok((day, rev, by, unreadable))
}

/// A revision's whole sheet: the print page's body, and the bottom of a crew member's
/// page.
pub fn sheet_sections(rev: &Revision, by: &str, zone: &Zone) -> Markup {
    let s = &rev.sheet;
    let h = &s.header;
    let m = |v: Option<i64>| forms::fmt_minutes(v);
    html! {
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
                p.rev { (revision_label(rev)) " · published " (zone.clock(rev.published_at)) " by " (by) }
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
                tbody { @for x in &s.scenes { tr { td { (x.number) } td { (callsheet_text::int_ext(x.int_ext)) } td { (x.set) } td { (callsheet_text::day_night(x.day_night)) }
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
}

pub async fn print_html(ctx: Ctx, q: Q) -> DashResult<Response> {
    let q = query(q)?;
    let (day, rev, by, unreadable) = chosen_revision(&ctx, &q).await?;
    let h = &rev.sheet.header;
    let body = html! {
        article.sheet {
            (unreadable_note(&unreadable))
            p.screen-only {
                a href={ "/dashboard/print.pdf?day=" (day) "&rev=" (rev.number) } { "Download PDF" }
                " · " button type="button" data-print { "Print" }
            }
            (sheet_sections(&rev, &by, &ctx.zone))
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
