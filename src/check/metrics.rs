//! The figures a rule can check: one entry per figure of `synack report`'s summary, each
//! measured by the per-connection function that the summary folds
//! (`crate::model::figures`), and the limit flags on it.

use std::fmt;

use serde::ser::{Serialize, Serializer};

use crate::check::Unit;
use crate::model::connection_record::{ConnectionRecord, SideFigures};
use crate::model::figures;
use crate::model::state::{CloseKind, Closer};
use crate::model::summary::{Distribution, Summary};
use crate::model::units::Millis;

// ---------------------------------------------------------------------------------------
// The figures a rule can check.

/// How a figure is measured over the selected connections.
#[derive(Clone, Copy)]
pub enum Measure {
    /// Summed over connections; `what` says what one connection contributed.
    Count {
        of: figures::Count,
        what: fn(&ConnectionRecord) -> String,
    },
    /// A nearest-rank percentile (as the report's distributions) of per-connection values.
    Latency {
        of: figures::Latency,
        pick: fn(&Distribution) -> Option<Millis>,
        /// What the per-connection value is called, e.g. `handshake RTT`.
        what: &'static str,
        /// The report summary's distribution of `of` over every connection, which an
        /// unfiltered rule reads instead of ranking the connections again.
        summary: fn(&Summary) -> &Distribution,
    },
}

/// One figure of `synack report` and the limit flags on it.
pub struct MetricDef {
    /// Where the figure sits in `synack report --format json`.
    pub figure: &'static str,
    /// What it is, for messages: `RST packets`.
    pub label: &'static str,
    /// The section of docs/metrics.md that defines it.
    pub doc: &'static str,
    pub max: Option<&'static str>,
    pub min: Option<&'static str>,
    pub measure: Measure,
}

impl MetricDef {
    pub fn unit(&self) -> Unit {
        match self.measure {
            Measure::Count { .. } => Unit::Count,
            Measure::Latency { .. } => Unit::Millis,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bound {
    Max,
    Min,
}

/// A limit flag or rules-file key: `max-rst` is the maximum of the `RST packets` figure.
#[derive(Clone, Copy)]
pub struct LimitKey {
    pub name: &'static str,
    pub bound: Bound,
    pub metric: &'static MetricDef,
}

impl fmt::Debug for LimitKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl PartialEq for LimitKey {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Serialize for LimitKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name)
    }
}

/// Every limit, in the order `--help` and docs/check.md list them.
pub fn limit_keys() -> impl Iterator<Item = LimitKey> {
    METRICS.iter().flat_map(|m| {
        [(Bound::Max, m.max), (Bound::Min, m.min)]
            .into_iter()
            .filter_map(move |(bound, name)| {
                name.map(|name| LimitKey {
                    name,
                    bound,
                    metric: m,
                })
            })
    })
}

pub fn limit_key(name: &str) -> Option<LimitKey> {
    limit_keys().find(|k| k.name == name)
}

/// How the connection ended, in words, so a reader knows what to look for in the packets.
pub fn describe_close(c: &ConnectionRecord) -> String {
    let by = |who: Option<&str>| who.unwrap_or("?").to_string();
    let closed_by = c.closer.map(Closer::as_str);
    let mut text = match c.close {
        CloseKind::Refused => "refused: the server answered the SYN with a RST".to_string(),
        CloseKind::Reset => format!(
            "reset by the {} in {}",
            by(c.reset.map(|r| r.by.as_str())),
            c.reset.map_or("?", |r| r.sender_state.as_str())
        ),
        CloseKind::Unanswered => {
            let h = &c.handshake;
            let seen = h.syn_count > 0 || h.synack_count > 0;
            let syns = if seen { h.syn_retransmits() + 1 } else { 0 };
            format!("SYN unanswered ({} sent)", count_what(syns, "SYN", "SYNs"))
        }
        CloseKind::HandshakeIncomplete => {
            "handshake incomplete: the SYN/ACK was never acknowledged".into()
        }
        CloseKind::HalfClosed => format!("half-closed: FIN from the {} only", by(closed_by)),
        CloseKind::Open => "still open at the end of the capture".to_string(),
        CloseKind::Fin => match c.closer {
            Some(Closer::Both) => "closed by both sides at once (FINs crossed)".to_string(),
            _ => format!("closed with FIN, first by the {}", by(closed_by)),
        },
    };
    if c.midstream {
        text.push_str(" (started before the capture)");
    }
    text
}

pub(crate) fn count_what(n: u64, singular: &str, plural: &str) -> String {
    format!("{n} {}", if n == 1 { singular } else { plural })
}

fn rst_what(c: &ConnectionRecord) -> String {
    let sent = match (c.client_figures.rsts, c.server_figures.rsts) {
        (n, 0) => format!("{} from the client", count_what(n, "RST", "RSTs")),
        (0, n) => format!("{} from the server", count_what(n, "RST", "RSTs")),
        (a, b) => format!(
            "{} from the client and {b} from the server",
            count_what(a, "RST", "RSTs")
        ),
    };
    format!("{sent}; {}", describe_close(c))
}

fn time_wait_what(c: &ConnectionRecord) -> String {
    let side = match c.time_wait {
        (true, true) => "both sides end",
        (false, true) => "the server ends",
        _ => "the client ends",
    };
    format!("{side} in TIME_WAIT; {}", describe_close(c))
}

fn keepalive_what(c: &ConnectionRecord) -> String {
    format!(
        "{} ({} from the client, {} from the server), {} unanswered",
        count_what(
            figures::keepalive_probes(c),
            "keep-alive probe",
            "keep-alive probes"
        ),
        c.client_figures.keepalive_probes,
        c.server_figures.keepalive_probes,
        figures::keepalive_unanswered(c)
    )
}

fn retransmission_what(c: &ConnectionRecord) -> String {
    let kinds = |e: &SideFigures| {
        let l = &e.loss;
        [l.fast, l.timeout, l.tail_loss_probe, l.unclassified]
    };
    let [fast, timeout, probes, unclassified] = {
        let (a, b) = (kinds(&c.client_figures), kinds(&c.server_figures));
        [0, 1, 2, 3].map(|i| u64::from(a[i]) + u64::from(b[i]))
    };
    format!(
        "{} (client {}, server {}): {fast} fast, {timeout} after a timeout, {probes} tail-loss probe(s), {unclassified} unclassified",
        count_what(
            figures::retransmissions(c),
            "retransmission",
            "retransmissions"
        ),
        c.client_figures.retransmissions,
        c.server_figures.retransmissions
    )
}

/// `n` of something per side: `2 segments lost after the capture point (client 0,
/// server 2)`.
fn per_side_what(
    c: &ConnectionRecord,
    of: impl Fn(&SideFigures) -> u64,
    singular: &str,
    plural: &str,
) -> String {
    let (client, server) = (of(&c.client_figures), of(&c.server_figures));
    format!(
        "{} (client {client}, server {server})",
        count_what(client + server, singular, plural)
    )
}

macro_rules! count {
    ($figure:literal, $label:literal, $doc:expr, $max:expr, $min:expr, $of:expr, $what:expr) => {
        MetricDef {
            figure: $figure,
            label: $label,
            doc: $doc,
            max: $max,
            min: $min,
            measure: Measure::Count {
                of: $of,
                what: $what,
            },
        }
    };
}

macro_rules! latency {
    ($figure:literal, $label:literal, $max:literal, $of:expr, $summary:expr, $pick:expr, $what:literal) => {
        latency!($figure, $label, $max, $of, $summary, $pick, $what, HANDSHAKE)
    };
    ($figure:literal, $label:literal, $max:literal, $of:expr, $summary:expr, $pick:expr, $what:literal, $doc:expr) => {
        MetricDef {
            figure: $figure,
            label: $label,
            doc: $doc,
            max: Some($max),
            min: None,
            measure: Measure::Latency {
                of: $of,
                pick: $pick,
                what: $what,
                summary: $summary,
            },
        }
    };
}

const HANDSHAKE: &str = "docs/metrics.md#handshake-per-connection-handshake";
const CLOSES: &str = "docs/metrics.md#closes";
const RST_FIN: &str = "docs/metrics.md#rst-and-fin";
const TIME_WAIT: &str = "docs/metrics.md#time_wait";
const KEEPALIVE: &str = "docs/metrics.md#keep-alive-and-zero-window-probes";
const EVIDENCE: &str = "docs/metrics.md#retransmissions-and-reordering-by-evidence";
const TSHARK: &str = "docs/metrics.md#tshark-compatible-figures";
const PATH_RTT: &str = "docs/metrics.md#path-rtt-per-connection-rtt";

/// Every figure of the report's summary that a rule can check. `summary.rst.answering_syn`
/// is not here: the report keeps it as a total only, with no per-connection figure to
/// filter or to name offenders by (`refused` counts the same connections).
pub static METRICS: &[MetricDef] = &[
    count!(
        "summary.connections",
        "connections",
        "docs/inputs.md#connections",
        Some("max-connections"),
        Some("min-connections"),
        figures::connection,
        describe_close
    ),
    count!(
        "summary.handshakes.attempted",
        "handshakes attempted",
        HANDSHAKE,
        Some("max-handshakes"),
        Some("min-handshakes"),
        figures::handshake_attempted,
        describe_close
    ),
    count!(
        "summary.handshakes.completed",
        "handshakes completed",
        HANDSHAKE,
        Some("max-handshakes-completed"),
        Some("min-handshakes-completed"),
        figures::handshake_completed,
        describe_close
    ),
    count!(
        "summary.handshakes.syn_retransmits",
        "SYN retransmissions",
        HANDSHAKE,
        Some("max-syn-retransmits"),
        None,
        figures::syn_retransmits,
        |c| format!(
            "{}; {}",
            count_what(
                figures::syn_retransmits(c),
                "SYN retransmission",
                "SYN retransmissions"
            ),
            describe_close(c)
        )
    ),
    count!(
        "summary.handshakes.synack_retransmits",
        "SYN/ACK retransmissions",
        HANDSHAKE,
        Some("max-synack-retransmits"),
        None,
        figures::synack_retransmits,
        |c| format!(
            "{}; {}",
            count_what(
                figures::synack_retransmits(c),
                "SYN/ACK retransmission",
                "SYN/ACK retransmissions"
            ),
            describe_close(c)
        )
    ),
    latency!(
        "summary.handshake_rtt_ms.p50",
        "handshake RTT p50",
        "max-handshake-p50-ms",
        figures::handshake_rtt,
        |s| &s.handshake_rtt_ms,
        |d| d.p50,
        "handshake RTT"
    ),
    latency!(
        "summary.handshake_rtt_ms.p90",
        "handshake RTT p90",
        "max-handshake-p90-ms",
        figures::handshake_rtt,
        |s| &s.handshake_rtt_ms,
        |d| d.p90,
        "handshake RTT"
    ),
    latency!(
        "summary.handshake_rtt_ms.p99",
        "handshake RTT p99",
        "max-handshake-p99-ms",
        figures::handshake_rtt,
        |s| &s.handshake_rtt_ms,
        |d| d.p99,
        "handshake RTT"
    ),
    latency!(
        "summary.handshake_rtt_ms.max",
        "handshake RTT max",
        "max-handshake-max-ms",
        figures::handshake_rtt,
        |s| &s.handshake_rtt_ms,
        |d| d.max,
        "handshake RTT"
    ),
    latency!(
        "summary.connect_ms.p50",
        "connect time p50",
        "max-connect-p50-ms",
        figures::connect_time,
        |s| &s.connect_ms,
        |d| d.p50,
        "connect time"
    ),
    latency!(
        "summary.connect_ms.p90",
        "connect time p90",
        "max-connect-p90-ms",
        figures::connect_time,
        |s| &s.connect_ms,
        |d| d.p90,
        "connect time"
    ),
    latency!(
        "summary.connect_ms.p99",
        "connect time p99",
        "max-connect-p99-ms",
        figures::connect_time,
        |s| &s.connect_ms,
        |d| d.p99,
        "connect time"
    ),
    latency!(
        "summary.connect_ms.max",
        "connect time max",
        "max-connect-max-ms",
        figures::connect_time,
        |s| &s.connect_ms,
        |d| d.max,
        "connect time"
    ),
    latency!(
        "summary.syn_to_synack_ms.p50",
        "SYN→SYN/ACK p50",
        "max-syn-synack-p50-ms",
        figures::syn_to_synack,
        |s| &s.syn_to_synack_ms,
        |d| d.p50,
        "SYN→SYN/ACK"
    ),
    latency!(
        "summary.syn_to_synack_ms.p90",
        "SYN→SYN/ACK p90",
        "max-syn-synack-p90-ms",
        figures::syn_to_synack,
        |s| &s.syn_to_synack_ms,
        |d| d.p90,
        "SYN→SYN/ACK"
    ),
    latency!(
        "summary.syn_to_synack_ms.p99",
        "SYN→SYN/ACK p99",
        "max-syn-synack-p99-ms",
        figures::syn_to_synack,
        |s| &s.syn_to_synack_ms,
        |d| d.p99,
        "SYN→SYN/ACK"
    ),
    latency!(
        "summary.syn_to_synack_ms.max",
        "SYN→SYN/ACK max",
        "max-syn-synack-max-ms",
        figures::syn_to_synack,
        |s| &s.syn_to_synack_ms,
        |d| d.max,
        "SYN→SYN/ACK"
    ),
    latency!(
        "summary.synack_to_ack_ms.p50",
        "SYN/ACK→ACK p50",
        "max-synack-ack-p50-ms",
        figures::synack_to_ack,
        |s| &s.synack_to_ack_ms,
        |d| d.p50,
        "SYN/ACK→ACK"
    ),
    latency!(
        "summary.synack_to_ack_ms.p90",
        "SYN/ACK→ACK p90",
        "max-synack-ack-p90-ms",
        figures::synack_to_ack,
        |s| &s.synack_to_ack_ms,
        |d| d.p90,
        "SYN/ACK→ACK"
    ),
    latency!(
        "summary.synack_to_ack_ms.p99",
        "SYN/ACK→ACK p99",
        "max-synack-ack-p99-ms",
        figures::synack_to_ack,
        |s| &s.synack_to_ack_ms,
        |d| d.p99,
        "SYN/ACK→ACK"
    ),
    latency!(
        "summary.synack_to_ack_ms.max",
        "SYN/ACK→ACK max",
        "max-synack-ack-max-ms",
        figures::synack_to_ack,
        |s| &s.synack_to_ack_ms,
        |d| d.max,
        "SYN/ACK→ACK"
    ),
    latency!(
        "summary.rtt_client_side_ms.p50",
        "path RTT, client side, p50",
        "max-rtt-client-p50-ms",
        figures::rtt_client_side,
        |s| &s.rtt_client_side_ms,
        |d| d.p50,
        "median path RTT, client side",
        PATH_RTT
    ),
    latency!(
        "summary.rtt_client_side_ms.p90",
        "path RTT, client side, p90",
        "max-rtt-client-p90-ms",
        figures::rtt_client_side,
        |s| &s.rtt_client_side_ms,
        |d| d.p90,
        "median path RTT, client side",
        PATH_RTT
    ),
    latency!(
        "summary.rtt_client_side_ms.p99",
        "path RTT, client side, p99",
        "max-rtt-client-p99-ms",
        figures::rtt_client_side,
        |s| &s.rtt_client_side_ms,
        |d| d.p99,
        "median path RTT, client side",
        PATH_RTT
    ),
    latency!(
        "summary.rtt_client_side_ms.max",
        "path RTT, client side, max",
        "max-rtt-client-max-ms",
        figures::rtt_client_side,
        |s| &s.rtt_client_side_ms,
        |d| d.max,
        "median path RTT, client side",
        PATH_RTT
    ),
    latency!(
        "summary.rtt_server_side_ms.p50",
        "path RTT, server side, p50",
        "max-rtt-server-p50-ms",
        figures::rtt_server_side,
        |s| &s.rtt_server_side_ms,
        |d| d.p50,
        "median path RTT, server side",
        PATH_RTT
    ),
    latency!(
        "summary.rtt_server_side_ms.p90",
        "path RTT, server side, p90",
        "max-rtt-server-p90-ms",
        figures::rtt_server_side,
        |s| &s.rtt_server_side_ms,
        |d| d.p90,
        "median path RTT, server side",
        PATH_RTT
    ),
    latency!(
        "summary.rtt_server_side_ms.p99",
        "path RTT, server side, p99",
        "max-rtt-server-p99-ms",
        figures::rtt_server_side,
        |s| &s.rtt_server_side_ms,
        |d| d.p99,
        "median path RTT, server side",
        PATH_RTT
    ),
    latency!(
        "summary.rtt_server_side_ms.max",
        "path RTT, server side, max",
        "max-rtt-server-max-ms",
        figures::rtt_server_side,
        |s| &s.rtt_server_side_ms,
        |d| d.max,
        "median path RTT, server side",
        PATH_RTT
    ),
    count!(
        "summary.closes.fin",
        "connections closed with FIN",
        CLOSES,
        Some("max-fin-closes"),
        Some("min-fin-closes"),
        figures::closed_fin,
        describe_close
    ),
    count!(
        "summary.closes.reset",
        "connections reset",
        CLOSES,
        Some("max-resets"),
        None,
        figures::closed_reset,
        describe_close
    ),
    count!(
        "summary.closes.refused",
        "connections refused",
        CLOSES,
        Some("max-refused"),
        None,
        figures::closed_refused,
        describe_close
    ),
    count!(
        "summary.closes.unanswered",
        "SYNs unanswered",
        CLOSES,
        Some("max-unanswered"),
        None,
        figures::closed_unanswered,
        describe_close
    ),
    count!(
        "summary.closes.handshake_incomplete",
        "handshakes incomplete",
        CLOSES,
        Some("max-handshake-incomplete"),
        None,
        figures::closed_handshake_incomplete,
        describe_close
    ),
    count!(
        "summary.closes.half_closed",
        "connections half-closed",
        CLOSES,
        Some("max-half-closed"),
        None,
        figures::closed_half,
        describe_close
    ),
    count!(
        "summary.closes.open",
        "connections still open",
        CLOSES,
        Some("max-open"),
        None,
        figures::still_open,
        describe_close
    ),
    count!(
        "summary.closes.midstream",
        "connections started before the capture",
        CLOSES,
        Some("max-midstream"),
        None,
        figures::midstream,
        describe_close
    ),
    count!(
        "summary.closes.abnormal",
        "abnormal closes",
        CLOSES,
        Some("max-abnormal"),
        None,
        figures::abnormal,
        describe_close
    ),
    count!(
        "summary.rst.packets",
        "RST packets",
        RST_FIN,
        Some("max-rst"),
        None,
        figures::rst_packets,
        rst_what
    ),
    count!(
        "summary.rst.from_client",
        "RST packets from clients",
        RST_FIN,
        Some("max-client-rst"),
        None,
        figures::rst_from_client,
        rst_what
    ),
    count!(
        "summary.rst.from_server",
        "RST packets from servers",
        RST_FIN,
        Some("max-server-rst"),
        None,
        figures::rst_from_server,
        rst_what
    ),
    count!(
        "summary.fin_packets",
        "FIN packets",
        RST_FIN,
        Some("max-fin-packets"),
        None,
        figures::fin_packets,
        |c| format!(
            "{} FIN from the client, {} from the server",
            c.client_figures.fins, c.server_figures.fins
        )
    ),
    count!(
        "summary.time_wait.client",
        "clients in TIME_WAIT",
        TIME_WAIT,
        Some("max-client-time-wait"),
        None,
        figures::time_wait_client,
        time_wait_what
    ),
    count!(
        "summary.time_wait.server",
        "servers in TIME_WAIT",
        TIME_WAIT,
        Some("max-server-time-wait"),
        None,
        figures::time_wait_server,
        time_wait_what
    ),
    count!(
        "summary.time_wait.simultaneous",
        "simultaneous closes",
        TIME_WAIT,
        Some("max-simultaneous-closes"),
        None,
        figures::simultaneous_close,
        time_wait_what
    ),
    count!(
        "summary.time_wait.reused",
        "4-tuples reused within 2·MSL of TIME_WAIT",
        TIME_WAIT,
        Some("max-time-wait-reused"),
        None,
        figures::time_wait_reused,
        |c| format!(
            "its SYN reused a 4-tuple still in TIME_WAIT; {}",
            describe_close(c)
        )
    ),
    count!(
        "summary.keepalive.probes",
        "keep-alive probes",
        KEEPALIVE,
        Some("max-keepalive-probes"),
        None,
        figures::keepalive_probes,
        keepalive_what
    ),
    count!(
        "summary.keepalive.unanswered",
        "keep-alive probes unanswered",
        KEEPALIVE,
        Some("max-keepalive-unanswered"),
        None,
        figures::keepalive_unanswered,
        keepalive_what
    ),
    count!(
        "summary.keepalive.connections",
        "connections with keep-alive probes",
        KEEPALIVE,
        Some("max-keepalive-connections"),
        None,
        figures::keepalive_connection,
        keepalive_what
    ),
    count!(
        "summary.zero_window_probes",
        "zero-window probes",
        KEEPALIVE,
        Some("max-zero-window-probes"),
        None,
        figures::zero_window_probes,
        |c| count_what(
            figures::zero_window_probes(c),
            "zero-window probe",
            "zero-window probes"
        )
    ),
    count!(
        "summary.retransmissions",
        "retransmissions",
        EVIDENCE,
        Some("max-retransmissions"),
        None,
        figures::retransmissions,
        retransmission_what
    ),
    count!(
        "summary.out_of_order",
        "segments out of order (late originals)",
        EVIDENCE,
        Some("max-out-of-order"),
        None,
        figures::out_of_order,
        |c| per_side_what(
            c,
            |e| e.out_of_order,
            "segment out of order",
            "segments out of order"
        )
    ),
    count!(
        "summary.spurious_retransmissions",
        "spurious retransmissions",
        EVIDENCE,
        Some("max-spurious-retransmissions"),
        None,
        figures::spurious_retransmissions,
        |c| per_side_what(
            c,
            |e| e.loss.spurious.into(),
            "spurious retransmission",
            "spurious retransmissions"
        )
    ),
    count!(
        "summary.network_duplicates",
        "network duplicates",
        EVIDENCE,
        Some("max-network-duplicates"),
        None,
        figures::network_duplicates,
        |c| per_side_what(
            c,
            |e| e.loss.network_duplicates.into(),
            "network duplicate",
            "network duplicates"
        )
    ),
    count!(
        "summary.lost_before_capture",
        "segments lost before the capture point",
        EVIDENCE,
        Some("max-lost-before-capture"),
        None,
        figures::lost_before_capture,
        |c| per_side_what(
            c,
            |e| e.loss.lost_before_capture.into(),
            "segment lost before the capture point",
            "segments lost before the capture point"
        )
    ),
    count!(
        "summary.lost_after_capture",
        "segments lost after the capture point",
        EVIDENCE,
        Some("max-lost-after-capture"),
        None,
        figures::lost_after_capture,
        |c| per_side_what(
            c,
            |e| e.loss.lost_after_capture.into(),
            "segment lost after the capture point",
            "segments lost after the capture point"
        )
    ),
    count!(
        "summary.tshark_retransmissions",
        "retransmissions as tshark counts them",
        TSHARK,
        Some("max-tshark-retransmissions"),
        None,
        figures::tshark_retransmissions,
        |c| per_side_what(
            c,
            |e| e.tshark_retransmissions,
            "tshark retransmission",
            "tshark retransmissions"
        )
    ),
    count!(
        "summary.tshark_out_of_order",
        "segments out of order as tshark counts them",
        TSHARK,
        Some("max-tshark-out-of-order"),
        None,
        figures::tshark_out_of_order,
        |c| per_side_what(
            c,
            |e| e.tshark_out_of_order,
            "tshark out-of-order segment",
            "tshark out-of-order segments"
        )
    ),
];
