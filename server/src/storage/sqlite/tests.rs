//! SQLite-only behaviour: group commit, injected faults, migrating old databases.

use super::migrations::{MIGRATIONS, SCHEMA};
use super::*;
use crate::storage::{
    AccountsStore, DashSession, DocStore, Invite, Production, RedeemRefusal, Redemption,
};
use setlink_core::DocKind;

fn now() -> i64 {
    1_700_000_000_000
}

async fn with_production(s: &SqliteStorage) -> Production {
    let p = Production {
        id: "p1".into(),
        title: "Night Shift".into(),
        production_doc: DocumentId::random(),
        created_at_ms: now(),
    };
    s.create_production(p.clone()).await.unwrap();
    p
}

#[tokio::test]
async fn chunks_append_and_compact_keeps_unknown_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStorage::open(dir.path()).unwrap();
    let d = DocumentId::random();
    let a = s.append_chunk(d, vec![1, 2, 3], vec![]).await.unwrap();
    let b = s.append_chunk(d, vec![4], vec![]).await.unwrap();
    let c = s.append_chunk(d, vec![5], vec![]).await.unwrap();
    assert_eq!((a, b, c), (1, 2, 3));
    // A compaction that only knew chunks a and b leaves c in place.
    s.compact(d, vec![9, 9], vec![a, b]).await.unwrap();
    let chunks = s.load_chunks(d).await.unwrap();
    let got: Vec<(bool, Vec<u8>)> = chunks.into_iter().map(|c| (c.snapshot, c.data)).collect();
    assert_eq!(got, vec![(false, vec![5]), (true, vec![9, 9])]);
    assert_eq!(s.stats().doc_bytes_written, 3 + 1 + 1 + 2);
    assert!(s
        .load_chunks(DocumentId::random())
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn registry_never_moves_a_document_between_productions() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStorage::open(dir.path()).unwrap();
    with_production(&s).await;
    s.create_production(Production {
        id: "p2".into(),
        title: "Other".into(),
        production_doc: DocumentId::random(),
        created_at_ms: now(),
    })
    .await
    .unwrap();
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
    assert!(again.changed.is_empty());
    let other = s
        .register_documents("p2".into(), vec![(d, DocKind::Shared)])
        .await
        .unwrap();
    assert_eq!(other.refused, vec![d]);
    let info = s.document_info(d).await.unwrap().unwrap();
    assert_eq!(info.production_id, "p1");
    assert_eq!(info.kind, board);
}

#[tokio::test]
async fn invites_redeem_once_then_refuse_and_revocation_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStorage::open(dir.path()).unwrap();
    let p = with_production(&s).await;
    s.create_invite(Invite {
        code_hash: "h1".into(),
        production_id: p.id.clone(),
        role: Role::Pa,
        member_id: None,
        created_by: None,
        created_at_ms: now(),
        expires_at_ms: now() + 1000,
        max_uses: Some(1),
        uses: 0,
    })
    .await
    .unwrap();
    let red = |code: &str, t: &str, at: i64| Redemption {
        code_hash: code.into(),
        now_ms: at,
        new_member_id: format!("m-{t}"),
        name: "Pat".into(),
        token_hash: t.into(),
        device_id: "dev".into(),
        token_expires_at_ms: at + 10_000,
    };
    let ok = s
        .redeem_invite(red("h1", "t1", now()))
        .await
        .unwrap()
        .unwrap();
    assert!(ok.created_member);
    assert_eq!(ok.member.role, Role::Pa);
    assert_eq!(
        s.redeem_invite(red("h1", "t2", now()))
            .await
            .unwrap()
            .unwrap_err(),
        RedeemRefusal::UsedUp
    );
    assert_eq!(
        s.redeem_invite(red("nope", "t3", now()))
            .await
            .unwrap()
            .unwrap_err(),
        RedeemRefusal::Unknown
    );
    assert!(s.token("t2".into()).await.unwrap().is_none());
    let t = s.token("t1".into()).await.unwrap().unwrap();
    assert_eq!(t.member_id, ok.member.id);
    assert!(s.revoke_member(ok.member.id.clone(), now()).await.unwrap());
    assert!(!s.revoke_member("ghost".into(), now()).await.unwrap());
    let t = s.token("t1".into()).await.unwrap().unwrap();
    assert!(t.revoked_at_ms.is_some());
    let revs = s.revocations_since(0).await.unwrap();
    assert_eq!(revs.len(), 1);
    assert_eq!(revs[0].member_id.as_deref(), Some(ok.member.id.as_str()));
    assert!(s.revocations_since(revs[0].seq).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_failing_job_does_not_undo_its_batch_neighbours() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStorage::open(dir.path()).unwrap();
    let p = with_production(&s).await;
    // Duplicate production id fails; the append queued alongside it must still commit.
    let d = DocumentId::random();
    let (dup, app) = tokio::join!(
        s.create_production(p.clone()),
        s.append_chunk(d, vec![7], vec![])
    );
    assert!(dup.is_err());
    assert_eq!(app.unwrap(), 1);
    drop(s);
    let s = SqliteStorage::open(dir.path()).unwrap();
    assert_eq!(s.load_chunks(d).await.unwrap().len(), 1);
}

#[tokio::test]
async fn health_reports_a_failing_commit_until_a_write_succeeds_again() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full");
    let s = SqliteStorage::open_with(
        dir.path(),
        SqliteOptions {
            fault_file: Some(full.clone()),
        },
    )
    .unwrap();
    with_production(&s).await;
    s.health().await.unwrap();
    std::fs::write(&full, b"").unwrap();
    let d = DocumentId::random();
    let err = s.append_chunk(d, vec![1], vec![]).await.unwrap_err();
    assert!(matches!(err, StorageError::Fault(_)), "{err}");
    // Reads still work, as on a full disk; health says why writes do not.
    assert!(s.load_chunks(d).await.unwrap().is_empty());
    let why = s.health().await.unwrap_err();
    assert!(why.contains("disk is full"), "{why}");
    std::fs::remove_file(&full).unwrap();
    s.health().await.unwrap();
    assert_eq!(s.append_chunk(d, vec![1], vec![]).await.unwrap(), 1);
}

#[tokio::test]
async fn a_database_from_before_versioning_gains_the_new_tables_and_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap();
    {
        let c = Connection::open(dir.path().join("setlink.db")).unwrap();
        c.execute_batch(SCHEMA).unwrap();
        c.execute(
            "INSERT INTO productions (id, title, production_doc, created_at_ms) VALUES ('p1', 'Old', zeroblob(16), 1)",
            [],
        )
        .unwrap();
    }
    let s = SqliteStorage::open(dir.path()).unwrap();
    assert_eq!(s.productions().await.unwrap().len(), 1);
    let version: i64 = s
        .call(|c| Ok(c.pragma_query_value(None, "user_version", |r| r.get(0))?))
        .await
        .unwrap();
    assert_eq!(version, MIGRATIONS.len() as i64);
    drop(s);
    // Opening again runs nothing twice.
    SqliteStorage::open(dir.path()).unwrap();
}

#[tokio::test]
async fn sessions_and_signin_keys_end_with_their_member() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStorage::open(dir.path()).unwrap();
    let p = with_production(&s).await;
    let m = Member {
        id: "m1".into(),
        production_id: p.id.clone(),
        name: "Casey".into(),
        role: Role::Coordinator,
        created_at_ms: now(),
        revoked_at_ms: None,
    };
    s.create_member(m.clone()).await.unwrap();
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
    // Expired sessions are forgotten when the next one opens.
    assert!(s.session("old".into()).await.unwrap().is_none());
    assert_eq!(
        s.session("s1".into()).await.unwrap(),
        Some(session("s1", now() + 1000))
    );
    s.set_signin_key(m.id.clone(), "k1".into(), now())
        .await
        .unwrap();
    s.set_signin_key(m.id.clone(), "k2".into(), now())
        .await
        .unwrap();
    assert!(s.signin_key_member("k1".into()).await.unwrap().is_none());
    assert_eq!(
        s.signin_key_member("k2".into()).await.unwrap().as_deref(),
        Some("m1")
    );
    assert!(s.revoke_member(m.id.clone(), now()).await.unwrap());
    // The session row stays (the dashboard refuses it for the revoked member and
    // says so); the key is gone.
    assert!(s
        .member(m.id.clone())
        .await
        .unwrap()
        .unwrap()
        .revoked_at_ms
        .is_some());
    assert!(s.signin_key_member("k2".into()).await.unwrap().is_none());
    assert!(s.signin_key_created(m.id.clone()).await.unwrap().is_none());
}
