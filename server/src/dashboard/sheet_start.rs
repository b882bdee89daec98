//! The production settings as the dashboard reads and writes them, and what a day's call
//! sheet starts from before it has a draft: the settings plus the latest published
//! revision of an earlier day (or of a day the coordinator chose), through
//! `callsheet_carry::new_draft`, whose doc comment says what carries.

use setlink_core::model::callsheet::CallSheet;
use setlink_core::model::production::{self as core_production, ProductionInfo};
use setlink_core::model::{callsheet_carry, Unreadable};

use super::data;
use super::session::Ctx;
use super::{DashError, DashResult};

/// The production document's details, or why they cannot be read (409: the document is
/// there but this version cannot read it).
pub async fn production_info(ctx: &Ctx) -> DashResult<ProductionInfo> {
    let production = data::production(ctx).await?;
    let read = data::read(ctx, production.production_doc, |d| {
        core_production::read_production(d).map(|p| p.info)
    })
    .await?;
    read.map_err(|e| {
        DashError::new(
            axum::http::StatusCode::CONFLICT,
            format!("the production settings cannot be read: {e}"),
        )
    })
}

/// Replaces the production details (coordinators only; the domain validates them).
pub async fn save_settings(ctx: &Ctx, info: ProductionInfo) -> DashResult<()> {
    let production = data::production(ctx).await?;
    data::write(ctx, production.production_doc, move |doc, by, at| {
        core_production::update_production(doc, by, at, info)
    })
    .await
}

/// What a day without a draft starts from.
pub struct Start {
    /// The new draft's content (not stored until saved).
    pub draft: CallSheet,
    /// The day and revision it carries from, if any.
    pub from: Option<(String, i64)>,
    /// Days with a published sheet, other than this one, oldest first: what a
    /// coordinator may choose to start from.
    pub days: Vec<String>,
    /// What could not be read on the way (settings, revisions).
    pub unreadable: Vec<Unreadable>,
}

/// The value of the "start from" choice that carries nothing but the settings.
pub const SETTINGS_ONLY: &str = "settings";

/// The draft `day` starts with. `chosen` is a day to start from, [`SETTINGS_ONLY`], or
/// `None` for the default: the latest earlier day with a readable published revision.
pub async fn start(ctx: &Ctx, day: &str, chosen: Option<&str>) -> DashResult<Start> {
    let production = data::production(ctx).await?;
    let idx = data::index(ctx, &production).await?;
    let mut unreadable = Vec::new();
    let info = match production_info(ctx).await {
        Ok(info) => info,
        Err(e) if e.status == axum::http::StatusCode::CONFLICT => {
            unreadable.push(Unreadable {
                id: production.production_doc.to_string(),
                what: "production document",
                why: e.message,
            });
            ProductionInfo {
                title: production.title.clone(),
                ..Default::default()
            }
        }
        Err(e) => return Err(e),
    };
    let days: Vec<String> = idx
        .published_days()
        .into_iter()
        .filter(|d| d != day)
        .collect();
    let candidates: Vec<String> = match chosen {
        Some(SETTINGS_ONLY) => Vec::new(),
        Some(d) => vec![data::check_day(d).map_err(|e| e.on("from"))?],
        None => days
            .iter()
            .rev()
            .filter(|d| d.as_str() < day)
            .cloned()
            .collect(),
    };
    let mut from = None;
    let mut previous = None;
    for d in candidates {
        let (revisions, _, skipped) = data::published_revisions(ctx, &idx, &d).await?;
        unreadable.extend(skipped);
        if let Some(rev) = revisions.into_iter().last() {
            from = Some((d, rev.number));
            previous = Some(rev.sheet);
            break;
        }
    }
    Ok(Start {
        draft: callsheet_carry::new_draft(day, &info, previous.as_ref()),
        from,
        days,
        unreadable,
    })
}
