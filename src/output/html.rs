//! The HTML report: one self-contained page (inline CSS, inline SVG charts, the ladders and
//! time-sequence graphs as `data:` images, a little JavaScript for the connections table),
//! which fetches nothing. It reads the report and its visuals (`crate::model::visuals`)
//! only. docs/html.md says what each part shows and what is left out on big captures.
//!
//! Every figure the page shows from the report carries `data-key` (its JSON path in
//! `synack report --format json`) and `data-value` (the JSON value), so that a test in a
//! browser can check the page against the JSON report. Colors are the Okabe–Ito palette;
//! each chart has a text alternative.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::Duration;

use crate::model::connection_record::ConnectionRecord;
use crate::model::report::Report;
use crate::model::state::CloseKind;
use crate::model::summary::Distribution;
use crate::model::top::{TopEntry, TopList};
use crate::model::units::Millis;
use crate::model::visuals::{LatencyHistogram, Visuals};
use crate::output::escape::{escape_text, xml_escape};
use crate::output::ladder_text::thousands;
use crate::output::{ladder_svg, seq_svg, table};

/// Connections the page's table holds at most (abnormal first, then by id).
pub const MAX_ROWS: usize = 2_000;

const CSS: &str = include_str!("html/report.css");
const JS: &str = include_str!("html/report.js");

/// The chart class of each close kind (`CloseKind::ALL`'s order); the colors are in the CSS.
const KIND_CLASS: [&str; 7] = [
    "k-fin",
    "k-reset",
    "k-refused",
    "k-unanswered",
    "k-incomplete",
    "k-half",
    "k-open",
];

fn esc(s: &str) -> String {
    xml_escape(s)
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.3}", Millis(d).as_f64())
}

/// A figure tagged with its JSON path and value.
fn figure(key: &str, value: &str, shown: &str) -> String {
    format!(
        r#"<span data-key="{}" data-value="{}">{}</span>"#,
        esc(key),
        esc(value),
        esc(shown)
    )
}

fn count(key: &str, n: u64) -> String {
    figure(key, &n.to_string(), &thousands(n))
}

fn card(out: &mut String, label: &str, value: String, note: &str) {
    let _ = write!(
        out,
        r#"<div class="card"><div class="label">{}</div><div class="value">{value}</div><div class="note">{note}</div></div>"#,
        esc(label)
    );
}

/// Base64 (RFC 4648), for `data:` images.
fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn write_report<W: Write>(out: &mut W, r: &Report, v: &Visuals) -> io::Result<()> {
    out.write_all(render(r, v).as_bytes())
}

pub fn render(r: &Report, v: &Visuals) -> String {
    let mut h = String::with_capacity(1 << 20);
    let files: Vec<String> = r.inputs.iter().map(|i| escape_text(&i.file)).collect();
    let _ = write!(
        h,
        r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>synack report: {}</title>
<style>{CSS}</style></head><body>
<header><h1>synack report</h1><p class="sub">{} · synack {}</p>
<nav><a href="#summary">Summary</a><a href="#latency">Handshake latency</a><a href="#timeline">Timeline</a><a href="#trouble">Who causes the trouble</a><a href="#worst">Worst connections</a><a href="#connections">Connections</a></nav></header><main>
"##,
        esc(&files.join(", ")),
        esc(&files.join(", ")),
        esc(r.synack_version)
    );
    summary(&mut h, r);
    latency(&mut h, r, v);
    timeline(&mut h, v);
    trouble(&mut h, r);
    worst(&mut h, v);
    connections(&mut h, r);
    let _ = writeln!(h, "</main><script>{JS}</script></body></html>");
    h
}

fn summary(h: &mut String, r: &Report) {
    let s = &r.summary;
    h.push_str(r#"<section id="summary"><h2>Summary</h2><div class="cards">"#);
    card(
        h,
        "connections",
        count("summary.connections", s.connections),
        "",
    );
    card(
        h,
        "handshakes completed",
        count("summary.handshakes.completed", s.handshakes.completed),
        &format!(
            "of {} attempted",
            count("summary.handshakes.attempted", s.handshakes.attempted)
        ),
    );
    card(
        h,
        "abnormal closes",
        count("summary.closes.abnormal", s.closes.abnormal),
        "refused, reset, unanswered, handshake incomplete",
    );
    card(
        h,
        "RST packets",
        count("summary.rst.packets", s.rst.packets),
        &format!(
            "{} from clients, {} from servers",
            count("summary.rst.from_client", s.rst.from_client),
            count("summary.rst.from_server", s.rst.from_server)
        ),
    );
    card(
        h,
        "ends in TIME_WAIT",
        thousands(s.time_wait.client + s.time_wait.server),
        &format!(
            "{} clients, {} servers",
            count("summary.time_wait.client", s.time_wait.client),
            count("summary.time_wait.server", s.time_wait.server)
        ),
    );
    card(
        h,
        "keep-alive probes",
        count("summary.keepalive.probes", s.keepalive.probes),
        &format!(
            "on {} connections, {} unanswered",
            count("summary.keepalive.connections", s.keepalive.connections),
            count("summary.keepalive.unanswered", s.keepalive.unanswered)
        ),
    );
    card(
        h,
        "retransmissions",
        count("summary.retransmissions", s.retransmissions),
        &format!(
            "{} SYN, {} SYN/ACK",
            count(
                "summary.handshakes.syn_retransmits",
                s.handshakes.syn_retransmits
            ),
            count(
                "summary.handshakes.synack_retransmits",
                s.handshakes.synack_retransmits
            )
        ),
    );
    let p50 = s.handshake_rtt_ms.p50.map_or("–".to_string(), |m| {
        figure("summary.handshake_rtt_ms.p50", &m.to_string(), &ms(m.0))
    });
    let p99 = s.handshake_rtt_ms.p99.map_or("–".to_string(), |m| {
        figure("summary.handshake_rtt_ms.p99", &m.to_string(), &ms(m.0))
    });
    card(h, "handshake RTT p50 (ms)", p50, &format!("p99 {p99} ms"));
    h.push_str("</div><h3>Closes by kind</h3><div class=\"cards small\">");
    let c = &s.closes;
    for (key, label, n) in [
        ("fin", "fin", c.fin),
        ("reset", "reset", c.reset),
        ("refused", "refused", c.refused),
        ("unanswered", "unanswered", c.unanswered),
        (
            "handshake_incomplete",
            "handshake incomplete",
            c.handshake_incomplete,
        ),
        ("half_closed", "half-closed", c.half_closed),
        ("open", "open", c.open),
        ("midstream", "began before the capture", c.midstream),
    ] {
        card(h, label, count(&format!("summary.closes.{key}"), n), "");
    }
    h.push_str("</div><h3>Inputs</h3><div class=\"scroll\"><table><thead><tr><th>file</th><th>format</th><th>link types</th><th>packets</th><th>span (s)</th><th>error</th></tr></thead><tbody>");
    for (i, input) in r.inputs.iter().enumerate() {
        let links: Vec<String> = input
            .link_types
            .iter()
            .map(|l| format!("{} ({})", l.name, l.id))
            .collect();
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            esc(&escape_text(&input.file)),
            esc(input.format.unwrap_or("-")),
            esc(&links.join(", ")),
            count(&format!("inputs.{i}.packets"), input.packets),
            input
                .duration_s
                .map_or("-".to_string(), |d| format!("{:.3}", d.0.as_secs_f64())),
            esc(input.error.as_deref().unwrap_or(""))
        );
    }
    h.push_str("</tbody></table></div><h3>Packets by layer</h3><div class=\"cards small\">");
    let p = &r.packets;
    for (key, label, n) in [
        ("total", "total", p.total),
        ("tcp", "TCP", p.tcp),
        ("udp", "UDP", p.udp),
        ("icmp", "ICMP", p.icmp),
        ("other", "other", p.other),
        ("fragments", "IP fragments", p.fragments),
        ("undecodable", "undecodable", p.undecodable),
        ("snaplen_truncated", "snaplen-cut", p.snaplen_truncated),
        ("unsupported_link", "unsupported link", p.unsupported_link),
        ("filtered_out", "filtered out", p.filtered_out),
    ] {
        card(h, label, count(&format!("packets.{key}"), n), "");
    }
    h.push_str("</div>");
    let _ = write!(
        h,
        r#"<h3>Warnings</h3><p data-key="warnings.length" data-value="{}">{}</p>"#,
        r.warnings.len(),
        if r.warnings.is_empty() { "None." } else { "" }
    );
    if !r.warnings.is_empty() {
        h.push_str("<ul class=\"warnings\">");
        for w in &r.warnings {
            let _ = write!(h, "<li>{}</li>", esc(&escape_text(w)));
        }
        h.push_str("</ul>");
    }
    h.push_str("</section>\n");
}

// ---------------------------------------------------------------------------------------
// Charts: inline SVG styled by the page's CSS (so dark mode applies), each in a <figure>
// with a caption that says in words what it shows.

const CW: f64 = 640.0;
const CH: f64 = 220.0;
const ML: f64 = 56.0;
const MR: f64 = 48.0;
const MT: f64 = 12.0;
const MB: f64 = 36.0;

fn nice_max(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= v)
        .unwrap_or(v)
}

fn short(v: f64) -> String {
    if v >= 1e9 {
        format!("{:.1} G", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.1} M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.0} k", v / 1e3)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn open_chart(h: &mut String, id: &str, label: &str) {
    let _ = write!(
        h,
        r#"<svg class="chart" id="{id}" viewBox="0 0 {CW} {CH}" role="img" aria-label="{}" preserveAspectRatio="xMidYMid meet">"#,
        esc(label)
    );
    let _ = write!(
        h,
        r#"<line class="axis" x1="{ML}" y1="{}" x2="{}" y2="{}"/><line class="axis" x1="{ML}" y1="{MT}" x2="{ML}" y2="{}"/>"#,
        CH - MB,
        CW - MR,
        CH - MB,
        CH - MB
    );
}

/// Left axis labels 0 and `max`, and bottom labels.
fn axes(h: &mut String, max: f64, left: &str, bottom: &[(f64, String)]) {
    let _ = write!(
        h,
        r#"<text class="tick" x="{}" y="{}" text-anchor="end">0</text><text class="tick" x="{}" y="{}" text-anchor="end">{}</text>"#,
        ML - 4.0,
        CH - MB + 4.0,
        ML - 4.0,
        MT + 8.0,
        esc(&short(max)),
    );
    let _ = write!(
        h,
        r#"<text class="tick" x="4" y="{}" transform="rotate(-90 10 {})">{}</text>"#,
        (CH - MB + MT) / 2.0 + 40.0,
        (CH - MB + MT) / 2.0 + 40.0,
        esc(left)
    );
    for (x, l) in bottom {
        let _ = write!(
            h,
            r#"<text class="tick" x="{x:.1}" y="{}" text-anchor="middle">{}</text>"#,
            CH - MB + 16.0,
            esc(l)
        );
    }
}

fn latency(h: &mut String, r: &Report, v: &Visuals) {
    h.push_str(r#"<section id="latency"><h2>Handshake latency</h2><div class="grid">"#);
    let s = &r.summary;
    for hist in &v.latency {
        let dist = match hist.key {
            "handshake_rtt_ms" => &s.handshake_rtt_ms,
            "syn_to_synack_ms" => &s.syn_to_synack_ms,
            _ => &s.connect_ms,
        };
        histogram(h, hist, dist);
    }
    // p50 and p99 over time.
    let pts: Vec<(usize, Option<Duration>, Option<Duration>)> = v
        .buckets
        .iter()
        .enumerate()
        .map(|(i, b)| (i, b.rtt_p50, b.rtt_p99))
        .collect();
    let max = pts
        .iter()
        .filter_map(|p| p.2)
        .max()
        .map_or(1.0, |d| Millis(d).as_f64());
    let max = nice_max(max);
    let n = v.buckets.len().max(1) as f64;
    let x = |i: usize| ML + (i as f64 + 0.5) / n * (CW - ML - MR);
    let y = |d: Duration| CH - MB - Millis(d).as_f64() / max * (CH - MB - MT);
    let worst = pts
        .iter()
        .filter_map(|p| p.2.map(|d| (p.0, d)))
        .max_by_key(|p| p.1);
    let caption = match worst {
        Some((i, d)) => format!(
            "Handshake RTT p50 and p99 per {} interval; the highest p99, {} ms, at {} s.",
            dur_label(v.bucket),
            ms(d),
            secs(v.bucket * i as u32)
        ),
        None => "No handshake RTT was measured.".to_string(),
    };
    h.push_str("<figure><h3>Handshake RTT over time</h3>");
    open_chart(h, "rtt-over-time", &caption);
    for (class, pick) in [("p50", 1usize), ("p99", 2)] {
        let mut d = String::new();
        for p in &pts {
            let val = if pick == 1 { p.1 } else { p.2 };
            if let Some(val) = val {
                let _ = write!(
                    d,
                    "{}{:.1},{:.1}",
                    if d.is_empty() { "M" } else { "L" },
                    x(p.0),
                    y(val)
                );
            }
        }
        if !d.is_empty() {
            let _ = write!(h, r#"<path class="line {class}" d="{d}"/>"#);
            for p in &pts {
                if let Some(val) = if pick == 1 { p.1 } else { p.2 } {
                    let _ = write!(
                        h,
                        r#"<circle class="dot {class}" cx="{:.1}" cy="{:.1}" r="2"/>"#,
                        x(p.0),
                        y(val)
                    );
                }
            }
        }
    }
    axes(h, max, "ms", &time_labels(v));
    h.push_str("</svg>");
    let _ = write!(
        h,
        r#"<figcaption><span class="key p50">━ p50</span> <span class="key p99">━ p99</span> {}</figcaption></figure>"#,
        esc(&caption)
    );
    h.push_str("</div></section>\n");
}

fn dur_label(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{} s", d.as_secs_f64())
    } else {
        format!("{} ms", d.as_millis())
    }
}

fn secs(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

/// Up to six time labels under bucket charts, in seconds since the first packet.
fn time_labels(v: &Visuals) -> Vec<(f64, String)> {
    let n = v.buckets.len();
    if n == 0 {
        return Vec::new();
    }
    let step = n.div_ceil(6).max(1);
    (0..n)
        .step_by(step)
        .map(|i| {
            (
                ML + i as f64 / n as f64 * (CW - ML - MR),
                format!("{} s", short((v.bucket * i as u32).as_secs_f64())),
            )
        })
        .collect()
}

fn histogram(h: &mut String, hist: &LatencyHistogram, d: &Distribution) {
    let n = hist.counts.len().max(1) as f64;
    let max = nice_max(hist.counts.iter().copied().max().unwrap_or(0) as f64);
    let bw = (CW - ML - MR) / n;
    let pct = |m: Option<Millis>| m.map_or("–".to_string(), |m| ms(m.0));
    let caption = format!(
        "{}: {} connections; min {} ms, p50 {} ms, p90 {} ms, p99 {} ms, max {} ms. Bars count connections per bin (logarithmic), the line is the cumulative share (right axis).",
        hist.label,
        thousands(hist.total),
        pct(d.min),
        pct(d.p50),
        pct(d.p90),
        pct(d.p99),
        pct(d.max)
    );
    h.push_str("<figure>");
    let _ = write!(h, "<h3>{}</h3>", esc(hist.label));
    open_chart(h, &format!("hist-{}", hist.key), &caption);
    let mut cum = 0u64;
    let mut line = String::new();
    for (i, c) in hist.counts.iter().enumerate() {
        let x = ML + i as f64 * bw;
        let bh = *c as f64 / max * (CH - MB - MT);
        let lower = if i == 0 {
            Duration::ZERO
        } else {
            hist.upper[i - 1]
        };
        let _ = write!(
            h,
            r#"<rect class="bar" x="{x:.1}" y="{:.1}" width="{:.1}" height="{bh:.1}"><title>{}–{} ms: {}</title></rect>"#,
            CH - MB - bh,
            (bw - 1.0).max(0.5),
            ms(lower),
            ms(hist.upper[i]),
            c
        );
        cum += c;
        let share = cum as f64 / hist.total.max(1) as f64;
        let _ = write!(
            line,
            "{}{:.1},{:.1}",
            if line.is_empty() { "M" } else { "L" },
            x + bw,
            CH - MB - share * (CH - MB - MT)
        );
    }
    if hist.total > 0 {
        let _ = write!(
            h,
            r#"<path class="line cdf" d="M{ML},{}{}"/>"#,
            CH - MB,
            line.replacen('M', "L", 1)
        );
        let _ = write!(
            h,
            r#"<text class="tick" x="{}" y="{}">100%</text>"#,
            CW - MR + 4.0,
            MT + 8.0
        );
    }
    let mut labels = Vec::new();
    let step = hist.counts.len().div_ceil(5).max(1);
    for i in (0..hist.counts.len()).step_by(step) {
        labels.push((
            ML + (i as f64 + 1.0) * bw,
            format!("{} ms", short(Millis(hist.upper[i]).as_f64())),
        ));
    }
    axes(h, max, "connections", &labels);
    h.push_str("</svg>");
    let _ = write!(
        h,
        r#"<figcaption data-key="summary.{}.count" data-value="{}">{}</figcaption></figure>"#,
        hist.key,
        d.count,
        esc(&caption)
    );
}

fn timeline(h: &mut String, v: &Visuals) {
    h.push_str(r#"<section id="timeline"><h2>Timeline</h2>"#);
    let _ = write!(
        h,
        "<p>The capture in intervals of {}, from its first packet.</p><div class=\"grid\">",
        dur_label(v.bucket)
    );
    let n = v.buckets.len().max(1) as f64;
    let bw = (CW - ML - MR) / n;
    // Connections opened, stacked by outcome.
    let totals: Vec<u64> = v.buckets.iter().map(|b| b.opened.iter().sum()).collect();
    let max = nice_max(totals.iter().copied().max().unwrap_or(0) as f64);
    let mut by_kind = [0u64; 7];
    for b in &v.buckets {
        for (k, c) in b.opened.iter().enumerate() {
            by_kind[k] += c;
        }
    }
    let peak = totals
        .iter()
        .enumerate()
        .max_by_key(|(_, c)| **c)
        .map_or((0, 0), |(i, c)| (i, *c));
    let parts: Vec<String> = CloseKind::ALL
        .iter()
        .zip(by_kind)
        .filter(|(_, c)| *c > 0)
        .map(|(k, c)| format!("{} {}", thousands(c), k.as_str()))
        .collect();
    let caption = format!(
        "Connections opened per interval, stacked by how they ended: {}. The busiest interval, at {} s, opened {}.",
        if parts.is_empty() { "none".to_string() } else { parts.join(", ") },
        secs(v.bucket * peak.0 as u32),
        thousands(peak.1)
    );
    h.push_str("<figure><h3>Connections opened, by outcome</h3>");
    open_chart(h, "opened", &caption);
    for (i, b) in v.buckets.iter().enumerate() {
        let mut y = CH - MB;
        for (k, c) in b.opened.iter().enumerate() {
            if *c == 0 {
                continue;
            }
            let bh = *c as f64 / max * (CH - MB - MT);
            y -= bh;
            let _ = write!(
                h,
                r#"<rect class="{}" x="{:.1}" y="{y:.1}" width="{:.1}" height="{bh:.1}"><title>{} s: {} {}</title></rect>"#,
                KIND_CLASS[k],
                ML + i as f64 * bw,
                (bw - 0.5).max(0.5),
                secs(v.bucket * i as u32),
                c,
                CloseKind::ALL[k].as_str()
            );
        }
    }
    axes(h, max, "connections", &time_labels(v));
    h.push_str("</svg><figcaption><span class=\"legend\">");
    for (k, kind) in CloseKind::ALL.iter().enumerate() {
        let _ = write!(
            h,
            r#"<span class="swatch {}"></span>{} "#,
            KIND_CLASS[k],
            kind.as_str()
        );
    }
    let _ = write!(h, "</span><br>{}</figcaption></figure>", esc(&caption));
    // RSTs and bytes.
    for (id, title, unit, values) in [
        (
            "rsts",
            "RST packets",
            "RSTs",
            v.buckets
                .iter()
                .map(|b| b.rsts as f64)
                .collect::<Vec<f64>>(),
        ),
        (
            "bytes",
            "Bytes on the wire",
            "bytes",
            v.buckets.iter().map(|b| b.bytes).collect(),
        ),
    ] {
        let max = nice_max(values.iter().copied().fold(0.0, f64::max));
        let total: f64 = values.iter().sum();
        let peak = values
            .iter()
            .enumerate()
            .fold((0, 0.0), |a, (i, v)| if *v > a.1 { (i, *v) } else { a });
        let caption = format!(
            "{title} per interval: {} in all; the most, {}, at {} s{}.",
            short(total.round()),
            short(peak.1.round()),
            secs(v.bucket * peak.0 as u32),
            if id == "bytes" {
                " (each connection's bytes spread evenly over its life)"
            } else {
                " (each connection's RSTs at its first RST)"
            }
        );
        let _ = write!(h, "<figure><h3>{}</h3>", esc(title));
        open_chart(h, id, &caption);
        for (i, val) in values.iter().enumerate() {
            if *val <= 0.0 {
                continue;
            }
            let bh = val / max * (CH - MB - MT);
            let _ = write!(
                h,
                r#"<rect class="bar {id}" x="{:.1}" y="{:.1}" width="{:.1}" height="{bh:.1}"><title>{} s: {}</title></rect>"#,
                ML + i as f64 * bw,
                CH - MB - bh,
                (bw - 0.5).max(0.5),
                secs(v.bucket * i as u32),
                short(*val)
            );
        }
        axes(h, max, unit, &time_labels(v));
        let _ = write!(
            h,
            "</svg><figcaption>{}</figcaption></figure>",
            esc(&caption)
        );
    }
    h.push_str("</div></section>\n");
}

fn top_table(h: &mut String, key: &str, title: &str, what: &str, l: &TopList<TopEntry>) {
    let _ = write!(h, "<div class=\"top\"><h3>{}</h3>", esc(title));
    if l.entries.is_empty() {
        h.push_str("<p>None.</p></div>");
        return;
    }
    let _ = write!(
        h,
        "<table><thead><tr><th>endpoint</th><th class=\"num\">{}</th></tr></thead><tbody>",
        esc(what)
    );
    for (i, e) in l.entries.iter().enumerate() {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"num\">{}</td></tr>",
            figure(
                &format!("summary.top.{key}.entries.{i}.endpoint"),
                &e.endpoint,
                &e.endpoint
            ),
            count(&format!("summary.top.{key}.entries.{i}.count"), e.count)
        );
    }
    h.push_str("</tbody></table>");
    if !l.exact {
        let _ = write!(
            h,
            "<p class=\"note\">Approximate: more endpoints than synack counts exactly; a count may be low by up to {}.</p>",
            l.max_undercount
        );
    }
    h.push_str("</div>");
}

fn trouble(h: &mut String, r: &Report) {
    let t = &r.summary.top;
    h.push_str(r#"<section id="trouble"><h2>Who causes the trouble</h2><div class="grid tops">"#);
    top_table(h, "rst_senders", "Most RSTs sent", "RSTs", &t.rst_senders);
    top_table(
        h,
        "refusing_servers",
        "Servers refusing most",
        "refused",
        &t.refusing_servers,
    );
    top_table(
        h,
        "unanswered_destinations",
        "Destinations with unanswered SYNs",
        "unanswered",
        &t.unanswered_destinations,
    );
    h.push_str("<div class=\"top\"><h3>Slowest servers by handshake RTT</h3>");
    let slow = &t.slowest_servers;
    if slow.entries.is_empty() {
        h.push_str("<p>None.</p>");
    } else {
        h.push_str("<table><thead><tr><th>server</th><th class=\"num\">mean RTT (ms)</th><th class=\"num\">max (ms)</th><th class=\"num\">handshakes</th></tr></thead><tbody>");
        for (i, e) in slow.entries.iter().enumerate() {
            let k = format!("summary.top.slowest_servers.entries.{i}");
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                figure(&format!("{k}.endpoint"), &e.endpoint, &e.endpoint),
                figure(&format!("{k}.mean_rtt_ms"), &e.mean_rtt_ms.to_string(), &ms(e.mean_rtt_ms.0)),
                figure(&format!("{k}.max_rtt_ms"), &e.max_rtt_ms.to_string(), &ms(e.max_rtt_ms.0)),
                count(&format!("{k}.handshakes"), e.handshakes)
            );
        }
        h.push_str("</tbody></table>");
    }
    h.push_str("</div></div></section>\n");
}

fn worst(h: &mut String, v: &Visuals) {
    h.push_str(r#"<section id="worst"><h2>Worst connections</h2>"#);
    let abnormal_shown = v
        .worst
        .iter()
        .filter(|w| w.record.close.is_abnormal())
        .count();
    let _ = write!(
        h,
        "<p>Abnormal connections first (in turn by kind: reset, refused, unanswered, handshake incomplete), then the slowest handshakes: {} of {} abnormal connections and {} of {} completed handshakes are drawn{}.</p>",
        abnormal_shown,
        thousands(v.abnormal_total),
        v.worst.len() - abnormal_shown,
        thousands(v.handshakes_total),
        if v.untraced > 0 {
            format!(
                "; {} connections were not followed closely enough to be drawn (synack bounds what it keeps)",
                thousands(v.untraced)
            )
        } else {
            String::new()
        }
    );
    if v.worst.is_empty() {
        h.push_str("<p>None.</p>");
    }
    for w in &v.worst {
        let c = &w.record;
        let _ = write!(
            h,
            r#"<article class="conn" data-conn="{}"><h3>#{} {} → {}</h3><p>{} · {} · {} segments</p>"#,
            c.id,
            c.id,
            esc(&escape_text(&c.client.to_string())),
            esc(&escape_text(&c.server.to_string())),
            esc(&w.why),
            esc(&table::app_label(&c.app)),
            thousands(w.ladder.segments)
        );
        let ladder = ladder_svg::render(&w.ladder);
        let _ = write!(
            h,
            r#"<details open><summary>Ladder diagram</summary><div class="scroll"><img class="ladder" alt="{}" src="data:image/svg+xml;base64,{}"></div></details>"#,
            esc(&format!(
                "Ladder diagram of connection #{}: {} segments drawn in {} rows, {}",
                c.id,
                w.ladder.segments,
                w.ladder.rows.len(),
                w.why
            )),
            base64(ladder.as_bytes())
        );
        let seq = seq_svg::render(&w.seq);
        let _ = write!(
            h,
            r#"<details open><summary>Time-sequence graph</summary><div class="scroll"><img class="seq" alt="{}" src="data:image/svg+xml;base64,{}"></div></details></article>"#,
            esc(&seq_svg::describe(&w.seq)),
            base64(seq.as_bytes())
        );
    }
    h.push_str("</section>\n");
}

/// A row of the connections table, as the page's script reads it.
fn row(c: &ConnectionRecord) -> serde_json::Value {
    let ms_of = |d: Option<Duration>| d.map(|d| (Millis(d).as_f64() * 1000.0).round() / 1000.0);
    serde_json::json!([
        c.id,
        escape_text(&c.client.to_string()),
        escape_text(&c.server.to_string()),
        c.close.as_str(),
        ms_of(c.handshake_rtt()),
        ms_of(
            c.handshake_seen()
                .then(|| crate::model::figures::connect_time(c))
                .flatten()
        ),
        c.total(|e| e.packets),
        c.total(|e| e.bytes),
        (Millis(c.duration()).as_f64() * 1000.0).round() / 1000.0,
        crate::model::figures::retransmissions(c),
        table::app_label(&c.app),
    ])
}

fn connections(h: &mut String, r: &Report) {
    let list = &r.connections;
    let n = list.len();
    // Abnormal first, then the rest, each in order of id, up to the cap.
    let mut rows = Vec::new();
    for abnormal in [true, false] {
        for i in 0..n {
            if rows.len() >= MAX_ROWS {
                break;
            }
            if list.is_abnormal(i) == abnormal {
                rows.push(row(&list.record(i)));
            }
        }
    }
    let left_out = n - rows.len();
    let _ = write!(
        h,
        r#"<section id="connections"><h2>Connections</h2><p><span data-key="connections.length" data-value="{n}">{}</span> connections; this page holds <span id="rows-held">{}</span> of them (abnormal first){}.</p>"#,
        thousands(n as u64),
        thousands(rows.len() as u64),
        if left_out > 0 {
            format!(
                ", {} left out: `synack report --format json` lists them all",
                thousands(left_out as u64)
            )
        } else {
            String::new()
        }
    );
    h.push_str(r#"<div class="filters"><label>Filter <input id="filter" type="search" placeholder="address, port, app…"></label> <label>Close <select id="close"><option value="">any</option>"#);
    for k in CloseKind::ALL {
        let _ = write!(h, r#"<option>{}</option>"#, k.as_str());
    }
    h.push_str(r#"</select></label> <span id="shown" aria-live="polite"></span></div><div class="scroll"><table id="conns"><thead><tr>"#);
    for (i, (name, num)) in [
        ("id", true),
        ("client", false),
        ("server", false),
        ("close", false),
        ("RTT (ms)", true),
        ("connect (ms)", true),
        ("packets", true),
        ("bytes", true),
        ("duration (ms)", true),
        ("rtx", true),
        ("app", false),
    ]
    .iter()
    .enumerate()
    {
        let _ = write!(
            h,
            r#"<th{} aria-sort="none"><button type="button" data-col="{i}">{name}</button></th>"#,
            if *num { " class=\"num\"" } else { "" }
        );
    }
    // `</` cannot end the script early: JSON escapes it as `<\/`.
    let data = json(&rows).replace("</", "<\\/");
    let _ = write!(
        h,
        r#"</tr></thead><tbody></tbody></table></div><script type="application/json" id="rows">{data}</script></section>"#
    );
    h.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_of_every_tail_length() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
