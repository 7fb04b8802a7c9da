//! Structure-aware: a sequence of decoded TCP segments among a few endpoints (flags,
//! sequence and acknowledgment numbers relative to what each side sent, lengths, times
//! that may go backwards), with retirement and eviction as live capture does them, fed
//! to the flow table and built into a report.
//!
//! Invariants checked: every segment is counted in exactly one connection and causes
//! exactly one `Segment` event; no per-endpoint count exceeds the packets it sent; a
//! segment is classified at most one way (retransmission, out-of-order, keep-alive,
//! zero-window probe); every connection has one close kind and the summary's closes add
//! up to its connections, which are those listed plus those retired; the JSON
//! serializes and parses.

#![no_main]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use synack::analysis::analyzer::Analysis;
use synack::decode::TcpSegment;
use synack::flow::{FlowTable, Limits};
use synack::model::connection_record::ConnectionRecord;
use synack::model::event::{ConnectionView, Event};
use synack::model::flags::TcpFlags;
use synack::model::report::PacketCounts;
use synack::model::report::Report;
use synack::model::seq::Seq;
use synack::model::state::CloseKind;
use synack::model::summary::{Distribution, SummaryBuilder};
use synack::model::time::Timestamp;
use synack::store::packed_records::PackedRecord;
use synack::tcp::connection::Connection;

const ENDPOINTS: [&str; 4] = [
    "10.0.0.1:80",
    "10.0.0.2:40000",
    "10.0.0.2:40001",
    "[2001:db8::1]:443",
];

#[derive(Arbitrary, Debug)]
enum SeqChoice {
    /// The next sequence number the side would send (for an ACK: all the peer sent).
    Next,
    Back(u16),
    Ahead(u16),
    Any(u32),
}

#[derive(Arbitrary, Debug)]
enum Len {
    Zero,
    One,
    Small(u8),
    Mss(u16),
    Any(u32),
}

#[derive(Arbitrary, Debug)]
enum Dt {
    Same,
    Micros(u16),
    Millis(u16),
    Secs(u16),
    /// Capture time going backwards.
    Back(u32),
}

#[derive(Arbitrary, Debug)]
enum Opts {
    None,
    WindowScale(u8),
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Step {
    from: u8,
    to: u8,
    flags: u16,
    seq: SeqChoice,
    ack: SeqChoice,
    len: Len,
    window: u16,
    dt: Dt,
    options: Opts,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Segment(Step),
    /// What live capture does on its tick: retire closed and idle connections.
    Retire,
}

#[derive(Arbitrary, Debug)]
struct Input {
    msl_secs: u8,
    max_connections: Option<u8>,
    idle_timeout_secs: Option<u16>,
    ops: Vec<Op>,
}

/// The fuzzer's own view of each direction: the next sequence number sent.
struct Sent([[u32; 4]; 4]);

impl Sent {
    fn new() -> Self {
        // Start some directions just below 2^32 so wraparound is the rule, not a case.
        let mut s = [[0u32; 4]; 4];
        for (f, row) in s.iter_mut().enumerate() {
            for (t, v) in row.iter_mut().enumerate() {
                *v = 0xffff_f000u32
                    .wrapping_add((f as u32 * 4 + t as u32).wrapping_mul(0x3000_0000));
            }
        }
        Sent(s)
    }
    fn pick(&self, from: usize, to: usize, c: &SeqChoice) -> u32 {
        let next = self.0[from][to];
        match *c {
            SeqChoice::Next => next,
            SeqChoice::Back(n) => next.wrapping_sub(u32::from(n)),
            SeqChoice::Ahead(n) => next.wrapping_add(u32::from(n)),
            SeqChoice::Any(n) => n,
        }
    }
}

fn check_connection(c: &Connection) {
    let t = &c.tcp;
    assert!(c.first_seen <= c.last_seen);
    for (ep, peer) in [(&t.client, &t.server), (&t.server, &t.client)] {
        let n = ep.packets;
        assert!(ep.syns <= n && ep.fins <= n && ep.rsts <= n, "{ep:?}");
        let classified = ep.tshark_retransmissions
            + ep.tshark_out_of_order
            + ep.zero_window_probes
            + ep.keepalive.probes;
        assert!(classified <= n, "a segment classified twice: {ep:?}");
        assert!(ep.keepalive.acks <= ep.keepalive.probes, "{ep:?}");
        assert!(ep.keepalive.acks <= peer.packets, "{ep:?}");
        assert!(ep.payload_bytes <= n * u64::from(u32::MAX));
    }
    assert!(t.handshake.syn_count <= t.client.syns);
    assert!(t.handshake.synack_count <= t.server.syns);
    assert!(t.rst_answering_syn <= t.client.rsts + t.server.rsts);
    assert!(CloseKind::ALL.contains(&t.close_kind()));
}

fn check_distribution(d: &Distribution, connections: u64) {
    assert!(d.count <= connections);
    if d.count > 0 {
        let (min, p50, p90, p99, max) = (
            d.min.unwrap(),
            d.p50.unwrap(),
            d.p90.unwrap(),
            d.p99.unwrap(),
            d.max.unwrap(),
        );
        assert!(
            min <= p50 && p50 <= p90 && p90 <= p99 && p99 <= max,
            "{d:?}"
        );
    } else {
        assert!(d.min.is_none() && d.max.is_none());
    }
}

fuzz_target!(|input: Input| {
    let endpoints: Vec<SocketAddr> = ENDPOINTS.iter().map(|s| s.parse().unwrap()).collect();
    let msl = Duration::from_secs(u64::from(input.msl_secs.max(1)));
    let mut flows = FlowTable::new(msl);
    flows.set_limits(Limits {
        idle_timeout: input
            .idle_timeout_secs
            .map(|s| Duration::from_secs(u64::from(s))),
        retire_closed: input.idle_timeout_secs.is_some(),
        // As live capture: established connections outlast the short timeout (8100 s
        // against 300 s by default).
        established_timeout: input
            .idle_timeout_secs
            .map(|s| Duration::from_secs(u64::from(s) * 27)),
        max_connections: input
            .max_connections
            .map_or(usize::MAX, |n| usize::from(n.max(1))),
    });
    let mut sent = Sent::new();
    let mut now = Timestamp::from_secs_nanos(1_767_225_600, 0);
    let mut retired = SummaryBuilder::default();
    let (mut retired_count, mut segments) = (0u64, 0u64);
    let mut segment_events = 0u64;
    let mut started = 0u64;
    let mut completed: HashMap<u64, u32> = HashMap::new();
    let mut retired_packets = 0u64;

    for op in &input.ops {
        let step = match op {
            Op::Segment(s) => s,
            Op::Retire => {
                flows.retire(now);
                let mut account = |c: &Connection| {
                    check_connection(c);
                    retired_packets += c.tcp.client.packets + c.tcp.server.packets;
                    retired.add(&ConnectionRecord::of(c));
                    retired_count += 1;
                };
                for c in flows.drain_finished() {
                    account(&c);
                }
                flows.take_evicted(usize::MAX, account);
                continue;
            }
        };
        let from = usize::from(step.from) % endpoints.len();
        let mut to = usize::from(step.to) % endpoints.len();
        if to == from {
            to = (to + 1) % endpoints.len();
        }
        let flags = TcpFlags(step.flags & 0x1ff);
        let payload_len = match step.len {
            Len::Zero => 0,
            Len::One => 1,
            Len::Small(n) => u32::from(n),
            Len::Mss(n) => u32::from(n),
            Len::Any(n) => n,
        };
        let seq = sent.pick(from, to, &step.seq);
        let ack = if flags.ack() {
            sent.pick(to, from, &step.ack)
        } else {
            0
        };
        let wscale;
        let options: &[u8] = match &step.options {
            Opts::None => &[],
            Opts::WindowScale(s) => {
                wscale = [3, 3, *s, 1];
                &wscale
            }
            Opts::Raw(v) => &v[..v.len().min(40)],
        };
        let seg = TcpSegment {
            seq: Seq(seq),
            ack: Seq(ack),
            flags,
            window: step.window,
            header_len: 20 + ((options.len() as u16).div_ceil(4) * 4),
            payload_len,
            options,
            ..TcpSegment::between(endpoints[from], endpoints[to])
        };
        now = match step.dt {
            Dt::Same => now,
            Dt::Micros(n) => now.saturating_add(Duration::from_micros(u64::from(n))),
            Dt::Millis(n) => now.saturating_add(Duration::from_millis(u64::from(n))),
            Dt::Secs(n) => now.saturating_add(Duration::from_secs(u64::from(n))),
            Dt::Back(n) => Timestamp::from_nanos(now.as_nanos().saturating_sub(i64::from(n))),
        };
        let end = seq.wrapping_add(seg.seq_len());
        if Seq(end).gt(Seq(sent.0[from][to])) {
            sent.0[from][to] = end;
        }
        segments += 1;
        let wire_len = u32::from(seg.header_len) + 40;
        flows.on_segment(
            &seg,
            wire_len,
            now,
            &mut |c: &ConnectionView, _, e| match e {
                Event::Segment { .. } => segment_events += 1,
                Event::ConnectionStarted { .. } => started += 1,
                Event::HandshakeCompleted { .. } => *completed.entry(c.id).or_default() += 1,
                _ => {}
            },
        );
        assert_eq!(segment_events, segments, "one Segment event per segment");
    }

    // Superseded and evicted connections still waiting to be drained count as listed.
    let mut connections = Vec::new();
    flows.finish(|c| connections.push(c));
    connections.sort_by_key(|c| c.id);
    for c in &connections {
        check_connection(c);
    }
    let listed_packets: u64 = connections
        .iter()
        .map(|c| c.tcp.client.packets + c.tcp.server.packets)
        .sum();
    assert_eq!(retired_packets + listed_packets, segments);
    assert_eq!(started, retired_count + connections.len() as u64);
    assert!(completed.values().all(|n| *n == 1), "{completed:?}");
    let mut ids: Vec<u64> = connections.iter().map(|c| c.id).collect();
    ids.dedup();
    assert_eq!(
        ids.len(),
        connections.len(),
        "connection ids are unique and sorted"
    );

    let mut listed = SummaryBuilder::default();
    let records = connections
        .iter()
        .map(|c| {
            let record = ConnectionRecord::of(c);
            listed.add(&record);
            PackedRecord::pack(&record)
        })
        .collect();
    let analysis = Analysis {
        inputs: Vec::new(),
        packets: PacketCounts {
            total: segments,
            tcp: segments,
            ..PacketCounts::default()
        },
        connections: records,
        retired: retired_count,
        evicted: 0,
        msl,
        filter: None,
        unlisted: retired,
        listed,
        traces: None,
    };
    let report = Report::build(analysis);
    let s = &report.summary;
    assert_eq!(
        s.connections,
        retired_count + report.connections.len() as u64
    );
    let c = &s.closes;
    let closes = c.fin
        + c.reset
        + c.refused
        + c.unanswered
        + c.handshake_incomplete
        + c.half_closed
        + c.open;
    assert_eq!(
        closes, s.connections,
        "every connection has exactly one close kind"
    );
    assert!(c.abnormal <= s.connections && c.midstream <= s.connections);
    assert_eq!(s.rst.packets, s.rst.from_client + s.rst.from_server);
    assert!(s.handshakes.completed <= s.handshakes.attempted);
    assert!(s.keepalive.acks <= s.keepalive.probes);
    assert!(s.keepalive.connections <= s.connections);
    for d in [
        &s.handshake_rtt_ms,
        &s.syn_to_synack_ms,
        &s.synack_to_ack_ms,
    ] {
        check_distribution(d, s.connections);
    }
    for c in report.connections.records() {
        assert!(CloseKind::ALL.contains(&c.close), "{:?}", c.close);
        let (client, server) = (&c.client_figures, &c.server_figures);
        assert!(client.rsts <= client.packets);
        assert!(server.fins <= server.packets);
        assert!(c.total(|e| e.keepalive_probes) <= c.total(|e| e.packets));
    }
    let json = serde_json::to_string(&report).expect("the report serializes");
    let back: serde_json::Value = serde_json::from_str(&json).expect("and parses back");
    assert_eq!(
        back["connections"].as_array().map(Vec::len),
        Some(report.connections.len())
    );
});
