//! The tunnels synack opens to reach the TCP inside (docs/inputs.md).

/// The kind of tunnel a packet came out of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tunnel {
    /// GRE (RFC 2784/2890) over IP or over UDP (RFC 8086), and PPTP's enhanced GRE.
    Gre,
    /// ERSPAN types I, II and III: mirrored Ethernet frames in GRE.
    Erspan,
    /// IPv4 or IPv6 directly in IPv4 or IPv6 (IP protocols 4 and 41).
    IpInIp,
    /// VXLAN (RFC 7348, UDP 4789).
    Vxlan,
    /// Geneve (RFC 8926, UDP 6081).
    Geneve,
    /// Teredo (RFC 4380): IPv6 in UDP.
    Teredo,
    /// GTP-U (3GPP TS 29.281, UDP 2152).
    GtpU,
    /// AYIYA (UDP 5072).
    Ayiya,
}

impl Tunnel {
    /// Every kind, in the order reports list them.
    pub const ALL: [Tunnel; 8] = [
        Tunnel::Gre,
        Tunnel::Erspan,
        Tunnel::IpInIp,
        Tunnel::Vxlan,
        Tunnel::Geneve,
        Tunnel::Teredo,
        Tunnel::GtpU,
        Tunnel::Ayiya,
    ];

    /// The name as people write it, for the table.
    pub fn label(self) -> &'static str {
        match self {
            Tunnel::Gre => "GRE",
            Tunnel::Erspan => "ERSPAN",
            Tunnel::IpInIp => "IP-in-IP",
            Tunnel::Vxlan => "VXLAN",
            Tunnel::Geneve => "Geneve",
            Tunnel::Teredo => "Teredo",
            Tunnel::GtpU => "GTP-U",
            Tunnel::Ayiya => "AYIYA",
        }
    }

    /// The JSON key (`packets.tunnelled.NAME`).
    pub fn name(self) -> &'static str {
        match self {
            Tunnel::Gre => "gre",
            Tunnel::Erspan => "erspan",
            Tunnel::IpInIp => "ip_in_ip",
            Tunnel::Vxlan => "vxlan",
            Tunnel::Geneve => "geneve",
            Tunnel::Teredo => "teredo",
            Tunnel::GtpU => "gtp_u",
            Tunnel::Ayiya => "ayiya",
        }
    }
}
