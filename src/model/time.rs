//! Capture timestamps.
//!
//! Kept as integer nanoseconds since the Unix epoch so that no digit of a nanosecond
//! capture is lost. Capture time is not monotonic in real files (clock steps, merged
//! captures), so intervals are taken with `checked_since`, never by plain subtraction.

use std::fmt;
use std::time::Duration;

use crate::model::units::push_decimal;

/// Nanoseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const ZERO: Timestamp = Timestamp(0);

    pub const fn from_nanos(nanos: i64) -> Self {
        Timestamp(nanos)
    }

    /// Seconds plus a sub-second part in nanoseconds; the sub-second part may exceed one
    /// second in malformed files (a microsecond field >= 10^6) and is added as it is,
    /// which is what tcpdump and tshark show for such records.
    pub fn from_secs_nanos(secs: i64, nanos: i64) -> Self {
        Timestamp(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
    }

    pub const fn as_nanos(self) -> i64 {
        self.0
    }

    /// The interval from `earlier` to `self`, or `None` when time went backwards.
    pub fn checked_since(self, earlier: Timestamp) -> Option<Duration> {
        let delta = self.0.checked_sub(earlier.0)?;
        u64::try_from(delta).ok().map(Duration::from_nanos)
    }

    /// `saturating_since(earlier) >= d`, in integers: for checks made per packet.
    #[inline]
    pub fn reached(self, earlier: Timestamp, d: Duration) -> bool {
        let d = i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        self.0.saturating_sub(earlier.0).max(0) >= d
    }

    /// Like `checked_since` but a backwards step counts as zero.
    pub fn saturating_since(self, earlier: Timestamp) -> Duration {
        self.checked_since(earlier).unwrap_or_default()
    }

    pub fn saturating_add(self, d: Duration) -> Timestamp {
        let add = i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        Timestamp(self.0.saturating_add(add))
    }

    pub fn secs(self) -> i64 {
        self.0.div_euclid(1_000_000_000)
    }

    pub fn subsec_nanos(self) -> u32 {
        self.0.rem_euclid(1_000_000_000) as u32
    }

    /// Wall-clock time of day in UTC, as tcpdump prints it: `HH:MM:SS.ffffff`.
    pub fn time_of_day(self, nanos: bool) -> String {
        let secs_of_day = self.secs().rem_euclid(86_400);
        let (h, m, s) = (secs_of_day / 3600, secs_of_day / 60 % 60, secs_of_day % 60);
        if nanos {
            format!("{h:02}:{m:02}:{s:02}.{:09}", self.subsec_nanos())
        } else {
            format!("{h:02}:{m:02}:{s:02}.{:06}", self.subsec_nanos() / 1000)
        }
    }

    /// `YYYY-MM-DD HH:MM:SS.ffffff` in UTC.
    pub fn utc_string(self) -> String {
        let mut out = String::with_capacity(26);
        self.push_utc(&mut out);
        out
    }

    /// [`Timestamp::utc_string`] appended to `out` (for printers of many rows).
    pub fn push_utc(self, out: &mut String) {
        let days = self.secs().div_euclid(86_400);
        let (y, mo, d) = civil_from_days(days);
        let Ok(year @ 0..=9999) = u64::try_from(y) else {
            // Years of malformed timestamps, signed or of five digits.
            out.push_str(&format!(
                "{y:04}-{mo:02}-{d:02} {}",
                self.time_of_day(false)
            ));
            return;
        };
        let secs_of_day = self.secs().rem_euclid(86_400) as u64;
        let (h, m, s) = (secs_of_day / 3600, secs_of_day / 60 % 60, secs_of_day % 60);
        for (n, width, after) in [
            (year, 4, '-'),
            (u64::from(mo), 2, '-'),
            (u64::from(d), 2, ' '),
            (h, 2, ':'),
            (m, 2, ':'),
            (s, 2, '.'),
        ] {
            push_decimal(out, n, width);
            out.push(after);
        }
        push_decimal(out, u64::from(self.subsec_nanos() / 1000), 6);
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.secs();
        let frac = self.subsec_nanos();
        write!(f, "{secs}.{frac:09}")
    }
}

/// Days since the epoch to a proleptic Gregorian date (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `template` through strftime(3) at `secs` in local time (as tcpdump names its `-G`
/// files; the records files of a live capture are named the same way).
pub fn strftime_local(template: &std::path::Path, secs: i64) -> std::io::Result<Vec<u8>> {
    use std::ffi::CString;
    use std::io;
    use std::os::unix::ffi::OsStrExt;
    let format = CString::new(template.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file name holds a NUL"))?;
    let t = secs as libc::time_t;
    // SAFETY: `tm` is plain data filled by localtime_r; both pointers are live.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    if unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
        return Err(io::Error::other("localtime_r failed"));
    }
    // strftime's 0 is "too long" or "empty": grow a few times, then take the template.
    let mut size = 4096;
    while size <= 1 << 16 {
        let mut buf = vec![0u8; size];
        // SAFETY: the buffer holds `size` bytes; the format is NUL-terminated.
        let n = unsafe { libc::strftime(buf.as_mut_ptr().cast(), size, format.as_ptr(), &tm) };
        if n > 0 {
            buf.truncate(n);
            return Ok(buf);
        }
        size *= 4;
    }
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_text_as_format_writes_it() {
        let old = |t: Timestamp| {
            let (y, mo, d) = civil_from_days(t.secs().div_euclid(86_400));
            format!("{y:04}-{mo:02}-{d:02} {}", t.time_of_day(false))
        };
        let mut n: i64 = 7;
        for _ in 0..100_000 {
            n = n.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            for t in [n, n / 3, n % 300_000_000_000_000_000] {
                let t = Timestamp::from_nanos(t);
                assert_eq!(t.utc_string(), old(t), "{}", t.as_nanos());
            }
        }
        for t in [0, -1, i64::MIN, i64::MAX, 253_402_300_799_999_999] {
            let t = Timestamp::from_nanos(t);
            assert_eq!(t.utc_string(), old(t));
        }
    }

    #[test]
    fn keeps_every_nanosecond_digit() {
        let t = Timestamp::from_secs_nanos(1_767_225_600, 123_456_789);
        assert_eq!(t.to_string(), "1767225600.123456789");
        assert_eq!(Timestamp::from_secs_nanos(5, 7).to_string(), "5.000000007");
    }

    #[test]
    fn negative_times_print_as_floor_plus_fraction() {
        assert_eq!(Timestamp::from_nanos(-1).to_string(), "-1.999999999");
    }

    #[test]
    fn backwards_time_has_no_interval() {
        let a = Timestamp::from_nanos(10);
        let b = Timestamp::from_nanos(4);
        assert_eq!(b.checked_since(a), None);
        assert_eq!(b.saturating_since(a), Duration::ZERO);
        for (x, y) in [(a, b), (b, a), (a, a)] {
            for d in [0, 1, 999, 1000, 1001, u64::MAX] {
                let d = Duration::from_nanos(d);
                assert_eq!(
                    x.reached(y, d),
                    x.saturating_since(y) >= d,
                    "{x:?} {y:?} {d:?}"
                );
            }
        }
        assert_eq!(a.checked_since(b), Some(Duration::from_nanos(6)));
    }

    #[test]
    fn utc_dates() {
        let t = Timestamp::from_secs_nanos(1_767_225_600, 1_500);
        assert_eq!(t.utc_string(), "2026-01-01 00:00:00.000001");
        assert_eq!(Timestamp::ZERO.utc_string(), "1970-01-01 00:00:00.000000");
        let leap = Timestamp::from_secs_nanos(951_782_400, 0); // 2000-02-29
        assert_eq!(&leap.utc_string()[..10], "2000-02-29");
    }
}
