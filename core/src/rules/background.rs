//! Rules for a day's background document (see [`crate::model::background`]).
//!
//! - The root holds only `people`, created once and never replaced or deleted.
//! - A person is never deleted or replaced, and every field but `wardrobe` is written once,
//!   with the person: the roster is what the day's paperwork is drawn from.
//! - A new person names its writer as `created_by` and starts with one `created` event.
//! - Events are append-only; each new one names its writer and their role and is a step
//!   allowed from the state derived from the events its author saw (`prev`), so nobody can
//!   check someone in in another PA's name, or release someone never checked in.
//! - Every person whose fields changed still reads as the model defines it, within bounds.

use automerge::{Automerge, ObjId};

use super::board::check_new_events;
use super::records::{self, Record, RecordMap, Touch};
use super::walk::Touched;
use super::{Refusal, RuleContext};
use crate::model::background::{self, BackgroundEventKind, BackgroundRecord};
use crate::model::status;
use crate::model::DomainError;

const PEOPLE: RecordMap = RecordMap {
    container: "people",
    document: "the background document",
    owner: "the day",
    plural: "people",
    one: "a person",
    pronoun: "their",
    never_deleted: "a person at holding is never deleted: the day's paperwork counts them",
    never_replaced: "a person at holding is never replaced; record what happened as an event",
    // Written once, with the person: everything but `wardrobe`.
    write_once: &[
        "id",
        "name",
        "group_id",
        "group",
        "created_at",
        "created_by",
    ],
    fixed: "never changes once they are added",
    never_rewritten: "check-ins, vouchers and releases are never deleted or rewritten",
    event: "an event",
};

impl Record for BackgroundRecord {
    fn id(&self) -> &str {
        &self.id
    }
    fn created_by(&self) -> &str {
        &self.created_by
    }
    fn validate(&self) -> Result<(), DomainError> {
        background::validate_record(self)
    }
}

pub(super) fn check(
    ctx: &RuleContext<'_>,
    doc: &Automerge,
    touched: &Touched<'_>,
) -> Result<(), Refusal> {
    let people = records::touched_records(touched, &PEOPLE, |_: &mut (), _, _| {})?;
    if people.is_empty() {
        return Ok(());
    }
    let people_obj = records::container(doc, &PEOPLE)?;
    for (id, touch) in &people {
        check_person(ctx, doc, &people_obj, id, touch)?;
    }
    Ok(())
}

fn check_person(
    ctx: &RuleContext<'_>,
    doc: &Automerge,
    people: &ObjId,
    id: &str,
    touch: &Touch<()>,
) -> Result<(), Refusal> {
    let path = format!("people/{id}");
    let obj = records::record_obj(doc, people, id, &path, &PEOPLE)?;
    if touch.fields || touch.log.is_new {
        records::read_checked::<BackgroundRecord>(
            ctx,
            doc,
            people,
            id,
            &path,
            &PEOPLE,
            touch.log.is_new,
        )?;
    }
    let Some(log) =
        records::log_to_check::<BackgroundEventKind, _>(doc, &obj, &path, &PEOPLE, touch)?
    else {
        return Ok(());
    };
    check_new_events(ctx, &path, &log, &touch.log, |seen_events, ev, role| {
        let seen = status::derive(seen_events).state;
        background::check_logged_event(&seen, ev, role)
    })
}
