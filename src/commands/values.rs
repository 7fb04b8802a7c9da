//! The value parsers of every numeric option, so each value is checked once, when the
//! command line is parsed, and a bad one is clap's one-line `error: invalid value …` with
//! exit status 2: never a panic further on, never a check in a command's body.
//!
//! | kind | parser | accepted |
//! | --- | --- | --- |
//! | seconds (`--msl`, `--idle-timeout`, `--duration`, `--interval`) | [`seconds`] | 1e-9 (1 ns) to [`SECONDS_MAX`] (≈292 years), fractions allowed |
//! | whole counts (`--top`, `--threads`, `--max-connections`, `-c`, `--conn`, …) | [`whole`] | a range per option |
//! | `check`'s limits (`--max-rst`, `--max-handshake-p99-ms`, …) | [`limit`] | counts ≥ 0; milliseconds ≥ 0 with up to 6 decimals |
//! | snapshot length (`capture -s`) | [`snaplen`] | 0 to [`SNAPLEN_MAX`]; 0 means the maximum, as tcpdump |
//!
//! Numeric options also take `allow_hyphen_values`, so that `--msl -1` and `--msl -inf`
//! reach the parser (and its message) instead of being read as unknown flags (`-i`…).

use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

use synack::check::{Amount, Unit};

/// The longest duration an option takes, in seconds: the span of a nanosecond timestamp
/// (`i64::MAX` ns, ≈292 years). Longer is "never" for any capture, and past it the
/// arithmetic on times would have to saturate.
pub const SECONDS_MAX: f64 = 9_223_372_036.0;

/// libpcap's largest snapshot length (its MAXIMUM_SNAPLEN), which tcpdump also caps `-s` at.
pub const SNAPLEN_MAX: i32 = 262_144;

/// The largest kernel buffer `-B` takes, in KiB: libpcap takes the size in bytes as a C int.
pub const BUFFER_KIB_MAX: i32 = i32::MAX / 1024;

/// The most threads `report --threads` starts.
pub const THREADS_MAX: usize = 1024;

/// A duration in seconds: a finite number from 1 ns to [`SECONDS_MAX`], fractions allowed
/// (`60`, `0.5`, `1e3`). NaN, infinities, zero, negatives and anything shorter than a
/// nanosecond are refused.
pub fn seconds(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "expected a number of seconds from 0.000000001 to {SECONDS_MAX} (1 ns to about 292 years), found `{text}`"
        )
    };
    let secs: f64 = text.parse().map_err(|_| bad())?;
    // Written so that NaN fails it too.
    if !(secs > 0.0 && secs <= SECONDS_MAX) {
        return Err(bad());
    }
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(bad()),
    }
}

/// A whole number from `min` to `max` (`None`: as large as `T` holds). No sign, exponent
/// or fraction: `1e3` and `2.0` are refused.
pub fn whole<T>(
    min: T,
    max: Option<T>,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: FromStr + PartialOrd + Display + Copy + Send + Sync + 'static,
{
    move |text: &str| {
        let bad = || match max {
            Some(max) => format!("expected a whole number from {min} to {max}, found `{text}`"),
            None => format!("expected a whole number ≥ {min}, found `{text}`"),
        };
        let n: T = text.parse().map_err(|_| bad())?;
        if n < min || max.is_some_and(|max| n > max) {
            return Err(bad());
        }
        Ok(n)
    }
}

/// A limit of `synack check` in the unit of its metric: a whole count ≥ 0, or
/// milliseconds ≥ 0 with up to nanosecond decimals (the parser the rules file uses too).
pub fn limit(unit: Unit) -> impl Fn(&str) -> Result<Amount, String> + Clone + Send + Sync {
    move |text: &str| Amount::parse(unit, text)
}

/// A snapshot length in bytes, 0 to [`SNAPLEN_MAX`], where 0 means [`SNAPLEN_MAX`] (as
/// tcpdump's `-s 0`, and as libpcap takes 0).
pub fn snaplen(text: &str) -> Result<i32, String> {
    let n = whole(0, Some(SNAPLEN_MAX))(text)?;
    Ok(if n == 0 { SNAPLEN_MAX } else { n })
}

/// `capture -C`: a file size in tcpdump's unit, millions of bytes (1,000,000), or with a
/// `k`, `m` or `g` suffix in KiB, MiB or GiB as tcpdump 4.99 takes it; a whole number ≥ 1.
/// Returned in bytes.
pub fn file_size(text: &str) -> Result<u64, String> {
    let bad = || {
        format!("expected a whole number ≥ 1 of millions of bytes, or with k, m or g (KiB, MiB, GiB), found `{text}`")
    };
    let (digits, unit) = match text.char_indices().last() {
        Some((i, 'k' | 'K')) => (&text[..i], 1u64 << 10),
        Some((i, 'm' | 'M')) => (&text[..i], 1 << 20),
        Some((i, 'g' | 'G')) => (&text[..i], 1 << 30),
        _ => (text, 1_000_000),
    };
    let n = whole(1u64, None)(digits).map_err(|_| bad())?;
    n.checked_mul(unit).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_sizes_are_tcpdumps_units() {
        assert_eq!(file_size("1"), Ok(1_000_000));
        assert_eq!(file_size("10k"), Ok(10_240));
        assert_eq!(file_size("2M"), Ok(2 << 20));
        assert_eq!(file_size("1g"), Ok(1 << 30));
        for bad in ["", "0", "k", "-1", "1.5", "1t", "99999999999999999999"] {
            assert!(file_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn seconds_take_fractions_and_refuse_what_no_duration_is() {
        assert_eq!(seconds("60"), Ok(Duration::from_secs(60)));
        assert_eq!(seconds("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(seconds("1e3"), Ok(Duration::from_secs(1000)));
        assert_eq!(seconds("0.000000001"), Ok(Duration::from_nanos(1)));
        assert!(seconds("9223372036").is_ok());
        for bad in [
            "",
            " 60",
            "nan",
            "NaN",
            "inf",
            "-inf",
            "infinity",
            "-1",
            "-0",
            "0",
            "0.0",
            "1e-12",
            "1e300",
            "9223372037",
            "sixty",
            "60s",
        ] {
            let e = seconds(bad).expect_err(bad);
            assert!(e.ends_with(&format!("found `{bad}`")), "{e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn whole_numbers_hold_to_their_range() {
        let at_least_one = whole(1u64, None);
        assert_eq!(at_least_one("1"), Ok(1));
        assert_eq!(at_least_one("18446744073709551615"), Ok(u64::MAX));
        for bad in [
            "",
            "0",
            "-1",
            "nan",
            "inf",
            "1e300",
            "1.5",
            "18446744073709551616",
        ] {
            assert_eq!(
                at_least_one(bad),
                Err(format!("expected a whole number ≥ 1, found `{bad}`"))
            );
        }
        let threads = whole(0usize, Some(THREADS_MAX));
        assert_eq!(threads("0"), Ok(0));
        assert_eq!(threads("1024"), Ok(1024));
        assert_eq!(
            threads("1025"),
            Err("expected a whole number from 0 to 1024, found `1025`".to_string())
        );
    }

    #[test]
    fn snaplen_zero_is_the_maximum() {
        assert_eq!(snaplen("0"), Ok(SNAPLEN_MAX));
        assert_eq!(snaplen("96"), Ok(96));
        assert_eq!(snaplen("262144"), Ok(262_144));
        assert!(snaplen("262145").is_err());
        assert!(snaplen("-1").is_err());
    }

    #[test]
    fn limits_parse_as_the_rules_file_does() {
        assert_eq!(limit(Unit::Count)("0"), Ok(Amount::count(0)));
        assert_eq!(limit(Unit::Millis)("2.5").map(|a| a.value), Ok(2_500_000));
        for bad in ["", "nan", "inf", "-1", "1e300"] {
            assert!(limit(Unit::Millis)(bad).is_err(), "{bad}");
            assert!(limit(Unit::Count)(bad).is_err(), "{bad}");
        }
    }
}
