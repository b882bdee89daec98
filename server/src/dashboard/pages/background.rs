//! Background at holding, `/dashboard/background?day=`: how many of each call sheet group
//! are in against the latest published revision's numbers ("Pedestrians 12 of 20 in,
//! 3 released"), and the roster (check-in time in the production's zone and who checked
//! them in, wardrobe, voucher, released), with the forms PAs at holding would use: add a
//! person, check in, voucher signed, release, wardrobe notes. One domain op a form.
//!
//! The counts and the roster are one live panel (`/dashboard/fragment/background`),
//! refreshed when the day's background document or its call sheet changes, so check-ins
//! from phones at holding show without a reload. The add form sits outside the panel, and
//! a refused roster form comes back above it (the person, the error by its field, what was
//! typed): a refresh of the panel would replace a refilled form inside it.
//!
//! Person ids come from a synced document and may hold any text, so forms carry them as a
//! field, never in a path.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use setlink_core::model::background::{
    self, BackgroundPerson, BackgroundStatus, GroupTally, NewBackgroundPerson,
};
use setlink_core::{DocKind, DocumentId, DomainError};

use crate::dashboard::data::{self, BackgroundData};
use crate::dashboard::forms::Fields;
use crate::dashboard::refill::{Prefill, Refill};
use crate::dashboard::session::{Ctx, Session};
use crate::dashboard::{DashError, DashResult};
use crate::zone::Zone;

use super::board::{name_of, status_class};
use super::{
    day_of, form, html_response, page, query, revision_label, see_other, unreadable_note, F, Q,
};

/// The step each status moves on to: form value, button label.
fn next_step(status: BackgroundStatus) -> Option<(&'static str, &'static str)> {
    match status {
        BackgroundStatus::NotIn => Some(("check_in", "Check in")),
        BackgroundStatus::CheckedIn => Some(("voucher", "Voucher signed")),
        BackgroundStatus::VoucherSigned => Some(("release", "Release")),
        BackgroundStatus::Released => None,
    }
}

/// "Pedestrians 12 of 20 in, 3 released"; a group the sheet no longer has says so.
fn tally_line(t: &GroupTally) -> String {
    if t.expected > 0 {
        format!(
            "{} {} of {} in, {} released",
            t.description, t.checked_in, t.expected, t.released
        )
    } else {
        format!(
            "{} {} in, {} released (not on the latest call sheet)",
            t.description, t.checked_in, t.released
        )
    }
}

/// A step's time and who recorded it, in the production's zone.
fn stamp(
    z: &Zone,
    names: &BTreeMap<String, String>,
    at: Option<i64>,
    by: &Option<String>,
) -> Markup {
    html! {
        @match at {
            Some(at) => {
                (z.hhmm(at))
                @if let Some(by) = by { " " small.by { "by " (name_of(names, by)) } }
            }
            None => { "—" }
        }
    }
}

fn hidden(day: &str, s: &Session, person: &str) -> Markup {
    html! {
        input type="hidden" name="_csrf" value=(s.csrf);
        input type="hidden" name="day" value=(day);
        input type="hidden" name="person" value=(person);
    }
}

fn wardrobe_form(day: &str, s: &Session, p: &BackgroundPerson, pf: Prefill) -> Markup {
    html! {
        form.bg-wardrobe method="post" action="/dashboard/background/wardrobe" {
            (hidden(day, s, &p.record.id))
            label.inline { span.label-text { "Wardrobe for " (p.record.name) }
                input name="wardrobe" maxlength="5000" size="18" placeholder="wardrobe notes"
                    value=(pf.value("wardrobe", p.record.wardrobe.clone().unwrap_or_default()))
                    autofocus[pf.is_about("wardrobe")];
                (pf.error("wardrobe"))
            }
            button type="submit" { "Save" }
        }
    }
}

fn roster_row(
    b: &BackgroundData,
    s: &Session,
    z: &Zone,
    names: &BTreeMap<String, String>,
    p: &BackgroundPerson,
) -> Markup {
    let voucher = if p.voucher_signed_at.is_some() {
        stamp(z, names, p.voucher_signed_at, &p.voucher_signed_by)
    } else {
        html! { "not signed" }
    };
    html! {
        tr data-person-id=(p.record.id) data-status=(p.status.as_str()) {
            td.name { (p.record.name)
                @if p.conflicts.iter().any(|c| !c.resolved) { " " span.conflict-flag title="recorded twice at once; both are kept" { "twice" } } }
            td data-label="Group" { (p.record.group) }
            td data-label="Status" { span class=(status_class(p.status.as_str())) { (p.status.as_str()) } }
            td.checked-in data-label="Checked in" { (stamp(z, names, p.checked_in_at, &p.checked_in_by)) }
            td data-label="Wardrobe" { (wardrobe_form(&b.day, s, p, Prefill::none())) }
            td.voucher data-label="Voucher" { (voucher) }
            td.released data-label="Released" { (stamp(z, names, p.released_at, &p.released_by)) }
            td.actions {
                @if let Some((action, label)) = next_step(p.status) {
                    form.bg-step method="post" action="/dashboard/background/step" {
                        (hidden(&b.day, s, &p.record.id))
                        button type="submit" name="action" value=(action) aria-label={ (label) " " (p.record.name) } { (label) }
                    }
                }
            }
        }
    }
}

/// The live panel: counts per group, then the roster.
fn fragment_markup(ctx: &Ctx, b: &BackgroundData) -> Markup {
    let z = &ctx.zone;
    let now = ctx.now_ms();
    let names = data::names(&b.members);
    let rows = b
        .sheet
        .as_ref()
        .map(|(_, rows)| rows.as_slice())
        .unwrap_or(&[]);
    let tallies = background::tally(&b.people, rows);
    let in_now = b
        .people
        .iter()
        .filter(|p| {
            matches!(
                p.status,
                BackgroundStatus::CheckedIn | BackgroundStatus::VoucherSigned
            )
        })
        .count();
    html! {
        (unreadable_note(&b.unreadable))
        section #bg-counts {
            h2 { "Counts" }
            @match &b.sheet {
                Some((rev, _)) => p.hint #bg-sheet { "Expected numbers from the call sheet's " (revision_label(rev)) "." },
                None => p.hint #bg-sheet { "No call sheet has been published for " (b.day) " yet, so no numbers are expected." },
            }
            p.summary {
                strong { (in_now) } " at holding now · "
                strong { (b.people.len()) } " on the roster · updated "
                span #updated data-updated=(z.clock(now)) { (z.clock(now)) }
            }
            @if tallies.is_empty() {
                p.empty { "The call sheet books no background for this day." }
            } @else {
                ul.bg-tally {
                    @for t in &tallies {
                        li data-group-id=(t.group_id) data-in=(t.checked_in) data-expected=(t.expected) data-released=(t.released) {
                            (tally_line(t))
                        }
                    }
                }
            }
        }
        section #bg-roster {
            h2 { "Roster" }
            @if b.people.is_empty() {
                p.empty { "Nobody has been added for this day yet." }
            } @else {
                table.bg-roster.stack {
                    thead { tr { th { "Name" } th { "Group" } th { "Status" } th { "Checked in (" (z.name()) ")" } th { "Wardrobe" } th { "Voucher" } th { "Released" } th { "" } } }
                    tbody {
                        @for p in &b.people { (roster_row(b, &ctx.session, z, &names, p)) }
                    }
                }
            }
        }
    }
}

fn add_form(b: &BackgroundData, s: &Session, p: Prefill) -> Markup {
    let rows = b
        .sheet
        .as_ref()
        .map(|(_, rows)| rows.as_slice())
        .unwrap_or(&[]);
    html! {
        details.new open[p.is_refused()] {
            summary { "Add a person" }
            form #bg-add method="post" action="/dashboard/background/people" {
                (p.summary())
                input type="hidden" name="_csrf" value=(s.csrf);
                input type="hidden" name="day" value=(b.day);
                label { "Name" input name="name" required maxlength="200" value=(p.value("name", "")) autofocus[p.is_about("name")]; (p.error("name")) }
                label { "Group" select name="group" autofocus[p.is_about("group")] {
                    @for r in rows { option value=(r.id) selected[p.selected("group", &r.id, false)] { (r.description) " (" (r.count) ")" } }
                } (p.error("group")) }
                label { "Wardrobe" input name="wardrobe" maxlength="5000" value=(p.value("wardrobe", "")); (p.error("wardrobe")) }
                button type="submit" { "Add" }
            }
        }
    }
}

/// Which form a refusal came back to.
enum BgRefill {
    None,
    Add(Refill),
    /// A roster form (a step or wardrobe notes) for this person.
    Person {
        person: String,
        refill: Refill,
    },
}

/// The day's background document, created and indexed on the first visit.
async fn page_for(ctx: &Ctx, day: &str, refill: BgRefill) -> DashResult<Response> {
    let doc = data::ensure_background(ctx, day).await?;
    let b = data::background(ctx, day, Some(doc)).await?;
    let (status, add_p) = match &refill {
        BgRefill::None => (StatusCode::OK, Prefill::none()),
        BgRefill::Add(r) => (r.status(), Prefill::new(Some(r))),
        BgRefill::Person { refill, .. } => (refill.status(), Prefill::none()),
    };
    let refused = match &refill {
        BgRefill::Person { person, refill } => Some((person.as_str(), Prefill::new(Some(refill)))),
        _ => None,
    };
    let body = html! {
        h1 { "Background at holding — " (day) }
        p #zone.hint { "Times are in " (ctx.zone.name()) " (the production's time zone)." }
        @if let Some((id, p)) = refused {
            section #bg-refused {
                @match b.people.iter().find(|x| x.record.id == id) {
                    Some(person) => {
                        h2 { (person.record.name) }
                        (p.summary())
                        @if p.is_about("wardrobe") { (wardrobe_form(day, &ctx.session, person, p)) }
                    }
                    None => { (p.summary()) }
                }
            }
        }
        (add_form(&b, &ctx.session, add_p))
        div #background data-live="background sheet" data-src={ "/dashboard/fragment/background?day=" (day) } {
            (fragment_markup(ctx, &b))
        }
        p #live-status.live { "connecting…" }
    };
    Ok(html_response(
        status,
        page("Background", Some(&ctx.session), Some(day), body),
    ))
}

/// `GET /dashboard/background?day=`
pub async fn background(ctx: Ctx, q: Q) -> DashResult<Response> {
    ctx.require_office()?;
    let q = query(q)?;
    let day = day_of(&ctx, &q)?;
    page_for(&ctx, &day, BgRefill::None).await
}

/// The day's background document if the index has one (a fragment never creates it).
async fn existing(ctx: &Ctx, day: &str) -> DashResult<Option<DocumentId>> {
    let production = data::production(ctx).await?;
    let idx = data::index(ctx, &production).await?;
    let kind = DocKind::Background {
        day: day.to_owned(),
    };
    Ok(data::resolve(ctx, &idx, &kind).await?.0)
}

/// `GET /dashboard/fragment/background?day=`: the live panel.
pub async fn background_fragment(ctx: Ctx, q: Q) -> DashResult<Response> {
    ctx.require_office()?;
    let q = query(q)?;
    let day = day_of(&ctx, &q)?;
    let doc = existing(&ctx, &day).await?;
    let b = data::background(&ctx, &day, doc).await?;
    Ok(html_response(StatusCode::OK, fragment_markup(&ctx, &b)))
}

/// A form's post: role, CSRF token, then the day it is about.
fn open_form(ctx: &Ctx, f: F) -> DashResult<(Fields, String)> {
    ctx.require_office()?;
    let f = form(f)?;
    ctx.check_csrf(f.csrf())?;
    let day = ctx.day(f.raw("day"))?;
    Ok((f, day))
}

fn back(day: &str) -> Response {
    see_other(format!("/dashboard/background?day={day}"))
}

/// The form field a domain refusal is about, among the ones a form has.
fn field_of(e: &DomainError, fields: &[&'static str], default: &'static str) -> &'static str {
    let named = match e {
        DomainError::InvalidValue { field, .. } | DomainError::OutOfRange { field, .. } => *field,
        _ => default,
    };
    fields
        .iter()
        .copied()
        .find(|f| *f == named)
        .unwrap_or(default)
}

/// `POST /dashboard/background/people` (`name`, `group`: a background row id of the latest
/// published revision, `wardrobe`).
pub async fn add_background(ctx: Ctx, f: F) -> DashResult<Response> {
    let (f, day) = open_form(&ctx, f)?;
    match add_from(&ctx, &day, &f).await {
        Ok(()) => Ok(back(&day)),
        Err(e) => page_for(&ctx, &day, BgRefill::Add(Refill::of(f, e)?)).await,
    }
}

async fn add_from(ctx: &Ctx, day: &str, f: &Fields) -> DashResult<()> {
    let name = f.required("name", "A name")?;
    let group = f.required("group", "A group from the call sheet")?;
    let doc = data::ensure_background(ctx, day).await?;
    let b = data::background(ctx, day, Some(doc)).await?;
    let Some((_, rows)) = &b.sheet else {
        return Err(DashError::new(
            StatusCode::CONFLICT,
            format!("no call sheet has been published for {day}, so there is no group to add people to; publish one with background first. Nothing was changed"),
        )
        .on("group"));
    };
    let Some(row) = rows.iter().find(|r| r.id == group) else {
        return Err(DashError::bad_request(
            "that group is not on the latest call sheet (it may have just changed); choose one again. Nothing was changed",
        )
        .on("group"));
    };
    let new = NewBackgroundPerson {
        wardrobe: f.opt("wardrobe")?,
        ..NewBackgroundPerson::for_row(name, row)
    };
    let mut field = "name";
    data::write(ctx, doc, |d, by, at| {
        background::add_person(d, by, at, new)
            .inspect_err(|e| field = field_of(e, &["name", "wardrobe"], "name"))
    })
    .await
    .map(drop)
    .map_err(|e| e.on(field))
}

/// The person a roster form is about, and the day's background document.
async fn person_form(ctx: &Ctx, day: &str, f: &Fields) -> DashResult<(String, DocumentId)> {
    let person = f.required("person", "The person")?;
    let doc = existing(ctx, day).await?.ok_or_else(|| {
        DashError::not_found(format!(
            "there is no background for {day} in your production yet; nothing was changed"
        ))
    })?;
    Ok((person, doc))
}

/// A refused roster form: the page with the error above the panel, or the error page when
/// the refusal is not about the input.
async fn person_answer(
    ctx: &Ctx,
    day: &str,
    f: Fields,
    result: DashResult<()>,
) -> DashResult<Response> {
    match result {
        Ok(()) => Ok(back(day)),
        Err(e) => {
            let person = f.raw("person").unwrap_or_default().to_owned();
            let refill = Refill::of(f, e)?;
            page_for(ctx, day, BgRefill::Person { person, refill }).await
        }
    }
}

/// `POST /dashboard/background/step` (`person`, `action`: check_in, voucher, release).
pub async fn background_step(ctx: Ctx, f: F) -> DashResult<Response> {
    let (f, day) = open_form(&ctx, f)?;
    let result = step_from(&ctx, &day, &f).await;
    person_answer(&ctx, &day, f, result).await
}

async fn step_from(ctx: &Ctx, day: &str, f: &Fields) -> DashResult<()> {
    let op = match f.raw("action").unwrap_or("") {
        "check_in" => background::check_in,
        "voucher" => background::sign_voucher,
        "release" => background::release,
        other => {
            return Err(DashError::bad_request(format!(
                "`{}` is not something holding records (check_in, voucher, release); nothing was changed",
                other.chars().take(40).collect::<String>()
            ))
            .on("action"))
        }
    };
    let (person, doc) = person_form(ctx, day, f).await?;
    data::write(ctx, doc, move |d, by, at| op(d, by, at, &person))
        .await
        .map(drop)
        .map_err(|e| e.on("action"))
}

/// `POST /dashboard/background/wardrobe` (`person`, `wardrobe`; blank clears it).
pub async fn background_wardrobe(ctx: Ctx, f: F) -> DashResult<Response> {
    let (f, day) = open_form(&ctx, f)?;
    let result = wardrobe_from(&ctx, &day, &f).await;
    person_answer(&ctx, &day, f, result).await
}

async fn wardrobe_from(ctx: &Ctx, day: &str, f: &Fields) -> DashResult<()> {
    let wardrobe = f.opt("wardrobe").map_err(|e| e.on("wardrobe"))?;
    let (person, doc) = person_form(ctx, day, f).await?;
    data::write(ctx, doc, move |d, by, at| {
        background::set_wardrobe(d, by, at, &person, wardrobe.as_deref())
    })
    .await
    .map_err(|e| e.on("wardrobe"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(description: &str, expected: i64, checked_in: u32, released: u32) -> GroupTally {
        GroupTally {
            group_id: "g".into(),
            description: description.into(),
            expected,
            checked_in,
            released,
        }
    }

    #[test]
    fn a_group_reads_as_in_of_expected_and_released() {
        assert_eq!(
            tally_line(&tally("Pedestrians", 20, 12, 3)),
            "Pedestrians 12 of 20 in, 3 released"
        );
        assert_eq!(
            tally_line(&tally("Dancers", 0, 1, 0)),
            "Dancers 1 in, 0 released (not on the latest call sheet)"
        );
    }

    #[test]
    fn each_status_offers_the_next_step_only() {
        assert_eq!(
            next_step(BackgroundStatus::NotIn).map(|s| s.0),
            Some("check_in")
        );
        assert_eq!(
            next_step(BackgroundStatus::CheckedIn).map(|s| s.0),
            Some("voucher")
        );
        assert_eq!(
            next_step(BackgroundStatus::VoucherSigned).map(|s| s.0),
            Some("release")
        );
        assert_eq!(next_step(BackgroundStatus::Released), None);
    }

    #[test]
    fn a_domain_refusal_lands_on_the_field_it_names_or_the_default() {
        let e = DomainError::OutOfRange {
            field: "wardrobe",
            reason: "long".into(),
        };
        assert_eq!(field_of(&e, &["name", "wardrobe"], "name"), "wardrobe");
        let e = DomainError::InvalidValue {
            field: "group id",
            reason: "x".into(),
        };
        assert_eq!(field_of(&e, &["name", "wardrobe"], "name"), "name");
        assert_eq!(
            field_of(&DomainError::NotPublished, &["name"], "name"),
            "name"
        );
    }
}
