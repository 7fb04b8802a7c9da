//! Zeek's two text forms of conn.log, from the columns of `output::records`: the ASCII log
//! (`--format zeek`, tab-separated with Zeek's `#` header lines, which zeek-cut and every
//! conn.log reader take) and the JSON log (`--format zeek-json`, one object per line with
//! Zeek's dotted keys, unset fields left out). Written one record at a time.

use std::io::{self, Write};
use std::net::IpAddr;

use crate::model::report::Report;
use crate::model::time::Timestamp;
use crate::output::records::{self, RecordOptions, Row, Spell, Value, COLUMNS};

/// `--format zeek`: the header, one line per connection, `#close`.
pub fn write_log<W: Write>(out: &mut W, report: &Report, opts: &RecordOptions) -> io::Result<()> {
    let (open, close) = log_times(report);
    out.write_all(log_header(open).as_bytes())?;
    records::write_rows(out, report, opts, tsv_line)?;
    out.write_all(log_close(close).as_bytes())
}

/// The header lines of an ASCII conn.log opened at `open`.
pub fn log_header(open: Timestamp) -> String {
    let mut head = String::from("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n");
    head.push_str("#unset_field\t-\n#path\tconn\n");
    head.push_str(&format!("#open\t{}\n#fields", zeek_date(open)));
    for c in COLUMNS {
        head.push('\t');
        head.push_str(c.name);
    }
    head.push_str("\n#types");
    for c in COLUMNS {
        head.push('\t');
        head.push_str(c.zeek_type.as_str());
    }
    head.push('\n');
    head
}

/// The `#close` line of an ASCII conn.log.
pub fn log_close(close: Timestamp) -> String {
    format!("#close\t{}\n", zeek_date(close))
}

/// One record as a line of the ASCII log.
pub fn tsv_line(row: &Row<'_>, line: &mut Vec<u8>) {
    line.reserve(LINE_RESERVE);
    records::each_value(row, &mut Tsv(line));
    // The last tab ends the line.
    if let Some(last) = line.last_mut() {
        *last = b'\n';
    }
}

/// Each value and a tab.
struct Tsv<'b>(&'b mut Vec<u8>);

impl Spell for Tsv<'_> {
    #[inline(always)]
    fn value(&mut self, _key: &'static str, v: Value<'_>) {
        tsv_value(self.0, v);
        self.0.push(b'\t');
    }
}

/// Room made for a line before it is written (most are 400-700 bytes).
const LINE_RESERVE: usize = 2048;

/// One record as a line of the JSON log.
pub fn json_line(row: &Row<'_>, line: &mut Vec<u8>) {
    line.reserve(LINE_RESERVE * 2);
    line.push(b'{');
    let start = line.len();
    records::each_value(
        row,
        &mut Json {
            line: &mut *line,
            start,
        },
    );
    line.extend_from_slice(b"}\n");
}

/// Each set value with its key, after a comma but the first. The keys are the columns'
/// names as they are: they need no escaping (a test holds them to `json_string`).
struct Json<'b> {
    line: &'b mut Vec<u8>,
    start: usize,
}

impl Spell for Json<'_> {
    #[inline(always)]
    fn value(&mut self, key: &'static str, v: Value<'_>) {
        if v == Value::Unset {
            return;
        }
        let key = key.as_bytes();
        let first = usize::from(self.line.len() == self.start);
        self.line.extend_from_slice(&key[first..]);
        json_value(self.line, v);
    }
}

/// `--format zeek-json`: one object per connection and line.
pub fn write_json<W: Write>(out: &mut W, report: &Report, opts: &RecordOptions) -> io::Result<()> {
    records::write_rows(out, report, opts, json_line)
}

/// `#open` and `#close`. Zeek writes the wall-clock times of opening and closing the log;
/// synack writes the capture's first and last packet times (UTC), so that one capture
/// always gives the same log. Without packets, the epoch.
fn log_times(report: &Report) -> (Timestamp, Timestamp) {
    let first = report.inputs.iter().filter_map(|i| i.first_packet).min();
    let last = report.inputs.iter().filter_map(|i| i.last_packet).max();
    let first = first.map_or(Timestamp::ZERO, |t| t.0);
    (first, last.map_or(first, |t| t.0))
}

/// Zeek's `%Y-%m-%d-%H-%M-%S`.
fn zeek_date(t: Timestamp) -> String {
    let s = t.utc_string(); // "YYYY-MM-DD HH:MM:SS.ffffff"
    s.get(..19).unwrap_or(&s).replace([' ', ':'], "-")
}

#[inline(always)]
fn tsv_value(out: &mut Vec<u8>, v: Value<'_>) {
    match v {
        Value::Unset => out.push(b'-'),
        Value::Time(t) => records::write_time(out, t, false),
        Value::Interval(d) => records::write_interval(out, d, false),
        Value::Str(s) => plain_text(out, s),
        Value::Bytes(b) => tsv_text(out, b),
        Value::Addr(a) => write_addr(out, a),
        Value::Port(p) => out.extend_from_slice(itoa::Buffer::new().format(p).as_bytes()),
        Value::Count(n) => records::push_count(out, n),
        Value::Bool(b) => out.push(if b { b'T' } else { b'F' }),
        // Zeek's `#set_separator` is `,`.
        Value::Names(names) => {
            for (i, n) in names.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                tsv_text(out, n.as_bytes());
            }
        }
    }
}

/// Text synack chose (`Value::Str`: names, states, uids), which needs no escaping in
/// either format (`is_plain`; a test checks every such value of every fixture).
fn plain_text(out: &mut Vec<u8>, s: &str) {
    debug_assert!(is_plain(s), "{s:?} is not plain text");
    out.extend_from_slice(s.as_bytes());
}

/// Printable ASCII without `\\` or `"`, and not empty, `-` or `(empty)`: the same in a
/// TSV field and a JSON string as it is.
fn is_plain(s: &str) -> bool {
    !s.is_empty()
        && s != "-"
        && s != "(empty)"
        && s.bytes()
            .all(|b| (0x20..0x7f).contains(&b) && b != b'\\' && b != b'"')
}

/// Text in a TSV field: printable ASCII as is, any other byte (tab, newline, control,
/// non-ASCII) and the backslash as `\xNN`, as Zeek escapes them; an empty text is
/// `(empty)`, and a text that would read as the unset or empty mark has its first byte
/// escaped.
fn tsv_text(out: &mut Vec<u8>, text: &[u8]) {
    if text.is_empty() {
        out.extend_from_slice(b"(empty)");
        return;
    }
    let plain = |b: &u8| b.wrapping_sub(0x20) < 0x5f && *b != b'\\';
    let mark = match text.len() {
        1 => text[0] == b'-',
        7 => text == b"(empty)",
        _ => false,
    };
    if !mark && text.iter().all(plain) {
        out.extend_from_slice(text);
        return;
    }
    for (i, &b) in text.iter().enumerate() {
        if (0x20..0x7f).contains(&b) && b != b'\\' && !(mark && i == 0) {
            out.push(b);
        } else {
            hex_escape(out, b);
        }
    }
}

fn hex_escape(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(&[
        b'\\',
        b'x',
        HEX[usize::from(b >> 4)],
        HEX[usize::from(b & 15)],
    ]);
}

fn write_addr(out: &mut Vec<u8>, a: IpAddr) {
    records::push_addr(out, a);
}

#[inline(always)]
fn json_value(out: &mut Vec<u8>, v: Value<'_>) {
    match v {
        Value::Unset => out.extend_from_slice(b"null"),
        Value::Time(t) => records::write_time(out, t, true),
        Value::Interval(d) => records::write_interval(out, d, true),
        Value::Str(s) => {
            out.push(b'"');
            plain_text(out, s);
            out.push(b'"');
        }
        Value::Bytes(b) => json_string(out, b),
        Value::Addr(a) => {
            out.push(b'"');
            write_addr(out, a);
            out.push(b'"');
        }
        Value::Port(p) => out.extend_from_slice(itoa::Buffer::new().format(p).as_bytes()),
        Value::Count(n) => records::push_count(out, n),
        Value::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        Value::Names(names) => {
            out.push(b'[');
            for (i, n) in names.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json_string(out, n.as_bytes());
            }
            out.push(b']');
        }
    }
}

/// A JSON string of text from packets, kept as Zeek keeps it (`records::utf8_text`).
fn json_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    match std::str::from_utf8(bytes) {
        Ok(s) => json_escape(out, s),
        Err(_) => {
            let mut text = String::with_capacity(bytes.len() + 8);
            records::utf8_text(bytes, &mut text);
            json_escape(out, &text);
        }
    }
    out.push(b'"');
}

fn json_escape(out: &mut Vec<u8>, s: &str) {
    let needs = |b: u8| b < 0x20 || b == b'"' || b == b'\\' || b == 0x7f;
    if !s.bytes().any(needs) {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f | 0x7f => {
                let _ = write!(out, "\\u{b:04x}");
            }
            _ => out.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names_are_json_keys_as_they_are() {
        struct Keys(Vec<&'static str>);
        impl Spell for Keys {
            fn value(&mut self, key: &'static str, _: Value<'_>) {
                self.0.push(key);
            }
        }
        let record = &fixture_records("sample.pcap")[0];
        let mut keys = Keys(Vec::new());
        records::each_value(&Row::new(record, &RecordOptions::default()), &mut keys);
        assert_eq!(keys.0.len(), COLUMNS.len());
        for (c, key) in COLUMNS.iter().zip(keys.0) {
            let mut want = b",".to_vec();
            json_string(&mut want, c.name.as_bytes());
            want.push(b':');
            assert_eq!(key.as_bytes(), want, "{}", c.name);
        }
    }

    /// The records of the captures under `fixtures/` at `path` (a file or a folder).
    fn fixture_records(path: &str) -> Vec<crate::model::connection_record::ConnectionRecord> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let mut files = Vec::new();
        let mut todo = vec![root.join(path)];
        while let Some(p) = todo.pop() {
            if p.is_dir() {
                todo.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            } else if p
                .extension()
                .is_some_and(|e| e == "pcap" || e == "pcapng" || e == "cap")
            {
                files.push(p);
            }
        }
        files.sort();
        let mut records = Vec::new();
        for f in files {
            let finished = crate::analysis::pipeline::Pipeline::new(Default::default())
                .run_files(&[f], &mut crate::model::event::NoEvents);
            records.extend(finished.report.connections.records());
        }
        records
    }

    /// What `plain_text` writes unescaped needs no escaping, on every fixture.
    #[test]
    fn text_synack_chose_is_plain() {
        struct Check(usize);
        impl Spell for Check {
            fn value(&mut self, key: &'static str, v: Value<'_>) {
                if let Value::Str(s) = v {
                    assert!(is_plain(s), "{key}: {s:?}");
                    self.0 += 1;
                }
            }
        }
        let records = fixture_records(".");
        assert!(records.len() > 100, "{} records", records.len());
        let mut check = Check(0);
        for r in &records {
            records::each_value(&Row::new(r, &RecordOptions::default()), &mut check);
        }
        assert!(check.0 > records.len() * 10);
        // And it would catch what needs escaping.
        assert!(!is_plain("-") && !is_plain("a\tb") && !is_plain("a\"b") && !is_plain(""));
    }

    fn tsv(b: &[u8]) -> String {
        let mut out = Vec::new();
        tsv_text(&mut out, b);
        String::from_utf8(out).unwrap()
    }

    fn json(b: &[u8]) -> String {
        let mut out = Vec::new();
        json_string(&mut out, b);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn tsv_text_cannot_break_a_line_or_read_as_a_mark() {
        assert_eq!(tsv(b"www.example.org"), "www.example.org");
        assert_eq!(tsv(b"a\tb\nc"), "a\\x09b\\x0ac");
        assert_eq!(tsv(b"\\"), "\\x5c");
        assert_eq!(tsv(b"-"), "\\x2d");
        assert_eq!(tsv(b"--"), "--");
        assert_eq!(tsv(b""), "(empty)");
        assert_eq!(tsv(b"(empty)"), "\\x28empty)");
        assert_eq!(tsv("é".as_bytes()), "\\xc3\\xa9");
        assert_eq!(tsv(b"a,b"), "a,b");
    }

    #[test]
    fn json_strings_are_valid_json_whatever_the_bytes() {
        for (bytes, want) in [
            (&b"plain"[..], "plain"),
            (b"q\"uote\\", "q\"uote\\"),
            (b"\x1b[31m", "\u{1b}[31m"),
            ("é".as_bytes(), "é"),
            (b"a\xffb", "a\\xffb"),
        ] {
            let text = json(bytes);
            let back: String = serde_json::from_str(&text).expect(&text);
            assert_eq!(back, want, "{text}");
        }
    }

    #[test]
    fn zeek_dates() {
        assert_eq!(zeek_date(Timestamp::ZERO), "1970-01-01-00-00-00");
        assert_eq!(
            zeek_date(Timestamp::from_secs_nanos(1_767_225_600 + 3723, 5)),
            "2026-01-01-01-02-03"
        );
    }
}
