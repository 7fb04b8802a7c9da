//! Making text taken from packets safe to print: a server name or a header value can hold
//! escape sequences that would drive the reader's terminal, or markup that would break
//! an SVG file.

use std::fmt::Write as _;

/// Printable ASCII as is, a backslash doubled, every other byte (control characters,
/// DEL, anything non-ASCII) as `\xNN`: the result is plain ASCII that cannot move the
/// cursor, change colors or set the window title.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out
}

/// [`escape_bytes`] of a string's UTF-8 bytes.
pub fn escape_text(s: &str) -> String {
    escape_bytes(s.as_bytes())
}

/// XML character data and attribute values: the five markup characters as entities, and
/// control characters as [`escape_bytes`] writes them (XML 1.0 forbids most of them even
/// as character references), so that any text gives a well-formed document.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            c if c.is_control() => out.push_str(&escape_text(c.encode_utf8(&mut [0; 4]))),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_non_ascii_bytes_are_escaped() {
        assert_eq!(escape_bytes(b"a.example"), "a.example");
        assert_eq!(escape_bytes(b"\x1b]0;pwned\x07x"), "\\x1b]0;pwned\\x07x");
        assert_eq!(escape_bytes(b"\\x41"), "\\\\x41");
        assert_eq!(
            escape_bytes(&[0x7f, 0xc3, 0xa9, b'\n']),
            "\\x7f\\xc3\\xa9\\x0a"
        );
        assert_eq!(escape_text("é"), "\\xc3\\xa9");
    }

    #[test]
    fn markup_becomes_entities() {
        assert_eq!(
            xml_escape("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;"
        );
        assert_eq!(xml_escape("a\u{1b}[0m\u{85}\\"), "a\\x1b[0m\\xc2\\x85\\");
    }
}
