//! A stock Rust automerge-repo client (samod) against the relay's write rules: samod, dialing
//! the real relay over WebSocket with a PA's token, deletes a status event of a run. The
//! relay refuses it (append-only) with one `ephemeral` notice and keeps nothing of it; samod
//! must neither crash nor loop (reconnect, resend) over it, and must keep syncing live.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use automerge::transaction::Transactable;
use automerge::{Automerge, ReadDoc, ROOT};
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use samod::websocket::TungsteniteDialer;
use samod::{BackoffConfig, DialError, Dialer, DialerEvent, RepoEvent, RepoObserver, Transport};
use setlink_core::model::run;
use setlink_core::rules::notice::{self, Notice};
use setlink_core::{Author, DocumentId, Role};
use setlink_tests::demo::{connected, demo_board, run_id, synced};
use setlink_tests::http::{metric, metrics, redeem};
use setlink_tests::{within, Relay};

const BIN: &str = env!("CARGO_BIN_EXE_setlink-relay");

/// How long samod is watched after the refusal, with nothing else going on.
const QUIET: Duration = Duration::from_secs(20);

/// What samod's repo reports about itself while it runs.
#[derive(Default)]
struct Counts {
    sync_generated: AtomicUsize,
    sync_received: AtomicUsize,
    connections_established: AtomicUsize,
    connections_lost: AtomicUsize,
}

impl Counts {
    fn snapshot(&self) -> [usize; 4] {
        [
            self.sync_generated.load(Ordering::SeqCst),
            self.sync_received.load(Ordering::SeqCst),
            self.connections_established.load(Ordering::SeqCst),
            self.connections_lost.load(Ordering::SeqCst),
        ]
    }
}

struct Observer(Arc<Counts>);

impl RepoObserver for Observer {
    fn observe(&self, event: &RepoEvent) {
        let c = match event {
            RepoEvent::SyncMessageGenerated { .. } => &self.0.sync_generated,
            RepoEvent::SyncMessageReceived { .. } => &self.0.sync_received,
            RepoEvent::ConnectionEstablished { .. } => &self.0.connections_established,
            RepoEvent::ConnectionLost { .. } => &self.0.connections_lost,
            _ => return,
        };
        c.fetch_add(1, Ordering::SeqCst);
    }
}

/// samod's own WebSocket dialer, counting every attempt to connect and why one failed:
/// samod's view of reconnects, beside the relay's count of connections it accepted.
struct CountingDialer {
    inner: TungsteniteDialer,
    url: samod::Url,
    attempts: Arc<AtomicUsize>,
    failures: Arc<Mutex<Vec<String>>>,
}

impl Dialer for CountingDialer {
    type Error = std::convert::Infallible;

    fn url(&self) -> samod::Url {
        self.url.clone()
    }

    fn connect(&self) -> BoxFuture<'static, Result<Transport, DialError<Self::Error>>> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        let failures = self.failures.clone();
        let connecting = self.inner.connect();
        Box::pin(async move {
            let r = connecting.await;
            if let Err(e) = &r {
                eprintln!("samod dial failed: {e}");
                failures.lock().unwrap().push(e.to_string());
            }
            r
        })
    }
}

/// The relay's counters this test reads, in one scrape.
#[derive(Debug, Clone, Copy)]
struct Relayed {
    connections: u64,
    refusals: u64,
    received: u64,
    stored: u64,
}

async fn relayed(relay: &Relay) -> Relayed {
    let m = metrics(relay.addr).await;
    Relayed {
        connections: metric(&m, "setlink_connections_total"),
        refusals: metric(&m, r#"setlink_refusals_total{reason="write_rules"}"#),
        received: metric(&m, "setlink_messages_received_total"),
        stored: metric(&m, "setlink_storage_document_bytes_written_total"),
    }
}

/// The keys of a run's `events` map, read raw.
fn event_keys(doc: &Automerge, run_id: &str) -> Vec<String> {
    let runs = doc.get(ROOT, "runs").unwrap().unwrap().1;
    let r = doc.get(&runs, run_id).unwrap().unwrap().1;
    let events = doc.get(&r, "events").unwrap().unwrap().1;
    doc.keys(&events).collect()
}

fn sorted(mut h: Vec<automerge::ChangeHash>) -> Vec<automerge::ChangeHash> {
    h.sort();
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samod_takes_a_refusal_without_crashing_or_looping() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), &[]);
    let coord = redeem(relay.addr, relay.code("coordinator"), "Casey", "c1").await;
    let pa = redeem(relay.addr, relay.code("pa"), "Pat", "p1").await;
    let prod: DocumentId = coord.production_doc_id.parse().unwrap();

    // The coordinator's device: finds the board through the production's index, and later
    // makes the valid change samod must still receive.
    let c = connected(&relay, &coord.token, "coordinator").await;
    let board = demo_board(&c, prod).await;
    synced(&c, board).await;
    // Let the whole demo history arrive.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let coffee = c
        .read(board, |d| run_id(d, "Coffee for camera dept"))
        .unwrap();
    let sides = c.read(board, |d| run_id(d, "Sides to set")).unwrap();

    // samod, as the PA.
    let counts = Arc::new(Counts::default());
    let repo = samod::Repo::build_tokio()
        .with_observer(Observer(counts.clone()))
        .load()
        .await;
    let before_dial = relayed(&relay).await;
    let url = samod::Url::parse(&format!("ws://{}/sync?token={}", relay.addr, pa.token)).unwrap();
    let dials = Arc::new(AtomicUsize::new(0));
    let dial_failures: Arc<Mutex<Vec<String>>> = Arc::default();
    let dialer = repo
        .dial(
            BackoffConfig::default(),
            Arc::new(CountingDialer {
                inner: TungsteniteDialer::new(url.clone()),
                url,
                attempts: dials.clone(),
                failures: dial_failures.clone(),
            }),
        )
        .expect("samod dials");
    let dialer_events: Arc<Mutex<Vec<DialerEvent>>> = Arc::default();
    tokio::spawn({
        // `events` borrows its handle: the task holds a clone.
        let dialer = dialer.clone();
        let log = dialer_events.clone();
        async move {
            let mut events = dialer.events();
            while let Some(e) = events.next().await {
                eprintln!("samod dialer: {e:?}");
                log.lock().unwrap().push(e);
            }
        }
    });
    let peer = within(10, "samod's handshake", dialer.established())
        .await
        .expect("samod connects with the PA's token");
    eprintln!("samod connected to {peer:?}");

    let samod_board: samod::DocumentId = board.to_string().parse().expect("same document id");
    let handle = within(20, "samod finding the board", repo.find(samod_board))
        .await
        .expect("repo running")
        .expect("the relay has the board");
    let coord_heads = sorted(c.heads(board));
    within(10, "samod's copy of the board", async {
        while sorted(handle.with_document(|d| d.get_heads())) != coord_heads {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;

    // Whatever samod hands the app as ephemera for the board.
    let ephemera: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    tokio::spawn({
        let mut stream = handle.ephemera();
        let log = ephemera.clone();
        async move {
            while let Some(m) = stream.next().await {
                log.lock().unwrap().push(m);
            }
        }
    });

    // The refused change: one status event of a run, deleted.
    let before = relayed(&relay).await;
    let deleted = handle.with_document(|d| {
        let runs = d.get(ROOT, "runs").unwrap().unwrap().1;
        let r = d.get(&runs, coffee.as_str()).unwrap().unwrap().1;
        let events = d.get(&r, "events").unwrap().unwrap().1;
        let key = d.keys(&events).last().expect("the run has events");
        let mut tx = d.transaction();
        tx.delete(&events, key.as_str()).unwrap();
        tx.commit();
        key
    });
    assert!(
        !handle
            .with_document(|d| event_keys(d, &coffee))
            .contains(&deleted),
        "samod's own copy has the delete"
    );
    within(10, "the relay refusing samod's delete", async {
        while relayed(&relay).await.refusals == before.refusals {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let refused_at = Instant::now();
    let at_refusal = relayed(&relay).await;
    let samod_at_refusal = counts.snapshot();
    let dials_at_refusal = dials.load(Ordering::SeqCst);

    // Quiet: nobody changes anything; samod is left alone with the refusal.
    tokio::time::sleep(QUIET).await;
    let quiet_for = refused_at.elapsed();
    let after = relayed(&relay).await;
    let samod_after = counts.snapshot();
    let dials_after = dials.load(Ordering::SeqCst);

    let reconnects = after.connections - before_dial.connections;
    let refusals = after.refusals - before.refusals;
    let per_minute = refusals as f64 * 60.0 / quiet_for.as_secs_f64();
    let frames_quiet = after.received - at_refusal.received;
    let sync_out_quiet = samod_after[0] - samod_at_refusal[0];
    let sync_in_quiet = samod_after[1] - samod_at_refusal[1];
    let notices: Vec<Notice> = ephemera
        .lock()
        .unwrap()
        .iter()
        .filter_map(|m| notice::decode(m))
        .collect();
    eprintln!(
        "over {quiet_for:?} after the refusal: relay connections {} -> {} (since before samod dialed: {reconnects}), \
         write-rule refusals {} -> {} ({refusals}, {per_minute:.1}/min), frames the relay received {frames_quiet}, \
         samod sync messages generated {sync_out_quiet} / received {sync_in_quiet}, \
         samod connections established/lost {}/{}, samod dial attempts {dials_at_refusal} -> {dials_after} \
         (failed: {:?}), samod ephemera {} ({} refusal notices: {notices:?}), \
         dialer events {:?}",
        before_dial.connections,
        after.connections,
        before.refusals,
        after.refusals,
        samod_after[2],
        samod_after[3],
        dial_failures.lock().unwrap(),
        ephemera.lock().unwrap().len(),
        notices.len(),
        dialer_events.lock().unwrap(),
    );

    assert!(
        reconnects <= 2,
        "samod reconnect loop: {reconnects} connections (the first one plus at most one more)"
    );
    assert!(
        (1..=3).contains(&refusals),
        "{refusals} refusals in {quiet_for:?}"
    );
    assert_eq!(after.stored, before.stored, "nothing of the delete stored");
    // No resend loop either: the relay's sync state returned to before the change and
    // samod's still counts it as sent, so neither side has anything to say.
    assert!(
        frames_quiet <= 2 && sync_out_quiet <= 2,
        "sync ping-pong after the refusal: relay received {frames_quiet} frames, samod generated {sync_out_quiet} sync messages"
    );
    assert_eq!(samod_after[3], 0, "samod lost no connection");
    assert_eq!(
        dials_after, dials_at_refusal,
        "samod dialed again after the refusal"
    );
    // samod hands the notice to the app as an ephemeral message on the board's handle.
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0].rule, "append-only", "{notices:?}");
    assert_eq!(notices[0].document_id, board.to_string(), "{notices:?}");
    assert!(notices[0].path.ends_with(&deleted), "{notices:?}");
    assert!(dialer.is_connected(), "samod still connected");
    let still = within(
        5,
        "samod's document actor",
        handle.with_document_async(|d| d.get_heads()),
    )
    .await
    .expect("samod's document actor still running");
    assert!(!still.is_empty());
    let (conns, _) = repo.connected_peers();
    assert_eq!(conns.len(), 1, "samod has one connection: {conns:?}");

    // Live: the coordinator comments on another run; samod's copy receives it.
    let coordinator = Author {
        member_id: coord.member_id.clone(),
        device_id: "c1".into(),
        role: Role::Coordinator,
    };
    let comment = c
        .change(board, |d| {
            run::add_comment(
                d,
                &coordinator,
                1_900_000_000_000,
                &sides,
                "walkies are on the truck",
            )
        })
        .expect("a valid comment");
    let live_started = Instant::now();
    within(10, "samod receiving the coordinator's comment", async {
        loop {
            let seen = handle.with_document(|d| {
                run::read_run(d, &sides)
                    .map(|r| r.record.comments.iter().any(|x| x.id == comment))
                    .unwrap_or(false)
            });
            if seen {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    eprintln!(
        "samod saw the coordinator's comment after {:?}",
        live_started.elapsed()
    );
    // A moment for any sync round the new change starts (and any resend it provokes).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let end = relayed(&relay).await;
    let samod_end = counts.snapshot();
    eprintln!(
        "after the live change: refusals {} (since the delete: {}), connections {}, \
         samod sync messages generated {} / received {}, samod ephemera {}",
        end.refusals,
        end.refusals - before.refusals,
        end.connections,
        samod_end[0] - samod_after[0],
        samod_end[1] - samod_after[1],
        ephemera.lock().unwrap().len(),
    );
    assert!(
        end.refusals - before.refusals <= 3,
        "{} refusals in all",
        end.refusals - before.refusals
    );
    assert!(
        end.connections - before_dial.connections <= 2,
        "samod reconnected after the live change"
    );
    assert!(dialer.is_connected());
    assert_eq!(
        dials.load(Ordering::SeqCst),
        dials_at_refusal,
        "samod dialed again"
    );

    // Nothing of the delete at the relay: a fresh coordinator reader still has the event.
    let fresh = connected(&relay, &coord.token, "fresh-reader").await;
    synced(&fresh, board).await;
    let mut want = c.heads(board);
    want.sort();
    fresh.wait_heads(board, &want, 10).await;
    let keys: HashSet<String> = fresh
        .read(board, |d| event_keys(d, &coffee))
        .unwrap()
        .into_iter()
        .collect();
    assert!(
        keys.contains(&deleted),
        "the relay still has event {deleted}: {keys:?}"
    );

    dialer.close();
    repo.stop().await;
    eprintln!("test took {:?}", started.elapsed());
}

/// samod with a revoked token: the relay accepts the upgrade, sends an `error` saying why
/// and closes 4401; samod does not crash and redials only at its own backoff's pace.
/// (samod 0.16 reports the close as "expected a peer message" rather than the `error`'s
/// text; the reason is in the error message and the close frame.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samod_with_a_revoked_token_does_not_crash_or_hammer() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), &[]);
    let coord = redeem(relay.addr, relay.code("coordinator"), "Casey", "c1").await;
    let pa = redeem(relay.addr, relay.code("pa"), "Pat", "p1").await;
    let (st, _) = setlink_tests::http::request(
        relay.addr,
        "POST",
        &format!("/api/members/{}/revoke", pa.member_id),
        Some(&coord.token),
        None,
    )
    .await;
    assert_eq!(st, 200);
    let unauthenticated =
        |m: &str| metric(m, r#"setlink_refusals_total{reason="unauthenticated"}"#);
    let before = unauthenticated(&metrics(relay.addr).await);

    let repo = samod::Repo::build_tokio().load().await;
    let url = samod::Url::parse(&format!("ws://{}/sync?token={}", relay.addr, pa.token)).unwrap();
    let dials = Arc::new(AtomicUsize::new(0));
    let dial_failures: Arc<Mutex<Vec<String>>> = Arc::default();
    let dialer = repo
        .dial(
            BackoffConfig::default(),
            Arc::new(CountingDialer {
                inner: TungsteniteDialer::new(url.clone()),
                url,
                attempts: dials.clone(),
                failures: dial_failures.clone(),
            }),
        )
        .expect("samod dials");
    let events: Arc<Mutex<Vec<String>>> = Arc::default();
    tokio::spawn({
        let dialer = dialer.clone();
        let log = events.clone();
        async move {
            let mut stream = dialer.events();
            while let Some(e) = stream.next().await {
                log.lock().unwrap().push(format!("{e:?}"));
            }
        }
    });
    tokio::time::sleep(Duration::from_secs(8)).await;

    let refused = unauthenticated(&metrics(relay.addr).await) - before;
    let attempts = dials.load(Ordering::SeqCst);
    eprintln!(
        "samod, revoked token: {attempts} dials, {refused} refused by the relay in 8 s; events {:?}",
        events.lock().unwrap()
    );
    assert!(refused >= 1, "samod never reached the relay");
    assert!(
        refused <= 12,
        "samod redialed {refused} times in 8 s: a loop, not a backoff"
    );
    // The relay still serves everyone else.
    let c = connected(&relay, &coord.token, "still-served").await;
    assert!(c.is_connected());
    repo.stop().await;
}
