//! One TCP connection as the flow table keeps it: who is who, when, its tracker and
//! app detector.

use std::net::SocketAddr;
use std::time::Duration;

use crate::app::detector::AppDetector;
use crate::decode::key::FlowKey;
use crate::model::connection_record::RoleBasis;
use crate::model::event::{ConnectionView, KeepaliveSoFar};
use crate::model::time::Timestamp;
use crate::tcp::tracker::TcpTracker;
use crate::tcp::zeek_observer::ZeekObserver;

/// One TCP connection: who is who, when, and its tracker.
#[derive(Clone, Debug)]
pub struct Connection {
    /// Stable id, in order of first packet (starting at 1).
    pub id: u64,
    /// Number of the connection's first packet in the input (from 1), which orders
    /// connections the same way however the work was split.
    pub first_packet: u64,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub roles: RoleBasis,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// Started by a SYN on a 4-tuple whose previous connection was in TIME_WAIT.
    pub reused_time_wait: bool,
    pub tcp: TcpTracker,
    pub(crate) key: FlowKey,
    /// The client is the key's first endpoint: tells a segment's sender without comparing
    /// addresses again.
    pub(crate) client_is_lo: bool,
    /// What runs over it (HTTP, TLS, SSH…), from the first payload bytes.
    pub app: AppDetector,
    /// What Zeek's conn.log would say of it.
    pub zeek: ZeekObserver,
}

impl Connection {
    /// What event printers may know of it (`crate::model::event`).
    pub fn view(&self) -> ConnectionView {
        let keepalive = |e: &crate::tcp::tracker::Endpoint| KeepaliveSoFar {
            probes: e.keepalive.probes,
            acks: e.keepalive.acks,
            idle_before_first: e.keepalive.idle_before_first,
        };
        let t = &self.tcp;
        ConnectionView {
            id: self.id,
            first_packet: self.first_packet,
            client: self.client,
            server: self.server,
            first_seen: self.first_seen,
            base_seq: [t.client.base_seq, t.server.base_seq],
            refused: t.refused,
            first_fin: t.first_fin.map(|(side, _)| side),
            keepalive: [keepalive(&t.client), keepalive(&t.server)],
        }
    }

    /// Zeek's view of it (`crate::model::zeek`).
    pub fn zeek_facts(&self) -> crate::model::zeek::ZeekFacts {
        self.zeek.facts()
    }

    pub fn duration(&self) -> Duration {
        self.last_seen.saturating_since(self.first_seen)
    }
}
