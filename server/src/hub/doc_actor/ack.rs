//! The commonest message a relay receives: a subscriber acknowledging a fan-out. After
//! applying our change a peer answers with our heads, no changes and nothing needed.
//! automerge 0.12 spends most of the relay's per-subscriber cost on it:
//! `receive_sync_message` trims the peer's sent hashes by walking the *whole history*
//! behind the message's heads (`filter_changes` → `ChangeGraph::remove_ancestors`, which
//! visits every ancestor however few hashes there are to trim), and
//! `generate_sync_message` then builds a bloom filter of what the peer has only to answer
//! nothing. Profiled on `relay-bench --only fanout`, the two were ~30% of the relay's CPU,
//! growing with the document's history.
//!
//! For a bare acknowledgement of our current heads the outcome of both is known without
//! the walk: every hash we sent the peer is a change of ours, so an ancestor of our
//! heads, which the peer now has; and `generate_sync_message` answers `None` (we already
//! told the peer these heads and it has them all). [`receive`] makes
//! `receive_sync_message`'s state change directly; the test below holds it to automerge's
//! own, message by message, so an automerge upgrade that changes either shows up there.

use automerge::sync::{self, Capability, MessageFlags};
use automerge::ChangeHash;

/// Whether `msg` only says "I have exactly your heads" to a peer state that needs no answer
/// to it (so generating one would give `None`).
pub(super) fn is_bare(msg: &sync::Message, state: &sync::State, our_heads: &[ChangeHash]) -> bool {
    msg.changes.is_empty()
        && msg.need.is_empty()
        && !our_heads.is_empty()
        && msg.heads == our_heads
        && state.have_responded
        && state.last_sent_heads == our_heads
        && !state.needs_reset
        && !state.read_only
}

/// `receive_sync_message(state, msg)` for a message [`is_bare`] accepts.
pub(super) fn receive(state: &mut sync::State, msg: sync::Message) {
    state.in_flight = false;
    if let Some(flags) = msg.flags {
        // Any peer that sends flags reads v2 messages.
        let mut caps = vec![Capability::MessageV2];
        if flags.contains(MessageFlags::SUPPORTS_SYNC_RESET) {
            caps.push(Capability::SyncReset);
        }
        state.their_capabilities = Some(caps);
        // (`SYNC_RESET` clears the sent hashes: cleared below in any case.)
        state.peer_read_only = flags.contains(MessageFlags::READ_ONLY);
    }
    // What we sent are our changes, all ancestors of the heads the peer now has.
    state.sent_hashes.clear();
    state.shared_heads.clone_from(&msg.heads);
    state.their_have = Some(msg.have);
    state.their_heads = Some(msg.heads);
    state.their_need = Some(msg.need);
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::sync::SyncDoc;
    use automerge::transaction::Transactable;
    use automerge::Automerge;

    fn edit(doc: &mut Automerge, key: &str) {
        let mut tx = doc.transaction();
        tx.put(automerge::ROOT, key, key).unwrap();
        tx.commit();
    }

    /// Runs the sync between `relay` and `peer` until both are quiet, checking every
    /// message the relay receives that [`is_bare`] accepts: [`receive`] leaves the state
    /// automerge's `receive_sync_message` leaves, and automerge would answer nothing.
    /// Returns how many acknowledgements it checked.
    fn sync_checking(
        relay: &mut Automerge,
        rs: &mut sync::State,
        peer: &mut Automerge,
        ps: &mut sync::State,
    ) -> usize {
        let mut acks = 0;
        for _ in 0..20 {
            let to_peer = relay.generate_sync_message(rs);
            if let Some(m) = to_peer.clone() {
                peer.receive_sync_message(ps, m).unwrap();
            }
            let to_relay = peer.generate_sync_message(ps);
            if let Some(m) = to_relay.clone() {
                if is_bare(&m, rs, &relay.get_heads()) {
                    let mut fast = rs.clone();
                    receive(&mut fast, m.clone());
                    relay.receive_sync_message(rs, m).unwrap();
                    assert_eq!(&fast, rs, "the state automerge leaves");
                    assert!(relay.generate_sync_message(&mut rs.clone()).is_none());
                    acks += 1;
                } else {
                    relay.receive_sync_message(rs, m).unwrap();
                }
            }
            if to_peer.is_none() && to_relay.is_none() {
                return acks;
            }
        }
        panic!("sync did not settle");
    }

    #[test]
    fn a_bare_acknowledgement_leaves_the_state_automerge_leaves() {
        let mut relay = Automerge::new();
        let (mut rs, mut ps) = (sync::State::new(), sync::State::new());
        let mut peer = Automerge::new();
        let mut acks = 0;
        // Changes from the relay's side (fan-outs the peer acknowledges), from the peer
        // (the relay answers), both at once, and a long history behind them.
        for round in 0..40 {
            if round % 3 != 1 {
                edit(&mut relay, &format!("relay-{round}"));
            }
            if round % 3 != 0 {
                edit(&mut peer, &format!("peer-{round}"));
            }
            acks += sync_checking(&mut relay, &mut rs, &mut peer, &mut ps);
            assert_eq!(relay.get_heads(), peer.get_heads());
        }
        assert!(acks >= 10, "only {acks} acknowledgements were checked");
        // A peer we have not answered yet (a new connection) still goes through automerge.
        let ours = relay.get_heads();
        let mut m = peer.generate_sync_message(&mut sync::State::new()).unwrap();
        m.changes = sync::ChunkList::from(Vec::<Vec<u8>>::new());
        assert_eq!(m.heads, ours);
        assert!(!is_bare(&m, &sync::State::new(), &ours));
    }
}
