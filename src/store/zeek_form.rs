//! The compact form of the Zeek observer (`crate::tcp::zeek_observer`), for dormant
//! connections: a group of its states and flags, then its numbers as varints.

use crate::model::time::Timestamp;
use crate::model::zeek::History;
use crate::store::codec::{Reader, Writer};
use crate::tcp::zeek_observer::{Scaled, ZeekEndpoint, ZeekObserver, ZeekState};

const NEVER: i64 = i64::MAX;
const NANOS_PER_SEC: i64 = 1_000_000_000;

impl ZeekState {
    fn encode(self, w: &mut Writer<'_>) {
        w.bits(self as u32, 3);
    }

    fn decode(r: &mut Reader<'_>) -> ZeekState {
        ZeekState::ALL[(r.bits(3) as usize).min(ZeekState::ALL.len() - 1)]
    }
}

impl Scaled {
    /// A flag in the open group: not the default (nothing counted yet)…
    fn encode_flag(self, w: &mut Writer<'_>) {
        w.flag(self != Scaled::default());
    }

    /// …and then, if not, the numbers.
    fn encode_numbers(self, w: &mut Writer<'_>) {
        if self != Scaled::default() {
            w.varint(u64::from(self.count));
            w.varint(u64::from(self.threshold));
        }
    }

    fn decode(present: bool, r: &mut Reader<'_>) -> Scaled {
        if !present {
            return Scaled::default();
        }
        Scaled {
            count: r.varint() as u32,
            threshold: r.varint() as u32,
        }
    }
}

impl ZeekEndpoint {
    /// Twelve bits in the open group (the counters' four when they are not the
    /// default; their numbers come with the rest).
    fn encode_flags(&self, w: &mut Writer<'_>) {
        self.state.encode(w);
        self.prev_state.encode(w);
        w.flag(self.fin_seen);
        w.flag(self.did_close);
        for s in self.scaled() {
            s.encode_flag(w);
        }
    }

    fn scaled(&self) -> [Scaled; 4] {
        [
            self.checksum_errors,
            self.retransmits,
            self.zero_windows,
            self.gaps,
        ]
    }

    /// The sequence numbers as 4 bytes (the first) and distances from it.
    fn encode_numbers(&self, w: &mut Writer<'_>) {
        w.bytes(&self.start_seq.to_le_bytes());
        w.u32_near(self.last_seq, self.start_seq);
        w.u32_near(self.ack_seq, self.start_seq);
        for v in [self.seq_wraps, self.ack_wraps] {
            w.varint(u64::from(v));
        }
        for v in [self.hist_last_syn, self.hist_last_fin, self.hist_last_rst] {
            w.varint(v);
        }
        for s in self.scaled() {
            s.encode_numbers(w);
        }
        w.varint(self.packets);
        w.varint(self.ip_bytes);
    }

    fn decode_flags(r: &mut Reader<'_>) -> (ZeekEndpoint, [bool; 4]) {
        let e = ZeekEndpoint {
            state: ZeekState::decode(r),
            prev_state: ZeekState::decode(r),
            fin_seen: r.flag(),
            did_close: r.flag(),
            ..ZeekEndpoint::default()
        };
        (e, [r.flag(), r.flag(), r.flag(), r.flag()])
    }

    fn decode_numbers(&mut self, scaled: [bool; 4], r: &mut Reader<'_>) {
        self.start_seq = u32::from_le_bytes([r.byte(), r.byte(), r.byte(), r.byte()]);
        self.last_seq = r.u32_near(self.start_seq);
        self.ack_seq = r.u32_near(self.start_seq);
        self.seq_wraps = r.varint() as u32;
        self.ack_wraps = r.varint() as u32;
        self.hist_last_syn = r.varint();
        self.hist_last_fin = r.varint();
        self.hist_last_rst = r.varint();
        let [c, x, z, g] = scaled.map(|present| Scaled::decode(present, r));
        self.checksum_errors = c;
        self.retransmits = x;
        self.zero_windows = z;
        self.gaps = g;
        self.packets = r.varint();
        self.ip_bytes = r.varint();
    }
}

impl ZeekObserver {
    /// A group (32 bits), then the numbers (its start relative to the writer's base, the
    /// later times to its late base).
    pub(crate) fn encode(&self, w: &mut Writer<'_>) {
        w.group(4);
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
        // Timeouts are whole seconds.
        let whole = self.inactivity >= 0 && self.inactivity % NANOS_PER_SEC == 0;
        w.flag(whole);
        w.end();
        w.time(self.start);
        w.late_time(self.last_time);
        for e in &self.ends {
            e.encode_numbers(w);
        }
        let letters = self.history.as_str().as_bytes();
        w.varint(letters.len() as u64);
        w.bytes(letters);
        w.varint(u64::from(self.hist_seen));
        for t in [self.attempt_at, self.expire_at, self.delete_at] {
            if t != NEVER {
                w.late_time(Timestamp::from_nanos(t));
            }
        }
        if whole {
            w.varint((self.inactivity / NANOS_PER_SEC) as u64);
        } else {
            w.varint(self.inactivity as u64);
        }
        w.varint(self.missed_bytes);
        w.varint(u64::from(self.earlier_rows));
        for parent in self.tunnel_parents {
            w.varint(u64::from(parent));
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> ZeekObserver {
        r.group(4);
        let open = r.flag();
        let orig_is_client = r.flag();
        let active = r.flag();
        let truncated = r.flag();
        let (mut orig, orig_scaled) = ZeekEndpoint::decode_flags(r);
        let (mut resp, resp_scaled) = ZeekEndpoint::decode_flags(r);
        let timers = [r.flag(), r.flag(), r.flag()];
        let whole = r.flag();
        let start = r.time();
        let last_time = r.late_time();
        orig.decode_numbers(orig_scaled, r);
        resp.decode_numbers(resp_scaled, r);
        let ends = [orig, resp];
        let len = r.varint() as usize;
        let history = History::from_parts(r.take(len), truncated);
        let hist_seen = r.varint() as u32;
        let mut at = [NEVER; 3];
        for (t, present) in at.iter_mut().zip(timers) {
            if present {
                *t = r.late_time().as_nanos();
            }
        }
        let inactivity = r.varint() as i64;
        let inactivity = if whole {
            inactivity * NANOS_PER_SEC
        } else {
            inactivity
        };
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
            inactivity,
            missed_bytes: r.varint(),
            earlier_rows: r.varint() as u32,
            tunnel_parents: [r.varint() as u32, r.varint() as u32],
        }
    }
}
