//! The time-sequence graph (tcptrace's, Stevens's) as an SVG document: for each direction a
//! panel with sequence number over time. Each data segment is a vertical bar over the
//! bytes it carried (retransmissions in vermillion), the peer's acknowledgments a green
//! step line and the right edge of its receive window an orange one; SACK blocks are purple
//! bars beside the ACK line; letters mark zero windows (Z), keep-alive probes (K), RSTs
//! (R), SYNs (S) and FINs (F). Colors are the Okabe–Ito palette, told apart by
//! color-blind readers, and every mark has a letter or a line style too.

use std::fmt::Write as _;

use crate::model::ladder::Mark;
use crate::model::seq_graph::{SeqGraph, SeqPoint};
use crate::model::state::Side;
use crate::model::units::Millis;
use crate::output::escape::{escape_text, xml_escape};

const WIDTH: f64 = 900.0;
const PANEL_H: f64 = 260.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 96.0;
const GAP: f64 = 60.0;

const STYLE: &str = "
svg { color-scheme: light dark; }
.bg { fill: #ffffff; }
text { font-family: system-ui, sans-serif; font-size: 11px; fill: #222; }
.head { font-size: 13px; font-weight: 600; }
.axis { stroke: #888; stroke-width: 1; fill: none; }
.grid { stroke: #ddd; stroke-width: 0.5; }
.data { stroke: #0072B2; stroke-width: 1.5; }
.rtx { stroke: #D55E00; stroke-width: 2.5; }
.ack { stroke: #009E73; stroke-width: 1.2; fill: none; }
.win { stroke: #E69F00; stroke-width: 1.2; fill: none; stroke-dasharray: 4 2; }
.sack { stroke: #CC79A7; stroke-width: 3; }
.mark { font-weight: 700; font-size: 10px; }
.m-rst { fill: #D55E00; }
.m-zw { fill: #E69F00; }
.m-ka { fill: #56B4E9; }
.m-sf { fill: #555; }
@media (prefers-color-scheme: dark) {
  .bg { fill: #1e1e1e; }
  text { fill: #ddd; }
  .grid { stroke: #333; }
  .m-sf { fill: #aaa; }
}
";

/// Round numbers for axis ticks: 1, 2 or 5 times a power of ten, about `n` of them.
fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let span = (hi - lo).max(f64::MIN_POSITIVE);
    let raw = span / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(raw);
    let mut v = Vec::new();
    let mut t = (lo / step).ceil() * step;
    while t <= hi + step * 1e-9 && v.len() < 50 {
        v.push(t);
        t += step;
    }
    v
}

/// A whole number with thousands separators, negative ones too.
fn thousands(n: f64) -> String {
    let n = n.round() as i64;
    let sign = if n < 0 { "-" } else { "" };
    format!(
        "{sign}{}",
        crate::output::ladder_text::thousands(n.unsigned_abs())
    )
}

/// Relative sequence numbers as signed offsets: a segment before the first one seen (a
/// retransmission of data sent before the capture) lands below zero, not near 2^32.
fn rel(n: u32) -> f64 {
    f64::from(n as i32)
}

/// The text alternative: what the graph shows, in words.
pub fn describe(g: &SeqGraph) -> String {
    let count =
        |side: Side, f: &dyn Fn(&SeqPoint) -> bool| g.sent_by(side).filter(|p| f(p)).count();
    let mut parts = Vec::new();
    for side in [Side::Client, Side::Server] {
        let data: u64 = g.sent_by(side).map(|p| u64::from(p.len)).sum();
        let rtx = count(side, &|p| p.marks.contains(Mark::Retransmission));
        parts.push(format!(
            "{} sent {} segments spanning {} bytes of sequence space, {} retransmitted",
            side.as_str(),
            g.sent_by(side).count(),
            thousands(data as f64),
            rtx
        ));
    }
    let zw = g.points.iter().filter(|p| p.zero_window).count();
    let ka = g
        .points
        .iter()
        .filter(|p| p.marks.contains(Mark::KeepaliveProbe))
        .count();
    let rst = g.points.iter().filter(|p| p.flags.rst()).count();
    let sack = g.points.iter().filter(|p| !p.sack.is_empty()).count();
    let span = g.points.last().map_or(0.0, |p| p.at.as_secs_f64());
    format!(
        "Time-sequence graph over {span:.3} s: {}; {zw} zero-window advertisements, {ka} keep-alive probes, {rst} RSTs, {sack} segments with SACK blocks{}.",
        parts.join("; "),
        if g.not_drawn > 0 {
            format!("; {} later segments not drawn", g.not_drawn)
        } else {
            String::new()
        }
    )
}

/// The SVG document of a time-sequence graph.
pub fn render(g: &SeqGraph) -> String {
    let c = &g.conn;
    let height = TOP + 2.0 * PANEL_H + GAP + 40.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" data-segments="{}">"#,
        g.segments
    );
    let title = format!(
        "connection #{}: client {} → server {}",
        c.id,
        escape_text(&c.client.to_string()),
        escape_text(&c.server.to_string())
    );
    let _ = writeln!(out, "<title>{}</title>", xml_escape(&title));
    let _ = writeln!(out, "<desc>{}</desc>", xml_escape(&describe(g)));
    let _ = writeln!(out, "<style>{STYLE}</style>");
    let _ = writeln!(
        out,
        r#"<rect class="bg" x="0" y="0" width="{WIDTH}" height="{height}"/>"#
    );
    let rtt = c.handshake_rtt().map_or_else(String::new, |d| {
        format!("; handshake RTT {:.3} ms", Millis(d).as_f64())
    });
    let scale = match g.window_scale {
        Some([a, b]) => format!("; window scale {a}/{b}"),
        None => "; windows unscaled (no window scale in both SYNs)".to_string(),
    };
    let not_drawn = if g.not_drawn > 0 {
        format!(
            "; {} later segments not drawn",
            thousands(g.not_drawn as f64)
        )
    } else {
        String::new()
    };
    text(&mut out, 12.0, 20.0, "head", "start", &title);
    text(
        &mut out,
        12.0,
        38.0,
        "",
        "start",
        &format!(
            "close: {}{rtt}; {} segments{scale}{not_drawn}",
            c.close.as_str(),
            thousands(g.segments as f64)
        ),
    );
    legend(&mut out, 12.0, 56.0);
    let t_max = g
        .points
        .last()
        .map_or(0.0, |p| p.at.as_secs_f64())
        .max(1e-6);
    for (i, side) in [Side::Client, Side::Server].into_iter().enumerate() {
        let y0 = TOP + i as f64 * (PANEL_H + GAP);
        panel(&mut out, g, side, y0, t_max);
    }
    out.push_str("</svg>\n");
    out
}

fn legend(out: &mut String, x: f64, y: f64) {
    let items = [
        ("data", "data"),
        ("rtx", "retransmission"),
        ("ack", "ACK"),
        ("win", "window edge"),
        ("sack", "SACK"),
    ];
    let mut at = x;
    for (class, label) in items {
        let _ = writeln!(
            out,
            r#"<line class="{class}" x1="{at:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}"/>"#,
            y - 4.0,
            at + 18.0,
            y - 4.0
        );
        text(out, at + 22.0, y, "", "start", label);
        at += 30.0 + label.len() as f64 * 6.5;
    }
    text(
        out,
        at,
        y,
        "",
        "start",
        "letters: S SYN, F FIN, R RST, K keep-alive, Z zero window",
    );
}

fn text(out: &mut String, x: f64, y: f64, class: &str, anchor: &str, s: &str) {
    let _ = writeln!(
        out,
        r#"<text x="{x:.1}" y="{y:.1}" class="{class}" text-anchor="{anchor}">{}</text>"#,
        xml_escape(s)
    );
}

/// One direction: `side`'s data against the peer's ACKs and window.
fn panel(out: &mut String, g: &SeqGraph, side: Side, y0: f64, t_max: f64) {
    let peer = side.peer();
    let mut lo = f64::MAX;
    let mut hi = f64::MIN;
    let mut see = |v: f64| {
        lo = lo.min(v);
        hi = hi.max(v);
    };
    for p in g.sent_by(side) {
        see(rel(p.seq));
        see(rel(p.seq) + f64::from(p.len));
    }
    let mut edge = f64::MIN;
    for p in g.sent_by(peer) {
        if let Some(a) = p.ack {
            see(rel(a));
        }
        for &(l, r) in &p.sack {
            see(rel(l));
            see(rel(r));
        }
        if let Some(w) = p.window_edge {
            edge = edge.max(rel(w));
        }
    }
    if lo > hi {
        (lo, hi) = (0.0, 1.0);
    }
    if hi - lo < 1.0 {
        hi = lo + 1.0;
    }
    // The window's edge is drawn while it stays near the data; far above it (a 64 KB
    // window over a few hundred bytes) it would flatten the data, so it leaves the top.
    let window_off_top = edge > hi + (hi - lo) * 0.5;
    hi = if window_off_top {
        hi + (hi - lo) * 0.5
    } else {
        hi.max(edge)
    };
    let pad = (hi - lo) * 0.04;
    let (lo, hi) = (lo - pad, hi + pad);
    let w = WIDTH - LEFT - RIGHT;
    let x = |t: f64| LEFT + t / t_max * w;
    let y = |s: f64| y0 + PANEL_H - (s - lo) / (hi - lo) * PANEL_H;
    let title = format!(
        "{} → {} (sequence numbers of the {}, relative){}",
        side.as_str(),
        peer.as_str(),
        side.as_str(),
        if window_off_top {
            "; the window edge runs above the top"
        } else {
            ""
        }
    );
    let clip = format!("clip-{}", side.as_str());
    let _ = writeln!(
        out,
        r#"<clipPath id="{clip}"><rect x="{LEFT:.1}" y="{y0:.1}" width="{:.1}" height="{PANEL_H:.1}"/></clipPath>"#,
        WIDTH - LEFT - RIGHT
    );
    text(out, LEFT, y0 - 8.0, "head", "start", &title);
    for t in ticks(0.0, t_max, 8) {
        let xt = x(t);
        let _ = writeln!(
            out,
            r#"<line class="grid" x1="{xt:.1}" y1="{y0:.1}" x2="{xt:.1}" y2="{:.1}"/>"#,
            y0 + PANEL_H
        );
        text(
            out,
            xt,
            y0 + PANEL_H + 14.0,
            "",
            "middle",
            &format!("{t:.3}"),
        );
    }
    for s in ticks(lo, hi, 5) {
        let ys = y(s);
        let _ = writeln!(
            out,
            r#"<line class="grid" x1="{LEFT:.1}" y1="{ys:.1}" x2="{:.1}" y2="{ys:.1}"/>"#,
            WIDTH - RIGHT
        );
        text(out, LEFT - 6.0, ys + 4.0, "", "end", &thousands(s));
    }
    text(
        out,
        WIDTH - RIGHT,
        y0 + PANEL_H + 28.0,
        "",
        "end",
        "time (s since the first packet)",
    );
    let _ = writeln!(
        out,
        r#"<rect class="axis" x="{LEFT:.1}" y="{y0:.1}" width="{w:.1}" height="{PANEL_H:.1}"/>"#
    );
    // The peer's ACK and window edge as step lines.
    for (class, pick) in [
        (
            "ack",
            (|p: &SeqPoint| p.ack) as fn(&SeqPoint) -> Option<u32>,
        ),
        ("win", |p: &SeqPoint| p.window_edge),
    ] {
        let mut d = String::new();
        for p in g.sent_by(peer) {
            let Some(v) = pick(p) else { continue };
            let (px, py) = (x(p.at.as_secs_f64()), y(rel(v)));
            if d.is_empty() {
                let _ = write!(d, "M{px:.1},{py:.1}");
            } else {
                let _ = write!(d, "H{px:.1}V{py:.1}");
            }
        }
        if !d.is_empty() {
            let _ = write!(d, "H{:.1}", x(t_max));
            let _ = writeln!(
                out,
                r#"<path class="{class}" clip-path="url(#{clip})" d="{d}"/>"#
            );
        }
    }
    // SACK blocks the peer sent, beside its ACK line.
    for p in g.sent_by(peer) {
        let px = x(p.at.as_secs_f64()) + 2.0;
        for &(l, r) in &p.sack {
            let _ = writeln!(
                out,
                r#"<line class="sack" x1="{px:.1}" y1="{:.1}" x2="{px:.1}" y2="{:.1}"/>"#,
                y(rel(l)),
                y(rel(r))
            );
        }
        if p.zero_window {
            mark(out, px, y(rel(p.ack.unwrap_or(0))) - 4.0, "m-zw", "Z");
        }
        if p.flags.rst() {
            mark(out, px, y(rel(p.ack.unwrap_or(0))) - 4.0, "m-rst", "R");
        }
    }
    // The side's own segments.
    for p in g.sent_by(side) {
        let px = x(p.at.as_secs_f64());
        let (y1, y2) = (y(rel(p.seq)), y(rel(p.seq) + f64::from(p.len)));
        if p.len > 0 {
            let class = if p.marks.contains(Mark::Retransmission) {
                "rtx"
            } else {
                "data"
            };
            // A bar with ticks at both ends, at least 2 px tall.
            let y2 = y2.min(y1 - 2.0);
            let _ = writeln!(
                out,
                r#"<path class="{class}" d="M{:.1},{y1:.1}H{:.1}M{px:.1},{y1:.1}V{y2:.1}M{:.1},{y2:.1}H{:.1}"/>"#,
                px - 2.0,
                px + 2.0,
                px - 2.0,
                px + 2.0
            );
        }
        let f = p.flags;
        let letter = if f.rst() {
            Some(("m-rst", "R"))
        } else if p.marks.contains(Mark::KeepaliveProbe) {
            Some(("m-ka", "K"))
        } else if f.syn() {
            Some(("m-sf", "S"))
        } else if f.fin() {
            Some(("m-sf", "F"))
        } else {
            None
        };
        if let Some((class, l)) = letter {
            mark(out, px, y2.min(y1) - 3.0, class, l);
        }
    }
}

fn mark(out: &mut String, x: f64, y: f64, class: &str, letter: &str) {
    let _ = writeln!(
        out,
        r#"<text class="mark {class}" x="{x:.1}" y="{y:.1}" text-anchor="middle">{letter}</text>"#
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_ticks() {
        assert_eq!(
            ticks(0.0, 1.0, 5),
            [0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]
        );
        assert_eq!(ticks(0.0, 10_000.0, 4), [0.0, 5000.0, 10_000.0]);
        assert_eq!(thousands(-1234567.0), "-1,234,567");
    }
}
