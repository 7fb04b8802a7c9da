//! The ladder diagram as an SVG file, for a bug report: the same rows, labels and marks as
//! the text diagram, with the two endpoints as vertical lines and one slanted arrow per
//! segment. Hand-written XML; every text goes through `xml_escape`, and text from packets
//! has been through `escape_bytes` before (`header_lines`, `app_label`).

use std::fmt::Write as _;
use std::io::{self, Write};

use crate::model::ladder::{Ladder, Row};
use crate::model::state::Side;
use crate::output::escape::{escape_text, xml_escape};
use crate::output::ladder_text::{
    arrow_class, delta_ms, fold_label, header_lines, marks, seconds, segment_label, states,
};

/// Approximate advance of one monospace character at 12 px.
const CHAR_W: f64 = 7.3;
const ROW_H: f64 = 28.0;
const TOP: f64 = 120.0;

const STYLE: &str = "
text { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; fill: #222; }
.head { font-size: 13px; }
.dim, .fold { fill: #777; }
.state { font-weight: bold; fill: #0b7285; }
.life { stroke: #444; stroke-width: 2; }
.seg { stroke-width: 1.5; }
.mark { fill: #862e9c; }
";

/// Arrow classes and their colors (line and arrowhead).
const ARROWS: [(&str, &str); 5] = [
    ("syn", "#2b8a3e"),
    ("fin", "#e67700"),
    ("rst", "#c92a2a"),
    ("data", "#1864ab"),
    ("ack", "#555555"),
];

fn text(out: &mut String, x: f64, y: f64, class: &str, anchor: &str, s: &str) {
    if s.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        r#"<text x="{x:.1}" y="{y:.1}" class="{class}" text-anchor="{anchor}">{}</text>"#,
        xml_escape(s)
    );
}

fn chars(s: &str) -> f64 {
    s.chars().count() as f64 * CHAR_W
}

/// The SVG document of a ladder.
pub fn render(l: &Ladder) -> String {
    let segs = || {
        l.rows.iter().filter_map(|r| match r {
            Row::Segment(s) => Some(s),
            Row::Fold(_) => None,
        })
    };
    let state_w = |side: Side| {
        segs()
            .map(|s| chars(&states(s, side)))
            .fold(chars("SYN_RECEIVED"), f64::max)
    };
    let label_w = l
        .rows
        .iter()
        .map(|r| match r {
            Row::Segment(s) => chars(&segment_label(s)),
            Row::Fold(f) => chars(&fold_label(f)),
        })
        .fold(0.0, f64::max);
    let marks_w = segs()
        .map(|s| {
            let m: Vec<String> = marks(s, l).into_iter().map(|(t, _)| t).collect();
            chars(&m.join(", "))
        })
        .fold(0.0, f64::max);
    let cx = 190.0 + state_w(Side::Client) + 16.0;
    let sx = cx + (label_w + 60.0).max(360.0);
    let mx = sx + state_w(Side::Server) + 24.0;
    let headers = header_lines(l);
    let head_w = headers.iter().map(|h| chars(h)).fold(0.0, f64::max) + 40.0;
    let width = (mx + marks_w + 20.0).max(head_w).ceil();
    let height = (TOP + l.rows.len() as f64 * ROW_H + 20.0).ceil();

    let mut out = String::new();
    let _ = writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">"#
    );
    let _ = writeln!(out, "<title>{}</title>", xml_escape(&headers[0]));
    out.push_str("<style>");
    out.push_str(STYLE);
    for (class, color) in ARROWS {
        let _ = writeln!(out, ".{class} {{ stroke: {color}; }}");
    }
    out.push_str("</style>\n<defs>\n");
    for (class, color) in ARROWS {
        let _ = writeln!(
            out,
            r#"<marker id="head-{class}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{color}"/></marker>"#
        );
    }
    out.push_str("</defs>\n");
    let _ = writeln!(
        out,
        r#"<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>"#
    );
    for (i, h) in headers.iter().enumerate() {
        text(&mut out, 12.0, 22.0 + i as f64 * 18.0, "head", "start", h);
    }
    let titles_y = TOP - 24.0;
    text(&mut out, 90.0, titles_y, "dim", "end", "time (s)");
    text(&mut out, 170.0, titles_y, "dim", "end", "delta (ms)");
    let client = format!("client {}", escape_text(&l.conn.client.to_string()));
    let server = format!("server {}", escape_text(&l.conn.server.to_string()));
    text(&mut out, cx, titles_y, "head", "middle", &client);
    text(&mut out, sx, titles_y, "head", "middle", &server);
    let bottom = height - 10.0;
    for x in [cx, sx] {
        let _ = writeln!(
            out,
            r#"<line class="life" x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{bottom:.1}"/>"#,
            TOP - 16.0
        );
    }
    for (i, row) in l.rows.iter().enumerate() {
        let y = TOP + i as f64 * ROW_H;
        match row {
            Row::Segment(s) => {
                let class = arrow_class(s);
                let (x1, x2) = match s.from {
                    Side::Client => (cx, sx),
                    Side::Server => (sx, cx),
                };
                let _ = writeln!(
                    out,
                    r#"<line class="seg {class}" x1="{x1:.1}" y1="{:.1}" x2="{x2:.1}" y2="{:.1}" marker-end="url(#head-{class})"/>"#,
                    y - 4.0,
                    y + 8.0
                );
                text(
                    &mut out,
                    (cx + sx) / 2.0,
                    y - 6.0,
                    "label",
                    "middle",
                    &segment_label(s),
                );
                text(&mut out, 90.0, y + 4.0, "dim", "end", &seconds(s.at));
                let delta = s.delta.map(delta_ms).unwrap_or_default();
                text(&mut out, 170.0, y + 4.0, "dim", "end", &delta);
                text(
                    &mut out,
                    cx - 8.0,
                    y + 4.0,
                    "state",
                    "end",
                    &states(s, Side::Client),
                );
                text(
                    &mut out,
                    sx + 8.0,
                    y + 4.0,
                    "state",
                    "start",
                    &states(s, Side::Server),
                );
                let m: Vec<String> = marks(s, l).into_iter().map(|(t, _)| t).collect();
                text(&mut out, mx, y + 4.0, "mark", "start", &m.join(", "));
            }
            Row::Fold(f) => {
                text(&mut out, 90.0, y + 4.0, "dim", "end", &seconds(f.first));
                text(
                    &mut out,
                    (cx + sx) / 2.0,
                    y + 4.0,
                    "fold",
                    "middle",
                    &fold_label(f),
                );
            }
        }
    }
    out.push_str("</svg>\n");
    out
}

pub fn write_svg<W: Write>(out: &mut W, l: &Ladder) -> io::Result<()> {
    out.write_all(render(l).as_bytes())
}
