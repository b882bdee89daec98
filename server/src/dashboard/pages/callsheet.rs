//! The call sheet draft editor and publishing a revision.

use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use setlink_core::model::callsheet::{self, CallSheet, Revision};

use crate::dashboard::data;
use crate::dashboard::forms;
use crate::dashboard::session::{Ctx, Session};
use crate::dashboard::DashResult;

use super::{day_of, form, html_response, page, query, see_other, unreadable_note, F, Q};

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
