//! The compact form of the Zeek observer (`crate::tcp::zeek_observer`), for dormant
//! connections: a group of its states and flags, then its numbers as varints.

use crate::model::time::Timestamp;
use crate::model::zeek::History;
use crate::store::codec::{Reader, Writer};
use crate::tcp::zeek_observer::{Scaled, ZeekEndpoint, ZeekObserver, ZeekState};

const NEVER: i64 = i64::MAX;

impl ZeekState {
    fn encode(self, w: &mut Writer<'_>) {
        w.bits(self as u32, 3);
    }

    fn decode(r: &mut Reader<'_>) -> ZeekState {
        ZeekState::ALL[(r.bits(3) as usize).min(ZeekState::ALL.len() - 1)]
    }
}

impl Scaled {
    fn encode(self, w: &mut Writer<'_>) {
        w.varint(u64::from(self.count));
        w.varint(u64::from(self.threshold));
    }

    fn decode(r: &mut Reader<'_>) -> Scaled {
        Scaled {
            count: r.varint() as u32,
            threshold: r.varint() as u32,
        }
    }
}

impl ZeekEndpoint {
    /// Eight bits in the open group.
    fn encode_flags(&self, w: &mut Writer<'_>) {
        self.state.encode(w);
        self.prev_state.encode(w);
        w.flag(self.fin_seen);
        w.flag(self.did_close);
    }

    fn encode_numbers(&self, w: &mut Writer<'_>) {
        for v in [
            self.start_seq,
            self.last_seq,
            self.ack_seq,
            self.seq_wraps,
            self.ack_wraps,
        ] {
            w.varint(u64::from(v));
        }
        for v in [self.hist_last_syn, self.hist_last_fin, self.hist_last_rst] {
            w.varint(v);
        }
        for s in [
            self.checksum_errors,
            self.retransmits,
            self.zero_windows,
            self.gaps,
        ] {
            s.encode(w);
        }
        w.varint(self.packets);
        w.varint(self.ip_bytes);
    }

    fn decode_flags(r: &mut Reader<'_>) -> ZeekEndpoint {
        ZeekEndpoint {
            state: ZeekState::decode(r),
            prev_state: ZeekState::decode(r),
            fin_seen: r.flag(),
            did_close: r.flag(),
            ..ZeekEndpoint::default()
        }
    }

    fn decode_numbers(&mut self, r: &mut Reader<'_>) {
        let mut u32s = [0u32; 5];
        for v in &mut u32s {
            *v = r.varint() as u32;
        }
        [
            self.start_seq,
            self.last_seq,
            self.ack_seq,
            self.seq_wraps,
            self.ack_wraps,
        ] = u32s;
        self.hist_last_syn = r.varint();
        self.hist_last_fin = r.varint();
        self.hist_last_rst = r.varint();
        self.checksum_errors = Scaled::decode(r);
        self.retransmits = Scaled::decode(r);
        self.zero_windows = Scaled::decode(r);
        self.gaps = Scaled::decode(r);
        self.packets = r.varint();
        self.ip_bytes = r.varint();
    }
}

impl ZeekObserver {
    /// A group (22 bits), then the numbers (timestamps relative to the writer's base).
    pub(crate) fn encode(&self, w: &mut Writer<'_>) {
        w.group(3);
        w.flag(self.open);
        w.flag(self.orig_is_client);
        w.flag(self.active);
        w.flag(self.history.truncated());
        for e in &self.ends {
            e.encode_flags(w);
        }
        for t in [self.attempt_at, self.expire_at, self.delete_at] {
            w.flag(t != NEVER);
        }
        w.end();
        w.time(self.start);
        w.time(self.last_time);
        for e in &self.ends {
            e.encode_numbers(w);
        }
        let letters = self.history.as_str().as_bytes();
        w.varint(letters.len() as u64);
        w.bytes(letters);
        w.varint(u64::from(self.hist_seen));
        for t in [self.attempt_at, self.expire_at, self.delete_at] {
            if t != NEVER {
                w.time(Timestamp::from_nanos(t));
            }
        }
        w.varint(self.inactivity as u64);
        w.varint(self.missed_bytes);
        w.varint(u64::from(self.earlier_rows));
        for parent in self.tunnel_parents {
            w.varint(u64::from(parent));
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> ZeekObserver {
        r.group(3);
        let open = r.flag();
        let orig_is_client = r.flag();
        let active = r.flag();
        let truncated = r.flag();
        let mut ends = [ZeekEndpoint::decode_flags(r), ZeekEndpoint::decode_flags(r)];
        let timers = [r.flag(), r.flag(), r.flag()];
        let start = r.time();
        let last_time = r.time();
        for e in &mut ends {
            e.decode_numbers(r);
        }
        let len = r.varint() as usize;
        let history = History::from_parts(r.take(len), truncated);
        let hist_seen = r.varint() as u32;
        let mut at = [NEVER; 3];
        for (t, present) in at.iter_mut().zip(timers) {
            if present {
                *t = r.time().as_nanos();
            }
        }
        ZeekObserver {
            open,
            orig_is_client,
            active,
            start,
            last_time,
            ends,
            history,
            hist_seen,
            attempt_at: at[0],
            expire_at: at[1],
            delete_at: at[2],
            inactivity: r.varint() as i64,
            missed_bytes: r.varint(),
            earlier_rows: r.varint() as u32,
            tunnel_parents: [r.varint() as u32, r.varint() as u32],
        }
    }
}
