//! The `app` part of the report model: what ran over each connection (docs/metrics.md),
//! and connections counted per label in the summary.

use serde::ser::{Serialize, Serializer};

use crate::app::detector::{AppDetector, AppKind};

/// A server name as sent: raw bytes, possibly not UTF-8 and possibly hostile. JSON gets
/// it as a string (invalid UTF-8 replaced, control characters escaped by serde);
/// printers must escape it (`output::escape`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sni(pub Box<[u8]>);

impl Serialize for Sni {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&String::from_utf8_lossy(&self.0))
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct HttpReport {
    /// `1.0` or `1.1`, from the first request line; null when no request was seen.
    pub version: Option<&'static str>,
    pub requests: u32,
    pub responses: u32,
    /// Which side sent `Connection: close`: `client`, `server`, `both` or null.
    pub connection_close: Option<&'static str>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TlsReport {
    pub sni: Option<Sni>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct AppReport {
    /// `none`, `unknown`, `http`, `websocket`, `tls`, `ssh`.
    pub protocol: &'static str,
    /// For `http` and `websocket` (the requests before the upgrade).
    pub http: Option<HttpReport>,
    pub tls: Option<TlsReport>,
}

impl AppReport {
    pub fn of(a: &AppDetector) -> AppReport {
        AppReport {
            protocol: a.kind().as_str(),
            http: a.http().map(|h| HttpReport {
                version: h.version.map(|m| if m == 0 { "1.0" } else { "1.1" }),
                requests: h.requests,
                responses: h.responses,
                connection_close: match (h.close_by_client, h.close_by_server) {
                    (true, true) => Some("both"),
                    (true, false) => Some("client"),
                    (false, true) => Some("server"),
                    (false, false) => None,
                },
            }),
            tls: (a.kind() == AppKind::Tls).then(|| TlsReport {
                sni: a.sni().map(|s| Sni(s.into())),
            }),
        }
    }
}

/// Connections per `app.protocol`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AppTotals {
    pub none: u64,
    pub unknown: u64,
    pub http: u64,
    pub websocket: u64,
    pub tls: u64,
    pub ssh: u64,
}

impl AppTotals {
    /// Adds another total's counts (every field named: a new label cannot be left out).
    pub fn absorb(&mut self, other: &AppTotals) {
        let AppTotals {
            none,
            unknown,
            http,
            websocket,
            tls,
            ssh,
        } = other;
        self.none += none;
        self.unknown += unknown;
        self.http += http;
        self.websocket += websocket;
        self.tls += tls;
        self.ssh += ssh;
    }

    pub fn add(&mut self, kind: AppKind) {
        *match kind {
            AppKind::None => &mut self.none,
            AppKind::Unknown => &mut self.unknown,
            AppKind::Http => &mut self.http,
            AppKind::WebSocket => &mut self.websocket,
            AppKind::Tls => &mut self.tls,
            AppKind::Ssh => &mut self.ssh,
        } += 1;
    }
}
