//! A connection as Zeek's conn.log sees it: originator and responder, `conn_state`,
//! `history`, packet and byte counts by Zeek's definitions (docs/records.md). Kept beside
//! synack's own figures in the `ConnectionRecord`, so that every record format (Zeek TSV,
//! Zeek JSON, Parquet) writes one schema.

use std::time::Duration;

use crate::model::time::Timestamp;

/// Zeek's `conn_state` (base/protocols/conn/main.zeek).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ConnState {
    S0,
    S1,
    SF,
    Rej,
    S2,
    S3,
    Rsto,
    Rstr,
    Rstos0,
    Rstrh,
    Sh,
    Shr,
    #[default]
    Oth,
}

impl ConnState {
    /// In declaration order, so that `ALL[s as usize] == s`.
    pub const ALL: [ConnState; 13] = [
        ConnState::S0,
        ConnState::S1,
        ConnState::SF,
        ConnState::Rej,
        ConnState::S2,
        ConnState::S3,
        ConnState::Rsto,
        ConnState::Rstr,
        ConnState::Rstos0,
        ConnState::Rstrh,
        ConnState::Sh,
        ConnState::Shr,
        ConnState::Oth,
    ];

    /// As Zeek writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnState::S0 => "S0",
            ConnState::S1 => "S1",
            ConnState::SF => "SF",
            ConnState::Rej => "REJ",
            ConnState::S2 => "S2",
            ConnState::S3 => "S3",
            ConnState::Rsto => "RSTO",
            ConnState::Rstr => "RSTR",
            ConnState::Rstos0 => "RSTOS0",
            ConnState::Rstrh => "RSTRH",
            ConnState::Sh => "SH",
            ConnState::Shr => "SHR",
            ConnState::Oth => "OTH",
        }
    }
}

/// Longest history kept. Zeek's letters repeat only on a changed sequence number (`f h r
/// s`) or logarithmically (`c g t w`), so real histories are short; a longer one is cut
/// here and marked `truncated` rather than growing per packet.
pub const HISTORY_MAX: usize = 46;

/// Zeek's `history` string, inline (no allocation per connection).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct History {
    letters: [u8; HISTORY_MAX],
    len: u8,
    truncated: bool,
}

impl Default for History {
    fn default() -> Self {
        History {
            letters: [0; HISTORY_MAX],
            len: 0,
            truncated: false,
        }
    }
}

impl History {
    /// Appends one letter (ASCII); past `HISTORY_MAX`, marks the history truncated.
    pub fn push(&mut self, letter: u8) {
        debug_assert!(letter.is_ascii_graphic());
        if (self.len as usize) < HISTORY_MAX {
            self.letters[self.len as usize] = letter;
            self.len += 1;
        } else {
            self.truncated = true;
        }
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII letters are pushed.
        std::str::from_utf8(&self.letters[..self.len as usize]).unwrap_or("")
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn truncated(&self) -> bool {
        self.truncated
    }

    pub fn contains(&self, letter: u8) -> bool {
        self.letters[..self.len as usize].contains(&letter)
    }

    /// Rebuilds a history from its letters (the store's decoding).
    pub fn from_parts(letters: &[u8], truncated: bool) -> History {
        let mut h = History::default();
        for &l in letters.iter().take(HISTORY_MAX) {
            h.push(l);
        }
        h.truncated = truncated || letters.len() > HISTORY_MAX;
        h
    }
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// One direction's counts by Zeek's definitions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZeekSide {
    /// Every packet it sent (`orig_pkts`).
    pub packets: u64,
    /// Their IP lengths (`orig_ip_bytes`: the IP header's total length).
    pub ip_bytes: u64,
    /// Payload bytes from sequence numbers, first to last (`orig_bytes`: a retransmission
    /// does not add).
    pub bytes: u64,
}

/// What Zeek's conn.log would say of the connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZeekFacts {
    /// The originator is synack's client (false: Zeek's originator is synack's server,
    /// as when Zeek flips a connection seen without its SYN).
    pub orig_is_client: bool,
    pub conn_state: ConnState,
    pub history: History,
    pub orig: ZeekSide,
    pub resp: ZeekSide,
    /// Bytes the reassembler would have missed (content gaps).
    pub missed_bytes: u64,
    /// From the first packet to the last that counted (`duration`). Zeek writes the
    /// duration and both `bytes` as `-` when it is zero.
    pub duration: Duration,
    /// The Zeek connection's first packet (`ts`): the record's first packet, unless Zeek
    /// let go of an earlier connection on this 4-tuple (`earlier_rows`).
    pub ts: Timestamp,
    /// Zeek connections before this one within synack's connection: Zeek's timers let go
    /// of a connection that synack keeps (an unanswered SYN after 5 s, a closed one 5 s
    /// after its close, an idle one after 5 min), and the next packet starts another.
    /// These facts are those of the last; Zeek logs this many rows before it.
    pub earlier_rows: u32,
    /// The tunnels the connection ran in (`tunnel_parents`): each a hash of the tunnel's
    /// outer flow, the first two distinct; 0: none.
    pub tunnel_parents: [u32; 2],
}
