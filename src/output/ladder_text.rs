//! The ladder diagram as text: time and delta on the left, the client's states, one arrow
//! per segment, the server's states, then what the segment meant. docs/ladder.md shows
//! an example and explains each mark.

use std::io::{self, Write};
use std::time::Duration;

use crate::model::ladder::{Fold, Ladder, Mark, Row, SegmentRow};
use crate::model::state::{CloseKind, Closer, Side};
use crate::model::units::Millis;
use crate::output::escape::escape_text;
use crate::output::fit;
use crate::output::json::sides_text;
use crate::output::table::app_label;

/// ANSI SGR codes, used only when colors are on.
mod sgr {
    pub const DIM: &str = "2";
    pub const STATE: &str = "1;36";
    pub const SYN: &str = "32";
    pub const FIN: &str = "33";
    pub const RST: &str = "1;31";
    pub const DATA: &str = "34";
    pub const BAD: &str = "31";
    pub const KEEPALIVE: &str = "35";
    pub const GOOD: &str = "32";
}

fn paint(text: &str, code: &str, color: bool) -> String {
    if color && !text.is_empty() {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// Seconds with microseconds: `7200.060350`.
pub fn seconds(d: Duration) -> String {
    format!("{}.{:06}", d.as_secs(), d.subsec_micros())
}

/// Milliseconds with microseconds, signed as an increment: `+12.060`.
pub fn delta_ms(d: Duration) -> String {
    let us = d.as_micros();
    format!("+{}.{:03}", us / 1000, us % 1000)
}

/// `1,204`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Decimal units: `512 B`, `3.1 MB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if n < 1000 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1000.0;
    let mut unit = 0;
    while v >= 999.95 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// The connection, its close and what ran over it, one line each (already escaped).
pub fn header_lines(l: &Ladder) -> Vec<String> {
    let c = &l.conn;
    let mut close = match (c.close, c.closer, c.reset) {
        (CloseKind::Fin, Some(Closer::Both), _) => {
            "fin, simultaneous close (the FINs crossed)".to_string()
        }
        (CloseKind::Fin | CloseKind::HalfClosed, Some(by), _) => {
            format!("{}, first FIN from {}", c.close.as_str(), by.as_str())
        }
        (CloseKind::Refused, _, Some(r)) => format!("refused (RST from {})", r.by.as_str()),
        (CloseKind::Reset, _, Some(r)) => {
            format!("reset by {} in {}", r.by.as_str(), r.sender_state.as_str())
        }
        (kind, ..) => kind.as_str().to_string(),
    };
    if let Some(tw) = sides_text(c.time_wait) {
        close.push_str(&format!("; TIME_WAIT: {tw}"));
    }
    if c.midstream {
        close.push_str("; began before the capture");
    }
    let rtt = c.handshake_rtt().map_or_else(String::new, |d| {
        format!("handshake RTT {:.3} ms; ", Millis(d).as_f64())
    });
    let mut counts = format!("{} segments", thousands(l.segments));
    let folded: u64 = l
        .rows
        .iter()
        .map(|r| match r {
            Row::Fold(f) => f.segments,
            Row::Segment(_) => 0,
        })
        .sum();
    if folded > 0 {
        counts.push_str(&format!(
            ", {} folded (--full shows them)",
            thousands(folded)
        ));
    }
    if l.not_drawn > 0 {
        counts.push_str(&format!(
            ", {} not drawn (more than {} rows)",
            thousands(l.not_drawn),
            thousands(crate::model::ladder::MAX_ROWS as u64)
        ));
    }
    vec![
        format!(
            "connection #{}: client {} → server {}, first packet {} UTC",
            c.id,
            escape_text(&c.client.to_string()),
            escape_text(&c.server.to_string()),
            l.first_seen.utc_string()
        ),
        format!("close: {close}"),
        format!("{rtt}app: {}; {counts}", app_label(&c.app)),
    ]
}

/// `[SYN, ACK] seq=0 ack=1 win=65160`, with `len=` when the segment carries data.
pub fn segment_label(r: &SegmentRow) -> String {
    let mut s = format!("[{}] seq={}", r.flag_names(), r.seq);
    if let Some(ack) = r.ack {
        s.push_str(&format!(" ack={ack}"));
    }
    s.push_str(&format!(" win={}", r.window));
    if r.len > 0 {
        s.push_str(&format!(" len={}", r.len));
    }
    s
}

/// The label of a fitted diagram: tcpdump's flag letters (`S`, `F`, `R`, `P`, `U`, `E`,
/// `W`, `.` for ACK), `[S.] seq=0 ack=1 win=65160`.
pub fn short_segment_label(r: &SegmentRow) -> String {
    use crate::model::flags::TcpFlags;
    const LETTERS: [(u16, char); 8] = [
        (TcpFlags::SYN, 'S'),
        (TcpFlags::FIN, 'F'),
        (TcpFlags::RST, 'R'),
        (TcpFlags::PSH, 'P'),
        (TcpFlags::URG, 'U'),
        (TcpFlags::ECE, 'E'),
        (TcpFlags::CWR, 'W'),
        (TcpFlags::ACK, '.'),
    ];
    let letters: String = LETTERS
        .iter()
        .filter(|(bit, _)| r.flags.has(*bit))
        .map(|(_, c)| *c)
        .collect();
    let long = segment_label(r);
    // From the first space on, the label is the same.
    let rest = long.split_once("] ").map_or("", |(_, rest)| rest);
    format!("[{letters}] {rest}")
}

/// `… 1,204 segments, 3.1 MB →`: what a fold hides, with the direction of its data.
pub fn fold_label(f: &Fold) -> String {
    let [c2s, s2c] = f.bytes;
    let data = match (c2s > 0, s2c > 0) {
        (true, true) => format!(", {} → {} ←", bytes(c2s), bytes(s2c)),
        (true, false) => format!(", {} →", bytes(c2s)),
        (false, true) => format!(", {} ←", bytes(s2c)),
        (false, false) => String::new(),
    };
    format!("… {} segments{data}", thousands(f.segments))
}

/// What the tracker made of a segment, each with its color.
pub fn marks(r: &SegmentRow, l: &Ladder) -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    for m in r.marks.iter() {
        let (text, code) = match m {
            Mark::HandshakeDone => {
                let rtt = l.conn.handshake_rtt().map(Millis);
                match rtt {
                    Some(ms) => (
                        format!("handshake done, RTT {:.3} ms", ms.as_f64()),
                        sgr::GOOD,
                    ),
                    None => ("handshake done".to_string(), sgr::GOOD),
                }
            }
            Mark::Refused => ("refused".to_string(), sgr::BAD),
            // A refusal is a reset too; "refused" says more.
            Mark::Reset if r.marks.contains(Mark::Refused) => continue,
            Mark::Reset => match r.reset_in {
                Some(s) => (format!("reset in {s}"), sgr::BAD),
                None => ("reset".to_string(), sgr::BAD),
            },
            Mark::Retransmission => ("retransmission".to_string(), sgr::BAD),
            Mark::KeepaliveProbe => ("keep-alive probe".to_string(), sgr::KEEPALIVE),
            Mark::KeepaliveAck => ("keep-alive ACK".to_string(), sgr::KEEPALIVE),
            Mark::ZeroWindowProbe => ("zero-window probe".to_string(), sgr::KEEPALIVE),
            Mark::ZeroWindow => ("zero window".to_string(), sgr::BAD),
            Mark::Anomaly => match r.anomaly {
                Some(a) => (format!("anomaly: {}", a.as_str()), sgr::BAD),
                None => ("anomaly".to_string(), sgr::BAD),
            },
        };
        out.push((text, code));
    }
    out
}

/// The color class of a segment's arrow: control flags first, then data.
pub fn arrow_class(r: &SegmentRow) -> &'static str {
    let f = r.flags;
    if f.rst() {
        "rst"
    } else if f.syn() {
        "syn"
    } else if f.fin() {
        "fin"
    } else if r.len > 0 {
        "data"
    } else {
        "ack"
    }
}

fn arrow_code(class: &str) -> &'static str {
    match class {
        "rst" => sgr::RST,
        "syn" => sgr::SYN,
        "fin" => sgr::FIN,
        "data" => sgr::DATA,
        _ => "0",
    }
}

/// States entered, shorter (as ss names them): `ESTAB`, `SYN_RECV`, `FIN_WAIT_1→CLOSING`.
fn short_states(r: &SegmentRow, side: Side) -> String {
    states(r, side)
        .replace("ESTABLISHED", "ESTAB")
        .replace("SYN_RECEIVED", "SYN_RECV")
        .replace(" → ", "→")
}

/// States entered, `FIN_WAIT_1 → CLOSING`.
pub fn states(r: &SegmentRow, side: Side) -> String {
    let i = match side {
        Side::Client => 0,
        Side::Server => 1,
    };
    let names: Vec<&str> = r.entered[i].iter().map(|s| s.as_str()).collect();
    names.join(" → ")
}

fn width(s: &str) -> usize {
    s.chars().count()
}

fn spaces(text: &str, w: usize) -> String {
    " ".repeat(w.saturating_sub(width(text)))
}

fn pad(s: &str, w: usize) -> String {
    format!("{s}{}", spaces(s, w))
}

fn pad_left(s: &str, w: usize) -> String {
    format!("{}{s}", spaces(s, w))
}

/// A left-aligned cell whose padding stays outside the color codes, so that trimming a
/// line gives the same text with colors on or off.
fn cell(s: &str, w: usize, code: &str, color: bool) -> String {
    format!("{}{}", paint(s, code, color), spaces(s, w))
}

/// A right-aligned cell, padding outside the color codes.
fn cell_right(s: &str, w: usize, code: &str, color: bool) -> String {
    format!("{}{}", spaces(s, w), paint(s, code, color))
}

/// Writes the diagram; `color` adds ANSI colors (the caller decides: a terminal and no
/// NO_COLOR, or --color always). With a `width`, the diagram is fitted to it: tcpdump's
/// flag letters, ss's state names, narrower lanes, marks on a line of their own when the
/// row is full, and labels cut when a lane still cannot hold them; `None` (`--wide`)
/// draws it whole.
pub fn write_text<W: Write>(
    out: &mut W,
    l: &Ladder,
    color: bool,
    width: Option<usize>,
) -> io::Result<()> {
    let fitted = width.is_some();
    for line in header_lines(l) {
        match width {
            Some(w) => {
                for part in fit::wrap(&line, w, "  ") {
                    writeln!(out, "{part}")?;
                }
            }
            None => writeln!(out, "{line}")?,
        }
    }
    writeln!(out)?;
    let states = |r: &SegmentRow, side| {
        if fitted {
            short_states(r, side)
        } else {
            states(r, side)
        }
    };
    let mut labels: Vec<String> = l
        .rows
        .iter()
        .map(|r| match r {
            Row::Segment(s) if fitted => short_segment_label(s),
            Row::Segment(s) => segment_label(s),
            Row::Fold(f) => fold_label(f),
        })
        .collect();
    let segs = || {
        l.rows.iter().filter_map(|r| match r {
            Row::Segment(s) => Some(s),
            Row::Fold(_) => None,
        })
    };
    let width_limit = width;
    let width = |s: &str| fit::width(s);
    let wc = segs()
        .map(|s| width(&states(s, Side::Client)))
        .chain([width("client")])
        .max()
        .unwrap_or(0);
    let ws = segs()
        .map(|s| width(&states(s, Side::Server)))
        .chain([width("server")])
        .max()
        .unwrap_or(0);
    let mut wa = labels
        .iter()
        .map(|s| width(s) + 6)
        .max()
        .unwrap_or(0)
        .max(if fitted { 20 } else { 40 });
    let wt = segs()
        .map(|s| width(&seconds(s.at)))
        .chain([width("time (s)")])
        .max()
        .unwrap_or(0);
    let delta_head = if fitted { "delta ms" } else { "delta (ms)" };
    let wd = segs()
        .filter_map(|s| s.delta.map(|d| width(&delta_ms(d))))
        .chain([width(delta_head)])
        .max()
        .unwrap_or(0);

    // Where the arrow starts, and a lane cut to what the width leaves for it.
    let indent = wt + 2 + wd + 2 + wc + 2;
    if let Some(w) = width_limit {
        let room = w.saturating_sub(indent + 2 + ws).max(12);
        if wa > room {
            wa = room;
            for (label, row) in labels.iter_mut().zip(&l.rows) {
                if width(label) + 6 <= wa {
                    continue;
                }
                // The window goes first (a zero window has its own mark), then the end.
                if let Row::Segment(s) = row {
                    let win = format!(" win={}", s.window);
                    *label = label.replacen(&win, "", 1);
                }
                *label = fit::truncate(label, wa - 6);
            }
        }
    }
    let (client, server) = if fitted {
        ("client".to_string(), "server".to_string())
    } else {
        (
            format!("client {}", escape_text(&l.conn.client.to_string())),
            format!("server {}", escape_text(&l.conn.server.to_string())),
        )
    };
    let head = format!(
        "{}  {}  {}  {}",
        pad_left("time (s)", wt),
        pad_left(delta_head, wd),
        pad(&client, wc + 2 + wa),
        server
    );
    writeln!(out, "{}", paint(head.trim_end(), sgr::DIM, color))?;

    for (row, label) in l.rows.iter().zip(&labels) {
        let line = match row {
            Row::Segment(s) => {
                let fill = wa - width(label) - 5;
                let arrow = match s.from {
                    Side::Client => format!("── {label} {}▶", "─".repeat(fill)),
                    Side::Server => format!("◀{} {label} ──", "─".repeat(fill)),
                };
                let plain: Vec<String> = marks(s, l).into_iter().map(|(t, _)| t).collect();
                let mark_text: Vec<String> = marks(s, l)
                    .into_iter()
                    .map(|(t, code)| paint(&t, code, color))
                    .collect();
                let row_width = indent + wa + 2 + ws + 2 + width(&plain.join(", "));
                // Fitted: marks that would overflow go on the next line, under the arrow.
                let (mark_text, below) = match width_limit {
                    Some(w) if !plain.is_empty() && row_width > w => {
                        let text = format!("↳ {}", plain.join(", "));
                        let lines: Vec<String> = fit::wrap(&text, w.saturating_sub(indent), "  ")
                            .into_iter()
                            .map(|t| {
                                format!("{}{}", " ".repeat(indent), paint(&t, sgr::DIM, color))
                            })
                            .collect();
                        (Vec::new(), lines)
                    }
                    _ => (mark_text, Vec::new()),
                };
                let row = format!(
                    "{}  {}  {}  {}  {}  {}",
                    cell_right(&seconds(s.at), wt, sgr::DIM, color),
                    cell_right(
                        &s.delta.map(delta_ms).unwrap_or_default(),
                        wd,
                        sgr::DIM,
                        color
                    ),
                    cell(&states(s, Side::Client), wc, sgr::STATE, color),
                    paint(&arrow, arrow_code(arrow_class(s)), color),
                    cell(&states(s, Side::Server), ws, sgr::STATE, color),
                    mark_text.join(", ")
                );
                let mut text = row.trim_end().to_string();
                for b in below {
                    text.push('\n');
                    text.push_str(&b);
                }
                text
            }
            Row::Fold(f) => {
                let side = wa - width(label) - 2;
                let fold = format!(
                    "{} {label} {}",
                    "┄".repeat(side / 2),
                    "┄".repeat(side - side / 2)
                );
                format!(
                    "{}  {}  {}  {}",
                    cell_right(&seconds(f.first), wt, sgr::DIM, color),
                    pad_left("", wd),
                    pad("", wc),
                    paint(&fold, sgr::DIM, color)
                )
            }
        };
        // Padding is for alignment only: no line ends in spaces.
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}
