//! A member's personal call-sheet link, for the office to copy, show as a QR code, or
//! replace (`crate::crew`).

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup, PreEscaped};

use crate::crew;
use setlink_core::model::production::{self as core_production, MemberInfo};

use crate::dashboard::data;
use crate::dashboard::session::Ctx;
use crate::dashboard::{DashError, DashResult};
use crate::storage::Member;

use super::{form, html_response, page, query, F, Q};

/// The member the request names, of the signed-in member's production and not revoked.
async fn member_of(ctx: &Ctx, id: Option<&str>) -> DashResult<Member> {
    let id = id
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| DashError::bad_request("say which member: ?member=ID"))?;
    ctx.state
        .storage()
        .member(id.to_owned())
        .await
        .map_err(DashError::internal)?
        .filter(|m| m.production_id == ctx.session.production_id && m.revoked_at_ms.is_none())
        .ok_or_else(|| {
            DashError::not_found(format!("{id} is not a current member of your production"))
        })
}

fn qr_svg(url: &str) -> Markup {
    match qrcode::QrCode::new(url.as_bytes()) {
        Ok(code) => PreEscaped(
            code.render::<qrcode::render::svg::Color>()
                .min_dimensions(240, 240)
                .build(),
        ),
        // A link is ~100 bytes; far below what a QR code holds.
        Err(e) => html! { p.error { "No QR code: " (e.to_string()) } },
    }
}

fn link_markup(ctx: &Ctx, member: &Member, email: Option<&str>, url: &str, made_at: i64) -> Markup {
    html! {
        h1 { (member.name) "'s call-sheet link" }
        p { "Anyone with this link sees the production's published call sheets and confirms as " (member.name) "; nothing else. It stops working when you make a new one or revoke " (member.name) "." }
        p { input #crew-link type="text" readonly value=(url) size="60";
            " " button type="button" data-copy="crew-link" { "Copy" } }
        div #crew-qr.qr { (qr_svg(url)) }
        p.hint { "Made " (ctx.zone.date_time(made_at)) "." }
        @if ctx.session.is_coordinator() {
            form #member-email method="post" action="/dashboard/crew-link/email" {
                input type="hidden" name="_csrf" value=(ctx.session.csrf);
                input type="hidden" name="member" value=(member.id);
                label { "Email for call sheets "
                    input type="email" name="email" value=(email.unwrap_or_default()) size="32"; }
                " " button type="submit" { "Save" }
            }
        } @else {
            p { "Email for call sheets: " (email.unwrap_or("none")) }
        }
        form method="post" action="/dashboard/crew-link" {
            input type="hidden" name="_csrf" value=(ctx.session.csrf);
            input type="hidden" name="member" value=(member.id);
            button #regenerate type="submit" { "Make a new link (the old one stops working)" }
        }
    }
}

/// `GET /dashboard/crew-link?member=ID`: the member's link (made the first time).
pub async fn crew_link_page(ctx: Ctx, headers: HeaderMap, q: Q) -> DashResult<Response> {
    ctx.require_office()?;
    let q = query(q)?;
    let member = member_of(&ctx, q.get("member").map(String::as_str)).await?;
    let link = crew::api::ensure_link(&ctx.state, &member)
        .await
        .map_err(DashError::internal)?;
    let url = crew::link_url(&ctx.state, &crew::origin(&ctx.state, &headers), &link);
    let email = member_info(&ctx, &member.id).await?.and_then(|i| i.email);
    Ok(html_response(
        StatusCode::OK,
        page(
            "Call-sheet link",
            Some(&ctx.session),
            None,
            link_markup(&ctx, &member, email.as_deref(), &url, link.created_at_ms),
        ),
    ))
}

/// `POST /dashboard/crew-link` (`member`): replaces the member's link.
pub async fn new_crew_link(ctx: Ctx, f: F) -> DashResult<Response> {
    ctx.require_office()?;
    let f = form(f)?;
    ctx.check_csrf(f.csrf())?;
    let member = member_of(&ctx, f.opt("member")?.as_deref()).await?;
    crew::api::new_link(&ctx.state, &member)
        .await
        .map_err(DashError::internal)?;
    tracing::info!(member = %member.id, by = %ctx.session.member_id, "crew link replaced");
    Ok(Redirect::to(&format!("/dashboard/crew-link?member={}", member.id)).into_response())
}

/// The member's entry in the production document, if it has one.
async fn member_info(ctx: &Ctx, member_id: &str) -> DashResult<Option<MemberInfo>> {
    let production = data::production(ctx).await?;
    let id = member_id.to_owned();
    data::read(ctx, production.production_doc, move |d| {
        core_production::read_member(d, &id).ok().map(|m| m.info)
    })
    .await
}

/// `POST /dashboard/crew-link/email` (`member`, `email`; empty clears it): where the
/// member's call-sheet email goes. Coordinators only, like every member edit.
pub async fn set_member_email(ctx: Ctx, f: F) -> DashResult<Response> {
    ctx.require_coordinator("change a member's email")?;
    let f = form(f)?;
    ctx.check_csrf(f.csrf())?;
    let member = member_of(&ctx, f.opt("member")?.as_deref()).await?;
    let email = f.opt("email")?;
    let mut info = member_info(&ctx, &member.id).await?.ok_or_else(|| {
        DashError::not_found(format!(
            "{} is not in the production's member list yet; nothing was changed",
            member.name
        ))
    })?;
    info.email = email;
    let production = data::production(&ctx).await?;
    let id = member.id.clone();
    data::write(&ctx, production.production_doc, move |d, by, at| {
        core_production::update_member(d, by, at, &id, info)
    })
    .await
    .map_err(|e| e.on("email"))?;
    Ok(Redirect::to(&format!("/dashboard/crew-link?member={}", member.id)).into_response())
}
