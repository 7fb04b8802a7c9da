//! What `synack capture` says while a handshake goes unanswered (issue 17): a line per
//! SYN retransmission, and one when the connection is let go of with its SYN unanswered.

mod common;

#[test]
fn an_unanswered_syn_is_said_as_it_is_retried_and_when_let_go_of() {
    let out = common::synack()
        .args([
            "capture",
            "-r",
            "fixtures/sample.pcap",
            "--idle-timeout",
            "60",
            "--utc",
        ])
        .output();
    out.success();
    let text = out.stdout();
    for line in [
        "00:00:11.000000 #5 10.0.0.2:51004 > 10.0.0.9:443: SYN retransmitted by client: SYN #2, 1.000 s after the first",
        "00:00:13.000000 #5 10.0.0.2:51004 > 10.0.0.9:443: SYN retransmitted by client: SYN #3, 3.000 s after the first",
        // Let go of at the first sweep past 60 s of silence (the next packet, at 90 s).
        "00:01:30.000000 #5 10.0.0.2:51004 > 10.0.0.9:443: SYN unanswered: 3 SYNs over 3.000 s, no answer; let go of after 77 s of silence",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in:\n{text}");
    }
    // As NDJSON too.
    let out = common::synack()
        .args([
            "capture",
            "-r",
            "fixtures/sample.pcap",
            "--idle-timeout",
            "60",
            "--json",
        ])
        .output();
    let line = out
        .stdout()
        .lines()
        .find(|l| l.contains("\"syn_unanswered\""))
        .map(str::to_string)
        .expect("a syn_unanswered event");
    let v: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!((v["conn"].as_u64(), v["syns"].as_u64()), (Some(5), Some(3)));
    assert_eq!(v["server"], "10.0.0.9:443");
    // With the default timeout the capture ends first: no such line.
    let out = common::synack()
        .args(["capture", "-r", "fixtures/sample.pcap", "--utc"])
        .output();
    assert!(
        !out.stdout().contains("SYN unanswered:"),
        "{}",
        out.stdout()
    );
}
