//! The write-rules checkpoint: the one place an incoming sync message is judged. In order:
//! [`admit`] (before anything touches the document: may this member read the document, may
//! it write it, what would the changes cost to inflate, do the chunks parse), then
//! [`apply`] (core's write rules, `setlink_core::rules`, applied with the document; a
//! refusal leaves document and sync state as they were). Pure: the registry answers the
//! rules need (does an index entry name another production's document?) are looked up by
//! the shell between two attempts, never under the document's lock.

use std::collections::HashMap;

use automerge::sync::{self, SyncDoc};
use automerge::{Automerge, ChangeHash};
use setlink_core::rules::cost::{CostError, CostLimits};
use setlink_core::rules::{self, ReceiveError, RuleContext, Writer};
use setlink_core::{DocKind, DocumentId};

use super::chunks::{check_chunks, message_cost};
use crate::auth::Principal;
use crate::metrics::Refusal;
use crate::storage::DocInfo;

/// Why a message is not applied at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Denial {
    /// The member may not read the document: answer as if it did not exist.
    Unavailable,
    /// Refused with a notice (an `ephemeral` naming the rule); the connection carries on.
    Notice {
        metric: Refusal,
        rule: &'static str,
        message: String,
    },
    /// The data is not valid Automerge: an `error` to the peer.
    Invalid(String),
}

/// Checks a message before anything touches the document.
pub(crate) fn admit(
    p: &Principal,
    info: &DocInfo,
    doc_id: DocumentId,
    msg: &sync::Message,
    cost: &CostLimits,
) -> Result<(), Denial> {
    // Checked on every message, not just at load: a loaded document may belong to another
    // production than this member's.
    if info.production_id != p.production_id || !info.kind.may_read(p.role, &p.member_id) {
        return Err(Denial::Unavailable);
    }
    if msg.changes.is_empty() {
        return Ok(());
    }
    if !info.kind.may_write(p.role, &p.member_id) {
        return Err(Denial::Notice {
            metric: Refusal::ForbiddenWrite,
            rule: "forbidden",
            message: format!(
                "a {} may not write a {} document; the change was refused and not stored",
                p.role,
                kind_label(&info.kind)
            ),
        });
    }
    // Before anything inflates or parses the changes: that alone is what a decompression
    // bomb attacks.
    if let Err(e @ (CostError::TooLarge { .. } | CostError::TooManyOps { .. })) =
        message_cost(msg, cost)
    {
        return Err(Denial::Notice {
            metric: Refusal::TooCostly,
            rule: "cost",
            message: format!("{e}; the change was refused and not stored"),
        });
    }
    if let Err(why) = check_chunks(msg) {
        return Err(Denial::Invalid(format!(
            "document {doc_id}: invalid Automerge data ({why}); nothing was stored"
        )));
    }
    Ok(())
}

/// Why an admitted message was not applied. Document and sync state are as they were.
#[derive(Debug)]
pub(crate) enum Rejected {
    /// The write rules refused it.
    Refused(rules::Refusal),
    /// automerge could not apply it.
    Invalid(String),
    /// The rules asked about documents the registry has not answered yet: look them up
    /// ([`Registry answers`](Foreign)) and apply again.
    Unresolved(Vec<DocumentId>),
}

/// What the registry said about documents named in an index: `true` for another
/// production's (or unreadable registry: a refusal), `false` for this production's or
/// unknown.
pub(crate) type Foreign = HashMap<DocumentId, bool>;

/// Applies an admitted message with `state`: under core's write rules when `write_rules`
/// is set (only the relay benchmark turns them off), plain automerge otherwise.
pub(crate) fn apply(
    write_rules: bool,
    p: &Principal,
    kind: &DocKind,
    foreign: &Foreign,
    doc: &mut Automerge,
    state: &mut sync::State,
    msg: sync::Message,
) -> Result<(), Rejected> {
    // A message without changes (an acknowledgement, a request) cannot break a write
    // rule: automerge alone applies it, without the rules' patch log and state copy.
    if !write_rules || msg.changes.is_empty() {
        let before = doc.get_heads();
        return doc.receive_sync_message(state, msg).map_err(|e| {
            if doc.get_heads() != before {
                rules::rollback(doc, &before);
            }
            // Not a copy of the state taken before (one per acknowledgement, on the
            // fan-out's hot path): a fresh state is always a correct one, it only costs
            // this peer a round of heads.
            *state = sync::State::new();
            Rejected::Invalid(e.to_string())
        });
    }
    let writer = Writer {
        member_id: p.member_id.clone(),
        role: p.role,
    };
    let before = doc.get_heads();
    // Only a production document's index asks the registry (and may need undoing).
    let state_before = (*kind == DocKind::Production).then(|| state.clone());
    let asked: std::cell::RefCell<Vec<String>> = Default::default();
    let record = |id: &str| {
        asked.borrow_mut().push(id.to_owned());
        false
    };
    let ctx = RuleContext {
        kind,
        writer: Some(&writer),
        foreign_document: &record,
    };
    match rules::receive_checked(&ctx, doc, state, msg) {
        Ok(_) => {}
        Err(ReceiveError::Refused(r)) => return Err(Rejected::Refused(r)),
        Err(ReceiveError::Invalid(e)) => return Err(Rejected::Invalid(e.to_string())),
    }
    let undo = |doc: &mut Automerge, state: &mut sync::State| {
        rules::rollback(doc, &before);
        *state = state_before.clone().unwrap_or_default();
    };
    let mut unresolved = Vec::new();
    for id in asked.into_inner() {
        let Ok(d) = id.parse::<DocumentId>() else {
            continue;
        };
        match foreign.get(&d) {
            None => unresolved.push(d),
            Some(true) => {
                undo(doc, state);
                return Err(Rejected::Refused(rules::Refusal {
                    rule: rules::Rule::Index,
                    path: format!("documents/{id}"),
                    detail: "the index may only name this production's own documents".into(),
                }));
            }
            Some(false) => {}
        }
    }
    if !unresolved.is_empty() {
        undo(doc, state);
        return Err(Rejected::Unresolved(unresolved));
    }
    Ok(())
}

/// The heads a refused message named that the document lacks: the refused change, which
/// its peer keeps (see `doc_actor::Subscriber::refused`).
pub(crate) fn refused_heads(doc: &Automerge, named: Vec<ChangeHash>) -> Vec<ChangeHash> {
    named
        .into_iter()
        .filter(|h| automerge::ReadDoc::get_change_by_hash(doc, h).is_none())
        .collect()
}

fn kind_label(kind: &DocKind) -> &'static str {
    match kind {
        DocKind::Production => "production",
        DocKind::Board { .. } => "board (runs and tasks)",
        DocKind::CallSheetDraft { .. } => "call sheet draft",
        DocKind::CallSheetPublished { .. } => "published call sheet",
        DocKind::Member { .. } => "another member's",
        DocKind::Gear => "gear and walkies",
        DocKind::Background { .. } => "background",
        DocKind::Timesheets { .. } => "another member's timesheets",
        DocKind::ProductionReport { .. } => "production report",
        DocKind::Shared => "shared",
    }
}
