//! Builds the time-sequence graph of one connection (`crate::model::seq_graph`) from the
//! tracker's events, as `ladder_builder` builds the ladder: the same stream, so the graph
//! marks exactly the retransmissions, keep-alives and resets the report counts.

use crate::model::connection_record::ConnectionRecord;
use crate::model::event::{ConnectionView, Event};
use crate::model::ladder::{Mark, Marks};
use crate::model::seq_graph::{SeqGraph, SeqPoint, MAX_POINTS};
use crate::model::state::Side;
use crate::model::time::Timestamp;

/// A segment as it arrived, numbers still absolute.
#[derive(Clone, Debug)]
struct Raw {
    point: SeqPoint,
    window: u16,
}

#[derive(Debug)]
pub struct SeqGraphBuilder {
    first_seen: Option<Timestamp>,
    raw: Vec<Raw>,
    segments: u64,
    not_drawn: u64,
    /// Window scale offered in each side's SYN.
    scale: [Option<u8>; 2],
    base_seq: [Option<u32>; 2],
    cap: usize,
}

impl Default for SeqGraphBuilder {
    fn default() -> Self {
        SeqGraphBuilder::with_cap(MAX_POINTS)
    }
}

impl SeqGraphBuilder {
    /// Keeps at most `cap` segments (at most [`MAX_POINTS`]).
    pub fn with_cap(cap: usize) -> Self {
        SeqGraphBuilder {
            first_seen: None,
            raw: Vec::new(),
            segments: 0,
            not_drawn: 0,
            scale: [None; 2],
            base_seq: [None; 2],
            cap: cap.min(MAX_POINTS),
        }
    }

    /// One event of the selected connection.
    pub fn on_event(&mut self, c: &ConnectionView, at: Timestamp, e: Event) {
        let first_seen = *self.first_seen.get_or_insert(c.first_seen);
        for side in [Side::Client, Side::Server] {
            self.base_seq[side.index()] = c.base_seq(side).map(|s| s.0);
        }
        if let Event::Segment {
            by,
            flags,
            seq,
            ack,
            window,
            len,
        } = e
        {
            self.segments += 1;
            if self.raw.len() >= self.cap {
                self.not_drawn += 1;
                return;
            }
            let space = len
                .wrapping_add(u32::from(flags.syn()))
                .wrapping_add(u32::from(flags.fin()));
            self.raw.push(Raw {
                point: SeqPoint {
                    at: at.saturating_since(first_seen),
                    from: by,
                    flags,
                    seq: seq.0,
                    len: space,
                    ack: flags.ack().then_some(ack.0),
                    window_edge: None,
                    zero_window: window == 0 && !flags.rst(),
                    sack: Vec::new(),
                    marks: Marks::default(),
                },
                window,
            });
            return;
        }
        // Later events describe the last segment kept (none when it was not kept).
        if self.not_drawn > 0 {
            return;
        }
        let Some(last) = self.raw.last_mut() else {
            return;
        };
        let p = &mut last.point;
        match e {
            Event::Options(o) => {
                if p.flags.syn() {
                    if let Some(s) = o.window_scale {
                        self.scale[p.from.index()] = Some(s);
                    }
                }
                p.sack = o.sack_blocks().iter().map(|(l, r)| (l.0, r.0)).collect();
            }
            Event::Retransmission { .. } => p.marks.insert(Mark::Retransmission),
            Event::KeepaliveProbe { .. } => p.marks.insert(Mark::KeepaliveProbe),
            Event::KeepaliveAck { .. } => p.marks.insert(Mark::KeepaliveAck),
            Event::ZeroWindowProbe { .. } => p.marks.insert(Mark::ZeroWindowProbe),
            Event::Reset { .. } => p.marks.insert(Mark::Reset),
            Event::Refused => p.marks.insert(Mark::Refused),
            Event::HandshakeCompleted { .. } => p.marks.insert(Mark::HandshakeDone),
            Event::Anomaly(_) => p.marks.insert(Mark::Anomaly),
            Event::ConnectionStarted { .. }
            | Event::Segment { .. }
            | Event::StateChanged { .. }
            | Event::FinSent { .. }
            | Event::TimeWaitEntered { .. }
            | Event::SynRetransmitted { .. } => {}
        }
    }

    /// The graph of `c`, the connection whose events were fed: numbers relative to each
    /// side's first one, windows scaled when both SYNs offered a scale (RFC 7323 2.2).
    pub fn finish(self, c: &ConnectionRecord) -> SeqGraph {
        let scale = match self.scale {
            [Some(a), Some(b)] => Some([a, b]),
            _ => None,
        };
        let bases = self.base_seq;
        let base = |side: Side| bases[side.index()].unwrap_or(0);
        let points = self
            .raw
            .into_iter()
            .map(|r| {
                let mut p = r.point;
                let peer = base(p.from.peer());
                p.seq = p.seq.wrapping_sub(base(p.from));
                p.ack = p.ack.map(|a| a.wrapping_sub(peer));
                // A SYN's window is never scaled.
                let shift = match scale {
                    Some(s) if !p.flags.syn() => u32::from(s[p.from.index()]),
                    _ => 0,
                };
                p.window_edge = p.ack.map(|a| a.wrapping_add(u32::from(r.window) << shift));
                for b in &mut p.sack {
                    *b = (b.0.wrapping_sub(peer), b.1.wrapping_sub(peer));
                }
                p
            })
            .collect();
        SeqGraph {
            conn: c.clone(),
            points,
            segments: self.segments,
            not_drawn: self.not_drawn,
            window_scale: scale,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::TcpSegment;
    use crate::flow::FlowTable;
    use crate::model::flags::TcpFlags;
    use crate::model::seq::Seq;
    use std::time::Duration;

    #[test]
    fn relative_numbers_scaled_window_sack_and_retransmission() {
        let mut table = FlowTable::new(Duration::from_secs(60));
        let mut b = SeqGraphBuilder::default();
        let c: std::net::SocketAddr = "10.0.0.2:40000".parse().unwrap();
        let s: std::net::SocketAddr = "10.0.0.1:80".parse().unwrap();
        let mut t = 0;
        let mut feed =
            |from_client: bool, flags: u16, seq: u32, ack: u32, len: u32, opts: &[u8]| {
                let (src, dst) = if from_client { (c, s) } else { (s, c) };
                let seg = TcpSegment {
                    seq: Seq(seq),
                    ack: Seq(ack),
                    flags: TcpFlags(flags),
                    window: 100,
                    payload_len: len,
                    header_len: 20 + opts.len() as u16,
                    options: opts,
                    ..TcpSegment::between(src, dst)
                };
                t += 1;
                let at = Timestamp::from_secs_nanos(100, t * 1000);
                table.on_segment(&seg, 60 + len, at, &mut |conn: &ConnectionView, at, e| {
                    b.on_event(conn, at, e)
                });
            };
        let a = TcpFlags::ACK;
        let ws = [3, 3, 4, 1];
        feed(true, TcpFlags::SYN, u32::MAX - 10, 0, 0, &ws);
        feed(false, TcpFlags::SYN | a, 5000, u32::MAX - 9, 0, &ws);
        feed(true, a, u32::MAX - 9, 5001, 0, &[]);
        feed(true, a, u32::MAX - 9, 5001, 100, &[]);
        feed(true, a, (u32::MAX - 9).wrapping_add(100), 5001, 100, &[]);
        // Both segments again, at once: a retransmission (not a reordering).
        feed(true, a, u32::MAX - 9, 5001, 200, &[]);
        // The server SACKs the second data segment: [101, 201).
        let mut sack = vec![1, 1, 5, 10];
        sack.extend_from_slice(&((u32::MAX - 9).wrapping_add(100)).to_be_bytes());
        sack.extend_from_slice(&((u32::MAX - 9).wrapping_add(200)).to_be_bytes());
        feed(false, a, 5001, u32::MAX - 9, 0, &sack);
        let mut conns = Vec::new();
        table.finish(|c| conns.push(c));
        let g = b.finish(&ConnectionRecord::of(&conns[0]));
        assert_eq!(g.segments, 7);
        assert_eq!(g.window_scale, Some([4, 4]));
        let p = &g.points;
        assert_eq!((p[0].seq, p[0].len, p[0].ack), (0, 1, None));
        // The SYN/ACK's window is not scaled; later ones are.
        assert_eq!(p[1].window_edge, Some(1 + 100));
        assert_eq!((p[3].seq, p[3].len), (1, 100));
        assert!(p[5].marks.contains(Mark::Retransmission), "{:?}", p[5]);
        assert!(!p[4].marks.contains(Mark::Retransmission));
        assert_eq!(p[6].ack, Some(1));
        assert_eq!(p[6].window_edge, Some(1 + (100 << 4)));
        assert_eq!(p[6].sack, [(101, 201)]);
    }
}
