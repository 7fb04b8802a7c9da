//! Keeps the events of the connections that may turn out to be the worst, in one pass and
//! bounded memory, so that the HTML report can draw their ladder and time-sequence graph
//! without reading the input twice.
//!
//! Every connection is traced from its first segment (while fewer than [`MAX_LIVE`] are
//! and the event budget lasts); a trace is let go of as soon as it cannot be picked:
//! a reset or refusal not among the [`KEEP_PER_KIND`] of its kind that began first, a connection that
//! closed with FINs while not among the [`KEEP_SLOW`] slowest handshakes so far, or, once
//! that many resets are kept, a handshake that is not among the slowest. So on a long
//! capture most connections are traced for their handshake only, and an event of the
//! others costs one look-up in a vector by id. What is left at the end are the
//! candidates `crate::analysis::visuals` picks from.

use std::collections::HashMap;
use std::time::Duration;

use crate::model::event::{ConnectionView, Event, EventSink};
use crate::model::time::Timestamp;

/// Connections traced at once.
pub const MAX_LIVE: usize = 16_384;
/// Events kept over all traces (about 48 bytes each).
pub const BUDGET: usize = 1_000_000;
/// Events kept per connection.
pub const PER_CONNECTION: usize = 6_000;
/// Resets and refusals kept, each.
pub const KEEP_PER_KIND: usize = 4;
/// Slowest handshakes kept.
pub const KEEP_SLOW: usize = 6;

/// The events of one connection.
#[derive(Debug)]
pub struct Trace {
    /// As of its last event (first packet and base sequence numbers).
    pub view: ConnectionView,
    pub events: Vec<(Timestamp, Event)>,
    /// Events past the bounds, not kept.
    pub truncated: bool,
    abnormal: bool,
    slow: bool,
    fins: u8,
}

const NONE: u32 = 0;
const DROPPED: u32 = u32::MAX;

#[derive(Debug, Default)]
pub struct Tracer {
    /// By connection id: 0 not seen, `DROPPED`, else index + 1 in `traces`.
    slots: Vec<u32>,
    traces: Vec<Option<Trace>>,
    free: Vec<u32>,
    live: usize,
    kept: usize,
    /// The refusals and resets kept: the `KEEP_PER_KIND` of each kind whose connections
    /// began first (first packet, id). By connection order, not by when the RST came, so
    /// that tracers of shards of the connections keep among them what one tracer keeps.
    refused: Vec<(u64, u64)>,
    reset: Vec<(u64, u64)>,
    /// The slowest handshake RTTs so far, with their ids.
    slow: Vec<(Duration, u64)>,
    /// Connections never traced (over `MAX_LIVE` or the budget).
    pub untraced: u64,
}

impl Tracer {
    fn drop_trace(&mut self, id: u64) {
        let slot = &mut self.slots[id as usize];
        if *slot != NONE && *slot != DROPPED {
            let i = *slot - 1;
            if let Some(t) = self.traces[i as usize].take() {
                self.kept -= t.events.len();
            }
            self.free.push(i);
            self.live -= 1;
        }
        *slot = DROPPED;
    }

    fn admit(&mut self, view: &ConnectionView) -> Option<u32> {
        if self.live >= MAX_LIVE || self.kept >= BUDGET {
            self.untraced += 1;
            return None;
        }
        let trace = Trace {
            view: *view,
            // A handshake's worth: most traces end there.
            events: Vec::with_capacity(4),
            truncated: false,
            abnormal: false,
            slow: false,
            fins: 0,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.traces[i as usize] = Some(trace);
                i
            }
            None => {
                self.traces.push(Some(trace));
                (self.traces.len() - 1) as u32
            }
        };
        self.live += 1;
        Some(i)
    }

    /// The traces left, by connection id (the candidates), and how many connections
    /// were never traced.
    pub fn finish(mut self) -> (HashMap<u64, Trace>, u64) {
        let mut out = HashMap::new();
        for (id, &slot) in self.slots.iter().enumerate() {
            if slot != NONE && slot != DROPPED {
                if let Some(t) = self.traces[(slot - 1) as usize].take() {
                    out.insert(id as u64, t);
                }
            }
        }
        (out, self.untraced)
    }
}

impl EventSink for Tracer {
    fn wants(&self, id: u64) -> bool {
        self.slots
            .get(id as usize)
            .is_none_or(|&slot| slot != DROPPED)
    }

    fn event(&mut self, view: &ConnectionView, at: Timestamp, e: Event) {
        let id = view.id;
        let Ok(idx) = usize::try_from(id) else {
            return;
        };
        if idx >= self.slots.len() {
            self.slots.resize(idx + 1, NONE);
        }
        let i = match self.slots[idx] {
            DROPPED => return,
            NONE => match self.admit(view) {
                Some(i) => {
                    self.slots[idx] = i + 1;
                    i
                }
                None => {
                    self.slots[idx] = DROPPED;
                    return;
                }
            },
            slot => slot - 1,
        };
        let Some(t) = self.traces[i as usize].as_mut() else {
            return;
        };
        t.view = *view;
        if t.events.len() < PER_CONNECTION && self.kept < BUDGET {
            t.events.push((at, e));
            self.kept += 1;
        } else {
            t.truncated = true;
        }
        let (abnormal, slow, fins) = (t.abnormal, t.slow, t.fins);
        match e {
            Event::Refused | Event::Reset { .. } if !abnormal => {
                t.abnormal = true;
                let kept = if matches!(e, Event::Refused) {
                    &mut self.refused
                } else {
                    &mut self.reset
                };
                let me = (view.first_packet, id);
                let latest = kept.iter().copied().enumerate().max_by_key(|(_, k)| k.0);
                match latest {
                    _ if kept.len() < KEEP_PER_KIND => kept.push(me),
                    Some((at, (first, out))) if me.0 < first => {
                        kept[at] = me;
                        self.let_go_unless_slow(out);
                    }
                    _ if !slow => self.drop_trace(id),
                    _ => {}
                }
            }
            Event::HandshakeCompleted { rtt: Some(rtt) } => {
                let min = self.slow.iter().map(|s| s.0).min();
                if self.slow.len() < KEEP_SLOW || min.is_some_and(|m| rtt > m) {
                    t.slow = true;
                    self.slow.push((rtt, id));
                    if self.slow.len() > KEEP_SLOW {
                        let at = (0..self.slow.len())
                            .min_by_key(|&k| self.slow[k].0)
                            .unwrap_or(0);
                        let (_, out) = self.slow.swap_remove(at);
                        self.demote(out);
                    }
                } else if self.reset.len() >= KEEP_PER_KIND && !abnormal {
                    // Neither slow nor able to be one of the resets kept: most
                    // connections stop being traced here, after their handshake.
                    self.drop_trace(id);
                }
            }
            Event::FinSent { .. } => {
                t.fins = fins.saturating_add(1);
                if t.fins >= 2 && !abnormal && !slow {
                    self.drop_trace(id);
                }
            }
            _ => {}
        }
    }
}

impl Tracer {
    /// `id` left the refusals or resets kept: let it go unless it is among the slowest.
    fn let_go_unless_slow(&mut self, id: u64) {
        let slot = self.slots.get(id as usize).copied().unwrap_or(NONE);
        if slot == NONE || slot == DROPPED {
            return;
        }
        if self.traces[(slot - 1) as usize]
            .as_ref()
            .is_some_and(|t| !t.slow)
        {
            self.drop_trace(id);
        }
    }

    /// `id` left the slowest: let it go if it has closed and is not abnormal.
    fn demote(&mut self, id: u64) {
        let slot = self.slots.get(id as usize).copied().unwrap_or(NONE);
        if slot == NONE || slot == DROPPED {
            return;
        }
        if let Some(t) = self.traces[(slot - 1) as usize].as_mut() {
            t.slow = false;
            if t.fins >= 2 && !t.abnormal {
                self.drop_trace(id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::flags::TcpFlags;
    use crate::model::seq::Seq;
    use crate::model::state::{Side, TcpState};

    fn view(id: u64) -> ConnectionView {
        ConnectionView {
            id,
            client: "10.0.0.2:40000".parse().unwrap(),
            server: "10.0.0.1:80".parse().unwrap(),
            first_packet: id,
            first_seen: Timestamp::from_secs_nanos(1, 0),
            base_seq: [Some(Seq(1)), None],
            refused: false,
            first_fin: None,
            keepalive: Default::default(),
        }
    }

    fn segment() -> Event {
        Event::Segment {
            by: Side::Client,
            flags: TcpFlags(TcpFlags::SYN),
            seq: Seq(1),
            ack: Seq(0),
            window: 100,
            len: 0,
        }
    }

    #[test]
    fn keeps_the_first_resets_the_slowest_and_lets_the_rest_go() {
        let mut t = Tracer::default();
        let at = Timestamp::from_secs_nanos(1, 0);
        let reset = Event::Reset {
            by: Side::Server,
            in_state: TcpState::Established,
        };
        // Ten connections reset after a handshake of 1..10 ms; ten more close with FINs.
        for id in 1..=10u64 {
            let v = view(id);
            t.event(&v, at, segment());
            let rtt = Duration::from_millis(id);
            t.event(&v, at, Event::HandshakeCompleted { rtt: Some(rtt) });
            t.event(&v, at, reset);
        }
        for id in 11..=20u64 {
            let v = view(id);
            t.event(&v, at, segment());
            let rtt = Some(Duration::from_micros(id));
            t.event(&v, at, Event::HandshakeCompleted { rtt });
            t.event(&v, at, Event::FinSent { by: Side::Client });
            t.event(&v, at, Event::FinSent { by: Side::Server });
        }
        let (kept, untraced) = t.finish();
        let mut ids: Vec<u64> = kept.keys().copied().collect();
        ids.sort_unstable();
        // The first four resets, and the slowest handshakes (also resets, 5..10 ms).
        assert_eq!(ids, (1..=10).collect::<Vec<_>>());
        assert_eq!(untraced, 0);
        assert_eq!(kept[&1].events.len(), 3);
    }

    #[test]
    fn the_resets_kept_are_of_the_connections_that_began_first() {
        // Shards of the connections each keep their first-begun resets, so together they
        // hold the ones a single tracer keeps, whenever each RST came.
        let mut t = Tracer::default();
        let at = Timestamp::from_secs_nanos(1, 0);
        let reset = Event::Reset {
            by: Side::Server,
            in_state: TcpState::Established,
        };
        for id in 1..=6u64 {
            t.event(&view(id), at, segment());
        }
        // Connections 3..6 are reset first, then 1 and 2: 1 and 2 displace 5 and 6.
        for id in [3, 4, 5, 6, 1, 2] {
            t.event(&view(id), at, reset);
        }
        let (kept, _) = t.finish();
        let mut ids: Vec<u64> = kept.keys().copied().collect();
        ids.sort_unstable();
        assert_eq!(ids, vec![1, 2, 3, 4]);
    }
}
