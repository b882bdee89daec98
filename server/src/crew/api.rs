//! `/crew/api/*`: what a personal link may read and write, as JSON.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;
use setlink_core::model::callsheet;
use setlink_core::model::member::{self, Ack, AckLevel};
use setlink_core::model::production as core_production;
use setlink_core::DocKind;

use crate::dashboard::session::{random_secret, Ctx, Session};
use crate::dashboard::{data, DashError, Dashboard};
use crate::http::AppState;
use crate::storage::{CrewLink, Member, StorageError};

/// A request made with a personal link: the member it belongs to, as a dashboard
/// context whose writes are that member's (their role, their member document).
pub struct Crew(Ctx);

/// A refusal, as JSON `{"error": …}` with the status code.
#[derive(Debug)]
pub struct CrewError(StatusCode, String);

impl From<DashError> for CrewError {
    fn from(e: DashError) -> Self {
        CrewError(e.status, e.message)
    }
}

impl From<setlink_core::DomainError> for CrewError {
    fn from(e: setlink_core::DomainError) -> Self {
        DashError::from(e).into()
    }
}

impl IntoResponse for CrewError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn internal(e: impl std::fmt::Display) -> CrewError {
    DashError::internal(e).into()
}

impl FromRequestParts<AppState> for Crew {
    type Rejection = CrewError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, CrewError> {
        let Extension(dash) = Extension::<Arc<Dashboard>>::from_request_parts(parts, state)
            .await
            .map_err(internal)?;
        dash.start_watcher(&state.hub);
        let refused = || {
            CrewError(
                StatusCode::UNAUTHORIZED,
                "this link does not work any more (it was replaced, or your access to the production ended); ask the production office for your current link".into(),
            )
        };
        let key = bearer(&parts.headers).ok_or_else(|| {
            CrewError(
                StatusCode::UNAUTHORIZED,
                "open your personal link (it ends in #k=…) to see your call sheet".into(),
            )
        })?;
        let storage = state.storage();
        let member_id = storage
            .crew_link_member(key.to_owned())
            .await
            .map_err(internal)?
            .ok_or_else(refused)?;
        let member = storage
            .member(member_id)
            .await
            .map_err(internal)?
            .filter(|m| m.revoked_at_ms.is_none())
            .ok_or_else(refused)?;
        let zone = data::production_zone(state, &member.production_id).await;
        Ok(Crew(Ctx {
            session: Session {
                device_id: format!("crew-link-{}", member.id),
                member_id: member.id,
                production_id: member.production_id,
                name: member.name,
                role: member.role,
                csrf: String::new(),
                expires_at_ms: i64::MAX,
            },
            state: state.clone(),
            dash,
            zone,
        }))
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let key = v.strip_prefix("Bearer ")?.trim();
    (!key.is_empty()).then_some(key)
}

/// The member's link, made the first time it is asked for.
pub async fn ensure_link(state: &AppState, member: &Member) -> Result<CrewLink, StorageError> {
    let storage = state.storage();
    if let Some(link) = storage.crew_link(member.id.clone()).await? {
        return Ok(link);
    }
    new_link(state, member).await
}

/// A new link for the member; the old one stops working.
pub async fn new_link(state: &AppState, member: &Member) -> Result<CrewLink, StorageError> {
    let link = CrewLink {
        link_key: random_secret(),
        created_at_ms: state.settings.today.now_ms(),
    };
    state
        .storage()
        .set_crew_link(member.id.clone(), link.link_key.clone(), link.created_at_ms)
        .await?;
    Ok(link)
}

/// The address a link opens: `serve --public-url` when given, else the origin the
/// coordinator's browser used (`origin`).
pub fn link_url(state: &AppState, origin: &str, link: &CrewLink) -> String {
    let base = state.settings.public_url.as_deref().unwrap_or(origin);
    format!("{base}/crew/#k={}", link.link_key)
}

/// The production's published days and the one the page shows: `day` when asked, else
/// the first published day from today on, else the last one published.
fn pick_day(days: &[String], asked: Option<&str>, today: &str) -> Result<String, CrewError> {
    if let Some(d) = asked {
        let d = data::check_day(d)?;
        return if days.contains(&d) {
            Ok(d)
        } else {
            Err(CrewError(
                StatusCode::NOT_FOUND,
                format!("no call sheet has been published for {d}"),
            ))
        };
    }
    days.iter()
        .find(|d| d.as_str() >= today)
        .or(days.last())
        .cloned()
        .ok_or_else(|| {
            CrewError(
                StatusCode::NOT_FOUND,
                "no call sheet has been published yet; this page shows it as soon as one is".into(),
            )
        })
}

/// The member's acknowledgements of `day`'s revisions.
async fn acks_of(ctx: &Ctx, idx: &data::Index, day: &str) -> Result<Vec<Ack>, CrewError> {
    let kind = DocKind::Member {
        member_id: ctx.session.member_id.clone(),
    };
    let (doc, _) = data::resolve(ctx, idx, &kind).await?;
    let Some(doc) = doc else {
        return Ok(Vec::new());
    };
    let listing = data::read(ctx, doc, member::read_acks).await?;
    Ok(listing.items.into_iter().filter(|a| a.day == day).collect())
}

/// `GET /crew/api/sheet[?day=YYYY-MM-DD]`: the latest revision of the day's call sheet,
/// as this member's page (`html`), and where they stand with it.
pub async fn sheet(
    Crew(ctx): Crew,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, CrewError> {
    let production = data::production(&ctx).await?;
    let idx = data::index(&ctx, &production).await?;
    let days = idx.published_days();
    let today = ctx.day(None)?;
    let day = pick_day(&days, q.get("day").map(String::as_str), &today)?;
    let (revisions, _, _) = data::published_revisions(&ctx, &idx, &day).await?;
    let rev = revisions.last().ok_or_else(|| {
        CrewError(
            StatusCode::NOT_FOUND,
            format!(
                "the call sheet for {day} cannot be read on the relay; call the production office"
            ),
        )
    })?;
    let me = ctx.session.member_id.clone();
    let department = data::read(&ctx, production.production_doc, move |d| {
        core_production::read_member(d, &me)
            .ok()
            .and_then(|m| m.info.department)
    })
    .await?;
    let call = callsheet::call_time_on(rev, &ctx.session.member_id, department.as_deref())?;
    let by = data::publisher_name(&ctx, rev).await?;
    let acks = acks_of(&ctx, &idx, &day).await?;
    let mine = acks.iter().find(|a| a.revision == rev.number);
    let confirmed_earlier = acks
        .iter()
        .filter(|a| a.revision < rev.number && a.confirmed_at.is_some())
        .map(|a| a.revision)
        .max();
    let view = super::page::View {
        member_name: &ctx.session.name,
        department: department.as_deref(),
        rev,
        by: &by,
        call: &call,
        zone: &ctx.zone,
        confirmed_earlier,
    };
    let body = json!({
        "day": day,
        "days": days,
        "member": ctx.session.name,
        "production": production.title,
        "revision": rev.number,
        "published_at": ctx.zone.clock(rev.published_at),
        "opened": mine.is_some_and(|a| a.opened_at.is_some()),
        "confirmed_at": mine.and_then(|a| a.confirmed_at).map(|t| ctx.zone.clock(t)),
        "confirmed_earlier": confirmed_earlier,
        "html": super::page::markup(&view).into_string(),
    });
    // Personal: never kept by a shared cache. The page keeps its own copy for offline.
    Ok(([(header::CACHE_CONTROL, "private, no-store")], Json(body)).into_response())
}

#[derive(Deserialize)]
pub struct AckForm {
    day: String,
    revision: i64,
    level: String,
}

/// `POST /crew/api/ack {"day", "revision", "level": "opened"|"confirmed"}`: records it on
/// the member's own document (a level already recorded keeps its first time).
pub async fn ack(Crew(ctx): Crew, Json(f): Json<AckForm>) -> Result<Response, CrewError> {
    let level = match f.level.as_str() {
        "opened" => AckLevel::Opened,
        "confirmed" => AckLevel::Confirmed,
        other => {
            return Err(CrewError(
                StatusCode::BAD_REQUEST,
                format!("level {other:?} is not \"opened\" or \"confirmed\""),
            ))
        }
    };
    let day = data::check_day(&f.day)?;
    let production = data::production(&ctx).await?;
    let idx = data::index(&ctx, &production).await?;
    let (revisions, _, _) = data::published_revisions(&ctx, &idx, &day).await?;
    if !revisions.iter().any(|r| r.number == f.revision) {
        return Err(CrewError(
            StatusCode::NOT_FOUND,
            format!(
                "revision {} of {day}'s call sheet has not been published",
                f.revision
            ),
        ));
    }
    let kind = DocKind::Member {
        member_id: ctx.session.member_id.clone(),
    };
    let (doc, _) = data::resolve(&ctx, &idx, &kind).await?;
    let doc = doc.ok_or_else(|| {
        CrewError(
            StatusCode::CONFLICT,
            "your member record is not on the relay yet; ask the production office".into(),
        )
    })?;
    let (d, rev) = (day.clone(), f.revision);
    data::write(&ctx, doc, move |doc, by, at| {
        member::acknowledge(doc, by, at, &d, rev, level)
    })
    .await?;
    let acks = acks_of(&ctx, &idx, &day).await?;
    let mine = acks.iter().find(|a| a.revision == f.revision);
    Ok(Json(json!({
        "day": day,
        "revision": f.revision,
        "opened": mine.is_some_and(|a| a.opened_at.is_some()),
        "confirmed_at": mine.and_then(|a| a.confirmed_at).map(|t| ctx.zone.clock(t)),
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(d: &[&str]) -> Vec<String> {
        d.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_page_shows_the_next_published_day_else_the_last() {
        let d = days(&["2030-01-01", "2030-01-03", "2030-01-05"]);
        assert_eq!(pick_day(&d, None, "2030-01-02").unwrap(), "2030-01-03");
        assert_eq!(pick_day(&d, None, "2030-01-03").unwrap(), "2030-01-03");
        assert_eq!(pick_day(&d, None, "2030-02-01").unwrap(), "2030-01-05");
        assert_eq!(
            pick_day(&d, Some("2030-01-01"), "2030-02-01").unwrap(),
            "2030-01-01"
        );
        assert_eq!(pick_day(&d, Some("2030-01-02"), "x").err().unwrap().0, 404);
        assert_eq!(pick_day(&[], None, "2030-01-02").err().unwrap().0, 404);
        assert_eq!(pick_day(&d, Some("soon"), "x").err().unwrap().0, 400);
    }
}
