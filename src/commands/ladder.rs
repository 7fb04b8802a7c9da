//! `synack ladder`: the ladder diagram of one connection, as text (colored on a terminal)
//! and optionally as an SVG file (docs/ladder.md).

use std::io::{self, IsTerminal, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use clap::ValueEnum;

use synack::analysis::analyzer::Options;
use synack::analysis::ladder_builder::LadderBuilder;
use synack::analysis::pipeline::{Finished, Pipeline};
use synack::analysis::seq_builder::SeqGraphBuilder;
use synack::model::event::{ConnectionView, Event, NoEvents};
use synack::model::report::ConnectionList;
use synack::model::time::Timestamp;
use synack::output::{ladder_svg, ladder_text, seq_svg};

use super::inputs::{self, Inputs};
use super::{term, values};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colors when standard output is a terminal and NO_COLOR is not set.
    Auto,
    /// Colors even into a pipe or a file (and despite NO_COLOR).
    Always,
    /// Plain text.
    Never,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Plot {
    /// The ladder diagram.
    Ladder,
    /// The time-sequence graph (tcptrace's).
    Seq,
}

#[derive(clap::Args)]
#[command(after_help = "Examples:
  synack ladder capture.pcap                      connection #1
  synack ladder capture.pcap --conn 3 --full      #3, every segment drawn
  synack ladder capture.pcap --client 10.0.0.2    the first from that client, any port
  synack ladder capture.pcap --abnormal --svg bug.svg
  synack ladder capture.pcap --conn 3 --plot seq > seq.svg   time-sequence graph
  synack ladder capture.pcap --wide | less -S     full labels and lanes")]
pub struct LadderArgs {
    /// Capture files (pcap or pcapng), read as one timeline as `synack report` reads
    /// them; `-` reads standard input. Words after the last file that form a libpcap
    /// filter are the filter, as with tcpdump -r FILE EXPR.
    #[arg(required_unless_present = "read", value_name = "FILE")]
    files: Vec<PathBuf>,
    /// A capture file to read, as tcpdump -r (repeatable; read before FILE arguments).
    #[arg(short = 'r', long = "read", value_name = "FILE")]
    read: Vec<PathBuf>,
    /// The connection with this id in `synack report` (default: 1).
    #[arg(
        long,
        value_name = "ID",
        conflicts_with_all = ["client", "server", "abnormal"],
        allow_hyphen_values = true,
        value_parser = values::whole(1u64, None),
    )]
    conn: Option<u64>,
    /// The first connection from this client: `ip:port` (IPv6 as `[addr]:port`), or an
    /// address alone for any port.
    #[arg(long, value_name = "IP[:PORT]", conflicts_with = "abnormal", value_parser = endpoint)]
    client: Option<Endpoint>,
    /// The first connection to this server (with --client: the first between the two);
    /// an address alone matches any port.
    #[arg(long, value_name = "IP[:PORT]", conflicts_with = "abnormal", value_parser = endpoint)]
    server: Option<Endpoint>,
    /// The first abnormal connection (refused, reset, unanswered, handshake incomplete).
    #[arg(long)]
    abnormal: bool,
    /// Draw every segment: do not fold long runs of data.
    #[arg(long)]
    full: bool,
    /// Full labels and lanes, whatever the width (which otherwise is COLUMNS, the
    /// terminal's, or 100 into a pipe).
    #[arg(long)]
    wide: bool,
    /// Also write the diagram as an SVG file.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// What the SVG draws: the ladder (default), or `seq`, the time-sequence graph
    /// (sequence number over time per direction, ACK line, window edge, retransmissions,
    /// SACK blocks, zero windows, keep-alives, RSTs), written to --svg FILE, or to standard
    /// output instead of the text ladder when no --svg is given.
    #[arg(long, value_enum, value_name = "KIND")]
    plot: Option<Plot>,
    /// When to color the text diagram.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    /// Only packets matching this libpcap filter expression (as `synack report -f`: the
    /// ids stay those of `synack report` with the same filter).
    #[arg(short = 'f', long, value_name = "BPF")]
    filter: Option<String>,
}

/// An address, with a port or any port: `10.0.0.2`, `10.0.0.2:40006`, `2001:db8::2`,
/// `[2001:db8::2]:40006`.
#[derive(Clone, Copy)]
pub struct Endpoint {
    ip: IpAddr,
    port: Option<u16>,
}

impl Endpoint {
    fn matches(&self, a: SocketAddr) -> bool {
        // IPv4-mapped IPv6 addresses compare as the IPv4 they are.
        a.ip().to_canonical() == self.ip.to_canonical() && self.port.is_none_or(|p| p == a.port())
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}", SocketAddr::new(self.ip, port)),
            None => write!(f, "{}", self.ip),
        }
    }
}

fn endpoint(s: &str) -> Result<Endpoint, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(Endpoint {
            ip: a.ip(),
            port: Some(a.port()),
        });
    }
    let bare = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    bare.parse::<IpAddr>()
        .map(|ip| Endpoint { ip, port: None })
        .map_err(|_| "expected an address, with or without a port: 10.0.0.2, 10.0.0.2:40006, 2001:db8::2, [2001:db8::2]:40006".to_string())
}

/// Which connection to draw.
enum Select {
    Id(u64),
    Endpoints {
        client: Option<Endpoint>,
        server: Option<Endpoint>,
    },
}

impl Select {
    fn matches(&self, c: &ConnectionView) -> bool {
        match *self {
            Select::Id(id) => c.id == id,
            Select::Endpoints { client, server } => {
                client.is_none_or(|a| a.matches(c.client))
                    && server.is_none_or(|a| a.matches(c.server))
            }
        }
    }

    fn describe(&self) -> String {
        match self {
            Select::Id(id) => format!("--conn {id}"),
            Select::Endpoints { client, server } => {
                let mut parts = Vec::new();
                if let Some(c) = client {
                    parts.push(format!("--client {c}"));
                }
                if let Some(s) = server {
                    parts.push(format!("--server {s}"));
                }
                parts.join(" ")
            }
        }
    }
}

fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        // https://no-color.org: any non-empty value turns colors off.
        ColorChoice::Auto => {
            io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    }
}

/// Reads every input through the pipeline; `sink` sees each connection's events. Returns
/// `None` when no input could be read, after printing the errors (one line each);
/// otherwise the errors are the caller's to print after the diagram (`afterword`).
fn read_all(
    inputs: &Inputs,
    mut sink: impl FnMut(&ConnectionView, Timestamp, Event),
    stop: Option<Arc<AtomicBool>>,
) -> anyhow::Result<Option<Finished>> {
    let mut pipeline = pipeline(inputs);
    pipeline.check_filter()?;
    if let Some(stop) = stop {
        pipeline = pipeline.stop_on(stop);
    }
    let finished = pipeline.run_files(&inputs.files, &mut sink);
    if inputs::nothing_read(&finished) {
        inputs::afterword(&finished)?;
        return Ok(None);
    }
    Ok(Some(finished))
}

fn pipeline(inputs: &Inputs) -> Pipeline {
    Pipeline::new(Options {
        filter: inputs.filter.clone(),
        ..Options::default()
    })
}

/// The first pass over files: the report alone, as `synack report` makes it (on two
/// cores for a big trace, no events), to find the connection to draw.
fn find_pass(inputs: &Inputs) -> anyhow::Result<Option<Finished>> {
    let pipeline = pipeline(inputs).threads(0);
    pipeline.check_filter()?;
    let finished = pipeline.run_files(&inputs.files, &mut NoEvents);
    if inputs::nothing_read(&finished) {
        inputs::afterword(&finished)?;
        return Ok(None);
    }
    Ok(Some(finished))
}

/// Whether two connections' endpoints are one 4-tuple, either way round, as the flow
/// table keys them (an IPv4-mapped IPv6 address as the IPv4 address it is).
fn same_4_tuple(a: (SocketAddr, SocketAddr), b: (SocketAddr, SocketAddr)) -> bool {
    let key = |s: SocketAddr| (s.ip().to_canonical(), s.port());
    let (a, b) = ((key(a.0), key(a.1)), (key(b.0), key(b.1)));
    a == b || a == (b.1, b.0)
}

/// The index of the first connection `select` picks, in id order.
fn find(list: &ConnectionList, select: &Select) -> Option<usize> {
    match *select {
        // Ids count from 1 in the list's order.
        Select::Id(id) => {
            let at = usize::try_from(id).ok()?.checked_sub(1)?;
            (at < list.len() && list.record(at).id == id).then_some(at)
        }
        Select::Endpoints { client, server } => (0..list.len()).find(|&i| {
            let c = list.record(i);
            client.is_none_or(|a| a.matches(c.client)) && server.is_none_or(|a| a.matches(c.server))
        }),
    }
}

pub fn run(args: LadderArgs) -> anyhow::Result<ExitCode> {
    let inputs = inputs::resolve(&args.read, &args.files, args.filter.as_deref())?;
    let stdin = inputs.files.iter().any(|f| f == Path::new("-"));
    if args.abnormal && stdin {
        anyhow::bail!("--abnormal reads the input twice: give files, not standard input");
    }
    let select = if args.abnormal {
        None
    } else if args.client.is_some() || args.server.is_some() {
        Some(Select::Endpoints {
            client: args.client,
            server: args.server,
        })
    } else {
        Some(Select::Id(args.conn.unwrap_or(1)))
    };
    let mut builder = LadderBuilder::new(!args.full);
    let seq = args.plot == Some(Plot::Seq);
    let mut seq_builder = SeqGraphBuilder::default();
    // Files are read twice: once as `synack report` reads them, which finds the
    // connection (a close kind is known only at the end); then until its last segment,
    // with the events of that one connection drawn. Standard input is read once, the
    // connection picked by its first event.
    let (finished, conn) = if stdin {
        let select = select.unwrap_or(Select::Id(1));
        let mut chosen: Option<u64> = None;
        let Some(finished) = read_all(
            &inputs,
            |c, at, e| {
                // Rows are recorded for the one selected connection only.
                if chosen.is_none() && select.matches(c) {
                    chosen = Some(c.id);
                }
                if chosen == Some(c.id) {
                    if seq {
                        seq_builder.on_event(c, at, e);
                    }
                    builder.on_event(c, at, e);
                }
            },
            None,
        )?
        else {
            return Ok(ExitCode::from(2));
        };
        let list = &finished.report.connections;
        let conn = chosen.and_then(|id| find(list, &Select::Id(id)).map(|i| list.record(i)));
        let conn = conn.ok_or(select);
        (finished, conn)
    } else {
        let Some(finished) = find_pass(&inputs)? else {
            return Ok(ExitCode::from(2));
        };
        let list = &finished.report.connections;
        let found = match &select {
            Some(select) => find(list, select),
            None => (0..list.len()).find(|&i| list.is_abnormal(i)),
        };
        match (found, select) {
            (Some(i), _) => {
                let conn = list.record(i);
                // Its events, until its last segment: the rest of the input is not read,
                // and of what is read only its 4-tuple's packets are tracked. There the
                // ids count that 4-tuple's connections alone, so it is known by its
                // first packet's time, after as many others of that time as came before
                // it (connections of one 4-tuple that began at the same instant).
                let twins_before = (0..i)
                    .filter(|&j| list.first_seen(j) == conn.first_seen)
                    .filter(|&j| {
                        let other = list.record(j);
                        same_4_tuple((other.client, other.server), (conn.client, conn.server))
                    })
                    .count();
                let segments = conn.client_figures.packets + conn.server_figures.packets;
                let stop = Arc::new(AtomicBool::new(false));
                let mut twins_passed: Vec<u64> = Vec::new();
                let mut chosen: Option<u64> = None;
                let mut seen = 0;
                let second = pipeline(&inputs)
                    .track_only(conn.client, conn.server)
                    .stop_on(Arc::clone(&stop));
                let mut sink = |c: &ConnectionView, at: Timestamp, e: Event| {
                    if chosen.is_none()
                        && c.first_seen == conn.first_seen
                        && !twins_passed.contains(&c.id)
                    {
                        if twins_passed.len() == twins_before {
                            chosen = Some(c.id);
                        } else {
                            twins_passed.push(c.id);
                        }
                    }
                    if chosen == Some(c.id) {
                        if seq {
                            seq_builder.on_event(c, at, e);
                        }
                        builder.on_event(c, at, e);
                        if matches!(e, Event::Segment { .. }) {
                            seen += 1;
                            if seen == segments {
                                stop.store(true, Ordering::Relaxed);
                            }
                        }
                    }
                };
                second.run_files(&inputs.files, &mut sink);
                (finished, Ok(conn))
            }
            (None, Some(select)) => (finished, Err(select)),
            (None, None) => {
                inputs::afterword(&finished)?;
                writeln!(
                    io::stderr(),
                    "synack: no abnormal connection among the {} connection(s)",
                    list.len()
                )?;
                return Ok(ExitCode::from(2));
            }
        }
    };
    inputs::notes(&finished)?;
    let failed = !finished.complete();
    let conn = match conn {
        Ok(conn) => conn,
        Err(select) => {
            inputs::afterword(&finished)?;
            writeln!(
                io::stderr(),
                "synack: no connection matches {} (the input has {} connection(s); `synack report` lists them with their ids)",
                select.describe(),
                finished.report.connections.len()
            )?;
            return Ok(ExitCode::from(2));
        }
    };
    let diagram = builder.finish(&conn);
    let graph = seq.then(|| seq_builder.finish(&conn));
    let write = |path: &PathBuf, doc: String| {
        std::fs::write(path, doc).with_context(|| format!("cannot write {}", path.display()))
    };
    match (&args.svg, graph) {
        (Some(path), Some(g)) => write(path, seq_svg::render(&g))?,
        (Some(path), None) => write(path, ladder_svg::render(&diagram))?,
        (None, Some(g)) => {
            // The graph instead of the text ladder.
            let mut out = io::stdout().lock();
            out.write_all(seq_svg::render(&g).as_bytes())?;
            out.flush()?;
            inputs::afterword(&finished)?;
            return Ok(if failed {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            });
        }
        (None, None) => {}
    }
    let color = use_color(args.color);
    let mut out = io::BufWriter::new(io::stdout().lock());
    ladder_text::write_text(&mut out, &diagram, color, term::width(args.wide))?;
    out.flush()?;
    inputs::afterword(&finished)?;
    Ok(if failed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
