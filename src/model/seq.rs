//! TCP sequence numbers with serial-number arithmetic (RFC 1982, RFC 9293 §3.4).
//!
//! There is deliberately no `Ord`: two sequence numbers are only comparable when they are
//! less than 2^31 apart, and an observer of arbitrary traffic must never panic on
//! underflow (unlike an endpoint's arithmetic, e.g. smoltcp's `Sub`).

use std::fmt;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Seq(pub u32);

impl Seq {
    pub fn wrapping_add(self, n: u32) -> Seq {
        Seq(self.0.wrapping_add(n))
    }

    pub fn wrapping_sub(self, n: u32) -> Seq {
        Seq(self.0.wrapping_sub(n))
    }

    /// Signed distance `self - other`, valid while the two are within 2^31.
    pub fn diff(self, other: Seq) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    pub fn lt(self, other: Seq) -> bool {
        self.diff(other) < 0
    }

    pub fn le(self, other: Seq) -> bool {
        self.diff(other) <= 0
    }

    pub fn gt(self, other: Seq) -> bool {
        self.diff(other) > 0
    }

    pub fn ge(self, other: Seq) -> bool {
        self.diff(other) >= 0
    }

    /// The later of two sequence numbers in serial-number order.
    pub fn max(self, other: Seq) -> Seq {
        if self.lt(other) {
            other
        } else {
            self
        }
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_across_wraparound() {
        let before = Seq(0xFFFF_FFF0);
        let after = before.wrapping_add(0x20);
        assert_eq!(after, Seq(0x10));
        assert!(before.lt(after));
        assert!(after.gt(before));
        assert_eq!(after.diff(before), 0x20);
        assert_eq!(before.diff(after), -0x20);
        assert_eq!(before.max(after), after);
        assert_eq!(Seq(0).wrapping_sub(1), Seq(u32::MAX));
    }

    #[test]
    fn equal_is_le_and_ge() {
        let s = Seq(7);
        assert!(s.le(s) && s.ge(s) && !s.lt(s) && !s.gt(s));
    }
}
