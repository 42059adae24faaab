//! CF's URL check for `route` and `route_service_url`.
//!
//! routing-api accepts a URL only if Go's `net/url.Parse` accepts it and the parsed
//! URL prints back as exactly the same string. This module reproduces the parts of
//! Go's parser and printer that decide that outcome (queries and fragments are
//! rejected before parsing, so they never reach it), including Go's error texts,
//! which CF passes through to the client.

use std::fmt::Write as _;

/// Why a URL was refused, as CF words it.
pub(crate) fn validate_url(raw: &str) -> Result<(), String> {
    if is_plain_path(raw) {
        return Ok(());
    }
    if raw.contains(['?', '#']) {
        return Err("url cannot contain any of [?, #]".to_string());
    }
    let url = parse(raw).map_err(|e| format!("parse {}: {e}", go_quote(raw)))?;
    if url.to_go_string() != raw {
        return Err("url cannot contain invalid characters".to_string());
    }
    Ok(())
}

/// Whether `raw` certainly survives Go's parse-and-print unchanged, decided in
/// one pass without allocating: no `:` (so no scheme), no `%` (so nothing to
/// decode), no leading `//` (so no authority), and only bytes that Go's path
/// printer either leaves alone or accepts as already encoded. Most routes
/// (`host.example.com/some/path`) take this path.
fn is_plain_path(raw: &str) -> bool {
    !raw.starts_with("//")
        && raw
            .bytes()
            .all(|c| is_unreserved(c) || is_sub_delim(c) || matches!(c, b'/' | b'@' | b'[' | b']'))
}

/// RFC 3986 `unreserved`: letters, digits, `-`, `.`, `_`, `~`.
pub(crate) fn is_unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~')
}

/// RFC 3986 `sub-delims`: `!$&'()*+,;=`.
pub(crate) fn is_sub_delim(c: u8) -> bool {
    matches!(
        c,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Path,
    Host,
    UserPassword,
}

#[derive(Default)]
struct GoUrl {
    scheme: String,
    opaque: String,
    user: Option<(String, Option<String>)>,
    host: String,
    omit_host: bool,
    path: String,
    raw_path: String,
}

fn parse(raw: &str) -> Result<GoUrl, String> {
    if raw.bytes().any(|b| b < b' ' || b == 0x7f) {
        return Err("net/url: invalid control character in URL".to_string());
    }
    let mut url = GoUrl::default();
    if raw == "*" {
        url.path = "*".to_string();
        return Ok(url);
    }
    let (scheme, mut rest) = get_scheme(raw)?;
    url.scheme = scheme.to_ascii_lowercase();

    if !rest.starts_with('/') {
        if !url.scheme.is_empty() {
            url.opaque = rest.to_string();
            return Ok(url);
        }
        let segment = rest.split('/').next().unwrap_or("");
        if segment.contains(':') {
            return Err("first path segment in URL cannot contain colon".to_string());
        }
    }

    if (!url.scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
        let after = &rest[2..];
        let (authority, path) = match after.find('/') {
            Some(i) => (&after[..i], &after[i..]),
            None => (after, ""),
        };
        let (user, host) = parse_authority(authority)?;
        url.user = user;
        url.host = host;
        rest = path;
    } else if !url.scheme.is_empty() && rest.starts_with('/') {
        url.omit_host = true;
    }

    url.path = unescape(rest, Mode::Path)?;
    url.raw_path = if escape(&url.path, Mode::Path) == rest {
        String::new()
    } else {
        rest.to_string()
    };
    Ok(url)
}

fn get_scheme(raw: &str) -> Result<(&str, &str), String> {
    for (i, c) in raw.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' => {
                if i == 0 {
                    return Ok(("", raw));
                }
            }
            b':' => {
                if i == 0 {
                    return Err("missing protocol scheme".to_string());
                }
                return Ok((&raw[..i], &raw[i + 1..]));
            }
            _ => return Ok(("", raw)),
        }
    }
    Ok(("", raw))
}

type User = Option<(String, Option<String>)>;

fn parse_authority(authority: &str) -> Result<(User, String), String> {
    let at = authority.rfind('@');
    let host = parse_host(match at {
        Some(i) => &authority[i + 1..],
        None => authority,
    })?;
    let Some(i) = at else {
        return Ok((None, host));
    };
    let userinfo = &authority[..i];
    if !valid_userinfo(userinfo) {
        return Err("net/url: invalid userinfo".to_string());
    }
    let user = match userinfo.split_once(':') {
        None => (unescape(userinfo, Mode::UserPassword)?, None),
        Some((name, password)) => (
            unescape(name, Mode::UserPassword)?,
            Some(unescape(password, Mode::UserPassword)?),
        ),
    };
    Ok((Some(user), host))
}

fn valid_userinfo(s: &str) -> bool {
    s.bytes()
        .all(|b| is_unreserved(b) || is_sub_delim(b) || matches!(b, b':' | b'%' | b'@'))
}

fn parse_host(host: &str) -> Result<String, String> {
    if host.starts_with('[') {
        let Some(i) = host.rfind(']') else {
            return Err("missing ']' in host".to_string());
        };
        let colon_port = &host[i + 1..];
        if !valid_optional_port(colon_port) {
            return Err(format!("invalid port {} after host", go_quote(colon_port)));
        }
    } else if let Some(i) = host.rfind(':') {
        let colon_port = &host[i..];
        if !valid_optional_port(colon_port) {
            return Err(format!("invalid port {} after host", go_quote(colon_port)));
        }
    }
    unescape(host, Mode::Host)
}

fn valid_optional_port(port: &str) -> bool {
    match port.strip_prefix(':') {
        None => port.is_empty(),
        Some(digits) => digits.bytes().all(|b| b.is_ascii_digit()),
    }
}

fn should_escape(c: u8, mode: Mode) -> bool {
    if c.is_ascii_alphanumeric() {
        return false;
    }
    // Go lets a host keep its sub-delims, `:` and `[]` (port and IPv6 literal),
    // and `<>"` (which parsing then refuses).
    if mode == Mode::Host
        && (is_sub_delim(c) || matches!(c, b':' | b'[' | b']' | b'<' | b'>' | b'"'))
    {
        return false;
    }
    match c {
        b'-' | b'_' | b'.' | b'~' => false,
        b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?' | b'@' => match mode {
            Mode::Path => c == b'?',
            Mode::UserPassword => matches!(c, b'@' | b'/' | b'?' | b':'),
            // Reached only for characters the host branch above did not allow.
            Mode::Host => true,
        },
        _ => true,
    }
}

pub(crate) fn unhex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Go's `unescape`, with its errors. The decoded bytes may not be UTF-8 (`%ff`), so
/// they are kept lossily; only their re-escaped form is ever compared.
fn unescape(s: &str, mode: Mode) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hi = b.get(i + 1).copied().and_then(unhex);
                let lo = b.get(i + 2).copied().and_then(unhex);
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    let end = (i + 3).min(b.len());
                    return Err(format!("invalid URL escape {}", go_quote_bytes(&b[i..end])));
                };
                if mode == Mode::Host && hi < 8 && &b[i..i + 3] != b"%25" {
                    return Err(format!(
                        "invalid URL escape {}",
                        go_quote_bytes(&b[i..i + 3])
                    ));
                }
                out.push((hi << 4) | lo);
                i += 3;
            }
            c => {
                if mode == Mode::Host && c < 0x80 && should_escape(c, mode) {
                    return Err(format!(
                        "invalid character {} in host name",
                        go_quote_bytes(&b[i..i + 1])
                    ));
                }
                out.push(c);
                i += 1;
            }
        }
    }
    // Keep raw bytes exactly: map each byte to a char of the same value so that
    // `escape` can recover it.
    Ok(out.into_iter().map(char::from).collect())
}

/// Go's `escape` over the byte values produced by [`unescape`].
fn escape(s: &str, mode: Mode) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        let c = u32::from(ch);
        if c > 0xff {
            // Only possible for input that did not come from `unescape`; escape
            // its UTF-8 bytes as Go would.
            let mut buf = [0u8; 4];
            for &byte in ch.encode_utf8(&mut buf).as_bytes() {
                let _ = write!(out, "%{byte:02X}");
            }
            continue;
        }
        let byte = c as u8;
        if should_escape(byte, mode) {
            let _ = write!(out, "%{byte:02X}");
        } else {
            out.push(char::from(byte));
        }
    }
    out
}

fn valid_encoded(s: &str) -> bool {
    s.bytes().all(|c| {
        is_sub_delim(c)
            || matches!(c, b':' | b'@' | b'[' | b']' | b'%')
            || !should_escape(c, Mode::Path)
    })
}

impl GoUrl {
    fn escaped_path(&self) -> String {
        if !self.raw_path.is_empty()
            && valid_encoded(&self.raw_path)
            && unescape(&self.raw_path, Mode::Path).as_deref() == Ok(self.path.as_str())
        {
            return self.raw_path.clone();
        }
        if self.path == "*" {
            return "*".to_string();
        }
        escape(&self.path, Mode::Path)
    }

    /// Go's `URL.String` for URLs without query or fragment. Decoded bytes are
    /// compared as the chars [`unescape`] produced, so the result is compared with
    /// the original input byte for byte only where that input was ASCII; non-ASCII
    /// input always comes back percent-encoded and so never equals the original.
    fn to_go_string(&self) -> String {
        let mut buf = String::new();
        if !self.scheme.is_empty() {
            buf.push_str(&self.scheme);
            buf.push(':');
        }
        if !self.opaque.is_empty() {
            buf.push_str(&self.opaque);
            return buf;
        }
        let has_authority = !self.scheme.is_empty() || !self.host.is_empty() || self.user.is_some();
        let omitted = self.omit_host && self.host.is_empty() && self.user.is_none();
        if has_authority && !omitted {
            if !self.host.is_empty() || !self.path.is_empty() || self.user.is_some() {
                buf.push_str("//");
            }
            if let Some((name, password)) = &self.user {
                buf.push_str(&escape(name, Mode::UserPassword));
                if let Some(password) = password {
                    buf.push(':');
                    buf.push_str(&escape(password, Mode::UserPassword));
                }
                buf.push('@');
            }
            buf.push_str(&escape(&self.host, Mode::Host));
        }
        let path = self.escaped_path();
        if !path.is_empty() && !path.starts_with('/') && !self.host.is_empty() {
            buf.push('/');
        }
        if buf.is_empty() {
            let segment = path.split('/').next().unwrap_or("");
            if segment.contains(':') {
                buf.push_str("./");
            }
        }
        buf.push_str(&path);
        buf
    }
}

/// Go's `strconv.Quote` for the strings that reach an error message.
fn go_quote(s: &str) -> String {
    go_quote_bytes(s.as_bytes())
}

fn go_quote_bytes(bytes: &[u8]) -> String {
    let mut out = String::from("\"");
    for chunk in bytes.utf8_chunks() {
        for ch in chunk.valid().chars() {
            match ch {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                '\x07' => out.push_str("\\a"),
                '\x08' => out.push_str("\\b"),
                '\x0c' => out.push_str("\\f"),
                '\x0b' => out.push_str("\\v"),
                c if (c as u32) < 0x20 || c == '\x7f' => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                c if c.is_control() => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c => out.push(c),
            }
        }
        for &b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::{is_plain_path, parse, validate_url};

    #[test]
    fn plain_paths_agree_with_the_full_check() {
        // Every string the fast path accepts must also pass the full parse and print.
        let alphabet = [
            "a", "Z", "0", "-", ".", "_", "~", "/", "!", "$", "&", "'", "(", ")", "*", "+", ",",
            ";", "=", "@", "[", "]",
        ];
        let mut checked = 0;
        for a in alphabet {
            for b in alphabet {
                for c in alphabet {
                    let s = format!("{a}{b}{c}");
                    if is_plain_path(&s) {
                        let url = parse(&s).unwrap();
                        assert_eq!(url.to_go_string(), s);
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 10_000);
        assert!(!is_plain_path("//host/x"));
        assert!(!is_plain_path("a:b"));
        assert!(!is_plain_path("a%20"));
    }

    #[test]
    fn accepted_urls() {
        for url in [
            "",
            "myapp.com",
            "myapp.com/somepath",
            "myapp.com/some/deep/path/",
            "*.example.com/x",
            "myapp.com:8080/path",
            "foo.com/a!b$c&d'e(f)g*h+i,j;k=l:m@n",
            "foo.com/[bracket]",
            "foo.com/%20space",
            "foo.com/a%2Fb",
            "foo.com/%7e",
            "https://rs.example.com",
            "https://rs.example.com:8443/path",
            "https://user:pass@rs.example.com/x",
            "/just/a/path",
            "*",
        ] {
            assert_eq!(validate_url(url), Ok(()), "{url:?}");
        }
    }

    #[test]
    fn refused_urls_with_go_messages() {
        let table: &[(&str, &str)] = &[
            ("foo.com/bar?a", "url cannot contain any of [?, #]"),
            ("foo.com/bar#a", "url cannot contain any of [?, #]"),
            ("/foo/b ar", "url cannot contain invalid characters"),
            ("foo.com/ü", "url cannot contain invalid characters"),
            ("foo.com/a\"b", "url cannot contain invalid characters"),
            ("foo.com/{x}", "url cannot contain invalid characters"),
            ("MyApp.com:80/x", "url cannot contain invalid characters"),
            ("/foo/bar%", "parse \"/foo/bar%\": invalid URL escape \"%\""),
            (
                "foo.com/%zz",
                "parse \"foo.com/%zz\": invalid URL escape \"%zz\"",
            ),
            (
                "foo.com/%4",
                "parse \"foo.com/%4\": invalid URL escape \"%4\"",
            ),
            (":foo", "parse \":foo\": missing protocol scheme"),
            (
                "my_app:80/x",
                "parse \"my_app:80/x\": first path segment in URL cannot contain colon",
            ),
            (
                "foo\u{1}.com",
                "parse \"foo\\x01.com\": net/url: invalid control character in URL",
            ),
            (
                "https://my route.com",
                "parse \"https://my route.com\": invalid character \" \" in host name",
            ),
            (
                "https://host:abc/x",
                "parse \"https://host:abc/x\": invalid port \":abc\" after host",
            ),
            (
                "https://[::1/x",
                "parse \"https://[::1/x\": missing ']' in host",
            ),
        ];
        for (url, message) in table {
            assert_eq!(validate_url(url).unwrap_err(), *message, "{url:?}");
        }
    }
}
