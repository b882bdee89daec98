//! A small in-memory relay for tests: tokio-tungstenite server, one sans-IO engine
//! `Connection` per socket, documents in memory, changes fanned out to every other
//! connection that syncs the document, ephemeral messages forwarded. It stands in for
//! the real relay (server/) so the client and JS interop tests need nothing else.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use automerge::sync;
use automerge::Automerge;
use futures_util::{SinkExt, StreamExt};
use setlink_core::sync::engine::{Connection, ConnectionConfig, Ephemeral, Event, Side};
use setlink_core::sync::wire::PeerMetadata;
use setlink_core::DocumentId;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message as WsMessage;

enum Notify {
    Changed(DocumentId),
    Ephemeral(Ephemeral),
}

#[derive(Default)]
pub struct Hub {
    pub docs: HashMap<DocumentId, Automerge>,
    conns: HashMap<u64, mpsc::UnboundedSender<Notify>>,
    subscribers: HashMap<DocumentId, HashSet<u64>>,
    next_conn: u64,
    /// Request paths (with query) of every accepted WebSocket.
    pub paths: Vec<String>,
    /// Errors the engine reported, per connection.
    pub errors: Vec<String>,
    /// Leave a requester unsubscribed when answering "unavailable", like a relay that did
    /// not know the document yet: only asking again brings it.
    pub forget_unavailable_requesters: bool,
    /// How many "unavailable" answers were sent.
    pub unavailable_answers: usize,
}

pub type SharedHub = Arc<Mutex<Hub>>;

pub struct MiniRelay {
    pub addr: SocketAddr,
    pub hub: SharedHub,
    tasks: JoinSet<()>,
}

fn lock(h: &SharedHub) -> std::sync::MutexGuard<'_, Hub> {
    h.lock().unwrap_or_else(|e| e.into_inner())
}

impl MiniRelay {
    /// Starts on `addr` (port 0 for an ephemeral one) serving `hub`'s documents.
    pub async fn start(addr: &str, hub: SharedHub) -> MiniRelay {
        let listener = TcpListener::bind(addr).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut tasks = JoinSet::new();
        let h = hub.clone();
        tasks.spawn(async move {
            let mut conns = JoinSet::new();
            while let Ok((tcp, _)) = listener.accept().await {
                conns.spawn(serve(tcp, h.clone()));
            }
        });
        MiniRelay { addr, hub, tasks }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/sync", self.addr)
    }

    /// Kills the relay: every socket drops without a close frame, like a crash.
    pub async fn kill(mut self) -> SharedHub {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        let mut hub = lock(&self.hub);
        hub.conns.clear();
        hub.subscribers.clear();
        drop(hub);
        self.hub
    }
}

async fn serve(tcp: tokio::net::TcpStream, hub: SharedHub) {
    let h = hub.clone();
    // The callback's error type is tungstenite's (large) HTTP response; this one never fails.
    #[allow(clippy::result_large_err)]
    let record = move |req: &Request, resp: Response| {
        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default();
        lock(&h).paths.push(path);
        Ok(resp)
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(tcp, record).await else {
        return;
    };
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let id = {
        let mut hub = lock(&hub);
        hub.next_conn += 1;
        let id = hub.next_conn;
        hub.conns.insert(id, tx);
        id
    };
    let mut conn = Connection::new(ConnectionConfig::new(
        "mini-relay",
        Side::Acceptor,
        PeerMetadata {
            storage_id: Some("mini-relay-storage".into()),
            is_ephemeral: Some(false),
            pushes_changes: None,
            implied_acks: None,
        },
        format!("relay-session-{id}"),
    ));
    let mut states: HashMap<DocumentId, sync::State> = HashMap::new();
    loop {
        while let Some(f) = conn.poll_transmit() {
            if sink.send(WsMessage::binary(f)).await.is_err() {
                break;
            }
        }
        if conn.is_closed() {
            break;
        }
        tokio::select! {
            msg = stream.next() => match msg {
                Some(Ok(WsMessage::Binary(b))) => {
                    if let Err(e) = conn.handle_frame(&b) {
                        lock(&hub).errors.push(e.to_string());
                    }
                    handle_events(&mut conn, &mut states, &hub, id);
                }
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            Some(n) = rx.recv() => {
                let hub_g = &mut *lock(&hub);
                match n {
                    Notify::Changed(doc) => {
                        if let Some(d) = hub_g.docs.get(&doc) {
                            let st = states.entry(doc).or_default();
                            let _ = conn.sync_with(doc, d, st);
                        }
                    }
                    Notify::Ephemeral(e) => { let _ = conn.forward_ephemeral(&e); }
                }
            }
        }
    }
    let mut hub = lock(&hub);
    hub.conns.remove(&id);
    for subs in hub.subscribers.values_mut() {
        subs.remove(&id);
    }
}

fn handle_events(
    conn: &mut Connection,
    states: &mut HashMap<DocumentId, sync::State>,
    hub: &SharedHub,
    id: u64,
) {
    while let Some(ev) = conn.poll_event() {
        let hub = &mut *lock(hub);
        match ev {
            Event::Sync {
                document_id,
                message,
                request,
            } => {
                // Subscribed even when the answer is "unavailable", like the real hub for
                // a registered document whose content has not arrived yet: a device that
                // asks just before the writer's first push must still hear of it.
                let missing = request && !hub.docs.contains_key(&document_id);
                if !(missing && hub.forget_unavailable_requesters) {
                    hub.subscribers.entry(document_id).or_default().insert(id);
                }
                if missing {
                    hub.unavailable_answers += 1;
                    let _ = conn.send_doc_unavailable(document_id);
                    continue;
                }
                let doc = hub.docs.entry(document_id).or_default();
                let st = states.entry(document_id).or_default();
                match conn.receive_with(document_id, doc, st, message) {
                    Ok(applied) if applied.changed => {
                        for other in hub.subscribers.get(&document_id).into_iter().flatten() {
                            if *other != id {
                                if let Some(tx) = hub.conns.get(other) {
                                    let _ = tx.send(Notify::Changed(document_id));
                                }
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(e) => hub.errors.push(e.to_string()),
                }
            }
            Event::Ephemeral(e) => {
                for (other, tx) in &hub.conns {
                    if *other != id {
                        let _ = tx.send(Notify::Ephemeral(e.clone()));
                    }
                }
            }
            _ => {}
        }
    }
}
