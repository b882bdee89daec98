//! Ephemeral (presence) messages across the relay.
//!
//! automerge-repo JS and samod re-broadcast every ephemeral message they receive to all
//! their peers, the relay included. Relaying by connection alone would send each message
//! back to its creator through every other client, and to everyone once per client:
//! traffic growing with the square of the clients. So the relay remembers, per document,
//! the newest `count` it relayed for each (creator, session), relays a message only the
//! first time, never to its creator, and bounds each member's rate.

use std::collections::HashMap;
use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Creators remembered per document; past this the oldest half is forgotten (a forgotten
/// creator's next message is relayed again, at worst once more per peer).
const MAX_SOURCES: usize = 1024;

/// The newest message relayed for each (creator peer, session) of one document.
#[derive(Default)]
pub struct Relayed {
    newest: HashMap<(String, String), (u64, u64)>,
    /// Bumped on every relayed message; orders sources for forgetting.
    clock: u64,
}

impl Relayed {
    /// Whether this message is new: not relayed before through any connection. Counts
    /// only grow within a session, so an equal or lower count is a copy.
    pub fn first_time(&mut self, sender: &str, session: &str, count: u64) -> bool {
        self.clock += 1;
        let key = (sender.to_owned(), session.to_owned());
        if let Some((newest, at)) = self.newest.get_mut(&key) {
            if count <= *newest {
                return false;
            }
            *newest = count;
            *at = self.clock;
            return true;
        }
        if self.newest.len() >= MAX_SOURCES {
            let mut ages: Vec<u64> = self.newest.values().map(|(_, at)| *at).collect();
            ages.sort_unstable();
            let cutoff = ages[ages.len() / 2];
            self.newest.retain(|_, (_, at)| *at > cutoff);
        }
        self.newest.insert(key, (count, self.clock));
        true
    }
}

/// Each member's ephemeral messages per second, across all their connections and
/// documents.
pub struct MemberRate {
    limiter: DefaultKeyedRateLimiter<String>,
}

impl MemberRate {
    pub fn new(per_second: NonZeroU32, burst: NonZeroU32) -> Self {
        MemberRate {
            limiter: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
        }
    }

    /// Takes one message from `member`'s allowance; false when it is used up.
    pub fn allow(&self, member: &str) -> bool {
        self.limiter.check_key(&member.to_owned()).is_ok()
    }

    /// Forgets members whose allowance is full again (called now and then).
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_new_once_however_many_peers_repeat_it() {
        let mut r = Relayed::default();
        assert!(r.first_time("pa-phone", "s1", 1));
        assert!(!r.first_time("pa-phone", "s1", 1), "a re-broadcast copy");
        assert!(r.first_time("pa-phone", "s1", 2));
        assert!(!r.first_time("pa-phone", "s1", 1), "an older one, late");
        assert!(
            r.first_time("pa-phone", "s2", 1),
            "a new session starts over"
        );
        assert!(r.first_time("office", "s1", 1), "another creator");
    }

    #[test]
    fn forgetting_keeps_the_most_recent_sources() {
        let mut r = Relayed::default();
        for i in 0..MAX_SOURCES {
            assert!(r.first_time(&format!("p{i}"), "s", 1));
        }
        assert!(r.first_time("late", "s", 1));
        assert!(r.newest.len() <= MAX_SOURCES);
        assert!(
            !r.first_time("late", "s", 1),
            "the newest source is remembered"
        );
        assert!(!r.first_time(&format!("p{}", MAX_SOURCES - 1), "s", 1));
    }

    #[test]
    fn a_member_past_the_burst_is_held_back_and_others_are_not() {
        let rate = MemberRate::new(NonZeroU32::new(1).unwrap(), NonZeroU32::new(3).unwrap());
        assert_eq!((0..10).filter(|_| rate.allow("pat")).count(), 3);
        assert!(rate.allow("olive"));
    }
}
