//! The call sheet page: published revisions, the draft editor, and what a day without a
//! draft starts from. Publishing is reviewed on its own page (`publish.rs`).

use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use setlink_core::model::callsheet::{self, CallSheet, Revision};

use crate::dashboard::data;
use crate::dashboard::forms::{self, Fields};
use crate::dashboard::refill::{Prefill, Refill};
use crate::dashboard::session::{Ctx, Session};
use crate::dashboard::DashResult;
use crate::dashboard::{sheet_form, sheet_start};

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

/// The draft editor; `editable` is false for the office, who may read drafts only. `p`
/// puts back what was typed into a refused form.
fn sheet_form(day: &str, s: &Session, sheet: &CallSheet, editable: bool, p: Prefill) -> Markup {
    let t = sheet_form::sheet_text(sheet);
    let h = &sheet.header;
    let o = |v: &Option<String>| v.clone().unwrap_or_default();
    let n = |v: Option<i64>| v.map(|x| x.to_string()).unwrap_or_default();
    let hosp = sheet.nearest_hospital.clone().unwrap_or_default();
    let w = &sheet.weather;
    let input = |name: &str, label: &str, stored: String, size: Option<&str>| {
        html! {
            label { (label) " "
                input name=(name) value=(p.value(name, stored)) size=[size] placeholder=[size.filter(|s| *s == "6").map(|_| "HH:MM")];
                (p.error(name))
            }
        }
    };
    let area = |name: &str, label: &str, hint: &str, value: &str, rows: usize| {
        html! {
            label.wide { (label) " " small.hint { (hint) }
                textarea name=(name) rows=(rows) { (p.value(name, value)) }
                (p.error(name))
            }
        }
    };
    let unit = |v: &str, stored: bool| p.selected("weather_unit", v, stored);
    html! {
        form #sheet method="post" action={ "/dashboard/callsheet?day=" (day) } {
            input type="hidden" name="_csrf" value=(s.csrf);
            (p.summary())
            // A disabled fieldset disables every control inside it.
            fieldset.plain disabled[!editable] {
            fieldset { legend { "Header" }
                label { "Production" input name="production_title" value=(p.value("production_title", h.production_title.clone())) required; (p.error("production_title")) }
                label { "Date" input value=(day) disabled; }
                (input("day_number", "Day", n(h.day_number), Some("4")))
                (input("total_days", "of", n(h.total_days), Some("4")))
                (input("call_sheet_number", "Call sheet #", n(h.call_sheet_number), Some("4")))
                (input("director", "Director", o(&h.director), None))
                label { "Producers" input name="producers" value=(p.value("producers", h.producers.join(", "))) placeholder="comma separated"; (p.error("producers")) }
                (input("upm", "UPM", o(&h.upm), None))
                label { "ADs" input name="ads" value=(p.value("ads", h.ads.join(", "))) placeholder="comma separated"; (p.error("ads")) }
                (input("production_office_phone", "Production office phone", o(&h.production_office_phone), None))
            }
            fieldset { legend { "Times" }
                (input("general_call", "General crew call", forms::fmt_minutes(sheet.times.general_call), Some("6")))
                (input("shooting_call", "Shooting call", forms::fmt_minutes(sheet.times.shooting_call), Some("6")))
                (input("estimated_wrap", "Estimated wrap", forms::fmt_minutes(sheet.times.estimated_wrap), Some("6")))
                (area("meals", "Meals", "label | HH:MM", &t.meals, 2))
            }
            fieldset { legend { "Weather" }
                (input("weather_high", "High", n(w.high), Some("4")))
                (input("weather_low", "Low", n(w.low), Some("4")))
                label { "Unit" select name="weather_unit" {
                    option value="F" selected[unit("F", w.unit == callsheet::TempUnit::Fahrenheit)] { "°F" }
                    option value="C" selected[unit("C", w.unit == callsheet::TempUnit::Celsius)] { "°C" }
                } (p.error("weather_unit")) }
                (input("weather_conditions", "Conditions", o(&w.conditions), None))
                (input("rain_chance", "Rain %", n(w.rain_chance_percent), Some("4")))
                (input("sunrise", "Sunrise", forms::fmt_minutes(w.sunrise), Some("6")))
                (input("sunset", "Sunset", forms::fmt_minutes(w.sunset), Some("6")))
                (input("weather_cover_set", "Weather-cover set", o(&w.weather_cover_set), None))
            }
            fieldset { legend { "Locations" }
                (area("locations", "Locations", "name | address | parking | basecamp | notes", &t.locations, 3))
                (input("hospital_name", "Nearest hospital", hosp.name, None))
                (input("hospital_address", "Address", hosp.address, None))
                (input("hospital_phone", "Phone", hosp.phone, None))
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
            @if editable {
                div.sheet-actions {
                    button type="submit" name="save" { "Save draft" }
                    // Publishing starts from this form, so what is published is what is
                    // typed here: the review saves it and shows what changed.
                    button type="submit" name="review" formaction={ "/dashboard/callsheet/review?day=" (day) } { "Save and review changes to publish" }
                }
            }
            }
        }
    }
}

/// "Starts from Tuesday's revision 2": where an unsaved draft's content comes from, and
/// the choice of another day.
fn start_panel(day: &str, st: &sheet_start::Start, editable: bool) -> Markup {
    html! {
        section #start.start {
            h2 { "New draft" }
            @match &st.from {
                Some((from, rev)) => p #start-from data-from=(from) {
                    "This day has no draft yet. It starts from the sheet published for " strong { (from) } " (revision " (rev) "): "
                    "people, times, locations, hospital, walkie channels, crew calls and safety notes carry over, and the day and call sheet numbers move on; "
                    "scenes, cast, background, weather and department notes start empty. Nothing is stored until you save."
                },
                None => p #start-from data-from="" {
                    "This day has no draft yet. It starts from the production settings. Nothing is stored until you save."
                },
            }
            @if editable {
                form.start-from method="get" action="/dashboard/callsheet" {
                    input type="hidden" name="day" value=(day);
                    label { "Start from "
                        select name="from" {
                            @for d in st.days.iter().rev() {
                                option value=(d) selected[st.from.as_ref().is_some_and(|(f, _)| f == d)] { (d) }
                            }
                            option value=(sheet_start::SETTINGS_ONLY) selected[st.from.is_none()] { "the production settings only" }
                        }
                    }
                    button type="submit" { "Start from this" }
                }
            }
        }
    }
}

/// The call sheet page: published revisions, then the draft (or what a new one starts
/// from), with `refill` put back into the form after a refusal.
pub(super) async fn callsheet_page(
    ctx: &Ctx,
    day: &str,
    from: Option<&str>,
    refill: Option<&Refill>,
    flash: Markup,
) -> DashResult<Response> {
    let editable = ctx.session.is_coordinator();
    let d = data::sheet(ctx, day).await?;
    let start = match d.draft_doc {
        None => Some(sheet_start::start(ctx, day, from).await?),
        Some(_) => None,
    };
    let draft = start.as_ref().map(|s| &s.draft).unwrap_or(&d.draft);
    let mut unreadable = d.unreadable();
    if let Some(s) = &start {
        unreadable.extend(s.unreadable.iter().cloned());
    }
    let status = refill.map(Refill::status).unwrap_or(StatusCode::OK);
    let body = html! {
        h1 { "Call sheet for " (day) }
        (unreadable_note(&unreadable))
        @if editable && !d.draft_unreadable.is_empty() {
            p.hint { "Saving the draft removes from it the rows that could not be read." }
        }
        (flash)
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
            } @else {
                p.hint { "To publish, edit the draft below and choose “Save and review changes to publish”: you see what changed since the last revision before it goes out." }
            }
        }
        @if let Some(st) = &start { (start_panel(day, st, editable)) }
        h2 { "Draft" }
        (sheet_form(day, &ctx.session, draft, editable, Prefill::new(refill)))
    };
    Ok(html_response(
        status,
        page("Call sheet", Some(&ctx.session), Some(day), body),
    ))
}

pub async fn callsheet_form(ctx: Ctx, q: Q) -> DashResult<Response> {
    // The office reads drafts (PRODUCT.md's role table); only coordinators edit and publish.
    ctx.require_office()?;
    let q = query(q)?;
    let day = day_of(&ctx, &q)?;
    let flash = html! {
        @if q.contains_key("saved") { p.ok role="status" { "Draft saved." } }
        @if let Some(n) = q.get("published") { p.ok role="status" { "Published revision " (n) "; devices receive it with their next sync." } }
        @match (q.get("emailed").map(String::as_str), q.get("no_address")) {
            (Some("error"), _) => p.error #emailed role="alert" { "The revision is published, but its email could not be queued (see the relay's log); try again from the acknowledgements page's reminder." },
            (Some(n), missing) => p.ok #emailed role="status" {
                "Email queued for " (n) " members; the acknowledgements page shows each one's delivery."
                @if let Some(m) = missing.filter(|m| m.as_str() != "0") { " " (m) " members have no email address (set it on their call-sheet link page)." }
            },
            _ => {}
        }
    };
    let from = q.get("from").map(String::as_str).filter(|f| !f.is_empty());
    callsheet_page(&ctx, &day, from, None, flash).await
}

/// The submitted draft form as a sheet, with crew calls linked to members.
pub(super) async fn sheet_from(ctx: &Ctx, day: &str, f: &Fields) -> DashResult<CallSheet> {
    let current = data::sheet(ctx, day).await?;
    let mut sheet = sheet_form::call_sheet(f, day, &current.draft)?;
    sheet_form::link_members(&mut sheet, &data::members(ctx).await?);
    sheet
        .validate()
        .map_err(|e| forms::domain_refusal(e, sheet_form::DOMAIN_FIELDS))?;
    Ok(sheet)
}

pub async fn save_callsheet(ctx: Ctx, q: Q, f: F) -> DashResult<Response> {
    ctx.require_coordinator("edit call sheet drafts")?;
    let f = form(f)?;
    ctx.check_csrf(f.csrf())?;
    let q = query(q)?;
    let day = day_of(&ctx, &q)?;
    let saved = match sheet_from(&ctx, &day, &f).await {
        Ok(sheet) => data::save_draft(&ctx, &day, sheet).await,
        Err(e) => Err(e),
    };
    match saved {
        Ok(()) => Ok(see_other(format!("/dashboard/callsheet?day={day}&saved=1"))),
        Err(e) => {
            let refill = Refill::of(f, e)?;
            callsheet_page(&ctx, &day, None, Some(&refill), html! {}).await
        }
    }
}
