//! The archive job (contrib/spark, issue 19) in Spark's local mode, and the same records
//! queried with DuckDB: each figure of the summary equals synack's own, per capture set and
//! for the fleet (contrib/spark/check_summaries.py does the comparing). Java and pyspark,
//! and DuckDB's Python package, are installed by .ci/run; without them the tests say so
//! and pass, except under CI=true, where they fail.

mod common;

use std::process::Command;

/// The capture sets: the rotated fixture sets, and groups of the shared corpus (prefix
/// sets), when ../shared is there. The tcpdump and Zeek groups have connections first seen
/// at their SYN/ACK (6 in all): not midstream, yet no handshake attempted, which the SQL
/// reads from `synack_handshake_attempted`.
fn sets() -> Vec<String> {
    let mut sets: Vec<String> = [
        "sensor-a=fixtures/archive/sensor-a/2026-01-01",
        "sensor-a=fixtures/archive/sensor-a/2026-01-02",
        "sensor-b=fixtures/archive/sensor-b/2026-01-01",
        // Issue 20's evidence figures: every kind at least once (asserted in `check`).
        "evidence=fixtures/evidence",
        "evidence=fixtures/truth/loss3-ts-sack.at-server",
    ]
    .map(String::from)
    .to_vec();
    if let Some(corpus) = common::shared("corpus", "spark sets") {
        for prefix in [
            "chrissanders__tcp_",
            "pcapplusplus__four",
            "tcpdump__",
            "zeek__",
        ] {
            sets.push(format!("corpus={}/{prefix}", corpus.display()));
        }
    }
    sets
}

/// Whether `python3 -c CODE` succeeds; under CI=true a missing component fails the test.
fn have(test: &str, code: &str, what: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", code])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{test}: CI=true but {what} is missing (.ci/run installs it)");
        }
        eprintln!("skipping {test}: {what} not found");
    }
    ok
}

fn check(engine: &str) {
    let work =
        std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("spark-{engine}"));
    std::fs::remove_dir_all(&work).ok();
    let out = Command::new("python3")
        .current_dir(common::root())
        .arg("contrib/spark/check_summaries.py")
        .arg(engine)
        .args(["--synack", env!("CARGO_BIN_EXE_synack")])
        .arg("--work")
        .arg(&work)
        .args(sets())
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{engine}:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("{engine}: ")) && stdout.contains("summaries equal synack's"),
        "{stdout}"
    );
    // The comparison proves nothing of a figure that is 0 everywhere.
    let (result, _) = stdout
        .trim_end()
        .rsplit_once('\n')
        .expect("JSON, then a line");
    let result: serde_json::Value = serde_json::from_str(result).expect("the fleet as JSON");
    for figure in common::EVIDENCE_FIGURES {
        let n = result["fleet"][figure].as_u64();
        assert!(n.is_some_and(|n| n > 0), "{engine}: fleet {figure} = {n:?}");
    }
}

#[test]
fn spark_summary_equals_synacks_figure_by_figure() {
    let test = "spark_summary_equals_synacks_figure_by_figure";
    let java = Command::new("java")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !java {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "{test}: CI=true but java is missing (.ci/run installs openjdk-17-jre-headless)"
            );
        }
        eprintln!("skipping {test}: java not found");
        return;
    }
    if !have(
        test,
        "import pyspark, pyarrow, pandas",
        "pyspark (with pyarrow and pandas)",
    ) {
        return;
    }
    check("spark");
}

#[test]
fn duckdb_summary_equals_synacks_figure_by_figure() {
    let test = "duckdb_summary_equals_synacks_figure_by_figure";
    if !have(test, "import duckdb", "DuckDB's Python package") {
        return;
    }
    check("duckdb");
}
