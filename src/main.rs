//! The synack command line: parses arguments, runs the pipeline, picks a printer and
//! turns the outcome into an exit status (0 fine, 1 reserved for failed checks,
//! 2 bad input or usage).

use std::io::{self, Write};
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{Parser, Subcommand};

mod commands;

#[derive(Parser)]
#[command(
    name = "synack",
    version,
    about = "Passive TCP connection analyzer for pcap/pcapng captures"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Read captures and report their TCP connections: handshakes, closes, RST,
    /// TIME_WAIT, keep-alive.
    Report(commands::report::ReportArgs),
    /// Check captures against limits (resets, refusals, handshake latency…) for CI: exit 0
    /// when every rule holds, 1 when one fails, 2 on bad input or usage.
    Check(commands::check::CheckArgs),
    /// Capture live (tcpdump-style) and print connection events as they happen: handshakes,
    /// refusals, resets, closes, TIME_WAIT, keep-alive; then the full report.
    Capture(commands::capture::CaptureArgs),
    /// Draw one connection as a ladder diagram: client and server as columns, one arrow
    /// per segment with flags, relative seq/ack, length and window, the states each side
    /// enters, and marks for retransmissions, keep-alive, zero windows and resets.
    Ladder(commands::ladder::LadderArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // A bad value is one line, as tcpdump says it: clap's message names the option,
        // the value and what it takes; its pointer to --help adds nothing there.
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::ValueValidation | ErrorKind::InvalidValue
            ) =>
        {
            let text = e.render().to_string();
            let line = text.lines().next().unwrap_or("error: invalid value");
            let _ = writeln!(
                io::stderr(),
                "synack: {}",
                line.trim_start_matches("error: ")
            );
            return ExitCode::from(2);
        }
        Err(e) => e.exit(),
    };
    let result = match cli.command {
        Command::Report(args) => commands::report::run(args),
        Command::Check(args) => commands::check::run(args),
        Command::Capture(args) => commands::capture::run(args),
        Command::Ladder(args) => commands::ladder::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            let _ = writeln!(io::stderr(), "synack: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}
