//! Evaluation: each rule measured over the connections its filter selects, into a verdict
//! per trace.

use std::fmt;
use std::time::Duration;

use crate::check::metrics::{count_what, describe_close, Bound, Measure};
use crate::check::rules::{Rule, Severity};
use crate::check::Amount;
use crate::model::connection_record::ConnectionRecord;
use crate::model::report::Report;
use crate::model::summary::Samples;
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
    /// The connections that broke the rule (none for a minimum, which no one connection
    /// breaks): all of them, or the first that the verdict lists (`check_report`).
    pub offenders: Vec<Offender>,
    /// How many connections broke the rule, listed or not.
    #[serde(skip)]
    pub offending: u64,
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

/// One rule's measure so far, folded one record at a time: what the verdict needs and no
/// more (the count or the latency samples, and the offenders it will list, by index).
struct Tally<'r> {
    rule: &'r Rule,
    selected: u64,
    /// Offenders kept: at most `listed` of them (all with `None`).
    listed: Option<usize>,
    /// Connections that broke the rule, kept or not.
    offending: u64,
    measure: TallyOf,
}

enum TallyOf {
    /// The sum so far, and the first offenders (each with what it contributed) in id
    /// order: the records' own order.
    Count { total: u64, kept: Vec<(u64, u32)> },
    /// The samples (`None` for an unfiltered rule: the report's summary has them), and
    /// the slowest connections over the limit.
    Latency {
        samples: Option<Samples>,
        slow: Vec<(Duration, u64, u32)>,
    },
}

impl<'r> Tally<'r> {
    fn new(rule: &'r Rule, listed: Option<usize>) -> Self {
        let measure = match rule.key.metric.measure {
            Measure::Count { .. } => TallyOf::Count {
                total: 0,
                kept: Vec::new(),
            },
            Measure::Latency { .. } => TallyOf::Latency {
                samples: (!rule.filter.is_empty()).then(Samples::default),
                slow: Vec::new(),
            },
        };
        Tally {
            rule,
            selected: 0,
            listed,
            offending: 0,
            measure,
        }
    }

    /// Folds the connection at `index` in.
    fn add(&mut self, index: usize, c: &ConnectionRecord) {
        let rule = self.rule;
        if !(rule.filter.is_empty() || rule.filter.matches(c.client, c.server)) {
            return;
        }
        self.selected += 1;
        let max = rule.key.bound == Bound::Max;
        // Records number in the millions at most; an index past u32 keeps no offender.
        let at = u32::try_from(index).unwrap_or(u32::MAX);
        match (&mut self.measure, rule.key.metric.measure) {
            (TallyOf::Count { total, kept }, Measure::Count { of, .. }) => {
                let n = of(c);
                *total = total.saturating_add(n);
                // A minimum is broken by no one connection.
                if max && n > 0 {
                    self.offending += 1;
                    if self.listed.is_none_or(|l| kept.len() < l) {
                        kept.push((n, at));
                    }
                }
            }
            (TallyOf::Latency { samples, slow }, Measure::Latency { of, .. }) => {
                let Some(d) = of(c) else {
                    return;
                };
                if let Some(s) = samples {
                    s.push(d);
                }
                if max && Amount::millis(Millis(d)).value > rule.limit.value {
                    self.offending += 1;
                    slow.push((d, c.id, at));
                    // Keep the slowest `listed`: trimmed when twice that, so that the
                    // sort is paid once per `listed` offenders.
                    if let Some(l) = self.listed {
                        if slow.len() >= 2 * l.max(16) {
                            slowest_first(slow);
                            slow.truncate(l);
                        }
                    }
                }
            }
            _ => unreachable!("a tally is made for its rule's measure"),
        }
    }

    /// The rule's result; the report gives the offenders' records back by index, and an
    /// unfiltered latency its distribution.
    fn finish(self, report: &Report, reading: &Reading) -> RuleResult {
        let rule = self.rule;
        let limit = rule.limit.value;
        let records = &report.connections;
        let (measured, offenders, broken_max) = match (self.measure, rule.key.metric.measure) {
            (TallyOf::Count { total, kept }, Measure::Count { what, .. }) => {
                let broken = rule.key.bound == Bound::Max && total > limit;
                let offenders = if broken {
                    kept.into_iter()
                        .map(|(n, at)| {
                            let c = records.record(at as usize);
                            offender(&c, Amount::count(n), what(&c))
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                (Some(Amount::count(total)), offenders, broken)
            }
            (
                TallyOf::Latency { samples, mut slow },
                Measure::Latency {
                    pick,
                    what,
                    summary,
                    ..
                },
            ) => {
                let measured = match samples {
                    Some(s) => pick(&s.distribution()),
                    None => pick(summary(&report.summary)),
                };
                let measured = measured.map(Amount::millis);
                let broken =
                    rule.key.bound == Bound::Max && measured.is_some_and(|m| m.value > limit);
                let offenders = if broken {
                    slowest_first(&mut slow);
                    if let Some(l) = self.listed {
                        slow.truncate(l);
                    }
                    slow.into_iter()
                        .map(|(d, _, at)| {
                            let c = records.record(at as usize);
                            let amount = Amount::millis(Millis(d));
                            let text = format!("{what} {amount}; {}", describe_close(&c));
                            offender(&c, amount, text)
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                (measured, offenders, broken)
            }
            _ => unreachable!("a tally is made for its rule's measure"),
        };
        let offending = if broken_max { self.offending } else { 0 };
        let too_few = self.selected < rule.min_selected;
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
        let (offenders, offending) = if status == Status::Error {
            (Vec::new(), 0)
        } else {
            (offenders, offending)
        };
        RuleResult {
            title: rule.title(),
            rule: rule.clone(),
            figure: rule.key.metric.figure,
            status,
            measured,
            connections: self.selected,
            offenders,
            offending,
        }
    }
}

/// Slowest first, then by id: the ones to look at first.
fn slowest_first(slow: &mut [(Duration, u64, u32)]) {
    slow.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
}

/// Checks one trace's report against every rule, in one pass over its records (made one
/// at a time from their packed form, and dropped once every rule has folded them in).
/// Each rule keeps its sum or latency samples and, of its offenders, the first `listed`
/// (all with `None`: JSON lists them all), so memory does not grow with the trace.
pub fn check_report(
    file: &str,
    report: &Report,
    reading: Reading,
    rules: &[Rule],
    listed: Option<usize>,
    elapsed: Duration,
) -> FileVerdict {
    let mut tallies: Vec<Tally> = rules.iter().map(|r| Tally::new(r, listed)).collect();
    let records = &report.connections;
    for index in 0..records.len() {
        let c = records.record(index);
        for t in &mut tallies {
            t.add(index, &c);
        }
    }
    let results: Vec<RuleResult> = tallies
        .into_iter()
        .map(|t| t.finish(report, &reading))
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
