//! What ran over each connection (`app` in the JSON report, the table's app column, the
//! summary's counts), on the fixtures of fixtures/app/ whose payloads are written out in
//! examples/mkfixtures.rs.

mod common;
use common::synack;

use serde_json::{json, Value};

fn report_json(files: &[&str]) -> Value {
    let mut args = vec!["report", "--format", "json"];
    args.extend_from_slice(files);
    let out = synack().args(&args).output();
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty());
    serde_json::from_slice(&out.stdout).expect("JSON")
}

fn http(version: Option<&str>, requests: u64, responses: u64, close: Option<&str>) -> Value {
    json!({"version": version, "requests": requests, "responses": responses, "connection_close": close})
}

const APP_FIXTURES: [&str; 7] = [
    "fixtures/app/http-keepalive.pcap",
    "fixtures/app/http10.pcap",
    "fixtures/app/websocket.pcap",
    "fixtures/app/tls-sni.pcap",
    "fixtures/app/tls-hostile-sni.pcap",
    "fixtures/app/ssh.pcap",
    "fixtures/app/unknown.pcap",
];

#[test]
fn each_fixture_gets_its_label() {
    let want = [
        // Three requests, one of them retransmitted (counted once); both sides asked
        // Connection: close on the last exchange.
        json!({"protocol": "http", "http": http(Some("1.1"), 3, 3, Some("both")), "tls": null}),
        json!({"protocol": "http", "http": http(Some("1.0"), 1, 1, None), "tls": null}),
        // The frame after the 101 looks like a request line and is not counted.
        json!({"protocol": "websocket", "http": http(Some("1.1"), 1, 1, None), "tls": null}),
        json!({"protocol": "tls", "http": null, "tls": {"sni": "www.example.org"}}),
        json!({"protocol": "tls", "http": null,
            "tls": {"sni": "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}[31mevil\u{1b}[0m.example\r\n<b>&"}}),
        json!({"protocol": "ssh", "http": null, "tls": null}),
        json!({"protocol": "unknown", "http": null, "tls": null}),
    ];
    for (file, want) in APP_FIXTURES.iter().zip(want) {
        let j = report_json(&[file]);
        assert_eq!(j["connections"][0]["app"], want, "{file}");
    }
}

#[test]
fn hostile_sni_is_escaped_by_serde_in_json_text() {
    let out = synack()
        .args([
            "report",
            "--format",
            "json",
            "fixtures/app/tls-hostile-sni.pcap",
        ])
        .output();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains('\x1b') && !text.contains('\x07'));
    assert!(text.contains(r#""sni":"\u001b]0;pwned\u0007"#), "{text}");
}

#[test]
fn summary_counts_connections_per_label() {
    let j = report_json(&APP_FIXTURES);
    assert_eq!(
        j["summary"]["apps"],
        json!({"none": 0, "unknown": 1, "http": 2, "websocket": 1, "tls": 2, "ssh": 1})
    );
    // sample.pcap: an HTTP GET and SSH banners written out, the refused and the
    // unanswered connection carry no payload, the rest is the generator's letter pattern.
    let j = report_json(&["fixtures/sample.pcap"]);
    let apps = &j["summary"]["apps"];
    assert_eq!(
        *apps,
        json!({"none": 2, "unknown": 4, "http": 1, "websocket": 0, "tls": 0, "ssh": 1})
    );
    let by_client = |client: &str| {
        j["connections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["client"] == client)
            .map(|c| c["app"].clone())
            .unwrap()
    };
    assert_eq!(
        by_client("10.0.0.2:51001")["http"],
        http(Some("1.1"), 1, 1, None)
    );
    assert_eq!(by_client("10.0.0.2:51007")["protocol"], "ssh");
    assert_eq!(by_client("10.0.0.2:51003")["protocol"], "none");
    let labelled: u64 = ["none", "unknown", "http", "websocket", "tls", "ssh"]
        .iter()
        .map(|k| apps[*k].as_u64().unwrap())
        .sum();
    assert_eq!(labelled, j["summary"]["connections"].as_u64().unwrap());
}

#[test]
fn the_table_shows_requests_per_http_connection_and_escapes_sni() {
    let mut args = vec!["report", "--wide", "--all"];
    args.extend_from_slice(&APP_FIXTURES);
    let out = synack().args(&args).output();
    assert_eq!(out.status.code(), Some(0));
    let t = String::from_utf8(out.stdout).unwrap();
    let row = |client: &str| -> &str {
        t.lines()
            .find(|l| l.contains(client))
            .unwrap_or_else(|| panic!("no row for {client}:\n{t}"))
    };
    assert!(row("10.0.0.2:41001").contains("http/1.1, 3 requests, close: both"));
    assert!(row("10.0.0.2:41002").contains("http/1.0, 1 request "));
    assert!(row("10.0.0.2:41003").contains("websocket, 1 request before the upgrade"));
    assert!(row("10.0.0.2:41004").contains("tls, SNI www.example.org"));
    assert!(row("10.0.0.2:41005")
        .contains(r"tls, SNI \x1b]0;pwned\x07\x1b[2J\x1b[31mevil\x1b[0m.example\x0d\x0a<b>&"));
    assert!(row("10.0.0.2:41006").contains("ssh"));
    assert!(row("10.0.0.2:41007").contains("unknown"));
    assert!(!t.contains('\x1b') && !t.contains('\x07') && !t.contains('\r'));
    assert!(
        t.contains("applications: 2 http, 1 websocket, 2 tls, 1 ssh, 1 unknown, 0 without payload")
    );
}
