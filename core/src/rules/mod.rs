//! The write rules: what a peer may put into a document, checked on the relay for every
//! incoming change and on devices for every change received from a peer.
//!
//! The role table in [`crate::access`] says *which* documents a member may write; these
//! rules say *what* they may write into them (ARCHITECTURE.md has the whole table):
//! field shapes, append-only history, authorship, status transitions checked against the
//! state the writer saw, production index entries only within the production.
//!
//! Everything here is pure: no IO, no clock. [`check`] looks at a document after the
//! incoming changes were applied, at the heads it had before, and at the patches the
//! changes produced; [`receive_checked`] is the one way the relay and devices apply a
//! peer's sync message under the rules, returning the document to its previous state
//! when the rules refuse it. The cost of a change is bounded before any of that, by
//! [`cost`], because applying a decompression bomb is already too late.

mod background;
mod board;
pub mod cost;
mod documents;
mod gear;
pub mod notice;
mod records;
mod report;
mod timesheets;
mod walk;

use std::fmt;

use automerge::sync::{self, SyncDoc};
use automerge::{Automerge, AutomergeError, Change, ChangeHash, PatchLog};

use crate::access::{DocKind, Role};

pub use walk::Touched;

/// Who wrote the incoming changes, as the relay knows them from the connection's token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Writer {
    pub member_id: String,
    pub role: Role,
}

/// What the rules need to know besides the document.
pub struct RuleContext<'a> {
    pub kind: &'a DocKind,
    /// The authenticated writer. `None` on a device: a phone receiving from the relay or
    /// another phone cannot know who wrote each change, so it checks that every event
    /// names a member and role and that the transition was allowed for that role, but not
    /// that the name is true. Only the relay can check that.
    pub writer: Option<&'a Writer>,
    /// True for a document id that belongs to another production (the relay's registry
    /// answers it; a device that cannot tell answers `false`).
    pub foreign_document: &'a dyn Fn(&str) -> bool,
}

/// Which rule a refused change broke. The names are stable: clients match on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    /// A field has the wrong type, an unknown enum value, or is out of bounds.
    Shape,
    /// A root container (runs, tasks, revisions, index, members) was replaced or deleted.
    Containers,
    /// Status events, comments, receipts and acknowledgements are never deleted or edited.
    AppendOnly,
    /// Runs and tasks are never deleted: cancel them instead.
    NeverDeleted,
    /// A published call sheet revision never changes, and revision numbers only grow.
    PublishedRevision,
    /// A new event, comment, receipt or acknowledgement names someone other than its writer,
    /// or the change's commit metadata names someone else.
    Authorship,
    /// The event is not allowed from the state its author saw, or not for their role.
    Transition,
    /// A production index entry names another production's document, or changes an entry.
    Index,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Shape => "shape",
            Rule::Containers => "containers",
            Rule::AppendOnly => "append-only",
            Rule::NeverDeleted => "never-deleted",
            Rule::PublishedRevision => "published-revision",
            Rule::Authorship => "authorship",
            Rule::Transition => "transition",
            Rule::Index => "index",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the rules refused a change: the rule, where in the document, and a sentence for people.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{rule} rule broken at {path}: {detail}")]
pub struct Refusal {
    pub rule: Rule,
    /// Where in the document, e.g. `runs/<id>/events/<id>`.
    pub path: String,
    pub detail: String,
}

impl Refusal {
    pub(crate) fn new(rule: Rule, path: impl Into<String>, detail: impl Into<String>) -> Self {
        Refusal {
            rule,
            path: path.into(),
            detail: detail.into(),
        }
    }
}

/// Checks what the new changes did to `doc`. `before` are the document's heads before they
/// were applied, `patches` what applying them changed, `changes` the new changes themselves
/// (for their commit metadata).
pub fn check(
    ctx: &RuleContext<'_>,
    doc: &Automerge,
    before: &[ChangeHash],
    patches: &[automerge::Patch],
    changes: &[Change],
) -> Result<(), Refusal> {
    if let Some(w) = ctx.writer {
        check_commit_metadata(w, changes)?;
    }
    let touched = walk::Touched::new(doc, before, patches);
    match ctx.kind {
        DocKind::Board { .. } => board::check(ctx, doc, &touched),
        DocKind::CallSheetDraft { .. } => documents::check_draft(doc, &touched),
        DocKind::CallSheetPublished { .. } => documents::check_published(ctx, doc, &touched),
        DocKind::Member { member_id } => documents::check_member(ctx, member_id, doc, &touched),
        DocKind::Production => documents::check_production(ctx, doc, &touched),
        DocKind::Gear => gear::check(ctx, doc, &touched),
        DocKind::Background { .. } => background::check(ctx, doc, &touched),
        DocKind::Timesheets { member_id } => timesheets::check(ctx, member_id, doc, &touched),
        DocKind::ProductionReport { .. } => report::check(ctx, doc, &touched),
        // Documents an outside automerge-repo client made for itself: the relay only bounds
        // their cost.
        DocKind::Shared => Ok(()),
    }
}

/// Our own commits carry `{"member", "device", "role"}` as their message (see
/// [`crate::model::commit_options`]); a change that claims someone else is refused. A change
/// without such a message (any other automerge-repo client) claims nothing.
fn check_commit_metadata(w: &Writer, changes: &[Change]) -> Result<(), Refusal> {
    for c in changes {
        let Some(msg) = c.message() else { continue };
        let Ok(serde_json::Value::Object(meta)) = serde_json::from_str::<serde_json::Value>(msg)
        else {
            continue;
        };
        let member = meta.get("member").and_then(|v| v.as_str());
        let role = meta.get("role").and_then(|v| v.as_str());
        if member.is_some_and(|m| m != w.member_id) || role.is_some_and(|r| r != w.role.as_str()) {
            return Err(Refusal::new(
                Rule::Authorship,
                format!("change {}", c.hash()),
                format!(
                    "the change says it was made by {} ({}), but it was sent by {} ({})",
                    member.unwrap_or("?"),
                    role.unwrap_or("?"),
                    w.member_id,
                    w.role
                ),
            ));
        }
    }
    Ok(())
}

/// Why a sync message was not applied.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    /// Automerge could not apply it (bad bytes); the document is unchanged.
    #[error("invalid Automerge data: {0}")]
    Invalid(AutomergeError),
    /// The rules refused it; the document and the sync state are as they were.
    #[error(transparent)]
    Refused(Refusal),
}

/// What [`receive_checked`] applied.
#[derive(Debug, Default)]
pub struct Received {
    /// The hashes of the changes that were added.
    pub added: Vec<ChangeHash>,
}

/// Applies a peer's sync message to `doc` under the rules. On refusal, `doc` and `state`
/// are returned to what they were before (costs a fork of the document: refusals are rare
/// and rate-limited by their senders' reconnects, accepted changes pay only the check).
pub fn receive_checked(
    ctx: &RuleContext<'_>,
    doc: &mut Automerge,
    state: &mut sync::State,
    msg: sync::Message,
) -> Result<Received, ReceiveError> {
    let before = doc.get_heads();
    let state_before = state.clone();
    let mut log = PatchLog::active();
    let applied = doc.receive_sync_message_log_patches(state, msg, &mut log);
    if let Err(e) = applied {
        if doc.get_heads() != before {
            rollback(doc, &before);
        }
        *state = state_before;
        return Err(ReceiveError::Invalid(e));
    }
    if doc.get_heads() == before {
        return Ok(Received::default());
    }
    let changes = doc.get_changes(&before);
    let patches = doc.make_patches(&mut log);
    if let Err(refusal) = check(ctx, doc, &before, &patches, &changes) {
        rollback(doc, &before);
        *state = state_before;
        return Err(ReceiveError::Refused(refusal));
    }
    Ok(Received {
        added: changes.iter().map(Change::hash).collect(),
    })
}

/// Returns `doc` to the history up to `before`, dropping everything applied since.
pub fn rollback(doc: &mut Automerge, before: &[ChangeHash]) {
    // `fork_at` keeps exactly the history up to `before`; it cannot fail for heads the
    // document had a moment ago, but if it did the safest state is the one we have.
    if let Ok(forked) = doc.fork_at(before) {
        let actor = doc.get_actor().clone();
        *doc = forked.with_actor(actor);
    }
}
