//! Every `synack …` command shown in README.md and docs/*.md still runs (issue 17): each
//! is run on the shipped fixtures, with the placeholder file names of the examples
//! (`capture.pcap`, `trace.pcap`, `network-rules.toml`…) replaced by real ones, and must
//! end with status 0 or 1 — never a usage error, a failed input or a panic. Commands that
//! capture live, or that only make sense in a shell pipeline or a CI job, are listed in
//! `SKIPPED` with the reason; a command of the docs that is neither run nor listed fails
//! the test, so a new example cannot go unchecked.

use std::path::{Path, PathBuf};

mod common;

/// Commands not run, by a part of their text, with why.
const SKIPPED: &[(&str, &str)] = &[
    ("capture -i", "captures live on an interface"),
    ("capture -D", "lists the machine's interfaces"),
    ("\"$trace\"", "a CI job's loop variable"),
    ("completions bash >", "writes into the user's home"),
];

/// Examples that name a connection of one fixture: the capture they stand for.
const CAPTURE_OF: &[(&str, &str)] = &[("10.0.0.2:40006", "fixtures/tcp/close-client.pcap")];

/// Example file names and what they stand for here (`line`: the whole command).
fn substitute(word: &str, line: &str, scratch: &Path) -> String {
    if let Some((_, file)) = CAPTURE_OF.iter().find(|(part, _)| line.contains(part)) {
        if word.ends_with(".pcap") && !word.starts_with("fixtures/") {
            return file.to_string();
        }
    }
    let captures = [
        "capture.pcapng",
        "capture.pcap",
        "day1.pcap",
        "day2.pcap",
        "big.pcap",
        "trace.pcap",
        "run1.pcap",
        "run2.pcapng",
    ];
    if captures.contains(&word) {
        return "fixtures/sample.pcap".into();
    }
    match word {
        "rotated-1.pcap" | "rotated-2.pcap" => format!("fixtures/formats/{word}"),
        w if w.ends_with(".toml") => "tests/golden/rules.toml".into(),
        w if [".svg", ".xml", ".parquet", ".log"]
            .iter()
            .any(|x| w.ends_with(x)) =>
        {
            scratch.join(w.replace('/', "_")).display().to_string()
        }
        w => w.to_string(),
    }
}

/// A command line split as a shell splits it (single and double quotes), up to a comment,
/// a pipe or a redirection.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut started = false;
    for ch in line.chars() {
        match (quote, ch) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(ch);
                started = true;
            }
            (None, '#' | '|' | '>') => break,
            (None, c) if c.is_whitespace() => {
                if started || !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            (None, c) => word.push(c),
        }
    }
    if started || !word.is_empty() {
        out.push(word);
    }
    out
}

/// `(file:line, command)` of every `synack …` line in a code block of README and docs.
fn documented_commands() -> Vec<(String, String)> {
    let root = common::root();
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read doc");
        let name = file.strip_prefix(root).expect("in the repo").display();
        let mut in_block = false;
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("```") {
                in_block = !in_block;
                continue;
            }
            let t = line.trim();
            let t = t.strip_prefix("$ ").unwrap_or(t);
            let t = t.strip_prefix("sudo ").unwrap_or(t);
            if in_block && t.starts_with("synack ") {
                found.push((format!("{name}:{}", n + 1), t.to_string()));
            }
        }
    }
    found
}

#[test]
fn every_documented_command_runs() {
    let scratch = std::env::temp_dir().join(format!("synack-docs-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let commands = documented_commands();
    assert!(commands.len() > 20, "found {} commands", commands.len());
    let mut ran = 0;
    for (place, line) in &commands {
        if let Some((_, why)) = SKIPPED.iter().find(|(part, _)| line.contains(part)) {
            eprintln!("{place}: not run ({why}): {line}");
            continue;
        }
        let args: Vec<String> = words(line)
            .into_iter()
            .skip(1)
            .map(|w| substitute(&w, line, &scratch))
            .collect();
        let out = common::synack().args(&args).env("COLUMNS", "100").output();
        let stderr = out.stderr_lossy();
        assert!(!stderr.contains("panicked"), "{place}: {line}\n{stderr}");
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{place}: `synack {}` (from `{line}`) exited {:?}:\n{stderr}",
            args.join(" "),
            out.status.code()
        );
        ran += 1;
    }
    assert!(ran > 20, "ran {ran} of {} commands", commands.len());
    let _ = std::fs::remove_dir_all(&scratch);
}

#[test]
fn words_split_as_a_shell_does() {
    assert_eq!(
        words("synack report -f 'tcp port 443' big.pcap  # a comment"),
        ["synack", "report", "-f", "tcp port 443", "big.pcap"]
    );
    assert_eq!(words("synack man | man -l -"), ["synack", "man"]);
    assert_eq!(words("synack x \"\" y"), ["synack", "x", "", "y"]);
}
