//! The actor driven alone: no sockets, no storage, no runtime.

use super::*;
use automerge::transaction::Transactable;
use setlink_core::sync::wire::{self, Message};
use setlink_core::Role;

const RELAY: &str = "relay";

fn to(peer: &str) -> Addressee {
    Addressee::new(RELAY, peer)
}

fn principal(name: &str, role: Role) -> Arc<Principal> {
    Arc::new(Principal {
        member_id: format!("member-{name}"),
        production_id: "p1".into(),
        name: name.into(),
        role,
        device_id: name.into(),
        token_hash: String::new(),
        token_expires_at_ms: i64::MAX,
    })
}

fn actor() -> DocActor {
    let info = DocInfo {
        production_id: "p1".into(),
        kind: DocKind::Shared,
    };
    DocActor::load(DocumentId::random(), info, &[], Instant::now()).0
}

fn subscribe(a: &mut DocActor, conn: ConnId) {
    let sub = Subscriber::new(
        to(&format!("peer-{conn}")),
        None,
        sync::State::new(),
        principal(&conn.to_string(), Role::Coordinator),
    );
    a.subscribe(conn, sub);
}

/// A message carrying one new change, as a peer sends it.
fn change_message(peer: &mut Automerge, value: &str) -> sync::Message {
    let mut tx = peer.transaction();
    tx.put(automerge::ROOT, "k", value).unwrap();
    tx.commit();
    let change = peer.get_last_local_change().unwrap().raw_bytes().to_vec();
    sync::Message {
        heads: peer.get_heads(),
        need: vec![],
        have: vec![],
        changes: sync::ChunkList::from(vec![change]),
        flags: None,
        version: sync::MessageVersion::V1,
    }
}

fn empty_message(heads: Vec<ChangeHash>) -> sync::Message {
    sync::Message {
        heads,
        need: vec![],
        have: vec![],
        changes: sync::ChunkList::from(Vec::<Vec<u8>>::new()),
        flags: None,
        version: sync::MessageVersion::V1,
    }
}

fn plain(doc: &mut Automerge, st: &mut sync::State, m: sync::Message) -> Result<(), Rejected> {
    doc.receive_sync_message(st, m)
        .map_err(|e| Rejected::Invalid(e.to_string()))
}

/// The automerge sync messages the effects send, by connection, each checked to be a
/// `sync` frame from the relay to that connection's peer about the actor's document.
fn syncs(a: &DocActor, effects: &[Effect]) -> Vec<(ConnId, Vec<u8>)> {
    let mut v: Vec<(ConnId, Vec<u8>)> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { conn, frame } => match wire::decode(frame).unwrap() {
                Message::Sync {
                    sender_id,
                    target_id,
                    document_id,
                    data,
                } => {
                    assert_eq!(sender_id, RELAY);
                    assert_eq!(target_id, a.subs[conn].to.remote_id());
                    assert_eq!(document_id, a.id);
                    Some((*conn, data))
                }
                _ => None,
            },
            _ => None,
        })
        .collect();
    v.sort_by_key(|(c, _)| *c);
    v
}

fn syncs_to(a: &DocActor, effects: &[Effect]) -> Vec<ConnId> {
    syncs(a, effects).into_iter().map(|(c, _)| c).collect()
}

/// Takes the actor's effects: who they send sync messages to.
fn synced(a: &mut DocActor) -> Vec<ConnId> {
    let e = a.take_effects();
    syncs_to(a, &e)
}

#[test]
fn nothing_is_visible_before_the_batch_is_durable_then_one_fan_out_answers_everyone() {
    let mut a = actor();
    for c in 1..=3 {
        subscribe(&mut a, c);
    }
    let mut peer = Automerge::new();
    a.receive(1, change_message(&mut peer, "x"), plain);
    let e = a.take_effects();
    assert!(matches!(e.as_slice(), [Effect::Commit]), "{e:?}");
    // A second writer joins the forming batch; still nothing is sent.
    let mut peer2 = Automerge::new();
    a.receive(2, change_message(&mut peer2, "y"), plain);
    assert!(a.take_effects().is_empty());
    let job = a.begin_commit().unwrap();
    assert!(job.bytes.is_some());
    // A message without changes while the commit runs is received, not answered.
    a.receive(3, empty_message(vec![]), plain);
    assert!(synced(&mut a).is_empty());
    let len = job.bytes.as_ref().map_or(0, Vec::len);
    a.commit_done(job, Ok(Some((7, len))), Vec::new()).unwrap();
    let e = a.take_effects();
    assert_eq!(syncs_to(&a, &e), vec![1, 2, 3], "one message each: {e:?}");
    assert!(e.iter().any(|e| matches!(e, Effect::Changed { .. })));
    assert!(a.is_idle());
    assert!(a.chunks.knows(7));
}

#[test]
fn a_failed_commit_tells_its_writer_once_and_returns_to_what_is_stored() {
    let mut a = actor();
    subscribe(&mut a, 1);
    subscribe(&mut a, 2);
    let mut peer = Automerge::new();
    a.receive(1, change_message(&mut peer, "lost"), plain);
    a.take_effects();
    let job = a.begin_commit().unwrap();
    assert!(a
        .commit_done(job, Err("disk full".into()), Vec::new())
        .is_err());
    let e = a.take_effects();
    let refusals: Vec<_> = e
        .iter()
        .filter(
            |e| matches!(e, Effect::StorageRefusal { conn: 1, error, .. } if error == "disk full"),
        )
        .collect();
    assert_eq!(refusals.len(), 1);
    // The writer is not asked for the change again; the other peer restarts its sync.
    assert_eq!(syncs_to(&a, &e), vec![2]);
    assert!(a.doc().get_heads().is_empty());
    assert!(a.is_idle());
}

#[test]
fn a_refused_write_is_noticed_and_the_peer_is_not_asked_for_it_again() {
    let mut a = actor();
    subscribe(&mut a, 1);
    let mut peer = Automerge::new();
    let m = change_message(&mut peer, "bad");
    let named = m.heads.clone();
    a.receive(1, m, |_, _, _| {
        Err(Rejected::Refused(setlink_core::rules::Refusal {
            rule: setlink_core::rules::Rule::Index,
            path: "x".into(),
            detail: "no".into(),
        }))
    });
    let e = a.take_effects();
    assert!(
        matches!(e.first(), Some(Effect::Notice { conn: 1, .. })),
        "{e:?}"
    );
    // Its next empty message still names the refused head: the relay stays quiet.
    a.receive(1, empty_message(named), plain);
    assert!(a.take_effects().is_empty());
}

#[test]
fn subscribers_that_lose_read_access_are_told_and_dropped() {
    let mut a = actor();
    subscribe(&mut a, 1);
    let crew = Subscriber::new(
        to("crew"),
        None,
        sync::State::new(),
        principal("crew", Role::Crew),
    );
    a.subscribe(2, crew);
    a.set_kind(DocKind::Member {
        member_id: "member-1".into(),
    });
    let e = a.take_effects();
    assert!(
        matches!(e.as_slice(), [Effect::Unavailable { conn: 2, .. }]),
        "{e:?}"
    );
    assert_eq!(a.subscriber_count(), 1);
}

#[test]
fn subscribers_in_the_same_state_share_one_generated_message() {
    let mut a = actor();
    for c in 1..=50 {
        subscribe(&mut a, c);
    }
    let mut peer = Automerge::new();
    a.receive(1, change_message(&mut peer, "x"), plain);
    a.take_effects();
    let job = a.begin_commit().unwrap();
    a.commit_done(job, Ok(Some((1, 10))), Vec::new()).unwrap();
    let e = a.take_effects();
    let datas: Vec<Vec<u8>> = syncs(&a, &e)
        .into_iter()
        .filter(|(c, _)| *c != 1)
        .map(|(_, d)| d)
        .collect();
    assert_eq!(datas.len(), 49);
    // ... and each message and state is what generating for it alone would have made.
    let mut alone = sync::State::new();
    let m = a.doc.generate_sync_message(&mut alone).unwrap();
    let m = m.encode();
    assert!(datas.iter().all(|d| *d == m));
    for c in 2..=50 {
        assert_eq!(a.subs[&c].state, alone);
    }
}

#[test]
fn grouped_generation_leaves_every_state_and_message_as_generating_alone_would() {
    let mut a = actor();
    for c in 1..=40 {
        subscribe(&mut a, c);
    }
    let mut peer = Automerge::new();
    for round in 0..3 {
        a.receive(1, change_message(&mut peer, &format!("r{round}")), plain);
        a.take_effects();
        // Half the subscribers acknowledge the last round, half do not: two groups,
        // with sent hashes and in-flight flags from earlier rounds.
        let heads = a.doc.get_heads();
        for c in (2..=40).filter(|c| c % 2 == 0) {
            a.receive(c, empty_message(heads.clone()), plain);
        }
        a.take_effects();
        let job = a.begin_commit().unwrap();
        let before: HashMap<ConnId, sync::State> =
            a.subs.iter().map(|(c, s)| (*c, s.state.clone())).collect();
        let owed: Vec<ConnId> = a
            .subs
            .iter()
            .filter(|(_, s)| s.owed_answer)
            .map(|(c, _)| *c)
            .collect();
        a.commit_done(job, Ok(Some((round + 1, 10))), Vec::new())
            .unwrap();
        let e = a.take_effects();
        let sent: HashMap<ConnId, Vec<u8>> = syncs(&a, &e).into_iter().collect();
        for (c, mut alone) in before {
            if owed.contains(&c) {
                alone.last_sent_heads.clear();
            }
            let m = a.doc.generate_sync_message(&mut alone).map(|m| m.encode());
            assert_eq!(a.subs[&c].state, alone, "round {round}, subscriber {c}");
            assert_eq!(sent.get(&c).cloned(), m, "round {round}, subscriber {c}");
        }
    }
}

#[test]
fn presence_from_another_relay_reaches_every_subscriber_but_its_creator_once() {
    let mut a = actor();
    subscribe(&mut a, 1);
    subscribe(&mut a, 2);
    let e = Ephemeral {
        document_id: a.id,
        sender_id: "peer-2".into(),
        session_id: "s".into(),
        count: 1,
        data: b"eta 10 min".to_vec(),
    };
    assert_eq!(a.foreign_ephemeral(e.clone()), Some(1));
    let forwarded: Vec<ConnId> = a
        .take_effects()
        .iter()
        .filter_map(|e| match e {
            Effect::Send { conn, frame } => match wire::decode(frame).unwrap() {
                Message::Ephemeral {
                    sender_id, data, ..
                } => {
                    assert_eq!(sender_id, "peer-2", "the creator's id is kept");
                    assert_eq!(data, b"eta 10 min");
                    Some(*conn)
                }
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(
        forwarded,
        vec![1],
        "not back to its creator's own connection"
    );
    // The same message again (another relay's copy, or a re-broadcast): nothing.
    assert_eq!(a.foreign_ephemeral(e), None);
    assert!(a.take_effects().is_empty());
}

#[test]
fn writers_a_failed_commit_refused_are_asked_again_once_storage_works() {
    let mut a = actor();
    subscribe(&mut a, 1);
    subscribe(&mut a, 2);
    let mut peer = Automerge::new();
    let msg = change_message(&mut peer, "offline edit");
    a.receive(1, msg, plain);
    let job = a.begin_commit().expect("a batch formed");
    let _ = a.take_effects();
    assert!(a
        .commit_done(job, Err("PostgreSQL server unreachable".into()), Vec::new())
        .is_err());
    assert!(a.awaits_storage());
    let _ = a.take_effects();
    // Storage is back: only the refused writer is asked, with a reset sync state so
    // a stock client sends the change it remembers sending.
    assert_eq!(a.storage_back(), 1);
    assert_eq!(synced(&mut a), vec![1]);
    assert!(!a.awaits_storage());
    assert_eq!(a.storage_back(), 0, "asked once");
}

#[test]
fn a_chunk_automerge_refuses_is_skipped_and_the_rest_of_the_document_loads() {
    // Two different first changes under one actor, as two relays could each store
    // from a client that copied its document: together they do not load.
    let actor_id = automerge::ActorId::random();
    let chunk = |seq: i64, key: &str| {
        let mut d = Automerge::new();
        d.set_actor(actor_id.clone());
        let mut tx = d.transaction();
        tx.put(automerge::ROOT, key, "v").unwrap();
        tx.commit();
        Chunk {
            seq,
            snapshot: false,
            data: d.save(),
        }
    };
    let mut other = Automerge::new();
    let mut tx = other.transaction();
    tx.put(automerge::ROOT, "fine", "v").unwrap();
    tx.commit();
    let fine = Chunk {
        seq: 3,
        snapshot: false,
        data: other.save(),
    };
    let info = DocInfo {
        production_id: "p1".into(),
        kind: DocKind::Shared,
    };
    let chunks = [chunk(1, "a"), chunk(2, "b"), fine];
    let (a, skipped) = DocActor::load(DocumentId::random(), info, &chunks, Instant::now());
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert_eq!(skipped[0].0, 2);
    assert!(a.doc.get(automerge::ROOT, "a").unwrap().is_some());
    assert!(a.doc.get(automerge::ROOT, "fine").unwrap().is_some());
}

#[test]
fn foreign_chunks_not_yet_applied_are_applied_and_fanned_out_once() {
    let mut a = actor();
    subscribe(&mut a, 1);
    let mut other = Automerge::new();
    let mut tx = other.transaction();
    tx.put(automerge::ROOT, "k", "from another relay").unwrap();
    tx.commit();
    let chunk = Chunk {
        seq: 3,
        snapshot: false,
        data: other.save(),
    };
    let heads = other.get_heads();
    assert!(a.lacks(&heads));
    assert_eq!(a.foreign(std::slice::from_ref(&chunk)), (true, None));
    assert_eq!(synced(&mut a), vec![1]);
    assert!(!a.lacks(&heads));
    assert!(a.chunks.knows(3));
    // The same notification again changes nothing and sends nothing.
    assert_eq!(a.foreign(&[chunk]), (false, None));
    assert!(a.take_effects().is_empty());
}

/// Relays draw `seq`s from one sequence but commit in any order: this relay's own chunk
/// 8 was stored while another relay's chunk 7 was still committing, and the notification
/// for 7 was missed (the LISTEN connection was down), so a catch-up with no heads to
/// look for still finds it.
#[test]
fn a_catch_up_applies_another_relays_chunk_numbered_below_this_relays_own() {
    let mut a = actor();
    subscribe(&mut a, 1);
    let mut mine = Automerge::new();
    a.receive(1, change_message(&mut mine, "mine"), plain);
    let job = a.begin_commit().unwrap();
    let len = job.bytes.as_ref().map_or(0, Vec::len);
    a.commit_done(job, Ok(Some((8, len))), Vec::new()).unwrap();
    a.take_effects();
    let mut other = Automerge::new();
    let mut tx = other.transaction();
    tx.put(automerge::ROOT, "theirs", "committed late").unwrap();
    tx.commit();
    let late = Chunk {
        seq: 7,
        snapshot: false,
        data: other.save(),
    };
    assert_eq!(a.foreign(&[late]), (true, None));
    assert!(!a.lacks(&other.get_heads()));
    assert_eq!(synced(&mut a), vec![1], "the subscriber hears it");
}
