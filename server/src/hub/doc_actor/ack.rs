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
use automerge::{Automerge, ChangeHash, ReadDoc};

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

/// Sent hashes an implied acknowledgement keeps at most (see [`implied`]): a peer that
/// never confirms costs bounded memory, and past it a late confirmation may only make
/// automerge send a change again.
const KEPT_SENT_HASHES: usize = 1024;

/// What [`receive`] does with the acknowledgement a peer that acknowledges by silence
/// (`setlinkImpliedAcks`) did not send, after a message with changes that brought it to
/// `heads` (ours): it has exactly those heads, needs nothing, and its `have` starts from
/// them with nothing after. One difference: the hashes we sent are kept (automerge trims
/// the ones the peer's heads cover, all of them here). The peer confirms later, and its
/// confirmation may name heads older than ours by then; automerge then trims only what
/// those cover, and without the newer hashes it would send their changes again.
pub(super) fn implied(state: &mut sync::State, heads: &[ChangeHash]) {
    state.in_flight = false;
    if state.sent_hashes.len() > KEPT_SENT_HASHES {
        state.sent_hashes.clear();
    }
    // In place: a fan-out makes this move for every subscriber before its frames leave,
    // and after the first change each one already holds vectors of the right size.
    heads.clone_into(&mut state.shared_heads);
    let have = state.their_have.get_or_insert_with(Vec::new);
    have.truncate(1);
    if have.is_empty() {
        have.push(sync::Have::default());
    }
    heads.clone_into(&mut have[0].last_sync);
    have[0].bloom = sync::BloomFilter::default();
    heads.clone_into(state.their_heads.get_or_insert_with(Vec::new));
    state.their_need.get_or_insert_with(Vec::new).clear();
}

/// Whether `msg`, from a peer whose state holds implied acknowledgements, only confirms
/// heads older than ours (`our_heads`, which we already sent it): no changes, nothing
/// needed, heads we have all of, not ours.
pub(super) fn confirms_older(
    msg: &sync::Message,
    state: &sync::State,
    our_heads: &[ChangeHash],
    doc: &Automerge,
) -> bool {
    msg.changes.is_empty()
        && msg.need.is_empty()
        && !msg.heads.is_empty()
        && msg.heads != our_heads
        && state.last_sent_heads == our_heads
        && doc.get_missing_deps(&msg.heads).is_empty()
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
        silent_acks: &mut usize,
    ) -> usize {
        let mut acks = 0;
        for _ in 0..20 {
            let to_peer = relay.generate_sync_message(rs);
            let carried = to_peer.as_ref().is_some_and(|m| !m.changes.is_empty());
            let mut silent = rs.clone();
            implied(&mut silent, &relay.get_heads());
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
                    if carried {
                        // The acknowledgement a peer acknowledging by silence holds back:
                        // the same state, but for the sent hashes it keeps.
                        assert!(rs.sent_hashes.is_subset(&silent.sent_hashes));
                        silent.sent_hashes.clone_from(&rs.sent_hashes);
                        assert_eq!(&silent, rs, "the state the held acknowledgement leaves");
                        *silent_acks += 1;
                    }
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
        let mut silent = 0;
        // Changes from the relay's side (fan-outs the peer acknowledges), from the peer
        // (the relay answers), both at once, and a long history behind them.
        for round in 0..40 {
            if round % 3 != 1 {
                edit(&mut relay, &format!("relay-{round}"));
            }
            if round % 3 != 0 {
                edit(&mut peer, &format!("peer-{round}"));
            }
            acks += sync_checking(&mut relay, &mut rs, &mut peer, &mut ps, &mut silent);
            assert_eq!(relay.get_heads(), peer.get_heads());
        }
        assert!(acks >= 10, "only {acks} acknowledgements were checked");
        assert!(
            silent >= 5,
            "only {silent} held acknowledgements were checked"
        );
        // A peer we have not answered yet (a new connection) still goes through automerge.
        let ours = relay.get_heads();
        let mut m = peer.generate_sync_message(&mut sync::State::new()).unwrap();
        m.changes = sync::ChunkList::from(Vec::<Vec<u8>>::new());
        assert_eq!(m.heads, ours);
        assert!(!is_bare(&m, &sync::State::new(), &ours));
    }
}
