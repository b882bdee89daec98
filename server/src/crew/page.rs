//! A crew member's call sheet, their own part first: call time, where, the nearest
//! hospital, weather, scenes, cast, their department's notes; then the whole sheet.

use maud::{html, Markup};
use setlink_core::model::callsheet::{format_minutes, CallTime, Revision};
use setlink_core::model::callsheet_text;

use crate::dashboard::pages::{revision_label, sheet_sections};
use crate::zone::Zone;

pub struct View<'a> {
    pub member_name: &'a str,
    pub department: Option<&'a str>,
    pub rev: &'a Revision,
    /// Who published the revision, by name.
    pub by: &'a str,
    pub call: &'a CallTime,
    pub zone: &'a Zone,
    /// The newest earlier revision of the day they confirmed, if any: the sheet changed
    /// under their confirmation.
    pub confirmed_earlier: Option<i64>,
}

fn minutes(v: Option<i64>) -> String {
    v.map(format_minutes).unwrap_or_else(|| "—".into())
}

/// A maps search for an address: phones open it in their maps app.
fn map_link(address: &str) -> String {
    url::Url::parse_with_params(
        "https://www.google.com/maps/search/",
        [("api", "1"), ("query", address)],
    )
    .map(String::from)
    .unwrap_or_default()
}

pub fn markup(v: &View) -> Markup {
    let s = &v.rev.sheet;
    let source = callsheet_text::call_source(v.call.source, v.department);
    let notes: Vec<_> = s
        .department_notes
        .iter()
        .filter(|n| {
            v.department
                .is_some_and(|d| n.department.eq_ignore_ascii_case(d))
        })
        .collect();
    html! {
        @if let Some(earlier) = v.confirmed_earlier {
            p #newer.banner role="alert" {
                "This sheet changed after you confirmed revision " (earlier) ". "
                "Read it again and confirm " (revision_label(v.rev)) "."
            }
        }
        section.call {
            p.who { (v.member_name) " · " (s.header.date) }
            p #call-time.call-time { (format_minutes(v.call.minutes)) }
            p.call-source { (source) " · " (revision_label(v.rev)) " · published " (v.zone.clock(v.rev.published_at)) " by " (v.by) }
            @if !v.rev.summary.is_empty() { p.changes { "Changes: " (v.rev.summary) } }
        }
        @for l in &s.locations {
            section.where {
                h2 { "Location" }
                p { strong { (l.name) } }
                p { a.map href=(map_link(&l.address)) target="_blank" rel="noopener" { (l.address) } }
                @if let Some(p) = &l.parking { p { "Parking: " (p) } }
                @if let Some(b) = &l.basecamp { p { "Basecamp: " (b) } }
                @if let Some(n) = &l.notes { p { (n) } }
            }
        }
        @if let Some(h) = &s.nearest_hospital {
            section.hospital {
                h2 { "Nearest hospital" }
                p { strong { (h.name) } }
                p { a.map href=(map_link(&h.address)) target="_blank" rel="noopener" { (h.address) } }
                p { a href={ "tel:" (h.phone) } { (h.phone) } }
            }
        }
        section.weather {
            h2 { "Weather" }
            p {
                @if let Some(hi) = s.weather.high { "High " (hi) "° " }
                @if let Some(lo) = s.weather.low { "Low " (lo) "° " }
                @if let Some(c) = &s.weather.conditions { (c) }
                @if let Some(r) = s.weather.rain_chance_percent { " · rain " (r) "%" }
            }
            p { "Sunrise " (minutes(s.weather.sunrise)) " · Sunset " (minutes(s.weather.sunset)) }
        }
        @if !s.scenes.is_empty() {
            section.scenes {
                h2 { "Scenes" }
                ul {
                    @for x in &s.scenes {
                        li { strong { (x.number) } " " (callsheet_text::int_ext(x.int_ext)) " " (x.set) " — " (callsheet_text::day_night(x.day_night)) ". " (x.description) }
                    }
                }
            }
        }
        @if !s.cast.is_empty() {
            section.cast {
                h2 { "Cast" }
                ul {
                    @for c in &s.cast {
                        li { (c.number) ". " (c.character) " — " (c.actor) @if let Some(t) = c.on_set { " · on set " (format_minutes(t)) } }
                    }
                }
            }
        }
        @if !notes.is_empty() {
            section.notes {
                h2 { (v.department.unwrap_or_default()) " notes" }
                @for n in &notes { p { (n.note) } }
            }
        }
        details.whole {
            summary { "The whole call sheet" }
            article.sheet { (sheet_sections(v.rev, v.by, v.zone)) }
        }
    }
}
