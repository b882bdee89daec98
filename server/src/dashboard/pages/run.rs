//! One run, whole: every field PRODUCT.md gives a run, each editable section its own form
//! (posted to `run_edit`), and the full status history in the production's zone. A form
//! the relay refuses comes back here with what was typed and the error by its field.

use std::collections::BTreeMap;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use setlink_core::model::run::{self, Run, RunStatus};
use setlink_core::model::Priority;

use crate::dashboard::data::{self, BoardData};
use crate::dashboard::forms;
use crate::dashboard::refill::{Prefill, Refill};
use crate::dashboard::run_forms::{fmt_cents, fmt_tenths, seg, vehicle_name};
use crate::dashboard::session::{Ctx, Session};
use crate::dashboard::{DashError, DashResult};
use crate::zone::Zone;

use super::board::{assignees, name_of, run_event_label, status_class};
use super::photos::Photos;
use super::{day_of, html_response, page, query, unreadable_note, Q};

/// The run page's address for `run_id` on `day`.
pub(crate) fn run_url(run_id: &str, day: &str) -> String {
    format!("/dashboard/runs/{}?day={day}", seg(run_id))
}

/// A refused form of the run page: which one (`key`, e.g. `stop-new` or `stop-<id>`), and
/// what was typed.
pub(super) struct RunRefill {
    pub key: String,
    pub refill: Refill,
}

/// What one form on the page renders with.
struct View<'a> {
    b: &'a BoardData,
    r: &'a Run,
    s: &'a Session,
    z: &'a Zone,
    names: BTreeMap<String, String>,
    refill: Option<&'a RunRefill>,
    photos: Photos,
}

impl<'a> View<'a> {
    fn prefill(&self, key: &str) -> Prefill<'a> {
        match self.refill {
            Some(r) if r.key == key => Prefill::new(Some(&r.refill)),
            _ => Prefill::none(),
        }
    }

    fn action(&self, path: &str) -> String {
        format!("/dashboard/runs/{}/{path}", seg(self.r.id()))
    }

    /// The hidden fields every form carries.
    fn hidden(&self) -> Markup {
        html! {
            input type="hidden" name="_csrf" value=(self.s.csrf);
            input type="hidden" name="day" value=(self.b.day);
        }
    }

    fn name<'b>(&'b self, id: &'b str) -> &'b str {
        name_of(&self.names, id)
    }

    /// A time in the production's zone, with the date when it is not the page's day.
    fn when(&self, ms: i64) -> String {
        if self.z.day(ms) == self.b.day {
            self.z.clock(ms)
        } else {
            self.z.date_time(ms)
        }
    }
}

fn opt(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("")
}

fn details_form(v: &View) -> Markup {
    let p = v.prefill("edit");
    let rec = &v.r.record;
    let kind = forms::run_kind_name(rec.kind).0;
    let (vehicle, _) = vehicle_name(rec.vehicle);
    let needed = rec.needed_by.map(|t| v.z.hhmm(t)).unwrap_or_default();
    html! {
        section #details.panel {
            h2 { "Details" }
            form #edit-run method="post" action=(v.action("edit")) {
                (p.summary())
                (v.hidden())
                label { "Title" input name="title" required maxlength="200" value=(p.value("title", rec.title.clone())); (p.error("title")) }
                label { "Kind" select name="kind" {
                    @for k in run::RunKind::ALL { @let (val, l) = forms::run_kind_name(k); option value=(val) selected[p.selected("kind", val, val == kind)] { (l) } }
                } (p.error("kind")) }
                label { "Priority" select name="priority" {
                    option value="normal" selected[p.selected("priority", "normal", rec.priority == Priority::Normal)] { "Normal" }
                    option value="urgent" selected[p.selected("priority", "urgent", rec.priority == Priority::Urgent)] { "Urgent" }
                } (p.error("priority")) }
                label { "Needed by (" (v.z.name()) ")" input name="needed_by" placeholder="HH:MM" value=(p.value("needed_by", needed)); (p.error("needed_by"))
                    @if let Some(t) = rec.needed_by.filter(|t| v.z.day(*t) != v.b.day) {
                        small.hint { "now " (v.z.date_time(t)) "; saving puts it on " (v.b.day) }
                    }
                }
                label { "Department" input name="department" value=(p.value("department", opt(&rec.department))); (p.error("department")) }
                label { "Requested by" input name="requested_by" required value=(p.value("requested_by", rec.requested_by.clone())); (p.error("requested_by")) }
                label { "Vehicle" select name="vehicle" {
                    @for (val, l) in [("", "—"), ("personal", "Personal"), ("production", "Production")] {
                        option value=(val) selected[p.selected("vehicle", val, val == vehicle)] { (l) }
                    }
                } (p.error("vehicle")) }
                button type="submit" { "Save details" }
            }
        }
    }
}

fn assignment(v: &View) -> Markup {
    let p = v.prefill("assign");
    let current = v.r.assigned_pa.as_deref();
    let open = !matches!(
        v.r.status,
        RunStatus::Delivered | RunStatus::Reconciled | RunStatus::Cancelled
    );
    html! {
        section #assignment.panel {
            h2 { "Assigned PA" }
            p.assignee { (current.map(|a| v.name(a)).unwrap_or("— unassigned —")) }
            @if open {
                form #assign method="post" action=(v.action("assignment")) {
                    (p.summary())
                    (v.hidden())
                    label { "Assign to" select name="assignee" {
                        option value="" selected[p.selected("assignee", "", current.is_none())] { "— unassigned —" }
                        @for m in assignees(&v.b.members) {
                            option value=(m.id) selected[p.selected("assignee", &m.id, current == Some(m.id.as_str()))] { (m.name) " (" (m.role.as_str()) ")" }
                        }
                    } (p.error("assignee")) }
                    button type="submit" { @if current.is_some() { "Reassign / unassign" } @else { "Assign" } }
                }
            } @else {
                p.hint { "A " (v.r.status.as_str()) " run is not reassigned." }
            }
            @let actions = lifecycle_actions(v.r.status);
            @if !actions.is_empty() {
                @let p = v.prefill("event");
                form #run-event method="post" action=(v.action("event")) {
                    (p.summary())
                    (v.hidden())
                    label { "Note" input name="note" placeholder="optional" value=(p.value("note", "")); (p.error("note")) }
                    @for (action, label) in actions {
                        button type="submit" name="action" value=(action) class={ "btn-" (action) } { (label) }
                    }
                }
            }
        }
    }
}

/// What the office may do to a run's lifecycle from its status (the rest is the PA's).
fn lifecycle_actions(s: RunStatus) -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    match s {
        RunStatus::Cancelled => out.push(("reopen", "Reopen")),
        RunStatus::Failed => out.extend([("reopen", "Reopen"), ("cancel", "Cancel run")]),
        RunStatus::Delivered => out.push(("reconcile", "Reconcile")),
        RunStatus::Reconciled => {}
        _ => out.push(("cancel", "Cancel run")),
    }
    out
}

fn stops(v: &View) -> Markup {
    let add = v.prefill("stop-new");
    let field = |p: &Prefill, name: &str, label: &str, stored: &str| {
        html! { label { (label) input name=(name) value=(p.value(name, stored)); (p.error(name)) } }
    };
    html! {
        section #stops.panel {
            h2 { "Stops" }
            @if v.r.record.stops.is_empty() { p.empty { "No stops yet." } }
            ol.stops {
                @for st in &v.r.record.stops {
                    @let key = format!("stop-{}", st.id);
                    @let p = v.prefill(&key);
                    li.stop data-stop-id=(st.id) {
                        form.stop-edit method="post" action=(v.action(&format!("stops/{}", seg(&st.id)))) {
                            (p.summary())
                            (v.hidden())
                            label { "Label" input name="label" required value=(p.value("label", st.label.clone())); (p.error("label")) }
                            (field(&p, "address", "Address", opt(&st.address)))
                            (field(&p, "contact_name", "Contact", opt(&st.contact_name)))
                            (field(&p, "contact_phone", "Contact phone", opt(&st.contact_phone)))
                            (field(&p, "notes", "Notes", opt(&st.notes)))
                            button type="submit" { "Save stop" }
                        }
                        form.inline method="post" action=(v.action(&format!("stops/{}/remove", seg(&st.id)))) {
                            (v.hidden())
                            button.btn-cancel type="submit" { "Remove stop" }
                        }
                    }
                }
            }
            form #add-stop method="post" action=(v.action("stops")) {
                (add.summary())
                (v.hidden())
                label { "New stop" input name="label" required placeholder="where to go" value=(add.value("label", "")); (add.error("label")) }
                (field(&add, "address", "Address", ""))
                (field(&add, "contact_name", "Contact", ""))
                (field(&add, "contact_phone", "Contact phone", ""))
                (field(&add, "notes", "Notes", ""))
                button type="submit" { "Add stop" }
            }
        }
    }
}

fn items(v: &View) -> Markup {
    let p = v.prefill("item-new");
    html! {
        section #items.panel {
            h2 { "Items" }
            @if v.r.record.items.is_empty() { p.empty { "No items yet." } }
            ul.items {
                @for it in &v.r.record.items {
                    li.item.checked[it.checked] data-item-id=(it.id) data-checked=(it.checked) {
                        (v.prefill(&format!("item-{}", it.id)).summary())
                        span.tick { @if it.checked { "☑" } @else { "☐" } }
                        " " span.desc { (it.quantity) " × " (it.description) }
                        form.inline method="post" action=(v.action(&format!("items/{}/check", seg(&it.id)))) {
                            (v.hidden())
                            input type="hidden" name="checked" value=(!it.checked);
                            button.tick-off type="submit" { @if it.checked { "Untick" } @else { "Tick off" } }
                        }
                        form.inline method="post" action=(v.action(&format!("items/{}/remove", seg(&it.id)))) {
                            (v.hidden())
                            button.btn-cancel type="submit" { "Remove" }
                        }
                        @let ip = v.prefill(&format!("item-edit-{}", it.id));
                        details.edit open[ip.is_refused()] {
                            summary { "Edit" }
                            form.item-edit method="post" action=(v.action(&format!("items/{}", seg(&it.id)))) {
                                (ip.summary())
                                (v.hidden())
                                label { "Item" input name="description" required value=(ip.value("description", it.description.clone())); (ip.error("description")) }
                                label { "Quantity" input name="quantity" inputmode="numeric" size="4" value=(ip.value("quantity", it.quantity.to_string())); (ip.error("quantity")) }
                                button type="submit" { "Save item" }
                            }
                        }
                    }
                }
            }
            form #add-item method="post" action=(v.action("items")) {
                (p.summary())
                (v.hidden())
                label { "Item" input name="description" required value=(p.value("description", "")); (p.error("description")) }
                label { "Quantity" input name="quantity" inputmode="numeric" size="4" placeholder="1" value=(p.value("quantity", "")); (p.error("quantity")) }
                button type="submit" { "Add item" }
            }
        }
    }
}

fn food(v: &View) -> Markup {
    let p = v.prefill("food-new");
    html! {
        section #food.panel {
            h2 { "Food orders" }
            @if v.r.record.food_orders.is_empty() { p.empty { "No food orders." } }
            ul.food {
                @for fo in &v.r.record.food_orders {
                    @let fp = v.prefill(&format!("food-{}", fo.id));
                    li.food-order data-food-id=(fo.id) {
                        p.food-line {
                            strong.person { (fo.person) } ": " span.order { (fo.order) }
                            @if let Some(d) = &fo.dietary_notes { " · " em.dietary { (d) } }
                        }
                        details.edit open[fp.is_refused()] {
                            summary { "Edit" }
                            form.food-edit method="post" action=(v.action(&format!("food/{}", seg(&fo.id)))) {
                                (fp.summary())
                                (v.hidden())
                                label { "Person" input name="person" required value=(fp.value("person", fo.person.clone())); (fp.error("person")) }
                                label { "Order" input name="order" required value=(fp.value("order", fo.order.clone())); (fp.error("order")) }
                                label { "Dietary notes" input name="dietary_notes" value=(fp.value("dietary_notes", opt(&fo.dietary_notes))); (fp.error("dietary_notes")) }
                                button type="submit" { "Save order" }
                            }
                        }
                        form.inline method="post" action=(v.action(&format!("food/{}/remove", seg(&fo.id)))) {
                            (v.hidden())
                            button.btn-cancel type="submit" { "Remove" }
                        }
                    }
                }
            }
            form #add-food method="post" action=(v.action("food")) {
                (p.summary())
                (v.hidden())
                label { "Person" input name="person" required value=(p.value("person", "")); (p.error("person")) }
                label { "Order" input name="order" required value=(p.value("order", "")); (p.error("order")) }
                label { "Dietary notes" input name="dietary_notes" value=(p.value("dietary_notes", "")); (p.error("dietary_notes")) }
                button type="submit" { "Add order" }
            }
        }
    }
}

fn money(v: &View) -> Markup {
    let p = v.prefill("money");
    let m = &v.r.record.money;
    let spent: i64 =
        v.r.record
            .receipts
            .iter()
            .fold(0, |a, r| a.saturating_add(r.total_cents));
    let returned = m.cash_returned_cents.unwrap_or(0);
    let difference = m
        .advanced_cents
        .saturating_sub(spent)
        .saturating_sub(returned);
    html! {
        section #money.panel {
            h2 { "Petty cash" }
            dl.totals {
                dt { "Advanced" } dd #advanced { (fmt_cents(m.advanced_cents)) }
                dt { "Spent (receipts)" } dd #spent { (fmt_cents(spent)) }
                dt { "Returned" } dd #returned { (m.cash_returned_cents.map(fmt_cents).unwrap_or_else(|| "—".into())) }
                dt { "Difference" } dd #difference.late-flag[difference != 0] { (fmt_cents(difference)) }
            }
            form #money-form method="post" action=(v.action("money")) {
                (p.summary())
                (v.hidden())
                label { "Envelope" input name="envelope" value=(p.value("envelope", opt(&m.envelope))); (p.error("envelope")) }
                label { "Advanced" input name="advanced" inputmode="decimal" size="9" value=(p.value("advanced", fmt_cents(m.advanced_cents))); (p.error("advanced")) }
                label { "Cash returned" input name="cash_returned" inputmode="decimal" size="9" value=(p.value("cash_returned", m.cash_returned_cents.map(fmt_cents).unwrap_or_default())); (p.error("cash_returned")) }
                button type="submit" { "Save petty cash" }
            }
        }
    }
}

fn receipts(v: &View) -> Markup {
    let p = v.prefill("receipt-new");
    html! {
        section #receipts.panel {
            h2 { "Receipts" }
            @if v.r.record.receipts.is_empty() { p.empty { "No receipts yet." } }
            ul.receipts {
                @for rc in &v.r.record.receipts {
                    li.receipt data-receipt-id=(rc.id) {
                        strong.vendor { (rc.vendor) } " "
                        span.amount { (fmt_cents(rc.total_cents)) }
                        " (tax " (fmt_cents(rc.tax_cents)) ")"
                        @if let Some(a) = &rc.account_code { " · acct " (a) }
                        @if let Some(ph) = &rc.photo_ref { " · " (v.photos.show(&v.b.day, ph, &format!("Receipt from {}", rc.vendor))) }
                        br;
                        small.hint { "by " (v.name(&rc.added_by)) ", " (v.when(rc.added_at)) }
                    }
                }
            }
            form #add-receipt method="post" action=(v.action("receipts")) {
                (p.summary())
                (v.hidden())
                label { "Vendor" input name="vendor" required value=(p.value("vendor", "")); (p.error("vendor")) }
                label { "Total" input name="total" inputmode="decimal" size="9" required placeholder="12.50" value=(p.value("total", "")); (p.error("total")) }
                label { "Tax" input name="tax" inputmode="decimal" size="9" placeholder="0.00" value=(p.value("tax", "")); (p.error("tax")) }
                label { "Account code" input name="account_code" size="8" value=(p.value("account_code", "")); (p.error("account_code")) }
                label { "Photo ref" input name="photo_ref" size="10" value=(p.value("photo_ref", "")); (p.error("photo_ref")) }
                button type="submit" { "Add receipt" }
            }
        }
    }
}

fn mileage_and_proof(v: &View) -> Markup {
    let p = v.prefill("mileage");
    let rec = &v.r.record;
    html! {
        section #mileage.panel {
            h2 { "Mileage" }
            form #mileage-form method="post" action=(v.action("mileage")) {
                (p.summary())
                (v.hidden())
                label { "Miles" input name="mileage" inputmode="decimal" size="7" value=(p.value("mileage", rec.mileage_tenths.map(fmt_tenths).unwrap_or_default())); (p.error("mileage")) }
                button type="submit" { "Save mileage" }
            }
        }
        section #proof.panel {
            h2 { "Proof of delivery" }
            @if let Some(pod) = &rec.proof_of_delivery {
                dl {
                    dt { "Received by" } dd.received-by { (pod.received_by) }
                    @if let Some(n) = &pod.note { dt { "Note" } dd { (n) } }
                    @if let Some(ph) = &pod.photo_ref { dt { "Photo" } dd { (v.photos.show(&v.b.day, ph, &format!("Delivery received by {}", pod.received_by))) } }
                    dt { "Recorded" } dd { (v.name(&pod.recorded_by)) ", " (v.when(pod.recorded_at)) }
                }
            } @else {
                p.empty { "Not delivered yet; the PA records who received it." }
            }
        }
    }
}

fn comments(v: &View) -> Markup {
    let p = v.prefill("comment-new");
    html! {
        section #comments.panel {
            h2 { "Comments" }
            @if v.r.record.comments.is_empty() { p.empty { "No comments yet." } }
            ul.comments {
                @for c in &v.r.record.comments {
                    li.comment { strong { (v.name(&c.author)) } " · " small { (v.when(c.at)) } br; span.text { (c.text) } }
                }
            }
            form #add-comment method="post" action=(v.action("comments")) {
                (p.summary())
                (v.hidden())
                label.wide { "Comment" textarea name="comment" rows="2" required { (p.value("comment", "")) } (p.error("comment")) }
                button type="submit" { "Add comment" }
            }
        }
    }
}

fn history(v: &View) -> Markup {
    let r = v.r;
    html! {
        section #history.panel {
            h2 { "Status history" }
            p.hint { "Times are in " (v.z.name()) "." }
            ol.events {
                @for e in &r.events {
                    @let lost = r.conflicts.iter().find(|c| c.event_id == e.id);
                    li.event data-kind=(run_event_label(e)) {
                        time { (v.when(e.at_ms)) } " " strong { (run_event_label(e)) }
                        @if let Some(a) = &e.assignee { " → " (v.name(a)) }
                        " · " (v.name(&e.member))
                        @if let Some(role) = e.role { " (" (role.as_str()) ")" }
                        @if let Some(n) = &e.note { " · “" (n) "”" }
                        @if let Some(n) = &e.reason { " · " (n) }
                        @if let Some(l) = &e.location {
                            @if let Some(label) = &l.label { " · at " (label) }
                            @else if let (Some(lat), Some(lon)) = (l.lat, l.lon) { " · at " (format!("{lat:.5}, {lon:.5}")) }
                        }
                        @if let Some(c) = lost {
                            " " span.conflict-flag { @if c.resolved { "(concurrent, lost; resolved)" } @else { "(concurrent, lost: conflict)" } }
                        }
                    }
                }
            }
            @if !r.ignored_events.is_empty() {
                p.hint { (r.ignored_events.len()) " log entries could not be read and are left out." }
            }
        }
    }
}

fn run_body(v: &View) -> Markup {
    let r = v.r;
    let kind = forms::run_kind_name(r.record.kind).1;
    html! {
        p.back { a href={ "/dashboard/board?day=" (v.b.day) } { "← Board for " (v.b.day) } }
        h1 #run-title { (r.record.title) }
        p.meta #run-meta data-status=(r.status.as_str()) {
            span class=(status_class(r.status.as_str())) { (r.status.as_str()) }
            " · " (kind)
            @if r.record.priority == Priority::Urgent { " · " strong.urgent-flag { "URGENT" } }
            " · needed by " (r.record.needed_by.map(|t| v.when(t)).unwrap_or_else(|| "—".into()))
            @if let Some(f) = &r.failure_reason { " · failed: " (f) }
        }
        p.hint { "Created by " (v.name(&r.record.created_by)) ", " (v.when(r.record.created_at)) ". Times are in " (v.z.name()) "." }
        div.run-grid {
            (details_form(v))
            (assignment(v))
            (stops(v))
            (items(v))
            (food(v))
            (money(v))
            (receipts(v))
            (mileage_and_proof(v))
            (comments(v))
            (history(v))
        }
    }
}

/// The run page; after a refused form, that form with what was typed.
pub(super) async fn run_page(
    ctx: &Ctx,
    day: &str,
    run_id: &str,
    refill: Option<RunRefill>,
) -> DashResult<Response> {
    let b = data::board(ctx, day).await?;
    let Some(r) = b.runs.iter().find(|r| r.id() == run_id) else {
        let why = b
            .unreadable
            .iter()
            .find(|u| u.id == run_id)
            .map(|u| format!(": it could not be read ({})", u.why))
            .unwrap_or_default();
        return Err(DashError::not_found(format!(
            "there is no run `{}` on the board for {day}{why}",
            run_id.chars().take(60).collect::<String>()
        )));
    };
    let mut refs: Vec<String> = r
        .record
        .receipts
        .iter()
        .filter_map(|rc| rc.photo_ref.clone())
        .collect();
    refs.extend(
        r.record
            .proof_of_delivery
            .as_ref()
            .and_then(|p| p.photo_ref.clone()),
    );
    let photos = Photos::lookup(ctx, refs).await;
    let v = View {
        b: &b,
        r,
        s: &ctx.session,
        z: &ctx.zone,
        names: data::names(&b.members),
        refill: refill.as_ref(),
        photos,
    };
    let others: Vec<_> = b
        .unreadable
        .iter()
        // Other runs and tasks are the board's business; the board document is this page's.
        .filter(|u| !matches!(u.what, "run" | "task"))
        .cloned()
        .collect();
    let body = html! {
        (unreadable_note(&others))
        (run_body(&v))
    };
    let status = refill
        .as_ref()
        .map(|r| r.refill.status())
        .unwrap_or(StatusCode::OK);
    Ok(html_response(
        status,
        page(&r.record.title, Some(&ctx.session), Some(day), body),
    ))
}

pub async fn run_view(ctx: Ctx, Path(run_id): Path<String>, q: Q) -> DashResult<Response> {
    ctx.require_office()?;
    let q = query(q)?;
    let day = day_of(&ctx, &q)?;
    run_page(&ctx, &day, &run_id, None).await
}
