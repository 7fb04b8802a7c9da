//! The width output is fitted to, and the `--wide`/`--columns` options that change it,
//! shared by report, capture and ladder.

use std::io::{self, IsTerminal};

use synack::output::table::Column;

/// Output width when standard output is not a terminal and `COLUMNS` is not set.
pub const PIPE_WIDTH: usize = 100;

/// The width to fit: `COLUMNS` when set to a number (as ls and git honour it), else the
/// terminal's, else [`PIPE_WIDTH`]. `None` with `wide`: no fitting.
pub fn width(wide: bool) -> Option<usize> {
    if wide {
        return None;
    }
    Some(known_width().unwrap_or(PIPE_WIDTH))
}

/// `COLUMNS` when set to a number, else the terminal's width; `None` into a pipe. Check's
/// verdict wraps only then: a CI log keeps one offender per line, for grep.
pub fn known_width() -> Option<usize> {
    let columns = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&c| c > 0);
    columns.or_else(terminal_columns)
}

/// Standard output's terminal width (TIOCGWINSZ), when it is a terminal.
fn terminal_columns() -> Option<usize> {
    let stdout = io::stdout();
    if !stdout.is_terminal() {
        return None;
    }
    // SAFETY: TIOCGWINSZ only writes the `winsize` we own; zeroed is a valid value.
    let ws = unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) != 0 {
            return None;
        }
        ws
    };
    (ws.ws_col > 0).then_some(usize::from(ws.ws_col))
}

/// `--columns id,client,server`: the names of [`Column`], comma-separated.
pub fn columns(s: &str) -> Result<ColumnList, String> {
    s.split(',')
        .map(|name| {
            let name = name.trim();
            Column::from_name(name).ok_or_else(|| {
                format!(
                    "no column {name:?}; the columns are: {}",
                    synack::output::table::column_names()
                )
            })
        })
        .collect::<Result<_, _>>()
        .map(ColumnList)
}

/// The value of `--columns` (a newtype: clap reads `Option<Vec<_>>` as a repeated option).
#[derive(Clone)]
pub struct ColumnList(pub Vec<Column>);

/// `--wide` and `--columns`, as report and capture take them.
#[derive(clap::Args, Clone)]
pub struct TableArgs {
    /// Every column of the connection table, and no table fitted to the terminal width
    /// (which otherwise is COLUMNS, the terminal's, or 100 into a pipe).
    #[arg(long)]
    pub wide: bool,
    /// The connection table's columns, in this order, comma-separated, from: id, client,
    /// server, peers (client → server), packets, packets-cs, packets-sc, bytes, bytes-cs,
    /// bytes-sc, first-seen, duration, rtt, connect, path-rtt (median RTT on the client's
    /// and the server's side of the capture point), syn-rtx, rtx (retransmissions, by the
    /// evidence), ooo (out of order), lost (before/after the capture point), spurious,
    /// net-dup (network duplicates), tshark-rtx, tshark-ooo, evidence (what ordered each
    /// side's segments), close, by, time-wait, states, app.
    #[arg(long, value_name = "NAMES", value_parser = columns)]
    columns: Option<ColumnList>,
}

impl TableArgs {
    pub fn columns(&self) -> Option<Vec<Column>> {
        self.columns.as_ref().map(|c| c.0.clone())
    }
}
