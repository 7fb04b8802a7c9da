//! What the evidence made of one endpoint's out-of-sequence segments
//! (`crate::tcp::evidence`; docs/metrics.md, "Retransmissions and reordering by
//! evidence").

/// What the evidence made of the out-of-sequence segments one endpoint sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LossCounts {
    /// Resent after the peer's duplicate ACKs or SACK blocks, or later in that recovery.
    pub fast: u32,
    /// Resent after an RTO-sized silence, or later in that recovery.
    pub timeout: u32,
    /// The highest segment resent alone after a silence shorter than an RTO.
    pub tail_loss_probe: u32,
    /// Resent with none of the above evident.
    pub unclassified: u32,
    /// Resent although the receiver had it: wholly below its cumulative ACK, or a D-SACK
    /// said so (a subset of the four above).
    pub spurious: u32,
    /// The same segment twice from the network: same sequence, IP ID and TSval.
    pub network_duplicates: u32,
    /// Originals that arrived after a later segment.
    pub out_of_order: u32,
    /// Retransmissions that filled a hole: the original never passed the capture point.
    pub lost_before_capture: u32,
    /// Retransmissions of a segment seen here, not spurious: lost beyond the capture point.
    pub lost_after_capture: u32,
}

impl LossCounts {
    /// All retransmissions, spurious ones included.
    pub fn retransmissions(&self) -> u64 {
        u64::from(self.fast)
            + u64::from(self.timeout)
            + u64::from(self.tail_loss_probe)
            + u64::from(self.unclassified)
    }
}

/// Which evidence a sender's segments carried for telling reordering from loss.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OrderingEvidence {
    /// TCP timestamps (RFC 7323): the TSval orders what the sender sent.
    Timestamps,
    /// IPv4 IDs that rise packet by packet.
    IpId,
    /// Neither: arrival times against the RTT.
    #[default]
    Timing,
}

impl OrderingEvidence {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderingEvidence::Timestamps => "timestamps",
            OrderingEvidence::IpId => "ip_id",
            OrderingEvidence::Timing => "timing",
        }
    }
}
