//! What ran over a connection, told from the first bytes of its payload segments:
//! HTTP/1.x (requests counted), a WebSocket upgrade, TLS (the ClientHello's SNI), SSH.
//!
//! No reassembly, no allocation per packet: only the start of a segment's captured
//! payload is looked at, and only while the label can still change. The definitions and
//! their limits are in docs/metrics.md ("What ran over a connection").

use crate::decode::TcpSegment;
use crate::model::app_label::{AppKind, AppLabel, HttpFacts};
use crate::model::seq::Seq;
use crate::model::state::Side;

/// Longest server name kept: RFC 6066 host names are DNS names (at most 253 bytes).
pub const MAX_SNI: usize = 255;

/// How far into a segment the HTTP header lines are read.
const MAX_HEADER_SCAN: usize = 8192;

/// Fewer payload bytes than the shortest signature (`SSH-`, `GET `) tell nothing: such a
/// segment (a Windows keep-alive's garbage byte, a keystroke) does not decide the label.
const MIN_SIGNATURE: usize = 4;

/// HTTP/1.x facts as they are gathered (`HttpFacts` and what is still to come).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct HttpState {
    /// Client segments that begin with a request line.
    pub(crate) requests: u32,
    /// Server segments that begin with a final status line (>= 200) or a 101.
    pub(crate) responses: u32,
    /// Minor version of the first request line (`HTTP/1.0` → 0), if one was seen.
    pub(crate) version: Option<u8>,
    /// A request carried `Connection: close`.
    pub(crate) close_by_client: bool,
    /// A response carried `Connection: close`.
    pub(crate) close_by_server: bool,
    /// A request asked `Upgrade: websocket`.
    pub(crate) upgrade_asked: bool,
    /// A 101 was seen: what follows is no longer HTTP/1.x.
    pub(crate) switched: bool,
}

/// Per-connection detector state. Its size is fixed except for the SNI, allocated once
/// per TLS connection.
#[derive(Clone, Debug, Default)]
pub struct AppDetector {
    pub(crate) kind: AppKind,
    pub(crate) http: HttpState,
    pub(crate) sni: Option<Box<[u8]>>,
    /// One past the highest payload byte seen, per direction (client, server): a
    /// segment starting below it is a retransmission (or a reordering) and is skipped.
    pub(crate) next: [Option<Seq>; 2],
    /// The first payload segment of each direction has been looked at.
    pub(crate) first_done: [bool; 2],
}

fn idx(side: Side) -> usize {
    match side {
        Side::Client => 0,
        Side::Server => 1,
    }
}

impl AppDetector {
    pub fn kind(&self) -> AppKind {
        self.kind
    }

    /// HTTP facts, for `http` and `websocket` connections.
    pub fn http(&self) -> Option<HttpFacts> {
        matches!(self.kind, AppKind::Http | AppKind::WebSocket).then_some(HttpFacts {
            requests: self.http.requests,
            responses: self.http.responses,
            version: self.http.version,
            close_by_client: self.http.close_by_client,
            close_by_server: self.http.close_by_server,
        })
    }

    /// What the connection carried, as far as its payload told.
    pub fn label(&self) -> AppLabel {
        AppLabel {
            kind: self.kind,
            http: self.http(),
            sni: if self.kind == AppKind::Tls {
                self.sni.clone()
            } else {
                None
            },
        }
    }

    /// The raw server name of a TLS ClientHello (not validated: escape before printing).
    pub fn sni(&self) -> Option<&[u8]> {
        self.sni.as_deref()
    }

    /// Nothing a later segment says can change the label or the counts.
    fn settled(&self) -> bool {
        match self.kind {
            AppKind::None | AppKind::Unknown => self.first_done == [true, true],
            AppKind::Http => self.http.switched,
            AppKind::WebSocket | AppKind::Tls | AppKind::Ssh => true,
        }
    }

    /// Looks at one segment sent by `sender`. Inlined, the common answer (nothing to see:
    /// no payload, or the label settled) costs no call.
    #[inline]
    pub fn on_segment(&mut self, sender: Side, seg: &TcpSegment<'_>) {
        if seg.payload_len == 0 || self.settled() {
            return;
        }
        self.look(sender, seg);
    }

    #[inline(never)]
    fn look(&mut self, sender: Side, seg: &TcpSegment<'_>) {
        let d = idx(sender);
        // TCP Fast Open data rides on the SYN, one past its sequence number.
        let start = seg.seq.wrapping_add(u32::from(seg.flags.syn()));
        let end = start.wrapping_add(seg.payload_len);
        let fresh = self.next[d].is_none_or(|n| start.ge(n));
        if self.next[d].is_none_or(|n| end.gt(n)) {
            self.next[d] = Some(end);
        }
        if !fresh {
            return;
        }
        let bytes = seg.payload;
        let first = !self.first_done[d] && seg.payload_len as usize >= MIN_SIGNATURE;
        if first && matches!(self.kind, AppKind::None | AppKind::Unknown) {
            self.first_done[d] = true;
            self.kind = self.classify(sender, bytes);
        }
        if self.kind == AppKind::Http {
            self.http_segment(sender, bytes);
        }
    }

    fn classify(&mut self, sender: Side, bytes: &[u8]) -> AppKind {
        if bytes.starts_with(b"SSH-") {
            return AppKind::Ssh;
        }
        match sender {
            Side::Client => {
                if let Some(sni) = client_hello_sni(bytes) {
                    self.sni = sni.map(|s| s[..s.len().min(MAX_SNI)].into());
                    return AppKind::Tls;
                }
                if request_line(bytes).is_some() {
                    return AppKind::Http;
                }
            }
            Side::Server => {
                if is_server_hello(bytes) {
                    return AppKind::Tls;
                }
                if status_line(bytes).is_some() {
                    return AppKind::Http;
                }
            }
        }
        AppKind::Unknown
    }

    fn http_segment(&mut self, sender: Side, bytes: &[u8]) {
        let h = &mut self.http;
        match sender {
            Side::Client => {
                let Some((minor, head_end)) = request_line(bytes) else {
                    return;
                };
                h.requests += 1;
                if let Some(minor) = minor {
                    h.version.get_or_insert(minor);
                }
                for (name, value) in headers(&bytes[head_end..]) {
                    if name.eq_ignore_ascii_case(b"connection") && has_token(value, b"close") {
                        h.close_by_client = true;
                    }
                    if name.eq_ignore_ascii_case(b"upgrade") && has_token(value, b"websocket") {
                        h.upgrade_asked = true;
                    }
                }
            }
            Side::Server => {
                let Some((status, head_end)) = status_line(bytes) else {
                    return;
                };
                if status == 101 {
                    h.responses += 1;
                    h.switched = true;
                    if h.upgrade_asked {
                        self.kind = AppKind::WebSocket;
                    }
                } else if status >= 200 {
                    h.responses += 1;
                }
                for (name, value) in headers(&bytes[head_end..]) {
                    if name.eq_ignore_ascii_case(b"connection") && has_token(value, b"close") {
                        h.close_by_server = true;
                    }
                }
            }
        }
    }
}

const METHODS: [&[u8]; 9] = [
    b"GET ",
    b"POST ",
    b"HEAD ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"PATCH ",
    b"CONNECT ",
    b"TRACE ",
];

/// The first line of `bytes` without its line end, and where the next line starts.
fn first_line(bytes: &[u8]) -> Option<(&[u8], usize)> {
    let scan = &bytes[..bytes.len().min(MAX_HEADER_SCAN)];
    let lf = scan.iter().position(|&b| b == b'\n')?;
    let line = &scan[..lf];
    Some((line.strip_suffix(b"\r").unwrap_or(line), lf + 1))
}

/// `METHOD SP target SP HTTP/1.x` at the start of `bytes`: the minor version and where the
/// header lines start. A line that runs past the captured bytes (a URL longer than the
/// segment) counts when all of it after the method is a plausible target (visible ASCII,
/// no space); its version is unknown.
fn request_line(bytes: &[u8]) -> Option<(Option<u8>, usize)> {
    let method = METHODS.iter().find(|m| bytes.starts_with(m))?;
    let Some((line, next)) = first_line(bytes) else {
        let target = &bytes[method.len()..];
        let plausible = !target.is_empty() && target.iter().all(|b| b.is_ascii_graphic());
        return plausible.then_some((None, bytes.len()));
    };
    let minor = match line {
        [.., b' ', b'H', b'T', b'T', b'P', b'/', b'1', b'.', m @ (b'0' | b'1')] => m - b'0',
        _ => return None,
    };
    Some((Some(minor), next))
}

/// `HTTP/1.x SP NNN` at the start of `bytes`: the status code and where the header
/// lines start.
fn status_line(bytes: &[u8]) -> Option<(u16, usize)> {
    let code = match bytes {
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', b'0' | b'1', b' ', a, b, c, rest @ ..]
            if [a, b, c].iter().all(|d| d.is_ascii_digit())
                && matches!(rest.first(), None | Some(b' ' | b'\r' | b'\n')) =>
        {
            [a, b, c]
                .iter()
                .fold(0u16, |n, d| n * 10 + u16::from(**d - b'0'))
        }
        _ => return None,
    };
    let (_, next) = first_line(bytes)?;
    Some((code, next))
}

/// Header lines (`name: value`) up to the blank line or the end of what was captured.
fn headers(bytes: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let scan = &bytes[..bytes.len().min(MAX_HEADER_SCAN)];
    scan.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .take_while(|l| !l.is_empty())
        .filter_map(|l| {
            let colon = l.iter().position(|&b| b == b':')?;
            Some((l[..colon].trim_ascii(), l[colon + 1..].trim_ascii()))
        })
}

/// A comma-separated header value holds `token` (case-insensitive).
fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// A TLS handshake record (content type 22, version 3.x) whose first message has `kind`.
fn tls_handshake(bytes: &[u8], kind: u8) -> bool {
    matches!(bytes, [0x16, 0x03, 0..=4, _, _, k, ..] if *k == kind)
}

fn is_server_hello(bytes: &[u8]) -> bool {
    tls_handshake(bytes, 2)
}

/// `Some(sni)` when `bytes` begin a TLS ClientHello; `sni` is `None` when it has no
/// server_name extension, or the extension was not in the captured part of this segment.
fn client_hello_sni(bytes: &[u8]) -> Option<Option<&[u8]>> {
    if !tls_handshake(bytes, 1) {
        return None;
    }
    Some(parse_sni(bytes))
}

/// RFC 8446 §4.1.2 / RFC 6066 §3, read within the captured bytes only.
fn parse_sni(bytes: &[u8]) -> Option<&[u8]> {
    let mut r = Reader { b: bytes, pos: 0 };
    // Record header (5), handshake header (4), legacy_version (2), random (32).
    r.skip(5 + 4 + 2 + 32)?;
    let session_id = r.u8()?;
    r.skip(usize::from(session_id))?;
    let suites = r.u16()?;
    r.skip(usize::from(suites))?;
    let compression = r.u8()?;
    r.skip(usize::from(compression))?;
    let ext_total = usize::from(r.u16()?);
    let ext_end = r.pos.checked_add(ext_total)?;
    while r.pos + 4 <= ext_end {
        let (kind, len) = (r.u16()?, usize::from(r.u16()?));
        if kind != 0 {
            r.skip(len)?;
            continue;
        }
        let list_len = usize::from(r.u16()?);
        let list_end = r.pos + list_len;
        while r.pos + 3 <= list_end {
            let (name_type, name_len) = (r.u8()?, usize::from(r.u16()?));
            let name = r.take(name_len)?;
            if name_type == 0 {
                return Some(name);
            }
        }
        return None;
    }
    None
}

/// A bounds-checked cursor: every read past the captured bytes gives `None`.
struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }
    fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        let s = self.take(2)?;
        Some(u16::from_be_bytes([s[0], s[1]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::flags::TcpFlags;

    fn seg(seq: u32, payload: &[u8]) -> TcpSegment<'_> {
        TcpSegment {
            seq: Seq(seq),
            ack: Seq(1),
            flags: TcpFlags(TcpFlags::ACK | TcpFlags::PSH),
            window: 1000,
            payload_len: payload.len() as u32,
            payload,
            ..TcpSegment::between(
                "10.0.0.2:40000".parse().unwrap(),
                "10.0.0.1:80".parse().unwrap(),
            )
        }
    }

    /// A ClientHello record with one server_name entry.
    pub(crate) fn client_hello(name: &[u8]) -> Vec<u8> {
        let mut sni = Vec::new();
        sni.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
        sni.push(0);
        sni.extend_from_slice(&(name.len() as u16).to_be_bytes());
        sni.extend_from_slice(name);
        let mut ext = vec![0x00, 0x0b, 0x00, 0x02, 0x01, 0x00]; // ec_point_formats first
        ext.extend_from_slice(&[0, 0]);
        ext.extend_from_slice(&(sni.len() as u16).to_be_bytes());
        ext.extend_from_slice(&sni);
        let mut body = vec![0x03, 0x03];
        body.extend_from_slice(&[7; 32]);
        body.push(0); // session id
        body.extend_from_slice(&[0, 2, 0x13, 0x01]);
        body.extend_from_slice(&[1, 0]);
        body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        body.extend_from_slice(&ext);
        let mut hs = vec![1, 0];
        hs.extend_from_slice(&(body.len() as u16).to_be_bytes());
        hs.extend_from_slice(&body);
        let mut rec = vec![0x16, 0x03, 0x01];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        rec
    }

    #[test]
    fn sni_is_read_and_a_cut_hello_is_still_tls() {
        let hello = client_hello(b"example.org");
        assert_eq!(client_hello_sni(&hello), Some(Some(&b"example.org"[..])));
        assert_eq!(client_hello_sni(&hello[..hello.len() - 3]), Some(None));
        assert_eq!(client_hello_sni(&hello[..6]), Some(None));
        assert_eq!(client_hello_sni(b"GET / HTTP/1.1\r\n"), None);
    }

    #[test]
    fn http_requests_are_counted_once_each_and_retransmissions_skipped() {
        let mut a = AppDetector::default();
        let req = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
        a.on_segment(Side::Client, &seg(1, req));
        a.on_segment(Side::Client, &seg(1, req)); // retransmission
        a.on_segment(
            Side::Client,
            &seg(1 + req.len() as u32, b"body GET / HTTP/1.1"),
        );
        let last = b"GET /b HTTP/1.1\r\nconnection: keep-alive, Close\r\n\r\n";
        a.on_segment(Side::Client, &seg(100, last));
        assert_eq!(a.kind(), AppKind::Http);
        let h = a.http().unwrap();
        assert_eq!(
            (h.requests, h.version, h.close_by_client),
            (2, Some(1), true)
        );
        assert!(!h.close_by_server);
    }

    #[test]
    fn websocket_needs_the_upgrade_and_the_101() {
        let mut a = AppDetector::default();
        let req = b"GET /chat HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
        a.on_segment(Side::Client, &seg(1, req));
        a.on_segment(Side::Server, &seg(1, b"HTTP/1.1 100 Continue\r\n\r\n"));
        assert_eq!(a.kind(), AppKind::Http);
        a.on_segment(
            Side::Server,
            &seg(30, b"HTTP/1.1 101 Switching Protocols\r\n\r\n"),
        );
        assert_eq!(a.kind(), AppKind::WebSocket);
        assert_eq!(a.http().unwrap().responses, 1);
        // Frames after the switch are not requests.
        a.on_segment(Side::Client, &seg(200, b"GET / HTTP/1.1\r\n\r\n"));
        assert_eq!(a.http().unwrap().requests, 1);
    }

    #[test]
    fn ssh_from_either_side_and_unknown_needs_both_directions() {
        let mut a = AppDetector::default();
        a.on_segment(Side::Server, &seg(1, b"SSH-2.0-OpenSSH_9.6\r\n"));
        assert_eq!(a.kind(), AppKind::Ssh);
        let mut u = AppDetector::default();
        assert_eq!(u.kind(), AppKind::None);
        // A Windows keep-alive's garbage byte says nothing: the request after it decides.
        let mut w = AppDetector::default();
        w.on_segment(Side::Client, &seg(1, b"\x00"));
        w.on_segment(Side::Client, &seg(2, b"GET / HTTP/1.1\r\n\r\n"));
        assert_eq!(w.http().map(|h| h.requests), Some(1));
        u.on_segment(Side::Client, &seg(1, b"\x00\x01binary"));
        assert_eq!(u.kind(), AppKind::Unknown);
        u.on_segment(Side::Server, &seg(1, b"SSH-2.0-x\r\n"));
        assert_eq!(u.kind(), AppKind::Ssh);
    }

    #[test]
    fn lines_must_be_whole() {
        assert_eq!(request_line(b"GET /a HTTP/1.0\r\n"), Some((Some(0), 17)));
        // A request line longer than its segment: a long target, no version seen.
        assert_eq!(request_line(b"GET /a?q=1&r=2"), Some((None, 14)));
        assert_eq!(request_line(b"GET /a HTTP/1.1"), None); // a space: not one long target
        assert_eq!(request_line(b"GET \x01\x02"), None);
        assert_eq!(request_line(b"GETX /a HTTP/1.1\r\n"), None);
        assert_eq!(request_line(b"GET /a HTTP/2.0\r\n"), None);
        assert_eq!(status_line(b"HTTP/1.1 204 No Content\r\n"), Some((204, 25)));
        assert_eq!(status_line(b"HTTP/1.1 20x\r\n"), None);
        assert_eq!(status_line(b"HTTP/1.1 2000\r\n"), None);
    }
}
