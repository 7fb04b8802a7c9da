//! Rules: a limit on one figure, with a filter and a severity; and the TOML rules file
//! that gives them (docs/check.md).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use serde::ser::{Serialize, Serializer};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::check::metrics::{limit_key, limit_keys, LimitKey};
use crate::check::{parse_millis, Amount, Unit};

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
    /// The rule breaks when its filter selects fewer connections than this (`min-selected`
    /// in a `[[rule]]`): a filter that matches nothing proves nothing.
    #[serde(skip_serializing_if = "is_zero")]
    pub min_selected: u64,
    /// Where it was given: `--max-rst`, or `rules.toml:7`.
    pub origin: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
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
            min_selected: 0,
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

const FILTER_KEYS: [&str; 5] = [
    "server-port",
    "server-addr",
    "client-port",
    "client-addr",
    "min-selected",
];

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
        let mut min_selected = 0;
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
                "min-selected" => {
                    min_selected = match value.get_ref() {
                        DeValue::Integer(i) => u64::from_str_radix(i.as_str(), i.radix())
                            .map_err(|_| format!("expected a whole number ≥ 0, found {i}")),
                        other => Err(format!(
                            "expected a whole number ≥ 0, found {}",
                            other.type_str()
                        )),
                    }
                    .map_err(|m| self.value_error(key.get_ref(), value, m))?
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
                min_selected,
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
