//! Petty cash for a day: per PA, per envelope, what was advanced, spent (the receipts),
//! returned, and the difference (advanced − spent − returned: positive is cash the PA
//! still holds, negative is what the production owes them), with every receipt; and the
//! same receipts as a CSV for the production accountant.
//!
//! A run's money is the PA's who has the run; a run nobody has now is the PA's who logged
//! its first receipt, else "Unassigned". Only runs with an envelope, an advance, a return
//! or a receipt are listed.
//!
//! The CSV has a header row and **one row per receipt**: day, PA, envelope, run, run id,
//! vendor, total, tax, account code, photo (its file name, `<sha256>.<ext>`), photo URL
//! (the dashboard's, for someone signed in), added by, added at (the production's zone). Amounts are decimal currency (`12.50`). The envelope totals are on the page;
//! an accountant sums the rows by envelope. Text cells that a spreadsheet would read as a
//! formula (starting `=`, `+`, `-`, `@`) are prefixed with `'`.

use std::collections::BTreeMap;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use setlink_core::model::run::{Receipt, Run};

use crate::dashboard::data;
use crate::dashboard::run_forms::fmt_cents;
use crate::dashboard::session::Ctx;
use crate::dashboard::{DashError, DashResult};
use crate::zone::Zone;

use super::board::name_of;
use super::photos::{self, Photos};
use super::run::run_url;
use super::{day_of, html_response, page, query, unreadable_note, Q};

/// One envelope's money on the day.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Envelope<'a> {
    pub label: Option<&'a str>,
    pub advanced: i64,
    pub spent: i64,
    pub returned: i64,
    pub runs: Vec<&'a Run>,
    pub receipts: Vec<(&'a Run, &'a Receipt)>,
}

impl Envelope<'_> {
    pub fn difference(&self) -> i64 {
        self.advanced
            .saturating_sub(self.spent)
            .saturating_sub(self.returned)
    }
}

/// One PA's envelopes (`pa` is a member id; `None` when nobody has the money's runs).
#[derive(Debug, PartialEq)]
pub(super) struct PaCash<'a> {
    pub pa: Option<&'a str>,
    pub envelopes: Vec<Envelope<'a>>,
}

fn has_money(r: &Run) -> bool {
    let m = &r.record.money;
    m.envelope.is_some()
        || m.advanced_cents != 0
        || m.cash_returned_cents.is_some()
        || !r.record.receipts.is_empty()
}

/// The day's petty cash, by PA (member id order, unassigned last), then by envelope
/// (label order, none last).
pub(super) fn ledger(runs: &[Run]) -> Vec<PaCash<'_>> {
    // (no PA?, PA) -> (no envelope?, envelope) -> totals
    type Key<'a> = (bool, Option<&'a str>);
    let mut by_pa: BTreeMap<Key, BTreeMap<Key, Envelope>> = BTreeMap::new();
    for r in runs.iter().filter(|r| has_money(r)) {
        let pa = r
            .assigned_pa
            .as_deref()
            .or_else(|| r.record.receipts.first().map(|rc| rc.added_by.as_str()));
        let m = &r.record.money;
        let env_label = m.envelope.as_deref();
        let env = by_pa
            .entry((pa.is_none(), pa))
            .or_default()
            .entry((env_label.is_none(), env_label))
            .or_insert_with(|| Envelope {
                label: env_label,
                ..Envelope::default()
            });
        env.advanced = env.advanced.saturating_add(m.advanced_cents);
        env.returned = env
            .returned
            .saturating_add(m.cash_returned_cents.unwrap_or(0));
        for rc in &r.record.receipts {
            env.spent = env.spent.saturating_add(rc.total_cents);
            env.receipts.push((r, rc));
        }
        env.runs.push(r);
    }
    by_pa
        .into_iter()
        .map(|((_, pa), envs)| PaCash {
            pa,
            envelopes: envs.into_values().collect(),
        })
        .collect()
}

/// A text cell a spreadsheet will not run as a formula.
fn cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

/// The CSV (see the module doc for its columns).
pub(super) fn csv(
    day: &str,
    cash: &[PaCash],
    names: &BTreeMap<String, String>,
    z: &Zone,
    origin: &str,
) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "day",
        "pa",
        "envelope",
        "run",
        "run_id",
        "vendor",
        "total",
        "tax",
        "account_code",
        "photo",
        "photo_url",
        "added_by",
        "added_at",
    ])?;
    for p in cash {
        let pa = p.pa.map(|id| name_of(names, id)).unwrap_or("Unassigned");
        for e in &p.envelopes {
            for (r, rc) in &e.receipts {
                w.write_record([
                    day.to_owned(),
                    cell(pa),
                    cell(e.label.unwrap_or("")),
                    cell(&r.record.title),
                    cell(r.id()),
                    cell(&rc.vendor),
                    fmt_cents(rc.total_cents),
                    fmt_cents(rc.tax_cents),
                    cell(rc.account_code.as_deref().unwrap_or("")),
                    cell(
                        &rc.photo_ref
                            .as_deref()
                            .map(photos::file_name)
                            .unwrap_or_default(),
                    ),
                    cell(
                        &rc.photo_ref
                            .as_deref()
                            .and_then(|r| photos::url(day, r))
                            .map(|u| format!("{origin}{u}"))
                            .unwrap_or_default(),
                    ),
                    cell(name_of(names, &rc.added_by)),
                    z.date_time(rc.added_at),
                ])?;
            }
        }
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

fn envelope_markup(
    day: &str,
    e: &Envelope,
    names: &BTreeMap<String, String>,
    z: &Zone,
    photos: &Photos,
) -> Markup {
    html! {
        article.envelope data-envelope=(e.label.unwrap_or("")) {
            h3 { "Envelope " (e.label.unwrap_or("(none)")) }
            dl.totals {
                dt { "Advanced" } dd.advanced { (fmt_cents(e.advanced)) }
                dt { "Spent" } dd.spent { (fmt_cents(e.spent)) }
                dt { "Returned" } dd.returned { (fmt_cents(e.returned)) }
                dt { "Difference" } dd.difference.late-flag[e.difference() != 0] { (fmt_cents(e.difference())) }
            }
            p.runs { "Runs: "
                @for (i, r) in e.runs.iter().enumerate() {
                    @if i > 0 { ", " }
                    a href=(run_url(r.id(), day)) { (r.record.title) }
                }
            }
            @if e.receipts.is_empty() {
                p.empty { "No receipts." }
            } @else {
                div.table-scroll {
                    table.receipts {
                        thead { tr { th { "Vendor" } th.num { "Total" } th.num { "Tax" } th { "Account" } th { "Run" } th { "Added" } } }
                        tbody {
                            @for (r, rc) in &e.receipts {
                                tr.receipt data-receipt-id=(rc.id) {
                                    td { (rc.vendor) @if let Some(ph) = &rc.photo_ref { br; (photos.show(day, ph, &format!("Receipt from {}", rc.vendor))) } }
                                    td.num.amount { (fmt_cents(rc.total_cents)) }
                                    td.num { (fmt_cents(rc.tax_cents)) }
                                    td { (rc.account_code.as_deref().unwrap_or("—")) }
                                    td { (r.record.title) }
                                    td { (name_of(names, &rc.added_by)) ", "
                                        @if z.day(rc.added_at) == day { (z.clock(rc.added_at)) } @else { (z.date_time(rc.added_at)) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub async fn petty_cash(ctx: Ctx, q: Q) -> DashResult<Response> {
    ctx.require_office()?;
    let q = query(q)?;
    let day = day_of(&ctx, &q)?;
    let b = data::board(&ctx, &day).await?;
    let names = data::names(&b.members);
    let cash = ledger(&b.runs);
    let z = &ctx.zone;
    let refs: Vec<String> = b
        .runs
        .iter()
        .flat_map(|r| {
            r.record
                .receipts
                .iter()
                .filter_map(|rc| rc.photo_ref.clone())
        })
        .collect();
    let photos = Photos::lookup(&ctx, refs).await;
    let body = html! {
        h1 { "Petty cash — " (day) }
        p.hint {
            "Per PA and envelope: advanced, spent on receipts, returned, and the difference (advanced − spent − returned). Times are in " (z.name()) ". "
            a #csv href={ "/dashboard/petty-cash.csv?day=" (day) } download { "Download CSV" } " (one row per receipt)."
        }
        (unreadable_note(&b.unreadable))
        @if cash.is_empty() {
            p.empty { "No petty cash on this day's runs yet." }
        }
        @for p in &cash {
            section.pa-cash data-pa=(p.pa.unwrap_or("")) {
                h2 { (p.pa.map(|id| name_of(&names, id)).unwrap_or("Unassigned")) }
                @for e in &p.envelopes { (envelope_markup(&day, e, &names, z, &photos)) }
            }
        }
    };
    Ok(html_response(
        StatusCode::OK,
        page("Petty cash", Some(&ctx.session), Some(&day), body),
    ))
}

pub async fn petty_cash_csv(ctx: Ctx, q: Q, headers: HeaderMap) -> DashResult<Response> {
    ctx.require_office()?;
    let q = query(q)?;
    let day = day_of(&ctx, &q)?;
    let b = data::board(&ctx, &day).await?;
    let names = data::names(&b.members);
    let origin = match &ctx.state.settings.public_url {
        Some(u) => u.trim_end_matches('/').to_owned(),
        None => crate::crew::origin(&ctx.state, &headers),
    };
    let bytes =
        csv(&day, &ledger(&b.runs), &names, &ctx.zone, &origin).map_err(DashError::internal)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CACHE_CONTROL, "no-store".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"petty-cash-{day}.csv\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::Automerge;
    use setlink_core::model::run::{self, MoneyEdit, NewRun, ReceiptInput, RunKind};
    use setlink_core::model::EventContext;
    use setlink_core::{Author, Role};

    const T0: i64 = 1_900_000_000_000;

    fn who(id: &str, role: Role) -> Author {
        Author {
            member_id: id.into(),
            device_id: format!("{id}-phone"),
            role,
        }
    }

    fn day_of_runs() -> Vec<Run> {
        let (c, pa1, pa2) = (
            who("coord", Role::Coordinator),
            who("pa1", Role::Pa),
            who("pa2", Role::Pa),
        );
        let mut d = Automerge::new();
        run::init_board(&mut d, &c, T0).unwrap();
        let new = |t: &str| NewRun::new(RunKind::SupplyPurchase, t, "Grip");
        let a = run::create_run(&mut d, &c, T0, new("=Tape")).unwrap();
        let b = run::create_run(&mut d, &c, T0 + 1, new("Sharpies")).unwrap();
        let n = run::create_run(&mut d, &c, T0 + 2, new("Nothing spent")).unwrap();
        let u = run::create_run(&mut d, &c, T0 + 3, new("Taken off")).unwrap();
        for (id, pa) in [(&a, "pa1"), (&b, "pa1"), (&n, "pa2"), (&u, "pa2")] {
            run::assign(&mut d, &c, T0 + 5, id, pa, EventContext::none()).unwrap();
        }
        let env = |label: &str, adv: i64, ret: Option<i64>| MoneyEdit {
            envelope: Some(Some(label.into())),
            advanced_cents: Some(adv),
            cash_returned_cents: Some(ret),
        };
        run::set_money(&mut d, &c, T0 + 6, &a, env("ENV-1", 10_000, Some(1_000))).unwrap();
        run::set_money(&mut d, &c, T0 + 6, &b, env("ENV-1", 5_000, None)).unwrap();
        let receipt = |vendor: &str, total: i64, tax: i64| ReceiptInput {
            vendor: vendor.into(),
            total_cents: total,
            tax_cents: tax,
            account_code: Some("2150".into()),
            photo_ref: Some(format!("sha256:{};image/jpeg", "ab".repeat(32))),
        };
        run::add_receipt(
            &mut d,
            &pa1,
            T0 + 7,
            &a,
            receipt("Ace, \"Hardware\"", 4_250, 350),
        )
        .unwrap();
        run::add_receipt(&mut d, &pa1, T0 + 8, &b, receipt("-Staples", 1_999, 0)).unwrap();
        run::add_receipt(&mut d, &pa2, T0 + 9, &u, receipt("Deli", 1_200, 0)).unwrap();
        run::unassign(&mut d, &c, T0 + 10, &u, EventContext::none()).unwrap();
        run::list_runs(&d).unwrap().items
    }

    #[test]
    fn envelopes_add_up_per_pa() {
        let runs = day_of_runs();
        let cash = ledger(&runs);
        let pas: Vec<_> = cash.iter().map(|p| p.pa).collect();
        assert_eq!(
            pas,
            vec![Some("pa1"), Some("pa2")],
            "runs without money are left out"
        );
        let e = &cash[0].envelopes[0];
        assert_eq!(e.label, Some("ENV-1"));
        assert_eq!((e.advanced, e.spent, e.returned), (15_000, 6_249, 1_000));
        assert_eq!(e.difference(), 7_751);
        assert_eq!(e.receipts.len(), 2);
        // The run taken off pa2 stays with the PA who spent on it.
        let e = &cash[1].envelopes[0];
        assert_eq!((e.label, e.spent, e.difference()), (None, 1_200, -1_200));
    }

    #[test]
    fn the_csv_has_a_header_and_one_row_per_receipt_with_decimal_amounts() {
        let runs = day_of_runs();
        let names: BTreeMap<String, String> =
            [("pa1".to_owned(), "Pat".to_owned())].into_iter().collect();
        let bytes = csv(
            "2030-03-17",
            &ledger(&runs),
            &names,
            &Zone::utc(),
            "https://set.example.com",
        )
        .unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let mut r = csv::Reader::from_reader(text.as_bytes());
        assert_eq!(
            r.headers().unwrap().iter().collect::<Vec<_>>(),
            vec![
                "day",
                "pa",
                "envelope",
                "run",
                "run_id",
                "vendor",
                "total",
                "tax",
                "account_code",
                "photo",
                "photo_url",
                "added_by",
                "added_at"
            ]
        );
        let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 3, "{text}");
        assert_eq!(&rows[0][1], "Pat");
        assert_eq!(&rows[0][2], "ENV-1");
        assert_eq!(&rows[0][3], "'=Tape", "a formula-looking title is defused");
        assert_eq!(
            &rows[0][5], "Ace, \"Hardware\"",
            "quotes and commas survive"
        );
        assert_eq!((&rows[0][6], &rows[0][7]), ("42.50", "3.50"));
        assert_eq!(&rows[1][5], "'-Staples");
        assert_eq!(&rows[1][6], "19.99");
        assert_eq!(&rows[2][1], "pa2", "an unknown member shows as their id");
        assert_eq!(&rows[0][9], &format!("{}.jpg", "ab".repeat(32)));
        assert_eq!(
            &rows[0][10],
            &format!(
                "https://set.example.com/dashboard/photos/{}?day=2030-03-17",
                "ab".repeat(32)
            ),
            "the photo is named where an accountant signed in can open it"
        );
        assert!(rows[0][12].starts_with("2030-03-17 "), "{}", &rows[0][12]);
    }
}
