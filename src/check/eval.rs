//! Evaluation: each rule measured over the connections its filter selects, into a verdict
//! per trace.

use std::fmt;
use std::time::Duration;

use crate::check::metrics::{count_what, describe_close, Bound, Measure};
use crate::check::rules::{Rule, Severity};
use crate::check::Amount;
use crate::model::connection_record::ConnectionRecord;
use crate::model::report::Report;
use crate::model::summary::Distribution;
use crate::model::units::{JsonTime, Millis};

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
        let mut text = if self.rule.filter.is_empty() {
            format!("{label} = {measured}")
        } else if self.connections == 0 {
            // Said outright: a rule that looked at nothing holds without proving anything.
            format!("{label} = {measured}: the rule's filter selected no connection")
        } else {
            let over = count_what(self.connections, "connection", "connections");
            format!("{label} = {measured} over the {over} selected")
        };
        if self.connections < self.rule.min_selected {
            text.push_str(&format!(
                " (fewer than min-selected = {})",
                self.rule.min_selected
            ));
        }
        text
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

fn offender(c: &ConnectionRecord, value: Amount, what: String) -> Offender {
    Offender {
        id: c.id,
        client: c.client.to_string(),
        server: c.server.to_string(),
        first_seen: JsonTime(c.first_seen),
        value,
        what,
    }
}

fn evaluate(rule: &Rule, conns: &[ConnectionRecord], reading: &Reading) -> RuleResult {
    let selected: Vec<&ConnectionRecord> = conns
        .iter()
        .filter(|c| rule.filter.is_empty() || rule.filter.matches(c.client, c.server))
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
            let values: Vec<(Duration, &ConnectionRecord)> =
                selected.iter().filter_map(|c| Some((of(c)?, *c))).collect();
            let measured = pick(&Distribution::of(values.iter().map(|(d, _)| *d).collect()));
            let measured = measured.map(Amount::millis);
            if rule.key.bound == Bound::Max && measured.is_some_and(|m| m.value > limit) {
                let mut slow: Vec<_> = values
                    .into_iter()
                    .filter(|(d, _)| Amount::millis(Millis(*d)).value > limit)
                    .collect();
                // Slowest first: they are the ones to look at.
                slow.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.id.cmp(&b.1.id)));
                offenders = slow
                    .into_iter()
                    .map(|(d, c)| {
                        let amount = Amount::millis(Millis(d));
                        offender(c, amount, format!("{what} {amount}; {}", describe_close(c)))
                    })
                    .collect();
            }
            measured
        }
    };
    let too_few = (selected.len() as u64) < rule.min_selected;
    let broken = too_few
        || measured.is_some_and(|m| match rule.key.bound {
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
    let conns: Vec<ConnectionRecord> = report.connections.records().collect();
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
