//! `synack check`: limits on the figures of a report, evaluated into a verdict per trace.
//!
//! Every figure a rule checks is read from the report model ([`Report`],
//! [`ConnectionReport`]); nothing here looks at a packet. A rule's measured value is summed
//! (or, for latencies, ranked) over the connections its filter selects, so one definition
//! serves filtered and unfiltered rules; unfiltered, it is exactly the summary figure of
//! `synack report` (a unit test holds every fixture to that). docs/check.md is the user's
//! side of this module.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use serde::ser::{Serialize, Serializer};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::model::report::Report;
use crate::model::summary::Distribution;
use crate::model::units::{JsonTime, Millis};
use crate::output::json::ConnectionReport;

// ---------------------------------------------------------------------------------------
// Amounts: limits and measured values.

/// What an amount counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Count,
    /// Held in nanoseconds, written in milliseconds.
    Millis,
}

/// A limit or a measured value. Durations are whole nanoseconds, so comparisons are exact
/// integer comparisons, as the report's own figures are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Amount {
    pub unit: Unit,
    pub value: u64,
}

impl Amount {
    pub fn count(n: u64) -> Self {
        Amount {
            unit: Unit::Count,
            value: n,
        }
    }

    pub fn millis(m: Millis) -> Self {
        Amount {
            unit: Unit::Millis,
            value: u64::try_from(m.0.as_nanos()).unwrap_or(u64::MAX),
        }
    }

    /// Parses a limit as given on the command line: a count, or milliseconds with up to
    /// nanosecond decimals (`50`, `2.5`).
    pub fn parse(unit: Unit, text: &str) -> Result<Self, String> {
        let text = text.trim();
        let value = match unit {
            Unit::Count => text
                .parse::<u64>()
                .map_err(|_| format!("expected a whole number ≥ 0, found `{text}`"))?,
            Unit::Millis => parse_millis(text)?,
        };
        Ok(Amount { unit, value })
    }
}

/// Milliseconds to nanoseconds. Plain decimals are converted digit by digit, so `0.1` is
/// exactly 100 µs; anything else (an exponent, more than six decimals) goes through f64.
fn parse_millis(text: &str) -> Result<u64, String> {
    let bad = || format!("expected a number of milliseconds ≥ 0 (e.g. 50 or 2.5), found `{text}`");
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !int.is_empty() && digits(int) && digits(frac) && frac.len() <= 6 {
        let whole: u64 = int.parse().map_err(|_| bad())?;
        let frac_ns: u64 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<6}").parse().map_err(|_| bad())?
        };
        return whole
            .checked_mul(1_000_000)
            .and_then(|ns| ns.checked_add(frac_ns))
            .ok_or_else(bad);
    }
    let ms: f64 = text.parse().map_err(|_| bad())?;
    let ns = (ms * 1e6).round();
    // `as` saturates; the range check keeps a huge value from silently becoming u64::MAX.
    if !(ns.is_finite() && ns >= 0.0 && ns < u64::MAX as f64) {
        return Err(bad());
    }
    Ok(ns as u64)
}

/// Milliseconds with the trailing zeros of the nanosecond digits dropped: `40.09`, `50`.
fn millis_text(ns: u64) -> String {
    let text = format!("{}.{:06}", ns / 1_000_000, ns % 1_000_000);
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.unit {
            Unit::Count => write!(f, "{}", self.value),
            Unit::Millis => write!(f, "{} ms", millis_text(self.value)),
        }
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.unit {
            Unit::Count => s.serialize_u64(self.value),
            Unit::Millis => Millis(Duration::from_nanos(self.value)).serialize(s),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The figures a rule can check.

/// How a figure is measured over the selected connections.
#[derive(Clone, Copy)]
pub enum Measure {
    /// Summed over connections; `what` says what one connection contributed.
    Count {
        of: fn(&ConnectionReport) -> u64,
        what: fn(&ConnectionReport) -> String,
    },
    /// A nearest-rank percentile (as the report's distributions) of per-connection values.
    Latency {
        of: fn(&ConnectionReport) -> Option<Millis>,
        pick: fn(&Distribution) -> Option<Millis>,
        /// What the per-connection value is called, e.g. `handshake RTT`.
        what: &'static str,
    },
}

/// One figure of `synack report` and the limit flags on it.
pub struct MetricDef {
    /// Where the figure sits in `synack report --format json`.
    pub figure: &'static str,
    /// What it is, for messages: `RST packets`.
    pub label: &'static str,
    /// The section of docs/metrics.md that defines it.
    pub doc: &'static str,
    pub max: Option<&'static str>,
    pub min: Option<&'static str>,
    pub measure: Measure,
}

impl MetricDef {
    pub fn unit(&self) -> Unit {
        match self.measure {
            Measure::Count { .. } => Unit::Count,
            Measure::Latency { .. } => Unit::Millis,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bound {
    Max,
    Min,
}

/// A limit flag or rules-file key: `max-rst` is the maximum of the `RST packets` figure.
#[derive(Clone, Copy)]
pub struct LimitKey {
    pub name: &'static str,
    pub bound: Bound,
    pub metric: &'static MetricDef,
}

impl fmt::Debug for LimitKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl PartialEq for LimitKey {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Serialize for LimitKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name)
    }
}

/// Every limit, in the order `--help` and docs/check.md list them.
pub fn limit_keys() -> impl Iterator<Item = LimitKey> {
    METRICS.iter().flat_map(|m| {
        [(Bound::Max, m.max), (Bound::Min, m.min)]
            .into_iter()
            .filter_map(move |(bound, name)| {
                name.map(|name| LimitKey {
                    name,
                    bound,
                    metric: m,
                })
            })
    })
}

pub fn limit_key(name: &str) -> Option<LimitKey> {
    limit_keys().find(|k| k.name == name)
}

fn both_sides(p: &crate::output::json::PerSide) -> u64 {
    p.client + p.server
}

fn handshake_attempted(c: &ConnectionReport) -> bool {
    c.handshake.as_ref().is_some_and(|h| h.first_syn.is_some())
}

/// How the connection ended, in words, so a reader knows what to look for in the packets.
pub fn describe_close(c: &ConnectionReport) -> String {
    let by = |who: Option<&str>| who.unwrap_or("?").to_string();
    let mut text = match c.close {
        "refused" => "refused: the server answered the SYN with a RST".to_string(),
        "reset" => format!(
            "reset by the {} in {}",
            by(c.reset_by),
            c.reset_state.unwrap_or("?")
        ),
        "unanswered" => {
            let syns = c.handshake.as_ref().map_or(0, |h| h.syn_retransmits + 1);
            format!("SYN unanswered ({} sent)", count_what(syns, "SYN", "SYNs"))
        }
        "handshake_incomplete" => "handshake incomplete: the SYN/ACK was never acknowledged".into(),
        "half_closed" => format!("half-closed: FIN from the {} only", by(c.closed_by)),
        "open" => "still open at the end of the capture".to_string(),
        "fin" => match c.closed_by {
            Some("both") => "closed by both sides at once (FINs crossed)".to_string(),
            who => format!("closed with FIN, first by the {}", by(who)),
        },
        other => other.to_string(),
    };
    if c.midstream {
        text.push_str(" (started before the capture)");
    }
    text
}

fn count_what(n: u64, singular: &str, plural: &str) -> String {
    format!("{n} {}", if n == 1 { singular } else { plural })
}

fn rst_what(c: &ConnectionReport) -> String {
    let sent = match (c.rst.client, c.rst.server) {
        (n, 0) => format!("{} from the client", count_what(n, "RST", "RSTs")),
        (0, n) => format!("{} from the server", count_what(n, "RST", "RSTs")),
        (a, b) => format!(
            "{} from the client and {b} from the server",
            count_what(a, "RST", "RSTs")
        ),
    };
    format!("{sent}; {}", describe_close(c))
}

fn time_wait_what(c: &ConnectionReport) -> String {
    let side = match c.time_wait {
        Some("both") => "both sides end",
        Some("server") => "the server ends",
        _ => "the client ends",
    };
    format!("{side} in TIME_WAIT; {}", describe_close(c))
}

fn keepalive_what(c: &ConnectionReport) -> String {
    let k = &c.keepalive;
    format!(
        "{} ({} from the client, {} from the server), {} unanswered",
        count_what(k.probes, "keep-alive probe", "keep-alive probes"),
        k.from_client,
        k.from_server,
        k.unanswered
    )
}

fn close_is(c: &ConnectionReport, kind: &str) -> u64 {
    u64::from(c.close == kind)
}

fn time_wait_on(c: &ConnectionReport, side: &str) -> u64 {
    u64::from(c.time_wait == Some(side) || c.time_wait == Some("both"))
}

macro_rules! count {
    ($figure:literal, $label:literal, $doc:expr, $max:expr, $min:expr, $of:expr, $what:expr) => {
        MetricDef {
            figure: $figure,
            label: $label,
            doc: $doc,
            max: $max,
            min: $min,
            measure: Measure::Count {
                of: $of,
                what: $what,
            },
        }
    };
}

macro_rules! latency {
    ($figure:literal, $label:literal, $max:literal, $of:expr, $pick:expr, $what:literal) => {
        MetricDef {
            figure: $figure,
            label: $label,
            doc: HANDSHAKE,
            max: Some($max),
            min: None,
            measure: Measure::Latency {
                of: $of,
                pick: $pick,
                what: $what,
            },
        }
    };
}

const HANDSHAKE: &str = "docs/metrics.md#handshake-per-connection-handshake";
const CLOSES: &str = "docs/metrics.md#closes";
const RST_FIN: &str = "docs/metrics.md#rst-and-fin";
const TIME_WAIT: &str = "docs/metrics.md#time_wait";
const KEEPALIVE: &str = "docs/metrics.md#keep-alive-and-zero-window-probes";

fn rtt(c: &ConnectionReport) -> Option<Millis> {
    c.handshake.as_ref()?.rtt_ms
}
fn syn_synack(c: &ConnectionReport) -> Option<Millis> {
    c.handshake.as_ref()?.syn_to_synack_ms
}
fn synack_ack(c: &ConnectionReport) -> Option<Millis> {
    c.handshake.as_ref()?.synack_to_ack_ms
}

/// Every figure of the report's summary that a rule can check. `summary.rst.answering_syn`
/// is not here: the report keeps it as a total only, with no per-connection figure to
/// filter or to name offenders by (`refused` counts the same connections).
pub static METRICS: &[MetricDef] = &[
    count!(
        "summary.connections",
        "connections",
        "docs/inputs.md#connections",
        Some("max-connections"),
        Some("min-connections"),
        |_| 1,
        describe_close
    ),
    count!(
        "summary.handshakes.attempted",
        "handshakes attempted",
        HANDSHAKE,
        Some("max-handshakes"),
        Some("min-handshakes"),
        |c| u64::from(handshake_attempted(c)),
        describe_close
    ),
    count!(
        "summary.handshakes.completed",
        "handshakes completed",
        HANDSHAKE,
        Some("max-handshakes-completed"),
        Some("min-handshakes-completed"),
        |c| u64::from(
            handshake_attempted(c) && c.handshake.as_ref().is_some_and(|h| h.ack.is_some())
        ),
        describe_close
    ),
    count!(
        "summary.handshakes.syn_retransmits",
        "SYN retransmissions",
        HANDSHAKE,
        Some("max-syn-retransmits"),
        None,
        |c| c.handshake.as_ref().map_or(0, |h| h.syn_retransmits),
        |c| format!(
            "{}; {}",
            count_what(
                c.handshake.as_ref().map_or(0, |h| h.syn_retransmits),
                "SYN retransmission",
                "SYN retransmissions"
            ),
            describe_close(c)
        )
    ),
    count!(
        "summary.handshakes.synack_retransmits",
        "SYN/ACK retransmissions",
        HANDSHAKE,
        Some("max-synack-retransmits"),
        None,
        |c| c.handshake.as_ref().map_or(0, |h| h.synack_retransmits),
        |c| format!(
            "{}; {}",
            count_what(
                c.handshake.as_ref().map_or(0, |h| h.synack_retransmits),
                "SYN/ACK retransmission",
                "SYN/ACK retransmissions"
            ),
            describe_close(c)
        )
    ),
    latency!(
        "summary.handshake_rtt_ms.p50",
        "handshake RTT p50",
        "max-handshake-p50-ms",
        rtt,
        |d| d.p50,
        "handshake RTT"
    ),
    latency!(
        "summary.handshake_rtt_ms.p90",
        "handshake RTT p90",
        "max-handshake-p90-ms",
        rtt,
        |d| d.p90,
        "handshake RTT"
    ),
    latency!(
        "summary.handshake_rtt_ms.p99",
        "handshake RTT p99",
        "max-handshake-p99-ms",
        rtt,
        |d| d.p99,
        "handshake RTT"
    ),
    latency!(
        "summary.handshake_rtt_ms.max",
        "handshake RTT max",
        "max-handshake-max-ms",
        rtt,
        |d| d.max,
        "handshake RTT"
    ),
    latency!(
        "summary.syn_to_synack_ms.p50",
        "SYN→SYN/ACK p50",
        "max-syn-synack-p50-ms",
        syn_synack,
        |d| d.p50,
        "SYN→SYN/ACK"
    ),
    latency!(
        "summary.syn_to_synack_ms.p90",
        "SYN→SYN/ACK p90",
        "max-syn-synack-p90-ms",
        syn_synack,
        |d| d.p90,
        "SYN→SYN/ACK"
    ),
    latency!(
        "summary.syn_to_synack_ms.p99",
        "SYN→SYN/ACK p99",
        "max-syn-synack-p99-ms",
        syn_synack,
        |d| d.p99,
        "SYN→SYN/ACK"
    ),
    latency!(
        "summary.syn_to_synack_ms.max",
        "SYN→SYN/ACK max",
        "max-syn-synack-max-ms",
        syn_synack,
        |d| d.max,
        "SYN→SYN/ACK"
    ),
    latency!(
        "summary.synack_to_ack_ms.p50",
        "SYN/ACK→ACK p50",
        "max-synack-ack-p50-ms",
        synack_ack,
        |d| d.p50,
        "SYN/ACK→ACK"
    ),
    latency!(
        "summary.synack_to_ack_ms.p90",
        "SYN/ACK→ACK p90",
        "max-synack-ack-p90-ms",
        synack_ack,
        |d| d.p90,
        "SYN/ACK→ACK"
    ),
    latency!(
        "summary.synack_to_ack_ms.p99",
        "SYN/ACK→ACK p99",
        "max-synack-ack-p99-ms",
        synack_ack,
        |d| d.p99,
        "SYN/ACK→ACK"
    ),
    latency!(
        "summary.synack_to_ack_ms.max",
        "SYN/ACK→ACK max",
        "max-synack-ack-max-ms",
        synack_ack,
        |d| d.max,
        "SYN/ACK→ACK"
    ),
    count!(
        "summary.closes.fin",
        "connections closed with FIN",
        CLOSES,
        Some("max-fin-closes"),
        Some("min-fin-closes"),
        |c| close_is(c, "fin"),
        describe_close
    ),
    count!(
        "summary.closes.reset",
        "connections reset",
        CLOSES,
        Some("max-resets"),
        None,
        |c| close_is(c, "reset"),
        describe_close
    ),
    count!(
        "summary.closes.refused",
        "connections refused",
        CLOSES,
        Some("max-refused"),
        None,
        |c| close_is(c, "refused"),
        describe_close
    ),
    count!(
        "summary.closes.unanswered",
        "SYNs unanswered",
        CLOSES,
        Some("max-unanswered"),
        None,
        |c| close_is(c, "unanswered"),
        describe_close
    ),
    count!(
        "summary.closes.handshake_incomplete",
        "handshakes incomplete",
        CLOSES,
        Some("max-handshake-incomplete"),
        None,
        |c| close_is(c, "handshake_incomplete"),
        describe_close
    ),
    count!(
        "summary.closes.half_closed",
        "connections half-closed",
        CLOSES,
        Some("max-half-closed"),
        None,
        |c| close_is(c, "half_closed"),
        describe_close
    ),
    count!(
        "summary.closes.open",
        "connections still open",
        CLOSES,
        Some("max-open"),
        None,
        |c| close_is(c, "open"),
        describe_close
    ),
    count!(
        "summary.closes.midstream",
        "connections started before the capture",
        CLOSES,
        Some("max-midstream"),
        None,
        |c| u64::from(c.midstream),
        describe_close
    ),
    count!(
        "summary.closes.abnormal",
        "abnormal closes",
        CLOSES,
        Some("max-abnormal"),
        None,
        |c| u64::from(c.abnormal),
        describe_close
    ),
    count!(
        "summary.rst.packets",
        "RST packets",
        RST_FIN,
        Some("max-rst"),
        None,
        |c| both_sides(&c.rst),
        rst_what
    ),
    count!(
        "summary.rst.from_client",
        "RST packets from clients",
        RST_FIN,
        Some("max-client-rst"),
        None,
        |c| c.rst.client,
        rst_what
    ),
    count!(
        "summary.rst.from_server",
        "RST packets from servers",
        RST_FIN,
        Some("max-server-rst"),
        None,
        |c| c.rst.server,
        rst_what
    ),
    count!(
        "summary.fin_packets",
        "FIN packets",
        RST_FIN,
        Some("max-fin-packets"),
        None,
        |c| both_sides(&c.fin),
        |c| format!(
            "{} FIN from the client, {} from the server",
            c.fin.client, c.fin.server
        )
    ),
    count!(
        "summary.time_wait.client",
        "clients in TIME_WAIT",
        TIME_WAIT,
        Some("max-client-time-wait"),
        None,
        |c| time_wait_on(c, "client"),
        time_wait_what
    ),
    count!(
        "summary.time_wait.server",
        "servers in TIME_WAIT",
        TIME_WAIT,
        Some("max-server-time-wait"),
        None,
        |c| time_wait_on(c, "server"),
        time_wait_what
    ),
    count!(
        "summary.time_wait.simultaneous",
        "simultaneous closes",
        TIME_WAIT,
        Some("max-simultaneous-closes"),
        None,
        |c| u64::from(c.closed_by == Some("both") && c.time_wait == Some("both")),
        time_wait_what
    ),
    count!(
        "summary.time_wait.reused",
        "4-tuples reused within 2·MSL of TIME_WAIT",
        TIME_WAIT,
        Some("max-time-wait-reused"),
        None,
        |c| u64::from(c.reused_time_wait),
        |c| format!(
            "its SYN reused a 4-tuple still in TIME_WAIT; {}",
            describe_close(c)
        )
    ),
    count!(
        "summary.keepalive.probes",
        "keep-alive probes",
        KEEPALIVE,
        Some("max-keepalive-probes"),
        None,
        |c| c.keepalive.probes,
        keepalive_what
    ),
    count!(
        "summary.keepalive.unanswered",
        "keep-alive probes unanswered",
        KEEPALIVE,
        Some("max-keepalive-unanswered"),
        None,
        |c| c.keepalive.unanswered,
        keepalive_what
    ),
    count!(
        "summary.keepalive.connections",
        "connections with keep-alive probes",
        KEEPALIVE,
        Some("max-keepalive-connections"),
        None,
        |c| u64::from(c.keepalive.probes > 0),
        keepalive_what
    ),
    count!(
        "summary.zero_window_probes",
        "zero-window probes",
        KEEPALIVE,
        Some("max-zero-window-probes"),
        None,
        |c| c.zero_window_probes,
        |c| count_what(
            c.zero_window_probes,
            "zero-window probe",
            "zero-window probes"
        )
    ),
    count!(
        "summary.retransmissions",
        "retransmissions",
        "docs/metrics.md#retransmissions",
        Some("max-retransmissions"),
        None,
        |c| both_sides(&c.retransmissions),
        |c| format!(
            "{} (client {}, server {})",
            count_what(
                both_sides(&c.retransmissions),
                "retransmission",
                "retransmissions"
            ),
            c.retransmissions.client,
            c.retransmissions.server
        )
    ),
];

// ---------------------------------------------------------------------------------------
// Rules.

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A broken rule fails the check (exit status 1).
    #[default]
    Fail,
    /// A broken rule is reported, and the check still passes.
    Warn,
}

/// An address or a CIDR prefix: `10.0.0.1`, `10.0.0.0/8`, `2001:db8::/32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefix {
    addr: IpAddr,
    len: u8,
}

impl Prefix {
    fn bits(addr: IpAddr) -> u8 {
        if addr.is_ipv4() {
            32
        } else {
            128
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        // Mask as 128-bit integers: an IPv4 prefix only matches IPv4 addresses.
        let value = |a: IpAddr| match a {
            IpAddr::V4(v4) => u128::from(u32::from(v4)),
            IpAddr::V6(v6) => u128::from(v6),
        };
        let bits = Self::bits(self.addr);
        if Self::bits(ip) != bits {
            return false;
        }
        let drop = u32::from(bits - self.len);
        let mask = u128::MAX.checked_shl(drop).unwrap_or(0);
        value(ip) & mask == value(self.addr) & mask
    }
}

impl FromStr for Prefix {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!("expected an IP address or prefix (10.0.0.1, 10.0.0.0/8, 2001:db8::/32), found `{s}`")
        };
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr = addr.trim_start_matches('[').trim_end_matches(']');
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = Self::bits(addr);
        let len = match len {
            None => max,
            Some(l) => l.parse::<u8>().ok().filter(|l| *l <= max).ok_or_else(bad)?,
        };
        Ok(Prefix { addr, len })
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.len == Self::bits(self.addr) {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.len)
        }
    }
}

impl Serialize for Prefix {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Which connections a rule looks at. Every condition given must hold; a list holds when
/// any of its values does.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Filter {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub server_port: Vec<u16>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub server_addr: Vec<Prefix>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub client_port: Vec<u16>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub client_addr: Vec<Prefix>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.server_port.is_empty()
            && self.server_addr.is_empty()
            && self.client_port.is_empty()
            && self.client_addr.is_empty()
    }

    pub fn matches(&self, client: SocketAddr, server: SocketAddr) -> bool {
        fn any<T>(list: &[T], hit: impl Fn(&T) -> bool) -> bool {
            list.is_empty() || list.iter().any(hit)
        }
        any(&self.server_port, |p| *p == server.port())
            && any(&self.server_addr, |a| a.contains(server.ip()))
            && any(&self.client_port, |p| *p == client.port())
            && any(&self.client_addr, |a| a.contains(client.ip()))
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list<T: fmt::Display>(v: &[T], quote: bool) -> String {
            let item = |x: &T| {
                if quote {
                    format!("\"{x}\"")
                } else {
                    x.to_string()
                }
            };
            match v {
                [one] => item(one),
                _ => format!("[{}]", v.iter().map(item).collect::<Vec<_>>().join(", ")),
            }
        }
        let mut parts = Vec::new();
        if !self.server_port.is_empty() {
            parts.push(format!("server-port = {}", list(&self.server_port, false)));
        }
        if !self.server_addr.is_empty() {
            parts.push(format!("server-addr = {}", list(&self.server_addr, true)));
        }
        if !self.client_port.is_empty() {
            parts.push(format!("client-port = {}", list(&self.client_port, false)));
        }
        if !self.client_addr.is_empty() {
            parts.push(format!("client-addr = {}", list(&self.client_addr, true)));
        }
        f.write_str(&parts.join(", "))
    }
}

/// One limit on one figure, over the connections its filter selects.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Rule {
    /// The rule table's `name`, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub key: LimitKey,
    pub limit: Amount,
    pub severity: Severity,
    #[serde(skip_serializing_if = "Filter::is_empty")]
    pub filter: Filter,
    /// Where it was given: `--max-rst`, or `rules.toml:7`.
    pub origin: String,
}

impl Rule {
    /// A rule given on the command line: every connection, severity fail.
    pub fn from_flag(key: LimitKey, limit: Amount) -> Self {
        Rule {
            name: None,
            key,
            limit,
            severity: Severity::Fail,
            filter: Filter::default(),
            origin: format!("--{}", key.name),
        }
    }

    /// `max-rst = 0`, with the rule's name and filter when it has them. Test reports use
    /// it as the test case's name.
    pub fn title(&self) -> String {
        let mut t = String::new();
        if let Some(name) = &self.name {
            t.push_str(&format!("{name}: "));
        }
        t.push_str(&format!("{} = {}", self.key.name, self.limit));
        if !self.filter.is_empty() {
            t.push_str(&format!(" [{}]", self.filter));
        }
        t
    }
}

// ---------------------------------------------------------------------------------------
// The rules file.

/// A rules file that cannot be used, with the place and key at fault.
#[derive(Debug, PartialEq, Eq)]
pub struct RulesError {
    pub file: String,
    /// 1-based line and column, when the fault has a place.
    pub line: Option<(usize, usize)>,
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for RulesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some((line, column)) = self.line {
            write!(f, ":{line}:{column}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for RulesError {}

const FILTER_KEYS: [&str; 4] = ["server-port", "server-addr", "client-port", "client-addr"];

/// Reads a rules file's text. Top-level limits apply to every connection and fail the
/// check; each `[[rule]]` table may add a filter, a `severity` and a `name` to its limits.
pub fn parse_rules(text: &str, file: &str) -> Result<Vec<Rule>, RulesError> {
    let doc = DeTable::parse(text).map_err(|e| {
        let at = e.span().map(|s| s.start);
        RulesError {
            file: file.to_string(),
            line: at.map(|at| line_column(text, at)),
            key: at.and_then(|at| key_on_line(text, at)),
            message: format!("not valid TOML: {}", e.message().trim_end()),
        }
    })?;
    let cx = Context { text, file };
    let mut rules = Vec::new();
    for (key, value) in in_file_order(doc.get_ref()) {
        match key.get_ref().as_ref() {
            "rule" => {
                let tables =
                    match value.get_ref() {
                        DeValue::Array(items) => items.iter().collect::<Vec<_>>(),
                        _ => return Err(cx.error(
                            key,
                            "must be an array of tables: write each rule as [[rule]], not [rule]",
                        )),
                    };
                for item in tables {
                    match item.get_ref() {
                        DeValue::Table(table) => rules.extend(cx.rule_table(table, item)?),
                        other => {
                            return Err(cx.error_at(
                                item.span().start,
                                Some("rule"),
                                format!("expected a table, found {}", other.type_str()),
                            ))
                        }
                    }
                }
            }
            name => match limit_key(name) {
                Some(limit) => rules.push(Rule {
                    origin: cx.origin(key),
                    ..Rule::from_flag(limit, cx.amount(limit, value)?)
                }),
                None if FILTER_KEYS.contains(&name) || name == "severity" || name == "name" => {
                    return Err(cx.error(
                        key,
                        "belongs in a [[rule]] table, with the limits it applies to",
                    ))
                }
                None => return Err(cx.unknown(key, false)),
            },
        }
    }
    if rules.is_empty() {
        return Err(RulesError {
            file: file.to_string(),
            line: None,
            key: None,
            message: "no limits: give at least one, e.g. `max-rst = 0` (see docs/check.md)"
                .to_string(),
        });
    }
    Ok(rules)
}

type Entry<'t, 'i> = (
    &'t Spanned<toml::de::DeString<'i>>,
    &'t Spanned<DeValue<'i>>,
);

/// The parser's tables are sorted by key; rules keep the order they are written in.
fn in_file_order<'t, 'i>(table: &'t DeTable<'i>) -> Vec<Entry<'t, 'i>> {
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    entries
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    // Bytes, not chars: a span is a byte offset and need not fall on a char boundary
    // of broken input.
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let column = before.iter().rev().take_while(|b| **b != b'\n').count() + 1;
    (line, column)
}

/// The key written on the line of a syntax error, if the line is a `key = value` pair.
fn key_on_line(text: &str, offset: usize) -> Option<String> {
    let start = text.as_bytes()[..offset.min(text.len())]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let line = text.get(start..)?.lines().next()?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    let plain = !key.is_empty() && !key.starts_with(['[', '#']);
    plain.then(|| key.to_string())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The known key a misspelt one most likely meant: `max_rst` and `--max-rst` are `max-rst`.
fn suggestion(unknown: &str, known: impl Iterator<Item = &'static str>) -> Option<&'static str> {
    let normal = unknown
        .trim_start_matches('-')
        .replace('_', "-")
        .to_lowercase();
    known
        .map(|k| (edit_distance(&normal, k), k))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

struct Context<'a> {
    text: &'a str,
    file: &'a str,
}

impl Context<'_> {
    fn error_at(&self, offset: usize, key: Option<&str>, message: String) -> RulesError {
        RulesError {
            file: self.file.to_string(),
            line: Some(line_column(self.text, offset)),
            key: key.map(str::to_string),
            message,
        }
    }

    fn error(&self, key: &Spanned<toml::de::DeString<'_>>, message: &str) -> RulesError {
        self.error_at(key.span().start, Some(key.get_ref()), message.to_string())
    }

    fn origin(&self, key: &Spanned<toml::de::DeString<'_>>) -> String {
        format!(
            "{}:{}",
            self.file,
            line_column(self.text, key.span().start).0
        )
    }

    fn unknown(&self, key: &Spanned<toml::de::DeString<'_>>, in_rule: bool) -> RulesError {
        let limits = limit_keys().map(|k| k.name);
        let hint = if in_rule {
            let extra = FILTER_KEYS.into_iter().chain(["severity", "name"]);
            suggestion(key.get_ref(), limits.chain(extra))
        } else {
            suggestion(key.get_ref(), limits.chain(["rule"]))
        };
        let message = match hint {
            Some(k) => format!("unknown key; did you mean `{k}`? (docs/check.md lists them all)"),
            None => "unknown key (docs/check.md lists the keys)".to_string(),
        };
        self.error(key, &message)
    }

    fn value_error(&self, key: &str, value: &Spanned<DeValue<'_>>, message: String) -> RulesError {
        self.error_at(value.span().start, Some(key), message)
    }

    fn amount(&self, limit: LimitKey, value: &Spanned<DeValue<'_>>) -> Result<Amount, RulesError> {
        let unit = limit.metric.unit();
        let parsed = match (value.get_ref(), unit) {
            (DeValue::Integer(i), _) => u64::from_str_radix(i.as_str(), i.radix())
                .map_err(|_| format!("expected a whole number ≥ 0, found {i}"))
                .and_then(|n| match unit {
                    Unit::Count => Ok(n),
                    Unit::Millis => n
                        .checked_mul(1_000_000)
                        .ok_or_else(|| format!("{n} ms is too large")),
                }),
            (DeValue::Float(x), Unit::Millis) => parse_millis(x.as_str()),
            (other, Unit::Count) => Err(format!(
                "expected a whole number ≥ 0, found {}",
                other.type_str()
            )),
            (other, Unit::Millis) => Err(format!(
                "expected a number of milliseconds (e.g. 50 or 2.5), found {}",
                other.type_str()
            )),
        };
        parsed
            .map(|value| Amount { unit, value })
            .map_err(|m| self.value_error(limit.name, value, m))
    }

    /// One value or an array of them, each parsed by `one`.
    fn list<T>(
        &self,
        key: &Spanned<toml::de::DeString<'_>>,
        value: &Spanned<DeValue<'_>>,
        one: impl Fn(&DeValue<'_>) -> Result<T, String>,
    ) -> Result<Vec<T>, RulesError> {
        let items: Vec<&Spanned<DeValue<'_>>> = match value.get_ref() {
            DeValue::Array(items) => items.iter().collect(),
            _ => vec![value],
        };
        if items.is_empty() {
            return Err(self.value_error(
                key.get_ref(),
                value,
                "an empty list matches nothing".into(),
            ));
        }
        items
            .into_iter()
            .map(|item| one(item.get_ref()).map_err(|m| self.value_error(key.get_ref(), item, m)))
            .collect()
    }

    fn rule_table(
        &self,
        table: &DeTable<'_>,
        at: &Spanned<DeValue<'_>>,
    ) -> Result<Vec<Rule>, RulesError> {
        let mut filter = Filter::default();
        let mut severity = Severity::Fail;
        let mut name = None;
        let mut limits = Vec::new();
        for (key, value) in in_file_order(table) {
            let string = |v: &DeValue<'_>| match v {
                DeValue::String(s) => Ok(s.to_string()),
                other => Err(format!("expected a string, found {}", other.type_str())),
            };
            match key.get_ref().as_ref() {
                "server-port" => filter.server_port = self.list(key, value, port)?,
                "client-port" => filter.client_port = self.list(key, value, port)?,
                "server-addr" => {
                    filter.server_addr = self.list(key, value, |v| string(v)?.parse())?
                }
                "client-addr" => {
                    filter.client_addr = self.list(key, value, |v| string(v)?.parse())?
                }
                "severity" => {
                    let text = string(value.get_ref())
                        .map_err(|m| self.value_error(key.get_ref(), value, m))?;
                    severity = match text.as_str() {
                        "fail" => Severity::Fail,
                        "warn" => Severity::Warn,
                        other => {
                            return Err(self.value_error(
                                key.get_ref(),
                                value,
                                format!("expected \"fail\" or \"warn\", found \"{other}\""),
                            ))
                        }
                    }
                }
                "name" => {
                    name = Some(
                        string(value.get_ref())
                            .map_err(|m| self.value_error(key.get_ref(), value, m))?,
                    )
                }
                other => match limit_key(other) {
                    Some(limit) => {
                        limits.push((limit, self.amount(limit, value)?, self.origin(key)))
                    }
                    None => return Err(self.unknown(key, true)),
                },
            }
        }
        if limits.is_empty() {
            return Err(self.error_at(
                at.span().start,
                Some("rule"),
                "this rule has no limit: add one, e.g. `max-resets = 0`".to_string(),
            ));
        }
        Ok(limits
            .into_iter()
            .map(|(key, limit, origin)| Rule {
                name: name.clone(),
                key,
                limit,
                severity,
                filter: filter.clone(),
                origin,
            })
            .collect())
    }
}

fn port(v: &DeValue<'_>) -> Result<u16, String> {
    match v {
        DeValue::Integer(i) => u16::from_str_radix(i.as_str(), i.radix())
            .map_err(|_| format!("expected a port number 0-65535, found {i}")),
        other => Err(format!(
            "expected a port number, found {}",
            other.type_str()
        )),
    }
}

// ---------------------------------------------------------------------------------------
// Evaluation.

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    /// Broken rules of severity `warn` only: still a pass for the exit status.
    Warn,
    Fail,
    /// The trace could not be read (to its end): the verdict is not to be trusted.
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Error => "error",
        }
    }
}

/// A connection that broke a rule, with what it did, so a reader can go to its packets.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Offender {
    pub id: u64,
    pub client: String,
    pub server: String,
    pub first_seen: JsonTime,
    /// What it contributed: its count, or its latency.
    pub value: Amount,
    pub what: String,
}

impl fmt::Display for Offender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "#{} {} -> {} at {} UTC: {}",
            self.id,
            self.client,
            self.server,
            self.first_seen.0.utc_string(),
            self.what
        )
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct RuleResult {
    /// `max-rst = 0 [server-port = 443]`, as printed and as the JUnit test case's name.
    pub title: String,
    #[serde(flatten)]
    pub rule: Rule,
    pub figure: &'static str,
    pub status: Status,
    /// Null when nothing was measured: a latency with no handshake, or an unreadable trace.
    pub measured: Option<Amount>,
    /// Connections the rule's filter selected.
    pub connections: u64,
    /// Every connection that broke the rule (none for a minimum, which no one connection
    /// breaks); the printers show the first few.
    pub offenders: Vec<Offender>,
}

impl RuleResult {
    /// `RST packets = 2`: what was measured, and over how many connections when the
    /// rule's filter chose some.
    pub fn measurement(&self) -> String {
        let label = self.rule.key.metric.label;
        let measured = match (self.measured, self.status) {
            (Some(m), _) => m.to_string(),
            (None, Status::Error) => "not measured".to_string(),
            (None, _) => "none measured".to_string(),
        };
        if self.rule.filter.is_empty() {
            format!("{label} = {measured}")
        } else {
            let over = count_what(self.connections, "connection", "connections");
            format!("{label} = {measured} over the {over} selected")
        }
    }
}

/// How much of a trace was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reading {
    Complete,
    /// Reading stopped part way (a truncated or corrupt record, a filter that failed): the
    /// rules are evaluated on what was read.
    CutShort(String),
    /// Nothing could be read (missing file, not a capture).
    Unreadable(String),
}

/// The verdict on one trace.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FileVerdict {
    pub file: String,
    pub status: Status,
    /// Why the trace could not be read to its end.
    pub error: Option<String>,
    pub connections: u64,
    pub rules: Vec<RuleResult>,
    /// The report's warnings (mid-stream connections, odd timestamps…).
    pub warnings: Vec<String>,
    /// How long reading and checking took, for test reports; not in the JSON, which stays
    /// the same from run to run.
    #[serde(skip)]
    pub elapsed: Duration,
}

impl FileVerdict {
    pub fn count(&self, status: Status) -> usize {
        self.rules.iter().filter(|r| r.status == status).count()
    }
}

/// The verdict on every trace of one run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Verdict {
    pub synack_version: &'static str,
    pub status: Status,
    pub exit_code: u8,
    pub files: Vec<FileVerdict>,
}

impl Verdict {
    pub fn new(files: Vec<FileVerdict>) -> Self {
        let status = files.iter().map(|f| f.status).max().unwrap_or(Status::Pass);
        Verdict {
            synack_version: env!("CARGO_PKG_VERSION"),
            status,
            exit_code: match status {
                Status::Pass | Status::Warn => 0,
                Status::Fail => 1,
                Status::Error => 2,
            },
            files,
        }
    }
}

/// A connection with its endpoints parsed once for all rules.
struct Conn<'a> {
    report: &'a ConnectionReport,
    /// None if the report's address text did not parse (it always should); such a
    /// connection matches no filter but still counts for unfiltered rules.
    ends: Option<(SocketAddr, SocketAddr)>,
}

fn offender(c: &ConnectionReport, value: Amount, what: String) -> Offender {
    Offender {
        id: c.id,
        client: c.client.clone(),
        server: c.server.clone(),
        first_seen: c.first_seen,
        value,
        what,
    }
}

fn evaluate(rule: &Rule, conns: &[Conn<'_>], reading: &Reading) -> RuleResult {
    let selected: Vec<&ConnectionReport> = conns
        .iter()
        .filter(|c| {
            rule.filter.is_empty()
                || c.ends
                    .is_some_and(|(client, server)| rule.filter.matches(client, server))
        })
        .map(|c| c.report)
        .collect();
    let limit = rule.limit.value;
    let mut offenders = Vec::new();
    let measured = match rule.key.metric.measure {
        Measure::Count { of, what } => {
            let total = selected
                .iter()
                .map(|c| of(c))
                .fold(0u64, u64::saturating_add);
            if rule.key.bound == Bound::Max && total > limit {
                offenders = selected
                    .iter()
                    .filter(|c| of(c) > 0)
                    .map(|c| offender(c, Amount::count(of(c)), what(c)))
                    .collect();
            }
            Some(Amount::count(total))
        }
        Measure::Latency { of, pick, what } => {
            let values: Vec<(Millis, &ConnectionReport)> =
                selected.iter().filter_map(|c| Some((of(c)?, *c))).collect();
            let measured = pick(&Distribution::of(values.iter().map(|(m, _)| m.0).collect()));
            let measured = measured.map(Amount::millis);
            if rule.key.bound == Bound::Max && measured.is_some_and(|m| m.value > limit) {
                let mut slow: Vec<_> = values
                    .into_iter()
                    .filter(|(m, _)| Amount::millis(*m).value > limit)
                    .collect();
                // Slowest first: they are the ones to look at.
                slow.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.id.cmp(&b.1.id)));
                offenders = slow
                    .into_iter()
                    .map(|(m, c)| {
                        let amount = Amount::millis(m);
                        offender(c, amount, format!("{what} {amount}; {}", describe_close(c)))
                    })
                    .collect();
            }
            measured
        }
    };
    let broken = measured.is_some_and(|m| match rule.key.bound {
        Bound::Max => m.value > limit,
        Bound::Min => m.value < limit,
    });
    let (status, measured) = match reading {
        Reading::Unreadable(_) => (Status::Error, None),
        _ if broken => (
            match rule.severity {
                Severity::Fail => Status::Fail,
                Severity::Warn => Status::Warn,
            },
            measured,
        ),
        // A rule that held on part of a trace proves nothing about the rest.
        Reading::CutShort(_) => (Status::Error, measured),
        Reading::Complete => (Status::Pass, measured),
    };
    if status == Status::Error {
        offenders.clear();
    }
    RuleResult {
        title: rule.title(),
        rule: rule.clone(),
        figure: rule.key.metric.figure,
        status,
        measured,
        connections: selected.len() as u64,
        offenders,
    }
}

/// Checks one trace's report against every rule.
pub fn check_report(
    file: &str,
    report: &Report,
    reading: Reading,
    rules: &[Rule],
    elapsed: Duration,
) -> FileVerdict {
    let shaped: Vec<ConnectionReport> = report
        .connections
        .records()
        .map(|r| ConnectionReport::from_record(&r))
        .collect();
    let conns: Vec<Conn<'_>> = shaped
        .iter()
        .map(|c| Conn {
            report: c,
            ends: c.client.parse().ok().zip(c.server.parse().ok()),
        })
        .collect();
    let results: Vec<RuleResult> = rules
        .iter()
        .map(|r| evaluate(r, &conns, &reading))
        .collect();
    let worst = results
        .iter()
        .map(|r| r.status)
        .max()
        .unwrap_or(Status::Pass);
    let (status, error) = match reading {
        Reading::Complete => (worst, None),
        Reading::CutShort(e) | Reading::Unreadable(e) => (Status::Error, Some(e)),
    };
    FileVerdict {
        file: file.to_string(),
        status,
        error,
        connections: report.connections.len() as u64,
        rules: results,
        warnings: report.warnings.clone(),
        elapsed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::pipeline::{analyze_paths, Options};
    use std::path::{Path, PathBuf};

    fn report_of(path: &Path) -> Report {
        Report::build(analyze_paths(&[path.to_path_buf()], &Options::default()))
    }

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(name)
    }

    fn rule(name: &str, limit: &str) -> Rule {
        let key = limit_key(name).expect("known limit");
        Rule::from_flag(
            key,
            Amount::parse(key.metric.unit(), limit).expect("valid limit"),
        )
    }

    fn check(path: &str, rules: &[Rule]) -> FileVerdict {
        let report = report_of(&fixture(path));
        check_report(path, &report, Reading::Complete, rules, Duration::ZERO)
    }

    fn all_fixtures(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("fixtures dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                all_fixtures(&path, out);
            } else if path
                .extension()
                .is_some_and(|e| e == "pcap" || e == "pcapng")
            {
                out.push(path);
            }
        }
    }

    /// Unfiltered, every rule measures exactly the figure `synack report` prints: the
    /// per-connection sums and ranks agree with the summary on every fixture.
    #[test]
    fn measured_equals_the_report_summary_on_every_fixture() {
        let mut paths = Vec::new();
        all_fixtures(&fixture(""), &mut paths);
        assert!(paths.len() > 50, "found {} fixtures", paths.len());
        for path in paths {
            let report = report_of(&path);
            let json = serde_json::to_value(&report).expect("report serializes");
            let rules: Vec<Rule> = limit_keys()
                .map(|k| {
                    Rule::from_flag(
                        k,
                        Amount {
                            unit: k.metric.unit(),
                            value: 0,
                        },
                    )
                })
                .collect();
            let verdict = check_report("x", &report, Reading::Complete, &rules, Duration::ZERO);
            for r in &verdict.rules {
                let pointer = format!("/{}", r.figure.replace('.', "/"));
                let expected = json
                    .pointer(&pointer)
                    .unwrap_or_else(|| panic!("{pointer}"));
                let got = serde_json::to_value(r.measured).expect("amount serializes");
                assert_eq!(&got, expected, "{} in {}", r.figure, path.display());
            }
        }
    }

    #[test]
    fn every_limit_name_is_unique_and_matches_its_bound() {
        let names: Vec<_> = limit_keys().map(|k| k.name).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(names.len(), unique.len());
        for k in limit_keys() {
            let prefix = match k.bound {
                Bound::Max => "max-",
                Bound::Min => "min-",
            };
            assert!(k.name.starts_with(prefix), "{}", k.name);
            assert_eq!(
                k.name.ends_with("-ms"),
                k.metric.unit() == Unit::Millis,
                "{}",
                k.name
            );
        }
    }

    #[test]
    fn count_rule_fails_above_the_limit_and_names_the_connections() {
        // sample.pcap: 2 RSTs from the server, on connections 4 (refused) and 7 (reset).
        let v = check("sample.pcap", &[rule("max-rst", "1"), rule("max-rst", "2")]);
        let (over, at) = (&v.rules[0], &v.rules[1]);
        assert_eq!(over.status, Status::Fail);
        assert_eq!(over.measured, Some(Amount::count(2)));
        let ids: Vec<u64> = over.offenders.iter().map(|o| o.id).collect();
        assert_eq!(ids, [4, 7]);
        assert!(
            over.offenders[0].what.contains("refused"),
            "{}",
            over.offenders[0].what
        );
        assert!(over.offenders[1]
            .what
            .contains("reset by the server in ESTABLISHED"));
        assert_eq!(at.status, Status::Pass);
        assert!(at.offenders.is_empty());
        assert_eq!(v.status, Status::Fail);
    }

    #[test]
    fn minimum_rule_fails_below_the_limit_without_offenders() {
        let v = check(
            "sample.pcap",
            &[rule("min-connections", "9"), rule("min-connections", "8")],
        );
        assert_eq!(v.rules[0].status, Status::Fail);
        assert!(v.rules[0].offenders.is_empty());
        assert_eq!(v.rules[1].status, Status::Pass);
        let empty = check("bad/header-only.pcap", &[rule("min-connections", "1")]);
        assert_eq!(empty.rules[0].measured, Some(Amount::count(0)));
        assert_eq!(empty.status, Status::Fail);
    }

    #[test]
    fn latency_rule_ranks_like_the_report_and_lists_slowest_first() {
        // RTTs 1.26, 2.56, 3.16, 15.06, 22.06, 40.09 ms: p50 is 3.16 (nearest rank).
        let v = check(
            "sample.pcap",
            &[
                rule("max-handshake-p50-ms", "3.16"),
                rule("max-handshake-p50-ms", "3.159999"),
            ],
        );
        assert_eq!(v.rules[0].status, Status::Pass);
        assert_eq!(v.rules[1].status, Status::Fail);
        assert_eq!(
            v.rules[1].measured.map(|m| m.to_string()).as_deref(),
            Some("3.16 ms")
        );
        let ids: Vec<u64> = v.rules[1].offenders.iter().map(|o| o.id).collect();
        assert_eq!(ids, [6, 8, 3, 2], "slowest first");
        assert!(v.rules[1].offenders[0]
            .what
            .starts_with("handshake RTT 40.09 ms"));
    }

    #[test]
    fn latency_with_no_handshake_holds() {
        let v = check("tcp/refused.pcap", &[rule("max-handshake-max-ms", "0")]);
        assert_eq!(v.rules[0].measured, None);
        assert_eq!(v.rules[0].status, Status::Pass);
    }

    #[test]
    fn filter_selects_connections_by_port_and_prefix() {
        let mut r = rule("max-connections", "0");
        r.filter.server_port = vec![443];
        let v = check("sample.pcap", &[r.clone()]);
        assert_eq!(
            v.rules[0].measured,
            Some(Amount::count(3)),
            "51004, 51005 and [::]:51008"
        );
        r.filter.server_addr = vec!["2001:db8::/32".parse().unwrap()];
        assert_eq!(check("sample.pcap", &[r.clone()]).rules[0].connections, 1);
        r.filter.server_addr = vec!["10.0.0.0/24".parse().unwrap()];
        assert_eq!(check("sample.pcap", &[r.clone()]).rules[0].connections, 2);
        r.filter.client_port = vec![1, 2];
        assert_eq!(check("sample.pcap", &[r]).rules[0].connections, 0);
    }

    #[test]
    fn warn_severity_does_not_fail() {
        let mut r = rule("max-refused", "0");
        r.severity = Severity::Warn;
        let v = check("sample.pcap", &[r, rule("max-unanswered", "1")]);
        assert_eq!(v.rules[0].status, Status::Warn);
        assert_eq!(v.status, Status::Warn);
        assert_eq!(Verdict::new(vec![v]).exit_code, 0);
    }

    #[test]
    fn unreadable_and_cut_short_traces_are_errors() {
        let report = report_of(&fixture("sample.pcap"));
        let rules = [rule("max-rst", "0"), rule("max-refused", "5")];
        let cut = check_report(
            "f",
            &report,
            Reading::CutShort("cut".into()),
            &rules,
            Duration::ZERO,
        );
        assert_eq!(
            cut.rules[0].status,
            Status::Fail,
            "a break in what was read is real"
        );
        assert_eq!(
            cut.rules[1].status,
            Status::Error,
            "a hold on part of a trace is not"
        );
        assert_eq!(cut.status, Status::Error);
        let none = check_report(
            "f",
            &report,
            Reading::Unreadable("no".into()),
            &rules,
            Duration::ZERO,
        );
        assert!(none
            .rules
            .iter()
            .all(|r| r.status == Status::Error && r.measured.is_none()));
        let v = Verdict::new(vec![check("sample.pcap", &rules), none]);
        assert_eq!((v.status, v.exit_code), (Status::Error, 2));
    }

    #[test]
    fn amounts_parse_exactly() {
        assert_eq!(Amount::parse(Unit::Millis, "50").unwrap().value, 50_000_000);
        assert_eq!(Amount::parse(Unit::Millis, "0.1").unwrap().value, 100_000);
        assert_eq!(
            Amount::parse(Unit::Millis, "2.5e1").unwrap().value,
            25_000_000
        );
        assert_eq!(
            Amount::parse(Unit::Millis, "1.0000005").unwrap().value,
            1_000_001
        );
        for bad in [
            "-1",
            "",
            "x",
            "inf",
            "NaN",
            "1e300",
            ".5.",
            "99999999999999999999",
        ] {
            assert!(Amount::parse(Unit::Millis, bad).is_err(), "{bad}");
        }
        assert!(Amount::parse(Unit::Count, "-1").is_err());
        assert!(Amount::parse(Unit::Count, "1.5").is_err());
        assert_eq!(
            Amount::parse(Unit::Millis, "40.09").unwrap().to_string(),
            "40.09 ms"
        );
    }

    #[test]
    fn prefixes() {
        let p: Prefix = "10.0.0.0/8".parse().unwrap();
        assert!(p.contains("10.200.0.1".parse().unwrap()));
        assert!(!p.contains("11.0.0.1".parse().unwrap()));
        assert!(!p.contains("::ffff:10.0.0.1".parse().unwrap()));
        let all: Prefix = "::/0".parse().unwrap();
        assert!(all.contains("2001:db8::1".parse().unwrap()));
        let one: Prefix = "[2001:db8::1]".parse().unwrap();
        assert_eq!(one.to_string(), "2001:db8::1");
        for bad in ["10.0.0.0/33", "10.0.0/8", "host", "::/129", "10.0.0.0/-1"] {
            assert!(bad.parse::<Prefix>().is_err(), "{bad}");
        }
    }

    fn parse_err(text: &str) -> RulesError {
        parse_rules(text, "rules.toml").expect_err(text)
    }

    #[test]
    fn rules_file_with_filters_and_severity() {
        let text = "max-rst = 0\nmin-connections = 1\n\n[[rule]]\nname = \"TLS\"\nserver-port = [443, 8443]\nserver-addr = \"10.0.0.0/8\"\nseverity = \"warn\"\nmax-handshake-p99-ms = 12.5\nmax-resets = 0\n";
        let rules = parse_rules(text, "rules.toml").unwrap();
        let titles: Vec<String> = rules.iter().map(Rule::title).collect();
        assert_eq!(
            titles,
            [
                "max-rst = 0",
                "min-connections = 1",
                "TLS: max-handshake-p99-ms = 12.5 ms [server-port = [443, 8443], server-addr = \"10.0.0.0/8\"]",
                "TLS: max-resets = 0 [server-port = [443, 8443], server-addr = \"10.0.0.0/8\"]",
            ]
        );
        assert_eq!(rules[0].origin, "rules.toml:1");
        assert_eq!(rules[3].origin, "rules.toml:10");
        assert_eq!(rules[2].severity, Severity::Warn);
        assert_eq!(rules[0].severity, Severity::Fail);
    }

    #[test]
    fn rules_file_errors_name_line_and_key() {
        let e = parse_err("max-rst = 0\nmax_refused = 0\n");
        assert_eq!(e.line, Some((2, 1)));
        assert_eq!(e.key.as_deref(), Some("max_refused"));
        assert!(e.message.contains("did you mean `max-refused`"), "{e}");
        let e = parse_err("max-rst = \"none\"\n");
        assert_eq!((e.line, e.key.as_deref()), (Some((1, 11)), Some("max-rst")));
        assert!(e.message.contains("found string"), "{e}");
        let e = parse_err("\n[[rule]]\nserver-port = 70000\nmax-rst = 0\n");
        assert_eq!(
            (e.line.map(|l| l.0), e.key.as_deref()),
            (Some(3), Some("server-port"))
        );
        let e = parse_err("[[rule]]\nseverity = \"loud\"\nmax-rst = 0\n");
        assert_eq!(
            (e.line.map(|l| l.0), e.key.as_deref()),
            (Some(2), Some("severity"))
        );
        let e = parse_err("max-rst = 0\nmax-refused = \n");
        assert_eq!(
            (e.line.map(|l| l.0), e.key.as_deref()),
            (Some(2), Some("max-refused"))
        );
        assert!(e.message.starts_with("not valid TOML"), "{e}");
        let e = parse_err("max-rst = 0\nmax-rst = 1\n");
        assert_eq!(e.line.map(|l| l.0), Some(2), "{e}");
        let e = parse_err("[[rule]]\nserver-port = 443\n");
        assert_eq!(
            (e.line.map(|l| l.0), e.key.as_deref()),
            (Some(1), Some("rule"))
        );
        let e = parse_err("severity = \"warn\"\nmax-rst = 0\n");
        assert!(e.message.contains("[[rule]]"), "{e}");
        let e = parse_err("[rule]\nmax-rst = 0\n");
        assert!(e.message.contains("[[rule]]"), "{e}");
        let e = parse_err("max-handshake-p99-ms = -1\n");
        assert_eq!(e.key.as_deref(), Some("max-handshake-p99-ms"));
        let e = parse_err("max-rst = 1.5\n");
        assert!(e.message.contains("found float"), "{e}");
        assert!(parse_err("# nothing\n").message.contains("no limits"));
        assert_eq!(
            parse_err("[[rule]]\nmax-rst = 0\nclient-addr = [\"10.0.0.1\", 7]\n").line,
            Some((3, 28))
        );
    }

    #[test]
    fn rules_file_never_panics_on_odd_input() {
        for text in [
            "\u{0}",
            "max-rst = 0\r\nx",
            "[[rule]]\n[[rule]]",
            "rule = 5",
            "rule = [1]",
            "a.b.c = 1",
            "max-rst = 0xff",
            "max-rst = 1_000",
            "\u{feff}max-rst = 0",
            "é = 1",
            "max-rst = 99999999999999999999",
            "[[rule]]\nname = 5\nmax-rst = 0",
            "max-handshake-max-ms = 1e400",
            "\"max-rst\" = 0",
        ] {
            let _ = parse_rules(text, "r");
        }
        assert_eq!(
            parse_rules("max-rst = 0xff", "r").unwrap()[0].limit.value,
            255
        );
        assert_eq!(
            parse_rules("\"max-rst\" = 1_000", "r").unwrap()[0]
                .limit
                .value,
            1000
        );
    }
}
