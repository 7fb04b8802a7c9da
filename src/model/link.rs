//! Link-layer header types, as capture files and libpcap name them.

use std::fmt;

/// A pcap/pcapng link-layer header type (LINKTYPE_* value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkType(pub u16);

impl LinkType {
    pub const NULL: LinkType = LinkType(0);
    pub const ETHERNET: LinkType = LinkType(1);
    /// DLT_RAW as most BSDs and Linux number it in files written long ago.
    pub const RAW_12: LinkType = LinkType(12);
    /// FDDI: frame control, two addresses, then 802.2 LLC.
    pub const FDDI: LinkType = LinkType(10);
    /// DLT_RAW on OpenBSD.
    pub const RAW_14: LinkType = LinkType(14);
    pub const RAW: LinkType = LinkType(101);
    pub const LOOP: LinkType = LinkType(108);
    pub const LINUX_SLL: LinkType = LinkType(113);
    pub const IPV4: LinkType = LinkType(228);
    pub const IPV6: LinkType = LinkType(229);
    pub const LINUX_SLL2: LinkType = LinkType(276);

    pub fn name(self) -> &'static str {
        match self {
            LinkType::NULL => "NULL (BSD loopback)",
            LinkType::ETHERNET => "EN10MB (Ethernet)",
            LinkType::FDDI => "FDDI",
            LinkType::RAW_12 | LinkType::RAW_14 | LinkType::RAW => "RAW (raw IP)",
            LinkType::LOOP => "LOOP (OpenBSD loopback)",
            LinkType::LINUX_SLL => "LINUX_SLL (Linux cooked)",
            LinkType::IPV4 => "IPV4 (raw IPv4)",
            LinkType::IPV6 => "IPV6 (raw IPv6)",
            LinkType::LINUX_SLL2 => "LINUX_SLL2 (Linux cooked v2)",
            _ => "unsupported",
        }
    }

    pub fn is_supported(self) -> bool {
        self.name() != "unsupported"
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}
