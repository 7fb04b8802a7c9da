//! Evaluation: each rule measured over the connections its filter selects, into a verdict
//! per trace.

use std::fmt;
use std::time::Duration;

use crate::check::metrics::{count_what, describe_close, Bound, Measure};
use crate::check::rules::{Rule, Severity};
use crate::check::Amount;
use crate::model::connection_record::ConnectionRecord;
use crate::model::report::{ConnectionList, Report};
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
    pub offenders: Offenders,
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

/// `c` as an offender of a count: what it contributed.
fn count_offender(c: &ConnectionRecord, n: u64, what: fn(&ConnectionRecord) -> String) -> Offender {
    offender(c, Amount::count(n), what(c))
}

/// `c` as an offender of a latency limit: its latency, and how it ended.
fn latency_offender(c: &ConnectionRecord, d: Duration, what: &str) -> Offender {
    let amount = Amount::millis(Millis(d));
    let text = format!("{what} {amount}; {}", describe_close(c));
    offender(c, amount, text)
}

/// The offenders of a rule, in the order the verdict lists them: a count's by id, a
/// latency's slowest first.
#[derive(Clone, Debug, Default)]
pub struct Offenders(Listing);

#[derive(Clone, Default)]
enum Listing {
    #[default]
    None,
    /// Made when the rule was evaluated.
    Made(Vec<Offender>),
    /// Marked among the report's records, and made again from them as they are read: a
    /// verdict of many rules broken by most connections lists more offenders than the
    /// trace has connections (`synack check --format json`), each a few times the size of
    /// the connection's packed record.
    Marked {
        records: ConnectionList,
        marks: Marks,
        measure: Measure,
    },
}

impl fmt::Debug for Listing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Listing::None => f.write_str("[]"),
            Listing::Made(list) => f.debug_list().entries(list).finish(),
            Listing::Marked { marks, .. } => write!(f, "{} marked records", marks.count),
        }
    }
}

impl Offenders {
    pub fn new(list: Vec<Offender>) -> Self {
        Offenders(Listing::Made(list))
    }

    pub fn len(&self) -> usize {
        match &self.0 {
            Listing::None => 0,
            Listing::Made(list) => list.len(),
            Listing::Marked { marks, .. } => marks.count,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Each offender, made as it is reached.
    pub fn iter(&self) -> Box<dyn Iterator<Item = Offender> + '_> {
        match &self.0 {
            Listing::None => Box::new(std::iter::empty()),
            Listing::Made(list) => Box::new(list.iter().cloned()),
            Listing::Marked {
                records,
                marks,
                measure: Measure::Count { of, what },
            } => Box::new(marks.indices().map(move |at| {
                let c = records.record(at);
                count_offender(&c, of(&c), *what)
            })),
            Listing::Marked {
                records,
                marks,
                measure: Measure::Latency { of, what, .. },
            } => {
                // Ranked first: the slowest are listed first, wherever they are.
                let mut slow: Vec<(Duration, u64, u32)> = marks
                    .indices()
                    .filter_map(|at| {
                        let c = records.record(at);
                        Some((of(&c)?, c.id, at as u32))
                    })
                    .collect();
                slowest_first(&mut slow);
                Box::new(
                    slow.into_iter().map(move |(d, _, at)| {
                        latency_offender(&records.record(at as usize), d, what)
                    }),
                )
            }
        }
    }

    /// Every offender, made now.
    pub fn to_vec(&self) -> Vec<Offender> {
        self.iter().collect()
    }
}

impl serde::Serialize for Offenders {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // One at a time: a JSON verdict of many offenders is written without holding them.
        s.collect_seq(self.iter())
    }
}

/// A set of record indices, a bit each: a rule's offenders among a report's records.
#[derive(Clone, Default)]
struct Marks {
    words: Vec<u64>,
    count: usize,
}

impl Marks {
    /// Marks `index` of `len` records (indices come in increasing order).
    fn mark(&mut self, index: usize, len: usize) {
        if self.words.is_empty() {
            // Sized at the first offender: a rule that none breaks costs nothing.
            self.words = vec![0; len.div_ceil(64)];
        }
        self.words[index / 64] |= 1 << (index % 64);
        self.count += 1;
    }

    fn indices(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(w, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                (rest != 0).then(|| {
                    let bit = rest.trailing_zeros() as usize;
                    rest &= rest - 1;
                    w * 64 + bit
                })
            })
        })
    }
}

/// One rule's measure so far, folded one record at a time: what the verdict needs and no
/// more (the count or the latency samples, and the offenders it will list, by index).
struct Tally<'r> {
    rule: &'r Rule,
    selected: u64,
    /// Offenders kept: at most `listed` of them; with `None` every one, in `marks`.
    listed: Option<usize>,
    /// Connections that broke the rule, kept or not.
    offending: u64,
    measure: TallyOf,
    /// Every offender, when all are listed.
    marks: Marks,
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
            marks: Marks::default(),
        }
    }

    /// Folds the connection at `index` of `len` in.
    fn add(&mut self, index: usize, len: usize, c: &ConnectionRecord) {
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
                    match self.listed {
                        None => self.marks.mark(index, len),
                        Some(l) if kept.len() < l => kept.push((n, at)),
                        Some(_) => {}
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
                    let Some(l) = self.listed else {
                        self.marks.mark(index, len);
                        return;
                    };
                    slow.push((d, c.id, at));
                    // Keep the slowest `listed`: trimmed when twice that, so that the
                    // sort is paid once per `listed` offenders.
                    if slow.len() >= 2 * l.max(16) {
                        slowest_first(slow);
                        slow.truncate(l);
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
        let marked = |marks| {
            Offenders(Listing::Marked {
                records: records.clone(),
                marks,
                measure: rule.key.metric.measure,
            })
        };
        let (measured, offenders, broken_max) = match (self.measure, rule.key.metric.measure) {
            (TallyOf::Count { total, kept }, Measure::Count { what, .. }) => {
                let broken = rule.key.bound == Bound::Max && total > limit;
                let offenders = match (broken, self.listed) {
                    (false, _) => Offenders::default(),
                    (true, None) => marked(self.marks),
                    (true, Some(_)) => Offenders::new(
                        kept.into_iter()
                            .map(|(n, at)| count_offender(&records.record(at as usize), n, what))
                            .collect(),
                    ),
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
                let offenders = match (broken, self.listed) {
                    (false, _) => Offenders::default(),
                    (true, None) => marked(self.marks),
                    (true, Some(l)) => {
                        slowest_first(&mut slow);
                        slow.truncate(l);
                        Offenders::new(
                            slow.into_iter()
                                .map(|(d, _, at)| {
                                    latency_offender(&records.record(at as usize), d, what)
                                })
                                .collect(),
                        )
                    }
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
            (Offenders::default(), 0)
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
/// Each rule keeps its sum or latency samples and, of its offenders, the first `listed`;
/// with `None` (JSON lists them all) a bit per record, and the verdict lists them from
/// the report's records, shared with it, as it is written: memory does not grow with the
/// trace or the number of rules. When they are fewer than half the connections, they are
/// made at once, and the records are not held (so that a verdict on many traces holds
/// none of a trace with few offenders).
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
    let len = records.len();
    for index in 0..len {
        let c = records.record(index);
        for t in &mut tallies {
            t.add(index, len, &c);
        }
    }
    let mut results: Vec<RuleResult> = tallies
        .into_iter()
        .map(|t| t.finish(report, &reading))
        .collect();
    let listed_all: usize = results.iter().map(|r| r.offenders.len()).sum();
    if listed_all <= len / 2 {
        for r in &mut results {
            if matches!(r.offenders.0, Listing::Marked { .. }) {
                r.offenders = Offenders::new(r.offenders.to_vec());
            }
        }
    }
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
    use std::path::Path;

    use super::*;
    use crate::analysis::analyzer::{analyze_paths, Options};
    use crate::check::metrics::limit_key;

    #[test]
    fn marks_give_back_their_indices_in_order() {
        let mut marks = Marks::default();
        let marked = [0, 1, 63, 64, 127, 128, 200];
        for &i in &marked {
            marks.mark(i, 201);
        }
        assert_eq!(marks.count, marked.len());
        assert_eq!(marks.words.len(), 4);
        assert_eq!(marks.indices().collect::<Vec<_>>(), marked);
        assert_eq!(Marks::default().indices().count(), 0);
    }

    fn sample_verdict(limit: &str, value: u64) -> FileVerdict {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample.pcap");
        let report = Report::build(analyze_paths(&[path], &Options::default()));
        let key = limit_key(limit).expect("known limit");
        let rule = Rule::from_flag(key, Amount::count(value));
        check_report(
            "x",
            &report,
            Reading::Complete,
            &[rule],
            None,
            Duration::ZERO,
        )
    }

    /// sample.pcap: 8 connections, 2 with a RST.
    #[test]
    fn offenders_of_most_connections_are_listed_from_the_records() {
        let every = sample_verdict("max-connections", 0);
        let offenders = &every.rules[0].offenders;
        assert!(
            matches!(offenders.0, Listing::Marked { .. }),
            "{offenders:?}"
        );
        let ids: Vec<u64> = offenders.iter().map(|o| o.id).collect();
        assert_eq!(ids, (1..=8).collect::<Vec<_>>());
        let few = sample_verdict("max-rst", 0);
        assert!(matches!(few.rules[0].offenders.0, Listing::Made(_)));
        assert_eq!(few.rules[0].offenders.len(), 2);
    }
}
