//! The LISTEN connection: one dedicated tokio-postgres connection per store instance
//! doing `LISTEN setlink_appends` and `LISTEN setlink_presence`, its notifications turned
//! into [`StoreEvent`]s.
//!
//! Payload (written by `docs.rs`): `<writer> <document id> <head hex>,<head hex>,...`;
//! the heads part is empty when they would not fit PostgreSQL's 8000-byte limit. When
//! the connection drops, the task reconnects with backoff and, once it listens again,
//! sends [`StoreEvent::Resync`]: whatever was notified meanwhile is lost.

use std::time::Duration;

use automerge::ChangeHash;
use futures_util::StreamExt;
use setlink_core::DocumentId;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, NoTls};

use super::{lock_sink, pg_err, EventSink, CHANNEL, PRESENCE_CHANNEL};
use crate::storage::{Presence, StorageError, StorageResult, StoreEvent};

/// Aborts the listener task when dropped.
pub(super) struct ListenerGuard(Option<JoinHandle<()>>);

impl ListenerGuard {
    pub(super) fn none() -> Self {
        ListenerGuard(None)
    }
}

impl Drop for ListenerGuard {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Starts the listener and waits until it listens (so no append committed after
/// `connect` returns goes unheard).
pub(super) async fn start(
    config: tokio_postgres::Config,
    writer: Arc<str>,
    events: Arc<Mutex<EventSink>>,
    connect_timeout: Duration,
) -> StorageResult<ListenerGuard> {
    let (ready_tx, ready_rx) = oneshot::channel();
    let task = tokio::spawn(run(config, writer, events, ready_tx));
    let guard = ListenerGuard(Some(task));
    match tokio::time::timeout(connect_timeout * 2, ready_rx).await {
        Ok(Ok(Ok(()))) => Ok(guard),
        Ok(Ok(Err(e))) => Err(e),
        Ok(Err(_)) => Err(StorageError::Fault(
            "PostgreSQL: the LISTEN task stopped".into(),
        )),
        Err(_) => Err(StorageError::Fault(
            "PostgreSQL: LISTEN did not start in time".into(),
        )),
    }
}

async fn run(
    config: tokio_postgres::Config,
    writer: Arc<str>,
    events: Arc<Mutex<EventSink>>,
    ready: oneshot::Sender<StorageResult<()>>,
) {
    let mut ready = Some(ready);
    let mut backoff = BACKOFF_MIN;
    loop {
        match listen_once(&config, &writer, &events, &mut ready).await {
            Ok(()) => backoff = BACKOFF_MIN,
            Err(e) => {
                if let Some(r) = ready.take() {
                    // The first attempt failed: `connect` reports it.
                    let _ = r.send(Err(e));
                    return;
                }
                tracing::warn!(error = %e, "PostgreSQL LISTEN connection lost; reconnecting");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// One connection's life: connect, LISTEN, forward notifications until it drops.
/// `Ok` when it listened and later dropped; `Err` when it never got to listen.
async fn listen_once(
    config: &tokio_postgres::Config,
    writer: &str,
    events: &Mutex<EventSink>,
    ready: &mut Option<oneshot::Sender<StorageResult<()>>>,
) -> StorageResult<()> {
    let (client, mut connection) = config.connect(NoTls).await.map_err(pg_err)?;
    // The connection only makes progress while polled: drive it on its own task and
    // hand notifications over.
    let (ntx, mut nrx) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(m) = messages.next().await {
            match m {
                Ok(AsyncMessage::Notification(n)) => {
                    if ntx.send(n).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "PostgreSQL LISTEN connection");
                    break;
                }
            }
        }
    });
    let listened = client
        .batch_execute(&format!("LISTEN {CHANNEL}; LISTEN {PRESENCE_CHANNEL}"))
        .await
        .map_err(pg_err);
    if let Err(e) = listened {
        driver.abort();
        return Err(e);
    }
    match ready.take() {
        Some(r) => {
            let _ = r.send(Ok(()));
        }
        None => {
            tracing::info!("PostgreSQL LISTEN connection back; every loaded document catches up");
            lock_sink(events).send(StoreEvent::Resync);
        }
    }
    while let Some(n) = nrx.recv().await {
        let event = match n.channel() {
            CHANNEL => parse(n.payload(), writer),
            PRESENCE_CHANNEL => parse_presence(n.payload(), writer),
            _ => None,
        };
        if let Some(event) = event {
            lock_sink(events).send(event);
        }
    }
    drop(client);
    driver.abort();
    Ok(())
}

/// The event a payload stands for; `None` for this writer's own appends and for
/// payloads this relay cannot read.
pub(super) fn parse(payload: &str, own_writer: &str) -> Option<StoreEvent> {
    let mut parts = payload.splitn(3, ' ');
    let writer = parts.next()?;
    if writer == own_writer {
        return None;
    }
    let doc: DocumentId = match parts.next()?.parse() {
        Ok(d) => d,
        Err(_) => {
            tracing::warn!(payload, "unreadable PostgreSQL notification");
            return None;
        }
    };
    let heads = parts
        .next()
        .unwrap_or("")
        .split(',')
        .filter(|h| !h.is_empty())
        .map(|h| {
            let bytes: [u8; 32] = hex::decode(h).ok()?.try_into().ok()?;
            Some(ChangeHash(bytes))
        })
        .collect::<Option<Vec<_>>>()
        .unwrap_or_default();
    Some(StoreEvent::Appended { doc, heads })
}

/// The presence in a `setlink_presence` payload; `None` for this writer's own and for
/// payloads this relay cannot read.
pub(super) fn parse_presence(payload: &str, own_writer: &str) -> Option<StoreEvent> {
    let (writer, json) = payload.split_once(' ')?;
    if writer == own_writer {
        return None;
    }
    match serde_json::from_str::<Presence>(json) {
        Ok(p) => Some(StoreEvent::Presence(p)),
        Err(e) => {
            tracing::warn!(error = %e, "unreadable PostgreSQL presence notification");
            None
        }
    }
}

/// The payload of a presence NOTIFY, or `None` when it would not fit PostgreSQL's
/// 8000-byte limit.
pub(super) fn presence_payload(writer: &str, p: &Presence) -> Option<String> {
    let json = serde_json::to_string(p).ok()?;
    let out = format!("{writer} {json}");
    (out.len() < 7000).then_some(out)
}

/// The payload of an append's NOTIFY (see the module doc).
pub(super) fn payload(writer: &str, doc: &DocumentId, heads: &[ChangeHash]) -> String {
    // PostgreSQL refuses payloads of 8000 bytes or more; stay well under.
    const BUDGET: usize = 7000;
    let mut out = format!("{writer} {doc} ");
    if out.len() + heads.len() * 65 <= BUDGET {
        let hex: Vec<String> = heads.iter().map(|h| hex::encode(h.0)).collect();
        out.push_str(&hex.join(","));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_skip_the_own_writer() {
        let d = DocumentId::random();
        let heads = vec![ChangeHash([1; 32]), ChangeHash([2; 32])];
        let p = payload("w1", &d, &heads);
        assert_eq!(parse(&p, "w1"), None);
        assert_eq!(
            parse(&p, "w2"),
            Some(StoreEvent::Appended { doc: d, heads })
        );
        let presence = Presence {
            doc: d,
            production_id: "p".into(),
            member_id: "m".into(),
            sender_id: "peer".into(),
            session_id: "s".into(),
            count: 7,
            data: vec![0, 1, 255],
        };
        let p = presence_payload("w1", &presence).unwrap();
        assert_eq!(parse_presence(&p, "w1"), None);
        assert_eq!(
            parse_presence(&p, "w2"),
            Some(StoreEvent::Presence(presence.clone()))
        );
        let huge = Presence {
            data: vec![0; 4000],
            ..presence
        };
        assert_eq!(presence_payload("w1", &huge), None);
        let many = vec![ChangeHash([3; 32]); 200];
        let p = payload("w1", &d, &many);
        assert!(p.len() < 8000);
        assert_eq!(
            parse(&p, "w2"),
            Some(StoreEvent::Appended {
                doc: d,
                heads: vec![]
            })
        );
    }
}
