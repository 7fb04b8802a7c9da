//! The human report: summary first, then connections, as comfy-table tables.

use std::io::{self, Write};

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, ContentArrangement, Table};

use crate::model::app_label::{AppKind, AppLabel};
use crate::model::connection_record::ConnectionRecord;
use crate::model::figures;
use crate::model::report::Report;
use crate::model::state::CloseKind;
use crate::model::summary::Distribution;
use crate::model::tunnel::Tunnel;
use crate::model::units::{push_3_decimals, push_decimal, Millis};
use crate::output::escape::escape_bytes;
use crate::output::fit;
use crate::output::json::{connection_close_text, http_version_text, sides_text};

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
    /// The width to fit (the terminal's, `COLUMNS`, or 100); `None` (`--wide`): every
    /// column, nothing wrapped.
    pub width: Option<usize>,
    /// The connection table's columns, in this order (`--columns`); `None` picks them.
    pub columns: Option<Vec<Column>>,
}

/// A table laid out whole; [`write_table`] fits it to the width.
fn new_table(_opts: &TableOptions) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    t.set_content_arrangement(ContentArrangement::Disabled);
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
    let mut compact = Vec::new();
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
        let links = if links.is_empty() {
            "-".to_string()
        } else {
            links.join(", ")
        };
        let first = i.first_packet.as_ref().map_or("-".to_string(), time_of);
        let span = i
            .duration_s
            .map_or("-".to_string(), |d| format!("{:.3}", d.0.as_secs_f64()));
        compact.push(format!(
            "input {}: {format}; {links}; snaplen {}; {} packets; first packet {first} UTC; span {span} s",
            i.file, i.snaplen, i.packets
        ));
        t.add_row(vec![
            Cell::new(&i.file),
            Cell::new(format),
            Cell::new(links),
            right(i.snaplen),
            right(i.packets),
            Cell::new(first),
            right(span),
        ]);
    }
    write_table(out, t, opts, Some(compact))?;
    for i in &r.inputs {
        if let Some(e) = &i.error {
            write_parts(out, opts, &[format!("error: {}: {e}", i.file)])?;
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
    let compact = format!(
        "packets: {} (TCP {}, UDP {}, ICMP {}, other {}, IP fragments {}, undecodable {}, snaplen-cut {}, unsupported link {}, filtered out {})",
        p.total, p.tcp, p.udp, p.icmp, p.other, p.fragments, p.undecodable,
        p.snaplen_truncated, p.unsupported_link, p.filtered_out
    );
    write_table(out, t, opts, Some(vec![compact]))?;
    let tunnelled = p.tunnelled.total();
    if tunnelled > 0 {
        let kinds: Vec<String> = Tunnel::ALL
            .into_iter()
            .filter(|&k| p.tunnelled.get(k) > 0)
            .map(|k| format!("{} {}", k.label(), p.tunnelled.get(k)))
            .collect();
        write_parts(
            out,
            opts,
            &[format!(
                "TCP packets out of tunnels: {tunnelled} ({})",
                kinds.join(", ")
            )],
        )?;
    }

    // Summary.
    let s = &r.summary;
    writeln!(out)?;
    write_parts(
        out,
        opts,
        &[
            format!("TCP connections: {}", s.connections),
            format!(
                "handshakes: {} attempted, {} completed",
                s.handshakes.attempted, s.handshakes.completed
            ),
            format!("SYN retransmits: {}", s.handshakes.syn_retransmits),
            format!("SYN/ACK retransmits: {}", s.handshakes.synack_retransmits),
        ],
    )?;
    let mut t = new_table(opts);
    t.set_header(vec![
        "latency (ms)",
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
    // Per-connection medians of the path RTT on each side of the capture point.
    dist_row("path RTT, client side", &s.rtt_client_side_ms);
    dist_row("path RTT, server side", &s.rtt_server_side_ms);
    write_table(out, t, opts, None)?;

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
    let compact = format!(
        "closes: {} fin, {} reset, {} refused, {} unanswered, {} handshake incomplete, {} half-closed, {} open, {} mid-stream; {} abnormal",
        c.fin, c.reset, c.refused, c.unanswered, c.handshake_incomplete, c.half_closed,
        c.open, c.midstream, c.abnormal
    );
    write_table(out, t, opts, Some(vec![compact]))?;

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
    write_table(out, t, opts, None)?;

    let k = &s.keepalive;
    write_parts(
        out,
        opts,
        &[
            format!(
                "keep-alive: {} probes, {} ACKed, {} unanswered, on {} connection(s)",
                k.probes, k.acks, k.unanswered, k.connections
            ),
            format!("zero-window probes: {}", s.zero_window_probes),
        ],
    )?;
    // Issue 20's evidence: the true counts first, where the loss was, tshark's beside.
    write_parts(
        out,
        opts,
        &[
            format!(
                "retransmissions: {} ({} spurious)",
                s.retransmissions, s.spurious_retransmissions
            ),
            format!(
                "lost before the capture point: {}, after it: {}",
                s.lost_before_capture, s.lost_after_capture
            ),
            format!("out of order: {}", s.out_of_order),
            format!("network duplicates: {}", s.network_duplicates),
            format!(
                "tshark counts {} retransmissions, {} out of order",
                s.tshark_retransmissions, s.tshark_out_of_order
            ),
        ],
    )?;
    let a = &s.apps;
    write_parts(
        out,
        opts,
        &[format!(
            "applications: {} http, {} websocket, {} tls, {} ssh, {} unknown, {} without payload",
            a.http, a.websocket, a.tls, a.ssh, a.unknown, a.none
        )],
    )?;

    write_trouble(out, opts, &s.top)?;

    if let Some(cap) = &r.capture {
        write_parts(
            out,
            opts,
            &[format!(
                "capture: {} packets; {} connections retired (closed or idle; counted above, not listed), {} evicted (--max-connections), {} still tracked",
                cap.packets_captured, cap.retired, cap.evicted, cap.active_at_end
            )],
        )?;
    }

    write_connections(out, r, opts)?;

    for w in &r.warnings {
        write_parts(out, opts, &[format!("warning: {w}")])?;
    }
    Ok(())
}

/// A table as it is when it fits the width (or with --wide); else `compact`'s lines,
/// word-wrapped, when given, or the table with its cells wrapped.
fn write_table<W: Write>(
    out: &mut W,
    mut t: Table,
    opts: &TableOptions,
    compact: Option<Vec<String>>,
) -> io::Result<()> {
    let Some(width) = opts.width else {
        return writeln!(out, "{t}");
    };
    t.set_content_arrangement(ContentArrangement::Disabled);
    let text = t.to_string();
    if text.lines().all(|l| fit::width(l) <= width) {
        return writeln!(out, "{text}");
    }
    match compact {
        Some(lines) => {
            for line in &lines {
                for l in fit::wrap(line, width, "  ") {
                    writeln!(out, "{l}")?;
                }
            }
            Ok(())
        }
        None => {
            t.set_content_arrangement(ContentArrangement::Dynamic);
            t.set_width(u16::try_from(width).unwrap_or(u16::MAX));
            writeln!(out, "{t}")
        }
    }
}

/// Parts of a line joined by three spaces, on more lines when the width asks for it.
fn write_parts<W: Write>(out: &mut W, opts: &TableOptions, parts: &[String]) -> io::Result<()> {
    for line in fit::join_parts(parts, opts.width) {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// The indices of the rows listed, in order, and how many connections the selection
/// had before `--top`/the default cut it.
fn selected(r: &Report, rows: Rows) -> (Vec<u32>, usize) {
    // Abnormal first, then the rest, each in id order: the records' own order, so two
    // passes make the list without sorting every connection. Records are made from the
    // list one row at a time, twice (widths, then lines): never all at once.
    let all = &r.connections;
    // A report holds fewer than 2^32 connections: its records alone would fill memory.
    let index = |i: usize| u32::try_from(i).unwrap_or(u32::MAX);
    let abnormal = (0..all.len()).filter(|&i| all.is_abnormal(i)).map(index);
    let normal = (0..all.len()).filter(|&i| !all.is_abnormal(i)).map(index);
    match rows {
        Rows::All => (abnormal.chain(normal).collect(), all.len()),
        Rows::Abnormal => {
            let list: Vec<_> = abnormal.collect();
            let total = list.len();
            (list, total)
        }
        Rows::Default(n) | Rows::Top(n) => (abnormal.chain(normal).take(n).collect(), all.len()),
    }
}

/// A column of the connection table: its name for `--columns`, its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    Id,
    Client,
    Server,
    Peers,
    Packets,
    PacketsCs,
    PacketsSc,
    Bytes,
    BytesCs,
    BytesSc,
    FirstSeen,
    Duration,
    Rtt,
    Connect,
    PathRtt,
    SynRetransmits,
    Retransmissions,
    OutOfOrder,
    Lost,
    Spurious,
    NetworkDuplicates,
    TsharkRetransmissions,
    TsharkOutOfOrder,
    Evidence,
    Close,
    By,
    TimeWait,
    States,
    App,
}

impl Column {
    /// Every column, in the order `--columns` lists them in --help and docs/output.md.
    pub const ALL: [Column; 29] = [
        Column::Id,
        Column::Client,
        Column::Server,
        Column::Peers,
        Column::Packets,
        Column::PacketsCs,
        Column::PacketsSc,
        Column::Bytes,
        Column::BytesCs,
        Column::BytesSc,
        Column::FirstSeen,
        Column::Duration,
        Column::Rtt,
        Column::Connect,
        Column::PathRtt,
        Column::SynRetransmits,
        Column::Retransmissions,
        Column::OutOfOrder,
        Column::Lost,
        Column::Spurious,
        Column::NetworkDuplicates,
        Column::TsharkRetransmissions,
        Column::TsharkOutOfOrder,
        Column::Evidence,
        Column::Close,
        Column::By,
        Column::TimeWait,
        Column::States,
        Column::App,
    ];

    /// `--wide`: every column, as the table always had them, then connect time, the
    /// path RTT, retransmissions and the rest of issue 20's evidence after the RTT.
    pub const WIDE: [Column; 26] = [
        Column::Id,
        Column::Client,
        Column::Server,
        Column::PacketsCs,
        Column::PacketsSc,
        Column::BytesCs,
        Column::BytesSc,
        Column::FirstSeen,
        Column::Duration,
        Column::Rtt,
        Column::Connect,
        Column::PathRtt,
        Column::SynRetransmits,
        Column::Retransmissions,
        Column::OutOfOrder,
        Column::Lost,
        Column::Spurious,
        Column::NetworkDuplicates,
        Column::TsharkRetransmissions,
        Column::TsharkOutOfOrder,
        Column::Evidence,
        Column::Close,
        Column::By,
        Column::TimeWait,
        Column::States,
        Column::App,
    ];

    /// Fitted to a width: these, in this order, before any is dropped.
    const FITTED: [Column; 16] = [
        Column::Id,
        Column::Peers,
        Column::Close,
        Column::By,
        Column::Rtt,
        Column::Connect,
        Column::Packets,
        Column::SynRetransmits,
        Column::Retransmissions,
        Column::Lost,
        Column::Duration,
        Column::Bytes,
        Column::TimeWait,
        Column::FirstSeen,
        Column::States,
        Column::App,
    ];

    /// Dropped first when the table is too wide, first first. Where the loss was goes
    /// before the count it splits.
    const DROP_FIRST: [Column; 8] = [
        Column::States,
        Column::FirstSeen,
        Column::TimeWait,
        Column::Bytes,
        Column::Duration,
        Column::Lost,
        Column::Retransmissions,
        Column::SynRetransmits,
    ];

    /// Then these, once the app column is cut as short as it goes; id and
    /// client → server stay.
    const DROP_LAST: [Column; 6] = [
        Column::App,
        Column::Packets,
        Column::Connect,
        Column::Rtt,
        Column::By,
        Column::Close,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Column::Id => "id",
            Column::Client => "client",
            Column::Server => "server",
            Column::Peers => "peers",
            Column::Packets => "packets",
            Column::PacketsCs => "packets-cs",
            Column::PacketsSc => "packets-sc",
            Column::Bytes => "bytes",
            Column::BytesCs => "bytes-cs",
            Column::BytesSc => "bytes-sc",
            Column::FirstSeen => "first-seen",
            Column::Duration => "duration",
            Column::Rtt => "rtt",
            Column::Connect => "connect",
            Column::PathRtt => "path-rtt",
            Column::SynRetransmits => "syn-rtx",
            Column::Retransmissions => "rtx",
            Column::OutOfOrder => "ooo",
            Column::Lost => "lost",
            Column::Spurious => "spurious",
            Column::NetworkDuplicates => "net-dup",
            Column::TsharkRetransmissions => "tshark-rtx",
            Column::TsharkOutOfOrder => "tshark-ooo",
            Column::Evidence => "evidence",
            Column::Close => "close",
            Column::By => "by",
            Column::TimeWait => "time-wait",
            Column::States => "states",
            Column::App => "app",
        }
    }

    pub fn from_name(name: &str) -> Option<Column> {
        Column::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The header: the table's long-standing ones for its old columns.
    fn header(self) -> &'static str {
        match self {
            Column::Id => "id",
            Column::Client => "client",
            Column::Server => "server",
            Column::Peers => "client → server",
            Column::Packets => "pkts",
            Column::PacketsCs => "pkts c→s",
            Column::PacketsSc => "pkts s→c",
            Column::Bytes => "bytes",
            Column::BytesCs => "bytes c→s",
            Column::BytesSc => "bytes s→c",
            Column::FirstSeen => "first seen (UTC)",
            Column::Duration => "duration (s)",
            Column::Rtt => "RTT (ms)",
            Column::Connect => "connect (ms)",
            Column::PathRtt => "path RTT c / s (ms)",
            Column::SynRetransmits => "SYN rtx",
            Column::Retransmissions => "rtx",
            Column::OutOfOrder => "ooo",
            Column::Lost => "lost b/a",
            Column::Spurious => "spurious",
            Column::NetworkDuplicates => "net dup",
            Column::TsharkRetransmissions => "tshark rtx",
            Column::TsharkOutOfOrder => "tshark ooo",
            Column::Evidence => "ordered by (client / server)",
            Column::Close => "close",
            Column::By => "by",
            Column::TimeWait => "TIME_WAIT",
            Column::States => "final states (client / server)",
            Column::App => "app",
        }
    }

    fn right_aligned(self) -> bool {
        matches!(
            self,
            Column::Id
                | Column::Packets
                | Column::PacketsCs
                | Column::PacketsSc
                | Column::Bytes
                | Column::BytesCs
                | Column::BytesSc
                | Column::Duration
                | Column::Rtt
                | Column::Connect
                | Column::SynRetransmits
                | Column::Retransmissions
                | Column::OutOfOrder
                | Column::Lost
                | Column::Spurious
                | Column::NetworkDuplicates
                | Column::TsharkRetransmissions
                | Column::TsharkOutOfOrder
        )
    }

    /// This column's text for one connection, into `out` (cleared first); `addr_max`
    /// shortens long IPv6 addresses.
    fn cell_into(self, out: &mut String, c: &ConnectionRecord, addr_max: usize) {
        out.clear();
        let (client, server) = (&c.client_figures, &c.server_figures);
        let ms = |out: &mut String, d: Option<std::time::Duration>| match d {
            Some(d) => push_3_decimals(out, d, false),
            None => out.push('-'),
        };
        match self {
            Column::Id => push_decimal(out, c.id, 1),
            Column::Client => fit::push_short_addr(out, &c.client, addr_max),
            Column::Server => fit::push_short_addr(out, &c.server, addr_max),
            Column::Peers => {
                fit::push_short_addr(out, &c.client, addr_max);
                out.push_str(" → ");
                fit::push_short_addr(out, &c.server, addr_max);
            }
            Column::Packets => push_decimal(out, client.packets + server.packets, 1),
            Column::PacketsCs => push_decimal(out, client.packets, 1),
            Column::PacketsSc => push_decimal(out, server.packets, 1),
            Column::Bytes => push_decimal(out, client.bytes + server.bytes, 1),
            Column::BytesCs => push_decimal(out, client.bytes, 1),
            Column::BytesSc => push_decimal(out, server.bytes, 1),
            Column::FirstSeen => c.first_seen.push_utc(out),
            Column::Duration => push_3_decimals(out, c.duration(), true),
            Column::Rtt => ms(out, c.handshake_rtt()),
            Column::Connect => ms(out, figures::connect_time(c)),
            Column::PathRtt => {
                // The median of each side of the capture point (docs/metrics.md, "Path RTT").
                out.push_str("c ");
                ms(out, figures::rtt_client_side(c));
                out.push_str(" / s ");
                ms(out, figures::rtt_server_side(c));
            }
            Column::SynRetransmits => push_decimal(out, figures::syn_retransmits(c), 1),
            Column::Retransmissions => push_decimal(out, figures::retransmissions(c), 1),
            Column::OutOfOrder => push_decimal(out, figures::out_of_order(c), 1),
            Column::Lost => {
                push_decimal(out, figures::lost_before_capture(c), 1);
                out.push('/');
                push_decimal(out, figures::lost_after_capture(c), 1);
            }
            Column::Spurious => push_decimal(out, figures::spurious_retransmissions(c), 1),
            Column::NetworkDuplicates => push_decimal(out, figures::network_duplicates(c), 1),
            Column::TsharkRetransmissions => {
                push_decimal(out, figures::tshark_retransmissions(c), 1)
            }
            Column::TsharkOutOfOrder => push_decimal(out, figures::tshark_out_of_order(c), 1),
            Column::Evidence => {
                out.push_str(client.ordering_evidence.as_str());
                out.push_str(" / ");
                out.push_str(server.ordering_evidence.as_str());
            }
            Column::Close => {
                out.push_str(c.close.as_str());
                if c.midstream {
                    out.push_str(" (mid-stream)");
                }
            }
            Column::By => out.push_str(match (c.close, c.reset, c.closer) {
                (CloseKind::Reset | CloseKind::Refused, Some(r), _) => r.by.as_str(),
                (_, _, Some(b)) => b.as_str(),
                _ => "-",
            }),
            Column::TimeWait => out.push_str(sides_text(c.time_wait).unwrap_or("-")),
            Column::States => {
                out.push_str(c.client_state.as_str());
                out.push_str(" / ");
                out.push_str(c.server_state.as_str());
            }
            Column::App => out.push_str(&app_label(&c.app)),
        }
    }
}

/// The names `--columns` takes, for --help and error messages.
pub fn column_names() -> String {
    let names: Vec<&str> = Column::ALL.iter().map(|c| c.name()).collect();
    names.join(", ")
}

/// IPv6 addresses longer than this are shortened in a fitted table.
const ADDR_MAX: usize = 24;
/// The app column is cut no shorter than this before columns of the keep list drop.
const APP_MIN: usize = 12;

fn write_connections<W: Write>(out: &mut W, r: &Report, opts: &TableOptions) -> io::Result<()> {
    let (rows, total) = selected(r, opts.rows);
    if rows.is_empty() {
        if opts.rows == Rows::Abnormal && total < r.connections.len() {
            writeln!(
                out,
                "\nno abnormal connection among the {}",
                r.connections.len()
            )?;
        } else {
            writeln!(out, "\nno TCP connections to list")?;
        }
        return Ok(());
    }
    writeln!(out, "\nTCP connections (abnormal first)")?;
    let list = &r.connections;
    let records = || rows.iter().map(|&i| list.record(i as usize));
    match (opts.width, &opts.columns) {
        (None, columns) => {
            let columns = columns.as_deref().unwrap_or(&Column::WIDE);
            let layout = Layout::measure(columns, usize::MAX, records());
            write_boxed(out, &layout, records())?;
        }
        (Some(_), Some(columns)) => {
            let layout = Layout::measure(columns, usize::MAX, records());
            write_plain(out, &layout, records())?;
        }
        (Some(width), None) => {
            let mut layout = Layout::measure(&Column::FITTED, ADDR_MAX, records());
            layout.fit(width);
            write_plain(out, &layout, records())?;
        }
    }
    if rows.len() < total {
        write_parts(
            out,
            opts,
            &[format!(
                "{} more connection(s) not shown: use --all, --abnormal or --top N",
                total - rows.len()
            )],
        )?;
    }
    Ok(())
}

/// The connection table's columns and their widths, measured over every row before any
/// is written, so that rows are then written one at a time as their records are made,
/// never held all at once.
struct Layout {
    /// Each column and its width: its widest cell or its header.
    cols: Vec<(Column, usize)>,
    /// IPv6 addresses longer than this are shortened.
    addr_max: usize,
    /// The app column's cells are cut to this many characters.
    app_max: Option<usize>,
}

impl Layout {
    fn measure(
        columns: &[Column],
        addr_max: usize,
        records: impl Iterator<Item = ConnectionRecord>,
    ) -> Layout {
        let mut cols: Vec<(Column, usize)> = columns
            .iter()
            .map(|&c| (c, fit::width(c.header())))
            .collect();
        let mut cell = String::new();
        for c in records {
            for (col, w) in &mut cols {
                col.cell_into(&mut cell, &c, addr_max);
                *w = (*w).max(fit::width(&cell));
            }
        }
        Layout {
            cols,
            addr_max,
            app_max: None,
        }
    }

    /// Two spaces between columns.
    fn plain_width(&self) -> usize {
        let sum: usize = self.cols.iter().map(|(_, w)| w).sum();
        sum + 2 * self.cols.len().saturating_sub(1)
    }

    /// Lower-priority columns dropped, the app column cut, until the table fits `width`
    /// (id and client → server always stay).
    fn fit(&mut self, width: usize) {
        for drop in Column::DROP_FIRST {
            if self.plain_width() <= width {
                return;
            }
            self.cols.retain(|(c, _)| *c != drop);
        }
        // Cut the app column (the last) to what is left, if that leaves enough of it.
        let over = self.plain_width().saturating_sub(width);
        if over > 0 {
            if let Some((_, w)) = self.cols.iter_mut().find(|(c, _)| *c == Column::App) {
                if w.saturating_sub(over) >= APP_MIN {
                    // Its widest cell is cut to exactly this (wider than the header).
                    *w -= over;
                    self.app_max = Some(*w);
                }
            }
        }
        for drop in Column::DROP_LAST {
            if self.plain_width() <= width {
                break;
            }
            self.cols.retain(|(c, _)| *c != drop);
        }
    }

    /// Column `col`'s text for one connection, into `cell`.
    fn cell(&self, cell: &mut String, col: Column, c: &ConnectionRecord) {
        col.cell_into(cell, c, self.addr_max);
        if let (Column::App, Some(max)) = (col, self.app_max) {
            if fit::width(cell) > max {
                *cell = fit::truncate(cell, max);
            }
        }
    }
}

/// `text` padded to `width` characters, on the left for a right-aligned column.
fn pad(line: &mut String, text: &str, width: usize, right: bool) {
    let spaces = width.saturating_sub(fit::width(text));
    if right {
        line.extend(std::iter::repeat_n(' ', spaces));
        line.push_str(text);
    } else {
        line.push_str(text);
        line.extend(std::iter::repeat_n(' ', spaces));
    }
}

/// A table without borders, as ps and ss print them: a header, a rule, the rows; two
/// spaces between columns, numbers right-aligned, no line ending in spaces.
fn write_plain<W: Write>(
    out: &mut W,
    layout: &Layout,
    records: impl Iterator<Item = ConnectionRecord>,
) -> io::Result<()> {
    let mut line = String::new();
    let mut cell = String::new();
    let end = |out: &mut W, line: &mut String| -> io::Result<()> {
        let kept = line.trim_end().len();
        line.truncate(kept);
        line.push('\n');
        out.write_all(line.as_bytes())?;
        line.clear();
        Ok(())
    };
    for (i, (col, w)) in layout.cols.iter().enumerate() {
        if i > 0 {
            line.push_str("  ");
        }
        pad(&mut line, col.header(), *w, col.right_aligned());
    }
    end(out, &mut line)?;
    line.extend(std::iter::repeat_n('─', layout.plain_width()));
    end(out, &mut line)?;
    for c in records {
        for (i, (col, w)) in layout.cols.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            layout.cell(&mut cell, *col, &c);
            pad(&mut line, &cell, *w, col.right_aligned());
        }
        end(out, &mut line)?;
    }
    Ok(())
}

/// A boxed table (`--wide`), drawn as comfy-table draws `UTF8_FULL_CONDENSED` with
/// content arrangement disabled (a unit test holds it to comfy-table's output): a space
/// either side of each cell, no rule between rows, headers left-aligned.
fn write_boxed<W: Write>(
    out: &mut W,
    layout: &Layout,
    records: impl Iterator<Item = ConnectionRecord>,
) -> io::Result<()> {
    let widths: Vec<usize> = layout.cols.iter().map(|(_, w)| *w).collect();
    let mut line = String::new();
    let mut cell = String::new();
    boxed_rule(&mut line, &widths, ['┌', '─', '┬', '┐']);
    boxed_row(&mut line, &mut cell, &widths, |i, cell| {
        cell.clear();
        cell.push_str(layout.cols[i].0.header());
        false
    });
    boxed_rule(&mut line, &widths, ['╞', '═', '╪', '╡']);
    for c in records {
        boxed_row(&mut line, &mut cell, &widths, |i, cell| {
            let col = layout.cols[i].0;
            layout.cell(cell, col, &c);
            col.right_aligned()
        });
        out.write_all(line.as_bytes())?;
        line.clear();
    }
    boxed_rule(&mut line, &widths, ['└', '─', '┴', '┘']);
    out.write_all(line.as_bytes())
}

/// A border line of a boxed table: left corner, fill, crossing, right corner.
fn boxed_rule(line: &mut String, widths: &[usize], [left, fill, mid, right]: [char; 4]) {
    line.push(left);
    for (i, w) in widths.iter().enumerate() {
        if i > 0 {
            line.push(mid);
        }
        line.extend(std::iter::repeat_n(fill, w + 2));
    }
    line.push(right);
    line.push('\n');
}

/// A row of a boxed table; `text(i, cell)` puts column i's text in `cell` and says
/// whether it is right-aligned.
fn boxed_row(
    line: &mut String,
    cell: &mut String,
    widths: &[usize],
    mut text: impl FnMut(usize, &mut String) -> bool,
) {
    line.push('│');
    for (i, w) in widths.iter().enumerate() {
        if i > 0 {
            line.push('┆');
        }
        let right = text(i, cell);
        line.push(' ');
        pad(line, cell, *w, right);
        line.push(' ');
    }
    line.push('│');
    line.push('\n');
}

/// Entries of each "who causes the trouble" list the table shows (JSON has them all).
const TROUBLE_SHOWN: usize = 5;

/// The summary's top lists, one line each, only those with entries.
fn write_trouble<W: Write>(
    out: &mut W,
    opts: &TableOptions,
    top: &crate::model::top::TopLists,
) -> io::Result<()> {
    let approx = |exact: bool| if exact { "" } else { " (approximate)" };
    let counted = |name: &str, l: &crate::model::top::TopList<crate::model::top::TopEntry>| {
        let items: Vec<String> = l
            .entries
            .iter()
            .take(TROUBLE_SHOWN)
            .map(|e| format!("{} ({})", e.endpoint, e.count))
            .collect();
        (!items.is_empty()).then(|| format!("{name}{}: {}", approx(l.exact), items.join(", ")))
    };
    let slow = &top.slowest_servers;
    let slow_items: Vec<String> = slow
        .entries
        .iter()
        .take(TROUBLE_SHOWN)
        .map(|e| {
            format!(
                "{} {}/{}",
                e.endpoint,
                opt_ms(Some(e.mean_rtt_ms)),
                e.handshakes
            )
        })
        .collect();
    let lines = [
        counted("most RSTs sent by", &top.rst_senders),
        counted("most refusals by", &top.refusing_servers),
        counted("most unanswered SYNs to", &top.unanswered_destinations),
        (!slow_items.is_empty()).then(|| {
            format!(
                "slowest servers (mean handshake RTT in ms/handshakes){}: {}",
                approx(slow.exact),
                slow_items.join(", ")
            )
        }),
    ];
    for line in lines.into_iter().flatten() {
        write_parts(out, opts, &[line])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows drawn by [`boxed_rule`] and [`boxed_row`] are comfy-table's, character for
    /// character: empty cells, arrows and ellipses, spaces at either end, a header wider
    /// or narrower than its cells, left and right alignment.
    #[test]
    fn boxed_rows_are_comfy_tables() {
        let header = ["id", "client → server", "", "app", "x"];
        let right = [true, false, true, false, false];
        let rows = [
            [
                "1",
                "10.0.0.1:80 → [2001:db8:…:1]:443",
                "",
                "tls, SNI a b ",
                " ",
            ],
            ["12345", "-", "0.250", "", "tail "],
            [
                "",
                "",
                "9999999.999",
                "http/1.1, 3 requests, close: both",
                "",
            ],
        ];
        let mut t = Table::new();
        t.load_style(UTF8_FULL_CONDENSED);
        t.set_content_arrangement(ContentArrangement::Disabled);
        t.set_header(header.to_vec());
        for row in &rows {
            t.add_row(
                row.iter()
                    .zip(right)
                    .map(|(text, r)| {
                        let cell = Cell::new(text);
                        if r {
                            cell.set_alignment(CellAlignment::Right)
                        } else {
                            cell
                        }
                    })
                    .collect::<Vec<_>>(),
            );
        }
        let comfy = format!("{t}\n");

        let widths: Vec<usize> = (0..header.len())
            .map(|i| {
                rows.iter()
                    .map(|r| fit::width(r[i]))
                    .chain([fit::width(header[i])])
                    .max()
                    .unwrap()
            })
            .collect();
        let (mut line, mut cell) = (String::new(), String::new());
        boxed_rule(&mut line, &widths, ['┌', '─', '┬', '┐']);
        boxed_row(&mut line, &mut cell, &widths, |i, cell| {
            *cell = header[i].to_string();
            false
        });
        boxed_rule(&mut line, &widths, ['╞', '═', '╪', '╡']);
        for row in &rows {
            boxed_row(&mut line, &mut cell, &widths, |i, cell| {
                *cell = row[i].to_string();
                right[i]
            });
        }
        boxed_rule(&mut line, &widths, ['└', '─', '┴', '┘']);
        assert_eq!(line, comfy);
    }
}
