//! Putting call-sheet emails in the outbox: one per member with an address, at publish
//! and as reminders; and the check a reminder makes before it goes.

use std::collections::BTreeMap;

use setlink_core::model::callsheet::{self, Revision};
use setlink_core::model::member;
use setlink_core::model::production::{self as core_production, MemberInfo};

use super::compose::{self, Personal};
use crate::crew;
use crate::dashboard::data;
use crate::dashboard::session::Ctx;
use crate::dashboard::{DashError, DashResult};
use crate::hub::Hub;
use crate::production_doc;
use crate::storage::{MailKind, NewMail};

/// What queuing did, for the page that asked.
#[derive(Debug, Default)]
pub struct Queued {
    /// Emails newly queued.
    pub queued: usize,
    /// Members with no email address in the production's member list.
    pub no_address: Vec<String>,
}

/// The production's current members as its document lists them (email, department).
async fn member_infos(ctx: &Ctx) -> DashResult<BTreeMap<String, MemberInfo>> {
    let production = data::production(ctx).await?;
    let listing = data::read(ctx, production.production_doc, |d| {
        core_production::read_members(d).map(|l| l.items)
    })
    .await??;
    Ok(listing.into_iter().map(|m| (m.id, m.info)).collect())
}

/// One kind of email about one revision, for many members.
struct Batch<'a> {
    day: &'a str,
    rev: &'a Revision,
    previous: Option<&'a Revision>,
    kind: MailKind,
    due_at_ms: i64,
}

/// Queues the batch's email for every current member with an address but those
/// `leave_out` names.
async fn queue_for(
    ctx: &Ctx,
    origin: &str,
    b: Batch<'_>,
    leave_out: impl Fn(&str) -> bool,
) -> DashResult<Queued> {
    let Batch {
        day,
        rev,
        previous,
        kind,
        due_at_ms,
    } = b;
    let infos = member_infos(ctx).await?;
    let mut out = Queued::default();
    let mut mails = Vec::new();
    for m in data::members(ctx).await? {
        if m.revoked_at_ms.is_some() || leave_out(&m.id) {
            continue;
        }
        let info = infos.get(&m.id);
        let Some(to) = info.and_then(|i| i.email.clone()) else {
            out.no_address.push(m.name.clone());
            continue;
        };
        let department = info.and_then(|i| i.department.clone());
        let call = callsheet::call_time_on(rev, &m.id, department.as_deref())?;
        let link = crew::api::ensure_link(&ctx.state, &m)
            .await
            .map_err(DashError::internal)?;
        let url = crew::link_url(&ctx.state, origin, &link);
        let personal = Personal {
            name: &m.name,
            day,
            rev,
            previous,
            call: &call,
            department: department.as_deref(),
            link: &url,
            zone: &ctx.zone,
        };
        let (subject, body) = match kind {
            MailKind::Published => compose::published(&personal),
            MailKind::Reminder => compose::reminder(&personal),
        };
        mails.push(NewMail {
            production_id: m.production_id.clone(),
            member_id: m.id.clone(),
            kind,
            day: day.to_owned(),
            revision: rev.number,
            to_addr: to,
            subject,
            body,
            due_at_ms,
        });
    }
    out.queued = ctx
        .state
        .storage()
        .queue_mail(mails, ctx.now_ms())
        .await
        .map_err(DashError::internal)?;
    ctx.state
        .hub
        .mail_changed(ctx.session.production_id.clone());
    Ok(out)
}

/// Emails every member their call for the revision just published.
pub async fn queue_published(
    ctx: &Ctx,
    origin: &str,
    day: &str,
    rev: &Revision,
    previous: Option<&Revision>,
) -> DashResult<Queued> {
    let batch = Batch {
        day,
        rev,
        previous,
        kind: MailKind::Published,
        due_at_ms: ctx.now_ms(),
    };
    queue_for(ctx, origin, batch, |_| false).await
}

/// Queues a reminder about the day's latest revision, due at `at_ms`, for every member
/// who has not confirmed it; one who confirms before then is skipped when it comes due.
pub async fn queue_reminders(ctx: &Ctx, origin: &str, day: &str, at_ms: i64) -> DashResult<Queued> {
    let acks = data::acks(ctx, day).await?;
    let Some(rev) = acks.revisions.last() else {
        return Err(DashError::not_found(format!(
            "nothing has been published for {day}; there is nothing to confirm"
        )));
    };
    let confirmed: Vec<String> = acks
        .rows
        .iter()
        .filter(|r| {
            r.latest
                .as_ref()
                .is_some_and(|a| a.revision == rev.number && a.confirmed_at.is_some())
        })
        .map(|r| r.member.id.clone())
        .collect();
    let previous = acks.revisions.iter().rev().nth(1);
    let batch = Batch {
        day,
        rev,
        previous,
        kind: MailKind::Reminder,
        due_at_ms: at_ms,
    };
    queue_for(ctx, origin, batch, |id| confirmed.iter().any(|c| c == id)).await
}

/// Whether the member has confirmed the revision the email is about (a reminder's check
/// just before it goes).
pub async fn has_confirmed(hub: &Hub, mail: &NewMail) -> Result<bool, String> {
    let production = hub
        .storage()
        .production(mail.production_id.clone())
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("production {} is gone", mail.production_id))?;
    let Some(doc) =
        production_doc::member_doc_of(hub, production.production_doc, &mail.member_id).await
    else {
        return Ok(false);
    };
    let (day, revision) = (mail.day.clone(), mail.revision);
    hub.read(doc, move |d| {
        member::ack_for(d, &day, revision).is_some_and(|a| a.confirmed_at.is_some())
    })
    .await
    .map_err(|e| e.to_string())
}
