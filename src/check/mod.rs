//! `synack check`: limits on the figures of a report, evaluated into a verdict per trace.
//!
//! Every figure a rule checks is read from the report model
//! ([`crate::model::report::Report`], [`crate::model::connection_record::ConnectionRecord`]) by
//! the functions of [`crate::model::figures`]; nothing here looks at a packet. A rule's
//! measured value is summed (or, for latencies, ranked) over the connections its filter
//! selects, so one definition serves filtered and unfiltered rules; unfiltered, it is
//! exactly the summary figure of `synack report` (a unit test holds every fixture to
//! that). docs/check.md is the user's side of this module.

pub mod eval;
pub mod metrics;
pub mod rules;

use std::fmt;
use std::time::Duration;

use serde::ser::{Serialize, Serializer};

use crate::model::units::Millis;

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

#[cfg(test)]
mod tests {
    use super::eval::*;
    use super::metrics::*;
    use super::rules::*;
    use super::*;
    use crate::analysis::analyzer::{analyze_paths, Options};
    use crate::model::report::Report;
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
        check_report(
            path,
            &report,
            Reading::Complete,
            rules,
            None,
            Duration::ZERO,
        )
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
            let verdict = check_report(
                "x",
                &report,
                Reading::Complete,
                &rules,
                None,
                Duration::ZERO,
            );
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

    /// JSON's offenders (every one; marked among the records and made again as they are
    /// listed, when they outnumber half the connections) are those a verdict that keeps
    /// them as it goes lists, in the same order, on every fixture.
    #[test]
    fn offenders_listed_from_the_records_are_those_kept_as_found() {
        let mut paths = Vec::new();
        all_fixtures(&fixture(""), &mut paths);
        // Every limit at zero: most connections break several, so most fixtures list
        // more offenders than half their connections.
        let rules: Vec<Rule> = limit_keys()
            .map(|k| {
                let zero = Amount {
                    unit: k.metric.unit(),
                    value: 0,
                };
                Rule::from_flag(k, zero)
            })
            .collect();
        let mut listed = 0;
        for path in paths {
            let report = report_of(&path);
            let check = |listed| {
                check_report(
                    "x",
                    &report,
                    Reading::Complete,
                    &rules,
                    listed,
                    Duration::ZERO,
                )
            };
            let (all, kept) = (check(None), check(Some(usize::MAX)));
            for (a, k) in all.rules.iter().zip(&kept.rules) {
                let json = |r: &RuleResult| serde_json::to_string(r).expect("serializes");
                assert_eq!(json(a), json(k), "{} in {}", a.title, path.display());
                assert_eq!(a.offenders.len(), a.offenders.to_vec().len());
                listed += a.offenders.len();
            }
        }
        assert!(listed > 1000, "{listed} offenders listed");
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
        let offenders = over.offenders.to_vec();
        let ids: Vec<u64> = offenders.iter().map(|o| o.id).collect();
        assert_eq!(ids, [4, 7]);
        assert!(
            offenders[0].what.contains("refused"),
            "{}",
            offenders[0].what
        );
        assert!(offenders[1]
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
        assert!(v.rules[1].offenders.to_vec()[0]
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
            None,
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
            None,
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
