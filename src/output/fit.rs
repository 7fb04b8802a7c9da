//! Fitting text to a width: the terminal's, `COLUMNS`, or 100 when not a terminal (the
//! command decides and passes it down). Widths are counted in characters: everything
//! synack prints is one column per character (`→`, `…` and `·` included).

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

use crate::model::units::push_decimal;

/// Characters in `s`: its width on a terminal.
pub fn width(s: &str) -> usize {
    s.chars().count()
}

/// `s` cut to `max` characters, the last one `…` when something was cut.
pub fn truncate(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Words of `text` in lines of at most `max` characters (a longer word stands alone);
/// lines after the first start with `indent`.
pub fn wrap(text: &str, max: usize, indent: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let prefix = if lines.is_empty() { "" } else { indent };
        if line.is_empty() {
            line = format!("{prefix}{word}");
        } else if width(&line) + 1 + width(word) <= max {
            line.push(' ');
            line.push_str(word);
        } else {
            lines.push(std::mem::take(&mut line));
            line = format!("{indent}{word}");
        }
    }
    lines.push(line);
    lines
}

/// Parts joined by three spaces on as few lines of at most `max` characters as they fit
/// on (a part longer than `max` is word-wrapped); `None` keeps them on one line.
pub fn join_parts(parts: &[String], max: Option<usize>) -> Vec<String> {
    let Some(max) = max else {
        return vec![parts.join("   ")];
    };
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for part in parts {
        if line.is_empty() {
            line = part.clone();
        } else if width(&line) + 3 + width(part) <= max {
            line.push_str("   ");
            line.push_str(part);
        } else {
            lines.push(std::mem::take(&mut line));
            line = part.clone();
        }
    }
    lines.push(line);
    lines
        .into_iter()
        .flat_map(|l| wrap(&l, max, "  "))
        .collect()
}

/// An address as `ip:port` (IPv6 as `[ip]:port`), its IPv6 middle elided when the
/// address has more than four groups and is longer than `max` characters:
/// `[2001:db8:…:7334]:443`.
pub fn short_addr(addr: &SocketAddr, max: usize) -> String {
    let mut out = String::new();
    push_short_addr(&mut out, addr, max);
    out
}

/// [`short_addr`] appended to `out`, written digit by digit as `SocketAddr`'s `Display`
/// writes it (which was a fifth of a big connection table's time).
pub fn push_short_addr(out: &mut String, addr: &SocketAddr, max: usize) {
    let v6 = match addr {
        SocketAddr::V4(v4) => {
            push_ipv4(out, v4.ip());
            out.push(':');
            push_decimal(out, u64::from(v4.port()), 1);
            return;
        }
        SocketAddr::V6(v6) if v6.scope_id() != 0 => {
            // Not met in captures: std writes the `%scope`.
            let start = out.len();
            let _ = write!(out, "{v6}");
            return shorten(out, start, v6, max);
        }
        SocketAddr::V6(v6) => v6,
    };
    let start = out.len();
    out.push('[');
    push_ipv6(out, v6.ip());
    out.push_str("]:");
    push_decimal(out, u64::from(v6.port()), 1);
    shorten(out, start, v6, max);
}

/// The IPv6 address written from `start` cut to its first two groups and its last, when
/// longer than `max` and of more than four groups.
fn shorten(out: &mut String, start: usize, v6: &SocketAddrV6, max: usize) {
    if width(&out[start..]) <= max {
        return;
    }
    let ip = v6.ip().to_string();
    let groups: Vec<&str> = ip.split(':').collect();
    if groups.len() <= 4 {
        return;
    }
    let n = groups.len();
    let short = format!(
        "[{}:{}:…:{}]:{}",
        groups[0],
        groups[1],
        groups[n - 1],
        v6.port()
    );
    out.truncate(start);
    out.push_str(&short);
}

fn push_ipv4(out: &mut String, ip: &Ipv4Addr) {
    push_ascii(out, ipv4_text(ip, &mut [0; IPV4_TEXT]));
}

fn push_ipv6(out: &mut String, ip: &Ipv6Addr) {
    push_ascii(out, ipv6_text(ip, &mut [0; IPV6_TEXT]));
}

fn push_ascii(out: &mut String, text: &[u8]) {
    out.extend(text.iter().map(|&b| char::from(b)));
}

/// The longest IPv4 address text.
pub const IPV4_TEXT: usize = 15;
/// The longest IPv6 address text (eight groups of four digits).
pub const IPV6_TEXT: usize = 39;

/// An IPv4 address as `Ipv4Addr`'s `Display` writes it, made in `buf` (ASCII), without
/// `fmt`: the record formats write two addresses a record, and through `fmt` (or even
/// `itoa`) they cost several hundred instructions each.
pub fn ipv4_text<'b>(ip: &Ipv4Addr, buf: &'b mut [u8; IPV4_TEXT]) -> &'b [u8] {
    let mut len = 0;
    for (i, o) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            buf[len] = b'.';
            len += 1;
        }
        if o >= 100 {
            buf[len] = b'0' + o / 100;
            len += 1;
        }
        if o >= 10 {
            buf[len] = b'0' + o / 10 % 10;
            len += 1;
        }
        buf[len] = b'0' + o % 10;
        len += 1;
    }
    &buf[..len]
}

/// As `Ipv6Addr`'s `Display` (RFC 5952): IPv4-mapped as `::ffff:a.b.c.d`, otherwise
/// lowercase hex groups with the first longest run of two or more zero groups as `::`;
/// made in `buf` (ASCII), as `ipv4_text`.
pub fn ipv6_text<'b>(ip: &Ipv6Addr, buf: &'b mut [u8; IPV6_TEXT]) -> &'b [u8] {
    if let Some(v4) = ip.to_ipv4_mapped() {
        const MAPPED: &[u8] = b"::ffff:";
        let mut text = [0; IPV4_TEXT];
        let v4 = ipv4_text(&v4, &mut text);
        let len = MAPPED.len() + v4.len();
        buf[..MAPPED.len()].copy_from_slice(MAPPED);
        buf[MAPPED.len()..len].copy_from_slice(v4);
        return &buf[..len];
    }
    /// Groups in hex, `:` between them.
    fn hex(buf: &mut [u8; IPV6_TEXT], len: &mut usize, part: &[u16]) {
        for (i, &g) in part.iter().enumerate() {
            if i > 0 {
                buf[*len] = b':';
                *len += 1;
            }
            let digits = (16 - g.leading_zeros()).div_ceil(4).max(1);
            for d in (0..digits).rev() {
                buf[*len] = b"0123456789abcdef"[usize::from((g >> (4 * d)) & 0xf)];
                *len += 1;
            }
        }
    }
    let groups = ip.segments();
    let (mut best, mut run) = ((0, 0), (0, 0));
    for (i, &g) in groups.iter().enumerate() {
        if g == 0 {
            if run.1 == 0 {
                run.0 = i;
            }
            run.1 += 1;
            if run.1 > best.1 {
                best = run;
            }
        } else {
            run = (0, 0);
        }
    }
    let mut len = 0;
    if best.1 > 1 {
        hex(buf, &mut len, &groups[..best.0]);
        buf[len..len + 2].copy_from_slice(b"::");
        len += 2;
        hex(buf, &mut len, &groups[best.0 + best.1..]);
    } else {
        hex(buf, &mut len, &groups);
    }
    &buf[..len]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_and_truncates_by_characters() {
        assert_eq!(truncate("tls, SNI example.org", 8), "tls, SN…");
        assert_eq!(truncate("→→→", 3), "→→→");
        assert_eq!(wrap("a bb ccc dddd", 6, "  "), ["a bb", "  ccc", "  dddd"]);
        let parts = ["one two".to_string(), "three".to_string()];
        assert_eq!(join_parts(&parts, Some(20)), ["one two   three"]);
        assert_eq!(join_parts(&parts, Some(10)), ["one two", "three"]);
    }

    #[test]
    fn elides_long_ipv6_in_the_middle() {
        let a: std::net::SocketAddr = "[2001:db8:85a3:1:2:8a2e:370:7334]:443".parse().unwrap();
        assert_eq!(short_addr(&a, 24), "[2001:db8:…:7334]:443");
        let b: std::net::SocketAddr = "[2001:db8::1]:80".parse().unwrap();
        assert_eq!(short_addr(&b, 10), "[2001:db8::1]:80");
        let c: std::net::SocketAddr = "10.0.0.1:80".parse().unwrap();
        assert_eq!(short_addr(&c, 5), "10.0.0.1:80");
    }

    /// Written by hand as std writes them: every run of zero groups at every place, IPv4
    /// mapped and compatible addresses, scope ids.
    #[test]
    fn addresses_as_std_writes_them() {
        let mut n = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            n ^= n << 13;
            n ^= n >> 7;
            n ^= n << 17;
            n
        };
        for _ in 0..200_000 {
            let bits = next();
            // Each group zero, small or any, at random.
            let groups: [u16; 8] = std::array::from_fn(|i| match (bits >> (i * 2)) & 3 {
                0 | 1 => 0,
                2 => (next() % 0x20) as u16,
                _ => next() as u16,
            });
            let port = (next() % 65536) as u16;
            let scope = if next() % 50 == 0 { 3 } else { 0 };
            let v6 = SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(groups), port, 0, scope));
            let mapped = Ipv6Addr::from(groups).to_canonical();
            let v4 = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::from(next() as u32)), port);
            for a in [v6, v4, SocketAddr::new(mapped, port)] {
                let std_text = a.to_string();
                assert_eq!(short_addr(&a, usize::MAX), std_text);
                let old = match a {
                    SocketAddr::V6(v6) if std_text.len() > 24 => {
                        let ip = v6.ip().to_string();
                        let g: Vec<&str> = ip.split(':').collect();
                        if g.len() <= 4 {
                            std_text.clone()
                        } else {
                            format!("[{}:{}:…:{}]:{}", g[0], g[1], g[g.len() - 1], v6.port())
                        }
                    }
                    _ => std_text.clone(),
                };
                assert_eq!(short_addr(&a, 24), old);
            }
        }
    }
}
