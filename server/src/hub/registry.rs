//! Open connections by id, by member and by token: where frames for a connection go, and
//! how the hub asks one to close. A std mutex held only for map operations and
//! non-blocking queue pushes, never across an await. Lock order: a document's actor may be
//! locked when the registry is (sends from a fan-out), never the other way round.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use tokio::sync::{mpsc, watch};

use super::{close, lock, CloseReason, ConnId};
use crate::metrics::{Metrics, Refusal};
use crate::outbound::{Outbound, OutboundTx};

struct Entry {
    token_hash: String,
    member_id: String,
    tx: OutboundTx,
    kill: watch::Sender<Option<CloseReason>>,
}

#[derive(Default)]
struct Maps {
    conns: HashMap<ConnId, Entry>,
    by_member: HashMap<String, HashSet<ConnId>>,
}

#[derive(Default)]
pub(crate) struct Registry {
    maps: Mutex<Maps>,
}

/// The registry locked, to send several frames under one lock.
pub(crate) struct Senders<'a> {
    maps: MutexGuard<'a, Maps>,
    metrics: &'a Metrics,
}

fn too_slow() -> CloseReason {
    CloseReason {
        code: close::POLICY,
        reason: "too slow: outbound queue full; reconnect to resync".into(),
    }
}

impl Senders<'_> {
    /// Queues a frame for `conn`. A peer whose queue is full is dropped: the protocol
    /// resynchronises from sync states, so letting it reconnect is safe; buffering
    /// without bound is not.
    pub(crate) fn send(&mut self, conn: ConnId, frame: Vec<u8>) -> bool {
        let Some(e) = self.maps.conns.get(&conn) else {
            return false;
        };
        let len = frame.len() as u64;
        match e.tx.try_send(Outbound::Frame(frame)) {
            Ok(()) => {
                Metrics::inc(&self.metrics.messages_out);
                Metrics::add(&self.metrics.bytes_out, len);
                true
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.metrics.refuse(Refusal::SlowConsumer);
                let _ = e.kill.send(Some(too_slow()));
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

impl Registry {
    pub(crate) fn insert(
        &self,
        id: ConnId,
        member_id: &str,
        token_hash: &str,
        tx: OutboundTx,
        kill: watch::Sender<Option<CloseReason>>,
    ) {
        let mut m = lock(&self.maps);
        m.conns.insert(
            id,
            Entry {
                token_hash: token_hash.to_owned(),
                member_id: member_id.to_owned(),
                tx,
                kill,
            },
        );
        m.by_member
            .entry(member_id.to_owned())
            .or_default()
            .insert(id);
    }

    pub(crate) fn remove(&self, id: ConnId) {
        let mut m = lock(&self.maps);
        let Some(e) = m.conns.remove(&id) else { return };
        if let Some(set) = m.by_member.get_mut(&e.member_id) {
            set.remove(&id);
            if set.is_empty() {
                m.by_member.remove(&e.member_id);
            }
        }
    }

    pub(crate) fn senders<'a>(&'a self, metrics: &'a Metrics) -> Senders<'a> {
        Senders {
            maps: lock(&self.maps),
            metrics,
        }
    }

    pub(crate) fn kick_member(&self, member_id: &str, why: CloseReason) -> usize {
        let m = lock(&self.maps);
        let Some(ids) = m.by_member.get(member_id) else {
            return 0;
        };
        for id in ids {
            if let Some(e) = m.conns.get(id) {
                let _ = e.kill.send(Some(why.clone()));
            }
        }
        ids.len()
    }

    pub(crate) fn kick_token(&self, token_hash: &str, why: CloseReason) -> usize {
        let m = lock(&self.maps);
        let mut n = 0;
        for e in m.conns.values().filter(|e| e.token_hash == token_hash) {
            let _ = e.kill.send(Some(why.clone()));
            n += 1;
        }
        n
    }

    pub(crate) fn close_all(&self, why: CloseReason) {
        for e in lock(&self.maps).conns.values() {
            let _ = e.kill.send(Some(why.clone()));
        }
    }

    pub(crate) fn contains(&self, id: ConnId) -> bool {
        lock(&self.maps).conns.contains_key(&id)
    }

    pub(crate) fn count(&self) -> usize {
        lock(&self.maps).conns.len()
    }

    pub(crate) fn member_connections(&self, member_id: &str) -> usize {
        lock(&self.maps)
            .by_member
            .get(member_id)
            .map_or(0, HashSet::len)
    }

    pub(crate) fn members(&self) -> Vec<String> {
        lock(&self.maps).by_member.keys().cloned().collect()
    }
}
