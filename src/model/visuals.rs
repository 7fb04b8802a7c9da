//! What the HTML report draws beyond the report itself: the capture cut into time
//! buckets (connections opened by outcome, RSTs, bytes, handshake RTT percentiles),
//! latency histograms, and the worst connections with their ladder and time-sequence
//! graph. `crate::analysis::visuals` builds it from the report's connections and the
//! events of the connections it kept; `crate::output::html` draws it. All of it is
//! bounded whatever the capture's size.

use std::time::Duration;

use crate::model::connection_record::ConnectionRecord;
use crate::model::ladder::Ladder;
use crate::model::seq_graph::SeqGraph;
use crate::model::state::CloseKind;
use crate::model::time::Timestamp;

/// Time buckets at most.
pub const MAX_BUCKETS: usize = 120;

/// One interval of the capture.
#[derive(Clone, Debug, Default)]
pub struct Bucket {
    /// Connections whose first packet fell in it, by close kind (`CloseKind::ALL`'s order).
    pub opened: [u64; CloseKind::ALL.len()],
    /// RST packets of the connections whose first RST fell in it.
    pub rsts: u64,
    /// Wire bytes, each connection's spread evenly over its life.
    pub bytes: f64,
    /// Handshake RTT percentiles of the connections opened in it.
    pub rtt_p50: Option<Duration>,
    pub rtt_p99: Option<Duration>,
}

/// A latency histogram on logarithmic bins.
#[derive(Clone, Debug)]
pub struct LatencyHistogram {
    /// Machine name (`handshake_rtt_ms`, as the summary's key).
    pub key: &'static str,
    /// What a reader calls it.
    pub label: &'static str,
    /// Bin upper edges; the last bin takes everything above the one before.
    pub upper: Vec<Duration>,
    /// Connections per bin (values below the first edge fall in the first bin).
    pub counts: Vec<u64>,
    /// Connections with the figure.
    pub total: u64,
}

/// One of the worst connections, with its drawings.
#[derive(Debug)]
pub struct WorstConnection {
    pub record: ConnectionRecord,
    /// Why it is here, in words.
    pub why: String,
    pub ladder: Ladder,
    pub seq: SeqGraph,
}

#[derive(Debug, Default)]
pub struct Visuals {
    /// Start of the first bucket (the first packet).
    pub start: Option<Timestamp>,
    pub bucket: Duration,
    pub buckets: Vec<Bucket>,
    pub latency: Vec<LatencyHistogram>,
    pub worst: Vec<WorstConnection>,
    /// Abnormal connections and completed handshakes in all: the pools the worst come
    /// from, for saying how many were left out.
    pub abnormal_total: u64,
    pub handshakes_total: u64,
    /// Connections whose events were not kept (over the tracer's bounds): they could not
    /// be drawn, and were passed over when picking the worst.
    pub untraced: u64,
}
