//! SQLite-only behaviour: per-document chunk numbers, group commit, injected faults,
//! migrating old databases. What both backends do is in `storage/contract_tests.rs`.

use super::migrations::{MIGRATIONS, SCHEMA};
use super::*;
use crate::storage::{AccountsStore, DocStore, Production};

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
