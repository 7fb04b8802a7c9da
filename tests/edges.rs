//! Cases real captures hold that the tracker once got wrong (issue 20, item 4): each
//! fixture (examples/mkfixtures.rs, `edge_fixtures`) runs through the binary and the
//! figures its description promises are checked.

use serde_json::Value;

mod common;

fn connection(file: &str) -> Value {
    common::only_connection(&format!("fixtures/edge/{file}"))
}

fn pair(c: &Value, key: &str) -> (u64, u64) {
    (
        c[key]["client"].as_u64().unwrap(),
        c[key]["server"].as_u64().unwrap(),
    )
}

fn anomaly(c: &Value, name: &str) -> u64 {
    c["anomalies"][name].as_u64().unwrap_or(0)
}

#[test]
fn rst_answering_an_unacceptable_ack_does_not_reset() {
    let c = connection("rst-unacceptable-ack.pcap");
    assert_eq!(c["close"], "fin");
    assert_eq!(anomaly(&c, "rst_for_unacceptable_ack"), 1);
    // The resent SYN only: the RST's sequence number is not the client's next.
    assert_eq!(pair(&c, "retransmissions"), (1, 0));
    assert_eq!(pair(&c, "rst"), (1, 0));
}

#[test]
fn data_the_receiver_acknowledged_is_resent_not_reordered() {
    let c = connection("spurious-long-rtt.pcap");
    assert_eq!(pair(&c, "retransmissions"), (1, 0));
    assert_eq!(pair(&c, "out_of_order"), (0, 0));
}

#[test]
fn one_old_byte_with_new_data_is_new_data() {
    let c = connection("overlap-new-data.pcap");
    assert_eq!(pair(&c, "retransmissions"), (0, 0));
    assert_eq!(pair(&c, "out_of_order"), (0, 0));
    assert_eq!(c["keepalive"]["probes"].as_u64(), Some(0));
}

#[test]
fn a_missed_synack_is_not_an_unanswered_syn() {
    let c = connection("synack-missed.pcap");
    assert_eq!(c["close"], "open");
    assert!(c["handshake"]["ack"].is_number(), "{}", c["handshake"]);
}

#[test]
fn a_capture_starting_at_the_synack_completes_the_handshake() {
    let c = connection("starts-at-synack.pcap");
    assert_eq!(c["close"], "open");
    assert!(c["handshake"]["ack"].is_number(), "{}", c["handshake"]);
    assert_eq!(anomaly(&c, "handshake_synack_before_syn"), 0);
}

#[test]
fn a_rst_outside_the_window_closes_nothing() {
    let c = connection("rst-out-of-window.pcap");
    assert_eq!(c["close"], "fin");
    assert_eq!(anomaly(&c, "rst_out_of_window"), 1);
    assert_eq!(pair(&c, "rst"), (0, 1));
}
