//! The HTML report, read as a person would: headless Chromium loads the page of every
//! fixture and of corpus captures, and the test fails on any console message (the page
//! logs nothing, so any message is an error or an uncaught exception) or any network
//! request (Chromium's net log), takes screenshots (target/html-report/*.png), and checks
//! that every figure the page carries (`data-key`, `data-value`) is the JSON report's.
//!
//! Chromium is Debian's `chromium` (`.ci/run` installs it). Without it the browser part
//! is skipped with a message, except under CI=true, where it fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use common::{require_shared, root, synack};

fn out_dir() -> PathBuf {
    let dir = root().join("target/html-report");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The chromium binary, or `None` (after a message) outside CI.
fn chromium(test: &str) -> Option<PathBuf> {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        for dir in std::env::var("PATH").unwrap_or_default().split(':') {
            let p = Path::new(dir).join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: CI=true but chromium is not installed (.ci/run installs it)");
    }
    eprintln!("skipping {test}: chromium not found (apt-get install chromium)");
    None
}

/// What one page load gave.
struct Load {
    dom: String,
    console: Vec<String>,
    requests: Vec<String>,
}

/// Runs chromium with `args` on `page`, killing it after a minute.
fn run_chromium(bin: &Path, page: &Path, args: &[String]) -> (String, String) {
    let profile = tempdir("profile");
    let mut cmd = Command::new(bin);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(args)
    .arg(format!("file://{}", page.display()));
    // Into files, not pipes: a DOM larger than a pipe's buffer would block chromium.
    let (out_path, err_path) = (profile.join("stdout"), profile.join("stderr"));
    cmd.stdout(Stdio::from(std::fs::File::create(&out_path).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&err_path).unwrap()));
    let mut child = cmd.spawn().expect("chromium starts");
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            panic!("chromium did not finish on {} in 90 s", page.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let read =
        |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    let out = (read(&out_path), read(&err_path));
    let _ = std::fs::remove_dir_all(&profile);
    out
}

fn tempdir(what: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "synack-html-{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Loads `page`: its DOM after the scripts ran, console messages, network requests.
fn load(bin: &Path, page: &Path) -> Load {
    let netlog = tempdir("netlog").join("net.json");
    let (dom, stderr) = run_chromium(
        bin,
        page,
        &[
            "--dump-dom".to_string(),
            format!("--log-net-log={}", netlog.display()),
            // Nothing can leave the machine even if the page asked.
            "--host-resolver-rules=MAP * ~NOTFOUND".to_string(),
        ],
    );
    let console = stderr
        .lines()
        .filter(|l| l.contains("CONSOLE"))
        .map(str::to_string)
        .collect();
    let log = std::fs::read_to_string(&netlog).unwrap_or_default();
    let _ = std::fs::remove_dir_all(netlog.parent().unwrap());
    let requests = page_requests(&log);
    assert!(!dom.is_empty(), "no DOM for {}: {stderr}", page.display());
    Load {
        dom,
        console,
        requests,
    }
}

/// The requests the page made, from Chromium's net log: every URL request started on
/// behalf of a page (the browser's own background traffic, such as its network-time and
/// update checks, has no origin as initiator: "not an origin"), except `data:` and
/// `file:` URLs. The log may lack its closing bracket when Chromium exits at once.
fn page_requests(log: &str) -> Vec<String> {
    let log = log.trim_end();
    let doc: Value = serde_json::from_str(log)
        .or_else(|_| serde_json::from_str(&format!("{}]}}", log.trim_end_matches(','))))
        .unwrap_or_else(|e| panic!("unreadable net log: {e}"));
    let start = &doc["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"];
    assert!(start.is_u64(), "the net log names no URL_REQUEST_START_JOB");
    doc["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| &e["type"] == start)
        .filter(|e| e["params"]["initiator"] != "not an origin")
        .filter_map(|e| e["params"]["url"].as_str())
        .filter(|u| !u.starts_with("data:") && !u.starts_with("file:"))
        .map(str::to_string)
        .collect()
}

fn screenshot(bin: &Path, page: &Path, name: &str, size: (u32, u32)) -> PathBuf {
    let png = out_dir().join(format!("{name}-{}x{}.png", size.0, size.1));
    let _ = std::fs::remove_file(&png);
    run_chromium(
        bin,
        page,
        &[
            format!("--screenshot={}", png.display()),
            format!("--window-size={},{}", size.0, size.1),
            "--hide-scrollbars".to_string(),
        ],
    );
    let bytes = std::fs::read(&png).unwrap_or_default();
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 2_000,
        "no screenshot of {}",
        page.display()
    );
    png
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// Every `data-key="K" data-value="V"` pair of the DOM.
fn figures(dom: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = dom;
    while let Some(at) = rest.find("data-key=\"") {
        rest = &rest[at + 10..];
        let key = &rest[..rest.find('"').unwrap()];
        let v = rest.find("data-value=\"").unwrap();
        let after = &rest[v + 12..];
        let value = &after[..after.find('"').unwrap()];
        out.push((unescape(key), unescape(value)));
    }
    out
}

/// The JSON value at a dotted path; `.length` is an array's length.
fn at_path<'a>(doc: &'a Value, path: &str) -> Option<Value> {
    let mut v: &'a Value = doc;
    for part in path.split('.') {
        if part == "length" {
            return v.as_array().map(|a| Value::from(a.len()));
        }
        v = match part.parse::<usize>() {
            Ok(i) => v.get(i)?,
            Err(_) => v.get(part)?,
        };
    }
    Some(v.clone())
}

/// The page of `capture` against its JSON report, in the browser; returns the page.
fn check_capture(bin: &Path, capture: &Path, name: &str) -> PathBuf {
    let page = out_dir().join(format!("{name}.html"));
    let out = synack()
        .args(["report", "--format", "html", "-o"])
        .arg(&page)
        .arg(capture)
        .output();
    let json_out = synack()
        .args(["report", "--format", "json"])
        .arg(capture)
        .output();
    assert_eq!(out.status.code(), json_out.status.code(), "{name}");
    if !page.exists() {
        // Nothing was read (a broken capture): no page, as there is no table.
        assert_eq!(out.status.code(), Some(2), "{name}");
        return page;
    }
    let doc = json_out.json();
    let html = std::fs::read_to_string(&page).unwrap();
    self_contained(&html, name);
    let l = load(bin, &page);
    assert!(l.console.is_empty(), "{name}: console: {:?}", l.console);
    assert!(l.requests.is_empty(), "{name}: requests: {:?}", l.requests);
    let figs = figures(&l.dom);
    assert!(figs.len() > 30, "{name}: only {} figures", figs.len());
    for (key, value) in &figs {
        let want = at_path(&doc, key).unwrap_or_else(|| panic!("{name}: {key} not in the JSON"));
        let want = match &want {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        assert_eq!(value, &want, "{name}: {key}");
    }
    // The table script ran: as many rows as the page holds.
    let held = doc["connections"].as_array().unwrap().len().min(2_000);
    assert!(
        l.dom.contains(&format!("data-shown=\"{held}\"")),
        "{name}: the table does not show {held} rows"
    );
    page
}

/// Nothing in the page points outside it.
fn self_contained(html: &str, name: &str) {
    for bad in [
        "src=\"http",
        "href=\"http",
        "url(http",
        "@import",
        "src=\"//",
        "<link",
    ] {
        assert!(!html.contains(bad), "{name}: the page has {bad}");
    }
}

fn fixtures() -> Vec<PathBuf> {
    let mut paths = vec![root().join("fixtures/sample.pcap")];
    for dir in ["tcp", "edge", "app", "decode", "formats", "linktypes"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("fixtures").join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        paths.extend(files);
    }
    paths
}

fn name_of(p: &Path) -> String {
    let parent = p.parent().and_then(|d| d.file_name()).unwrap_or_default();
    format!(
        "{}-{}",
        parent.to_string_lossy(),
        p.file_name().unwrap().to_string_lossy()
    )
}

#[test]
fn every_fixture_page_loads_clean_and_agrees_with_json() {
    // Without a browser the pages are still made and checked for outside references.
    let bin = chromium(common::test_name!());
    for f in fixtures() {
        let name = name_of(&f);
        match &bin {
            Some(bin) => {
                check_capture(bin, &f, &name);
            }
            None => {
                let page = out_dir().join(format!("{name}.html"));
                synack()
                    .args(["report", "--format", "html", "-o"])
                    .arg(&page)
                    .arg(&f)
                    .output()
                    .success();
                self_contained(&std::fs::read_to_string(&page).unwrap(), &name);
            }
        }
    }
    if let Some(bin) = &bin {
        let page = out_dir().join("fixtures-sample.pcap.html");
        screenshot(bin, &page, "sample", (1280, 800));
        screenshot(bin, &page, "sample-phone", (390, 844));
    }
}

#[test]
fn corpus_pages_load_clean_and_agree_with_json() {
    let dir = require_shared!("corpus");
    let Some(bin) = chromium(common::test_name!()) else {
        return;
    };
    for file in [
        "chrissanders__tcp_refuseconnection.pcapng",
        "chrissanders__tcp_retransmissions.pcapng",
        "chrissanders__tcp_zerowindowrecovery.pcapng",
        "chrissanders__http_espn_fail.pcapng",
        "pcapplusplus__four_ipv6_http_streams.pcap",
        "pcapplusplus__many-protocols.pcap",
    ] {
        let path = dir.join(file);
        assert!(path.is_file(), "{file} is not in the corpus");
        let page = check_capture(&bin, &path, file);
        if file.contains("retransmissions") {
            screenshot(&bin, &page, file, (1280, 800));
        }
    }
}

/// The harness sees what it must fail on: a console error and a request leaving the page.
#[test]
fn the_browser_harness_catches_console_errors_and_requests() {
    let Some(bin) = chromium(common::test_name!()) else {
        return;
    };
    let page = out_dir().join("bad-page.html");
    std::fs::write(
        &page,
        r#"<!doctype html><html><body><img src="http://synack.invalid/x.png"><script>console.error("boom"); nosuchfunction();</script></body></html>"#,
    )
    .unwrap();
    let l = load(&bin, &page);
    assert!(
        l.console.iter().any(|c| c.contains("boom")),
        "{:?}",
        l.console
    );
    assert!(
        l.console.iter().any(|c| c.contains("nosuchfunction")),
        "{:?}",
        l.console
    );
    assert!(
        l.requests.iter().any(|r| r.contains("synack.invalid")),
        "{:?}",
        l.requests
    );
}
