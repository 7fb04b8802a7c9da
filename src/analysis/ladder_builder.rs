//! Builds the ladder diagram of one connection (`crate::model::ladder`).
//!
//! It is built from the tracker's events only (the same `(&Connection, Timestamp, Event)`
//! stream the live printer reads), so the diagram shows exactly what `synack report`
//! counted. Renderers (`output::ladder_text`, `output::ladder_svg`) read this model, never packets.

use std::collections::VecDeque;

use crate::model::connection_record::ConnectionRecord;
use crate::model::event::{ConnectionView, Event};
use crate::model::ladder::{Entered, Fold, Ladder, Mark, Marks, Row, SegmentRow, MAX_ROWS};
use crate::model::state::Side;
use crate::model::time::Timestamp;

/// Plain segments kept at each end of a folded run.
pub const FOLD_KEEP: usize = 3;
/// A run is folded only when at least this many segments would be hidden.
pub const FOLD_MIN_HIDDEN: usize = 4;

/// Builds the ladder of one connection from its events, folding as it goes so that
/// memory stays bounded by the rows drawn.
#[derive(Debug)]
pub struct LadderBuilder {
    fold: bool,
    first_seen: Option<Timestamp>,
    last_at: Option<Timestamp>,
    /// The segment whose events are still arriving.
    pending: Option<SegmentRow>,
    rows: Vec<Row>,
    /// Plain segments of the current run, not yet decided: first the run's head, later
    /// its tail once the middle is folded.
    run_len: usize,
    tail: VecDeque<SegmentRow>,
    hidden: Option<Fold>,
    segments: u64,
    not_drawn: u64,
    /// Each side's first sequence number (client, server), as the tracker last knew it.
    base_seq: [Option<u32>; 2],
}

fn side_idx(s: Side) -> usize {
    match s {
        Side::Client => 0,
        Side::Server => 1,
    }
}

impl LadderBuilder {
    /// `fold`: hide the middle of long runs of plain data (false: `--full`).
    pub fn new(fold: bool) -> Self {
        LadderBuilder {
            fold,
            first_seen: None,
            last_at: None,
            pending: None,
            rows: Vec::new(),
            run_len: 0,
            tail: VecDeque::new(),
            hidden: None,
            segments: 0,
            not_drawn: 0,
            base_seq: [None; 2],
        }
    }

    /// One event of the selected connection.
    pub fn on_event(&mut self, c: &ConnectionView, at: Timestamp, e: Event) {
        let first_seen = *self.first_seen.get_or_insert(c.first_seen);
        for side in [Side::Client, Side::Server] {
            self.base_seq[side_idx(side)] = c.base_seq(side).map(|s| s.0);
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
            self.end_segment();
            self.segments += 1;
            let delta = self.last_at.map(|t| at.saturating_since(t));
            self.last_at = Some(at);
            self.pending = Some(SegmentRow {
                at: at.saturating_since(first_seen),
                delta,
                from: by,
                flags,
                seq: seq.0,
                ack: flags.ack().then_some(ack.0),
                len,
                window,
                marks: Marks::default(),
                reset_in: None,
                anomaly: None,
                entered: [Entered::default(); 2],
            });
            return;
        }
        let Some(row) = &mut self.pending else {
            return;
        };
        match e {
            Event::StateChanged { side, to, .. } => row.entered[side_idx(side)].push(to),
            Event::HandshakeCompleted { .. } => row.marks.insert(Mark::HandshakeDone),
            Event::Refused => row.marks.insert(Mark::Refused),
            Event::Reset { in_state, .. } => {
                row.marks.insert(Mark::Reset);
                row.reset_in = Some(in_state);
            }
            Event::Retransmission { .. } => row.marks.insert(Mark::Retransmission),
            Event::KeepaliveProbe { .. } => row.marks.insert(Mark::KeepaliveProbe),
            Event::KeepaliveAck { .. } => row.marks.insert(Mark::KeepaliveAck),
            Event::ZeroWindowProbe { .. } => row.marks.insert(Mark::ZeroWindowProbe),
            Event::Anomaly(a) => {
                row.marks.insert(Mark::Anomaly);
                row.anomaly = Some(a);
            }
            Event::ConnectionStarted { .. }
            | Event::Segment { .. }
            | Event::FinSent { .. }
            | Event::TimeWaitEntered { .. }
            | Event::SynRetransmitted { .. }
            | Event::Options(_) => {}
        }
    }

    /// The pending segment has all its events: place it.
    fn end_segment(&mut self) {
        let Some(mut row) = self.pending.take() else {
            return;
        };
        if row.window == 0 && !row.flags.rst() {
            row.marks.insert(Mark::ZeroWindow);
        }
        if !self.fold || !row.is_plain() {
            self.end_run();
            self.push(Row::Segment(row));
            return;
        }
        self.run_len += 1;
        if self.run_len <= FOLD_KEEP {
            self.push(Row::Segment(row));
            return;
        }
        self.tail.push_back(row);
        // Once the tail holds more than the rows kept plus the fewest worth hiding, the
        // run will be folded: the oldest rows of the tail go into the fold.
        let limit = if self.hidden.is_some() {
            FOLD_KEEP
        } else {
            FOLD_KEEP + FOLD_MIN_HIDDEN - 1
        };
        while self.tail.len() > limit {
            let Some(r) = self.tail.pop_front() else {
                break;
            };
            let fold = self.hidden.get_or_insert_with(|| Fold {
                first: r.at,
                ..Fold::default()
            });
            fold.segments += 1;
            fold.bytes[side_idx(r.from)] += u64::from(r.len);
            fold.last = r.at;
        }
    }

    /// A run of plain segments ended: its fold (if any) and its tail are placed.
    fn end_run(&mut self) {
        self.run_len = 0;
        if let Some(f) = self.hidden.take() {
            self.push(Row::Fold(f));
        }
        while let Some(r) = self.tail.pop_front() {
            self.push(Row::Segment(r));
        }
    }

    fn push(&mut self, row: Row) {
        if self.rows.len() < MAX_ROWS {
            self.rows.push(row);
        } else if let Row::Segment(_) = row {
            self.not_drawn += 1;
        } else if let Row::Fold(f) = row {
            self.not_drawn += f.segments;
        }
    }

    /// The ladder of `c`, the connection whose events were fed; sequence numbers become
    /// relative to each side's first one.
    pub fn finish(mut self, c: &ConnectionRecord) -> Ladder {
        self.end_segment();
        self.end_run();
        let bases = self.base_seq;
        let base = |side: Side| bases[side_idx(side)].unwrap_or(0);
        for row in &mut self.rows {
            if let Row::Segment(r) = row {
                r.seq = r.seq.wrapping_sub(base(r.from));
                r.ack = r.ack.map(|a| a.wrapping_sub(base(r.from.peer())));
            }
        }
        Ladder {
            conn: c.clone(),
            first_seen: c.first_seen,
            rows: self.rows,
            segments: self.segments,
            not_drawn: self.not_drawn,
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
    use crate::model::state::TcpState;
    use std::time::Duration;

    /// Feeds `n` data segments after a handshake through a real flow table and returns
    /// the ladder.
    fn ladder_of(data_segments: u32, fold: bool) -> Ladder {
        let mut table = FlowTable::new(Duration::from_secs(60));
        let mut b = LadderBuilder::new(fold);
        let c: std::net::SocketAddr = "10.0.0.2:40000".parse().unwrap();
        let s: std::net::SocketAddr = "10.0.0.1:80".parse().unwrap();
        let mut t = 0;
        let mut feed = |from_client: bool, flags: u16, seq: u32, ack: u32, len: u32| {
            let (src, dst) = if from_client { (c, s) } else { (s, c) };
            let seg = TcpSegment {
                seq: Seq(seq),
                ack: Seq(ack),
                flags: TcpFlags(flags),
                window: 500,
                payload_len: len,
                ..TcpSegment::between(src, dst)
            };
            t += 1;
            let at = Timestamp::from_secs_nanos(100, t * 1000);
            table.on_segment(&seg, 60 + len, at, &mut |conn: &ConnectionView, at, e| {
                b.on_event(conn, at, e)
            });
        };
        let a = TcpFlags::ACK;
        feed(true, TcpFlags::SYN, 1000, 0, 0);
        feed(false, TcpFlags::SYN | a, 5000, 1001, 0);
        feed(true, a, 1001, 5001, 0);
        for i in 0..data_segments {
            feed(true, a, 1001 + i * 100, 5001, 100);
        }
        let mut conns = Vec::new();
        table.finish(|c| conns.push(c));
        b.finish(&crate::model::connection_record::ConnectionRecord::of(
            &conns[0],
        ))
    }

    fn segments(l: &Ladder) -> Vec<&SegmentRow> {
        l.rows
            .iter()
            .filter_map(|r| match r {
                Row::Segment(s) => Some(s),
                Row::Fold(_) => None,
            })
            .collect()
    }

    #[test]
    fn handshake_rows_have_relative_numbers_and_states() {
        let l = ladder_of(1, true);
        let s = segments(&l);
        assert_eq!(s.len(), 4);
        assert_eq!((s[0].seq, s[0].ack), (0, None));
        assert_eq!((s[1].seq, s[1].ack), (0, Some(1)));
        assert_eq!(s[1].flag_names(), "SYN, ACK");
        let entered: Vec<TcpState> = s[1].entered[0].iter().collect();
        assert_eq!(entered, [TcpState::Established]);
        assert!(s[2].marks.contains(Mark::HandshakeDone));
        assert_eq!((s[3].seq, s[3].len), (1, 100));
        assert_eq!(s[3].delta, Some(Duration::from_micros(1)));
    }

    #[test]
    fn long_runs_fold_their_middle_and_short_ones_do_not() {
        // The handshake ACK is marked, so the run is exactly the data segments.
        let short = FOLD_KEEP * 2 + FOLD_MIN_HIDDEN - 1;
        let l = ladder_of(short as u32, true);
        assert!(l.rows.iter().all(|r| matches!(r, Row::Segment(_))));
        assert_eq!(l.rows.len(), 3 + short);

        let l = ladder_of(1000, true);
        assert_eq!(l.segments, 1003);
        assert_eq!(l.rows.len(), 3 + FOLD_KEEP + 1 + FOLD_KEEP);
        let Row::Fold(f) = &l.rows[3 + FOLD_KEEP] else {
            panic!("no fold: {:?}", l.rows);
        };
        assert_eq!(f.segments, 1000 - 2 * FOLD_KEEP as u64);
        assert_eq!(f.bytes, [100 * f.segments, 0]);
        // The rows after the fold are the run's last ones, in order.
        let s = segments(&l);
        assert_eq!(s.last().unwrap().seq, 1 + 999 * 100);
        assert_eq!(s[s.len() - 3].seq, 1 + 997 * 100);

        let full = ladder_of(1000, false);
        assert_eq!(full.rows.len(), 1003);
    }
}
