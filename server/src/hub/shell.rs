//! The thin async shell around the document actors: loads documents, runs what the actors
//! ask for (sends, commits, compactions, index registration, cross-relay catch-up) and
//! feeds each completion back to the actor as an input.
//!
//! The pattern everywhere: lock the actor, give it one input, take its effects, run the
//! sends (non-blocking queue pushes, so frames to one connection keep the actor's order),
//! unlock; only then await storage for the effects that need it. No actor state is held
//! across an await: what an await needs (the bytes to append, the snapshot to store) was
//! copied out of the actor, and what it returns goes back in as a new input.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use automerge::sync;
use automerge::ChangeHash;
use setlink_core::rules::notice;
use setlink_core::sync::engine::Addressee;
use setlink_core::{DocKind, DocumentId};

use super::admission::Denial;
use super::doc_actor::{DocActor, Effect, Subscriber};
use super::{lock, Connection, DocCell, Hub, HubError, HubEvent};
use crate::auth::Principal;
use crate::metrics::{Metrics, Refusal};
use crate::storage::{DocInfo, StorageError};

/// Why a document could not be loaded for someone.
enum LoadError {
    /// It does not exist, or not for this member: say so without saying which.
    Unavailable,
    Failed(HubError),
}

impl Hub {
    /// The loaded document, if any (never loads).
    pub(super) fn loaded(&self, doc_id: DocumentId) -> Option<Arc<DocCell>> {
        let cell = lock(&self.docs).get(&doc_id)?.get()?.clone();
        let evicted = lock(&cell.actor).is_evicted();
        (!evicted).then_some(cell)
    }

    /// Finds (or loads) a document for `who`; `None` when it is not there for them.
    /// Unknown documents become `Shared` documents of the member's production when
    /// `create` is set and the member may write runs.
    pub(super) async fn open(
        &self,
        doc_id: DocumentId,
        who: Option<&Principal>,
        create: bool,
    ) -> Result<Option<Arc<DocCell>>, HubError> {
        loop {
            let slot = lock(&self.docs).entry(doc_id).or_default().clone();
            let loaded = slot
                .get_or_try_init(|| self.load(doc_id, who, create))
                .await
                .cloned();
            match loaded {
                Ok(cell) if lock(&cell.actor).is_evicted() => {
                    self.forget_slot(doc_id, &slot);
                }
                Ok(cell) => return Ok(Some(cell)),
                Err(e) => {
                    self.forget_slot(doc_id, &slot);
                    return match e {
                        LoadError::Unavailable => Ok(None),
                        LoadError::Failed(e) => Err(e),
                    };
                }
            }
        }
    }

    fn forget_slot(&self, doc_id: DocumentId, slot: &super::Slot) {
        let mut docs = lock(&self.docs);
        if docs.get(&doc_id).is_some_and(|s| Arc::ptr_eq(s, slot)) {
            docs.remove(&doc_id);
        }
    }

    async fn load(
        &self,
        doc_id: DocumentId,
        who: Option<&Principal>,
        create: bool,
    ) -> Result<Arc<DocCell>, LoadError> {
        let failed = |e: StorageError| LoadError::Failed(e.into());
        let mut info = self.storage.document_info(doc_id).await.map_err(failed)?;
        if info.is_none() {
            if let Some(p) = who.filter(|p| create && p.role.may_write_runs()) {
                let out = self
                    .storage
                    .register_documents(p.production_id.clone(), vec![(doc_id, DocKind::Shared)])
                    .await
                    .map_err(failed)?;
                if out.refused.is_empty() {
                    tracing::info!(doc = %doc_id, member = %p.member_id, "created shared document");
                    info = Some(DocInfo {
                        production_id: p.production_id.clone(),
                        kind: DocKind::Shared,
                    });
                } else {
                    info = self.storage.document_info(doc_id).await.map_err(failed)?;
                }
            }
        }
        let Some(info) = info else {
            return Err(LoadError::Unavailable);
        };
        if who.is_some_and(|p| p.production_id != info.production_id) {
            // Another production's document: behave exactly as if it did not exist.
            return Err(LoadError::Unavailable);
        }
        let chunks = self.storage.load_chunks(doc_id).await.map_err(failed)?;
        let (actor, skipped) = DocActor::load(doc_id, info, &chunks, Instant::now());
        for (seq, why) in skipped {
            // The rest of the document serves; this chunk's changes are missing from it.
            tracing::error!(doc = %doc_id, seq, error = %why, "a stored chunk does not load; skipped");
        }
        Metrics::inc(&self.metrics.docs_loaded_total);
        Ok(Arc::new(DocCell {
            actor: std::sync::Mutex::new(actor),
            settled: tokio::sync::Notify::new(),
            storage_watch: std::sync::atomic::AtomicBool::new(false),
        }))
    }

    /// The sync state persisted for a peer's storage; with `record`, a first subscription
    /// is recorded durably before any reply, so push-on-connect knows about every document
    /// the peer may consider synced.
    pub(super) async fn load_state(
        &self,
        doc_id: DocumentId,
        sid: &str,
        record: bool,
    ) -> Option<sync::State> {
        let mut state = None;
        match self.storage.load_sync_state(doc_id, sid.to_owned()).await {
            Ok(Some(bytes)) => match sync::State::decode(&bytes) {
                Ok(s) => state = Some(s),
                Err(e) => tracing::warn!(doc = %doc_id, error = %e, "discarding bad sync state"),
            },
            Ok(None) => {}
            Err(e) => tracing::warn!(doc = %doc_id, error = %e, "cannot load sync state"),
        }
        if state.is_none() && record {
            let fresh = sync::State::new().encode();
            if let Err(e) = self
                .storage
                .ensure_sync_state(doc_id, sid.to_owned(), fresh)
                .await
            {
                tracing::warn!(doc = %doc_id, error = %e, "cannot record sync state");
            }
        }
        state
    }

    /// Takes the document's watchers (it changed) with their persisted sync states.
    async fn promoted(&self, doc_id: DocumentId) -> Vec<(super::ConnId, Subscriber)> {
        let mut out = Vec::new();
        for (id, w) in self.watchers.take(doc_id) {
            let state = self
                .load_state(doc_id, &w.storage_id, false)
                .await
                .unwrap_or_default();
            out.push((
                id,
                Subscriber::new(w.to, Some(w.storage_id), state, w.principal)
                    .with_implied_acks(w.implied_acks),
            ));
        }
        out
    }

    /// Watchers whose connection is still open. Called under the actor's lock:
    /// [`Hub::disconnect`] leaves the registry before it unsubscribes from documents, so a
    /// watcher taken before its connection closed either is unsubscribed after this or is
    /// dropped here, never left behind as a subscriber nobody removes.
    fn still_connected(
        &self,
        mut promoted: Vec<(super::ConnId, Subscriber)>,
    ) -> Vec<(super::ConnId, Subscriber)> {
        promoted.retain(|(id, _)| self.registry.contains(*id));
        promoted
    }

    /// Gives the actor one input (`f`) under its lock and runs the sends it produced;
    /// returns `f`'s answer and the effects that need awaiting ([`Hub::run_deferred`]).
    pub(super) fn with_actor<T>(
        &self,
        doc_id: DocumentId,
        cell: &DocCell,
        conn: Option<&mut Connection>,
        f: impl FnOnce(&mut DocActor) -> T,
    ) -> (T, Vec<Effect>) {
        let mut a = lock(&cell.actor);
        let out = f(&mut a);
        let effects = a.take_effects();
        let deferred = self.run_sends(doc_id, effects, conn);
        (out, deferred)
    }

    fn run_sends(
        &self,
        doc_id: DocumentId,
        effects: Vec<Effect>,
        mut conn: Option<&mut Connection>,
    ) -> Vec<Effect> {
        if effects.is_empty() {
            return effects;
        }
        let mut deferred = Vec::new();
        let mut senders = self.registry.senders(&self.metrics);
        for e in effects {
            match e {
                Effect::Send { conn, frame } => {
                    senders.send(conn, frame);
                }
                Effect::Unavailable { conn, frame } => {
                    self.metrics.refuse(Refusal::Unavailable);
                    senders.send(conn, frame);
                }
                Effect::Notice {
                    conn: id,
                    to,
                    metric,
                    rule,
                    path,
                    message,
                } => {
                    self.metrics.refuse(metric);
                    tracing::info!(doc = %doc_id, conn = id, rule = %rule, path = %path, "write rules refused a change");
                    let data = notice::encode(&notice::Notice {
                        document_id: doc_id.to_string(),
                        rule,
                        path,
                        message,
                    });
                    // Through the connection's own engine (its ephemeral session), as a
                    // reply to the message being handled.
                    match conn.as_deref_mut() {
                        Some(c) if c.id == id => {
                            if c.engine.send_ephemeral(doc_id, data).is_ok() {
                                while let Some(f) = c.engine.poll_transmit() {
                                    senders.send(c.id, f);
                                }
                            }
                        }
                        _ => {
                            senders.send(id, self.notice_frame(&to, doc_id, data));
                        }
                    }
                }
                Effect::StorageRefusal { conn, to, error } => {
                    let data = notice::encode(&notice::Notice {
                        document_id: doc_id.to_string(),
                        rule: "storage".to_owned(),
                        path: String::new(),
                        message: format!(
                            "the relay could not store the change ({error}); it was not accepted. It stays on your device and is sent again once the relay can store it"
                        ),
                    });
                    senders.send(conn, self.notice_frame(&to, doc_id, data));
                }
                Effect::Error { conn, frame } => {
                    self.metrics.refuse(Refusal::InvalidAutomerge);
                    senders.send(conn, frame);
                }
                Effect::Changed {
                    production_id,
                    kind,
                } => {
                    // Nobody listening is fine: no dashboard may be open.
                    let _ = self.events.send(HubEvent::Changed {
                        production_id,
                        doc_id,
                        kind,
                    });
                }
                e @ (Effect::Commit | Effect::Compact { .. } | Effect::Index(_)) => {
                    deferred.push(e)
                }
            }
        }
        deferred
    }

    /// The relay's own notice (outside any connection's engine), numbered in the hub's
    /// notice session.
    fn notice_frame(&self, to: &Addressee, doc_id: DocumentId, data: Vec<u8>) -> Vec<u8> {
        let count = self.notice_count.fetch_add(1, Ordering::Relaxed) + 1;
        to.ephemeral(&self.notice_session, count, doc_id, data)
    }

    /// Runs the effects that await: a commit (on its own task), a compaction, an index.
    pub(super) async fn run_deferred(
        &self,
        doc_id: DocumentId,
        cell: &Arc<DocCell>,
        deferred: Vec<Effect>,
    ) {
        for e in deferred {
            match e {
                // The commit runs on its own task: writers already queued behind this one
                // apply their changes before it, and share its commit.
                Effect::Commit => self.spawn_commit(doc_id, cell.clone()),
                Effect::Compact { snapshot, replaces } => {
                    let len = snapshot.len();
                    match self
                        .storage
                        .compact(doc_id, snapshot, replaces.clone())
                        .await
                    {
                        Ok(seq) => {
                            lock(&cell.actor).compacted(&replaces, seq, len);
                            Metrics::inc(&self.metrics.compactions);
                        }
                        // The incrementals are durable; compaction can wait for the next
                        // change.
                        Err(e) => tracing::warn!(doc = %doc_id, error = %e, "compaction failed"),
                    }
                }
                Effect::Index(index) => {
                    let production = lock(&cell.actor).info().production_id.clone();
                    self.apply_index(doc_id, production, index).await;
                }
                _ => {}
            }
        }
    }

    fn spawn_commit(&self, doc_id: DocumentId, cell: Arc<DocCell>) {
        if let Some(hub) = self.me.upgrade() {
            // Boxed: a commit may spawn another commit, and a future cannot contain itself.
            let commit: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> =
                Box::pin(async move {
                    let _ = hub.commit(doc_id, cell).await;
                });
            tokio::spawn(commit);
        }
    }

    /// Makes a document's pending batch durable, then lets the actor answer every
    /// subscriber with one sync message. On a storage failure the actor returns to what is
    /// stored and every writer in the batch is told its change was not accepted.
    pub(super) async fn commit(
        &self,
        doc_id: DocumentId,
        cell: Arc<DocCell>,
    ) -> Result<(), StorageError> {
        let (job, _) = self.with_actor(doc_id, &cell, None, DocActor::begin_commit);
        let Some(mut job) = job else {
            return Ok(());
        };
        let stored = match job.bytes.take() {
            None => Ok(None),
            Some(bytes) => {
                let len = bytes.len();
                self.storage
                    .append_chunk(doc_id, bytes, job.heads.clone())
                    .await
                    .map(|seq| Some((seq, len)))
            }
        };
        let promoted = match &stored {
            Ok(Some((_, len))) => {
                Metrics::inc(&self.metrics.changes_stored);
                Metrics::add(&self.metrics.change_bytes_stored, *len as u64);
                self.promoted(doc_id).await
            }
            Ok(None) => Vec::new(),
            Err(e) => {
                tracing::error!(doc = %doc_id, error = %e, "cannot store changes");
                Vec::new()
            }
        };
        let (result, failure) = match stored {
            Ok(s) => (Ok(s), None),
            Err(e) => (Err(e.to_string()), Some(e)),
        };
        let (_, deferred) = self.with_actor(doc_id, &cell, None, |a| {
            a.commit_done(job, result, self.still_connected(promoted))
        });
        cell.settled.notify_waiters();
        self.run_deferred(doc_id, &cell, deferred).await;
        match failure {
            Some(e) => {
                self.spawn_storage_watch(doc_id, cell);
                Err(e)
            }
            None => Ok(()),
        }
    }

    /// After a failed commit: if storage's health check says it is failing (the database
    /// is unreachable, the disk full), waits until it passes again, then asks the refused
    /// writers for their changes ([`DocActor::storage_back`]), so a device that stayed
    /// connected through the outage sends them without reconnecting. A failure the
    /// health check does not see is not retried here (it would meet the same failure, in
    /// a loop): those writers send again when they reconnect or the document next changes.
    /// One watch per document at a time; it backs off to 10 s.
    fn spawn_storage_watch(&self, doc_id: DocumentId, cell: Arc<DocCell>) {
        use std::sync::atomic::Ordering;
        if cell.storage_watch.swap(true, Ordering::AcqRel) {
            return;
        }
        let Some(hub) = self.me.upgrade() else {
            return;
        };
        tokio::spawn(async move {
            let mut wait = std::time::Duration::from_millis(250);
            let mut was_down = false;
            loop {
                let waiting = {
                    let a = lock(&cell.actor);
                    !a.is_evicted() && a.awaits_storage()
                };
                if !waiting {
                    break;
                }
                if hub.storage.health().await.is_err() {
                    was_down = true;
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(std::time::Duration::from_secs(10));
                    continue;
                }
                if was_down {
                    let (asked, deferred) =
                        hub.with_actor(doc_id, &cell, None, |a| a.storage_back());
                    hub.run_deferred(doc_id, &cell, deferred).await;
                    tracing::info!(doc = %doc_id, writers = asked, "storage is back; refused writers asked again");
                }
                break;
            }
            cell.storage_watch.store(false, Ordering::Release);
        });
    }

    /// Registers what a production doc's index lists and updates loaded documents' kinds.
    async fn apply_index(
        &self,
        production_doc: DocumentId,
        production: String,
        index: Result<Vec<(DocumentId, DocKind)>, String>,
    ) {
        let entries = match index {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(doc = %production_doc, error = %e, "production doc index unreadable");
                return;
            }
        };
        // The production doc itself stays a production doc whatever its index says.
        let entries: Vec<_> = entries
            .into_iter()
            .filter(|(id, _)| *id != production_doc)
            .collect();
        match self.storage.register_documents(production, entries).await {
            Ok(out) => {
                for refused in &out.refused {
                    tracing::warn!(doc = %refused, production_doc = %production_doc, "index lists another production's document; ignored");
                }
                for (id, kind) in out.changed {
                    if let Some(cell) = self.loaded(id) {
                        // Drops subscribers the new kind excludes.
                        self.with_actor(id, &cell, None, |a| a.set_kind(kind));
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot register indexed documents"),
        }
    }

    /// Cross-relay input (see [`Hub::foreign_append`]): `heads` from another relay's
    /// notification, or `None` to catch up with whatever storage holds.
    pub(super) async fn catch_up_doc(&self, doc_id: DocumentId, heads: Option<&[ChangeHash]>) {
        let cell = match self.loaded(doc_id) {
            Some(c) => c,
            // (Either way the change is noted for connections listing what to push.)
            None if self.watchers.changed(doc_id) => {
                // Loading it reads the new changes; its watchers then hear them.
                let Ok(Some(cell)) = self.open(doc_id, None, false).await else {
                    return;
                };
                let promoted = self.promoted(doc_id).await;
                let (_, deferred) = self.with_actor(doc_id, &cell, None, |a| {
                    a.promote_and_sync(self.still_connected(promoted))
                });
                self.run_deferred(doc_id, &cell, deferred).await;
                return;
            }
            None => {
                // Nobody here syncs it, but an open dashboard shows its production live
                // and hears of changes through the hub, wherever they were made.
                if self.events.receiver_count() > 0 {
                    if let Ok(Some(info)) = self.storage.document_info(doc_id).await {
                        let _ = self.events.send(HubEvent::Changed {
                            production_id: info.production_id,
                            doc_id,
                            kind: info.kind,
                        });
                    }
                }
                return;
            }
        };
        if let Some(heads) = heads {
            if !lock(&cell.actor).lacks(heads) {
                return;
            }
        }
        let chunks = match self.storage.load_chunks(doc_id).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(doc = %doc_id, error = %e, "cannot load another relay's changes");
                return;
            }
        };
        // Memory must equal storage before the chunks go in (a pending batch is
        // committed first; its fan-out then includes them).
        let changed = loop {
            let notified = cell.settled.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (out, deferred) = self.with_actor(doc_id, &cell, None, |a| {
                (a.is_idle() && !a.is_evicted()).then(|| a.foreign(&chunks))
            });
            match out {
                None if lock(&cell.actor).is_evicted() => return,
                None => notified.await,
                Some((changed, refused)) => {
                    if let Some(why) = refused {
                        tracing::error!(doc = %doc_id, error = %why, "a stored chunk of another relay's does not load; skipped");
                    }
                    self.run_deferred(doc_id, &cell, deferred).await;
                    break changed;
                }
            }
        };
        if changed && self.watchers.changed(doc_id) {
            let promoted = self.promoted(doc_id).await;
            let (_, deferred) = self.with_actor(doc_id, &cell, None, |a| {
                a.promote_and_sync(self.still_connected(promoted))
            });
            self.run_deferred(doc_id, &cell, deferred).await;
        }
    }

    /// Answers a message admission refused.
    pub(super) fn denied(&self, conn: &mut Connection, doc_id: DocumentId, d: Denial) {
        match d {
            Denial::Unavailable => self.unavailable_to(conn, doc_id),
            Denial::Notice {
                metric,
                rule,
                message,
            } => {
                self.metrics.refuse(metric);
                tracing::info!(doc = %doc_id, member = %conn.principal.member_id, role = %conn.principal.role, rule, "refused write");
                self.refuse_to(conn, doc_id, rule, "", message);
            }
            Denial::Invalid(message) => {
                self.metrics.refuse(Refusal::InvalidAutomerge);
                self.error_to(conn, message);
            }
        }
    }

    /// Tells a writer that its change to `doc` was refused, with the rule that refused it,
    /// as a [`notice`] in an `ephemeral` message: the connection and the rest of its
    /// documents carry on, and no stock client closes, reconnects or resends over it.
    fn refuse_to(
        &self,
        conn: &mut Connection,
        doc: DocumentId,
        rule: &str,
        path: &str,
        message: String,
    ) {
        let data = notice::encode(&notice::Notice {
            document_id: doc.to_string(),
            rule: rule.to_owned(),
            path: path.to_owned(),
            message,
        });
        if conn.engine.send_ephemeral(doc, data).is_ok() {
            self.flush_engine(conn);
        }
    }

    pub(super) fn unavailable_to(&self, conn: &mut Connection, doc: DocumentId) {
        self.metrics.refuse(Refusal::Unavailable);
        if conn.engine.send_doc_unavailable(doc).is_ok() {
            self.flush_engine(conn);
        }
    }

    /// An `error` about one message of a connected peer; the connection carries on.
    pub(super) fn error_to(&self, conn: &Connection, message: String) {
        if let Some(to) = &conn.to {
            self.registry
                .senders(&self.metrics)
                .send(conn.id, to.error(message));
        }
    }

    /// Sends what the connection's engine queued (its `peer` answer, its `error` frames,
    /// its notices).
    pub(super) fn flush_engine(&self, conn: &mut Connection) {
        let mut senders = self.registry.senders(&self.metrics);
        while let Some(frame) = conn.engine.poll_transmit() {
            if !senders.send(conn.id, frame) {
                break;
            }
        }
    }
}
