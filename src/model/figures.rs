//! Each figure of one connection, defined once. The summary (`crate::model::summary`) folds
//! them over every connection; `synack check` sums or ranks them over the connections a
//! rule selects (`crate::check::metrics`), so an unfiltered rule measures exactly the
//! summary's figure. docs/metrics.md says what each one means and whose definition it
//! follows.

use std::time::Duration;

use crate::model::connection_record::{ConnectionRecord, SideFigures};
use crate::model::state::{CloseKind, Closer};

/// A per-connection count.
pub type Count = fn(&ConnectionRecord) -> u64;
/// A per-connection latency, when it was measured.
pub type Latency = fn(&ConnectionRecord) -> Option<Duration>;

pub fn connection(_: &ConnectionRecord) -> u64 {
    1
}

/// The client's SYN was seen.
pub fn handshake_attempted(c: &ConnectionRecord) -> u64 {
    u64::from(c.handshake.syn_count > 0)
}

/// Attempted, and both endpoints reached ESTABLISHED.
pub fn handshake_completed(c: &ConnectionRecord) -> u64 {
    u64::from(c.handshake.syn_count > 0 && c.handshake.completed.is_some())
}

pub fn syn_retransmits(c: &ConnectionRecord) -> u64 {
    c.handshake.syn_retransmits()
}

pub fn synack_retransmits(c: &ConnectionRecord) -> u64 {
    c.handshake.synack_retransmits()
}

/// Last SYN → completing ACK (Wireshark's tcp.analysis.initial_rtt).
pub fn handshake_rtt(c: &ConnectionRecord) -> Option<Duration> {
    c.handshake.rtt()
}

/// The median RTT of the path between the capture point and the client
/// (docs/metrics.md, "Path RTT"), when it has samples.
pub fn rtt_client_side(c: &ConnectionRecord) -> Option<Duration> {
    c.rtt.client_side.map(|p| p.median)
}

/// The same for the path between the capture point and the server.
pub fn rtt_server_side(c: &ConnectionRecord) -> Option<Duration> {
    c.rtt.server_side.map(|p| p.median)
}

/// First SYN → completing ACK: what the connecting application waited, SYN
/// retransmissions included (RTT starts at the last SYN and leaves them out).
pub fn connect_time(c: &ConnectionRecord) -> Option<Duration> {
    c.handshake.first_syn_to_ack()
}

pub fn syn_to_synack(c: &ConnectionRecord) -> Option<Duration> {
    c.handshake.syn_to_synack()
}

pub fn synack_to_ack(c: &ConnectionRecord) -> Option<Duration> {
    c.handshake.synack_to_ack()
}

fn closed_as(c: &ConnectionRecord, kind: CloseKind) -> u64 {
    u64::from(c.close == kind)
}

pub fn closed_fin(c: &ConnectionRecord) -> u64 {
    closed_as(c, CloseKind::Fin)
}

pub fn closed_reset(c: &ConnectionRecord) -> u64 {
    closed_as(c, CloseKind::Reset)
}

pub fn closed_refused(c: &ConnectionRecord) -> u64 {
    closed_as(c, CloseKind::Refused)
}

pub fn closed_unanswered(c: &ConnectionRecord) -> u64 {
    closed_as(c, CloseKind::Unanswered)
}

pub fn closed_handshake_incomplete(c: &ConnectionRecord) -> u64 {
    closed_as(c, CloseKind::HandshakeIncomplete)
}

pub fn closed_half(c: &ConnectionRecord) -> u64 {
    closed_as(c, CloseKind::HalfClosed)
}

pub fn still_open(c: &ConnectionRecord) -> u64 {
    closed_as(c, CloseKind::Open)
}

/// The capture began after the connection did.
pub fn midstream(c: &ConnectionRecord) -> u64 {
    u64::from(c.midstream)
}

/// Refused, reset, unanswered or handshake incomplete.
pub fn abnormal(c: &ConnectionRecord) -> u64 {
    u64::from(c.close.is_abnormal())
}

pub fn rst_packets(c: &ConnectionRecord) -> u64 {
    c.total(|e| e.rsts)
}

pub fn rst_from_client(c: &ConnectionRecord) -> u64 {
    c.client_figures.rsts
}

pub fn rst_from_server(c: &ConnectionRecord) -> u64 {
    c.server_figures.rsts
}

/// RSTs sent in answer to a SYN.
pub fn rst_answering_syn(c: &ConnectionRecord) -> u64 {
    c.rst_answering_syn
}

pub fn fin_packets(c: &ConnectionRecord) -> u64 {
    c.total(|e| e.fins)
}

pub fn time_wait_client(c: &ConnectionRecord) -> u64 {
    u64::from(c.time_wait.0)
}

pub fn time_wait_server(c: &ConnectionRecord) -> u64 {
    u64::from(c.time_wait.1)
}

/// FINs crossed, and both sides hold TIME_WAIT.
pub fn simultaneous_close(c: &ConnectionRecord) -> u64 {
    u64::from(c.closer == Some(Closer::Both) && c.time_wait == (true, true))
}

/// Its SYN reused a 4-tuple whose previous connection was in TIME_WAIT less than 2·MSL
/// before.
pub fn time_wait_reused(c: &ConnectionRecord) -> u64 {
    u64::from(c.reused_time_wait)
}

pub fn keepalive_probes(c: &ConnectionRecord) -> u64 {
    c.total(|e| e.keepalive_probes)
}

pub fn keepalive_acks(c: &ConnectionRecord) -> u64 {
    c.total(|e| e.keepalive_acks)
}

pub fn keepalive_unanswered(c: &ConnectionRecord) -> u64 {
    c.total(SideFigures::keepalive_unanswered)
}

/// At least one keep-alive probe.
pub fn keepalive_connection(c: &ConnectionRecord) -> u64 {
    u64::from(keepalive_probes(c) > 0)
}

pub fn zero_window_probes(c: &ConnectionRecord) -> u64 {
    c.total(|e| e.zero_window_probes)
}

pub fn retransmissions(c: &ConnectionRecord) -> u64 {
    c.total(|e| e.retransmissions)
}

/// Originals that arrived after a later segment, as the evidence tells them.
pub fn out_of_order(c: &ConnectionRecord) -> u64 {
    c.total(|e| e.out_of_order)
}

/// Retransmissions the receiver did not need (part of `retransmissions`).
pub fn spurious_retransmissions(c: &ConnectionRecord) -> u64 {
    c.total(|e| e.loss.spurious.into())
}

/// Copies the network made (neither retransmissions nor reordering).
pub fn network_duplicates(c: &ConnectionRecord) -> u64 {
    c.total(|e| e.loss.network_duplicates.into())
}

/// Retransmissions whose original never passed the capture point.
pub fn lost_before_capture(c: &ConnectionRecord) -> u64 {
    c.total(|e| e.loss.lost_before_capture.into())
}

/// Retransmissions whose original passed the capture point and was lost beyond it.
pub fn lost_after_capture(c: &ConnectionRecord) -> u64 {
    c.total(|e| e.loss.lost_after_capture.into())
}

/// tshark's `tcp.analysis.retransmission` (with its fast and spurious ones).
pub fn tshark_retransmissions(c: &ConnectionRecord) -> u64 {
    c.total(|e| e.tshark_retransmissions)
}

/// tshark's `tcp.analysis.out_of_order`.
pub fn tshark_out_of_order(c: &ConnectionRecord) -> u64 {
    c.total(|e| e.tshark_out_of_order)
}
