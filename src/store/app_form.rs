//! The compact form of the app detector (a dormant connection keeps it whole) and of the
//! label a record keeps.

use crate::app::detector::{AppDetector, HttpState};
use crate::model::app_label::{AppKind, AppLabel, HttpFacts};
use crate::store::codec::{Reader, Writer};

impl AppDetector {
    /// In declaration order, so that `KINDS[k as usize] == k`.
    pub(crate) const KINDS: [AppKind; 6] = [
        AppKind::None,
        AppKind::Unknown,
        AppKind::Http,
        AppKind::WebSocket,
        AppKind::Tls,
        AppKind::Ssh,
    ];

    /// A group of its own (15 bits).
    pub(crate) fn encode(&self, w: &mut Writer<'_>) {
        w.group(2);
        w.bits(self.kind as u32, 3);
        let h = &self.http;
        w.count(u64::from(h.requests));
        w.count(u64::from(h.responses));
        w.flag(h.version.is_some());
        if let Some(v) = h.version {
            w.byte(v);
        }
        w.flag(h.close_by_client);
        w.flag(h.close_by_server);
        w.flag(h.upgrade_asked);
        w.flag(h.switched);
        w.flag(self.sni.is_some());
        if let Some(sni) = &self.sni {
            w.varint(sni.len() as u64);
            w.bytes(sni);
        }
        w.seq(self.next[0]);
        w.seq(self.next[1]);
        w.flag(self.first_done[0]);
        w.flag(self.first_done[1]);
        w.end();
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> AppDetector {
        r.group(2);
        AppDetector {
            kind: Self::KINDS[r.bits(3) as usize],
            http: HttpState {
                requests: r.count() as u32,
                responses: r.count() as u32,
                version: r.flag().then(|| r.byte()),
                close_by_client: r.flag(),
                close_by_server: r.flag(),
                upgrade_asked: r.flag(),
                switched: r.flag(),
            },
            sni: r.flag().then(|| {
                let n = r.varint() as usize;
                r.take(n).into()
            }),
            next: [r.seq(), r.seq()],
            first_done: [r.flag(), r.flag()],
        }
    }
}

impl AppLabel {
    pub(crate) fn encode(&self, w: &mut Writer<'_>) {
        // 10 bits at most: the kind, five flags and two counters' zero bits.
        w.group(2);
        w.bits(self.kind as u32, 3);
        w.flag(self.http.is_some());
        if let Some(h) = &self.http {
            w.count(u64::from(h.requests));
            w.count(u64::from(h.responses));
            w.flag(h.version.is_some());
            if let Some(v) = h.version {
                w.byte(v);
            }
            w.flag(h.close_by_client);
            w.flag(h.close_by_server);
        }
        w.flag(self.sni.is_some());
        if let Some(sni) = &self.sni {
            w.varint(sni.len() as u64);
            w.bytes(sni);
        }
        w.end();
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> AppLabel {
        r.group(2);
        AppLabel {
            kind: AppDetector::KINDS[r.bits(3) as usize],
            http: r.flag().then(|| HttpFacts {
                requests: r.count() as u32,
                responses: r.count() as u32,
                version: r.flag().then(|| r.byte()),
                close_by_client: r.flag(),
                close_by_server: r.flag(),
            }),
            sni: r.flag().then(|| {
                let n = r.varint() as usize;
                r.take(n).into()
            }),
        }
    }
}
