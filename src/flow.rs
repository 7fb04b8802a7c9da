//! The flow table: groups TCP segments into connections keyed by the bidirectional
//! 5-tuple, decides which side is the client, and starts a new connection when a SYN
//! reuses a 4-tuple (as tshark's tcp.stream does).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::app::AppDetector;
use crate::decode::TcpSegment;
use crate::time::Timestamp;
use crate::tracker::{Event, Side, TcpTracker};

/// How the client/server roles of a connection were decided (docs/inputs.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleBasis {
    /// The client sent a SYN without ACK.
    Syn,
    /// The client received a SYN/ACK (its SYN was not captured).
    SynAck,
    /// Mid-stream: the server is the side with the lower (service) port.
    Port,
}

impl RoleBasis {
    pub fn as_str(self) -> &'static str {
        match self {
            RoleBasis::Syn => "syn",
            RoleBasis::SynAck => "synack",
            RoleBasis::Port => "port",
        }
    }
}

/// One TCP connection: who is who, when, and its tracker.
#[derive(Clone, Debug)]
pub struct Connection {
    /// Stable id, in order of first packet (starting at 1).
    pub id: u64,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub roles: RoleBasis,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// Started by a SYN on a 4-tuple whose previous connection was in TIME_WAIT.
    pub reused_time_wait: bool,
    pub tcp: TcpTracker,
    /// What runs over it (HTTP, TLS, SSH…), from the first payload bytes.
    pub app: AppDetector,
}

impl Connection {
    pub fn side_of(&self, src: SocketAddr) -> Side {
        if src == self.client {
            Side::Client
        } else {
            Side::Server
        }
    }

    pub fn duration(&self) -> Duration {
        self.last_seen.saturating_since(self.first_seen)
    }
}

/// Bidirectional key: the two endpoints in a fixed order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct FlowKey(SocketAddr, SocketAddr);

impl FlowKey {
    fn of(seg: &TcpSegment<'_>) -> FlowKey {
        if seg.src <= seg.dst {
            FlowKey(seg.src, seg.dst)
        } else {
            FlowKey(seg.dst, seg.src)
        }
    }
}

/// Connections in progress and finished, in order of first packet once finished.
pub struct FlowTable {
    active: HashMap<FlowKey, Connection, ahash::RandomState>,
    finished: Vec<Connection>,
    next_id: u64,
    /// Maximum segment lifetime; TIME_WAIT lasts 2·MSL (RFC 9293 §3.4.2).
    msl: Duration,
    limits: Limits,
    /// Connections retired because they closed or idled out.
    pub retired: u64,
    /// Connections dropped to stay under `Limits::max_connections`.
    pub evicted: u64,
}

/// What bounds the table in a long run (live capture, or a file with endless flows).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Retire a connection with no packet for this long (Zeek's tcp_inactivity_timeout
    /// is 5 min). `None` keeps idle connections to the end (offline reports).
    pub idle_timeout: Option<Duration>,
    /// Most connections tracked at once; beyond it the longest-idle are evicted.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            idle_timeout: None,
            max_connections: usize::MAX,
        }
    }
}

/// Events of one segment, buffered so the sink can see the connection they belong to
/// without a per-packet allocation.
struct EventBuf {
    items: [Option<Event>; 24],
    len: usize,
}

impl EventBuf {
    fn new() -> Self {
        EventBuf {
            items: [None; 24],
            len: 0,
        }
    }
    fn push(&mut self, e: Event) {
        // A segment causes at most a handful of events; the bound is generous.
        if let Some(slot) = self.items.get_mut(self.len) {
            *slot = Some(e);
            self.len += 1;
        }
    }
    fn iter(&self) -> impl Iterator<Item = Event> + '_ {
        self.items[..self.len].iter().flatten().copied()
    }
}

impl FlowTable {
    pub fn new(msl: Duration) -> Self {
        FlowTable {
            active: HashMap::default(),
            finished: Vec::new(),
            next_id: 1,
            msl,
            limits: Limits::default(),
            retired: 0,
            evicted: 0,
        }
    }

    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    pub fn msl(&self) -> Duration {
        self.msl
    }

    pub fn active(&self) -> impl Iterator<Item = &Connection> {
        self.active.values()
    }

    pub fn active_len(&self) -> usize {
        self.active.len()
    }

    /// Applies one segment; `sink` sees every event it caused, with its connection.
    pub fn on_segment(
        &mut self,
        seg: &TcpSegment<'_>,
        wire_len: u32,
        at: Timestamp,
        sink: &mut impl FnMut(&Connection, Timestamp, Event),
    ) {
        let key = FlowKey::of(seg);
        let mut events = EventBuf::new();
        let mut reused = false;
        if let Some(conn) = self.active.get(&key) {
            let sender = conn.side_of(seg.src);
            if conn.tcp.is_new_connection_syn(sender, seg) {
                // A new connection on the same 4-tuple: the old one is over.
                if let Some(old) = self.active.remove(&key) {
                    reused = self.in_time_wait(&old, at);
                    self.finished.push(old);
                }
            }
        }
        let conn = match self.active.entry(key) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let id = self.next_id;
                self.next_id += 1;
                let conn = v.insert(new_connection(id, seg, at, reused));
                events.push(Event::ConnectionStarted {
                    reused_time_wait: reused,
                });
                conn
            }
        };
        conn.last_seen = conn.last_seen.max(at);
        let sender = conn.side_of(seg.src);
        conn.tcp
            .on_segment(sender, seg, wire_len, at, &mut |e| events.push(e));
        conn.app.on_segment(sender, seg);
        for e in events.iter() {
            sink(conn, at, e);
        }
        if self.active.len() > self.limits.max_connections {
            self.evict();
        }
    }

    /// Drops the longest-idle eighth of the table at once, so that a flood of new
    /// 4-tuples costs O(log n) per packet, not a scan each.
    fn evict(&mut self) {
        let excess = self.active.len() - self.limits.max_connections;
        let batch = (self.limits.max_connections / 8).max(excess).max(1);
        let mut by_idle: Vec<(Timestamp, FlowKey)> =
            self.active.iter().map(|(k, c)| (c.last_seen, *k)).collect();
        by_idle.sort_unstable_by_key(|(t, _)| *t);
        for (_, key) in by_idle.into_iter().take(batch) {
            if let Some(c) = self.active.remove(&key) {
                self.evicted += 1;
                self.finished.push(c);
            }
        }
    }

    /// Retires connections whose close has played out (2·MSL after their last packet,
    /// so that TIME_WAIT reuse is still seen) and, with an idle timeout, those idle for
    /// longer. `now` is capture time.
    pub fn retire(&mut self, now: Timestamp) {
        let closed_after = self.msl * 2;
        let idle_after = self.limits.idle_timeout;
        let before = self.finished.len();
        let done = self.active.extract_if(|_, c| {
            let idle = now.saturating_since(c.last_seen);
            (c.tcp.is_closed() && idle >= closed_after)
                || idle_after.is_some_and(|limit| idle >= limit)
        });
        self.finished.extend(done.map(|(_, c)| c));
        self.retired += (self.finished.len() - before) as u64;
    }

    /// Takes the connections finished so far (superseded, retired, evicted), in no
    /// particular order.
    pub fn drain_finished(&mut self) -> std::vec::Drain<'_, Connection> {
        self.finished.drain(..)
    }

    /// An endpoint of `old` entered TIME_WAIT less than 2·MSL before `at`.
    fn in_time_wait(&self, old: &Connection, at: Timestamp) -> bool {
        let (c, s) = old.tcp.time_wait_sides();
        match old.tcp.time_wait_entered {
            Some(entered) if c || s => at.saturating_since(entered) < self.msl * 2,
            _ => false,
        }
    }

    /// All connections, in order of first packet.
    pub fn finish(mut self) -> Vec<Connection> {
        self.finished.extend(self.active.into_values());
        self.finished.sort_by_key(|c| c.id);
        self.finished
    }
}

fn new_connection(id: u64, seg: &TcpSegment<'_>, at: Timestamp, reused: bool) -> Connection {
    let (client, server, roles) = if seg.flags.syn_only() {
        (seg.src, seg.dst, RoleBasis::Syn)
    } else if seg.flags.syn_ack() {
        (seg.dst, seg.src, RoleBasis::SynAck)
    } else if seg.src.port() < seg.dst.port() {
        // Mid-stream: services listen on the lower port; clients get ephemeral ones
        // (IANA 49152-65535, Linux 32768-60999). On a tie the receiver is the server.
        (seg.dst, seg.src, RoleBasis::Port)
    } else {
        (seg.src, seg.dst, RoleBasis::Port)
    };
    Connection {
        id,
        client,
        server,
        roles,
        first_seen: at,
        last_seen: at,
        reused_time_wait: reused,
        tcp: TcpTracker::default(),
        app: AppDetector::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::TcpFlags;
    use crate::seq::Seq;

    fn seg(src: &str, dst: &str, flags: u16, seq: u32) -> TcpSegment<'static> {
        TcpSegment {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            seq: Seq(seq),
            ack: Seq(0),
            flags: TcpFlags(flags),
            window: 1000,
            header_len: 20,
            payload_len: 0,
            options: &[],
            payload: &[],
        }
    }

    fn feed(t: &mut FlowTable, s: &TcpSegment<'_>, secs: i64) {
        t.on_segment(
            s,
            60,
            Timestamp::from_secs_nanos(secs, 0),
            &mut |_, _, _| {},
        );
    }

    const C: &str = "10.0.0.2:40000";
    const SRV: &str = "10.0.0.1:80";

    #[test]
    fn both_directions_are_one_connection_with_syn_sender_as_client() {
        let mut t = FlowTable::new(Duration::from_secs(60));
        feed(&mut t, &seg(C, SRV, TcpFlags::SYN, 1), 0);
        feed(&mut t, &seg(SRV, C, TcpFlags::SYN | TcpFlags::ACK, 9), 0);
        let conns = t.finish();
        assert_eq!(conns.len(), 1);
        assert_eq!(conns[0].client.to_string(), C);
        assert_eq!(conns[0].roles, RoleBasis::Syn);
    }

    #[test]
    fn midstream_server_is_the_lower_port() {
        let mut t = FlowTable::new(Duration::from_secs(60));
        feed(&mut t, &seg(SRV, C, TcpFlags::ACK, 1), 0);
        let conns = t.finish();
        assert_eq!(conns[0].server.to_string(), SRV);
        assert_eq!(conns[0].roles, RoleBasis::Port);
    }

    #[test]
    fn syn_with_new_isn_after_close_starts_a_new_connection_and_counts_time_wait_reuse() {
        let mut t = FlowTable::new(Duration::from_secs(60));
        let a = TcpFlags::ACK;
        feed(&mut t, &seg(C, SRV, TcpFlags::SYN, 100), 0);
        let mut synack = seg(SRV, C, TcpFlags::SYN | a, 500);
        synack.ack = Seq(101);
        feed(&mut t, &synack, 0);
        let mut ack = seg(C, SRV, a, 101);
        ack.ack = Seq(501);
        feed(&mut t, &ack, 0);
        let mut fin = seg(C, SRV, TcpFlags::FIN | a, 101);
        fin.ack = Seq(501);
        feed(&mut t, &fin, 1);
        let mut fin2 = seg(SRV, C, TcpFlags::FIN | a, 501);
        fin2.ack = Seq(102);
        feed(&mut t, &fin2, 1);
        feed(&mut t, &seg(C, SRV, TcpFlags::SYN, 9999), 5);
        // A retransmission of that SYN is the same new connection.
        feed(&mut t, &seg(C, SRV, TcpFlags::SYN, 9999), 6);
        let conns = t.finish();
        assert_eq!(conns.len(), 2);
        assert!(conns[1].reused_time_wait);
        assert_eq!(conns[1].tcp.handshake.syn_count, 2);
    }

    #[test]
    fn max_connections_evicts_the_longest_idle() {
        let mut t = FlowTable::new(Duration::from_secs(60));
        t.set_limits(Limits {
            idle_timeout: None,
            max_connections: 16,
        });
        for port in 0..1000u16 {
            let client = format!("10.0.0.2:{}", 20000 + port);
            feed(
                &mut t,
                &seg(&client, SRV, TcpFlags::SYN, 1),
                i64::from(port),
            );
            assert!(t.active_len() <= 16);
        }
        assert_eq!(t.evicted, 1000 - t.active_len() as u64);
        let conns = t.finish();
        assert_eq!(conns.len(), 1000);
        // The survivors are the most recent.
        assert!(conns[999].client.port() == 20999);
    }

    #[test]
    fn closed_and_idle_connections_are_retired() {
        let mut t = FlowTable::new(Duration::from_secs(60));
        t.set_limits(Limits {
            idle_timeout: Some(Duration::from_secs(300)),
            max_connections: usize::MAX,
        });
        let mut rst = seg(SRV, C, TcpFlags::RST | TcpFlags::ACK, 0);
        rst.ack = Seq(2);
        feed(&mut t, &seg(C, SRV, TcpFlags::SYN, 1), 0);
        feed(&mut t, &rst, 0);
        feed(&mut t, &seg("10.0.0.3:1234", SRV, TcpFlags::SYN, 1), 0);
        t.retire(Timestamp::from_secs_nanos(119, 0));
        assert_eq!(t.active_len(), 2);
        t.retire(Timestamp::from_secs_nanos(120, 0));
        assert_eq!((t.active_len(), t.retired), (1, 1));
        t.retire(Timestamp::from_secs_nanos(300, 0));
        assert_eq!((t.active_len(), t.retired), (0, 2));
        assert_eq!(t.drain_finished().count(), 2);
    }
}
