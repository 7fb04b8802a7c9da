//! What ran over a connection, as the app detector (`crate::app`) labelled it.

/// The protocol label of a connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AppKind {
    /// No payload seen in either direction.
    #[default]
    None,
    /// Payload seen, not recognised.
    Unknown,
    Http,
    /// HTTP/1.1 `Upgrade: websocket` answered by `101 Switching Protocols`.
    WebSocket,
    Tls,
    Ssh,
}

impl AppKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AppKind::None => "none",
            AppKind::Unknown => "unknown",
            AppKind::Http => "http",
            AppKind::WebSocket => "websocket",
            AppKind::Tls => "tls",
            AppKind::Ssh => "ssh",
        }
    }
}

/// HTTP/1.x facts of a connection labelled `http` or `websocket`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HttpFacts {
    /// Client segments that begin with a request line.
    pub requests: u32,
    /// Server segments that begin with a final status line (>= 200) or a 101.
    pub responses: u32,
    /// Minor version of the first request line (`HTTP/1.0` → 0), if one was seen.
    pub version: Option<u8>,
    /// A request carried `Connection: close`.
    pub close_by_client: bool,
    /// A response carried `Connection: close`.
    pub close_by_server: bool,
}

/// A connection's application label: the kind, HTTP facts for `http` and `websocket`, the
/// TLS server name for `tls`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppLabel {
    pub kind: AppKind,
    pub http: Option<HttpFacts>,
    /// The raw server name of a TLS ClientHello (not validated: escape before printing).
    pub sni: Option<Box<[u8]>>,
}
