//! The synack command line: parses arguments, runs the pipeline, picks a printer and
//! turns the outcome into an exit status (0 fine, 1 reserved for failed checks,
//! 2 bad input or usage).

use std::io::{self, Write};
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, Subcommand};

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
    /// Print a shell completion script on standard output, e.g.
    /// `synack completions bash > ~/.local/share/bash-completion/completions/synack`.
    #[command(after_help = "Examples:
  synack completions bash > ~/.local/share/bash-completion/completions/synack
  synack completions zsh > ~/.zfunc/_synack     # with fpath+=~/.zfunc in ~/.zshrc
  synack completions fish > ~/.config/fish/completions/synack.fish")]
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) on standard output: `synack man | man -l -`.
    #[command(after_help = "Examples:
  synack man | man -l -
  synack man > /usr/local/share/man/man1/synack.1")]
    Man,
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
        Command::Completions { shell } => completions(shell),
        Command::Man => man(),
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

fn completions(shell: clap_complete::Shell) -> anyhow::Result<ExitCode> {
    let mut out = io::stdout().lock();
    clap_complete::generate(shell, &mut Cli::command(), "synack", &mut out);
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// One page for the whole command, its subcommands' options included, as tools such as
/// ripgrep ship it.
fn man() -> anyhow::Result<ExitCode> {
    let mut out = io::stdout().lock();
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut page)?;
    // .TH first, as man pages start (clap_mangen puts its quote-string setup before it).
    let page = String::from_utf8_lossy(&page);
    let (th, rest): (Vec<&str>, Vec<&str>) = page.lines().partition(|l| l.starts_with(".TH "));
    for l in th.iter().chain(&rest) {
        writeln!(out, "{l}")?;
    }
    // Each subcommand's options follow as a section of their own, its parts as
    // subsections.
    for sub in Cli::command().get_subcommands() {
        let name = format!("synack {}", sub.get_name());
        let page = clap_mangen::Man::new(sub.clone().bin_name(name.clone()));
        let mut roff = Vec::new();
        page.render_synopsis_section(&mut roff)?;
        page.render_description_section(&mut roff)?;
        page.render_options_section(&mut roff)?;
        if sub.get_after_help().is_some() {
            page.render_extra_section(&mut roff)?;
        }
        writeln!(out, ".SH \"{}\"", name.to_uppercase())?;
        for line in String::from_utf8_lossy(&roff).lines() {
            match line.strip_prefix(".SH ") {
                Some(title) => writeln!(out, ".SS {title}")?,
                None => writeln!(out, "{line}")?,
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}
