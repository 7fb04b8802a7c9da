//! The round-trip time through a connection, per side of the capture point
//! (`crate::tcp::rtt`; docs/metrics.md, "Path RTT").

use std::time::Duration;

/// What the samples of one side came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RttSource {
    /// TSval → the first TSecr that echoes it (Kathleen Nichols' pping).
    #[default]
    Timestamps,
    /// A data segment → the ACK that covers it exactly, under Karn's rule.
    DataAck,
}

impl RttSource {
    pub fn as_str(self) -> &'static str {
        match self {
            RttSource::Timestamps => "timestamps",
            RttSource::DataAck => "data_ack",
        }
    }
}

/// The RTT of the path between the capture point and one endpoint, and back: from a
/// segment the capture saw go towards that endpoint to the answer it saw come back.
/// `min` and `max` are exact; `median` and `p99` come from a log-scale sketch
/// (`crate::tcp::rtt::Sketch`, within 6.25 %).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathRtt {
    pub samples: u64,
    pub min: Duration,
    pub median: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub source: RttSource,
}

/// Both sides of a connection's capture point: `client_side` is the path between the
/// capture point and the client (a server segment seen → the client's answer seen),
/// `server_side` the other. Their sum is the end-to-end RTT. `None`: no sample.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnectionRtt {
    pub client_side: Option<PathRtt>,
    pub server_side: Option<PathRtt>,
}
