//! TCP header flags as raw bits.

use std::fmt;

/// TCP header flags as raw bits, so that odd combinations (SYN+RST, SYN+FIN) stay visible.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcpFlags(pub u16);

impl TcpFlags {
    pub const FIN: u16 = 0x001;
    pub const SYN: u16 = 0x002;
    pub const RST: u16 = 0x004;
    pub const PSH: u16 = 0x008;
    pub const ACK: u16 = 0x010;
    pub const URG: u16 = 0x020;
    pub const ECE: u16 = 0x040;
    pub const CWR: u16 = 0x080;
    /// The former NS bit, now AE (RFC 9768).
    pub const AE: u16 = 0x100;

    pub fn has(self, bits: u16) -> bool {
        self.0 & bits == bits
    }
    pub fn syn(self) -> bool {
        self.has(Self::SYN)
    }
    pub fn ack(self) -> bool {
        self.has(Self::ACK)
    }
    pub fn fin(self) -> bool {
        self.has(Self::FIN)
    }
    pub fn rst(self) -> bool {
        self.has(Self::RST)
    }
    /// A SYN without ACK: an opening request.
    pub fn syn_only(self) -> bool {
        self.syn() && !self.ack()
    }
    pub fn syn_ack(self) -> bool {
        self.syn() && self.ack()
    }
}

impl fmt::Display for TcpFlags {
    /// tcpdump's notation: `S`, `S.`, `F.`, `R`, `P.`, `.` for a bare ACK.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let letters = [
            (Self::SYN, 'S'),
            (Self::FIN, 'F'),
            (Self::PSH, 'P'),
            (Self::RST, 'R'),
            (Self::URG, 'U'),
            (Self::ECE, 'E'),
            (Self::CWR, 'W'),
            (Self::ACK, '.'),
        ];
        let mut any = false;
        for (bit, c) in letters {
            if self.0 & bit != 0 {
                write!(f, "{c}")?;
                any = true;
            }
        }
        if !any {
            write!(f, "none")?;
        }
        Ok(())
    }
}
