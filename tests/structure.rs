//! The tree shows the pipeline (docs/design.md): each folder of src/ imports only the
//! stages before it and the model, so there is no import circle, printers read the model
//! only, and commands never touch a packet. Test modules are left out (a test may read a
//! fixture through any stage).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

mod common;

/// Each stage and what it may import, in pipeline order (docs/design.md's graph).
const ALLOWED: &[(&str, &[&str])] = &[
    ("model", &[]),
    ("decode", &["model"]),
    ("capture", &["model"]),
    ("app", &["model", "decode"]),
    ("tcp", &["model", "decode", "app"]),
    ("store", &["model", "decode", "app", "tcp"]),
    ("flow", &["model", "decode", "app", "tcp", "store"]),
    (
        "analysis",
        &["model", "capture", "decode", "flow", "store", "app", "tcp"],
    ),
    ("check", &["model"]),
    ("output", &["model", "check"]),
    // The binary's subcommands: arguments in, printers out, the pipeline between.
    ("commands", &["analysis", "model", "check", "output"]),
];

/// The library modules a file's non-test code names (`crate::x` in the library,
/// `synack::x` in the binary), comments left out.
fn imports(text: &str) -> BTreeSet<String> {
    let code = match text.find("#[cfg(test)]") {
        Some(at) => &text[..at],
        None => text,
    };
    let mut found = BTreeSet::new();
    for line in code.lines() {
        let line = line.split("//").next().unwrap_or("");
        for root in ["crate::", "synack::"] {
            let mut rest = line;
            while let Some(at) = rest.find(root) {
                rest = &rest[at + root.len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.insert(name);
                }
            }
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// What each folder of src/ imports from the others.
fn folder_imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = common::root().join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    for file in files {
        let rel = file.strip_prefix(&src).expect("under src");
        let Some(folder) = rel
            .components()
            .next()
            .filter(|_| rel.components().count() > 1)
        else {
            continue; // lib.rs, main.rs
        };
        let folder = folder.as_os_str().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&file).expect("read source");
        let deps = graph.entry(folder.clone()).or_default();
        deps.extend(imports(&text).into_iter().filter(|d| *d != folder));
    }
    graph
}

#[test]
fn every_stage_imports_only_the_stages_before_it() {
    let graph = folder_imports();
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    for (folder, deps) in &graph {
        let Some(may) = allowed.get(folder.as_str()) else {
            panic!("src/{folder}/ is not a stage of docs/design.md's graph: add it to ALLOWED and the graph");
        };
        for dep in deps {
            assert!(
                may.contains(&dep.as_str()),
                "src/{folder}/ imports {dep}, which it may not (it may import: {may:?})"
            );
        }
    }
    // Every stage of the graph exists.
    for (stage, _) in ALLOWED {
        assert!(graph.contains_key(*stage), "no src/{stage}/");
    }
}

#[test]
fn the_allowed_graph_has_no_circle() {
    // Each stage may import only stages listed before it: a topological order.
    for (i, (stage, may)) in ALLOWED.iter().enumerate() {
        for dep in *may {
            let before = ALLOWED[..i].iter().any(|(s, _)| s == dep);
            assert!(before, "{stage} may import {dep}, which comes after it");
        }
    }
}

#[test]
fn the_import_reader_sees_imports_and_skips_comments_and_tests() {
    let text = "use crate::model::x;\n// crate::flow in a comment\nfn f() { crate::tcp::y(); }\n#[cfg(test)]\nmod tests { use crate::capture::z; }";
    let found: Vec<String> = imports(text).into_iter().collect();
    assert_eq!(found, ["model", "tcp"]);
}
