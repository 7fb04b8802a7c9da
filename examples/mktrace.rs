//! The benchmark trace generator (issue 6): a deterministic, seeded, realistic classic pcap
//! of interleaved TCP flows (15% IPv6, 10% VLAN, UDP/ICMP noise) at any size, with a
//! sidecar `<out>.truth.json` of the true counts. docs/performance.md, "The benchmark
//! trace", describes the model and the sidecar.
//!
//! ```text
//! cargo run --release --example mktrace -- --packets 10000000 --out /tmp/big.pcap
//! cargo run --release --example mktrace -- --packets 10000000 --snaplen 96 --out /tmp/big96.pcap
//! ```
//!
//! Options: `--packets N` (exact record count, default 1000000), `--out FILE` (required;
//! `-` is standard output, and no sidecar is written for `-` or a path under /dev/),
//! `--seed S` (default 20240601), `--snaplen L` (default 65535), `--concurrent K` (flows
//! open at once, default 2000).

#[path = "mktrace/gen.rs"]
mod gen;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

const USAGE: &str =
    "usage: mktrace --packets N --out FILE [--seed S] [--snaplen L] [--concurrent K]";

const HELP: &str = "\
mktrace: writes a deterministic, seeded benchmark trace (classic pcap) of interleaved TCP
flows (15% IPv6, 10% VLAN, UDP/ICMP noise), with a sidecar FILE.truth.json of the true
counts (docs/performance.md, \"The benchmark trace\").

usage: mktrace --packets N --out FILE [--seed S] [--snaplen L] [--concurrent K]

Options:
  --packets N      exact number of records to write (default 1000000; 10_000_000 works)
  --out FILE       where to write the trace (required); - is standard output. No sidecar
                   is written for - or a path under /dev/
  --seed S         seed of the generator: the same seed gives the same bytes
                   (default 20240601)
  --snaplen L      cut every record to L bytes, 64 to 262144 (default 65535)
  --concurrent K   flows open at once, at least 1 (default 2000)
  -h, --help       print this help

Examples:
  cargo run --release --example mktrace -- --packets 10000000 --out /tmp/big.pcap
  cargo run --release --example mktrace -- --packets 10000000 --snaplen 96 --out /tmp/big96.pcap
  cargo run --example mktrace -- --packets 1000 --out - | synack report -";

fn parse_args() -> Result<(gen::Config, String), String> {
    let mut cfg = gen::Config::default();
    let mut out = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            println!("{HELP}");
            std::process::exit(0);
        }
        let value = args
            .next()
            .ok_or(format!("{flag} needs a value\n{USAGE}"))?;
        let num = |v: &str| -> Result<u64, String> {
            v.replace('_', "")
                .parse()
                .map_err(|_| format!("{flag}: not a number: {v}"))
        };
        match flag.as_str() {
            "--packets" => cfg.packets = num(&value)?,
            "--seed" => cfg.seed = num(&value)?,
            "--snaplen" => {
                cfg.snaplen = u32::try_from(num(&value)?)
                    .ok()
                    .filter(|&s| (64..=262_144).contains(&s))
                    .ok_or("--snaplen: 64 to 262144")?
            }
            "--concurrent" => {
                cfg.concurrent = usize::try_from(num(&value)?)
                    .ok()
                    .filter(|&k| k >= 1)
                    .ok_or("--concurrent: at least 1")?
            }
            "--out" => out = Some(value),
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    Ok((cfg, out.ok_or(USAGE)?))
}

fn main() -> ExitCode {
    let (cfg, out) = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let sink: Box<dyn Write> = if out == "-" {
        Box::new(io::stdout().lock())
    } else {
        match File::create(&out) {
            Ok(f) => Box::new(f),
            Err(e) => {
                eprintln!("mktrace: {out}: {e}");
                return ExitCode::FAILURE;
            }
        }
    };
    let truth = match gen::run(&cfg, BufWriter::with_capacity(4 << 20, sink)) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("mktrace: writing {out}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let secs = started.elapsed().as_secs_f64();
    if out != "-" && !Path::new(&out).starts_with("/dev") {
        let path = format!("{out}.truth.json");
        let text = serde_json::to_string_pretty(&truth.to_json(&cfg)).expect("JSON") + "\n";
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("mktrace: {path}: {e}");
            return ExitCode::FAILURE;
        }
    }
    eprintln!(
        "mktrace: {out}: {} packets, {} bytes in {secs:.1} s ({:.2} M packets/s)",
        truth.packets,
        truth.file_bytes,
        truth.packets as f64 / secs / 1e6
    );
    ExitCode::SUCCESS
}
