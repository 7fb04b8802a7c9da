//! Times and durations as synack writes them: exact decimal numbers in JSON.

use std::time::Duration;

use serde::ser::{Serialize, Serializer};

use crate::model::time::Timestamp;

/// A timestamp in JSON: epoch seconds with all nine fractional digits, as a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct JsonTime(pub Timestamp);

impl Serialize for JsonTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        exact_number(&self.0.to_string(), s)
    }
}

/// A duration in milliseconds with nanosecond digits, as an exact JSON number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Millis(pub Duration);

impl Millis {
    pub fn as_f64(self) -> f64 {
        self.0.as_nanos() as f64 / 1e6
    }
}

/// `n` in decimal, zero-padded to at least `width` digits, appended to `out`: what
/// `write!(out, "{n:0width$}")` writes, without the formatting machinery (printers of
/// hundreds of thousands of rows write millions of numbers).
#[inline]
pub fn push_decimal(out: &mut String, n: u64, width: usize) {
    if n < 10 && width <= 1 {
        out.push(char::from(b'0' + n as u8));
        return;
    }
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    let mut n = n;
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for _ in buf.len() - at..width {
        out.push('0');
    }
    for &digit in &buf[at..] {
        out.push(char::from(digit));
    }
}

/// Below this many nanoseconds a duration in milliseconds or seconds with three
/// decimals is rounded in integers exactly as `{:.3}` rounds its `f64` (11.6 days: the
/// float's error stays under a nanosecond, the least distance from a rounding tie).
const EXACT_DECIMALS_BELOW_NS: u64 = 1_000_000_000_000_000;

/// `{:.3}` of `ns` divided by `unit_ns` as `f64` (`Millis::as_f64`, and that over 1000
/// for seconds), appended to `out`. Rounded in integers below 11.6 days unless the value
/// lies on a tie, where the float's own rounding (to its binary value) decides.
pub fn push_3_decimals(out: &mut String, d: Duration, seconds: bool) {
    let float = |out: &mut String| {
        use std::fmt::Write as _;
        let ms = Millis(d).as_f64();
        let _ = if seconds {
            write!(out, "{:.3}", ms / 1000.0)
        } else {
            write!(out, "{ms:.3}")
        };
    };
    let Ok(ns) = u64::try_from(d.as_nanos()) else {
        return float(out);
    };
    let step = if seconds { 1_000_000 } else { 1_000 };
    let (q, r) = (ns / step, ns % step);
    if ns >= EXACT_DECIMALS_BELOW_NS || r == step / 2 {
        return float(out);
    }
    let thousandths = q + u64::from(r > step / 2);
    push_decimal(out, thousandths / 1000, 1);
    out.push('.');
    push_decimal(out, thousandths % 1000, 3);
}

impl std::fmt::Display for Millis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ns = self.0.as_nanos();
        write!(f, "{}.{:06}", ns / 1_000_000, ns % 1_000_000)
    }
}

impl Serialize for Millis {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        exact_number(&self.to_string(), s)
    }
}

/// A duration in seconds with nanosecond digits, as an exact JSON number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Seconds(pub Duration);

impl std::fmt::Display for Seconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:09}", self.0.as_secs(), self.0.subsec_nanos())
    }
}

impl Serialize for Seconds {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        exact_number(&self.to_string(), s)
    }
}

fn exact_number<S: Serializer>(text: &str, s: S) -> Result<S::Ok, S::Error> {
    match text.parse::<serde_json::Number>() {
        Ok(n) => n.serialize(s),
        Err(_) => s.serialize_str(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_as_format_writes_them() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut values: Vec<u64> = (0..200_000)
            .map(|_| next() % 2_000_000_000_000_000)
            .collect();
        values.extend((0..200_000).map(|_| next() % 10_000_000_000));
        // Around the ties of both units, and around the integer-rounding limit.
        for base in [0u64, 1_000_000, 123_456_789_000, 999_999_999_999_999] {
            for d in [499, 500, 501, 499_999, 500_000, 500_001, 999_500, 1_000_500] {
                values.push(base + d);
            }
        }
        values.extend([0, 1, 9_999_499, 9_999_500, 9_999_501, u64::MAX]);
        let mut out = String::new();
        for ns in values {
            let d = Duration::from_nanos(ns);
            for (len, seconds) in [(5, false), (3, true)] {
                out.clear();
                push_3_decimals(&mut out, d, seconds);
                let ms = Millis(d).as_f64();
                let expected = if seconds {
                    format!("{:.3}", ms / 1000.0)
                } else {
                    format!("{ms:.3}")
                };
                assert_eq!(out, expected, "{ns} ns, seconds: {seconds} ({len})");
            }
            out.clear();
            push_decimal(&mut out, ns, 0);
            assert_eq!(out, ns.to_string());
            out.clear();
            push_decimal(&mut out, ns % 1000, 6);
            assert_eq!(out, format!("{:06}", ns % 1000));
        }
    }
}
