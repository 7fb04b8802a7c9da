//! Totals over all connections (docs/metrics.md), folded one record at a time from the
//! per-connection figures of [`crate::model::figures`], so that each figure is defined once.

use std::time::Duration;

use crate::model::app_label::AppKind;
use crate::model::connection_record::ConnectionRecord;
use crate::model::figures;
use crate::model::top::{TopBuilder, TopLists};
use crate::model::units::Millis;

/// Totals over all connections (docs/metrics.md).
#[derive(Debug, Clone, serde::Serialize, Default)]
pub struct Summary {
    pub connections: u64,
    pub handshakes: HandshakeTotals,
    pub handshake_rtt_ms: Distribution,
    /// First SYN → completing ACK (connect time, SYN retransmissions included).
    pub connect_ms: Distribution,
    pub syn_to_synack_ms: Distribution,
    pub synack_to_ack_ms: Distribution,
    pub closes: CloseTotals,
    pub rst: RstTotals,
    pub fin_packets: u64,
    pub time_wait: TimeWaitTotals,
    pub keepalive: KeepaliveTotals,
    pub zero_window_probes: u64,
    /// Retransmissions and late originals as the evidence tells them, and where the
    /// retransmitted segments were lost (docs/metrics.md).
    pub retransmissions: u64,
    pub out_of_order: u64,
    /// Retransmissions the receiver already had (part of `retransmissions`), and copies
    /// the network made (not retransmissions).
    pub spurious_retransmissions: u64,
    pub network_duplicates: u64,
    pub lost_before_capture: u64,
    pub lost_after_capture: u64,
    /// tshark's figures, as before the evidence.
    pub tshark_retransmissions: u64,
    pub tshark_out_of_order: u64,
    /// Per-connection median path RTTs (docs/metrics.md, "Path RTT"): the path between
    /// the capture point and the client, and between it and the server.
    pub rtt_client_side_ms: Distribution,
    pub rtt_server_side_ms: Distribution,
    /// Connections per application protocol label.
    pub apps: AppTotals,
    /// Who causes the trouble (`crate::model::top`).
    pub top: TopLists,
}

impl Summary {
    /// Adds another summary's counters (not its distributions: `SummaryBuilder::merge`
    /// merges the samples they come from). Every field is named, so that a new one cannot
    /// be left out.
    fn absorb(&mut self, other: &Summary) {
        let Summary {
            connections,
            handshakes,
            handshake_rtt_ms: _,
            connect_ms: _,
            syn_to_synack_ms: _,
            synack_to_ack_ms: _,
            closes,
            rst,
            fin_packets,
            time_wait,
            keepalive,
            zero_window_probes,
            retransmissions,
            out_of_order,
            spurious_retransmissions,
            network_duplicates,
            lost_before_capture,
            lost_after_capture,
            tshark_retransmissions,
            tshark_out_of_order,
            rtt_client_side_ms: _,
            rtt_server_side_ms: _,
            apps,
            top: _,
        } = other;
        self.connections += connections;
        let HandshakeTotals {
            attempted,
            completed,
            syn_retransmits,
            synack_retransmits,
        } = handshakes;
        let h = &mut self.handshakes;
        h.attempted += attempted;
        h.completed += completed;
        h.syn_retransmits += syn_retransmits;
        h.synack_retransmits += synack_retransmits;
        let CloseTotals {
            fin,
            reset,
            refused,
            unanswered,
            handshake_incomplete,
            half_closed,
            open,
            midstream,
            abnormal,
        } = closes;
        let c = &mut self.closes;
        c.fin += fin;
        c.reset += reset;
        c.refused += refused;
        c.unanswered += unanswered;
        c.handshake_incomplete += handshake_incomplete;
        c.half_closed += half_closed;
        c.open += open;
        c.midstream += midstream;
        c.abnormal += abnormal;
        let RstTotals {
            packets,
            from_client,
            from_server,
            answering_syn,
        } = rst;
        let r = &mut self.rst;
        r.packets += packets;
        r.from_client += from_client;
        r.from_server += from_server;
        r.answering_syn += answering_syn;
        self.fin_packets += fin_packets;
        let TimeWaitTotals {
            client,
            server,
            simultaneous,
            reused,
        } = time_wait;
        let t = &mut self.time_wait;
        t.client += client;
        t.server += server;
        t.simultaneous += simultaneous;
        t.reused += reused;
        let KeepaliveTotals {
            probes,
            acks,
            unanswered,
            connections,
        } = keepalive;
        let k = &mut self.keepalive;
        k.probes += probes;
        k.acks += acks;
        k.unanswered += unanswered;
        k.connections += connections;
        self.zero_window_probes += zero_window_probes;
        self.retransmissions += retransmissions;
        self.out_of_order += out_of_order;
        self.spurious_retransmissions += spurious_retransmissions;
        self.network_duplicates += network_duplicates;
        self.lost_before_capture += lost_before_capture;
        self.lost_after_capture += lost_after_capture;
        self.tshark_retransmissions += tshark_retransmissions;
        self.tshark_out_of_order += tshark_out_of_order;
        self.apps.absorb(apps);
    }
}

#[derive(Debug, Clone, serde::Serialize, Default)]
pub struct HandshakeTotals {
    /// Connections whose client SYN was seen.
    pub attempted: u64,
    /// Of those, handshakes completed (both endpoints ESTABLISHED).
    pub completed: u64,
    pub syn_retransmits: u64,
    pub synack_retransmits: u64,
}

/// `{count, min, p50, p90, p99, max}` in milliseconds; nearest-rank percentiles.
#[derive(Debug, serde::Serialize, Default, Clone)]
pub struct Distribution {
    pub count: u64,
    pub min: Option<Millis>,
    pub p50: Option<Millis>,
    pub p90: Option<Millis>,
    pub p99: Option<Millis>,
    pub max: Option<Millis>,
}

impl Distribution {
    pub fn of(mut values: Vec<Duration>) -> Self {
        values.sort_unstable();
        let n = values.len();
        if n == 0 {
            return Distribution::default();
        }
        // Nearest rank: the smallest value with at least p% of values at or below it.
        let rank = |p: u64| -> Millis {
            let idx = ((p as usize * n).div_ceil(100)).clamp(1, n) - 1;
            Millis(values[idx])
        };
        Distribution {
            count: n as u64,
            min: Some(Millis(values[0])),
            p50: Some(rank(50)),
            p90: Some(rank(90)),
            p99: Some(rank(99)),
            max: Some(Millis(values[n - 1])),
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, Default)]
pub struct CloseTotals {
    pub fin: u64,
    pub reset: u64,
    pub refused: u64,
    pub unanswered: u64,
    pub handshake_incomplete: u64,
    pub half_closed: u64,
    pub open: u64,
    pub midstream: u64,
    pub abnormal: u64,
}

#[derive(Debug, Clone, serde::Serialize, Default)]
pub struct RstTotals {
    pub packets: u64,
    pub from_client: u64,
    pub from_server: u64,
    pub answering_syn: u64,
}

#[derive(Debug, Clone, serde::Serialize, Default)]
pub struct TimeWaitTotals {
    /// Client endpoints that end in TIME_WAIT.
    pub client: u64,
    pub server: u64,
    /// Simultaneous closes (each adds one to client and one to server).
    pub simultaneous: u64,
    /// New SYNs on a 4-tuple whose previous connection was in TIME_WAIT < 2·MSL before.
    pub reused: u64,
}

#[derive(Debug, Clone, serde::Serialize, Default)]
pub struct KeepaliveTotals {
    pub probes: u64,
    pub acks: u64,
    pub unanswered: u64,
    /// Connections with at least one probe.
    pub connections: u64,
}

/// Folds connections into the summary one at a time, so that a live capture can drop a
/// connection once it is retired and still count it.
#[derive(Clone, Debug, Default)]
pub struct SummaryBuilder {
    summary: Summary,
    rtt: Samples,
    connect: Samples,
    syn_to_synack: Samples,
    synack_to_ack: Samples,
    rtt_client_side: Samples,
    rtt_server_side: Samples,
    top: TopBuilder,
}

impl SummaryBuilder {
    /// Folds one connection's figures in (`crate::model::figures`, where each is defined).
    pub fn add(&mut self, c: &ConnectionRecord) {
        let s = &mut self.summary;
        s.connections += figures::connection(c);
        let h = &mut s.handshakes;
        h.attempted += figures::handshake_attempted(c);
        h.completed += figures::handshake_completed(c);
        h.syn_retransmits += figures::syn_retransmits(c);
        h.synack_retransmits += figures::synack_retransmits(c);
        self.rtt.extend(figures::handshake_rtt(c));
        self.connect.extend(figures::connect_time(c));
        self.syn_to_synack.extend(figures::syn_to_synack(c));
        self.synack_to_ack.extend(figures::synack_to_ack(c));
        self.rtt_client_side.extend(figures::rtt_client_side(c));
        self.rtt_server_side.extend(figures::rtt_server_side(c));
        let closes = &mut s.closes;
        closes.fin += figures::closed_fin(c);
        closes.reset += figures::closed_reset(c);
        closes.refused += figures::closed_refused(c);
        closes.unanswered += figures::closed_unanswered(c);
        closes.handshake_incomplete += figures::closed_handshake_incomplete(c);
        closes.half_closed += figures::closed_half(c);
        closes.open += figures::still_open(c);
        closes.midstream += figures::midstream(c);
        closes.abnormal += figures::abnormal(c);
        let rst = &mut s.rst;
        rst.packets += figures::rst_packets(c);
        rst.from_client += figures::rst_from_client(c);
        rst.from_server += figures::rst_from_server(c);
        rst.answering_syn += figures::rst_answering_syn(c);
        s.fin_packets += figures::fin_packets(c);
        let tw = &mut s.time_wait;
        tw.client += figures::time_wait_client(c);
        tw.server += figures::time_wait_server(c);
        tw.simultaneous += figures::simultaneous_close(c);
        tw.reused += figures::time_wait_reused(c);
        let k = &mut s.keepalive;
        k.probes += figures::keepalive_probes(c);
        k.acks += figures::keepalive_acks(c);
        k.unanswered += figures::keepalive_unanswered(c);
        k.connections += figures::keepalive_connection(c);
        s.zero_window_probes += figures::zero_window_probes(c);
        s.retransmissions += figures::retransmissions(c);
        s.out_of_order += figures::out_of_order(c);
        s.spurious_retransmissions += figures::spurious_retransmissions(c);
        s.network_duplicates += figures::network_duplicates(c);
        s.lost_before_capture += figures::lost_before_capture(c);
        s.lost_after_capture += figures::lost_after_capture(c);
        s.tshark_retransmissions += figures::tshark_retransmissions(c);
        s.tshark_out_of_order += figures::tshark_out_of_order(c);
        s.apps.add(c.app.kind);
        self.top.add(c);
    }

    /// Adds another builder's connections, as if each had been added here (the parallel
    /// workers each summarize their own).
    pub fn merge(&mut self, other: &SummaryBuilder) {
        let SummaryBuilder {
            summary,
            rtt,
            connect,
            syn_to_synack,
            synack_to_ack,
            rtt_client_side,
            rtt_server_side,
            top,
        } = other;
        self.summary.absorb(summary);
        self.rtt_client_side.merge(rtt_client_side);
        self.rtt_server_side.merge(rtt_server_side);
        self.rtt.merge(rtt);
        self.connect.merge(connect);
        self.syn_to_synack.merge(syn_to_synack);
        self.synack_to_ack.merge(synack_to_ack);
        self.top.merge(top);
    }

    /// The counters so far (the distributions are filled in by `finish`).
    pub fn counts(&self) -> &Summary {
        &self.summary
    }

    pub fn finish(self) -> Summary {
        let mut s = self.summary;
        s.handshake_rtt_ms = self.rtt.distribution();
        s.connect_ms = self.connect.distribution();
        s.syn_to_synack_ms = self.syn_to_synack.distribution();
        s.synack_to_ack_ms = self.synack_to_ack.distribution();
        s.rtt_client_side_ms = self.rtt_client_side.distribution();
        s.rtt_server_side_ms = self.rtt_server_side.distribution();
        s.top = self.top.finish();
        s
    }
}

/// Latency samples: exact up to `EXACT_SAMPLES`, then a log-scale histogram with buckets
/// 1% wide, so memory stays bounded however many connections a live capture sees.
#[derive(Clone, Debug, Default)]
pub struct Samples {
    exact: Vec<Duration>,
    histogram: Option<Box<Histogram>>,
}

const EXACT_SAMPLES: usize = 1 << 16;

impl Samples {
    pub fn push(&mut self, d: Duration) {
        if let Some(h) = &mut self.histogram {
            h.add(d);
        } else if self.exact.len() < EXACT_SAMPLES {
            self.exact.push(d);
        } else {
            let mut h = Box::new(Histogram::default());
            for v in self.exact.drain(..) {
                h.add(v);
            }
            h.add(d);
            self.histogram = Some(h);
        }
    }

    fn extend(&mut self, d: Option<Duration>) {
        if let Some(d) = d {
            self.push(d);
        }
    }

    /// Adds `other`'s samples: the same exact values or histogram as pushing them here.
    fn merge(&mut self, other: &Samples) {
        match &other.histogram {
            None => other.exact.iter().for_each(|&d| self.push(d)),
            Some(theirs) => {
                let exact = &mut self.exact;
                let mine = self.histogram.get_or_insert_with(|| {
                    let mut h = Box::new(Histogram::default());
                    exact.drain(..).for_each(|d| h.add(d));
                    h
                });
                mine.merge(theirs);
            }
        }
    }

    pub fn distribution(self) -> Distribution {
        match self.histogram {
            Some(h) => h.distribution(),
            None => Distribution::of(self.exact),
        }
    }
}

/// Buckets of 1% relative width over 1 ns .. ~10^13 ns (hours).
#[derive(Clone, Debug)]
struct Histogram {
    counts: Vec<u64>,
    min: Duration,
    max: Duration,
    total: u64,
}

const HISTOGRAM_BUCKETS: usize = 3100;

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; HISTOGRAM_BUCKETS],
            min: Duration::MAX,
            max: Duration::ZERO,
            total: 0,
        }
    }
}

impl Histogram {
    fn bucket(d: Duration) -> usize {
        let ns = d.as_nanos().max(1) as f64;
        ((ns.ln() / 1.01f64.ln()) as usize).min(HISTOGRAM_BUCKETS - 1)
    }

    fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.total += other.total;
    }

    fn add(&mut self, d: Duration) {
        self.counts[Self::bucket(d)] += 1;
        self.min = self.min.min(d);
        self.max = self.max.max(d);
        self.total += 1;
    }

    fn distribution(&self) -> Distribution {
        let n = self.total;
        let rank = |p: u64| -> Millis {
            let want = (p * n).div_ceil(100).clamp(1, n);
            let mut seen = 0;
            for (i, c) in self.counts.iter().enumerate() {
                seen += c;
                if seen >= want {
                    // The bucket's upper edge, never beyond the largest value seen.
                    let edge = 1.01f64.powi(i as i32 + 1);
                    let d = Duration::from_nanos(edge as u64);
                    return Millis(d.clamp(self.min, self.max));
                }
            }
            Millis(self.max)
        };
        Distribution {
            count: n,
            min: Some(Millis(self.min)),
            p50: Some(rank(50)),
            p90: Some(rank(90)),
            p99: Some(rank(99)),
            max: Some(Millis(self.max)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::state::CloseKind;
    use crate::model::time::Timestamp;
    use crate::model::units::JsonTime;

    #[test]
    fn nearest_rank_percentiles() {
        let d = Distribution::of((1..=100).map(Duration::from_millis).collect());
        assert_eq!(d.p50, Some(Millis(Duration::from_millis(50))));
        assert_eq!(d.p90, Some(Millis(Duration::from_millis(90))));
        assert_eq!(d.p99, Some(Millis(Duration::from_millis(99))));
        let mut many = Samples::default();
        for ms in 1..=100_000u64 {
            many.push(Duration::from_micros(ms * 10));
        }
        let d = many.distribution();
        assert_eq!(d.count, 100_000);
        let p50 = d.p50.unwrap().as_f64();
        assert!((p50 - 500.0).abs() / 500.0 < 0.011, "{p50}");
        assert_eq!(d.max, Some(Millis(Duration::from_millis(1000))));
        let one = Distribution::of(vec![Duration::from_micros(1500)]);
        assert_eq!(one.p99.unwrap().to_string(), "1.500000");
        assert_eq!(Distribution::of(vec![]).count, 0);
    }

    /// Every fixture connection's record, for summaries built different ways.
    fn fixture_records() -> Vec<ConnectionRecord> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let mut paths = vec![root.join("sample.pcap")];
        for dir in ["tcp", "app", "decode", "evidence"] {
            let files = std::fs::read_dir(root.join(dir)).unwrap();
            paths.extend(files.map(|e| e.unwrap().path()));
        }
        paths.sort();
        let records = |p: &std::path::PathBuf| {
            let analysis = crate::analysis::analyzer::analyze_paths(
                std::slice::from_ref(p),
                &Default::default(),
            );
            analysis
                .connections
                .iter()
                .map(|r| r.unpack())
                .collect::<Vec<_>>()
        };
        let mut all: Vec<_> = paths.iter().flat_map(records).collect();
        // Closes no fixture ends with.
        for close in [CloseKind::HalfClosed, CloseKind::HandshakeIncomplete] {
            let mut r = all[0].clone();
            r.close = close;
            all.push(r);
        }
        all
    }

    fn summary_json(b: SummaryBuilder) -> String {
        serde_json::to_string(&b.finish()).unwrap()
    }

    #[test]
    fn merged_summaries_equal_one_summary() {
        let records = fixture_records();
        let mut whole = SummaryBuilder::default();
        records.iter().for_each(|r| whole.add(r));
        let whole = summary_json(whole);
        // Every counter is non-zero somewhere in the fixtures, so a field that merging
        // left out would show.
        let counters = whole.replace("\"max_undercount\":0", "");
        assert!(
            !counters.contains(":0,") && !counters.contains(":0}"),
            "{whole}"
        );
        assert!(whole
            .contains("\"slowest_servers\":{\"exact\":true,\"max_undercount\":0,\"entries\":[{"));
        for parts in [2, 3, 7] {
            let mut shards = vec![SummaryBuilder::default(); parts];
            for (i, r) in records.iter().enumerate() {
                shards[(i * 5 + i / 3) % parts].add(r);
            }
            let mut merged = SummaryBuilder::default();
            shards.iter().for_each(|s| merged.merge(s));
            assert_eq!(summary_json(merged), whole, "{parts} parts");
        }
    }

    #[test]
    fn merged_samples_equal_one_sample_set() {
        // Exact with exact, exact past the limit, histogram with exact, histogram with
        // histogram: the distribution is the one of all values pushed in one place.
        let value = |i: u64| Duration::from_nanos(1_000 + (i * 7_919) % 3_000_000);
        for (a, b) in [
            (10, 20),
            (40_000, 40_000),
            (70_000, 5),
            (5, 70_000),
            (70_000, 70_000),
        ] {
            let (mut whole, mut left, mut right) =
                (Samples::default(), Samples::default(), Samples::default());
            for i in 0..a + b {
                whole.push(value(i));
                if i < a {
                    left.push(value(i))
                } else {
                    right.push(value(i))
                }
            }
            left.merge(&right);
            let show = |s: Samples| format!("{:?}", s.distribution());
            assert_eq!(show(left), show(whole), "{a} + {b}");
        }
    }

    #[test]
    fn exact_json_numbers() {
        let t = JsonTime(Timestamp::from_secs_nanos(1_767_225_600, 123_456_789));
        assert_eq!(serde_json::to_string(&t).unwrap(), "1767225600.123456789");
        let m = Millis(Duration::from_nanos(15_000_001));
        assert_eq!(serde_json::to_string(&m).unwrap(), "15.000001");
    }
}

/// Connections per `app.protocol`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AppTotals {
    pub none: u64,
    pub unknown: u64,
    pub http: u64,
    pub websocket: u64,
    pub tls: u64,
    pub ssh: u64,
}

impl AppTotals {
    /// Adds another total's counts (every field named: a new label cannot be left out).
    pub fn absorb(&mut self, other: &AppTotals) {
        let AppTotals {
            none,
            unknown,
            http,
            websocket,
            tls,
            ssh,
        } = other;
        self.none += none;
        self.unknown += unknown;
        self.http += http;
        self.websocket += websocket;
        self.tls += tls;
        self.ssh += ssh;
    }

    pub fn add(&mut self, kind: AppKind) {
        *match kind {
            AppKind::None => &mut self.none,
            AppKind::Unknown => &mut self.unknown,
            AppKind::Http => &mut self.http,
            AppKind::WebSocket => &mut self.websocket,
            AppKind::Tls => &mut self.tls,
            AppKind::Ssh => &mut self.ssh,
        } += 1;
    }
}
