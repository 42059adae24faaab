//! Query strings: decoding `application/x-www-form-urlencoded` pairs (repeated keys
//! kept in order) and escaping values for links and headers.

/// The pairs of a raw query string, decoded, in order. Keys may repeat.
pub(crate) fn pairs(raw: Option<&str>) -> Vec<(String, String)> {
    let Some(raw) = raw else { return Vec::new() };
    raw.split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (key, value) = part.split_once('=').unwrap_or((part, ""));
            (decode(key), decode(value))
        })
        .collect()
}

/// Every value of `key`, in order.
pub(crate) fn all<'a>(pairs: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    pairs
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// The first value of `key`.
pub(crate) fn first<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Percent-decodes `s`, `+` as a space; a malformed escape stays as written and
/// invalid UTF-8 becomes U+FFFD.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Escapes everything but ASCII letters, digits and `-._~` as `%XX` (nginx's
/// `escape_uri`, as Kong writes its `next` links).
pub(crate) fn escape(s: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Go's `url.QueryEscape`: spaces as `+`, letters, digits and `-._~` as they are,
/// everything else `%XX`.
pub(crate) fn query_escape(s: &str) -> String {
    escape(s).replace("%20", "+")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_decode_and_keep_repeats() {
        let p = pairs(Some("a=1&isolation_segment=&b=x%20y+z&a=2&flag&bad=%zz%4"));
        assert_eq!(
            p,
            [
                ("a".to_string(), "1".to_string()),
                ("isolation_segment".into(), String::new()),
                ("b".into(), "x y z".into()),
                ("a".into(), "2".into()),
                ("flag".into(), String::new()),
                ("bad".into(), "%zz%4".into()),
            ]
        );
        assert_eq!(all(&p, "a"), ["1", "2"]);
        assert_eq!(first(&p, "b"), Some("x y z"));
        assert_eq!(first(&p, "c"), None);
        assert!(pairs(None).is_empty());
        assert_eq!(pairs(Some("x=%E2%9C%93"))[0].1, "\u{2713}");
    }

    #[test]
    fn escaping() {
        assert_eq!(escape("a b/c,d~"), "a%20b%2Fc%2Cd~");
        assert_eq!(
            query_escape("ports & load balancers"),
            "ports+%26+load+balancers"
        );
    }
}
