//! Push on connect (setlink extension): a device that stays quiet about documents it has
//! not changed still receives every change the relay got meanwhile, including after the
//! relay was SIGKILLed before it could save the device's sync states.

use automerge::transaction::Transactable;
use automerge::{Automerge, ReadDoc, ROOT};
use setlink_core::DocumentId;
use setlink_tests::http::redeem;
use setlink_tests::{Peer, PeerDocs, Relay};

const BIN: &str = env!("CARGO_BIN_EXE_setlink-relay");

fn doc_with(key: &str) -> Automerge {
    let mut d = Automerge::new();
    let mut tx = d.transaction();
    tx.put(ROOT, key, 1).unwrap();
    tx.commit();
    d
}

fn put(d: &mut Automerge, key: &str, v: i64) {
    let mut tx = d.transaction();
    tx.put(ROOT, key, v).unwrap();
    tx.commit();
}

async fn run(kill_relay: bool) {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = Relay::start(BIN, dir.path(), &[]);
    let pa = redeem(relay.addr, relay.code("pa"), "Pat", "p").await;
    let coord = redeem(relay.addr, relay.code("coordinator"), "Casey", "c").await;
    let mut docs = PeerDocs::new("quiet");
    docs.quiet = true;
    let p = Peer::connect(&relay.ws_url(), &pa.token, docs)
        .await
        .unwrap();
    let ids: Vec<DocumentId> = (0..20).map(|_| DocumentId::random()).collect();
    for (i, id) in ids.iter().enumerate() {
        p.insert(*id, doc_with(&format!("doc{i}")));
    }
    for id in &ids {
        let h = p.heads(*id);
        let id = *id;
        p.wait(10, "relay to acknowledge every document", move |d, _| {
            d.states
                .get(&id)
                .and_then(|s| s.their_heads.clone())
                .is_some_and(|t| setlink_tests::peer::same_heads(&t, &h))
        })
        .await;
    }
    let mut offline = p.disconnect().await;
    if kill_relay {
        // The relay never got to save this device's sync states on disconnect.
        relay.restart();
    }
    // Meanwhile the coordinator changes 3 of the 20 documents.
    let c = Peer::connect(&relay.ws_url(), &coord.token, PeerDocs::new("coord"))
        .await
        .unwrap();
    for id in &ids[..3] {
        c.open(*id);
        let id = *id;
        c.wait(10, "doc", move |d, _| {
            d.docs.get(&id).is_some_and(|x| !x.get_heads().is_empty())
        })
        .await;
        c.change(id, |d| put(d, "changed", 7));
    }
    let want: Vec<_> = ids[..3].iter().map(|id| c.heads(*id)).collect();
    // The quiet device reconnects and says nothing about its unchanged documents.
    offline.quiet = true;
    let p = Peer::connect(&relay.ws_url(), &pa.token, offline)
        .await
        .unwrap();
    for (id, h) in ids[..3].iter().zip(&want) {
        p.wait_heads(*id, h, 10).await;
        assert_eq!(
            p.read(*id, |d| d
                .get(ROOT, "changed")
                .unwrap()
                .map(|(v, _)| v.as_i64())),
            Some(Some(Some(7)))
        );
    }
    // A document nobody touched while it was away changes now: it still reaches the
    // device, which said nothing about it on connect.
    let later = ids[10];
    c.open(later);
    c.wait(10, "doc", move |d, _| {
        d.docs
            .get(&later)
            .is_some_and(|x| !x.get_heads().is_empty())
    })
    .await;
    c.change(later, |d| put(d, "later", 9));
    p.wait_heads(later, &c.heads(later), 10).await;
    // Unchanged documents cost nothing: far fewer frames than documents. (After a crash
    // the relay lost the up-to-date sync states and pushes everything once: slower, never
    // wrong.)
    let syncs = p.seen(|s| s.syncs_received);
    if !kill_relay {
        assert!(syncs <= 12, "{syncs} sync messages for 3 changed documents");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_device_gets_what_changed_while_it_was_away() {
    run(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_device_gets_what_changed_even_after_the_relay_was_killed() {
    run(true).await;
}
