//! One loaded document's actor: the document, its pending batch, its subscribers and their
//! sync states, in one owner. Sans-IO like core's `sync::engine`: the shell calls an input
//! method and then drains [`DocActor::take_effects`]; nothing here awaits, touches
//! storage, a socket or a clock (the shell passes `now`).
//!
//! # Inputs
//! - [`DocActor::subscribe`] / [`DocActor::unsubscribe`]: a connection starts or stops
//!   syncing the document (its persisted sync state loaded / returned by the shell).
//! - [`DocActor::receive`]: a sync message that passed admission, applied through the
//!   write-rules function the shell passes (`admission::apply`); a bare acknowledgement of
//!   our heads (no changes, so nothing for the rules) is taken without automerge's
//!   history walk ([`ack`]).
//! - [`DocActor::begin_commit`] / [`DocActor::commit_done`]: the pending batch goes to
//!   storage and comes back stored (or failed).
//! - [`DocActor::change`]: the relay's own change (then committed like a batch).
//! - [`DocActor::foreign`]: chunks another relay appended to the shared storage.
//! - [`DocActor::compacted`], [`DocActor::set_kind`], [`DocActor::ephemeral`].
//!
//! # Effects
//! [`Effect`]: send these bytes to connection *c* (a sync message, `doc-unavailable`,
//! `error` or relayed ephemeral, each framed by core's engine through the subscriber's
//! [`Addressee`]), a write-rules or storage notice for *c*, commit the batch, compact,
//! tell in-process watchers the document changed, register a production document's index.
//!
//! # Invariants (each checked by a test here or in `hub::tests`)
//! - Durable before visible: while a batch is pending ([`Batch::Forming`] or
//!   [`Batch::Committing`]) no sync message is generated for anyone; the commit's
//!   [`DocActor::commit_done`] ends with one fan-out to every subscriber.
//! - A subscriber that sent a message while a batch was pending is owed an answer
//!   (`owed_answer`), and gets one from that fan-out even when its heads equal ours.
//! - A peer whose change was refused hears from us only when we have something new.
//! - Subscribers whose sync states are equal get one generated message, shared.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use automerge::sync::{self, SyncDoc};
use automerge::{Automerge, ChangeHash, ReadDoc};
use setlink_core::sync::engine::{Addressee, Ephemeral};
use setlink_core::sync::wire::SyncForMany;
use setlink_core::{DocKind, DocumentId};

mod ack;

use super::admission::Rejected;
use super::compaction::ChunkLog;
use super::ConnId;
use crate::auth::Principal;
use crate::ephemeral;
use crate::metrics::Refusal;
use crate::storage::{Chunk, DocInfo};

/// A connection syncing the document.
pub(crate) struct Subscriber {
    /// Frames for this peer (its id and ours).
    pub(crate) to: Addressee,
    pub(crate) storage_id: Option<String>,
    pub(crate) state: sync::State,
    pub(crate) principal: Arc<Principal>,
    /// The peer sent a message that was not answered at once (a batch was pending). When
    /// its heads already equal ours, automerge records that it knows our heads and would
    /// then stay silent; but the peer has not heard them, and waits for an answer.
    owed_answer: bool,
    /// The heads this peer named in a message the write rules refused. It keeps that
    /// change (a stock client cannot drop it), so those heads name a change we will never
    /// have, and each side would answer the other's empty message forever: the relay asks
    /// for the change, the client will not send it twice. So while the peer still names
    /// one of these heads, it hears from us only when we have something new, never in
    /// answer to a message without changes. Any other head (its app dropped the refused
    /// change, or wrote something new) makes it an ordinary peer again: the new heads may
    /// be ones we lack, and only our answer lets it send them.
    refused: Vec<ChangeHash>,
    /// `refused` because storage failed, not because of a rule: once storage works again
    /// ([`DocActor::storage_back`]) the peer is asked to send it again.
    storage_refused: bool,
    /// The peer acknowledges our messages with changes by silence (`setlinkImpliedAcks`):
    /// sending one moves `state` as its acknowledgement would ([`ack::implied`]).
    implied_acks: bool,
    /// While `state` holds implied acknowledgements the peer has not confirmed, the shared
    /// heads from before the first of them: what is persisted, so a message lost with the
    /// connection is pushed again on reconnect. `None`: `state` is all confirmed.
    unconfirmed: Option<Vec<ChangeHash>>,
}

impl Subscriber {
    pub(crate) fn new(
        to: Addressee,
        storage_id: Option<String>,
        state: sync::State,
        principal: Arc<Principal>,
    ) -> Self {
        Subscriber {
            to,
            storage_id,
            state,
            principal,
            owed_answer: false,
            refused: Vec::new(),
            storage_refused: false,
            implied_acks: false,
            unconfirmed: None,
        }
    }

    /// A peer that acknowledges by silence (see [`Subscriber::implied_acks`]).
    pub(crate) fn with_implied_acks(mut self, implied: bool) -> Self {
        self.implied_acks = implied;
        self
    }

    /// The sync state to persist: only what the peer confirmed.
    fn persisted(&self) -> Vec<u8> {
        match &self.unconfirmed {
            None => self.state.encode(),
            Some(heads) => {
                let mut confirmed = sync::State::new();
                confirmed.shared_heads.clone_from(heads);
                confirmed.encode()
            }
        }
    }
}

/// Who wrote into a pending batch, so each can be told if its commit fails.
#[derive(Debug, Clone)]
pub(crate) struct BatchWriter {
    conn: ConnId,
    to: Addressee,
}

/// Changes applied in memory but not yet durable.
#[derive(Debug)]
enum Batch {
    /// Memory holds exactly what is stored (`durable_heads`).
    Idle,
    /// Writers are applying changes; a commit will take them all.
    Forming(Vec<BatchWriter>),
    /// The commit is running. Writers with changes wait for it to settle; messages
    /// without changes are received but not answered (the commit's fan-out answers every
    /// subscriber).
    Committing,
}

/// What a commit writes: everything after the durable heads.
pub(crate) struct CommitJob {
    /// `None` when memory already equals storage (the shell takes it for the append).
    pub(crate) bytes: Option<Vec<u8>>,
    pub(crate) heads: Vec<ChangeHash>,
    writers: Vec<BatchWriter>,
}

/// Something the shell must do. Sends are for one connection and keep their order.
#[derive(Debug, Clone)]
pub(crate) enum Effect {
    /// Send this frame (a sync message or a relayed ephemeral message).
    Send { conn: ConnId, frame: Vec<u8> },
    /// Send this `doc-unavailable`: the connection lost read access to the document.
    Unavailable { conn: ConnId, frame: Vec<u8> },
    /// A refusal notice through the connection's own engine (write rules).
    Notice {
        conn: ConnId,
        to: Addressee,
        metric: Refusal,
        rule: String,
        path: String,
        message: String,
    },
    /// A writer's batch could not be stored (a notice numbered in the hub's session).
    StorageRefusal {
        conn: ConnId,
        to: Addressee,
        error: String,
    },
    /// Send this `error`: the connection sent invalid data.
    Error { conn: ConnId, frame: Vec<u8> },
    /// A batch formed: run [`DocActor::begin_commit`] soon (on its own task, so writers
    /// queued behind this one share it).
    Commit,
    /// Replace the chunks `replaces` with `snapshot`, then report to
    /// [`DocActor::compacted`].
    Compact {
        snapshot: Vec<u8>,
        replaces: Vec<i64>,
    },
    /// The document changed durably (tell in-process watchers).
    Changed {
        production_id: String,
        kind: DocKind,
    },
    /// A production document changed: register what its index lists.
    Index(Result<Vec<(DocumentId, DocKind)>, String>),
}

/// Who [`DocActor::fan_out`] generates sync messages for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Audience {
    /// Every subscriber; `changed` also reports [`Effect::Changed`].
    Everyone { changed: bool },
    /// The connection whose message is being answered.
    Sender(ConnId),
    /// Nobody: only drop subscribers who may no longer read the document.
    Nobody,
}

/// One generated sync message and the state transition it made: a subscriber found in
/// `before` gets the same message (framed for it from one [`SyncForMany`]) and ends in the state generating for it alone would give.
/// That transition is applied in place rather than by copying the whole state:
/// `generate_sync_message` (automerge 0.12) reads the state, and when it returns a message
/// sets `have_responded` and `in_flight`, clears `needs_reset`, sets `last_sent_heads` to
/// our heads and adds the sent changes to `sent_hashes`; nothing else (and nothing at all
/// when it returns `None`). `subscribers_in_the_same_state_share_one_generated_message`
/// checks the result against generating alone.
struct Memo {
    before: sync::State,
    sent: Option<Sent>,
}

struct Sent {
    shared: SyncForMany,
    last_sent_heads: Vec<ChangeHash>,
    added_hashes: Vec<ChangeHash>,
}

impl Memo {
    fn new(before: sync::State, after: &sync::State, shared: Option<SyncForMany>) -> Memo {
        let sent = shared.map(|shared| Sent {
            shared,
            last_sent_heads: after.last_sent_heads.clone(),
            added_hashes: after
                .sent_hashes
                .difference(&before.sent_hashes)
                .copied()
                .collect(),
        });
        Memo { before, sent }
    }

    /// Moves `state` (equal to `before`) to where generating would, and returns the message.
    fn replay(&self, state: &mut sync::State) -> Option<&SyncForMany> {
        let sent = self.sent.as_ref()?;
        state.have_responded = true;
        state.in_flight = true;
        state.needs_reset = false;
        state.last_sent_heads.clone_from(&sent.last_sent_heads);
        state.sent_hashes.extend(sent.added_hashes.iter().copied());
        Some(&sent.shared)
    }
}

/// What [`DocActor::ephemeral`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Relayed {
    /// The connection does not sync the document: it learns nothing.
    NotSubscribed,
    Duplicate,
    OverRate,
    To(usize),
}

pub(crate) struct DocActor {
    id: DocumentId,
    doc: Automerge,
    /// Heads of what storage holds; `save_after` these is what the next commit writes.
    durable_heads: Vec<ChangeHash>,
    batch: Batch,
    info: DocInfo,
    subs: HashMap<ConnId, Subscriber>,
    /// Ephemeral messages about this document already relayed (see [`ephemeral`]).
    relayed: ephemeral::Relayed,
    chunks: ChunkLog,
    idle_since: Instant,
    evicted: bool,
    effects: Vec<Effect>,
}

impl DocActor {
    /// A document loaded from its stored chunks. A chunk Automerge refuses is skipped
    /// and returned with why, for the shell to report: the rest of the document still
    /// loads (views degrade, never fail whole). Only two relays storing conflicting
    /// changes of one actor (which neither could see) produce one.
    pub(crate) fn load(
        id: DocumentId,
        info: DocInfo,
        chunks: &[Chunk],
        now: Instant,
    ) -> (Self, Vec<(i64, String)>) {
        let mut doc = Automerge::new();
        let mut log = ChunkLog::default();
        let mut skipped = Vec::new();
        for c in chunks {
            if let Err(e) = doc.load_incremental(&c.data) {
                skipped.push((c.seq, e.to_string()));
            }
            log.note(c.seq, c.data.len(), c.snapshot);
        }
        let actor = DocActor {
            id,
            durable_heads: doc.get_heads(),
            doc,
            batch: Batch::Idle,
            info,
            subs: HashMap::new(),
            relayed: ephemeral::Relayed::default(),
            chunks: log,
            idle_since: now,
            evicted: false,
            effects: Vec::new(),
        };
        (actor, skipped)
    }

    pub(crate) fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    pub(crate) fn doc(&self) -> &Automerge {
        &self.doc
    }

    pub(crate) fn info(&self) -> &DocInfo {
        &self.info
    }

    pub(crate) fn is_evicted(&self) -> bool {
        self.evicted
    }

    /// A commit is running: writers with changes wait for it.
    pub(crate) fn is_committing(&self) -> bool {
        matches!(self.batch, Batch::Committing)
    }

    /// Memory equals storage and no batch is forming.
    pub(crate) fn is_idle(&self) -> bool {
        matches!(self.batch, Batch::Idle)
    }

    pub(crate) fn is_subscribed(&self, conn: ConnId) -> bool {
        self.subs.contains_key(&conn)
    }

    #[cfg(test)]
    pub(crate) fn subscriber_count(&self) -> usize {
        self.subs.len()
    }

    /// May this member sync the document at all?
    pub(crate) fn may_read(&self, p: &Principal) -> bool {
        self.info.production_id == p.production_id && self.info.kind.may_read(p.role, &p.member_id)
    }

    pub(crate) fn subscribe(&mut self, conn: ConnId, sub: Subscriber) {
        self.subs.entry(conn).or_insert(sub);
    }

    /// Drops the connection; returns its sync state to persist (for a durable peer).
    pub(crate) fn unsubscribe(&mut self, conn: ConnId, now: Instant) -> Option<(String, Vec<u8>)> {
        let sub = self.subs.remove(&conn)?;
        if self.subs.is_empty() {
            self.idle_since = now;
        }
        let state = sub.persisted();
        sub.storage_id.map(|sid| (sid, state))
    }

    /// Every durable peer's sync state (to persist).
    pub(crate) fn sync_states(&self) -> Vec<(String, Vec<u8>)> {
        self.subs
            .values()
            .filter_map(|s| Some((s.storage_id.clone()?, s.persisted())))
            .collect()
    }

    /// Nobody subscribed for `idle`, nothing pending: marks the actor evicted (whoever
    /// still holds it looks the document up again) and says so.
    pub(crate) fn evict_if_idle(&mut self, now: Instant, idle: Duration) -> bool {
        if self.subs.is_empty() && self.is_idle() && now.duration_since(self.idle_since) >= idle {
            self.evicted = true;
        }
        self.evicted
    }

    /// Sends the connection what it is missing (push on connect, a promoted watcher).
    pub(crate) fn sync_one(&mut self, conn: ConnId) {
        self.fan_out(Audience::Sender(conn));
    }

    /// Applies an admitted sync message from a subscriber through `apply` (the write
    /// rules). Returns the documents the rules still need the registry's answer about
    /// (nothing was applied then; apply again once they are known).
    pub(crate) fn receive(
        &mut self,
        conn: ConnId,
        msg: sync::Message,
        apply: impl FnOnce(&mut Automerge, &mut sync::State, sync::Message) -> Result<(), Rejected>,
    ) -> Vec<DocumentId> {
        let Some(sub) = self.subs.get_mut(&conn) else {
            return Vec::new();
        };
        let before = self.doc.get_heads();
        if sub.unconfirmed.is_some() && ack::confirms_older(&msg, &sub.state, &before, &self.doc) {
            // A confirmation that crossed newer changes of ours on the wire: those reach
            // the peer next, and it will acknowledge them. It confirms its heads only;
            // through automerge it would cost a history walk and an answer, and every
            // phone's confirmation comes at once, 2 s after the same fan-out.
            sub.unconfirmed = Some(msg.heads);
            return Vec::new();
        }
        // Whatever the peer says next is where it stands; automerge's receive below sets
        // the shared heads from it.
        sub.unconfirmed = None;
        if matches!(self.batch, Batch::Idle)
            && sub.refused.is_empty()
            && !sub.owed_answer
            && ack::is_bare(&msg, &sub.state, &before)
        {
            // It changes nothing and needs no answer; see `ack`.
            ack::receive(&mut sub.state, msg);
            return Vec::new();
        }
        let named = msg.heads.clone();
        let refused_now = match apply(&mut self.doc, &mut sub.state, msg) {
            Ok(()) => false,
            Err(Rejected::Unresolved(ids)) => return ids,
            Err(Rejected::Invalid(e)) => {
                // Nothing of it is in memory (admission rolled it back).
                self.effects.push(Effect::Error {
                    conn,
                    frame: sub.to.error(format!(
                        "document {}: invalid Automerge data ({e}); nothing was stored",
                        self.id
                    )),
                });
                return Vec::new();
            }
            Err(Rejected::Refused(r)) => {
                // Nothing of it is in memory (the document and this peer's sync state are
                // as they were), so the answer below tells the writer our heads without
                // it, and automerge will not send the same change again on this
                // connection. Only the heads we lack: the peer may also name heads we
                // share.
                sub.refused = super::admission::refused_heads(&self.doc, named);
                self.effects.push(Effect::Notice {
                    conn,
                    to: sub.to.clone(),
                    metric: Refusal::WriteRules,
                    rule: r.rule.as_str().to_owned(),
                    path: r.path.clone(),
                    message: format!("{}; the change was refused and not stored", r.detail),
                });
                true
            }
        };
        let changed = self.doc.get_heads() != before;
        let refused_peer = !refused_now && !sub.refused.is_empty() && {
            let still = sub
                .state
                .their_heads
                .as_ref()
                .is_some_and(|heads| heads.iter().any(|h| sub.refused.contains(h)));
            if !still {
                sub.refused.clear();
            }
            still
        };
        if refused_peer && !changed {
            // See `Subscriber::refused`: stay quiet; the next change here reaches it.
            return Vec::new();
        }
        if changed || !matches!(self.batch, Batch::Idle) {
            // Only the batch's commit may answer this peer; see `Subscriber::owed_answer`.
            sub.owed_answer = true;
        }
        if !changed {
            // Nothing new: answer the sender alone (silent while a batch is pending; its
            // commit answers everyone).
            self.fan_out(Audience::Sender(conn));
            return Vec::new();
        }
        let writer = BatchWriter {
            conn,
            to: sub.to.clone(),
        };
        match &mut self.batch {
            Batch::Forming(writers) => writers.push(writer),
            Batch::Idle => {
                self.batch = Batch::Forming(vec![writer]);
                self.effects.push(Effect::Commit);
            }
            // Writers with changes wait for a running commit, so this is not reached; if
            // it were, `commit_done` schedules another commit for what it did not take.
            Batch::Committing => {}
        }
        Vec::new()
    }

    /// The relay's own change, applied while nothing is pending; the caller commits it
    /// ([`Self::begin_commit`]). Returns `f`'s answer and whether the document changed.
    pub(crate) fn change<T>(
        &mut self,
        f: impl FnOnce(&mut Automerge) -> Result<T, String>,
    ) -> Result<(T, bool), String> {
        let before = self.doc.get_heads();
        let out = match f(&mut self.doc) {
            Ok(out) => out,
            Err(e) => {
                if self.doc.get_heads() != before {
                    setlink_core::rules::rollback(&mut self.doc, &before);
                }
                return Err(e);
            }
        };
        let changed = self.doc.get_heads() != before;
        if changed {
            match &mut self.batch {
                Batch::Idle => self.batch = Batch::Forming(Vec::new()),
                Batch::Forming(_) | Batch::Committing => {}
            }
        }
        Ok((out, changed))
    }

    /// Takes the pending batch for storage: what memory holds beyond the durable heads.
    /// `None` when no batch is forming.
    pub(crate) fn begin_commit(&mut self) -> Option<CommitJob> {
        let writers = match std::mem::replace(&mut self.batch, Batch::Committing) {
            Batch::Forming(w) => w,
            other => {
                self.batch = other;
                return None;
            }
        };
        let heads = self.doc.get_heads();
        let bytes = (heads != self.durable_heads).then(|| self.doc.save_after(&self.durable_heads));
        Some(CommitJob {
            bytes,
            heads,
            writers,
        })
    }

    /// The batch's append returned: `Ok(Some((seq, len)))` stored, `Ok(None)` nothing to
    /// store, `Err` not stored. `promoted` are watchers (push on connect) to make
    /// subscribers before the fan-out. On failure the document returns to what is stored
    /// and every writer of the batch is told once, and not asked for the change again.
    pub(crate) fn commit_done(
        &mut self,
        job: CommitJob,
        stored: Result<Option<(i64, usize)>, String>,
        promoted: Vec<(ConnId, Subscriber)>,
    ) -> Result<(), String> {
        self.batch = Batch::Idle;
        let CommitJob { heads, writers, .. } = job;
        let out = match stored {
            Ok(None) => {
                if !writers.is_empty() {
                    self.fan_out(Audience::Everyone { changed: false });
                }
                Ok(())
            }
            Ok(Some((seq, len))) => {
                self.durable_heads = heads;
                self.chunks.note(seq, len, false);
                self.stored_and_visible(promoted);
                // Storage works: writers it failed earlier may send their changes again.
                self.storage_back();
                Ok(())
            }
            Err(e) => {
                // The batch's changes: its writers keep them and go on naming them.
                let lost: Vec<ChangeHash> = self
                    .doc
                    .get_changes(&self.durable_heads)
                    .iter()
                    .map(|c| c.hash())
                    .collect();
                setlink_core::rules::rollback(&mut self.doc, &self.durable_heads);
                for sub in self.subs.values_mut() {
                    sub.state = sync::State::new();
                }
                // Like a write the rules refused (see `Subscriber::refused`): each writer
                // is told once, and is not asked for the change again while it names it.
                // A sync message now would make a stock client send the change straight
                // back, into the same full disk, for ever. It is sent again when the
                // writer reconnects or when this document next changes.
                let mut told = Vec::new();
                for w in writers {
                    if let Some(sub) = self.subs.get_mut(&w.conn) {
                        sub.refused = lost.clone();
                        sub.storage_refused = true;
                        sub.owed_answer = false;
                    }
                    if !told.contains(&w.conn) {
                        told.push(w.conn);
                        self.effects.push(Effect::StorageRefusal {
                            conn: w.conn,
                            to: w.to,
                            error: e.clone(),
                        });
                    }
                }
                // Everyone else restarts the sync from the stored state (a round of heads).
                let mut others: Vec<ConnId> = self
                    .subs
                    .keys()
                    .copied()
                    .filter(|c| !told.contains(c))
                    .collect();
                others.sort_unstable();
                for c in others {
                    self.fan_out(Audience::Sender(c));
                }
                Err(e)
            }
        };
        if self.doc.get_heads() != self.durable_heads {
            self.batch = Batch::Forming(Vec::new());
            self.effects.push(Effect::Commit);
        }
        out
    }

    /// After memory became durable with new changes: watchers become subscribers, every
    /// subscriber hears it (one fan-out), compaction is considered, a production
    /// document's index is registered.
    fn stored_and_visible(&mut self, promoted: Vec<(ConnId, Subscriber)>) {
        self.promote(promoted);
        self.fan_out(Audience::Everyone { changed: true });
        if let Some(replaces) = self.chunks.due() {
            self.effects.push(Effect::Compact {
                snapshot: self.doc.save(),
                replaces,
            });
        }
        if self.info.kind == DocKind::Production {
            self.effects
                .push(Effect::Index(crate::production_doc::read_index(&self.doc)));
        }
    }

    /// Turns watchers into subscribers, if they may read the document.
    fn promote(&mut self, promoted: Vec<(ConnId, Subscriber)>) {
        for (id, sub) in promoted {
            if self.subs.contains_key(&id) || !self.may_read(&sub.principal) {
                continue;
            }
            self.subs.insert(id, sub);
        }
    }

    /// Watchers of a document that changed elsewhere (another relay, or before it was
    /// loaded here): they become subscribers and hear what they miss.
    pub(crate) fn promote_and_sync(&mut self, promoted: Vec<(ConnId, Subscriber)>) {
        let ids: Vec<ConnId> = promoted
            .iter()
            .map(|(id, _)| *id)
            .filter(|id| !self.subs.contains_key(id))
            .collect();
        self.promote(promoted);
        for id in ids {
            self.fan_out(Audience::Sender(id));
        }
    }

    pub(crate) fn compacted(&mut self, replaces: &[i64], seq: i64, len: usize) {
        self.chunks.compacted(replaces, seq, len);
    }

    /// Whether the document lacks any of `heads`.
    pub(crate) fn lacks(&self, heads: &[ChangeHash]) -> bool {
        heads
            .iter()
            .any(|h| self.doc.get_change_by_hash(h).is_none())
    }

    /// Another relay appended to this document in the shared storage (memory equals
    /// storage here: the caller waited for [`Self::is_idle`]). Applies every chunk this
    /// relay has not applied or written yet, whatever its `seq`: relays commit in any
    /// order, so a chunk numbered below one already here can be new (a catch-up after
    /// missed notifications that started from the highest `seq` lost those for good).
    /// Then fans out like a local commit (the changes are durable already). Returns
    /// whether the document changed.
    pub(crate) fn foreign(&mut self, chunks: &[Chunk]) -> (bool, Option<String>) {
        let before = self.doc.get_heads();
        // A chunk Automerge refuses (see `load`) is skipped, so it cannot keep the rest
        // from arriving; the first refusal is reported.
        let mut refused = None;
        for c in chunks {
            if self.chunks.knows(c.seq) {
                continue;
            }
            if let Err(e) = self.doc.load_incremental(&c.data) {
                refused.get_or_insert(format!("chunk {}: {e}", c.seq));
            }
            self.chunks.note(c.seq, c.data.len(), c.snapshot);
        }
        let changed = self.doc.get_heads() != before;
        if changed && self.is_idle() {
            self.durable_heads = self.doc.get_heads();
            self.stored_and_visible(Vec::new());
        }
        (changed, refused)
    }

    /// Storage commits again: every writer whose change a failed commit refused is asked
    /// for it once more. Their sync state is reset (automerge's `SYNC_RESET`), since a
    /// stock client otherwise remembers it sent the change and never sends it twice.
    /// Returns how many were asked; none while a batch is pending (its commit calls this).
    pub(crate) fn storage_back(&mut self) -> usize {
        if !self.is_idle() {
            return 0;
        }
        let mut asked: Vec<ConnId> = Vec::new();
        for (id, sub) in self.subs.iter_mut() {
            if sub.storage_refused {
                sub.storage_refused = false;
                sub.refused.clear();
                sub.state.needs_reset = true;
                asked.push(*id);
            }
        }
        asked.sort_unstable();
        for c in &asked {
            self.fan_out(Audience::Sender(*c));
        }
        asked.len()
    }

    /// Whether a failed commit left writers to ask again once storage works.
    pub(crate) fn awaits_storage(&self) -> bool {
        self.subs.values().any(|s| s.storage_refused)
    }

    /// The registry re-kinded the document: drops subscribers the new kind excludes.
    pub(crate) fn set_kind(&mut self, kind: DocKind) {
        self.info.kind = kind;
        self.fan_out(Audience::Nobody);
    }

    /// Relays a peer's ephemeral message to every other subscriber, once per (sender,
    /// session, count) and within the member's rate (`allow`, asked only for first-time
    /// messages).
    pub(crate) fn ephemeral(
        &mut self,
        conn: ConnId,
        e: Ephemeral,
        allow: impl FnOnce() -> bool,
    ) -> Relayed {
        if !self.subs.contains_key(&conn) {
            // Only peers that synced the document (and so passed its read check) may talk
            // about it; anything else learns nothing, not even that it exists.
            return Relayed::NotSubscribed;
        }
        // A copy another client re-broadcast, or one more than its member may send.
        if !self
            .relayed
            .first_time(&e.sender_id, &e.session_id, e.count)
        {
            return Relayed::Duplicate;
        }
        if !allow() {
            return Relayed::OverRate;
        }
        Relayed::To(self.forward(e, Some(conn)))
    }

    /// Relays an ephemeral message another relay relayed to every subscriber here but its
    /// creator's own connection; `None` for a copy already relayed. The rate was the
    /// first relay's to apply.
    pub(crate) fn foreign_ephemeral(&mut self, e: Ephemeral) -> Option<usize> {
        if !self
            .relayed
            .first_time(&e.sender_id, &e.session_id, e.count)
        {
            return None;
        }
        Some(self.forward(e, None))
    }

    /// Queues `e` for every subscriber but `came_from` and its creator's own connection
    /// (when it came through someone else); returns how many.
    fn forward(&mut self, e: Ephemeral, came_from: Option<ConnId>) -> usize {
        let mut n = 0;
        for (id, sub) in &self.subs {
            if Some(*id) == came_from {
                continue;
            }
            if let Some(frame) = sub.to.forward_ephemeral(&e) {
                self.effects.push(Effect::Send { conn: *id, frame });
                n += 1;
            }
        }
        n
    }

    /// Sends each subscriber in `audience` what it is missing, and drops subscribers the
    /// document's kind no longer lets read it.
    fn fan_out(&mut self, audience: Audience) {
        // Memory holds undurable changes while a batch is pending: say nothing now, the
        // batch's commit answers every subscriber.
        let silent = !self.is_idle();
        if audience == (Audience::Everyone { changed: true }) {
            self.effects.push(Effect::Changed {
                production_id: self.info.production_id.clone(),
                kind: self.info.kind.clone(),
            });
        }
        let mut lost = Vec::new();
        // generate_sync_message is a function of (document, sync state): subscribers in
        // the same state (after a change, nearly all of them) get the same message and end
        // in the same state, so compute it once per distinct state and share the bytes.
        let mut memo: Option<Memo> = None;
        // Our heads, which a peer acknowledging by silence holds after a message with
        // changes (only looked up when one is there).
        let mut ours: Option<Vec<ChangeHash>> = None;
        // Answering one sender is an O(1) lookup, not a walk over every subscriber.
        let mut targets: Vec<ConnId> = match audience {
            Audience::Sender(s) => vec![s],
            Audience::Everyone { .. } | Audience::Nobody => self.subs.keys().copied().collect(),
        };
        targets.sort_unstable();
        for id in targets {
            let Some(sub) = self.subs.get_mut(&id) else {
                continue;
            };
            if !self
                .info
                .kind
                .may_read(sub.principal.role, &sub.principal.member_id)
            {
                // The index re-kinded the document out of this member's reach.
                lost.push(id);
                continue;
            }
            if silent || audience == Audience::Nobody {
                continue;
            }
            if std::mem::take(&mut sub.owed_answer) {
                // Forget what automerge assumed the peer knows, so it tells our heads.
                sub.state.last_sent_heads.clear();
            }
            let frame = match &memo {
                Some(m) if m.before == sub.state => {
                    m.replay(&mut sub.state).map(|shared| sub.to.sync(shared))
                }
                _ => {
                    let before = sub.state.clone();
                    let shared = self
                        .doc
                        .generate_sync_message(&mut sub.state)
                        .map(|m| sub.to.shared_sync(&self.id, &m.encode()));
                    let m = Memo::new(before, &sub.state, shared);
                    let frame = m.sent.as_ref().map(|s| sub.to.sync(&s.shared));
                    memo = Some(m);
                    frame
                }
            };
            if let Some(frame) = frame {
                self.effects.push(Effect::Send { conn: id, frame });
                let carried = memo
                    .as_ref()
                    .and_then(|m| m.sent.as_ref())
                    .is_some_and(|s| !s.added_hashes.is_empty());
                if sub.implied_acks && carried {
                    let heads = ours.get_or_insert_with(|| self.doc.get_heads());
                    if sub.unconfirmed.is_none() {
                        sub.unconfirmed = Some(sub.state.shared_heads.clone());
                    }
                    ack::implied(&mut sub.state, heads);
                }
            }
        }
        for id in lost {
            if let Some(sub) = self.subs.remove(&id) {
                self.effects.push(Effect::Unavailable {
                    conn: id,
                    frame: sub.to.doc_unavailable(self.id),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests;
