//! Connection events as they happen: one text line per event (tcpdump-style timestamps),
//! or one JSON object per line (NDJSON). docs/live.md describes both.

use std::io::{self, Write};
use std::time::Duration;

use crate::model::connection_record::ConnectionRecord;
use crate::model::event::{ConnectionView, Event};
use crate::model::state::{Side, TcpState};
use crate::model::summary::Summary;
use crate::model::time::Timestamp;
use crate::model::units::{JsonTime, Millis, Seconds};

/// Which lines to print.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventOptions {
    /// Every segment, with the state changes it caused (tcpdump-like lines).
    pub verbose: bool,
    pub json: bool,
    /// Print times in UTC instead of local time.
    pub utc: bool,
}

/// Formats events for one output stream. A verbose segment line is held until the
/// state changes it caused have been seen, then written as one line.
pub struct EventPrinter<W: Write> {
    out: W,
    opts: EventOptions,
    pending: Option<String>,
    /// Event lines caused by the pending segment, printed after it.
    pending_events: Vec<String>,
    pub lines: u64,
}

/// Local time of day like tcpdump prints it: the UTC offset in force at `ts`.
fn local_offset_secs(ts: Timestamp) -> i64 {
    let t = ts.secs() as libc::time_t;
    // SAFETY: localtime_r only writes the `tm` we own; a zeroed tm is a valid value.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            0
        } else {
            tm.tm_gmtoff
        }
    }
}

pub fn clock(ts: Timestamp, utc: bool) -> String {
    let shifted = if utc {
        ts
    } else {
        Timestamp::from_nanos(
            ts.as_nanos()
                .saturating_add(local_offset_secs(ts) * 1_000_000_000),
        )
    };
    shifted.time_of_day(false)
}

fn endpoint_name(c: &ConnectionView, side: Side) -> String {
    match side {
        Side::Client => c.client.to_string(),
        Side::Server => c.server.to_string(),
    }
}

impl<W: Write> EventPrinter<W> {
    pub fn new(out: W, opts: EventOptions) -> Self {
        EventPrinter {
            out,
            opts,
            pending: None,
            pending_events: Vec::new(),
            lines: 0,
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.end_packet()?;
        self.out.flush()
    }

    /// Writes a verbose segment line held back for its state changes.
    pub fn end_packet(&mut self) -> io::Result<()> {
        if let Some(line) = self.pending.take() {
            writeln!(self.out, "{line}")?;
            self.lines += 1;
        }
        for line in self.pending_events.drain(..) {
            writeln!(self.out, "{line}")?;
            self.lines += 1;
        }
        Ok(())
    }

    pub fn event(&mut self, c: &ConnectionView, ts: Timestamp, e: Event) -> io::Result<()> {
        if self.opts.json {
            return self.json_event(c, ts, e);
        }
        let verbose = self.opts.verbose;
        let text = match e {
            Event::Segment {
                by,
                flags,
                seq,
                ack,
                window,
                len,
            } => {
                if !verbose {
                    return Ok(());
                }
                self.end_packet()?;
                let base = |side: Side| c.base_seq(side).unwrap_or(seq);
                let rel_seq = seq.0.wrapping_sub(base(by).0);
                let mut line = format!(
                    "{} #{} {} > {}: Flags [{flags}], seq {rel_seq}",
                    clock(ts, self.opts.utc),
                    c.id,
                    endpoint_name(c, by),
                    endpoint_name(c, by.peer()),
                );
                if flags.ack() {
                    let rel_ack = ack.0.wrapping_sub(base(by.peer()).0);
                    line.push_str(&format!(", ack {rel_ack}"));
                }
                line.push_str(&format!(", win {window}, length {len}"));
                self.pending = Some(line);
                return Ok(());
            }
            Event::StateChanged { side, from, to } => {
                if !verbose {
                    return Ok(());
                }
                if let Some(line) = &mut self.pending {
                    line.push_str(&format!("  [{side} {from} → {to}]"));
                    return Ok(());
                }
                format!("{side} {from} → {to}")
            }
            Event::ConnectionStarted { reused_time_wait } => {
                if reused_time_wait {
                    "new SYN reuses the 4-tuple while the previous connection is in TIME_WAIT"
                        .to_string()
                } else {
                    return Ok(());
                }
            }
            Event::HandshakeCompleted { rtt } => match rtt {
                Some(rtt) => format!("handshake completed, rtt {:.3} ms", Millis(rtt).as_f64()),
                None => "handshake completed (SYN not captured: no rtt)".to_string(),
            },
            Event::Refused => "refused: the server answered the SYN with RST".to_string(),
            // A refusal is a reset too; its own line says more.
            Event::Reset { .. } if c.refused => return Ok(()),
            Event::Reset { by, in_state } => format!("reset by {by} in {in_state}"),
            Event::FinSent { by } => {
                let first = c.first_fin == Some(by);
                if first {
                    format!("FIN from {by} (active close)")
                } else {
                    format!("FIN from {by}")
                }
            }
            Event::TimeWaitEntered { side } => {
                format!("{side} enters TIME_WAIT (active closer; held for 2·MSL)")
            }
            Event::KeepaliveProbe { by } => {
                let ka = c.keepalive(by);
                // This probe counts as unanswered until an ACK comes: earlier ones are.
                let unanswered = ka.unanswered().saturating_sub(1);
                if unanswered >= 1 {
                    format!(
                        "keep-alive probe #{} from {by}: {} not answering ({unanswered} unanswered)",
                        ka.probes,
                        by.peer()
                    )
                } else {
                    let idle = match (ka.probes, ka.idle_before_first) {
                        (1, Some(idle)) => format!(", after {:.1} s idle", idle.as_secs_f64()),
                        _ => String::new(),
                    };
                    format!("keep-alive probe #{} from {by}{idle}", ka.probes)
                }
            }
            Event::KeepaliveAck { by } => format!("keep-alive ACK from {by}"),
            Event::ZeroWindowProbe { by } if verbose => format!("zero-window probe from {by}"),
            Event::Retransmission { by } if verbose => format!("retransmission from {by}"),
            Event::Anomaly(a) => format!("anomaly: {}", a.as_str()),
            Event::Options(_) => return Ok(()),
            Event::SynRetransmitted {
                by,
                count,
                since_first,
            } => {
                let what = match by {
                    Side::Client => "SYN",
                    Side::Server => "SYN/ACK",
                };
                format!(
                    "{what} retransmitted by {by}: {what} #{count}, {:.3} s after the first",
                    since_first.as_secs_f64()
                )
            }
            Event::ZeroWindowProbe { .. } | Event::Retransmission { .. } => return Ok(()),
        };
        let line = format!(
            "{} #{} {} > {}: {text}",
            clock(ts, self.opts.utc),
            c.id,
            c.client,
            c.server
        );
        if self.pending.is_some() {
            // After the segment line, which still collects its state changes.
            self.pending_events.push(line);
        } else {
            writeln!(self.out, "{line}")?;
            self.lines += 1;
        }
        Ok(())
    }

    fn json_event(&mut self, c: &ConnectionView, ts: Timestamp, e: Event) -> io::Result<()> {
        let mut obj = serde_json::Map::new();
        let put = |obj: &mut serde_json::Map<String, serde_json::Value>, k: &str, v| {
            obj.insert(k.to_string(), v);
        };
        let name = match e {
            Event::Segment {
                by,
                flags,
                seq,
                ack,
                window,
                len,
            } => {
                if !self.opts.verbose {
                    return Ok(());
                }
                put(&mut obj, "by", by.as_str().into());
                put(&mut obj, "flags", flags.to_string().into());
                put(&mut obj, "seq", seq.0.into());
                put(&mut obj, "ack", ack.0.into());
                put(&mut obj, "window", window.into());
                put(&mut obj, "length", len.into());
                "segment"
            }
            Event::StateChanged { side, from, to } => {
                if !self.opts.verbose {
                    return Ok(());
                }
                put(&mut obj, "side", side.as_str().into());
                put(&mut obj, "from", state(from));
                put(&mut obj, "to", state(to));
                "state_changed"
            }
            Event::ConnectionStarted { reused_time_wait } => {
                put(&mut obj, "reused_time_wait", reused_time_wait.into());
                "connection_started"
            }
            Event::HandshakeCompleted { rtt } => {
                put(&mut obj, "rtt_ms", ms_value(rtt.map(Millis)));
                "handshake_completed"
            }
            Event::Refused => "refused",
            Event::Reset { by, in_state } => {
                put(&mut obj, "by", by.as_str().into());
                put(&mut obj, "state", state(in_state));
                "reset"
            }
            Event::FinSent { by } => {
                put(&mut obj, "by", by.as_str().into());
                "fin"
            }
            Event::TimeWaitEntered { side } => {
                put(&mut obj, "side", side.as_str().into());
                "time_wait"
            }
            Event::KeepaliveProbe { by } => {
                let ka = c.keepalive(by);
                put(&mut obj, "by", by.as_str().into());
                put(&mut obj, "probe", ka.probes.into());
                put(
                    &mut obj,
                    "unanswered_before",
                    ka.unanswered().saturating_sub(1).into(),
                );
                "keepalive_probe"
            }
            Event::KeepaliveAck { by } => {
                put(&mut obj, "by", by.as_str().into());
                "keepalive_ack"
            }
            Event::ZeroWindowProbe { by } => {
                put(&mut obj, "by", by.as_str().into());
                "zero_window_probe"
            }
            Event::Retransmission { by } => {
                put(&mut obj, "by", by.as_str().into());
                "retransmission"
            }
            Event::Anomaly(a) => {
                put(&mut obj, "anomaly", a.as_str().into());
                "anomaly"
            }
            // The `retransmission` event of the same segment already says it.
            Event::SynRetransmitted { .. } | Event::Options(_) => return Ok(()),
        };
        let mut line = serde_json::Map::new();
        line.insert(
            "ts".into(),
            serde_json::to_value(JsonTime(ts)).unwrap_or_default(),
        );
        line.insert("event".into(), name.into());
        line.insert("conn".into(), c.id.into());
        line.insert("client".into(), c.client.to_string().into());
        line.insert("server".into(), c.server.to_string().into());
        line.extend(obj);
        serde_json::to_writer(&mut self.out, &line).map_err(super::json::into_io)?;
        writeln!(self.out)?;
        self.lines += 1;
        Ok(())
    }

    /// The summary so far (`--interval`): connections still tracked, connections seen,
    /// handshake latency, RST and TIME_WAIT.
    pub fn interval(
        &mut self,
        now: Timestamp,
        tracked: &[(&'static str, u64)],
        s: &Summary,
    ) -> io::Result<()> {
        let open: u64 = tracked.iter().map(|(_, n)| n).sum();
        if self.opts.json {
            let v = serde_json::json!({
                "ts": serde_json::to_value(JsonTime(now)).unwrap_or_default(),
                "event": "interval",
                "open": open,
                "connections": s.connections,
                "handshake_p50_ms": serde_json::to_value(s.handshake_rtt_ms.p50).unwrap_or_default(),
                "handshake_p99_ms": serde_json::to_value(s.handshake_rtt_ms.p99).unwrap_or_default(),
                "rst": s.rst.packets,
                "time_wait_client": s.time_wait.client,
                "time_wait_server": s.time_wait.server,
            });
            return self.json_line(&v);
        }
        let text = summary_line(tracked, s);
        self.line(now, &text)
    }

    /// The kernel dropped `grown` more packets (libpcap's totals with it), said when
    /// the count grows.
    pub fn kernel_drops(
        &mut self,
        now: Timestamp,
        grown: u64,
        dropped_by_kernel: u64,
        received_by_filter: u64,
        dropped_by_interface: u64,
    ) -> io::Result<()> {
        if self.opts.json {
            let v = serde_json::json!({
                "ts": serde_json::to_value(JsonTime(now)).unwrap_or_default(),
                "event": "kernel_drops",
                "dropped": grown,
                "dropped_by_kernel": dropped_by_kernel,
                "received_by_filter": received_by_filter,
                "dropped_by_interface": dropped_by_interface,
            });
            return self.json_line(&v);
        }
        let text = format!(
            "kernel dropped {grown} packets ({dropped_by_kernel} dropped by kernel, {received_by_filter} received by filter, {dropped_by_interface} dropped by interface)"
        );
        self.line(now, &text)
    }

    /// The capture ring was full: `grown` more packets read were dropped (`total` in all).
    pub fn ring_drops(&mut self, now: Timestamp, grown: u64, total: u64) -> io::Result<()> {
        if self.opts.json {
            let v = serde_json::json!({
                "ts": serde_json::to_value(JsonTime(now)).unwrap_or_default(),
                "event": "ring_drops",
                "dropped": grown,
                "dropped_ring_full": total,
            });
            return self.json_line(&v);
        }
        let text = format!(
            "capture ring full: dropped {grown} packets ({total} dropped in all; the analysis fell behind)"
        );
        self.line(now, &text)
    }
}

/// The `--interval` line without its time: `summary: 12 tracked (…), 340 seen, …`.
pub fn summary_line(tracked: &[(&'static str, u64)], s: &Summary) -> String {
    let open: u64 = tracked.iter().map(|(_, n)| n).sum();
    {
        let ms = |m: Option<Millis>| m.map_or("-".to_string(), |m| format!("{:.3}", m.as_f64()));
        format!(
            "summary: {} tracked{}, {} seen, handshake p50 {} ms p99 {} ms, RST {} ({} client / {} server), TIME_WAIT {} client / {} server",
            open,
            by_state(tracked),
            s.connections,
            ms(s.handshake_rtt_ms.p50),
            ms(s.handshake_rtt_ms.p99),
            s.rst.packets,
            s.rst.from_client,
            s.rst.from_server,
            s.time_wait.client,
            s.time_wait.server
        )
    }
}

impl<W: Write> EventPrinter<W> {
    /// A connection let go of with its SYN never answered.
    pub fn unanswered(&mut self, now: Timestamp, r: &ConnectionRecord) -> io::Result<()> {
        let h = &r.handshake;
        let span = match (h.first_syn, h.last_syn) {
            (Some(a), Some(b)) => b.saturating_since(a),
            _ => Duration::ZERO,
        };
        let silent = now.saturating_since(r.last_seen);
        if self.opts.json {
            let v = serde_json::json!({
                "ts": serde_json::to_value(JsonTime(now)).unwrap_or_default(),
                "event": "syn_unanswered",
                "conn": r.id,
                "client": r.client.to_string(),
                "server": r.server.to_string(),
                "syns": h.syn_count,
                "silent_s": serde_json::to_value(Seconds(silent)).unwrap_or_default(),
            });
            return self.json_line(&v);
        }
        let syns = if h.syn_count == 1 { "SYN" } else { "SYNs" };
        let text = format!(
            "#{} {} > {}: SYN unanswered: {} {syns} over {:.3} s, no answer; let go of after {:.0} s of silence",
            r.id,
            r.client,
            r.server,
            h.syn_count,
            span.as_secs_f64(),
            silent.as_secs_f64()
        );
        self.line(now, &text)
    }

    /// A free-form line, in the same style.
    pub fn line(&mut self, ts: Timestamp, text: &str) -> io::Result<()> {
        self.end_packet()?;
        writeln!(self.out, "{} {text}", clock(ts, self.opts.utc))?;
        self.lines += 1;
        Ok(())
    }

    /// A JSON object as one line.
    pub fn json_line(&mut self, value: &serde_json::Value) -> io::Result<()> {
        self.end_packet()?;
        serde_json::to_writer(&mut self.out, value).map_err(super::json::into_io)?;
        writeln!(self.out)?;
        self.lines += 1;
        Ok(())
    }
}

/// ` (1 established, 3 time_wait)` (nothing when none is tracked).
fn by_state(tracked: &[(&'static str, u64)]) -> String {
    if tracked.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = tracked.iter().map(|(s, n)| format!("{n} {s}")).collect();
    format!(" ({})", parts.join(", "))
}

fn state(s: TcpState) -> serde_json::Value {
    s.as_str().into()
}

fn ms_value(m: Option<Millis>) -> serde_json::Value {
    m.and_then(|m| serde_json::to_value(m).ok())
        .unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printed(json: bool, print: impl FnOnce(&mut EventPrinter<Vec<u8>>)) -> String {
        let opts = EventOptions {
            verbose: false,
            json,
            utc: true,
        };
        let mut p = EventPrinter::new(Vec::new(), opts);
        print(&mut p);
        p.flush().expect("flush to memory");
        String::from_utf8(p.into_inner()).expect("utf-8")
    }

    #[test]
    fn ring_drops_say_how_many_and_in_all_as_text_and_json() {
        let at = Timestamp::from_secs_nanos(3600, 500_000_000);
        let text = printed(false, |p| p.ring_drops(at, 12, 40).expect("write"));
        assert_eq!(
            text,
            "01:00:00.500000 capture ring full: dropped 12 packets (40 dropped in all; the analysis fell behind)\n"
        );
        let json = printed(true, |p| p.ring_drops(at, 12, 40).expect("write"));
        let v: serde_json::Value = serde_json::from_str(json.trim()).expect("one JSON line");
        assert_eq!(v["event"], "ring_drops");
        assert_eq!(v["dropped"], 12);
        assert_eq!(v["dropped_ring_full"], 40);
    }
}
