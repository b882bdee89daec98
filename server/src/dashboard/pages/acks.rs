//! Who has received, opened and confirmed the day's published call sheet.

use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};

use crate::dashboard::data::{self, AckData};
use crate::dashboard::session::Ctx;
use crate::dashboard::DashResult;
use crate::zone::Zone;

use super::callsheet::revision_label;
use super::{day_of, html_response, page, query, unreadable_note, Q};

fn acks_markup(day: &str, a: &AckData, zone: &Zone) -> Markup {
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
                    thead { tr { th { "Member" } th { "Role" } th { "Received" } th { "Opened" } th { "Confirmed" } th { "On revision" } th { "Link" } } }
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
    let body = html! {
        h1 { "Who has the call sheet for " (day) }
        div #acks data-live="acks sheet" data-src={ "/dashboard/fragment/acks?day=" (day) } { (acks_markup(&day, &a, &ctx.zone)) }
        p #live-status.live { "connecting…" }
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
    Ok(html_response(
        StatusCode::OK,
        acks_markup(&day, &a, &ctx.zone),
    ))
}
