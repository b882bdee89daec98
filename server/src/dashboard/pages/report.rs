//! The daily production report (`/dashboard/report?day=`): the AD's draft as one form —
//! the day's times in the production's zone, each scheduled scene marked shot, part shot
//! or not shot, background, runs, gear still out, incidents and notes — with "Draft from
//! today's data", save, publish, and the published revisions, each as a PDF
//! (`/dashboard/report.pdf?day=&revision=N`).
//!
//! "Draft from today's data" drafts from the call sheet's latest published revision, the
//! day's board, the background tally and the gear still out (`report::draft_from`) and
//! lays that under what the AD already typed (`report::redraft`). Publishing saves the
//! submitted form and freezes exactly it as the next revision in one commit
//! (`report::save_and_publish`), so nothing unsaved is left behind and a revision always
//! holds what the coordinator saw; an unchanged report is refused.
//!
//! Coordinators write and publish; the office reads the draft and the revisions.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use setlink_core::model::report::{
    self, BackgroundLine, GearOutLine, ReportContent, ReportMeal, ReportRevision, ReportScene, Shot,
};
use setlink_core::model::run::RunStatus;
use setlink_core::model::{background, gear, Unreadable};
use setlink_core::{DocKind, DocumentId, DomainError};

use crate::dashboard::data;
use crate::dashboard::forms::{
    self, bad, cell, eighths, fmt_eighths, int, opt_int, rows, time_on_day, Fields,
};
use crate::dashboard::pdf;
use crate::dashboard::refill::{Prefill, Refill};
use crate::dashboard::session::Ctx;
use crate::dashboard::{DashError, DashResult};
use crate::today::next_day;
use crate::zone::Zone;

use super::{day_of, form, html_response, page, query, see_other, unreadable_note, F, Q};

/// Which form field a domain refusal of the report (`ReportContent::validate`) is about.
const DOMAIN_FIELDS: &[(&str, &str)] = &[
    ("production title", "production_title"),
    ("day number", "day_number"),
    ("crew call", "crew_call"),
    ("first shot", "first_shot"),
    ("camera wrap", "camera_wrap"),
    ("last person out", "last_out"),
    ("meal", "meals"),
    ("meals", "meals"),
    ("scene", "scenes"),
    ("scenes", "scenes"),
    ("pages shot", "scenes"),
    ("background", "background"),
    ("runs completed", "runs_completed"),
    ("runs not completed", "runs_not_completed"),
    ("gear still out", "gear_out"),
    ("incidents", "incidents"),
    ("notes", "notes"),
    ("summary of changes", "summary"),
];

/// Largest count the form takes for runs and background (the domain's bound).
const MAX_COUNT: i64 = 100_000;

/// The day's report as far as it could be read.
struct ReportData {
    draft: ReportContent,
    /// Readable revisions, oldest first.
    revisions: Vec<ReportRevision>,
    /// Fields, rows, revisions, the document or index entries that could not be read.
    unreadable: Vec<Unreadable>,
}

async fn load(ctx: &Ctx, day: &str) -> DashResult<ReportData> {
    let production = data::production(ctx).await?;
    let idx = data::index(ctx, &production).await?;
    let kind = DocKind::ProductionReport {
        day: day.to_owned(),
    };
    let (doc, mut unreadable) = data::resolve(ctx, &idx, &kind).await?;
    unreadable.extend(idx.skipped);
    let mut out = ReportData {
        draft: ReportContent::blank(day),
        revisions: Vec::new(),
        unreadable,
    };
    let Some(id) = doc else { return Ok(out) };
    let read = data::read(ctx, id, |d| {
        (report::read_draft(d), report::read_revisions(d))
    })
    .await;
    let not_read = |why: String| Unreadable {
        id: id.to_string(),
        what: "production report",
        why,
    };
    match read {
        Ok((draft, revisions)) => {
            match draft {
                Ok(p) => {
                    out.draft = p.value;
                    out.unreadable.extend(p.unreadable);
                }
                // Indexed by a device but not synced here yet: reads as blank.
                Err(DomainError::NotInitialised(_)) => {}
                Err(e) => out.unreadable.push(not_read(e.to_string())),
            }
            match revisions {
                Ok(l) => {
                    out.revisions = l.items;
                    out.unreadable.extend(l.unreadable);
                }
                Err(DomainError::NotInitialised(_)) => {}
                Err(e) => out.unreadable.push(not_read(e.to_string())),
            }
        }
        Err(e) => out.unreadable.push(not_read(e.message)),
    }
    Ok(out)
}

/// The day's report document, created (and indexed) the first time it is written.
async fn ensure_report(ctx: &Ctx, day: &str) -> DashResult<DocumentId> {
    let production = data::production(ctx).await?;
    let d = day.to_owned();
    data::ensure(
        ctx,
        &production,
        DocKind::ProductionReport {
            day: day.to_owned(),
        },
        move |doc, by, at| report::init_report(doc, by, at, &d),
    )
    .await
}

// ---------------------------------------------------------------------------------------
// Times on the shoot day

/// An instant as the form shows it: `HH:MM` on the shoot day, `24:30` after midnight (as
/// call sheets write it), the full date and time further away (which the form refuses
/// until it is retyped as a time).
fn typed_time(zone: &Zone, day: &str, ms: Option<i64>) -> String {
    let Some(ms) = ms else {
        return String::new();
    };
    let on = zone.day(ms);
    let hhmm = zone.hhmm(ms);
    if on == day {
        return hhmm;
    }
    let next = next_day(day).unwrap_or_default();
    match hhmm.split_once(':') {
        Some((h, m)) if on == next => match h.parse::<i64>() {
            Ok(h) => format!("{}:{m}", h + 24),
            Err(_) => zone.date_time(ms),
        },
        _ => zone.date_time(ms),
    }
}

fn opt_time(
    f: &Fields,
    name: &str,
    label: &str,
    day: &str,
    zone: &Zone,
) -> DashResult<Option<i64>> {
    match f.opt(name)? {
        Some(s) => time_on_day(label, day, &s, zone)
            .map(Some)
            .map_err(|e| e.on(name)),
        None => Ok(None),
    }
}

// ---------------------------------------------------------------------------------------
// The form

/// The submitted form as a report for `day`: every error names its field (and line).
fn content_from(f: &Fields, day: &str, zone: &Zone) -> DashResult<ReportContent> {
    let times = report::ReportTimes {
        crew_call: opt_time(f, "crew_call", "Crew call", day, zone)?,
        first_shot: opt_time(f, "first_shot", "First shot", day, zone)?,
        camera_wrap: opt_time(f, "camera_wrap", "Camera wrap", day, zone)?,
        last_out: opt_time(f, "last_out", "Last person out", day, zone)?,
        meals: rows(f.raw("meals").unwrap_or(""), "Meals", "meals", 2, 2)
            .map(|r| {
                let (line, c) = r?;
                Ok(ReportMeal {
                    label: c[0].to_owned(),
                    at: time_on_day(&format!("Meals, line {line}"), day, c[1], zone)
                        .map_err(|e| e.on("meals"))?,
                })
            })
            .collect::<DashResult<_>>()?,
    };
    let mut scenes = Vec::new();
    for i in 0.. {
        let Some(id) = f.raw(&format!("scene_id_{i}")) else {
            break;
        };
        let field = |k: &str| format!("scene_{k}_{i}");
        let number = f.raw(&field("number")).unwrap_or("").trim().to_owned();
        let label = format!("Scene {number}");
        let pages = eighths(
            &format!("{label} pages"),
            f.raw(&field("pages")).unwrap_or(""),
        )
        .map_err(|e| e.on("scenes"))?;
        let status = f.raw(&field("status")).unwrap_or("");
        let status = Shot::parse(status).ok_or_else(|| {
            bad(format!("{label}: choose shot, part shot or not shot")).on("scenes")
        })?;
        let shot = match status {
            Shot::Shot => pages,
            Shot::NotShot => 0,
            Shot::PartShot => eighths(
                &format!("{label} pages shot"),
                f.raw(&field("shot")).unwrap_or(""),
            )
            .map_err(|e| e.on("scenes"))?,
        };
        scenes.push(ReportScene {
            id: id.to_owned(),
            number,
            set: f.raw(&field("set")).unwrap_or("").trim().to_owned(),
            pages_eighths: pages,
            status,
            pages_shot_eighths: shot,
        });
    }
    let count = |section: &str, line: usize, what: &str, s: &str, min: i64| {
        int(
            &format!("{section}, line {line}: {what}"),
            s,
            min,
            MAX_COUNT,
        )
    };
    let background = rows(
        f.raw("background").unwrap_or(""),
        "Background",
        "background",
        3,
        3,
    )
    .map(|r| {
        let (line, c) = r?;
        Ok(BackgroundLine {
            description: c[0].to_owned(),
            expected: count("Background", line, "expected", c[1], 0)
                .map_err(|e| e.on("background"))?,
            used: count("Background", line, "used", c[2], 0).map_err(|e| e.on("background"))?,
        })
    })
    .collect::<DashResult<_>>()?;
    let gear_out = rows(
        f.raw("gear_out").unwrap_or(""),
        "Gear still out",
        "gear_out",
        1,
        2,
    )
    .map(|r| {
        let (line, c) = r?;
        let n = match cell(&c, 1) {
            "" => 1,
            s => count("Gear still out", line, "count", s, 1).map_err(|e| e.on("gear_out"))?,
        };
        Ok(GearOutLine {
            what: c[0].to_owned(),
            count: n,
        })
    })
    .collect::<DashResult<_>>()?;
    let runs = |name: &str, label: &str| -> DashResult<i64> {
        Ok(opt_int(label, f.raw(name), 0, MAX_COUNT)
            .map_err(|e| e.on(name))?
            .unwrap_or(0))
    };
    let content = ReportContent {
        day: day.to_owned(),
        production_title: f.opt("production_title")?.unwrap_or_default(),
        day_number: opt_int("Day number", f.raw("day_number"), 1, 10_000)
            .map_err(|e| e.on("day_number"))?,
        total_days: opt_int("Total days", f.raw("total_days"), 1, 10_000)
            .map_err(|e| e.on("day_number"))?,
        times,
        scenes,
        background,
        runs_completed: runs("runs_completed", "Runs completed")?,
        runs_not_completed: runs("runs_not_completed", "Runs not completed")?,
        gear_out,
        incidents: f.opt("incidents")?.unwrap_or_default(),
        notes: f.opt("notes")?.unwrap_or_default(),
    };
    content
        .validate()
        .map_err(|e| forms::domain_refusal(e, DOMAIN_FIELDS))?;
    Ok(content)
}

fn lines<T>(items: &[T], line: impl Fn(&T) -> String) -> String {
    items.iter().map(line).collect::<Vec<_>>().join("\n")
}

/// The draft form; read-only for the office.
fn report_form(ctx: &Ctx, day: &str, r: &ReportContent, next: i64, p: Prefill) -> Markup {
    let z = &ctx.zone;
    let editable = ctx.session.is_coordinator();
    let time = |name: &str, label: &str, v: Option<i64>| {
        html! {
            label { (label) " "
                input type="text" name=(name) inputmode="numeric" placeholder="HH:MM"
                    value=(p.value(name, typed_time(z, day, v)));
                (p.error(name))
            }
        }
    };
    let meals = lines(&r.times.meals, |m| {
        format!("{} | {}", m.label, typed_time(z, day, Some(m.at)))
    });
    let background = lines(&r.background, |b| {
        format!("{} | {} | {}", b.description, b.expected, b.used)
    });
    let gear = lines(&r.gear_out, |g| format!("{} | {}", g.what, g.count));
    let num = |v: i64| v.to_string();
    let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    html! {
        form #report method="post" action={ "/dashboard/report?day=" (day) } {
            input type="hidden" name="_csrf" value=(ctx.session.csrf);
            (p.summary())
            fieldset disabled[!editable] {
                section.report-header {
                    label.wide { "Production" input type="text" name="production_title" value=(p.value("production_title", r.production_title.clone())); (p.error("production_title")) }
                    label { "Day " input type="number" name="day_number" min="1" value=(p.value("day_number", opt(r.day_number))); }
                    label { " of " input type="number" name="total_days" min="1" value=(p.value("total_days", opt(r.total_days))); (p.error("day_number")) }
                }
                section #times {
                    h2 { "Times" }
                    p.hint { "In " (z.name()) "; after midnight write 24:30 and later." }
                    (time("crew_call", "Crew call", r.times.crew_call))
                    (time("first_shot", "First shot", r.times.first_shot))
                    (time("camera_wrap", "Camera wrap", r.times.camera_wrap))
                    (time("last_out", "Last person out", r.times.last_out))
                    label.wide { "Meals (one a line: label | HH:MM)"
                        textarea name="meals" rows="2" { (p.value("meals", meals)) }
                        (p.error("meals"))
                    }
                }
                section #scenes {
                    h2 { "Scenes" }
                    (p.error("scenes"))
                    @if r.scenes.is_empty() {
                        p.empty { "No scenes yet: draft from today's data to bring in the call sheet's." }
                    } @else {
                        div.table-scroll { table.stack {
                            thead { tr { th { "Scene" } th { "Set" } th { "Pages" } th { "Status" } th { "Pages shot (part shot)" } } }
                            tbody {
                                @for (i, s) in r.scenes.iter().enumerate() {
                                    @let n = |k: &str| format!("scene_{k}_{i}");
                                    tr.scene data-scene=(s.number) {
                                        td data-label="Scene" { input type="hidden" name=(n("id")) value=(s.id);
                                            input type="hidden" name=(n("number")) value=(s.number);
                                            input type="hidden" name=(n("set")) value=(s.set);
                                            input type="hidden" name=(n("pages")) value=(fmt_eighths(s.pages_eighths));
                                            (s.number) }
                                        td data-label="Set" { (s.set) }
                                        td data-label="Pages" { (fmt_eighths(s.pages_eighths)) }
                                        td data-label="Status" { select name=(n("status")) {
                                            @for v in Shot::ALL {
                                                option value=(v.as_str()) selected[p.selected(&n("status"), v.as_str(), s.status == v)] { (v.label()) }
                                            }
                                        } }
                                        td data-label="Pages shot" { input type="text" name=(n("shot")) placeholder="e.g. 3/8"
                                            value=(p.value(&n("shot"), if s.status == Shot::PartShot { fmt_eighths(s.pages_shot_eighths) } else { String::new() })); }
                                    }
                                }
                            }
                        } }
                        p.totals { "Scheduled " (fmt_eighths(r.scheduled_eighths())) " pages · shot " (fmt_eighths(r.shot_eighths())) " pages (as saved)." }
                    }
                }
                section #counts {
                    h2 { "Background, runs and gear" }
                    label.wide { "Background (one group a line: description | expected | used)"
                        textarea name="background" rows="3" { (p.value("background", background)) }
                        (p.error("background"))
                    }
                    label { "Runs completed " input type="number" name="runs_completed" min="0" value=(p.value("runs_completed", num(r.runs_completed))); (p.error("runs_completed")) }
                    label { "Runs not completed " input type="number" name="runs_not_completed" min="0" value=(p.value("runs_not_completed", num(r.runs_not_completed))); (p.error("runs_not_completed")) }
                    label.wide { "Gear still out (one a line: item | count)"
                        textarea name="gear_out" rows="3" { (p.value("gear_out", gear)) }
                        (p.error("gear_out"))
                    }
                }
                section #account {
                    h2 { "Incidents and notes" }
                    label.wide { "Incidents" textarea name="incidents" rows="4" { (p.value("incidents", r.incidents.clone())) } (p.error("incidents")) }
                    label.wide { "Notes" textarea name="notes" rows="4" { (p.value("notes", r.notes.clone())) } (p.error("notes")) }
                }
                @if editable {
                    label.wide { "Summary of changes" @if next > 1 { " (required to publish revision " (next) ")" }
                        textarea name="summary" rows="2" { (p.value("summary", "")) }
                        (p.error("summary"))
                    }
                    div.sheet-actions {
                        button type="submit" name="save" value="1" { "Save draft" }
                        button #publish type="submit" formaction={ "/dashboard/report/publish?day=" (day) } { "Publish revision " (next) }
                    }
                }
            }
        }
    }
}

fn revisions_list(
    day: &str,
    revisions: &[ReportRevision],
    names: &std::collections::BTreeMap<String, String>,
    z: &Zone,
) -> Markup {
    html! {
        section #revisions {
            h2 { "Published" }
            @if revisions.is_empty() {
                p.empty { "Nothing published for this day yet." }
            } @else {
                ul { @for r in revisions.iter().rev() {
                    li.revision data-revision=(r.number) {
                        a href={ "/dashboard/report.pdf?day=" (day) "&revision=" (r.number) } { "Revision " (r.number) " (PDF)" }
                        " — " (z.date_time(r.published_at)) " by " (names.get(&r.published_by).unwrap_or(&r.published_by))
                        @if !r.summary.is_empty() { ": " (r.summary) }
                    }
                } }
            }
        }
    }
}

async fn report_page(
    ctx: &Ctx,
    day: &str,
    refill: Option<&Refill>,
    flash: Markup,
) -> DashResult<Response> {
    let d = load(ctx, day).await?;
    let names = data::names(&data::members(ctx).await?);
    let next = d
        .revisions
        .iter()
        .map(|r| r.number)
        .max()
        .unwrap_or(0)
        .saturating_add(1);
    let body = html! {
        h1 { "Production report — " (day) }
        (flash)
        (unreadable_note(&d.unreadable))
        @if ctx.session.is_coordinator() {
            form #draft-from method="post" action={ "/dashboard/report/draft?day=" (day) } {
                input type="hidden" name="_csrf" value=(ctx.session.csrf);
                button type="submit" { "Draft from today's data" }
                span.hint { " Times and scenes from the published call sheet, runs from the board, the background tally and the gear still out. What you typed stays." }
            }
        }
        (report_form(ctx, day, &d.draft, next, Prefill::new(refill)))
        (revisions_list(day, &d.revisions, &names, &ctx.zone))
    };
    let status = refill.map(Refill::status).unwrap_or(StatusCode::OK);
    Ok(html_response(
        status,
        page("Production report", Some(&ctx.session), Some(day), body),
    ))
}

// ---------------------------------------------------------------------------------------
// Handlers

pub async fn report_view(ctx: Ctx, q: Q) -> DashResult<Response> {
    ctx.require_office()?;
    let q = query(q)?;
    let day = day_of(&ctx, &q)?;
    let flash = html! {
        @if q.contains_key("saved") { p.ok role="status" { "Draft saved." } }
        @if q.contains_key("drafted") { p.ok role="status" { "Drafted from today's data; check it, then save or publish." } }
        @if let Some(n) = q.get("published") { p.ok role="status" { "Published revision " (n) "." } }
    };
    report_page(&ctx, &day, None, flash).await
}

/// A form handler's refusal about the input comes back as the page with what was typed.
async fn refused(ctx: &Ctx, day: &str, f: Fields, e: DashError) -> DashResult<Response> {
    let refill = Refill::of(f, e)?;
    report_page(ctx, day, Some(&refill), html! {}).await
}

pub async fn save_report(ctx: Ctx, q: Q, f: F) -> DashResult<Response> {
    ctx.require_coordinator("write the production report")?;
    let f = form(f)?;
    ctx.check_csrf(f.csrf())?;
    let day = day_of(&ctx, &query(q)?)?;
    let saved = async {
        let content = content_from(&f, &day, &ctx.zone)?;
        let id = ensure_report(&ctx, &day).await?;
        data::write(&ctx, id, move |doc, by, at| {
            report::save_draft(doc, by, at, content)
        })
        .await
    }
    .await;
    match saved {
        Ok(()) => Ok(see_other(format!("/dashboard/report?day={day}&saved=1"))),
        Err(e) => refused(&ctx, &day, f, e).await,
    }
}

pub async fn publish_report(ctx: Ctx, q: Q, f: F) -> DashResult<Response> {
    ctx.require_coordinator("publish the production report")?;
    let f = form(f)?;
    ctx.check_csrf(f.csrf())?;
    let day = day_of(&ctx, &query(q)?)?;
    let published = async {
        let content = content_from(&f, &day, &ctx.zone)?;
        let summary = f.opt("summary")?.unwrap_or_default();
        let id = ensure_report(&ctx, &day).await?;
        data::write(&ctx, id, move |doc, by, at| {
            report::save_and_publish(doc, by, at, content, &summary)
        })
        .await
        .map_err(|e| {
            if e.message.contains("summary of changes") {
                e.on("summary")
            } else {
                e
            }
        })
    }
    .await;
    match published {
        Ok(n) => Ok(see_other(format!(
            "/dashboard/report?day={day}&published={n}"
        ))),
        Err(e) => refused(&ctx, &day, f, e).await,
    }
}

/// A fresh draft from what setlink knows about `day` (see the module doc).
async fn todays_data(ctx: &Ctx, day: &str) -> DashResult<ReportContent> {
    let sheet = data::sheet(ctx, day).await?;
    let rev = sheet.revisions.last().ok_or_else(|| {
        DashError::not_found(format!(
            "no call sheet has been published for {day}: the report drafts its times and scenes from it. Publish the call sheet first; nothing was changed"
        ))
    })?;
    let board = data::board(ctx, day).await?;
    let done = |s: RunStatus| matches!(s, RunStatus::Delivered | RunStatus::Reconciled);
    let runs_done = board.runs.iter().filter(|r| done(r.status)).count();
    let runs_open = board
        .runs
        .iter()
        .filter(|r| !done(r.status) && r.status != RunStatus::Cancelled)
        .count();
    let production = data::production(ctx).await?;
    let idx = data::index(ctx, &production).await?;
    let bg_kind = DocKind::Background {
        day: day.to_owned(),
    };
    let background: Vec<BackgroundLine> = match data::resolve(ctx, &idx, &bg_kind).await?.0 {
        Some(id) => {
            let rows = rev.sheet.background.clone();
            data::read(ctx, id, move |d| {
                background::list_people(d).map(|l| background::tally(&l.items, &rows))
            })
            .await??
            .into_iter()
            .map(|t| BackgroundLine {
                description: t.description,
                expected: t.expected.clamp(0, MAX_COUNT),
                used: i64::from(t.checked_in),
            })
            .collect()
        }
        None => Vec::new(),
    };
    let gear_out = match data::resolve(ctx, &idx, &DocKind::Gear).await?.0 {
        Some(id) => {
            data::read(ctx, id, |d| {
                gear::list_items(d).map(|l| gear::still_out_summary(&l.items))
            })
            .await??
        }
        None => Vec::new(),
    };
    let zone = &ctx.zone;
    Ok(report::draft_from(
        &rev.sheet,
        |m| zone.at(day, m),
        runs_done,
        runs_open,
        &background,
        &gear_out,
    ))
}

pub async fn draft_report(ctx: Ctx, q: Q, f: F) -> DashResult<Response> {
    ctx.require_coordinator("write the production report")?;
    let f = form(f)?;
    ctx.check_csrf(f.csrf())?;
    let day = day_of(&ctx, &query(q)?)?;
    let fresh = todays_data(&ctx, &day).await?;
    let id = ensure_report(&ctx, &day).await?;
    data::write(&ctx, id, move |doc, by, at| {
        // Strict: a redraft must not drop what the AD typed and this version cannot read.
        let previous = report::read_draft_strict(doc)?;
        report::save_draft(doc, by, at, report::redraft(&previous, fresh))
    })
    .await?;
    Ok(see_other(format!("/dashboard/report?day={day}&drafted=1")))
}

pub async fn report_pdf(ctx: Ctx, q: Q) -> DashResult<Response> {
    ctx.require_office()?;
    let q = query(q)?;
    let day = day_of(&ctx, &q)?;
    let wanted = match q
        .get("revision")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        Some(s) => Some(int("revision", s, 1, i64::MAX)?),
        None => None,
    };
    let d = load(&ctx, &day).await?;
    let rev = match wanted {
        Some(n) => d.revisions.into_iter().rev().find(|r| r.number == n),
        None => d.revisions.into_iter().last(),
    }
    .ok_or_else(|| match wanted {
        Some(n) => DashError::not_found(format!(
            "there is no revision {n} of the production report for {day}"
        )),
        None => DashError::not_found(format!("no production report has been published for {day}")),
    })?;
    let by = data::names(&data::members(&ctx).await?)
        .remove(&rev.published_by)
        .unwrap_or_else(|| rev.published_by.clone());
    let filename = format!("report-{day}-rev{}.pdf", rev.number);
    let zone = ctx.zone.clone();
    // Off the async workers, like the call sheet's PDF.
    let bytes = tokio::task::spawn_blocking(move || pdf::report::render(&rev, &by, &zone))
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

    fn zone() -> Zone {
        Zone::named("America/Los_Angeles").expect("a zone")
    }

    const DAY: &str = "2026-11-24";

    #[test]
    fn times_round_trip_through_the_form_in_the_productions_zone() {
        let z = zone();
        for typed in ["07:00", "13:45", "24:30", "31:05"] {
            let ms = time_on_day("t", DAY, typed, &z).expect("a time");
            assert_eq!(typed_time(&z, DAY, Some(ms)), typed);
        }
        // 07:00 in Los Angeles is 15:00 UTC in November.
        let ms = time_on_day("t", DAY, "07:00", &z).expect("a time");
        assert_eq!(Zone::utc().hhmm(ms), "15:00");
        assert_eq!(typed_time(&z, DAY, None), "");
    }

    fn fields(extra: &[(&str, &str)]) -> Fields {
        let mut all = vec![
            ("production_title", "Night Shift"),
            ("day_number", "3"),
            ("total_days", "30"),
            ("crew_call", "07:00"),
            ("camera_wrap", "19:40"),
            ("last_out", "24:30"),
            ("meals", "Lunch | 13:00"),
            ("scene_id_0", "s1"),
            ("scene_number_0", "42A"),
            ("scene_set_0", "INT. DINER"),
            ("scene_pages_0", "1 4/8"),
            ("scene_status_0", "part_shot"),
            ("scene_shot_0", "5/8"),
            ("background", "Diner patrons | 20 | 18"),
            ("runs_completed", "7"),
            ("gear_out", "Walkie | 2\nC-stand"),
            ("incidents", "Grip twisted an ankle."),
        ];
        all.extend_from_slice(extra);
        Fields::of(&all)
    }

    #[test]
    fn the_form_reads_as_a_report() {
        let r = content_from(&fields(&[]), DAY, &zone()).expect("a report");
        assert_eq!(r.day_number, Some(3));
        assert_eq!(r.scenes[0].status, Shot::PartShot);
        assert_eq!((r.scheduled_eighths(), r.shot_eighths()), (12, 5));
        assert_eq!(r.background[0].used, 18);
        assert_eq!(r.gear_out[1].count, 1, "a line without a count is one");
        assert_eq!(r.runs_not_completed, 0);
        assert_eq!(r.incidents, "Grip twisted an ankle.");
        let z = zone();
        assert_eq!(typed_time(&z, DAY, r.times.last_out), "24:30");
        assert_eq!(typed_time(&z, DAY, Some(r.times.meals[0].at)), "13:00");
    }

    #[test]
    fn a_bad_form_names_its_field() {
        let cases = [
            ("crew_call", "7am", "crew_call"),
            ("scene_shot_0", "3 9/8", "scenes"),
            ("scene_shot_0", "2", "scenes"),
            ("scene_status_0", "maybe", "scenes"),
            ("background", "Diner patrons | lots | 2", "background"),
            ("meals", "Lunch", "meals"),
            ("camera_wrap", "06:00", "camera_wrap"),
            ("runs_completed", "-2", "runs_completed"),
            ("gear_out", "Walkie | 0", "gear_out"),
        ];
        for (name, value, field) in cases {
            let mut f = fields(&[]);
            f.0.retain(|(k, _)| k != name);
            f.0.push((name.to_owned(), value.to_owned()));
            let e = content_from(&f, DAY, &zone()).expect_err(name);
            assert_eq!(
                e.field.as_deref(),
                Some(field),
                "{name}={value}: {}",
                e.message
            );
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{}", e.message);
        }
    }
}
