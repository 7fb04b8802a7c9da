//! Builds what the HTML report draws (`crate::model::visuals`) from the report's
//! connections, read once in order, and the traces `crate::analysis::tracer` kept.

use std::collections::HashMap;
use std::time::Duration;

use crate::analysis::ladder_builder::LadderBuilder;
use crate::analysis::seq_builder::SeqGraphBuilder;
use crate::analysis::tracer::{Trace, KEEP_PER_KIND, KEEP_SLOW};
use crate::model::connection_record::ConnectionRecord;
use crate::model::figures;
use crate::model::report::Report;
use crate::model::state::CloseKind;
use crate::model::summary::Samples;
use crate::model::time::Timestamp;
use crate::model::units::Millis;
use crate::model::visuals::{Bucket, LatencyHistogram, Visuals, WorstConnection, MAX_BUCKETS};

/// Abnormal connections drawn at most, and then the slowest handshakes.
pub const WORST_ABNORMAL: usize = 6;
pub const WORST_SLOW: usize = 4;
/// Segments drawn in each time-sequence graph of the HTML report.
pub const SEQ_POINTS: usize = 1_500;

/// A round bucket width (1, 2 or 5 times a power of ten, at least 1 ms) that cuts `span`
/// into at most [`MAX_BUCKETS`].
fn bucket_width(span: Duration) -> Duration {
    let mut unit = Duration::from_millis(1);
    loop {
        for m in [1, 2, 5] {
            let w = unit * m;
            if span.as_nanos() / w.as_nanos() < MAX_BUCKETS as u128 {
                return w;
            }
        }
        unit *= 10;
    }
}

/// Latency bins: eight per decade from 10 µs to 1000 s.
fn latency_edges() -> Vec<Duration> {
    (1..=64)
        .map(|i| Duration::from_secs_f64(1e-5 * 10f64.powf(f64::from(i) / 8.0)))
        .collect()
}

struct Histo {
    upper: Vec<Duration>,
    counts: Vec<u64>,
    total: u64,
}

impl Histo {
    fn new() -> Self {
        let upper = latency_edges();
        Histo {
            counts: vec![0; upper.len()],
            upper,
            total: 0,
        }
    }

    fn add(&mut self, d: Option<Duration>) {
        let Some(d) = d else { return };
        let i = self
            .upper
            .partition_point(|u| *u < d)
            .min(self.upper.len() - 1);
        self.counts[i] += 1;
        self.total += 1;
    }

    /// Trimmed to the bins between the first and the last one used.
    fn finish(self, key: &'static str, label: &'static str) -> LatencyHistogram {
        let first = self.counts.iter().position(|c| *c > 0).unwrap_or(0);
        let last = self.counts.iter().rposition(|c| *c > 0).unwrap_or(0);
        LatencyHistogram {
            key,
            label,
            upper: self.upper[first..=last].to_vec(),
            counts: self.counts[first..=last].to_vec(),
            total: self.total,
        }
    }
}

fn kind_index(k: CloseKind) -> usize {
    CloseKind::ALL.iter().position(|x| *x == k).unwrap_or(0)
}

/// The visuals of `report`, with the traces kept for its connections.
pub fn build(report: &Report, traces: HashMap<u64, Trace>, untraced: u64) -> Visuals {
    let first = report
        .inputs
        .iter()
        .filter_map(|i| i.first_packet.as_ref().map(|t| t.0))
        .min();
    let last = report
        .inputs
        .iter()
        .filter_map(|i| i.last_packet.as_ref().map(|t| t.0))
        .max();
    let span = match (first, last) {
        (Some(a), Some(b)) => b.saturating_since(a),
        _ => Duration::ZERO,
    };
    let width = bucket_width(span);
    let n = (span.as_nanos() / width.as_nanos()) as usize + 1;
    let mut buckets = vec![Bucket::default(); if first.is_some() { n } else { 0 }];
    let mut rtts: Vec<Samples> = vec![Samples::default(); buckets.len()];
    let start = first.unwrap_or(Timestamp::from_secs_nanos(0, 0));
    // In 64 bits (a 128-bit division per call was a tenth of the fold); a time past
    // 2^64 ns from the start is in the last bucket either way.
    let width_ns = u64::try_from(width.as_nanos()).unwrap_or(u64::MAX);
    let index = |t: Timestamp| {
        let since = u64::try_from(t.saturating_since(start).as_nanos()).unwrap_or(u64::MAX);
        usize::try_from(since / width_ns)
            .unwrap_or(usize::MAX)
            .min(n - 1)
    };
    // The traced connections' ids, sorted: looked up for every record.
    let mut traced_ids: Vec<u64> = traces.keys().copied().collect();
    traced_ids.sort_unstable();
    let mut hist = [Histo::new(), Histo::new(), Histo::new()];
    // Candidates for the worst, by index in the list: abnormal by kind, slowest by RTT.
    let mut abnormal: Vec<Vec<usize>> = vec![Vec::new(); 4];
    let mut slowest: Vec<(Duration, u64, Option<usize>)> = Vec::new();
    let (mut abnormal_total, mut handshakes_total) = (0, 0);
    let list = &report.connections;
    // Reading the records is most of the work: it runs on two threads, in blocks, and
    // what each record gives is added up here in the records' order (sums of floats
    // depend on it), so the page is the same on any number of threads.
    let fold = |facts: &Vec<Facts>| {
        for f in facts {
            let rtt = f.rtt;
            hist[0].add(rtt);
            hist[1].add(f.syn_to_synack);
            hist[2].add(f.connect);
            if !buckets.is_empty() {
                let b = index(f.first_seen);
                buckets[b].opened[kind_index(f.close)] += 1;
                if let Some(r) = rtt {
                    rtts[b].push(r);
                }
                if f.rsts > 0 {
                    buckets[index(f.reset_at)].rsts += f.rsts;
                }
                spread_bytes(&mut buckets, f, start, width);
            }
            abnormal_total += u64::from(f.close.is_abnormal());
            handshakes_total += u64::from(rtt.is_some());
            let kind = match f.close {
                CloseKind::Reset => Some(0),
                CloseKind::Refused => Some(1),
                CloseKind::Unanswered => Some(2),
                CloseKind::HandshakeIncomplete => Some(3),
                _ => None,
            };
            let traced = traced_ids.binary_search(&f.id).is_ok();
            // The slowest drawn are those among the tracer's `KEEP_SLOW` slowest handshakes
            // of the whole capture (abnormal ones included, as it ranks them) that closed
            // normally: what any number of tracking threads keep, each its own slowest.
            if let Some(r) = rtt {
                let ranked = slowest.len() < KEEP_SLOW
                    || slowest.last().is_some_and(|&(last, id, _)| {
                        (r, std::cmp::Reverse(f.id)) > (last, std::cmp::Reverse(id))
                    });
                if ranked {
                    let drawable = (traced && kind.is_none()).then_some(f.index);
                    slowest.push((r, f.id, drawable));
                    slowest.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
                    slowest.truncate(KEEP_SLOW);
                }
            }
            if !traced {
                continue;
            }
            // Of resets and refusals, the tracer keeps those that began first: drawn are
            // those, whatever else a tracker kept (a slow one, a shard's own first ones).
            let most = |k: usize| match k {
                0 | 1 => WORST_ABNORMAL.min(KEEP_PER_KIND),
                _ => WORST_ABNORMAL,
            };
            if let Some(k) = kind {
                if abnormal[k].len() < most(k) {
                    abnormal[k].push(f.index);
                }
            }
        }
        Ok::<(), std::convert::Infallible>(())
    };
    let _ = list.in_blocks(
        FACTS_BLOCK,
        || Vec::with_capacity(FACTS_BLOCK),
        |range, facts| {
            facts.clear();
            facts.extend(range.map(|i| Facts::of(i, &list.record(i))));
        },
        fold,
    );
    let slow: Vec<(Duration, ConnectionRecord)> = slowest
        .into_iter()
        .filter_map(|(r, _, i)| Some((r, list.record(i?))))
        .take(WORST_SLOW)
        .collect();
    for (b, s) in buckets.iter_mut().zip(rtts) {
        let d = s.distribution();
        b.rtt_p50 = d.p50.map(|m| m.0);
        b.rtt_p99 = d.p99.map(|m| m.0);
    }
    // Abnormal ones first, taken in turn from each kind, then the slowest.
    let mut picked: Vec<(ConnectionRecord, String)> = Vec::new();
    let mut queues: Vec<std::collections::VecDeque<ConnectionRecord>> = abnormal
        .into_iter()
        .map(|kind| kind.into_iter().map(|i| list.record(i)).collect())
        .collect();
    while picked.len() < WORST_ABNORMAL && queues.iter().any(|q| !q.is_empty()) {
        for q in &mut queues {
            if picked.len() < WORST_ABNORMAL {
                if let Some(c) = q.pop_front() {
                    let why = format!("abnormal: {}", c.close.as_str());
                    picked.push((c, why));
                }
            }
        }
    }
    for (r, c) in slow {
        let why = format!("slow handshake: RTT {:.3} ms", Millis(r).as_f64());
        picked.push((c, why));
    }
    let mut traces = traces;
    let worst = picked
        .into_iter()
        .filter_map(|(record, why)| {
            let t = traces.remove(&record.id)?;
            let mut ladder = LadderBuilder::new(true);
            let mut seq = SeqGraphBuilder::with_cap(SEQ_POINTS);
            for (at, e) in &t.events {
                ladder.on_event(&t.view, *at, *e);
                seq.on_event(&t.view, *at, *e);
            }
            Some(WorstConnection {
                why,
                ladder: ladder.finish(&record),
                seq: seq.finish(&record),
                record,
            })
        })
        .collect();
    Visuals {
        start: first,
        bucket: width,
        buckets,
        latency: {
            let [a, b, c] = hist;
            vec![
                a.finish("handshake_rtt_ms", "handshake RTT (last SYN → ACK)"),
                b.finish("syn_to_synack_ms", "SYN → SYN/ACK"),
                c.finish("connect_ms", "connect time (first SYN → ACK)"),
            ]
        },
        worst,
        abnormal_total,
        handshakes_total,
        untraced,
    }
}

/// Records read at a time by each of `build`'s two threads.
const FACTS_BLOCK: usize = 4096;

/// What `build` reads of one connection, made on either thread.
struct Facts {
    index: usize,
    id: u64,
    first_seen: Timestamp,
    last_seen: Timestamp,
    close: CloseKind,
    rtt: Option<Duration>,
    syn_to_synack: Option<Duration>,
    connect: Option<Duration>,
    rsts: u64,
    /// When the first RST came (the last packet's time when none is known).
    reset_at: Timestamp,
    /// Wire bytes, both ways.
    bytes: u64,
}

impl Facts {
    fn of(index: usize, c: &ConnectionRecord) -> Facts {
        let seen = c.handshake_seen();
        Facts {
            index,
            id: c.id,
            first_seen: c.first_seen,
            last_seen: c.last_seen,
            close: c.close,
            rtt: c.handshake_rtt(),
            syn_to_synack: seen.then(|| figures::syn_to_synack(c)).flatten(),
            connect: seen.then(|| figures::connect_time(c)).flatten(),
            rsts: figures::rst_packets(c),
            reset_at: c.reset.map_or(c.last_seen, |r| r.at),
            bytes: c.total(|e| e.bytes),
        }
    }
}

/// Adds the connection's wire bytes to the buckets of its life, evenly.
fn spread_bytes(buckets: &mut [Bucket], c: &Facts, start: Timestamp, width: Duration) {
    let bytes = c.bytes as f64;
    if bytes == 0.0 || buckets.is_empty() {
        return;
    }
    let w = width.as_secs_f64();
    let a = c.first_seen.saturating_since(start).as_secs_f64();
    let b = c.last_seen.saturating_since(start).as_secs_f64().max(a);
    let last = buckets.len() - 1;
    let (ia, ib) = (((a / w) as usize).min(last), ((b / w) as usize).min(last));
    if ia == ib || b <= a {
        buckets[ia].bytes += bytes;
        return;
    }
    for (i, bucket) in buckets.iter_mut().enumerate().take(ib + 1).skip(ia) {
        let lo = (i as f64 * w).max(a);
        let hi = ((i + 1) as f64 * w).min(b);
        bucket.bytes += bytes * (hi - lo).max(0.0) / (b - a);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_bucket_widths() {
        assert_eq!(bucket_width(Duration::ZERO), Duration::from_millis(1));
        assert_eq!(
            bucket_width(Duration::from_secs(40)),
            Duration::from_millis(500)
        );
        assert_eq!(
            bucket_width(Duration::from_secs(197)),
            Duration::from_secs(2)
        );
        let w = bucket_width(Duration::from_secs(86_400 * 3));
        assert!(86_400 * 3 / w.as_secs() < MAX_BUCKETS as u64);
    }
}
