//! One contract, two backends: every test here runs against SQLite and against a real
//! PostgreSQL server (a throw-away cluster, `postgres/test_cluster.rs`, one database per
//! test). PostgreSQL-only behaviour (several stores on one database, LISTEN, restarts)
//! is at the end.

use std::sync::Arc;
use std::time::Duration;

use automerge::ChangeHash;
use setlink_core::{DocKind, DocumentId, Role};

use super::postgres::test_cluster::TestCluster;
use super::*;

/// Where a store lives, so a test can open it again.
enum Place {
    Sqlite(tempfile::TempDir),
    Postgres(String),
}

impl Place {
    fn sqlite() -> Place {
        Place::Sqlite(tempfile::tempdir().unwrap())
    }

    fn postgres() -> Place {
        Place::Postgres(TestCluster::shared().fresh_database())
    }

    async fn open(&self) -> Arc<dyn Storage> {
        match self {
            Place::Sqlite(dir) => Arc::new(SqliteStorage::open(dir.path()).unwrap()),
            Place::Postgres(url) => Arc::new(
                PostgresStorage::connect(url, PostgresOptions::default())
                    .await
                    .unwrap(),
            ),
        }
    }
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Place::sqlite()).await
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Place::postgres()).await
            })*
        }
    };
}

contract!(
    chunks_append_load_and_compact_leaves_other_chunks_alone,
    sync_states_and_synced_documents,
    registry_never_moves_a_document_between_productions,
    invites_redeem_within_their_limits,
    revocations_come_in_order,
    sessions_signin_keys_and_crew_links_end_with_their_member,
    relay_storage_id_is_stable_across_reopen,
    the_mail_outbox_holds_each_email_once_and_leases_it_to_one_sender,
    attachments_upload_in_order_once_per_production_and_expire,
);

fn now() -> i64 {
    1_700_000_000_000
}

async fn with_production(s: &dyn Storage, id: &str) -> Production {
    let p = Production {
        id: id.into(),
        title: "Night Shift".into(),
        production_doc: DocumentId::random(),
        created_at_ms: now(),
    };
    s.create_production(p.clone()).await.unwrap();
    p
}

async fn chunks_append_load_and_compact_leaves_other_chunks_alone(place: Place) {
    let s = place.open().await;
    let d = DocumentId::random();
    let a = s.append_chunk(d, vec![1, 2, 3], vec![]).await.unwrap();
    let b = s.append_chunk(d, vec![4], vec![]).await.unwrap();
    let c = s.append_chunk(d, vec![5], vec![]).await.unwrap();
    assert!(a < b && b < c, "{a} {b} {c}");
    // A compaction that only knew chunks a and b leaves c, and an append racing it, alone.
    let (snap, e) = tokio::join!(
        s.compact(d, vec![9, 9], vec![a, b]),
        s.append_chunk(d, vec![6], vec![])
    );
    let (snap, e) = (snap.unwrap(), e.unwrap());
    assert!(snap > c && e > c);
    let chunks = s.load_chunks(d).await.unwrap();
    let mut got: Vec<(i64, bool, Vec<u8>)> = chunks
        .iter()
        .map(|c| (c.seq, c.snapshot, c.data.clone()))
        .collect();
    assert!(got.windows(2).all(|w| w[0].0 < w[1].0), "ordered by seq");
    got.sort_by_key(|g| g.0);
    let mut want = vec![
        (c, false, vec![5]),
        (snap, true, vec![9, 9]),
        (e, false, vec![6]),
    ];
    want.sort_by_key(|w| w.0);
    assert_eq!(got, want);
    assert_eq!(s.stats().doc_bytes_written, 3 + 1 + 1 + 2 + 1);
    assert!(s
        .load_chunks(DocumentId::random())
        .await
        .unwrap()
        .is_empty());
    s.flush().await.unwrap();
    s.health().await.unwrap();
}

fn state_with_shared(heads: &[ChangeHash]) -> Vec<u8> {
    let mut st = automerge::sync::State::new();
    st.shared_heads = heads.to_vec();
    st.encode()
}

async fn sync_states_and_synced_documents(place: Place) {
    let s = place.open().await;
    let (d1, d2, d3) = (
        DocumentId::random(),
        DocumentId::random(),
        DocumentId::random(),
    );
    let h1 = vec![ChangeHash([1; 32])];
    let h2 = vec![ChangeHash([2; 32]), ChangeHash([3; 32])];
    s.append_chunk(d1, vec![1], h1.clone()).await.unwrap();
    s.append_chunk(d2, vec![2], h2.clone()).await.unwrap();
    // d1: the peer has what is stored; d2: the peer is behind; d3: nothing stored.
    s.ensure_sync_state(d1, "peer".into(), state_with_shared(&h1))
        .await
        .unwrap();
    s.save_sync_states(vec![
        (d2, "peer".into(), state_with_shared(&h1)),
        (d3, "peer".into(), state_with_shared(&h1)),
        (d1, "other".into(), state_with_shared(&[])),
    ])
    .await
    .unwrap();
    let mut synced = s.synced_documents("peer".into()).await.unwrap();
    synced.sort_by_key(|(d, _)| d.to_string());
    let mut want = vec![(d1, false), (d2, true)];
    want.sort_by_key(|(d, _)| d.to_string());
    assert_eq!(synced, want);
    // Heads stored in another order compare equal.
    s.append_chunk(d2, vec![3], vec![h2[1], h2[0]])
        .await
        .unwrap();
    s.save_sync_states(vec![(d2, "peer".into(), state_with_shared(&h2))])
        .await
        .unwrap();
    assert!(s
        .synced_documents("peer".into())
        .await
        .unwrap()
        .iter()
        .all(|(_, push)| !push));
    // ensure never replaces; save does.
    s.ensure_sync_state(d1, "peer".into(), vec![7])
        .await
        .unwrap();
    assert_eq!(
        s.load_sync_state(d1, "peer".into()).await.unwrap(),
        Some(state_with_shared(&h1))
    );
    s.save_sync_states(vec![
        (d1, "peer".into(), vec![8]),
        (d1, "peer".into(), vec![9]),
    ])
    .await
    .unwrap();
    assert_eq!(
        s.load_sync_state(d1, "peer".into()).await.unwrap(),
        Some(vec![9])
    );
    assert_eq!(s.load_sync_state(d3, "nobody".into()).await.unwrap(), None);
    assert!(s.stats().sync_state_bytes_written > 0);
}

async fn registry_never_moves_a_document_between_productions(place: Place) {
    let s = place.open().await;
    with_production(&*s, "p1").await;
    with_production(&*s, "p2").await;
    let d = DocumentId::random();
    let board = DocKind::Board {
        day: "2026-11-24".into(),
    };
    let out = s
        .register_documents("p1".into(), vec![(d, board.clone())])
        .await
        .unwrap();
    assert_eq!(out.changed, vec![(d, board.clone())]);
    let again = s
        .register_documents("p1".into(), vec![(d, board.clone())])
        .await
        .unwrap();
    assert_eq!(again, RegisterOutcome::default());
    let other = s
        .register_documents("p2".into(), vec![(d, DocKind::Shared)])
        .await
        .unwrap();
    assert_eq!(other.refused, vec![d]);
    assert!(other.changed.is_empty());
    let info = s.document_info(d).await.unwrap().unwrap();
    assert_eq!(info.production_id, "p1");
    assert_eq!(info.kind, board);
    // Its own production may change its kind.
    let changed = s
        .register_documents("p1".into(), vec![(d, DocKind::Shared)])
        .await
        .unwrap();
    assert_eq!(changed.changed, vec![(d, DocKind::Shared)]);
    assert!(s
        .document_info(DocumentId::random())
        .await
        .unwrap()
        .is_none());
}

fn invite(code: &str, production: &str, member: Option<&str>, max_uses: Option<i64>) -> Invite {
    Invite {
        code_hash: code.into(),
        production_id: production.into(),
        role: Role::Pa,
        member_id: member.map(String::from),
        created_by: None,
        created_at_ms: now(),
        expires_at_ms: now() + 1000,
        max_uses,
        uses: 0,
    }
}

fn redemption(code: &str, token: &str, at: i64) -> Redemption {
    Redemption {
        code_hash: code.into(),
        now_ms: at,
        new_member_id: format!("m-{token}"),
        name: "Pat".into(),
        token_hash: token.into(),
        device_id: "dev".into(),
        token_expires_at_ms: at + 10_000,
    }
}

async fn invites_redeem_within_their_limits(place: Place) {
    let s = place.open().await;
    let p = with_production(&*s, "p1").await;
    s.create_invite(invite("h1", &p.id, None, Some(1)))
        .await
        .unwrap();
    assert_eq!(
        s.invite("h1".into()).await.unwrap(),
        Some(invite("h1", &p.id, None, Some(1)))
    );
    // Two redemptions at once of a one-use code: exactly one wins.
    let (r1, r2) = tokio::join!(
        s.redeem_invite(redemption("h1", "t1", now())),
        s.redeem_invite(redemption("h1", "t2", now()))
    );
    let (r1, r2) = (r1.unwrap(), r2.unwrap());
    assert_eq!(
        [&r1, &r2].iter().filter(|r| r.is_ok()).count(),
        1,
        "{r1:?} {r2:?}"
    );
    // (the redemption that won, its token, the refusal, the refused one's token)
    let (ok, won_token, refusal, refused_token) = match (r1, r2) {
        (Ok(ok), Err(e)) => (ok, "t1", e, "t2"),
        (Err(e), Ok(ok)) => (ok, "t2", e, "t1"),
        other => panic!("{other:?}"),
    };
    assert_eq!(refusal, RedeemRefusal::UsedUp);
    assert!(ok.created_member);
    assert_eq!(ok.member.role, Role::Pa);
    assert_eq!(s.invite("h1".into()).await.unwrap().unwrap().uses, 1);
    assert!(s.token(refused_token.into()).await.unwrap().is_none());
    let t = s.token(won_token.into()).await.unwrap().unwrap();
    assert_eq!(t.member_id, ok.member.id);
    assert_eq!(
        s.redeem_invite(redemption("nope", "t3", now()))
            .await
            .unwrap()
            .unwrap_err(),
        RedeemRefusal::Unknown
    );
    // Expired.
    s.create_invite(invite("h2", &p.id, None, None))
        .await
        .unwrap();
    assert_eq!(
        s.redeem_invite(redemption("h2", "t4", now() + 1000))
            .await
            .unwrap()
            .unwrap_err(),
        RedeemRefusal::Expired
    );
    // Bound to a member: adds a device; refused once the member is revoked.
    s.create_invite(invite("h3", &p.id, Some(&ok.member.id), None))
        .await
        .unwrap();
    let again = s
        .redeem_invite(redemption("h3", "t5", now()))
        .await
        .unwrap()
        .unwrap();
    assert!(!again.created_member);
    assert_eq!(again.member.id, ok.member.id);
    assert!(s.revoke_member(ok.member.id.clone(), now()).await.unwrap());
    assert_eq!(
        s.redeem_invite(redemption("h3", "t6", now()))
            .await
            .unwrap()
            .unwrap_err(),
        RedeemRefusal::MemberRevoked
    );
    let t5 = s.token("t5".into()).await.unwrap().unwrap();
    assert_eq!(t5.revoked_at_ms, Some(now()));
    // A token issued directly.
    let rec = TokenRecord {
        token_hash: "t7".into(),
        member_id: again.member.id.clone(),
        device_id: "cli".into(),
        created_at_ms: now(),
        expires_at_ms: now() + 5,
        revoked_at_ms: None,
    };
    s.create_token(rec.clone()).await.unwrap();
    assert_eq!(s.token("t7".into()).await.unwrap(), Some(rec));
}

async fn revocations_come_in_order(place: Place) {
    let s = place.open().await;
    let p = with_production(&*s, "p1").await;
    for i in 0..3 {
        s.create_member(Member {
            id: format!("m{i}"),
            production_id: p.id.clone(),
            name: format!("M{i}"),
            role: Role::Crew,
            created_at_ms: now() + i,
            revoked_at_ms: None,
        })
        .await
        .unwrap();
    }
    assert_eq!(s.members(p.id.clone()).await.unwrap().len(), 3);
    assert!(s.revocations_since(0).await.unwrap().is_empty());
    assert!(s.revoke_member("m1".into(), now()).await.unwrap());
    let (a, b) = tokio::join!(
        s.revoke_member("m0".into(), now()),
        s.revoke_member("m2".into(), now())
    );
    assert!(a.unwrap() && b.unwrap());
    assert!(!s.revoke_member("ghost".into(), now()).await.unwrap());
    let revs = s.revocations_since(0).await.unwrap();
    assert_eq!(revs.len(), 3);
    assert!(revs.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(revs[0].member_id.as_deref(), Some("m1"));
    let later = s.revocations_since(revs[0].seq).await.unwrap();
    assert_eq!(later, revs[1..].to_vec());
    assert!(s.revocations_since(revs[2].seq).await.unwrap().is_empty());
    let m1 = s.member("m1".into()).await.unwrap().unwrap();
    assert_eq!(m1.revoked_at_ms, Some(now()));
    assert_eq!(s.productions().await.unwrap(), vec![p.clone()]);
    assert_eq!(s.production(p.id.clone()).await.unwrap(), Some(p));
    assert!(s.production("none".into()).await.unwrap().is_none());
}

async fn sessions_signin_keys_and_crew_links_end_with_their_member(place: Place) {
    let s = place.open().await;
    let p = with_production(&*s, "p1").await;
    let m = Member {
        id: "m1".into(),
        production_id: p.id.clone(),
        name: "Casey".into(),
        role: Role::Coordinator,
        created_at_ms: now(),
        revoked_at_ms: None,
    };
    s.create_member(m.clone()).await.unwrap();
    assert_eq!(s.member(m.id.clone()).await.unwrap(), Some(m.clone()));
    let session = |hash: &str, expires: i64| DashSession {
        secret_hash: hash.into(),
        member_id: m.id.clone(),
        device_id: "dashboard-x".into(),
        token_hash: None,
        csrf: "c".into(),
        created_at_ms: now(),
        expires_at_ms: expires,
    };
    s.create_session(session("old", now() - 1)).await.unwrap();
    s.create_session(session("s1", now() + 1000)).await.unwrap();
    assert!(s.session("old".into()).await.unwrap().is_none());
    assert_eq!(
        s.session("s1".into()).await.unwrap(),
        Some(session("s1", now() + 1000))
    );
    s.delete_session("s1".into()).await.unwrap();
    assert!(s.session("s1".into()).await.unwrap().is_none());
    s.set_signin_key(m.id.clone(), "k1".into(), now())
        .await
        .unwrap();
    s.set_signin_key(m.id.clone(), "k2".into(), now() + 1)
        .await
        .unwrap();
    assert!(s.signin_key_member("k1".into()).await.unwrap().is_none());
    assert_eq!(
        s.signin_key_member("k2".into()).await.unwrap().as_deref(),
        Some("m1")
    );
    assert_eq!(
        s.signin_key_created(m.id.clone()).await.unwrap(),
        Some(now() + 1)
    );
    s.set_crew_link(m.id.clone(), "link1".into(), now())
        .await
        .unwrap();
    s.set_crew_link(m.id.clone(), "link2".into(), now() + 2)
        .await
        .unwrap();
    assert!(s.crew_link_member("link1".into()).await.unwrap().is_none());
    assert_eq!(
        s.crew_link_member("link2".into()).await.unwrap().as_deref(),
        Some("m1")
    );
    assert_eq!(
        s.crew_link(m.id.clone()).await.unwrap(),
        Some(CrewLink {
            link_key: "link2".into(),
            created_at_ms: now() + 2
        })
    );
    assert!(s.revoke_member(m.id.clone(), now()).await.unwrap());
    assert!(s.crew_link_member("link2".into()).await.unwrap().is_none());
    assert!(s.crew_link(m.id.clone()).await.unwrap().is_none());
    assert!(s.signin_key_member("k2".into()).await.unwrap().is_none());
    assert!(s.signin_key_created(m.id.clone()).await.unwrap().is_none());
}

async fn relay_storage_id_is_stable_across_reopen(place: Place) {
    let first = {
        let s = place.open().await;
        let id = s.relay_storage_id().await.unwrap();
        assert_eq!(s.relay_storage_id().await.unwrap(), id);
        id
    };
    let s = place.open().await;
    assert_eq!(s.relay_storage_id().await.unwrap(), first);
}

// --- PostgreSQL only: several stores on one database --------------------------------

#[tokio::test]
async fn sign_in_attempts_are_counted_across_relays_on_postgres_only() {
    let keys = || vec!["code:abc".to_owned(), "ip:10.0.0.1".to_owned()];
    let sqlite = Place::sqlite().open().await;
    assert_eq!(
        sqlite.count_sign_in_attempts(keys(), 0).await.unwrap(),
        None
    );
    // Two relays on one database count into the same windows.
    let place = Place::postgres();
    let (a, b) = (place.open().await, place.open().await);
    let minute = 60_000 * 28_000_000;
    assert_eq!(
        a.count_sign_in_attempts(keys(), minute).await.unwrap(),
        Some(vec![1, 1])
    );
    assert_eq!(
        b.count_sign_in_attempts(keys(), minute).await.unwrap(),
        Some(vec![2, 2])
    );
    let other = vec!["code:abc".to_owned(), "ip:10.0.0.2".to_owned()];
    assert_eq!(
        a.count_sign_in_attempts(other, minute).await.unwrap(),
        Some(vec![3, 1])
    );
    // A new window starts from one.
    assert_eq!(
        b.count_sign_in_attempts(keys(), minute + 60_000)
            .await
            .unwrap(),
        Some(vec![1, 1])
    );
}

#[tokio::test]
async fn sqlite_has_no_events() {
    let s = Place::sqlite().open().await;
    assert!(s.events().is_none());
}

#[tokio::test]
async fn postgres_three_stores_opening_at_once_migrate_once_and_share_one_storage_id() {
    let url = TestCluster::shared().fresh_database();
    let o = PostgresOptions::default;
    let (a, b, c) = tokio::join!(
        PostgresStorage::connect(&url, o()),
        PostgresStorage::connect(&url, o()),
        PostgresStorage::connect(&url, o())
    );
    let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let rows = client
        .query(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap();
    let versions: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    let known = super::postgres::MIGRATION_COUNT as i64;
    assert_eq!(
        versions,
        (1..=known).collect::<Vec<i64>>(),
        "each migration once"
    );
    let (ia, ib, ic) = tokio::join!(
        a.relay_storage_id(),
        b.relay_storage_id(),
        c.relay_storage_id()
    );
    let ia = ia.unwrap();
    assert_eq!(ia, ib.unwrap());
    assert_eq!(ia, ic.unwrap());
    // And a fourth, later, runs nothing.
    let d = PostgresStorage::connect(&url, o()).await.unwrap();
    assert_eq!(d.relay_storage_id().await.unwrap(), ia);
}

async fn next_event(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<StoreEvent>,
    within: Duration,
) -> Option<StoreEvent> {
    tokio::time::timeout(within, rx.recv()).await.ok().flatten()
}

#[tokio::test]
async fn postgres_events_carry_other_stores_appends_not_our_own() {
    let url = TestCluster::shared().fresh_database();
    let a = PostgresStorage::connect(&url, PostgresOptions::default())
        .await
        .unwrap();
    let b = PostgresStorage::connect(&url, PostgresOptions::default())
        .await
        .unwrap();
    let d = DocumentId::random();
    // Nobody has asked B for events yet: nothing is kept for later.
    a.append_chunk(d, vec![0], vec![]).await.unwrap();
    // (Its notification reaches B's listener a moment after the commit.)
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut a_rx = a.events().unwrap();
    let mut b_rx = b.events().unwrap();
    assert!(a.events().is_none(), "callable once");
    assert_eq!(
        next_event(&mut b_rx, Duration::from_millis(300)).await,
        None
    );
    let admin = PostgresStorage::connect(
        &url,
        PostgresOptions {
            listen: false,
            ..PostgresOptions::default()
        },
    )
    .await
    .unwrap();
    assert!(admin.events().is_none());
    let heads = vec![ChangeHash([4; 32]), ChangeHash([5; 32])];
    a.append_chunk(d, vec![1, 2], heads.clone()).await.unwrap();
    assert_eq!(
        next_event(&mut b_rx, Duration::from_secs(10)).await,
        Some(StoreEvent::Appended { doc: d, heads })
    );
    assert_eq!(
        next_event(&mut a_rx, Duration::from_millis(500)).await,
        None
    );
    // B's append reaches A.
    b.append_chunk(d, vec![3], vec![]).await.unwrap();
    assert_eq!(
        next_event(&mut a_rx, Duration::from_secs(10)).await,
        Some(StoreEvent::Appended {
            doc: d,
            heads: vec![]
        })
    );
    assert_eq!(
        next_event(&mut b_rx, Duration::from_millis(300)).await,
        None
    );
}

#[tokio::test]
async fn postgres_restart_brings_a_resync_and_the_store_works_again() {
    let cluster = Arc::new(TestCluster::start().unwrap());
    let url = cluster.fresh_database();
    let options = PostgresOptions {
        call_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        ..PostgresOptions::default()
    };
    let a = PostgresStorage::connect(&url, options.clone())
        .await
        .unwrap();
    let b = PostgresStorage::connect(&url, options).await.unwrap();
    let mut b_rx = b.events().unwrap();
    let d = DocumentId::random();
    a.append_chunk(d, vec![1], vec![]).await.unwrap();
    assert!(matches!(
        next_event(&mut b_rx, Duration::from_secs(10)).await,
        Some(StoreEvent::Appended { .. })
    ));
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.restart().unwrap())
        .await
        .unwrap();
    assert_eq!(
        next_event(&mut b_rx, Duration::from_secs(30)).await,
        Some(StoreEvent::Resync)
    );
    // The pool drops the dead connections and hands out fresh ones: at most the first
    // call after the restart fails, with an error, not a panic or a hang.
    let mut appended = None;
    for _ in 0..20 {
        match a.append_chunk(d, vec![2], vec![ChangeHash([6; 32])]).await {
            Ok(seq) => {
                appended = Some(seq);
                break;
            }
            Err(e) => {
                assert!(matches!(e, StorageError::Fault(_)), "{e}");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
    assert!(appended.is_some(), "the store never worked again");
    assert_eq!(
        next_event(&mut b_rx, Duration::from_secs(10)).await,
        Some(StoreEvent::Appended {
            doc: d,
            heads: vec![ChangeHash([6; 32])]
        })
    );
    a.health().await.unwrap();
    b.health().await.unwrap();
    assert_eq!(b.load_chunks(d).await.unwrap().len(), 2);

    // With the server down, calls fail (Fault naming PostgreSQL) within their timeout.
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.stop().unwrap())
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let err = a.load_chunks(d).await.unwrap_err();
    assert!(matches!(err, StorageError::Fault(_)), "{err}");
    assert!(err.to_string().contains("PostgreSQL"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(b.health().await.is_err());
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.start_again().unwrap())
        .await
        .unwrap();
    assert_eq!(
        next_event(&mut b_rx, Duration::from_secs(30)).await,
        Some(StoreEvent::Resync)
    );
    b.health().await.unwrap();
    assert_eq!(b.load_chunks(d).await.unwrap().len(), 2);
}

#[tokio::test]
async fn postgres_unreachable_server_is_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/none");
    let err = match PostgresStorage::connect(&url, PostgresOptions::default()).await {
        Err(e) => e,
        Ok(_) => panic!("connected to nothing"),
    };
    assert!(matches!(err, StorageError::Fault(_)), "{err}");
    assert!(err.to_string().contains("PostgreSQL"), "{err}");
    let err = match PostgresStorage::connect("postgres://[bad", PostgresOptions::default()).await {
        Err(e) => e,
        Ok(_) => panic!("parsed a bad URL"),
    };
    assert!(err.to_string().contains("URL"), "{err}");
}

async fn the_mail_outbox_holds_each_email_once_and_leases_it_to_one_sender(place: Place) {
    let s = place.open().await;
    let p = with_production(&*s, "p1").await;
    for id in ["m1", "m2"] {
        s.create_member(Member {
            id: id.into(),
            production_id: p.id.clone(),
            name: id.into(),
            role: Role::Crew,
            created_at_ms: now(),
            revoked_at_ms: None,
        })
        .await
        .unwrap();
    }
    let mail = |member: &str, kind: MailKind, due: i64| NewMail {
        production_id: p.id.clone(),
        member_id: member.into(),
        kind,
        day: "2030-06-14".into(),
        revision: 2,
        to_addr: format!("{member}@example.com"),
        subject: "Call sheet".into(),
        body: "Your call: 07:00".into(),
        due_at_ms: due,
    };
    let first = vec![
        mail("m1", MailKind::Published, now()),
        mail("m2", MailKind::Published, now()),
        mail("m1", MailKind::Reminder, now() + 60_000),
    ];
    assert_eq!(s.queue_mail(first.clone(), now()).await.unwrap(), 3);
    // Queued again (a retried publish, another relay): nothing new.
    assert_eq!(s.queue_mail(first, now()).await.unwrap(), 0);

    // Oldest first; each leased to one sender; the reminder not before its time.
    let a = s.claim_mail(now(), 30_000).await.unwrap().unwrap();
    let b = s.claim_mail(now(), 30_000).await.unwrap().unwrap();
    assert_eq!(
        (a.mail.member_id.as_str(), b.mail.member_id.as_str()),
        ("m1", "m2")
    );
    assert_eq!((a.attempts, a.mail.kind), (1, MailKind::Published));
    assert!(s.claim_mail(now() + 1_000, 30_000).await.unwrap().is_none());
    s.finish_mail(a.id, MailOutcome::Sent, now() + 1)
        .await
        .unwrap();
    s.finish_mail(
        b.id,
        MailOutcome::Retry {
            error: "connection refused".into(),
            at_ms: now() + 5_000,
        },
        now() + 1,
    )
    .await
    .unwrap();
    assert!(s.claim_mail(now() + 4_999, 30_000).await.unwrap().is_none());
    let again = s.claim_mail(now() + 5_000, 30_000).await.unwrap().unwrap();
    assert_eq!((again.id, again.attempts), (b.id, 2));
    // A sender that died holding it: taken again once the lease is over.
    let after_lease = s.claim_mail(now() + 35_001, 30_000).await.unwrap().unwrap();
    assert_eq!(after_lease.id, b.id);
    s.finish_mail(
        b.id,
        MailOutcome::Bounced {
            error: "550 no such user".into(),
        },
        now() + 36_000,
    )
    .await
    .unwrap();
    let reminder = s.claim_mail(now() + 60_000, 30_000).await.unwrap().unwrap();
    assert_eq!(reminder.mail.kind, MailKind::Reminder);
    s.finish_mail(
        reminder.id,
        MailOutcome::Skipped {
            why: "confirmed".into(),
        },
        now() + 60_000,
    )
    .await
    .unwrap();
    assert!(s
        .claim_mail(now() + 999_999, 30_000)
        .await
        .unwrap()
        .is_none());

    let st = s
        .mail_statuses(p.id.clone(), "2030-06-14".into())
        .await
        .unwrap();
    let states: Vec<(&str, MailKind, &str, i64)> = st
        .iter()
        .map(|m| (m.member_id.as_str(), m.kind, m.state.as_str(), m.attempts))
        .collect();
    assert_eq!(
        states,
        vec![
            ("m1", MailKind::Published, "sent", 1),
            ("m2", MailKind::Published, "bounced", 3),
            ("m1", MailKind::Reminder, "skipped", 1),
        ]
    );
    assert_eq!(st[1].error.as_deref(), Some("550 no such user"));
    assert!(s
        .mail_statuses(p.id.clone(), "2030-06-15".into())
        .await
        .unwrap()
        .is_empty());
}

async fn attachments_upload_in_order_once_per_production_and_expire(place: Place) {
    let s = place.open().await;
    let p1 = with_production(&*s, "p1").await;
    let p2 = with_production(&*s, "p2").await;
    let (h, doc) = ("ab".repeat(32), DocumentId::random());
    let part = |offset: u64, bytes: &[u8], at: i64| NewPart {
        production_id: p1.id.clone(),
        hash: h.clone(),
        offset,
        size: 10,
        mime: "image/jpeg".into(),
        bytes: bytes.to_vec(),
        now_ms: at,
    };
    let state = || s.upload_state(p1.id.clone(), h.clone());
    assert_eq!(state().await.unwrap(), UploadState::default());
    assert_eq!(
        s.append_part(part(0, b"0123", now())).await.unwrap(),
        PartOutcome::Stored { received: 4 }
    );
    // A resent part, or one skipping ahead, stores nothing and says where the upload is.
    for offset in [0, 6] {
        assert_eq!(
            s.append_part(part(offset, b"45", now())).await.unwrap(),
            PartOutcome::WrongOffset { received: 4 }
        );
    }
    let mut other = part(4, b"45", now());
    other.mime = "image/png".into();
    assert_eq!(
        s.append_part(other).await.unwrap(),
        PartOutcome::Inconsistent {
            size: 10,
            mime: "image/jpeg".into()
        }
    );
    s.append_part(part(4, b"456789", now())).await.unwrap();
    let st = state().await.unwrap();
    assert_eq!((st.received, st.size, st.complete), (10, Some(10), false));
    assert_eq!(st.mime.as_deref(), Some("image/jpeg"));
    assert_eq!(
        s.upload_bytes(p1.id.clone(), h.clone()).await.unwrap(),
        b"0123456789"
    );
    assert_eq!(s.attachment(p1.id.clone(), h.clone()).await.unwrap(), None);

    s.finish_upload(
        p1.id.clone(),
        h.clone(),
        "image/jpeg".into(),
        b"0123456789".to_vec(),
        Some(b"thumb".to_vec()),
        now(),
    )
    .await
    .unwrap();
    s.add_attachment_ref(p1.id.clone(), h.clone(), doc)
        .await
        .unwrap();
    s.add_attachment_ref(p1.id.clone(), h.clone(), doc)
        .await
        .unwrap();
    assert_eq!(
        state().await.unwrap(),
        UploadState {
            received: 10,
            size: Some(10),
            mime: None,
            complete: true
        }
    );
    assert_eq!(
        s.append_part(part(0, b"0123", now())).await.unwrap(),
        PartOutcome::Complete { size: 10 }
    );
    let meta = s
        .attachment(p1.id.clone(), h.clone())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (meta.mime.as_str(), meta.size, meta.has_thumb),
        ("image/jpeg", 10, true)
    );
    let range = |a, n| s.attachment_range(p1.id.clone(), h.clone(), a, n);
    assert_eq!(range(2, 3).await.unwrap().unwrap(), b"234");
    assert_eq!(range(8, 100).await.unwrap().unwrap(), b"89");
    assert_eq!(
        s.attachment_thumb(p1.id.clone(), h.clone())
            .await
            .unwrap()
            .unwrap(),
        b"thumb"
    );
    assert_eq!(
        s.attachment_refs(p1.id.clone(), h.clone()).await.unwrap(),
        vec![doc]
    );
    // Another production holds nothing under the same hash.
    assert_eq!(s.attachment(p2.id.clone(), h.clone()).await.unwrap(), None);
    assert!(
        !s.upload_state(p2.id.clone(), h.clone())
            .await
            .unwrap()
            .complete
    );

    // An unfinished upload expires once its newest part is older than the cut-off.
    let h2 = "cd".repeat(32);
    let mut late = part(0, b"01", now());
    late.hash = h2.clone();
    s.append_part(late).await.unwrap();
    assert_eq!(s.expire_uploads(now()).await.unwrap(), 0);
    assert_eq!(s.expire_uploads(now() + 1).await.unwrap(), 1);
    assert_eq!(
        s.upload_state(p1.id.clone(), h2.clone())
            .await
            .unwrap()
            .received,
        0
    );
    assert!(
        state().await.unwrap().complete,
        "expiry leaves stored attachments alone"
    );
    // A discarded upload starts again from 0.
    let mut again = part(0, b"01", now());
    again.hash = h2.clone();
    s.append_part(again).await.unwrap();
    s.discard_upload(p1.id.clone(), h2.clone()).await.unwrap();
    assert_eq!(
        s.upload_state(p1.id.clone(), h2.clone())
            .await
            .unwrap()
            .received,
        0
    );

    let old = s.attachments_before(now() + 1).await.unwrap();
    assert_eq!(
        old,
        vec![AttachmentRefs {
            production_id: p1.id.clone(),
            hash: h.clone(),
            docs: vec![doc]
        }]
    );
    assert!(s.attachments_before(now()).await.unwrap().is_empty());
    s.remove_attachment_ref(p1.id.clone(), h.clone(), doc)
        .await
        .unwrap();
    assert!(s.attachments_before(now() + 1).await.unwrap()[0]
        .docs
        .is_empty());
    s.delete_attachment(p1.id.clone(), h.clone()).await.unwrap();
    assert_eq!(s.attachment(p1.id.clone(), h.clone()).await.unwrap(), None);
    assert!(s.attachments_before(now() + 1).await.unwrap().is_empty());
}
