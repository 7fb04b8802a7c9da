//! Fitting text to a width: the terminal's, `COLUMNS`, or 100 when not a terminal (the
//! command decides and passes it down). Widths are counted in characters: everything
//! synack prints is one column per character (`→`, `…` and `·` included).

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
pub fn short_addr(addr: &std::net::SocketAddr, max: usize) -> String {
    let full = addr.to_string();
    let std::net::SocketAddr::V6(v6) = addr else {
        return full;
    };
    if width(&full) <= max {
        return full;
    }
    let ip = v6.ip().to_string();
    let groups: Vec<&str> = ip.split(':').collect();
    if groups.len() <= 4 {
        return full;
    }
    let n = groups.len();
    format!(
        "[{}:{}:…:{}]:{}",
        groups[0],
        groups[1],
        groups[n - 1],
        v6.port()
    )
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
}
