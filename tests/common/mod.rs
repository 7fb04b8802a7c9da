//! The one harness of the integration tests: running the synack binary and reading what it
//! printed (`synack()`), and finding what lies in ../shared beside the checkout
//! (`require_shared!`, `shared`).
//!
//! Each test file that says `mod common;` compiles its own copy, and uses only part of it.
#![allow(dead_code, unused_macros)]

pub mod live;
pub mod parquet_rows;

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

/// The summary's evidence figures (issue 20, docs/metrics.md), in `report --format json`;
/// each is the sum of a per-side pair of record columns (`synack.orig_…`, `synack.resp_…`).
pub const EVIDENCE_FIGURES: [&str; 8] = [
    "retransmissions",
    "out_of_order",
    "spurious_retransmissions",
    "network_duplicates",
    "lost_before_capture",
    "lost_after_capture",
    "tshark_retransmissions",
    "tshark_out_of_order",
];

/// The crate root: synack runs from there, so fixture paths stay relative and stable.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------------------------------
// Running synack
// ---------------------------------------------------------------------------------------

/// `synack`, to be given arguments, environment and standard input, then run.
pub fn synack() -> Synack {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_synack"));
    cmd.current_dir(root());
    Synack { cmd, input: None }
}

/// One command line of the synack binary, run from the crate root.
pub struct Synack {
    cmd: Command,
    input: Option<Vec<u8>>,
}

impl Synack {
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.cmd.arg(arg);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.cmd.env(key, value);
        self
    }

    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.cmd.env_remove(key);
        self
    }

    /// These bytes on standard input, written through a pipe while synack reads.
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.input = Some(bytes.into());
        self
    }

    /// Standard input from elsewhere: a file (as `synack - < FILE`), or `Stdio::null()`.
    pub fn stdin_from(mut self, stdin: impl Into<Stdio>) -> Self {
        self.cmd.stdin(stdin);
        self
    }

    /// Runs to the end; standard output and standard error are collected.
    pub fn output(mut self) -> Out {
        let Some(input) = self.input.take() else {
            return self.cmd.output().expect("run synack").into();
        };
        let mut child = self
            .cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run synack");
        let mut stdin = child.stdin.take().expect("stdin");
        let writer = std::thread::spawn(move || stdin.write_all(&input));
        let out = child.wait_with_output().expect("wait for synack");
        writer.join().expect("stdin writer").expect("write stdin");
        out.into()
    }

    /// Starts synack with standard output and standard error piped, for a test that reads
    /// them as they come (a live capture, a reader that goes away).
    pub fn spawn(mut self) -> Child {
        assert!(self.input.is_none(), "spawn() does not write stdin(bytes)");
        self.cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start synack")
    }
}

/// What one run printed, and how it ended.
pub struct Out {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl From<std::process::Output> for Out {
    fn from(o: std::process::Output) -> Out {
        Out {
            status: o.status,
            stdout: o.stdout,
            stderr: o.stderr,
        }
    }
}

impl Out {
    /// Standard output, which must be UTF-8.
    pub fn stdout(&self) -> String {
        String::from_utf8(self.stdout.clone()).expect("UTF-8 stdout")
    }

    /// Standard error, which must be UTF-8.
    pub fn stderr(&self) -> String {
        String::from_utf8(self.stderr.clone()).expect("UTF-8 stderr")
    }

    /// Standard error, any bytes that are not UTF-8 replaced.
    pub fn stderr_lossy(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// Standard output parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "JSON does not parse: {e}\n{}",
                String::from_utf8_lossy(&self.stdout)
            )
        })
    }

    /// Asserts exit status 0.
    #[track_caller]
    pub fn success(&self) -> &Self {
        assert!(self.status.success(), "{}", self.stderr_lossy());
        self
    }

    /// Asserts exit status `code`.
    #[track_caller]
    pub fn code(&self, code: i32) -> &Self {
        assert_eq!(self.status.code(), Some(code), "{}", self.stderr_lossy());
        self
    }

    /// Asserts that standard output holds `part`.
    #[track_caller]
    pub fn stdout_contains(&self, part: &str) -> &Self {
        let text = String::from_utf8_lossy(&self.stdout);
        assert!(text.contains(part), "no {part:?} in stdout:\n{text}");
        self
    }

    /// Asserts that standard error holds `part`.
    #[track_caller]
    pub fn stderr_contains(&self, part: &str) -> &Self {
        let text = self.stderr_lossy();
        assert!(text.contains(part), "no {part:?} in stderr:\n{text}");
        self
    }

    /// Asserts that standard error is empty.
    #[track_caller]
    pub fn quiet(&self) -> &Self {
        assert!(self.stderr.is_empty(), "stderr: {}", self.stderr_lossy());
        self
    }
}

// ---------------------------------------------------------------------------------------
// ../shared
// ---------------------------------------------------------------------------------------

/// `../shared/WHAT` beside the checkout (the corpus, the tools), or `None` when it is
/// missing. Under CI=true a missing one fails the test `test` instead.
pub fn shared(what: &str, test: &str) -> Option<PathBuf> {
    let dir = root().join("../shared").join(what);
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "{test}: CI=true but ../shared/{what} is missing (looked at {})",
            dir.display()
        );
    }
    None
}

/// The name of the test function this is used in, as `cargo test` lists it.
macro_rules! test_name {
    () => {{
        fn here() {}
        let name = std::any::type_name_of_val(&here);
        let name = name.strip_suffix("::here").unwrap_or(name);
        // Without the test binary's own name (the crate).
        name.split_once("::").map_or(name, |(_, test)| test)
    }};
}

/// `../shared/WHAT` (a `PathBuf`), or else the test ends there: it prints
/// `skipping TEST: ../shared/WHAT not found` on stderr and passes, except under CI=true,
/// where it fails.
macro_rules! require_shared {
    ($what:expr) => {{
        let what: &str = $what;
        let test = $crate::common::test_name!();
        match $crate::common::shared(what, test) {
            Some(dir) => dir,
            None => {
                eprintln!("skipping {test}: ../shared/{what} not found");
                return;
            }
        }
    }};
}

#[allow(unused_imports)]
pub(crate) use {require_shared, test_name};

/// Packets in a capture file as `synack report` reads it; the file must read whole.
pub fn packets_in(file: &Path) -> u64 {
    let out = synack().args(["report", "--json"]).arg(file).output();
    out.success();
    let v = out.json();
    let error = &v["inputs"][0]["error"];
    assert!(error.is_null(), "{}: {error}", file.display());
    v["packets"]["total"].as_u64().expect("packets.total")
}

/// `N packets captured` from a capture's standard error.
pub fn packets_captured(stderr: &str) -> u64 {
    stderr
        .lines()
        .find_map(|l| l.strip_suffix(" packets captured")?.parse().ok())
        .unwrap_or_else(|| panic!("no packet count in: {stderr}"))
}

/// Every pcap, pcapng and cap file under `dir`, at any depth, sorted.
pub fn captures(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p
                .extension()
                .is_some_and(|x| x == "pcap" || x == "pcapng" || x == "cap")
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// `synack report --format json FILE`, which must succeed silently.
pub fn report_json(file: &Path) -> serde_json::Value {
    synack()
        .args(["report", "--format", "json"])
        .arg(file)
        .output()
        .success()
        .json()
}

/// The one connection `synack report --format json FILE` finds in a fixture.
pub fn only_connection(file: &str) -> serde_json::Value {
    let report = synack()
        .args(["report", "--format", "json", file])
        .output()
        .success()
        .json();
    let connections = report["connections"].as_array().expect("connections");
    assert_eq!(connections.len(), 1, "{file}: one connection");
    connections[0].clone()
}
