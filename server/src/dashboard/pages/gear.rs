//! Gear and walkies, `/dashboard/gear?day=`: the wrap check ("Still out: 3 walkies,
//! 1 C-stand" or "Everything is back"), what is overdue on the day with the form that
//! turns it into a return run on the day's board, who has what now, what is lost or
//! damaged, sign-outs recorded twice at once (both kept; the one that counts and the other
//! are shown), and the inventory (category, name, label, owner, due back, condition,
//! channel and battery) with the forms the office uses: sign out to a member, return,
//! report lost or damaged, mark found or repaired, correct an item's fields, add an item.
//! One domain op a form.
//!
//! The day is the production's day the page is about (today there by default): it decides
//! what is overdue and which board a return run goes on. Times are in the production's
//! zone.
//!
//! Everything but the add form is one live panel (`/dashboard/fragment/gear`), refreshed
//! when the gear document changes, so a PA's sign-out at the truck shows without a
//! reload. A refused form comes back above the panel with what was typed and the error by
//! its field. Item ids come from a synced document and may hold any text, so forms carry
//! them as a field, never in a path.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use setlink_core::model::gear::{
    self, Battery, GearCategory, GearEdit, GearEventKind, GearItem, NewGearItem,
};
use setlink_core::model::status::EventKind;
use setlink_core::model::{run, Unreadable};
use setlink_core::{DocKind, DocumentId, DomainError, Role};

use crate::dashboard::data;
use crate::dashboard::forms::{self, Fields};
use crate::dashboard::refill::{Prefill, Refill};
use crate::dashboard::session::{Ctx, Session};
use crate::dashboard::{DashError, DashResult};
use crate::storage::Member;
use crate::zone::Zone;

use super::board::name_of;
use super::run::run_url;
use super::{day_of, form, html_response, page, query, see_other, unreadable_note, F, Q};

/// What the page shows.
struct GearData {
    day: String,
    items: Vec<GearItem>,
    members: Vec<Member>,
    /// Items, the document and index entries that could not be read.
    unreadable: Vec<Unreadable>,
}

/// The production's gear document if the index has one (a fragment never creates it).
async fn existing(ctx: &Ctx) -> DashResult<(Option<DocumentId>, Vec<Unreadable>)> {
    let production = data::production(ctx).await?;
    let idx = data::index(ctx, &production).await?;
    let (doc, mut skipped) = data::resolve(ctx, &idx, &DocKind::Gear).await?;
    skipped.extend(idx.skipped);
    Ok((doc, skipped))
}

/// The gear document, created and indexed on the first visit for productions made before
/// the relay created one with every production.
async fn ensure(ctx: &Ctx) -> DashResult<DocumentId> {
    let production = data::production(ctx).await?;
    data::ensure(ctx, &production, DocKind::Gear, gear::init_gear).await
}

async fn load(ctx: &Ctx, day: &str, doc: Option<DocumentId>) -> DashResult<GearData> {
    let members = data::members(ctx).await?;
    let (found, mut unreadable) = existing(ctx).await?;
    let mut items = Vec::new();
    if let Some(doc) = doc.or(found) {
        match data::read(ctx, doc, gear::list_items).await {
            Ok(Ok(l)) => {
                items = l.items;
                unreadable.extend(l.unreadable);
            }
            // Created on a device and indexed, not yet synced here: no items yet.
            Ok(Err(DomainError::NotInitialised(_))) => {}
            Ok(Err(e)) => unreadable.push(Unreadable {
                id: doc.to_string(),
                what: "gear document",
                why: e.to_string(),
            }),
            Err(e) => unreadable.push(Unreadable {
                id: doc.to_string(),
                what: "gear document",
                why: e.message,
            }),
        }
    }
    Ok(GearData {
        day: day.to_owned(),
        items,
        members,
        unreadable,
    })
}

fn category_label(c: GearCategory) -> &'static str {
    match c {
        GearCategory::Walkie => "Walkie",
        GearCategory::Camera => "Camera",
        GearCategory::Grip => "Grip",
        GearCategory::Electric => "Electric",
        GearCategory::Sound => "Sound",
        GearCategory::Props => "Props",
        GearCategory::Wardrobe => "Wardrobe",
        GearCategory::Vehicle => "Vehicle",
        GearCategory::Other => "Other",
    }
}

/// "Walkie 4 (SN-0004)".
fn item_name(i: &GearItem) -> String {
    match &i.record.label {
        Some(l) => format!("{} ({l})", i.record.name),
        None => i.record.name.clone(),
    }
}

/// Where an item stands, in words and as a CSS class.
fn standing(i: &GearItem, names: &BTreeMap<String, String>, z: &Zone) -> (String, &'static str) {
    if i.with_owner {
        return ("back with its owner".into(), "s-with-owner");
    }
    if i.lost {
        return ("lost".into(), "s-lost");
    }
    match (&i.holder, i.out_since) {
        (Some(h), Some(at)) => (
            format!("out to {} since {}", name_of(names, h), z.date_time(at)),
            "s-out",
        ),
        (Some(h), None) => (format!("out to {}", name_of(names, h)), "s-out"),
        _ => ("in".into(), "s-in"),
    }
}

/// The wrap check: what is still out, or that everything is back.
fn wrap_line(items: &[GearItem]) -> String {
    let summary = gear::still_out_summary(items);
    if summary.is_empty() {
        "Everything is back".into()
    } else {
        format!("Still out: {}", gear::format_still_out(&summary))
    }
}

fn hidden(day: &str, s: &Session, item: &str) -> Markup {
    html! {
        input type="hidden" name="_csrf" value=(s.csrf);
        input type="hidden" name="day" value=(day);
        input type="hidden" name="item" value=(item);
    }
}

/// Members gear can be signed out to: everyone active (walkies go to crew too).
fn holders(members: &[Member]) -> Vec<&Member> {
    members
        .iter()
        .filter(|m| m.revoked_at_ms.is_none())
        .collect()
}

fn sign_out_form(day: &str, s: &Session, members: &[Member], i: &GearItem, p: Prefill) -> Markup {
    html! {
        form.gear-sign-out method="post" action="/dashboard/gear/event" {
            (hidden(day, s, &i.record.id))
            input type="hidden" name="action" value="sign_out";
            label.inline { span.label-text { "Sign " (item_name(i)) " out to" }
                select name="to" autofocus[p.is_about("to")] {
                    option value="" { "— member —" }
                    @for m in holders(members) {
                        option value=(m.id) selected[p.selected("to", &m.id, false)] { (m.name) " (" (m.role.as_str()) ")" }
                    }
                }
                (p.error("to"))
            }
            button type="submit" { "Sign out" }
        }
    }
}

fn damage_form(day: &str, s: &Session, i: &GearItem, p: Prefill) -> Markup {
    html! {
        form.gear-damage method="post" action="/dashboard/gear/event" {
            (hidden(day, s, &i.record.id))
            input type="hidden" name="action" value="damaged";
            label.inline { span.label-text { "Damage to " (item_name(i)) }
                input name="damage" maxlength="200" size="14" placeholder="what is damaged"
                    value=(p.value("damage", "")) autofocus[p.is_about("damage")];
                (p.error("damage"))
            }
            button type="submit" { "Report damaged" }
        }
    }
}

/// A one-button form recording `action` on the item.
fn action_button(day: &str, s: &Session, i: &GearItem, action: &str, label: &str) -> Markup {
    html! {
        form.gear-action method="post" action="/dashboard/gear/event" {
            (hidden(day, s, &i.record.id))
            button type="submit" name="action" value=(action) aria-label={ (label) " " (item_name(i)) } { (label) }
        }
    }
}

fn actions(g: &GearData, s: &Session, i: &GearItem) -> Markup {
    let planner = matches!(s.role, Role::Coordinator | Role::Office);
    let gone = i.with_owner || i.lost;
    html! {
        @if !gone && i.holder.is_none() { (sign_out_form(&g.day, s, &g.members, i, Prefill::none())) }
        @if !gone && i.holder.is_some() { (action_button(&g.day, s, i, "return", "Return")) }
        @if !gone && i.record.owner.is_some() { (action_button(&g.day, s, i, "returned_to_owner", "Back to owner")) }
        @if !gone { (action_button(&g.day, s, i, "lost", "Report lost")) (damage_form(&g.day, s, i, Prefill::none())) }
        @if planner && i.lost { (action_button(&g.day, s, i, "found", "Mark found")) }
        @if planner && i.damaged && !i.with_owner { (action_button(&g.day, s, i, "repaired", "Mark repaired")) }
        @if planner { (edit_form(&g.day, s, i, Prefill::none())) }
    }
}

fn inventory_row(
    g: &GearData,
    s: &Session,
    z: &Zone,
    names: &BTreeMap<String, String>,
    i: &GearItem,
) -> Markup {
    let (words, class) = standing(i, names, z);
    let walkie = i.record.category == GearCategory::Walkie;
    html! {
        tr data-item-id=(i.record.id) data-category=(i.record.category.as_str()) {
            td data-label="Category" { (category_label(i.record.category)) }
            td.name { (i.record.name)
                @if i.conflicts.iter().any(|c| !c.resolved) { " " span.conflict-flag title="recorded twice at once; both are kept" { "conflict" } } }
            td data-label="Label" { (i.record.label.as_deref().unwrap_or("—")) }
            td data-label="Owner" { (i.record.owner.as_deref().unwrap_or("production")) }
            td data-label="Due back" { (i.record.due_back.as_deref().unwrap_or("—")) }
            td data-label="Condition" { (i.record.condition.as_deref().unwrap_or("—"))
                @if let Some(d) = &i.damage { @if i.damaged { " " strong.late-flag { "DAMAGED: " (d) } } } }
            td data-label="Channel / battery" {
                @if walkie {
                    (i.record.channel.map(|c| format!("ch {c}")).unwrap_or_else(|| "—".into()))
                    " · " (i.record.battery.map(Battery::as_str).unwrap_or("—"))
                } @else { "—" }
            }
            td.standing data-label="Now" { span class={ "status " (class) } { (words) } }
            td.actions { (actions(g, s, i)) }
        }
    }
}

/// Unresolved conflicts: which event counts and which was kept beside it.
fn conflicts_markup(g: &GearData, z: &Zone, names: &BTreeMap<String, String>) -> Markup {
    let open: Vec<(&GearItem, &setlink_core::model::status::Conflict)> = g
        .items
        .iter()
        .flat_map(|i| {
            i.conflicts
                .iter()
                .filter(|c| !c.resolved)
                .map(move |c| (i, c))
        })
        .collect();
    let describe = |i: &GearItem, id: &str| -> String {
        match i.events.iter().find(|e| e.id == id) {
            Some(e) => {
                let what = e.kind.as_str().replace('_', " ");
                let to = match (e.kind, &e.assignee) {
                    (GearEventKind::SignedOut, Some(a)) => format!(" to {}", name_of(names, a)),
                    _ => String::new(),
                };
                format!(
                    "{what}{to} by {} at {}",
                    name_of(names, &e.member),
                    z.date_time(e.at_ms)
                )
            }
            None => id.to_owned(),
        }
    };
    html! {
        @if !open.is_empty() {
            section #gear-conflicts {
                h2 { "Recorded twice at once" }
                p.hint { "Two phones recorded these offline at the same time. Both are kept; the first one counts. Record a return or a new sign-out to settle it." }
                ul {
                    @for (i, c) in &open {
                        li data-item-id=(i.record.id) {
                            strong { (item_name(i)) } ": counts — " (describe(i, &c.lost_to)) "; also recorded — " (describe(i, &c.event_id))
                        }
                    }
                }
            }
        }
    }
}

/// The live panel.
fn fragment_markup(ctx: &Ctx, g: &GearData) -> Markup {
    let z = &ctx.zone;
    let s = &ctx.session;
    let names = data::names(&g.members);
    let out = gear::still_out(&g.items);
    let overdue = gear::overdue(&g.items, &g.day);
    let mut by_holder: BTreeMap<&str, Vec<&GearItem>> = BTreeMap::new();
    for i in &out {
        if let Some(h) = &i.holder {
            by_holder.entry(name_of(&names, h)).or_default().push(i);
        }
    }
    let lost_or_damaged: Vec<&GearItem> = g
        .items
        .iter()
        .filter(|i| i.lost || (i.damaged && !i.with_owner))
        .collect();
    let returnable = overdue.iter().any(|i| !i.lost);
    html! {
        (unreadable_note(&g.unreadable))
        p #wrap-check.summary { strong { (wrap_line(&g.items)) } }
        section #gear-overdue {
            h2 { "Overdue on " (g.day) }
            @if overdue.is_empty() {
                p.empty { "Nothing borrowed or rented is past its due-back day." }
            } @else {
                ul {
                    @for i in &overdue {
                        li data-item-id=(i.record.id) {
                            (item_name(i)) " — due back to " (i.record.owner.as_deref().unwrap_or("?"))
                            " on " (i.record.due_back.as_deref().unwrap_or("?"))
                            @if i.lost { " " strong.late-flag { "LOST" } }
                            @if let Some(h) = i.holder.as_deref().filter(|_| i.is_out()) { " · with " (name_of(&names, h)) }
                        }
                    }
                }
                @if returnable {
                    form #gear-return-run method="post" action="/dashboard/gear/return-run" {
                        input type="hidden" name="_csrf" value=(s.csrf);
                        input type="hidden" name="day" value=(g.day);
                        button type="submit" { "Create a return run on " (g.day) "'s board" }
                    }
                }
            }
        }
        section #gear-holders {
            h2 { "Who has what" }
            @if by_holder.is_empty() {
                p.empty { "Nothing is signed out." }
            } @else {
                ul {
                    @for (who, items) in &by_holder {
                        li data-holder=(who) { strong { (who) } ": "
                            @for (n, i) in items.iter().enumerate() { @if n > 0 { ", " } (item_name(i)) }
                        }
                    }
                }
            }
        }
        @if !lost_or_damaged.is_empty() {
            section #gear-lost-damaged {
                h2 { "Lost or damaged" }
                ul {
                    @for i in &lost_or_damaged {
                        li data-item-id=(i.record.id) {
                            (item_name(i)) " — "
                            @if i.lost { "lost" @if let Some(h) = &i.holder { " (last with " (name_of(&names, h)) ")" } }
                            @if i.lost && i.damaged { ", " }
                            @if i.damaged { "damaged" @if let Some(d) = &i.damage { ": " (d) } }
                        }
                    }
                }
            }
        }
        (conflicts_markup(g, z, &names))
        section #gear-inventory {
            h2 { "Inventory" }
            @if g.items.is_empty() {
                p.empty { "No gear has been added yet." }
            } @else {
                table.gear.stack {
                    thead { tr { th { "Category" } th { "Name" } th { "Label" } th { "Owner" } th { "Due back" } th { "Condition" } th { "Channel / battery" } th { "Now (" (z.name()) ")" } th { "" } } }
                    tbody { @for i in &g.items { (inventory_row(g, s, z, &names, i)) } }
                }
            }
        }
    }
}

/// An item's fields as inputs: empty for a new item (a walkie by default), the item's own
/// for an edit; what was typed when a form comes back refused.
fn item_fields(p: &Prefill, i: Option<&GearItem>) -> Markup {
    let r = i.map(|i| &i.record);
    let text = |name: &str, v: Option<&Option<String>>| {
        p.value(name, v.and_then(|v| v.clone()).unwrap_or_default())
    };
    let name = p.value("name", r.map(|r| r.name.clone()).unwrap_or_default());
    let category = r.map_or(GearCategory::Walkie, |r| r.category);
    let channel = p.value(
        "channel",
        r.and_then(|r| r.channel)
            .map(|c| c.to_string())
            .unwrap_or_default(),
    );
    let battery = r.and_then(|r| r.battery);
    html! {
        label { "Name" input name="name" required maxlength="200" value=(name) autofocus[p.is_about("name")]; (p.error("name")) }
        label { "Category" select name="category" autofocus[p.is_about("category")] {
            @for c in GearCategory::ALL { option value=(c.as_str()) selected[p.selected("category", c.as_str(), c == category)] { (category_label(c)) } }
        } (p.error("category")) }
        label { "Label or serial" input name="label" maxlength="200" value=(text("label", r.map(|r| &r.label))) autofocus[p.is_about("label")]; (p.error("label")) }
        label { "Owner (rental house or lender; empty if the production's own)" input name="owner" maxlength="200" value=(text("owner", r.map(|r| &r.owner))) autofocus[p.is_about("owner")]; (p.error("owner")) }
        label { "Due back" input type="date" name="due_back" value=(text("due_back", r.map(|r| &r.due_back))) autofocus[p.is_about("due_back")]; (p.error("due_back")) }
        label { "Condition" input name="condition" maxlength="5000" value=(text("condition", r.map(|r| &r.condition))) autofocus[p.is_about("condition")]; (p.error("condition")) }
        label { "Walkie channel" input name="channel" inputmode="numeric" size="4" value=(channel) autofocus[p.is_about("channel")]; (p.error("channel")) }
        label { "Battery" select name="battery" autofocus[p.is_about("battery")] {
            option value="" { "—" }
            @for b in Battery::ALL { option value=(b.as_str()) selected[p.selected("battery", b.as_str(), battery == Some(b))] { (b.as_str()) } }
        } (p.error("battery")) }
    }
}

fn add_form(day: &str, s: &Session, p: Prefill) -> Markup {
    html! {
        details.new open[p.is_refused()] {
            summary { "Add gear" }
            form #gear-add method="post" action="/dashboard/gear/items" {
                (p.summary())
                input type="hidden" name="_csrf" value=(s.csrf);
                input type="hidden" name="day" value=(day);
                (item_fields(&p, None))
                button type="submit" { "Add" }
            }
        }
    }
}

/// Correcting an item: a wrong serial, a new due-back date, a walkie moved to another
/// channel. Open when it came back refused; kept open across live refreshes.
fn edit_form(day: &str, s: &Session, i: &GearItem, p: Prefill) -> Markup {
    html! {
        details.gear-edit data-key={ "edit-" (i.record.id) } open[p.is_refused()] {
            summary aria-label={ "Edit " (item_name(i)) } { "Edit" }
            form.gear-edit method="post" action="/dashboard/gear/edit" {
                (hidden(day, s, &i.record.id))
                (item_fields(&p, Some(i)))
                button type="submit" { "Save" }
            }
        }
    }
}

/// Which form a refusal came back to.
enum GearRefill {
    None,
    Add(Refill),
    /// An item's form (sign out, damage, a one-button action, or its edit form).
    Item {
        item: String,
        refill: Refill,
        edit: bool,
    },
}

async fn page_for(ctx: &Ctx, day: &str, refill: GearRefill) -> DashResult<Response> {
    let doc = ensure(ctx).await?;
    let g = load(ctx, day, Some(doc)).await?;
    let (status, add_p) = match &refill {
        GearRefill::None => (StatusCode::OK, Prefill::none()),
        GearRefill::Add(r) => (r.status(), Prefill::new(Some(r))),
        GearRefill::Item { refill, .. } => (refill.status(), Prefill::none()),
    };
    let refused = match &refill {
        GearRefill::Item { item, refill, edit } => {
            Some((item.as_str(), Prefill::new(Some(refill)), *edit))
        }
        _ => None,
    };
    let body = html! {
        h1 { "Gear and walkies — " (day) }
        p #zone.hint { "Times are in " (ctx.zone.name()) " (the production's time zone)." }
        @if let Some((id, p, edit)) = refused {
            section #gear-refused {
                @match g.items.iter().find(|x| x.record.id == id) {
                    Some(i) => {
                        h2 { (item_name(i)) }
                        (p.summary())
                        @if edit { (edit_form(day, &ctx.session, i, p)) }
                        @else if p.is_about("to") { (sign_out_form(day, &ctx.session, &g.members, i, p)) }
                        @else if p.is_about("damage") { (damage_form(day, &ctx.session, i, p)) }
                    }
                    None => { (p.summary()) }
                }
            }
        }
        (add_form(day, &ctx.session, add_p))
        div #gear data-live="gear" data-src={ "/dashboard/fragment/gear?day=" (day) } {
            (fragment_markup(ctx, &g))
        }
        p #live-status.live { "connecting…" }
    };
    Ok(html_response(
        status,
        page("Gear", Some(&ctx.session), Some(day), body),
    ))
}

/// `GET /dashboard/gear?day=`
pub async fn gear_page(ctx: Ctx, q: Q) -> DashResult<Response> {
    ctx.require_office()?;
    let q = query(q)?;
    let day = day_of(&ctx, &q)?;
    page_for(&ctx, &day, GearRefill::None).await
}

/// `GET /dashboard/fragment/gear?day=`: the live panel.
pub async fn gear_fragment(ctx: Ctx, q: Q) -> DashResult<Response> {
    ctx.require_office()?;
    let q = query(q)?;
    let day = day_of(&ctx, &q)?;
    let g = load(&ctx, &day, None).await?;
    Ok(html_response(StatusCode::OK, fragment_markup(&ctx, &g)))
}

/// A form's post: role, CSRF token, then the day it is about.
fn open_form(ctx: &Ctx, f: F) -> DashResult<(Fields, String)> {
    ctx.require_office()?;
    let f = form(f)?;
    ctx.check_csrf(f.csrf())?;
    let day = ctx.day(f.raw("day"))?;
    Ok((f, day))
}

fn back(day: &str) -> Response {
    see_other(format!("/dashboard/gear?day={day}"))
}

/// `POST /dashboard/gear/items` (`name`, `category`, `label`, `owner`, `due_back`,
/// `condition`, `channel`, `battery`).
pub async fn add_gear(ctx: Ctx, f: F) -> DashResult<Response> {
    let (f, day) = open_form(&ctx, f)?;
    match add_from(&ctx, &f).await {
        Ok(()) => Ok(back(&day)),
        Err(e) => page_for(&ctx, &day, GearRefill::Add(Refill::of(f, e)?)).await,
    }
}

/// The form field a domain refusal of an item's fields is about.
const ITEM_FIELDS: [(&str, &str); 6] = [
    ("gear name", "name"),
    ("gear label", "label"),
    ("gear owner", "owner"),
    ("due back", "due_back"),
    ("condition", "condition"),
    ("walkie channel", "channel"),
];

fn parse_new(f: &Fields) -> DashResult<NewGearItem> {
    let name = f.required("name", "A name")?;
    let raw = f.raw("category").unwrap_or("");
    let category = GearCategory::parse(raw).ok_or_else(|| {
        forms::bad(format!(
            "`{}` is not a gear category (walkie, camera, grip, electric, sound, props, wardrobe, vehicle, other)",
            raw.chars().take(40).collect::<String>()
        ))
        .on("category")
    })?;
    let due_back = match f.opt("due_back")? {
        Some(d) => Some(data::check_day(&d).map_err(|e| e.on("due_back"))?),
        None => None,
    };
    let channel = match f.opt("channel")? {
        Some(c) => Some(c.parse::<i64>().map_err(|_| {
            forms::bad(format!(
                "walkie channel `{}` is not a whole number",
                c.chars().take(40).collect::<String>()
            ))
            .on("channel")
        })?),
        None => None,
    };
    let battery = match f.opt("battery")? {
        Some(b) => Some(Battery::parse(&b).ok_or_else(|| {
            forms::bad(format!(
                "`{}` is not a battery level (full, half, low, dead)",
                b.chars().take(40).collect::<String>()
            ))
            .on("battery")
        })?),
        None => None,
    };
    Ok(NewGearItem {
        label: f.opt("label")?,
        owner: f.opt("owner")?,
        due_back,
        condition: f.opt("condition")?,
        channel,
        battery,
        ..NewGearItem::new(name, category)
    })
}

async fn add_from(ctx: &Ctx, f: &Fields) -> DashResult<()> {
    let new = parse_new(f)?;
    let doc = ensure(ctx).await?;
    write_refusing(ctx, doc, &ITEM_FIELDS, |d, by, at| {
        gear::add_item(d, by, at, new)
    })
    .await
    .map(drop)
}

/// The gear document, which a form about an existing item needs.
async fn existing_doc(ctx: &Ctx) -> DashResult<DocumentId> {
    let (found, _) = existing(ctx).await?;
    found.ok_or_else(|| {
        DashError::not_found(
            "your production has no gear list yet; open the gear page first. Nothing was changed",
        )
    })
}

/// Writes `op` to the gear document; a refusal of the domain comes back as an error on
/// the form field it is about (`fields` maps the domain's field names to the form's).
async fn write_refusing<T: Send>(
    ctx: &Ctx,
    doc: DocumentId,
    fields: &[(&str, &str)],
    op: impl FnOnce(&mut automerge::Automerge, &setlink_core::Author, i64) -> Result<T, DomainError>
        + Send,
) -> DashResult<T> {
    let mut refusal = None;
    let out = data::write(ctx, doc, |d, by, at| {
        op(d, by, at).inspect_err(|e| {
            refusal = Some(forms::domain_refusal(e.clone(), fields));
        })
    })
    .await;
    match (out, refusal) {
        (Ok(v), _) => Ok(v),
        (Err(_), Some(r)) => Err(r),
        (Err(e), None) => Err(e),
    }
}

/// The page again with an item's refused form, what was typed and the error.
async fn refused_item(
    ctx: &Ctx,
    day: &str,
    f: Fields,
    e: DashError,
    edit: bool,
) -> DashResult<Response> {
    let item = f.raw("item").unwrap_or_default().to_owned();
    let refill = Refill::of(f, e)?;
    page_for(ctx, day, GearRefill::Item { item, refill, edit }).await
}

/// `POST /dashboard/gear/edit` (`item` and the add form's fields): the item as typed.
/// Fields left as they were are not written, so an edit concurrent with a PA's battery
/// update on the phone keeps both.
pub async fn edit_gear(ctx: Ctx, f: F) -> DashResult<Response> {
    let (f, day) = open_form(&ctx, f)?;
    match edit_from(&ctx, &f).await {
        Ok(()) => Ok(back(&day)),
        Err(e) => refused_item(&ctx, &day, f, e, true).await,
    }
}

async fn edit_from(ctx: &Ctx, f: &Fields) -> DashResult<()> {
    let item = f.required("item", "The item")?;
    let n = parse_new(f)?;
    let edit = GearEdit {
        name: Some(n.name),
        category: Some(n.category),
        label: Some(n.label),
        owner: Some(n.owner),
        due_back: Some(n.due_back),
        condition: Some(n.condition),
        channel: Some(n.channel),
        battery: Some(n.battery),
    };
    let doc = existing_doc(ctx).await?;
    write_refusing(ctx, doc, &ITEM_FIELDS, |d, by, at| {
        gear::edit_item(d, by, at, &item, edit)
    })
    .await
}

/// `POST /dashboard/gear/event` (`item`, `action`: sign_out (with `to`, a member id),
/// return, returned_to_owner, lost, damaged (with `damage`), found, repaired; `note`).
pub async fn gear_event(ctx: Ctx, f: F) -> DashResult<Response> {
    let (f, day) = open_form(&ctx, f)?;
    match event_from(&ctx, &f).await {
        Ok(()) => Ok(back(&day)),
        Err(e) => refused_item(&ctx, &day, f, e, false).await,
    }
}

async fn event_from(ctx: &Ctx, f: &Fields) -> DashResult<()> {
    let item = f.required("item", "The item")?;
    let note = f.opt("note")?;
    let action = f.raw("action").unwrap_or("").to_owned();
    let to = if action == "sign_out" {
        let to = f.required("to", "Who it goes to")?;
        let members = data::members(ctx).await?;
        if !holders(&members).iter().any(|m| m.id == to) {
            return Err(forms::bad(
                "that person is not an active member of this production; choose one again".into(),
            )
            .on("to"));
        }
        to
    } else {
        String::new()
    };
    let damage = if action == "damaged" {
        f.required("damage", "What is damaged")?
    } else {
        String::new()
    };
    if ![
        "sign_out",
        "return",
        "returned_to_owner",
        "lost",
        "damaged",
        "found",
        "repaired",
    ]
    .contains(&action.as_str())
    {
        return Err(forms::bad(format!(
            "`{}` is not something the gear list records (sign_out, return, returned_to_owner, lost, damaged, found, repaired)",
            action.chars().take(40).collect::<String>()
        ))
        .on("action"));
    }
    let doc = existing_doc(ctx).await?;
    let note = note.as_deref();
    write_refusing(
        ctx,
        doc,
        &[
            ("signed out to", "to"),
            ("damage", "damage"),
            ("note", "note"),
        ],
        |d, by, at| match action.as_str() {
            "sign_out" => gear::sign_out(d, by, at, &item, &to, note),
            "return" => gear::return_item(d, by, at, &item, note),
            "returned_to_owner" => gear::returned_to_owner(d, by, at, &item, note),
            "lost" => gear::report_lost(d, by, at, &item, note),
            "damaged" => gear::report_damaged(d, by, at, &item, &damage, note),
            "found" => gear::mark_found(d, by, at, &item, note),
            _ => gear::mark_repaired(d, by, at, &item, note),
        },
    )
    .await
    .map(drop)
}

/// `POST /dashboard/gear/return-run`: a "return borrowed gear" run on the day's board
/// from what is overdue on the day (one stop per owner), then the run's page.
pub async fn gear_return_run(ctx: Ctx, f: F) -> DashResult<Response> {
    let (_, day) = open_form(&ctx, f)?;
    let g = load(&ctx, &day, None).await?;
    let names = data::names(&g.members);
    let requested_by = ctx.session.name.clone();
    let input = gear::return_run_input(&g.items, &day, &requested_by, |h| {
        name_of(&names, h).to_owned()
    })
    .ok_or_else(|| {
        DashError::new(
            StatusCode::CONFLICT,
            format!("nothing borrowed or rented that can go back is overdue on {day}; nothing was changed"),
        )
    })?;
    let board = data::ensure_board(&ctx, &day).await?;
    let run_id = data::write(&ctx, board, |d, by, at| run::create_run(d, by, at, input)).await?;
    Ok(see_other(run_url(&run_id, &day)))
}
