//! JSON output: one document, shaped as docs/json.md describes. A connection's record is
//! shaped here, where its enums become the schema's strings.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::ser::{Serialize, Serializer};

use crate::model::app_label::{AppKind, AppLabel, HttpFacts};
use crate::model::connection_record::{ConnectionRecord, SideFigures};
use crate::model::report::{ConnectionList, Report};
use crate::model::rtt::PathRtt;
use crate::model::state::Closer;
use crate::model::units::{JsonTime, Millis};

/// Compact, not indented: on a 160,000-connection trace the indented form was 315 MB and
/// took a third longer to write (docs/json.md).
pub fn write_report<W: Write>(out: &mut W, report: &Report) -> io::Result<()> {
    serde_json::to_writer(&mut *out, report).map_err(into_io)?;
    writeln!(out)
}

/// Keeps the kind of an I/O error (a closed pipe must stay recognisable as one).
pub fn into_io(e: serde_json::Error) -> io::Error {
    match e.io_error_kind() {
        Some(kind) => io::Error::new(kind, e),
        None => io::Error::other(e),
    }
}

// ---------------------------------------------------------------------------------------
// A connection as the schema writes it.

#[derive(Debug, serde::Serialize)]
pub struct PerDirection {
    pub client_to_server: u64,
    pub server_to_client: u64,
}

#[derive(Debug, serde::Serialize)]
pub struct PerSide {
    pub client: u64,
    pub server: u64,
}

/// One value for each side, of any type.
#[derive(Debug, serde::Serialize)]
pub struct Sides<T> {
    pub client: T,
    pub server: T,
}

#[derive(Debug, serde::Serialize)]
pub struct RetransmissionKinds {
    pub fast: u64,
    pub timeout: u64,
    pub tail_loss_probe: u64,
    pub unclassified: u64,
}

fn sides<T>(r: &ConnectionRecord, f: impl Fn(&SideFigures) -> T) -> Sides<T> {
    Sides {
        client: f(&r.client_figures),
        server: f(&r.server_figures),
    }
}

/// One side's path RTT (docs/metrics.md, "Path RTT").
#[derive(Debug, serde::Serialize)]
pub struct PathRttReport {
    pub samples: u64,
    pub min_ms: Millis,
    pub median_ms: Millis,
    pub p99_ms: Millis,
    pub max_ms: Millis,
    /// `timestamps` or `data_ack`.
    pub source: &'static str,
}

impl PathRttReport {
    fn of(p: &Option<PathRtt>) -> Option<PathRttReport> {
        p.map(|p| PathRttReport {
            samples: p.samples,
            min_ms: Millis(p.min),
            median_ms: Millis(p.median),
            p99_ms: Millis(p.p99),
            max_ms: Millis(p.max),
            source: p.source.as_str(),
        })
    }
}

/// The RTT through the connection: the path between the capture point and the client,
/// and between it and the server (null: no sample).
#[derive(Debug, serde::Serialize)]
pub struct RttReport {
    pub client_side: Option<PathRttReport>,
    pub server_side: Option<PathRttReport>,
}

#[derive(Debug, serde::Serialize)]
pub struct HandshakeReport {
    pub first_syn: Option<JsonTime>,
    pub last_syn: Option<JsonTime>,
    pub synack: Option<JsonTime>,
    pub last_synack: Option<JsonTime>,
    pub ack: Option<JsonTime>,
    pub syn_to_synack_ms: Option<Millis>,
    pub synack_to_ack_ms: Option<Millis>,
    pub rtt_ms: Option<Millis>,
    pub first_syn_to_ack_ms: Option<Millis>,
    pub syn_retransmits: u64,
    pub synack_retransmits: u64,
    pub simultaneous_open: bool,
}

#[derive(Debug, serde::Serialize)]
pub struct StatesReport {
    pub client: &'static str,
    pub server: &'static str,
}

#[derive(Debug, serde::Serialize)]
pub struct KeepaliveReport {
    pub probes: u64,
    pub acks: u64,
    pub unanswered: u64,
    pub from_client: u64,
    pub from_server: u64,
    pub idle_before_first_probe_ms: Option<Millis>,
    pub median_probe_interval_ms: Option<Millis>,
}

#[derive(Debug, serde::Serialize)]
pub struct ConnectionReport {
    pub id: u64,
    pub client: String,
    pub server: String,
    /// How the roles were decided: `syn`, `synack` or `port`.
    pub roles_from: &'static str,
    pub first_seen: JsonTime,
    pub last_seen: JsonTime,
    pub duration_ms: Millis,
    pub packets: PerDirection,
    /// Frame bytes on the wire (original lengths), as tshark -z conv counts them.
    pub bytes: PerDirection,
    /// TCP payload bytes, from the IP length fields.
    pub payload_bytes: PerDirection,
    pub handshake: Option<HandshakeReport>,
    pub states: StatesReport,
    pub close: &'static str,
    pub abnormal: bool,
    pub midstream: bool,
    pub closed_by: Option<&'static str>,
    pub reset_by: Option<&'static str>,
    pub reset_state: Option<&'static str>,
    pub time_wait: Option<&'static str>,
    pub reused_time_wait: bool,
    pub rst: PerSide,
    pub fin: PerSide,
    pub keepalive: KeepaliveReport,
    pub zero_window_probes: u64,
    /// Segments resent by their sender, as the evidence tells them (docs/metrics.md).
    pub retransmissions: PerSide,
    /// Originals that arrived after a later segment, as the evidence tells them.
    pub out_of_order: PerSide,
    pub retransmission_kinds: Sides<RetransmissionKinds>,
    pub spurious_retransmissions: PerSide,
    pub network_duplicates: PerSide,
    pub lost_before_capture: PerSide,
    pub lost_after_capture: PerSide,
    /// tshark's tcp.analysis.retransmission and out_of_order, as before the evidence.
    pub tshark_retransmissions: PerSide,
    pub tshark_out_of_order: PerSide,
    /// `timestamps`, `ip_id` or `timing`: what ordered each side's segments.
    pub ordering_evidence: Sides<&'static str>,
    /// The RTT through the connection, per side of the capture point.
    pub rtt: RttReport,
    pub anomalies: BTreeMap<&'static str, u32>,
    /// What ran over the connection, from its first payload bytes.
    pub app: AppReport,
}

fn per_side(r: &ConnectionRecord, f: impl Fn(&SideFigures) -> u64) -> PerSide {
    PerSide {
        client: f(&r.client_figures),
        server: f(&r.server_figures),
    }
}

fn per_direction(r: &ConnectionRecord, f: impl Fn(&SideFigures) -> u64) -> PerDirection {
    PerDirection {
        client_to_server: f(&r.client_figures),
        server_to_client: f(&r.server_figures),
    }
}

/// Which of (client, server) a fact holds for: `client`, `server`, `both`, or none (the
/// schema's words for TIME_WAIT and for `Connection: close`).
pub fn sides_text(sides: (bool, bool)) -> Option<&'static str> {
    match sides {
        (true, true) => Some("both"),
        (true, false) => Some("client"),
        (false, true) => Some("server"),
        (false, false) => None,
    }
}

/// An HTTP/1.x minor version as written: `1.0`, `1.1`.
pub fn http_version_text(minor: u8) -> &'static str {
    if minor == 0 {
        "1.0"
    } else {
        "1.1"
    }
}

/// Which side sent `Connection: close`: `client`, `server`, `both`, or none.
pub fn connection_close_text(h: &HttpFacts) -> Option<&'static str> {
    sides_text((h.close_by_client, h.close_by_server))
}

impl ConnectionReport {
    pub fn from_record(r: &ConnectionRecord) -> Self {
        let h = &r.handshake;
        let handshake = r.handshake_seen().then(|| HandshakeReport {
            first_syn: h.first_syn.map(JsonTime),
            last_syn: h.last_syn.map(JsonTime),
            synack: h.synack.map(JsonTime),
            last_synack: h.last_synack.map(JsonTime),
            ack: h.completed.map(JsonTime),
            syn_to_synack_ms: h.syn_to_synack().map(Millis),
            synack_to_ack_ms: h.synack_to_ack().map(Millis),
            rtt_ms: h.rtt().map(Millis),
            first_syn_to_ack_ms: h.first_syn_to_ack().map(Millis),
            syn_retransmits: h.syn_retransmits(),
            synack_retransmits: h.synack_retransmits(),
            simultaneous_open: h.simultaneous_open,
        });
        let time_wait = sides_text(r.time_wait);
        let (kc, ks) = (&r.client_figures, &r.server_figures);
        ConnectionReport {
            id: r.id,
            client: r.client.to_string(),
            server: r.server.to_string(),
            roles_from: r.roles.as_str(),
            first_seen: JsonTime(r.first_seen),
            last_seen: JsonTime(r.last_seen),
            duration_ms: Millis(r.duration()),
            packets: per_direction(r, |e| e.packets),
            bytes: per_direction(r, |e| e.bytes),
            payload_bytes: per_direction(r, |e| e.payload_bytes),
            handshake,
            states: StatesReport {
                client: r.client_state.as_str(),
                server: r.server_state.as_str(),
            },
            close: r.close.as_str(),
            abnormal: r.close.is_abnormal(),
            midstream: r.midstream,
            closed_by: r.closer.map(Closer::as_str),
            reset_by: r.reset.map(|x| x.by.as_str()),
            reset_state: r.reset.map(|x| x.sender_state.as_str()),
            time_wait,
            reused_time_wait: r.reused_time_wait,
            rst: per_side(r, |e| e.rsts),
            fin: per_side(r, |e| e.fins),
            keepalive: KeepaliveReport {
                probes: kc.keepalive_probes + ks.keepalive_probes,
                acks: kc.keepalive_acks + ks.keepalive_acks,
                unanswered: kc.keepalive_unanswered() + ks.keepalive_unanswered(),
                from_client: kc.keepalive_probes,
                from_server: ks.keepalive_probes,
                idle_before_first_probe_ms: r.keepalive_idle.map(Millis),
                median_probe_interval_ms: r.keepalive_interval.map(Millis),
            },
            zero_window_probes: r.total(|e| e.zero_window_probes),
            retransmissions: per_side(r, |e| e.retransmissions),
            out_of_order: per_side(r, |e| e.out_of_order),
            retransmission_kinds: sides(r, |e| RetransmissionKinds {
                fast: e.loss.fast.into(),
                timeout: e.loss.timeout.into(),
                tail_loss_probe: e.loss.tail_loss_probe.into(),
                unclassified: e.loss.unclassified.into(),
            }),
            spurious_retransmissions: per_side(r, |e| e.loss.spurious.into()),
            network_duplicates: per_side(r, |e| e.loss.network_duplicates.into()),
            lost_before_capture: per_side(r, |e| e.loss.lost_before_capture.into()),
            lost_after_capture: per_side(r, |e| e.loss.lost_after_capture.into()),
            tshark_retransmissions: per_side(r, |e| e.tshark_retransmissions),
            tshark_out_of_order: per_side(r, |e| e.tshark_out_of_order),
            ordering_evidence: sides(r, |e| e.ordering_evidence.as_str()),
            rtt: RttReport {
                client_side: PathRttReport::of(&r.rtt.client_side),
                server_side: PathRttReport::of(&r.rtt.server_side),
            },
            anomalies: r.anomalies().map(|(a, n)| (a.as_str(), n)).collect(),
            app: AppReport::of(&r.app),
        }
    }
}

impl Serialize for ConnectionList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.records().map(|r| ConnectionReport::from_record(&r)))
    }
}

// ---------------------------------------------------------------------------------------
// What ran over it.

/// A server name as sent: raw bytes, possibly not UTF-8 and possibly hostile. JSON gets
/// it as a string (invalid UTF-8 replaced, control characters escaped by serde);
/// printers must escape it (`output::escape`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sni(pub Box<[u8]>);

impl Serialize for Sni {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&String::from_utf8_lossy(&self.0))
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct HttpReport {
    /// `1.0` or `1.1`, from the first request line; null when no request was seen.
    pub version: Option<&'static str>,
    pub requests: u32,
    pub responses: u32,
    /// Which side sent `Connection: close`: `client`, `server`, `both` or null.
    pub connection_close: Option<&'static str>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TlsReport {
    pub sni: Option<Sni>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct AppReport {
    /// `none`, `unknown`, `http`, `websocket`, `tls`, `ssh`.
    pub protocol: &'static str,
    /// For `http` and `websocket` (the requests before the upgrade).
    pub http: Option<HttpReport>,
    pub tls: Option<TlsReport>,
}

impl AppReport {
    pub fn of(a: &AppLabel) -> AppReport {
        AppReport {
            protocol: a.kind.as_str(),
            http: a.http.map(|h| HttpReport {
                version: h.version.map(http_version_text),
                requests: h.requests,
                responses: h.responses,
                connection_close: connection_close_text(&h),
            }),
            tls: (a.kind == AppKind::Tls).then(|| TlsReport {
                sni: a.sni.clone().map(Sni),
            }),
        }
    }
}
