//! Who causes the trouble: the endpoints that send the most RSTs, the servers that refuse
//! most, the destinations whose SYNs go unanswered, the slowest servers by handshake RTT.
//! Folded one connection at a time by `crate::model::summary::SummaryBuilder` (and merged
//! with it on the two-thread path), in bounded memory.
//!
//! Exactness: each list counts every key exactly while it has seen at most [`CAP`]
//! distinct keys (`exact: true`). Past that, the map is pruned to its [`CAP`]/2 largest
//! counts (ties by key), as in lossy counting: a key pruned and seen again restarts from
//! zero, so its count may be low by at most `max_undercount` (the sum, over prunes, of the
//! largest count each dropped), and a list is then `exact: false`. A key that stays above
//! that bound is never dropped, so heavy hitters survive.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::model::connection_record::ConnectionRecord;
use crate::model::figures;
use crate::model::units::Millis;

/// Distinct keys a list holds before it is pruned.
pub const CAP: usize = 8192;
/// Entries each list reports.
pub const TOP_K: usize = 10;

/// A count and, for the slowest servers, a latency sum and maximum.
#[derive(Clone, Copy, Debug, Default)]
struct Tally {
    count: u64,
    sum: Duration,
    max: Duration,
}

/// A bounded map of per-key tallies (see the module's doc for its exactness).
#[derive(Clone, Debug)]
struct Counter<K> {
    map: HashMap<K, Tally>,
    max_undercount: u64,
    pruned: bool,
}

impl<K> Default for Counter<K> {
    fn default() -> Self {
        Counter {
            map: HashMap::new(),
            max_undercount: 0,
            pruned: false,
        }
    }
}

impl<K: Copy + Eq + Hash + Ord> Counter<K> {
    fn add(&mut self, key: K, count: u64, latency: Option<Duration>) {
        let t = self.map.entry(key).or_default();
        t.count += count;
        if let Some(d) = latency {
            t.sum += d;
            t.max = t.max.max(d);
        }
        self.prune();
    }

    fn merge(&mut self, other: &Counter<K>) {
        for (k, o) in &other.map {
            let t = self.map.entry(*k).or_default();
            t.count += o.count;
            t.sum += o.sum;
            t.max = t.max.max(o.max);
        }
        self.max_undercount += other.max_undercount;
        self.pruned |= other.pruned;
        self.prune();
    }

    fn prune(&mut self) {
        if self.map.len() <= CAP {
            return;
        }
        let mut all: Vec<(K, Tally)> = self.map.drain().collect();
        all.sort_unstable_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(&b.0)));
        let dropped = all.split_off(CAP / 2);
        self.max_undercount += dropped.first().map_or(0, |d| d.1.count);
        self.pruned = true;
        self.map.extend(all);
    }

    /// The entries, in the order `rank` gives, at most [`TOP_K`].
    fn top(
        &self,
        rank: impl Fn(&(K, Tally), &(K, Tally)) -> std::cmp::Ordering,
    ) -> Vec<(K, Tally)> {
        let mut all: Vec<(K, Tally)> = self.map.iter().map(|(k, t)| (*k, *t)).collect();
        all.sort_unstable_by(|a, b| rank(a, b).then(a.0.cmp(&b.0)));
        all.truncate(TOP_K);
        all
    }
}

/// The four lists as they are folded.
#[derive(Clone, Debug, Default)]
pub struct TopBuilder {
    rst_senders: Counter<IpAddr>,
    refusing_servers: Counter<SocketAddr>,
    unanswered_destinations: Counter<SocketAddr>,
    slowest_servers: Counter<SocketAddr>,
}

impl TopBuilder {
    /// Folds one connection in: the figures of `crate::model::figures`.
    pub fn add(&mut self, c: &ConnectionRecord) {
        for (addr, rsts) in [
            (c.client, figures::rst_from_client(c)),
            (c.server, figures::rst_from_server(c)),
        ] {
            if rsts > 0 {
                self.rst_senders.add(addr.ip().to_canonical(), rsts, None);
            }
        }
        if figures::closed_refused(c) > 0 {
            self.refusing_servers.add(c.server, 1, None);
        }
        if figures::closed_unanswered(c) > 0 {
            self.unanswered_destinations.add(c.server, 1, None);
        }
        if let Some(rtt) = c.handshake_rtt() {
            self.slowest_servers.add(c.server, 1, Some(rtt));
        }
    }

    pub fn merge(&mut self, other: &TopBuilder) {
        let TopBuilder {
            rst_senders,
            refusing_servers,
            unanswered_destinations,
            slowest_servers,
        } = other;
        self.rst_senders.merge(rst_senders);
        self.refusing_servers.merge(refusing_servers);
        self.unanswered_destinations.merge(unanswered_destinations);
        self.slowest_servers.merge(slowest_servers);
    }

    pub fn finish(&self) -> TopLists {
        let mean = |t: &Tally| t.sum / u32::try_from(t.count.max(1)).unwrap_or(u32::MAX);
        let s = &self.slowest_servers;
        TopLists {
            rst_senders: counted(&self.rst_senders),
            refusing_servers: counted(&self.refusing_servers),
            unanswered_destinations: counted(&self.unanswered_destinations),
            slowest_servers: TopList {
                exact: !s.pruned,
                max_undercount: s.max_undercount,
                entries: s
                    .top(|a, b| mean(&b.1).cmp(&mean(&a.1)).then(b.1.max.cmp(&a.1.max)))
                    .into_iter()
                    .map(|(k, t)| SlowServer {
                        endpoint: k.to_string(),
                        handshakes: t.count,
                        mean_rtt_ms: Millis(mean(&t)),
                        max_rtt_ms: Millis(t.max),
                    })
                    .collect(),
            },
        }
    }
}

/// A list ranked by count, largest first.
fn counted<K: Copy + Eq + Hash + Ord + std::fmt::Display>(c: &Counter<K>) -> TopList<TopEntry> {
    TopList {
        exact: !c.pruned,
        max_undercount: c.max_undercount,
        entries: c
            .top(|a, b| b.1.count.cmp(&a.1.count))
            .into_iter()
            .map(|(k, t)| TopEntry {
                endpoint: k.to_string(),
                count: t.count,
            })
            .collect(),
    }
}

/// Who causes the trouble (docs/json.md, `summary.top`).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct TopLists {
    /// Addresses by RST packets sent (either role).
    pub rst_senders: TopList<TopEntry>,
    /// Servers (`ip:port`) by connections refused (SYN answered by RST).
    pub refusing_servers: TopList<TopEntry>,
    /// Servers (`ip:port`) by connections whose SYN was never answered.
    pub unanswered_destinations: TopList<TopEntry>,
    /// Servers (`ip:port`) by mean handshake RTT.
    pub slowest_servers: TopList<SlowServer>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct TopList<E> {
    /// Every key was counted exactly (no more than [`CAP`] distinct keys were seen).
    pub exact: bool,
    /// When not exact, how much any count may be low by.
    pub max_undercount: u64,
    pub entries: Vec<E>,
}

impl<E> Default for TopList<E> {
    fn default() -> Self {
        TopList {
            exact: true,
            max_undercount: 0,
            entries: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct TopEntry {
    pub endpoint: String,
    pub count: u64,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct SlowServer {
    pub endpoint: String,
    pub handshakes: u64,
    pub mean_rtt_ms: Millis,
    pub max_rtt_ms: Millis,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_below_the_cap_and_heavy_hitters_survive_pruning() {
        let mut c = Counter::<u32>::default();
        for k in 0..100u32 {
            c.add(k, u64::from(k % 7), None);
        }
        assert!(!c.pruned);
        let top = c.top(|a, b| b.1.count.cmp(&a.1.count));
        assert_eq!((top[0].0, top[0].1.count), (6, 6));
        // A heavy key among many singletons keeps its exact count.
        let mut c = Counter::<u32>::default();
        for k in 0..(CAP as u32 * 3) {
            c.add(k + 1_000_000, 1, None);
            if k % 10 == 0 {
                c.add(7, 1, None);
            }
        }
        assert!(c.pruned);
        assert!(c.map.len() <= CAP);
        let top = c.top(|a, b| b.1.count.cmp(&a.1.count));
        assert_eq!((top[0].0, top[0].1.count), (7, CAP as u64 * 3 / 10 + 1));
        assert!(c.max_undercount >= 1);
    }

    #[test]
    fn merging_in_any_split_equals_one_counter() {
        let mut whole = Counter::<u32>::default();
        let mut parts = [Counter::<u32>::default(), Counter::<u32>::default()];
        for i in 0..5000u32 {
            let (k, d) = (i % 37, Duration::from_micros(u64::from(i)));
            whole.add(k, 1, Some(d));
            parts[(i % 3 == 0) as usize].add(k, 1, Some(d));
        }
        let [mut a, b] = parts;
        a.merge(&b);
        let rank = |x: &(u32, Tally), y: &(u32, Tally)| y.1.count.cmp(&x.1.count);
        let show = |c: &Counter<u32>| format!("{:?}", c.top(rank));
        assert_eq!(show(&a), show(&whole));
    }
}
