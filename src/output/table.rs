//! The human report: summary first, then connections, as comfy-table tables.

use std::io::{self, Write};

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, ContentArrangement, Table};

use crate::model::app::{AppKind, AppLabel};
use crate::model::connection::ConnectionRecord;
use crate::model::report::Report;
use crate::model::state::CloseKind;
use crate::model::summary::Distribution;
use crate::model::units::Millis;
use crate::output::escape::escape_bytes;
use crate::output::json::{connection_close_text, http_version_text, time_wait_text};

/// Which connections the table lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rows {
    /// Abnormal first, then the rest, up to this many.
    Default(usize),
    All,
    Abnormal,
    Top(usize),
}

pub struct TableOptions {
    pub rows: Rows,
    /// Terminal width to fit, when printing to a terminal.
    pub width: Option<u16>,
}

fn new_table(opts: &TableOptions) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    match opts.width {
        Some(w) => {
            t.set_content_arrangement(ContentArrangement::Dynamic);
            t.set_width(w);
        }
        None => {
            t.set_content_arrangement(ContentArrangement::Disabled);
        }
    }
    t
}

fn right(s: impl ToString) -> Cell {
    Cell::new(s.to_string()).set_alignment(CellAlignment::Right)
}

/// What ran over a connection, for people: `http/1.1, 3 requests, close: client`,
/// `tls, SNI example.org` (escaped: it comes from the packet).
pub fn app_label(a: &AppLabel) -> String {
    let mut s = a.kind.as_str().to_string();
    if let Some(h) = &a.http {
        let websocket = a.kind == AppKind::WebSocket;
        if let (Some(v), false) = (h.version, websocket) {
            s.push('/');
            s.push_str(http_version_text(v));
        }
        let plural = if h.requests == 1 { "" } else { "s" };
        s.push_str(&format!(", {} request{plural}", h.requests));
        if websocket {
            s.push_str(" before the upgrade");
        }
        if let Some(side) = connection_close_text(h) {
            s.push_str(&format!(", close: {side}"));
        }
    }
    if let Some(sni) = &a.sni {
        s.push_str(", SNI ");
        s.push_str(&escape_bytes(sni));
    }
    s
}

fn opt_ms(m: Option<Millis>) -> String {
    m.map_or_else(|| "-".to_string(), |m| format!("{:.3}", m.as_f64()))
}

fn time_of(t: &crate::model::units::JsonTime) -> String {
    t.0.utc_string()
}

pub fn write_report<W: Write>(out: &mut W, r: &Report, opts: &TableOptions) -> io::Result<()> {
    // Inputs.
    let mut t = new_table(opts);
    t.set_header(vec![
        "input",
        "format",
        "link type",
        "snaplen",
        "packets",
        "first packet (UTC)",
        "span (s)",
    ]);
    for i in &r.inputs {
        let format = match (i.format, i.byte_order, i.timestamp_precision) {
            (Some(f), Some(o), Some(p)) => {
                format!("{f} {} {o}, {p}", i.version.as_deref().unwrap_or(""))
            }
            (Some(f), Some(o), None) => format!("{f} {o}"),
            _ => "-".to_string(),
        };
        let links: Vec<String> = i
            .link_types
            .iter()
            .map(|l| format!("{} ({})", l.name, l.id))
            .collect();
        t.add_row(vec![
            Cell::new(&i.file),
            Cell::new(format),
            Cell::new(if links.is_empty() {
                "-".to_string()
            } else {
                links.join(", ")
            }),
            right(i.snaplen),
            right(i.packets),
            Cell::new(i.first_packet.as_ref().map_or("-".to_string(), time_of)),
            right(
                i.duration_s
                    .map_or("-".to_string(), |d| format!("{:.3}", d.0.as_secs_f64())),
            ),
        ]);
    }
    writeln!(out, "{t}")?;
    for i in &r.inputs {
        if let Some(e) = &i.error {
            writeln!(out, "error: {}: {e}", i.file)?;
        }
    }

    // Packets by layer.
    let p = &r.packets;
    let mut t = new_table(opts);
    t.set_header(vec![
        "packets",
        "TCP",
        "UDP",
        "ICMP",
        "other",
        "IP fragments",
        "undecodable",
        "snaplen-cut",
        "unsupported link",
        "filtered out",
    ]);
    t.add_row(
        [
            p.total,
            p.tcp,
            p.udp,
            p.icmp,
            p.other,
            p.fragments,
            p.undecodable,
            p.snaplen_truncated,
            p.unsupported_link,
            p.filtered_out,
        ]
        .map(right)
        .to_vec(),
    );
    writeln!(out, "{t}")?;

    // Summary.
    let s = &r.summary;
    writeln!(
        out,
        "\nTCP connections: {}   handshakes: {} attempted, {} completed   SYN retransmits: {}   SYN/ACK retransmits: {}",
        s.connections,
        s.handshakes.attempted,
        s.handshakes.completed,
        s.handshakes.syn_retransmits,
        s.handshakes.synack_retransmits
    )?;
    let mut t = new_table(opts);
    t.set_header(vec![
        "handshake latency (ms)",
        "count",
        "min",
        "p50",
        "p90",
        "p99",
        "max",
    ]);
    let mut dist_row = |name: &str, d: &Distribution| {
        t.add_row(vec![
            Cell::new(name),
            right(d.count),
            right(opt_ms(d.min)),
            right(opt_ms(d.p50)),
            right(opt_ms(d.p90)),
            right(opt_ms(d.p99)),
            right(opt_ms(d.max)),
        ]);
    };
    dist_row("RTT (last SYN → ACK)", &s.handshake_rtt_ms);
    dist_row("connect (1st SYN → ACK)", &s.connect_ms);
    dist_row("SYN → SYN/ACK", &s.syn_to_synack_ms);
    dist_row("SYN/ACK → ACK", &s.synack_to_ack_ms);
    writeln!(out, "{t}")?;

    let c = &s.closes;
    let mut t = new_table(opts);
    t.set_header(vec![
        "closes",
        "fin",
        "reset",
        "refused",
        "unanswered",
        "handshake incomplete",
        "half-closed",
        "open",
        "mid-stream",
        "abnormal",
    ]);
    t.add_row(vec![
        Cell::new("connections"),
        right(c.fin),
        right(c.reset),
        right(c.refused),
        right(c.unanswered),
        right(c.handshake_incomplete),
        right(c.half_closed),
        right(c.open),
        right(c.midstream),
        right(c.abnormal),
    ]);
    writeln!(out, "{t}")?;

    let mut t = new_table(opts);
    t.set_header(vec![
        "RST / FIN / TIME_WAIT",
        "total",
        "by client",
        "by server",
        "detail",
    ]);
    t.add_row(vec![
        Cell::new("RST packets"),
        right(s.rst.packets),
        right(s.rst.from_client),
        right(s.rst.from_server),
        Cell::new(format!("{} answering a SYN", s.rst.answering_syn)),
    ]);
    t.add_row(vec![
        Cell::new("FIN packets"),
        right(s.fin_packets),
        Cell::new(""),
        Cell::new(""),
        Cell::new(""),
    ]);
    t.add_row(vec![
        Cell::new("ends in TIME_WAIT"),
        right(s.time_wait.client + s.time_wait.server),
        right(s.time_wait.client),
        right(s.time_wait.server),
        Cell::new(format!(
            "{} simultaneous, {} reused within 2·MSL",
            s.time_wait.simultaneous, s.time_wait.reused
        )),
    ]);
    writeln!(out, "{t}")?;

    let k = &s.keepalive;
    writeln!(
        out,
        "keep-alive: {} probes, {} ACKed, {} unanswered, on {} connection(s)   zero-window probes: {}   retransmissions: {}",
        k.probes, k.acks, k.unanswered, k.connections, s.zero_window_probes, s.retransmissions
    )?;
    let a = &s.apps;
    writeln!(
        out,
        "applications: {} http, {} websocket, {} tls, {} ssh, {} unknown, {} without payload",
        a.http, a.websocket, a.tls, a.ssh, a.unknown, a.none
    )?;

    if let Some(cap) = &r.capture {
        writeln!(
            out,
            "capture: {} packets; {} connections retired (closed or idle; counted above, not listed), {} evicted (--max-connections), {} still tracked",
            cap.packets_captured, cap.retired, cap.evicted, cap.active_at_end
        )?;
    }

    write_connections(out, r, opts)?;

    for w in &r.warnings {
        writeln!(out, "warning: {w}")?;
    }
    Ok(())
}

fn selected(r: &Report, rows: Rows) -> (Vec<ConnectionRecord>, usize) {
    // Abnormal first, then the rest, each in id order: the records' own order, so two
    // passes make the list without sorting every connection.
    let all = &r.connections;
    let abnormal = (0..all.len()).filter(|&i| all.is_abnormal(i));
    let normal = (0..all.len()).filter(|&i| !all.is_abnormal(i));
    let (list, total): (Vec<usize>, _) = match rows {
        Rows::All => (abnormal.chain(normal).collect(), all.len()),
        Rows::Abnormal => {
            let list: Vec<_> = abnormal.collect();
            let total = list.len();
            (list, total)
        }
        Rows::Default(n) | Rows::Top(n) => (abnormal.chain(normal).take(n).collect(), all.len()),
    };
    // Only the rows shown are made into records.
    let shown = list.into_iter().map(|i| all.record(i)).collect();
    (shown, total)
}

fn write_connections<W: Write>(out: &mut W, r: &Report, opts: &TableOptions) -> io::Result<()> {
    let (rows, total) = selected(r, opts.rows);
    if rows.is_empty() {
        writeln!(out, "\nno TCP connections to list")?;
        return Ok(());
    }
    let mut t = new_table(opts);
    t.set_header(vec![
        "id",
        "client",
        "server",
        "pkts c→s",
        "pkts s→c",
        "bytes c→s",
        "bytes s→c",
        "first seen (UTC)",
        "duration (s)",
        "RTT (ms)",
        "close",
        "by",
        "TIME_WAIT",
        "final states (client / server)",
        "app",
    ]);
    for c in &rows {
        let by = match (c.close, c.reset, c.closer) {
            (CloseKind::Reset | CloseKind::Refused, Some(r), _) => r.by.as_str(),
            (_, _, Some(b)) => b.as_str(),
            _ => "-",
        };
        let close = if c.midstream {
            format!("{} (mid-stream)", c.close.as_str())
        } else {
            c.close.as_str().to_string()
        };
        let (client, server) = (&c.client_figures, &c.server_figures);
        t.add_row(vec![
            right(c.id),
            Cell::new(c.client),
            Cell::new(c.server),
            right(client.packets),
            right(server.packets),
            right(client.bytes),
            right(server.bytes),
            Cell::new(c.first_seen.utc_string()),
            right(format!("{:.3}", Millis(c.duration()).as_f64() / 1000.0)),
            right(opt_ms(c.handshake_rtt().map(Millis))),
            Cell::new(close),
            Cell::new(by),
            Cell::new(time_wait_text(c.time_wait).unwrap_or("-")),
            Cell::new(format!(
                "{} / {}",
                c.client_state.as_str(),
                c.server_state.as_str()
            )),
            Cell::new(app_label(&c.app)),
        ]);
    }
    writeln!(out, "\nTCP connections (abnormal first)")?;
    writeln!(out, "{t}")?;
    if rows.len() < total {
        writeln!(
            out,
            "{} more connection(s) not shown: use --all, --abnormal or --top N",
            total - rows.len()
        )?;
    }
    Ok(())
}
