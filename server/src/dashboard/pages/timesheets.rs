//! Timesheets: each member's timesheet for a day (call, meal, wrap in the production's
//! zone, hours, notes, status, who reviewed it), the coordinator's approve and return
//! forms, who has not submitted; and the approved ones as a CSV for payroll.
//!
//! The CSV has a header row and one row per approved day in the range (by day, then member
//! name): member, role, department, day, call, meal out, meal in, wrap (`HH:MM` in the
//! production's zone, `YYYY-MM-DD HH:MM` when the time falls on another date, as a wrap
//! after midnight does), hours worked as a decimal (`11.50`), approved by, approved at.
//! Only approved days are exported: what payroll pays is what a coordinator signed off.
//! Text cells that a spreadsheet would read as a formula are prefixed with `'`, as in the
//! petty cash export.

use std::collections::BTreeMap;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use setlink_core::model::timesheet::{self, DayTimesheet, Decision, TimesheetStatus};
use setlink_core::Role;

use crate::dashboard::data::{self, MemberTimesheets, TimesheetsData};
use crate::dashboard::session::Ctx;
use crate::dashboard::{DashError, DashResult};
use crate::zone::Zone;

use super::{day_of, form, html_response, page, query, see_other, unreadable_note, F, Q};

/// `ms` as a clock time for `day`'s timesheet: the time alone on that date, with the
/// date when it falls on another one (a wrap after midnight).
fn time_on(z: &Zone, day: &str, ms: i64) -> String {
    let date = z.day(ms);
    if date == day {
        z.hhmm(ms)
    } else {
        format!("{date} {}", z.hhmm(ms))
    }
}

/// Minutes as decimal hours rounded to the hundredth (`690` -> `11.50`, `10` -> `0.17`).
fn hours(minutes: i64) -> String {
    let hundredths = minutes.max(0).saturating_mul(100).saturating_add(30) / 60;
    format!("{}.{:02}", hundredths / 100, hundredths % 100)
}

/// A text cell a spreadsheet will not run as a formula.
fn cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

fn name_of<'a>(names: &'a BTreeMap<String, String>, id: &'a str) -> &'a str {
    names.get(id).map(String::as_str).unwrap_or(id)
}

/// Every member's name by id (revoked members too: their reviews still name them).
fn names(t: &TimesheetsData) -> BTreeMap<String, String> {
    t.members
        .iter()
        .map(|m| (m.member.id.clone(), m.member.name.clone()))
        .collect()
}

/// The approved days from `from` to `to` (inclusive), by day then member name.
fn approved_between<'a>(
    t: &'a TimesheetsData,
    from: &str,
    to: &str,
) -> Vec<(&'a MemberTimesheets, &'a DayTimesheet)> {
    let mut rows: Vec<(&MemberTimesheets, &DayTimesheet)> = t
        .members
        .iter()
        .flat_map(|m| m.days.iter().map(move |d| (m, d)))
        .filter(|(_, d)| d.day.as_str() >= from && d.day.as_str() <= to)
        .filter(|(_, d)| d.status == TimesheetStatus::Approved)
        .collect();
    rows.sort_by(|a, b| {
        (&a.1.day, &a.0.member.name, &a.0.member.id).cmp(&(
            &b.1.day,
            &b.0.member.name,
            &b.0.member.id,
        ))
    });
    rows
}

/// The payroll CSV (see the module doc for its columns).
fn payroll_csv(
    rows: &[(&MemberTimesheets, &DayTimesheet)],
    names: &BTreeMap<String, String>,
    z: &Zone,
) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "member",
        "role",
        "department",
        "day",
        "call",
        "meal_out",
        "meal_in",
        "wrap",
        "hours",
        "approved_by",
        "approved_at",
    ])?;
    for (m, d) in rows {
        // Approved means there is a current submission and a review deciding it.
        let (Some(s), Some(r)) = (&d.current, &d.decided_by) else {
            continue;
        };
        let opt_time = |ms: Option<i64>| ms.map(|t| time_on(z, &d.day, t)).unwrap_or_default();
        w.write_record([
            cell(&m.member.name),
            m.member.role.as_str().to_owned(),
            cell(m.department.as_deref().unwrap_or("")),
            d.day.clone(),
            time_on(z, &d.day, s.call),
            opt_time(s.meal_start),
            opt_time(s.meal_end),
            time_on(z, &d.day, s.wrap),
            hours(timesheet::worked_minutes(&s.entry())),
            cell(name_of(names, &r.by)),
            z.date_time(r.at),
        ])?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

fn review_forms(ctx: &Ctx, day: &str, member_id: &str, d: &DayTimesheet) -> Markup {
    let Some(s) = &d.current else {
        return html! {};
    };
    let can_approve = d.status == TimesheetStatus::Submitted;
    let can_return = matches!(
        d.status,
        TimesheetStatus::Submitted | TimesheetStatus::Approved
    );
    html! {
        @if can_approve {
            form.approve method="post" action="/dashboard/timesheets/review" {
                input type="hidden" name="_csrf" value=(ctx.session.csrf);
                input type="hidden" name="day" value=(day);
                input type="hidden" name="member" value=(member_id);
                input type="hidden" name="submission" value=(s.id);
                input type="hidden" name="decision" value="approve";
                button type="submit" { "Approve" }
            }
        }
        @if can_return {
            form.return method="post" action="/dashboard/timesheets/review" {
                input type="hidden" name="_csrf" value=(ctx.session.csrf);
                input type="hidden" name="day" value=(day);
                input type="hidden" name="member" value=(member_id);
                input type="hidden" name="submission" value=(s.id);
                input type="hidden" name="decision" value="return";
                label { "Note " input type="text" name="note" required placeholder="what to fix"; }
                button type="submit" { "Return" }
            }
        }
    }
}

fn status_markup(d: &DayTimesheet) -> Markup {
    html! {
        span.status data-status=(d.status.as_str()) { (d.status.as_str()) }
        @if let TimesheetStatus::Returned { note } = &d.status {
            br; span.note { "“" (note) "”" }
        }
        @if d.submissions.len() > 1 {
            br; span.hint { (d.submissions.len()) " submissions" }
        }
    }
}

fn day_table(ctx: &Ctx, day: &str, t: &TimesheetsData, names: &BTreeMap<String, String>) -> Markup {
    let z = &ctx.zone;
    let coordinator = ctx.session.role == Role::Coordinator;
    let rows: Vec<(&MemberTimesheets, &DayTimesheet)> = t
        .members
        .iter()
        .filter_map(|m| m.days.iter().find(|d| d.day == day).map(|d| (m, d)))
        .filter(|(_, d)| d.current.is_some())
        .collect();
    let missing: Vec<&MemberTimesheets> = t
        .members
        .iter()
        .filter(|m| m.member.revoked_at_ms.is_none())
        .filter(|m| !rows.iter().any(|(r, _)| r.member.id == m.member.id))
        .collect();
    html! {
        @if rows.is_empty() {
            p.empty { "Nobody has submitted a timesheet for " (day) " yet." }
        } @else {
            div.table-scroll {
                table.timesheets {
                    thead { tr {
                        th { "Member" } th { "Call" } th { "Meal" } th { "Wrap" } th.num { "Hours" }
                        th { "Notes" } th { "Status" } th { "Reviewed" }
                        @if coordinator { th { "Review" } }
                    } }
                    tbody {
                        @for (m, d) in &rows {
                            @if let Some(s) = &d.current {
                                tr.timesheet data-member=(m.member.id) data-status=(d.status.as_str()) {
                                    td { (m.member.name) br; span.hint { (m.member.role.as_str()) @if let Some(dep) = &m.department { " · " (dep) } } }
                                    td.call { (time_on(z, day, s.call)) }
                                    td.meal {
                                        @match (s.meal_start, s.meal_end) {
                                            (Some(a), Some(b)) => { (time_on(z, day, a)) "–" (time_on(z, day, b)) }
                                            _ => { "—" }
                                        }
                                    }
                                    td.wrap { (time_on(z, day, s.wrap)) }
                                    td.num.hours { (hours(timesheet::worked_minutes(&s.entry()))) }
                                    td.notes { (s.notes.as_deref().unwrap_or("")) }
                                    td { (status_markup(d)) }
                                    td.reviewed {
                                        @if let Some(r) = &d.decided_by {
                                            (name_of(names, &r.by)) ", " (z.date_time(r.at))
                                        } @else { "—" }
                                    }
                                    @if coordinator { td { (review_forms(ctx, day, &m.member.id, d)) } }
                                }
                            }
                        }
                    }
                }
            }
        }
        section.not-submitted {
            h2 { "Not submitted" }
            @if missing.is_empty() {
                p.empty { "Everyone has submitted." }
            } @else {
                ul { @for m in &missing { li data-member=(m.member.id) { (m.member.name) " (" (m.member.role.as_str()) ")" } } }
            }
        }
    }
}

pub async fn timesheets(ctx: Ctx, q: Q) -> DashResult<Response> {
    ctx.require_office()?;
    let q = query(q)?;
    let day = day_of(&ctx, &q)?;
    let t = data::timesheets(&ctx).await?;
    let body = html! {
        h1 { "Timesheets — " (day) }
        p.hint {
            "Call, meal and wrap as each member submitted them, in " (ctx.zone.name())
            "; a time on another date shows that date. Hours are wrap − call − meal."
        }
        form.csv method="get" action="/dashboard/timesheets.csv" {
            label { "From " input type="date" name="from" value=(day); }
            label { "To " input type="date" name="to" value=(day); }
            button #csv type="submit" { "Download approved (CSV)" }
        }
        div #timesheets data-live="timesheets" data-src={ "/dashboard/fragment/timesheets?day=" (day) } {
            (fragment_markup(&ctx, &day, &t))
        }
        p #live-status.live { "connecting…" }
    };
    Ok(html_response(
        StatusCode::OK,
        page("Timesheets", Some(&ctx.session), Some(&day), body),
    ))
}

/// The live panel: the day's submissions with their review forms, and who is missing.
/// Refetched when any member's timesheets change, so a phone's submission or another
/// coordinator's review shows without a reload.
fn fragment_markup(ctx: &Ctx, day: &str, t: &TimesheetsData) -> Markup {
    let now = ctx.now_ms();
    html! {
        (unreadable_note(&t.unreadable))
        (day_table(ctx, day, t, &names(t)))
        p.hint { "Updated " span #updated data-updated=(ctx.zone.clock(now)) { (ctx.zone.clock(now)) } }
    }
}

/// `GET /dashboard/fragment/timesheets?day=`: the live panel.
pub async fn timesheets_fragment(ctx: Ctx, q: Q) -> DashResult<Response> {
    ctx.require_office()?;
    let q = query(q)?;
    let day = day_of(&ctx, &q)?;
    let t = data::timesheets(&ctx).await?;
    Ok(html_response(
        StatusCode::OK,
        fragment_markup(&ctx, &day, &t),
    ))
}

/// A day from the query's `name`, `default` when absent; a bad one names the parameter.
fn day_param(
    q: &std::collections::HashMap<String, String>,
    name: &str,
    default: &str,
) -> DashResult<String> {
    match q.get(name).map(|s| s.trim()).filter(|s| !s.is_empty()) {
        Some(raw) => data::check_day(raw).map_err(|e| {
            DashError::bad_request(format!("`{name}`: {}; nothing was exported", e.message))
                .on(name)
        }),
        None => Ok(default.to_owned()),
    }
}

pub async fn timesheets_csv(ctx: Ctx, q: Q) -> DashResult<Response> {
    ctx.require_office()?;
    let q = query(q)?;
    let today = ctx.day(None)?;
    let from = day_param(&q, "from", &today)?;
    let to = day_param(&q, "to", &from)?;
    if to < from {
        return Err(DashError::bad_request(format!(
            "`to` ({to}) is before `from` ({from}); nothing was exported"
        ))
        .on("to"));
    }
    let t = data::timesheets(&ctx).await?;
    for u in &t.unreadable {
        tracing::warn!(id = %u.id, why = %u.why, "left out of the timesheets export");
    }
    let rows = approved_between(&t, &from, &to);
    let bytes = payroll_csv(&rows, &names(&t), &ctx.zone).map_err(DashError::internal)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CACHE_CONTROL, "no-store".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"timesheets-{from}-to-{to}.csv\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// Approves or returns a member's timesheet for a day: one `timesheet::review`, on the
/// member's timesheets document found through the index (never an id from the form).
pub async fn review_timesheet(ctx: Ctx, f: F) -> DashResult<Response> {
    ctx.require_coordinator("approve or return timesheets")?;
    let f = form(f)?;
    ctx.check_csrf(f.csrf())?;
    let day = data::check_day(f.raw("day").unwrap_or("")).map_err(|e| e.on("day"))?;
    let member = f.required("member", "The member")?;
    let submission = f.required("submission", "The submission")?;
    let decision = match f.raw("decision") {
        Some("approve") => Decision::Approved,
        Some("return") => Decision::Returned,
        _ => {
            return Err(DashError::bad_request(
                "`decision` must be approve or return; nothing was changed",
            )
            .on("decision"))
        }
    };
    let note = f.opt("note")?;
    let doc = data::existing_timesheets(&ctx, &member).await?;
    let d = day.clone();
    data::write(&ctx, doc, move |doc, by, at| {
        timesheet::review(doc, by, at, &d, &submission, decision, note.as_deref())
    })
    .await?;
    Ok(see_other(format!("/dashboard/timesheets?day={day}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::Automerge;
    use setlink_core::model::timesheet::TimesheetEntry;
    use setlink_core::Author;

    use crate::storage::Member;

    /// 2030-03-17 00:00 UTC.
    const DAY0: i64 = 1_899_936_000_000;
    const H: i64 = 3_600_000;

    fn who(id: &str, role: Role) -> Author {
        Author {
            member_id: id.into(),
            device_id: format!("{id}-phone"),
            role,
        }
    }

    fn member(id: &str, name: &str, role: Role) -> Member {
        Member {
            id: id.into(),
            production_id: "p".into(),
            name: name.into(),
            role,
            created_at_ms: DAY0,
            revoked_at_ms: None,
        }
    }

    /// Two days of `id`'s timesheets: 2030-03-17 approved (call 07:00, meal 13:00-13:30,
    /// wrap 01:15 the next morning), 2030-03-18 only submitted.
    fn days_of(id: &str) -> Vec<DayTimesheet> {
        let (me, c) = (who(id, Role::Pa), who("coord", Role::Coordinator));
        let mut doc = Automerge::new();
        timesheet::init_timesheets(&mut doc, &me, DAY0).unwrap();
        let e = TimesheetEntry {
            call: DAY0 + 7 * H,
            meal_start: Some(DAY0 + 13 * H),
            meal_end: Some(DAY0 + 13 * H + H / 2),
            wrap: DAY0 + 25 * H + H / 4,
            notes: None,
        };
        let s = timesheet::submit(&mut doc, &me, DAY0, "2030-03-17", e).unwrap();
        timesheet::review(
            &mut doc,
            &c,
            DAY0 + 30 * H,
            "2030-03-17",
            &s,
            Decision::Approved,
            None,
        )
        .unwrap();
        let e2 = TimesheetEntry {
            call: DAY0 + 31 * H,
            meal_start: None,
            meal_end: None,
            wrap: DAY0 + 41 * H,
            notes: None,
        };
        timesheet::submit(&mut doc, &me, DAY0 + 41 * H, "2030-03-18", e2).unwrap();
        timesheet::list(&doc).unwrap().items
    }

    fn data() -> TimesheetsData {
        TimesheetsData {
            members: vec![
                MemberTimesheets {
                    member: member("pa1", "=Pat", Role::Pa),
                    department: Some("Locations".into()),
                    days: days_of("pa1"),
                },
                MemberTimesheets {
                    member: member("coord", "Casey", Role::Coordinator),
                    department: None,
                    days: Vec::new(),
                },
            ],
            unreadable: Vec::new(),
        }
    }

    #[test]
    fn hours_are_decimal_and_rounded() {
        assert_eq!(hours(690), "11.50");
        assert_eq!(hours(10), "0.17");
        assert_eq!(hours(0), "0.00");
        assert_eq!(hours(-5), "0.00");
        assert_eq!(hours(17 * 60 + 45), "17.75");
    }

    #[test]
    fn the_csv_has_approved_days_only_with_hours_and_next_day_wraps() {
        let t = data();
        let rows = approved_between(&t, "2030-03-01", "2030-03-31");
        let bytes = payroll_csv(&rows, &names(&t), &Zone::utc()).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let mut r = csv::Reader::from_reader(text.as_bytes());
        assert_eq!(
            r.headers().unwrap().iter().collect::<Vec<_>>(),
            vec![
                "member",
                "role",
                "department",
                "day",
                "call",
                "meal_out",
                "meal_in",
                "wrap",
                "hours",
                "approved_by",
                "approved_at"
            ]
        );
        let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 1, "the submitted day is not exported: {text}");
        let row: Vec<&str> = rows[0].iter().collect();
        assert_eq!(
            row,
            vec![
                "'=Pat",
                "pa",
                "Locations",
                "2030-03-17",
                "07:00",
                "13:00",
                "13:30",
                "2030-03-18 01:15",
                "17.75",
                "Casey",
                "2030-03-18 06:00 UTC"
            ]
        );
        // The range is inclusive and by the timesheet's day.
        assert!(approved_between(&t, "2030-03-18", "2030-03-31").is_empty());
        assert_eq!(approved_between(&t, "2030-03-17", "2030-03-17").len(), 1);
    }

    #[test]
    fn times_are_shown_in_the_production_zone() {
        let la = Zone::named("America/Los_Angeles").unwrap();
        // 07:00 UTC on 2030-03-17 is midnight in Los Angeles (PDT, UTC-7); an hour
        // earlier is still the day before there.
        assert_eq!(time_on(&la, "2030-03-17", DAY0 + 7 * H), "00:00");
        assert_eq!(time_on(&la, "2030-03-17", DAY0 + 6 * H), "2030-03-16 23:00");
    }
}
