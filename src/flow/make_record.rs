//! A connection's record, made from the flow table's working state when it is let go of.

use std::time::Duration;

use crate::model::connection_record::{ConnectionRecord, SideFigures};
use crate::model::state::Anomaly;
use crate::tcp::connection::Connection;
use crate::tcp::tracker::Endpoint;

impl SideFigures {
    pub fn of(e: &Endpoint) -> Self {
        SideFigures {
            packets: e.packets,
            bytes: e.bytes,
            payload_bytes: e.payload_bytes,
            fins: e.fins,
            rsts: e.rsts,
            retransmissions: e.retransmissions(),
            out_of_order: e.out_of_order(),
            loss: e.evidence.counts(),
            ordering_evidence: e.evidence.ordering(),
            tshark_retransmissions: e.tshark_retransmissions,
            tshark_out_of_order: e.tshark_out_of_order,
            zero_window_probes: e.zero_window_probes,
            keepalive_probes: e.keepalive.probes,
            keepalive_acks: e.keepalive.acks,
        }
    }
}

impl ConnectionRecord {
    pub fn of(c: &Connection) -> Self {
        let t = &c.tcp;
        let (kc, ks) = (&t.client.keepalive, &t.server.keepalive);
        let keepalive_idle = match (kc.first_probe, ks.first_probe) {
            (Some(a), Some(b)) if b < a => ks.idle_before_first,
            (Some(_), _) => kc.idle_before_first,
            (None, Some(_)) => ks.idle_before_first,
            (None, None) => None,
        };
        let mut anomalies = [0; Anomaly::ALL.len()];
        for (a, n) in t.anomalies() {
            anomalies[a.index()] = n;
        }
        ConnectionRecord {
            id: c.id,
            first_packet: c.first_packet,
            client: c.client,
            server: c.server,
            roles: c.roles,
            first_seen: c.first_seen,
            last_seen: c.last_seen,
            reused_time_wait: c.reused_time_wait,
            handshake: t.handshake.clone(),
            client_state: t.client.state,
            server_state: t.server.state,
            close: t.close_kind(),
            closer: t.closer,
            reset: t.reset,
            midstream: t.midstream,
            time_wait: t.time_wait_sides(),
            rst_answering_syn: t.rst_answering_syn,
            client_figures: SideFigures::of(&t.client),
            server_figures: SideFigures::of(&t.server),
            keepalive_idle,
            keepalive_interval: median(kc.intervals.iter().chain(&ks.intervals).copied()),
            anomalies,
            rtt: t.rtt.figures(),
            app: c.app.label(),
            zeek: c.zeek_facts(),
        }
    }
}

fn median(values: impl Iterator<Item = Duration>) -> Option<Duration> {
    let mut v: Vec<Duration> = values.collect();
    v.sort_unstable();
    match v.len() {
        0 => None,
        n if n % 2 == 1 => Some(v[n / 2]),
        n => Some((v[n / 2 - 1] + v[n / 2]) / 2),
    }
}
