//! Redelivery dedupe: a platform may deliver one message twice (Slack retries an envelope it
//! thinks was not acknowledged, a Discord backfill after a reconnect overlaps what arrived
//! live). Each message id is processed once while it is remembered: for `ttl`, and at most
//! `capacity` ids (the oldest forgotten first).

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

pub struct Seen {
    ttl: Duration,
    capacity: usize,
    order: VecDeque<(Instant, String)>,
    ids: HashSet<String>,
}

impl Seen {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self { ttl, capacity: capacity.max(1), order: VecDeque::new(), ids: HashSet::new() }
    }

    /// True the first time `id` is seen (and records it); false for a repeat.
    pub fn first_time(&mut self, id: &str, now: Instant) -> bool {
        while let Some((at, old)) = self.order.front() {
            if now.duration_since(*at) <= self.ttl && self.order.len() < self.capacity {
                break;
            }
            self.ids.remove(old);
            self.order.pop_front();
        }
        if !self.ids.insert(id.to_string()) {
            return false;
        }
        self.order.push_back((now, id.to_string()));
        true
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeat_is_refused_until_it_is_forgotten() {
        let t0 = Instant::now();
        let mut s = Seen::new(Duration::from_secs(60), 3);
        assert!(s.first_time("a", t0));
        assert!(!s.first_time("a", t0 + Duration::from_secs(1)));
        assert!(s.first_time("a", t0 + Duration::from_secs(61)), "forgotten after the ttl");
        for id in ["b", "c", "d"] {
            assert!(s.first_time(id, t0 + Duration::from_secs(62)));
        }
        assert_eq!(s.len(), 3, "bounded");
        assert!(s.first_time("a", t0 + Duration::from_secs(62)), "the oldest went first");
    }
}
