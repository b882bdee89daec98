//! Shared helpers for the write-rules tests: a change checked as the relay would check it,
//! and events written by hand the way a stock Automerge client could write them.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjId, PatchLog, ReadDoc, ROOT};
use setlink_core::access::{DocKind, Role};
use setlink_core::model::status::LoggedEvent;
use setlink_core::rules::{self, Refusal, RuleContext, Writer};

/// Applies `edit` to a copy of `doc` (a document of `kind`) and checks the result as the
/// relay would for `writer`: the changes applied to another copy, with their patches.
pub fn check_kind_as(
    doc: &Automerge,
    kind: &DocKind,
    writer: (&str, Role),
    edit: impl FnOnce(&mut Automerge),
) -> Result<(), Refusal> {
    check_kind(doc, kind, Some(writer), edit)
}

/// [`check_kind_as`], or with no writer known (`None`): as a device checks what it
/// receives.
pub fn check_kind(
    doc: &Automerge,
    kind: &DocKind,
    writer: Option<(&str, Role)>,
    edit: impl FnOnce(&mut Automerge),
) -> Result<(), Refusal> {
    let mut theirs = doc.fork();
    edit(&mut theirs);
    let mut relay = doc.fork();
    let before = relay.get_heads();
    let mut log = PatchLog::active();
    relay
        .apply_changes_log_patches(theirs.get_changes(&before), &mut log)
        .unwrap();
    let patches = relay.make_patches(&mut log);
    let added = relay.get_changes(&before);
    let w = writer.map(|(member_id, role)| Writer {
        member_id: member_id.into(),
        role,
    });
    let none = |_: &str| false;
    let ctx = RuleContext {
        kind,
        writer: w.as_ref(),
        foreign_document: &none,
    };
    rules::check(&ctx, &relay, &before, &patches, &added)
}

/// The object at `path` of map keys from the root.
pub fn obj(doc: &Automerge, path: &[&str]) -> ObjId {
    path.iter()
        .fold(ROOT, |o, k| doc.get(&o, *k).unwrap().unwrap().1)
}

/// Puts a raw event (`json`, given `prev` on `log`'s heads, `at` and a device) as
/// `forged-event` into the event log object `events`, in a commit with no setlink
/// metadata: what a hand-written client sends.
pub fn forge_event<K>(
    doc: &mut Automerge,
    events: &ObjId,
    log: &[LoggedEvent<K>],
    at: i64,
    mut json: serde_json::Value,
) {
    let prevs: Vec<&String> = log.iter().flat_map(|e| &e.prev).collect();
    let heads: Vec<&String> = log
        .iter()
        .map(|e| &e.id)
        .filter(|id| !prevs.contains(id))
        .collect();
    json["prev"] = serde_json::json!(heads);
    json["at"] = serde_json::json!(at);
    json["device"] = serde_json::json!("x");
    let mut tx = doc.transaction();
    tx.put(events, "forged-event", json.to_string()).unwrap();
    tx.commit();
}
