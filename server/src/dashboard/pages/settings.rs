//! Production settings: key contacts, departments, walkie channels, the location
//! directory (with parking and basecamp) and the nearest hospital, stored in the
//! production document. Every new call sheet draft starts from them
//! (`callsheet_carry::new_draft`). Coordinators edit; the office reads.

use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use setlink_core::model::production::ProductionInfo;

use crate::dashboard::refill::{Prefill, Refill};
use crate::dashboard::session::{Ctx, Session};
use crate::dashboard::settings_form::{self, settings_text};
use crate::dashboard::sheet_start;
use crate::dashboard::DashResult;

use super::{form, html_response, page, query, see_other, F, Q};

fn settings_form(s: &Session, info: &ProductionInfo, editable: bool, p: Prefill) -> Markup {
    let t = settings_text(info);
    let hosp = info.nearest_hospital.clone().unwrap_or_default();
    let area = |name: &str, label: &str, hint: &str, value: &str, rows: usize| {
        html! {
            label.wide { (label) " " small.hint { (hint) }
                textarea name=(name) rows=(rows) { (p.value(name, value)) }
                (p.error(name))
            }
        }
    };
    let input = |name: &str, label: &str, stored: &str| {
        html! {
            label { (label) " " input name=(name) value=(p.value(name, stored)); (p.error(name)) }
        }
    };
    html! {
        form #settings method="post" action="/dashboard/settings" {
            input type="hidden" name="_csrf" value=(s.csrf);
            (p.summary())
            fieldset.plain disabled[!editable] {
                fieldset { legend { "Key contacts" }
                    (area("key_contacts", "Key contacts", "name | title | phone | email. Titles Director, Producer, UPM, 1st AD… and Production office fill a new call sheet's header.", &t.key_contacts, 4))
                }
                fieldset { legend { "Departments" }
                    (area("departments", "Departments", "one per line; a first call sheet gets a crew call row for each", &t.departments, 4))
                }
                fieldset { legend { "Walkie channels" }
                    (area("walkie_channels", "Walkie channels", "channel | name", &t.walkie_channels, 4))
                }
                fieldset { legend { "Locations" }
                    (area("locations", "Location directory", "name | address | parking | basecamp | notes. A call sheet location of the same name takes these when a new day's draft starts.", &t.locations, 4))
                }
                fieldset { legend { "Nearest hospital" }
                    (input("hospital_name", "Name", &hosp.name))
                    (input("hospital_address", "Address", &hosp.address))
                    (input("hospital_phone", "Phone", &hosp.phone))
                }
                @if editable { button type="submit" { "Save settings" } }
            }
        }
    }
}

async fn settings_page(ctx: &Ctx, refill: Option<&Refill>, saved: bool) -> DashResult<Response> {
    let editable = ctx.session.is_coordinator();
    let info = sheet_start::production_info(ctx).await?;
    let status = refill.map(Refill::status).unwrap_or(StatusCode::OK);
    let body = html! {
        h1 { "Production settings" }
        p.hint { (info.title) " · " (info.company) " · " (info.timezone) " · "
            (info.shoot_days.len()) " shoot days" }
        @if saved { p.ok role="status" { "Settings saved. New call sheet drafts start with them." } }
        @if !editable { p.readonly { "Read-only: a coordinator edits the production settings." } }
        (settings_form(&ctx.session, &info, editable, Prefill::new(refill)))
    };
    Ok(html_response(
        status,
        page("Settings", Some(&ctx.session), None, body),
    ))
}

pub async fn settings(ctx: Ctx, q: Q) -> DashResult<Response> {
    ctx.require_office()?;
    let q = query(q)?;
    settings_page(&ctx, None, q.contains_key("saved")).await
}

pub async fn save_settings(ctx: Ctx, f: F) -> DashResult<Response> {
    ctx.require_coordinator("edit the production settings")?;
    let f = form(f)?;
    ctx.check_csrf(f.csrf())?;
    let saved = async {
        let old = sheet_start::production_info(&ctx).await?;
        let info = settings_form::settings(&f, &old)?;
        sheet_start::save_settings(&ctx, info).await
    }
    .await;
    match saved {
        Ok(()) => Ok(see_other("/dashboard/settings?saved=1".into())),
        Err(e) => {
            let refill = Refill::of(f, e)?;
            settings_page(&ctx, Some(&refill), false).await
        }
    }
}
