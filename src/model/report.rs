//! The report model: what `synack report` says, built from an [`Analysis`] and shaped as
//! docs/json.md documents. Printers (table, JSON, CI checks) read this; none of them looks
//! at packets or re-derives a figure.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::ser::{Serialize, Serializer};

use crate::analysis::pipeline::{Analysis, PacketCounts};
use crate::model::connection::{ConnectionRecord, PackedRecord, SideFigures};
use crate::capture::file::Format;
use crate::model::time::Timestamp;
use crate::tcp::tracker::{CloseKind, Closer};

use crate::model::app_report::{AppReport, AppTotals};

/// A timestamp in JSON: epoch seconds with all nine fractional digits, as a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct JsonTime(pub Timestamp);

impl Serialize for JsonTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        exact_number(&self.0.to_string(), s)
    }
}

/// A duration in milliseconds with nanosecond digits, as an exact JSON number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Millis(pub Duration);

impl Millis {
    pub fn as_f64(self) -> f64 {
        self.0.as_nanos() as f64 / 1e6
    }
}

impl std::fmt::Display for Millis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ns = self.0.as_nanos();
        write!(f, "{}.{:06}", ns / 1_000_000, ns % 1_000_000)
    }
}

impl Serialize for Millis {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        exact_number(&self.to_string(), s)
    }
}

/// A duration in seconds with nanosecond digits, as an exact JSON number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Seconds(pub Duration);

impl std::fmt::Display for Seconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:09}", self.0.as_secs(), self.0.subsec_nanos())
    }
}

impl Serialize for Seconds {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        exact_number(&self.to_string(), s)
    }
}

fn exact_number<S: Serializer>(text: &str, s: S) -> Result<S::Ok, S::Error> {
    match text.parse::<serde_json::Number>() {
        Ok(n) => n.serialize(s),
        Err(_) => s.serialize_str(text),
    }
}

#[derive(Debug, serde::Serialize)]
pub struct Report {
    pub synack_version: &'static str,
    pub inputs: Vec<InputSummary>,
    pub packets: PacketCounts,
    pub summary: Summary,
    pub connections: ConnectionList,
    /// Things the reader should know: read errors after some packets, odd timestamps.
    pub warnings: Vec<String>,
    /// Live capture only (`synack capture`): what bounded the run, and libpcap's counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture: Option<CaptureSummary>,
}

#[derive(Debug, serde::Serialize)]
pub struct CaptureSummary {
    pub packets_captured: u64,
    /// Connections let go of after their close played out (2·MSL) or an idle timeout;
    /// they count in `summary` but are not listed in `connections`.
    pub retired: u64,
    /// Connections dropped to stay under --max-connections (also in `summary`).
    pub evicted: u64,
    pub active_at_end: u64,
    pub received_by_filter: Option<u64>,
    pub dropped_by_kernel: Option<u64>,
    pub dropped_by_interface: Option<u64>,
}

#[derive(Debug, serde::Serialize)]
pub struct InputSummary {
    pub file: String,
    /// `pcap` or `pcapng`; null when the file could not be opened.
    pub format: Option<&'static str>,
    pub byte_order: Option<&'static str>,
    /// `pcap` only: `us` or `ns`.
    pub timestamp_precision: Option<&'static str>,
    pub version: Option<String>,
    pub link_types: Vec<LinkTypeSummary>,
    pub snaplen: u32,
    pub packets: u64,
    pub first_packet: Option<JsonTime>,
    pub last_packet: Option<JsonTime>,
    pub duration_s: Option<Seconds>,
    pub backwards_timestamps: u64,
    pub invalid_subsecond_timestamps: u64,
    /// The one-line error that stopped reading this input, if any.
    pub error: Option<String>,
}

#[derive(Debug, serde::Serialize)]
pub struct LinkTypeSummary {
    pub id: u16,
    pub name: &'static str,
    pub supported: bool,
}

/// Totals over all connections (docs/metrics.md).
#[derive(Debug, Clone, serde::Serialize, Default)]
pub struct Summary {
    pub connections: u64,
    pub handshakes: HandshakeTotals,
    pub handshake_rtt_ms: Distribution,
    pub syn_to_synack_ms: Distribution,
    pub synack_to_ack_ms: Distribution,
    pub closes: CloseTotals,
    pub rst: RstTotals,
    pub fin_packets: u64,
    pub time_wait: TimeWaitTotals,
    pub keepalive: KeepaliveTotals,
    pub zero_window_probes: u64,
    pub retransmissions: u64,
    /// Connections per application protocol label.
    pub apps: AppTotals,
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
            syn_to_synack_ms: _,
            synack_to_ack_ms: _,
            closes,
            rst,
            fin_packets,
            time_wait,
            keepalive,
            zero_window_probes,
            retransmissions,
            apps,
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

#[derive(Debug, serde::Serialize)]
pub struct PerDirection {
    pub client_to_server: u64,
    pub server_to_client: u64,
}

#[derive(Debug, serde::Serialize)]
pub struct PerSide {
    pub client: u64,
    pub server: u64,
}

#[derive(Debug, serde::Serialize)]
pub struct HandshakeReport {
    pub first_syn: Option<JsonTime>,
    pub last_syn: Option<JsonTime>,
    pub synack: Option<JsonTime>,
    pub last_synack: Option<JsonTime>,
    pub ack: Option<JsonTime>,
    pub syn_to_synack_ms: Option<Millis>,
    pub synack_to_ack_ms: Option<Millis>,
    pub rtt_ms: Option<Millis>,
    pub first_syn_to_ack_ms: Option<Millis>,
    pub syn_retransmits: u64,
    pub synack_retransmits: u64,
    pub simultaneous_open: bool,
}

#[derive(Debug, serde::Serialize)]
pub struct StatesReport {
    pub client: &'static str,
    pub server: &'static str,
}

#[derive(Debug, serde::Serialize)]
pub struct KeepaliveReport {
    pub probes: u64,
    pub acks: u64,
    pub unanswered: u64,
    pub from_client: u64,
    pub from_server: u64,
    pub idle_before_first_probe_ms: Option<Millis>,
    pub median_probe_interval_ms: Option<Millis>,
}

#[derive(Debug, serde::Serialize)]
pub struct ConnectionReport {
    pub id: u64,
    pub client: String,
    pub server: String,
    /// How the roles were decided: `syn`, `synack` or `port`.
    pub roles_from: &'static str,
    pub first_seen: JsonTime,
    pub last_seen: JsonTime,
    pub duration_ms: Millis,
    pub packets: PerDirection,
    /// Frame bytes on the wire (original lengths), as tshark -z conv counts them.
    pub bytes: PerDirection,
    /// TCP payload bytes, from the IP length fields.
    pub payload_bytes: PerDirection,
    pub handshake: Option<HandshakeReport>,
    pub states: StatesReport,
    pub close: &'static str,
    pub abnormal: bool,
    pub midstream: bool,
    pub closed_by: Option<&'static str>,
    pub reset_by: Option<&'static str>,
    pub reset_state: Option<&'static str>,
    pub time_wait: Option<&'static str>,
    pub reused_time_wait: bool,
    pub rst: PerSide,
    pub fin: PerSide,
    pub keepalive: KeepaliveReport,
    pub zero_window_probes: u64,
    pub retransmissions: PerSide,
    /// Segments below the highest sequence that filled a hole within an RTT (not resends).
    pub out_of_order: PerSide,
    pub anomalies: BTreeMap<&'static str, u32>,
    /// What ran over the connection, from its first payload bytes.
    pub app: AppReport,
}

fn per_side(r: &ConnectionRecord, f: impl Fn(&SideFigures) -> u64) -> PerSide {
    PerSide {
        client: f(&r.client_figures),
        server: f(&r.server_figures),
    }
}

fn per_direction(r: &ConnectionRecord, f: impl Fn(&SideFigures) -> u64) -> PerDirection {
    PerDirection {
        client_to_server: f(&r.client_figures),
        server_to_client: f(&r.server_figures),
    }
}

impl ConnectionReport {
    pub fn from_record(r: &ConnectionRecord) -> Self {
        let h = &r.handshake;
        let seen_handshake = h.syn_count > 0 || h.synack_count > 0;
        let handshake = seen_handshake.then(|| HandshakeReport {
            first_syn: h.first_syn.map(JsonTime),
            last_syn: h.last_syn.map(JsonTime),
            synack: h.synack.map(JsonTime),
            last_synack: h.last_synack.map(JsonTime),
            ack: h.completed.map(JsonTime),
            syn_to_synack_ms: h.syn_to_synack().map(Millis),
            synack_to_ack_ms: h.synack_to_ack().map(Millis),
            rtt_ms: h.rtt().map(Millis),
            first_syn_to_ack_ms: h.first_syn_to_ack().map(Millis),
            syn_retransmits: h.syn_retransmits(),
            synack_retransmits: h.synack_retransmits(),
            simultaneous_open: h.simultaneous_open,
        });
        let time_wait = match r.time_wait {
            (true, true) => Some("both"),
            (true, false) => Some("client"),
            (false, true) => Some("server"),
            (false, false) => None,
        };
        let (kc, ks) = (&r.client_figures, &r.server_figures);
        ConnectionReport {
            id: r.id,
            client: r.client.to_string(),
            server: r.server.to_string(),
            roles_from: r.roles.as_str(),
            first_seen: JsonTime(r.first_seen),
            last_seen: JsonTime(r.last_seen),
            duration_ms: Millis(r.duration()),
            packets: per_direction(r, |e| e.packets),
            bytes: per_direction(r, |e| e.bytes),
            payload_bytes: per_direction(r, |e| e.payload_bytes),
            handshake,
            states: StatesReport {
                client: r.client_state.as_str(),
                server: r.server_state.as_str(),
            },
            close: r.close.as_str(),
            abnormal: r.close.is_abnormal(),
            midstream: r.midstream,
            closed_by: r.closer.map(Closer::as_str),
            reset_by: r.reset.map(|x| x.by.as_str()),
            reset_state: r.reset.map(|x| x.sender_state.as_str()),
            time_wait,
            reused_time_wait: r.reused_time_wait,
            rst: per_side(r, |e| e.rsts),
            fin: per_side(r, |e| e.fins),
            keepalive: KeepaliveReport {
                probes: kc.keepalive_probes + ks.keepalive_probes,
                acks: kc.keepalive_acks + ks.keepalive_acks,
                unanswered: kc.keepalive_unanswered() + ks.keepalive_unanswered(),
                from_client: kc.keepalive_probes,
                from_server: ks.keepalive_probes,
                idle_before_first_probe_ms: r.keepalive_idle.map(Millis),
                median_probe_interval_ms: r.keepalive_interval.map(Millis),
            },
            zero_window_probes: r.total(|e| e.zero_window_probes),
            retransmissions: per_side(r, |e| e.retransmissions),
            out_of_order: per_side(r, |e| e.out_of_order),
            anomalies: r.anomalies().map(|(a, n)| (a.as_str(), n)).collect(),
            app: AppReport::of(&r.app),
        }
    }
}

/// How many records ahead a loop over them asks for the next ones' bytes (a record's
/// decoding takes about as long as a load from memory).
const PREFETCH_AHEAD: usize = 4;

/// The report's connections, kept as compact records and shaped as [`ConnectionReport`]s
/// one at a time when printed, so that a report of many connections stays small.
#[derive(Debug, Default)]
pub struct ConnectionList(Vec<PackedRecord>);

impl ConnectionList {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn packed(&self) -> &[PackedRecord] {
        &self.0
    }

    pub fn records(&self) -> impl Iterator<Item = ConnectionRecord> + '_ {
        self.0.iter().enumerate().map(|(i, packed)| {
            if let Some(ahead) = self.0.get(i + PREFETCH_AHEAD) {
                ahead.prefetch();
            }
            packed.unpack()
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = ConnectionReport> + '_ {
        self.records().map(|r| ConnectionReport::from_record(&r))
    }
}

impl Serialize for ConnectionList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

/// Folds connections into the summary one at a time, so that a live capture can drop a
/// connection once it is retired and still count it.
#[derive(Clone, Debug, Default)]
pub struct SummaryBuilder {
    summary: Summary,
    rtt: Samples,
    syn_to_synack: Samples,
    synack_to_ack: Samples,
}

impl SummaryBuilder {
    pub fn add(&mut self, c: &ConnectionRecord) {
        let s = &mut self.summary;
        s.connections += 1;
        let h = &c.handshake;
        if h.syn_count > 0 {
            s.handshakes.attempted += 1;
            if h.completed.is_some() {
                s.handshakes.completed += 1;
            }
        }
        s.handshakes.syn_retransmits += h.syn_retransmits();
        s.handshakes.synack_retransmits += h.synack_retransmits();
        self.rtt.extend(h.rtt());
        self.syn_to_synack.extend(h.syn_to_synack());
        self.synack_to_ack.extend(h.synack_to_ack());
        let close = c.close;
        let closes = &mut s.closes;
        *match close {
            CloseKind::Fin => &mut closes.fin,
            CloseKind::Reset => &mut closes.reset,
            CloseKind::Refused => &mut closes.refused,
            CloseKind::Unanswered => &mut closes.unanswered,
            CloseKind::HandshakeIncomplete => &mut closes.handshake_incomplete,
            CloseKind::HalfClosed => &mut closes.half_closed,
            CloseKind::Open => &mut closes.open,
        } += 1;
        closes.midstream += u64::from(c.midstream);
        closes.abnormal += u64::from(close.is_abnormal());
        s.rst.from_client += c.client_figures.rsts;
        s.rst.from_server += c.server_figures.rsts;
        s.rst.packets = s.rst.from_client + s.rst.from_server;
        s.rst.answering_syn += c.rst_answering_syn;
        s.fin_packets += c.total(|e| e.fins);
        let (c_tw, s_tw) = c.time_wait;
        s.time_wait.client += u64::from(c_tw);
        s.time_wait.server += u64::from(s_tw);
        s.time_wait.simultaneous += u64::from(c.closer == Some(Closer::Both) && c_tw && s_tw);
        s.time_wait.reused += u64::from(c.reused_time_wait);
        let probes = c.total(|e| e.keepalive_probes);
        s.keepalive.probes += probes;
        s.keepalive.acks += c.total(|e| e.keepalive_acks);
        s.keepalive.unanswered += c.total(|e| e.keepalive_unanswered());
        s.keepalive.connections += u64::from(probes > 0);
        s.zero_window_probes += c.total(|e| e.zero_window_probes);
        s.retransmissions += c.total(|e| e.retransmissions);
        s.apps.add(c.app.kind());
    }

    /// Adds another builder's connections, as if each had been added here (the parallel
    /// workers each summarize their own).
    pub fn merge(&mut self, other: &SummaryBuilder) {
        let SummaryBuilder {
            summary,
            rtt,
            syn_to_synack,
            synack_to_ack,
        } = other;
        self.summary.absorb(summary);
        self.rtt.merge(rtt);
        self.syn_to_synack.merge(syn_to_synack);
        self.synack_to_ack.merge(synack_to_ack);
    }

    /// The counters so far (the distributions are filled in by `finish`).
    pub fn counts(&self) -> &Summary {
        &self.summary
    }

    pub fn finish(self) -> Summary {
        let mut s = self.summary;
        s.handshake_rtt_ms = self.rtt.distribution();
        s.syn_to_synack_ms = self.syn_to_synack.distribution();
        s.synack_to_ack_ms = self.synack_to_ack.distribution();
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

fn input_summary(input: &crate::analysis::pipeline::InputReport) -> InputSummary {
    let (format, byte_order, precision, version) = match &input.format {
        None => (None, None, None, None),
        Some(Format::Pcap {
            big_endian,
            nanosecond,
            modified,
            version,
        }) => (
            Some(if *modified { "pcap-modified" } else { "pcap" }),
            Some(if *big_endian {
                "big-endian"
            } else {
                "little-endian"
            }),
            Some(if *nanosecond { "ns" } else { "us" }),
            Some(format!("{}.{}", version.0, version.1)),
        ),
        Some(Format::PcapNg { big_endian }) => (
            Some("pcapng"),
            Some(if *big_endian {
                "big-endian"
            } else {
                "little-endian"
            }),
            None,
            Some("1.0".to_string()),
        ),
    };
    let st = &input.stats;
    InputSummary {
        file: input.name.clone(),
        format,
        byte_order,
        timestamp_precision: precision,
        version,
        link_types: input
            .link_types
            .iter()
            .map(|l| LinkTypeSummary {
                id: l.0,
                name: l.name(),
                supported: l.is_supported(),
            })
            .collect(),
        snaplen: input.snaplen,
        packets: st.packets,
        first_packet: st.first_ts.map(JsonTime),
        last_packet: st.last_ts.map(JsonTime),
        duration_s: match (st.first_ts, st.last_ts) {
            (Some(a), Some(b)) => Some(Seconds(b.saturating_since(a))),
            _ => None,
        },
        backwards_timestamps: st.backwards_timestamps,
        invalid_subsecond_timestamps: st.invalid_subsecond,
        error: input.error.as_ref().map(|e| e.to_string()),
    }
}

impl Report {
    pub fn build(mut analysis: Analysis) -> Report {
        let retired = std::mem::take(&mut analysis.unlisted);
        let mut warnings = Vec::new();
        for input in &analysis.inputs {
            if let Some(e) = &input.error {
                if e.is_midstream() {
                    warnings.push(format!(
                        "{}: {e}; the report covers the {} packet(s) read before it",
                        input.name, input.stats.packets
                    ));
                }
            }
            let st = &input.stats;
            if st.backwards_timestamps > 0 {
                warnings.push(format!(
                    "{}: {} packet(s) have a timestamp earlier than the packet before; intervals across them count as zero",
                    input.name, st.backwards_timestamps
                ));
            }
            if st.invalid_subsecond > 0 {
                warnings.push(format!(
                    "{}: {} record(s) have a sub-second timestamp field out of range",
                    input.name, st.invalid_subsecond
                ));
            }
            for l in input.link_types.iter().filter(|l| !l.is_supported()) {
                warnings.push(format!(
                    "{}: link type {} is not supported; its packets are counted as unsupported_link",
                    input.name, l.0
                ));
            }
        }
        let p = &analysis.packets;
        if p.undecodable > 0 {
            warnings.push(format!(
                "{} packet(s) could not be decoded (cut inside a header or malformed)",
                p.undecodable
            ));
        }
        // The warning is about the connections listed, not those a capture let go of.
        let midstream = analysis.listed.counts().closes.midstream;
        let mut summary = retired;
        summary.merge(&analysis.listed);
        let summary = summary.finish();
        if analysis.evicted > 0 {
            warnings.push(format!(
                "{} connection(s) evicted to stay under --max-connections: counted in the summary, not listed",
                analysis.evicted
            ));
        }
        if midstream > 0 {
            warnings.push(format!(
                "{midstream} connection(s) started before the capture: their handshakes are not measured (start capturing before clients connect)"
            ));
        }
        Report {
            synack_version: env!("CARGO_PKG_VERSION"),
            inputs: analysis.inputs.iter().map(input_summary).collect(),
            packets: analysis.packets.clone(),
            summary,
            connections: ConnectionList(analysis.connections),
            warnings,
            capture: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        for dir in ["tcp", "app", "decode"] {
            let files = std::fs::read_dir(root.join(dir)).unwrap();
            paths.extend(files.map(|e| e.unwrap().path()));
        }
        paths.sort();
        let records = |p: &std::path::PathBuf| {
            let analysis =
                crate::analysis::pipeline::analyze_paths(std::slice::from_ref(p), &Default::default());
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
        assert!(!whole.contains(":0,") && !whole.contains(":0}"), "{whole}");
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
