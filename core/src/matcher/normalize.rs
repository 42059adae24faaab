//! Preparing a request's path and host for matching, as Kong 3.x does.

use std::borrow::Cow;

use crate::model::url::{is_unreserved, unhex as hex};

/// The path without its query, normalised: `%XX` escapes of unreserved
/// characters decoded, other escapes' hex digits uppercased, dot segments
/// removed and repeated slashes merged. Borrowed when nothing changes, which is
/// the common case.
pub(crate) fn path(raw: &str) -> Cow<'_, str> {
    let (end, needs_work) = scan_path(raw.as_bytes());
    let raw = &raw[..end];
    if !needs_work {
        return Cow::Borrowed(raw);
    }
    Cow::Owned(remove_dot_segments(&merge_slashes(&decode_unreserved(raw))))
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The high bit of every byte of `w` equal to `c` (exact: no false positives).
#[inline]
fn bytes_equal(w: u64, c: u8) -> u64 {
    let x = w ^ (LO * u64::from(c));
    !(((x & !HI).wrapping_add(!HI)) | x) & HI
}

/// Where the path ends (at `?` or the end) and whether anything before that
/// needs normalising: a `%`, a `//` or `/.`, or a leading `.`. Eight bytes at a
/// time; the last few bytes are read as one word too.
#[inline]
fn scan_path(b: &[u8]) -> (usize, bool) {
    let mut work = b.first() == Some(&b'.');
    // Whether the byte before the current word is a `/` (as its high bit).
    let mut carry = 0u64;
    let mut chunks = b.chunks_exact(8);
    let mut at = 0;
    // The flags of a word and where a `?` in it is, if any.
    let word = |w: u64, carry: u64| {
        let slash = bytes_equal(w, b'/');
        let pair = ((slash << 8) | carry) & (slash | bytes_equal(w, b'.'));
        (pair | bytes_equal(w, b'%'), bytes_equal(w, b'?'), slash)
    };
    for chunk in &mut chunks {
        let w = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        let (flags, query, slash) = word(w, carry);
        if query != 0 {
            return end_at(at, query, flags, work);
        }
        work |= flags != 0;
        carry = (slash >> 56) & 0x80;
        at += 8;
    }
    let rest = chunks.remainder();
    if rest.is_empty() {
        return (b.len(), work);
    }
    // The rest in the low bytes of a word, zeros above: a zero byte is none
    // of the bytes looked for.
    let w = match b.len().checked_sub(8) {
        Some(start) => {
            let last = u64::from_le_bytes(b[start..].try_into().unwrap_or([0; 8]));
            last >> (8 * (8 - rest.len()))
        }
        None => {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            u64::from_le_bytes(last)
        }
    };
    let (flags, query, _) = word(w, carry);
    if query != 0 {
        return end_at(at, query, flags, work);
    }
    (b.len(), work || flags != 0)
}

/// The end of a path whose word at `at` holds a `?` (the lowest bit of `query`),
/// counting only the flags before it.
#[inline]
fn end_at(at: usize, query: u64, flags: u64, work: bool) -> (usize, bool) {
    let q = query.trailing_zeros();
    let before = (1u64 << q) - 1;
    (at + q as usize / 8, work || flags & before != 0)
}

fn decode_unreserved(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(hi), Some(lo)) = (hex(b[i + 1]), hex(b[i + 2])) {
                let c = (hi << 4) | lo;
                if is_unreserved(c) {
                    out.push(char::from(c));
                } else {
                    out.push('%');
                    out.push(char::from(b[i + 1].to_ascii_uppercase()));
                    out.push(char::from(b[i + 2].to_ascii_uppercase()));
                }
                i += 3;
                continue;
            }
        }
        // Copy one UTF-8 character.
        let len = utf8_len(b[i]);
        out.push_str(&s[i..(i + len).min(s.len())]);
        i += len;
    }
    out
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

fn merge_slashes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut last_slash = false;
    for c in s.chars() {
        if c == '/' {
            if last_slash {
                continue;
            }
            last_slash = true;
        } else {
            last_slash = false;
        }
        out.push(c);
    }
    out
}

/// RFC 3986 §5.2.4: `.` segments vanish, `..` removes the segment before it; a
/// path ending in either keeps a trailing slash.
fn remove_dot_segments(input: &str) -> String {
    let (absolute, body) = match input.strip_prefix('/') {
        Some(body) => (true, body),
        None => (false, input),
    };
    let segments: Vec<&str> = body.split('/').collect();
    let mut out: Vec<&str> = Vec::with_capacity(segments.len());
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *segment {
            "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
        if last && matches!(*segment, "." | "..") {
            out.push("");
        }
    }
    let joined = out.join("/");
    if absolute {
        format!("/{joined}")
    } else {
        joined
    }
}

/// A request host split into name and port; the name lowercased (borrowed when
/// already lowercase). IPv6 literals keep their brackets: `[::1]:8080` gives
/// `[::1]` and 8080.
pub(crate) fn host(raw: &str) -> (Cow<'_, str>, Option<u16>) {
    // The common case in one pass: a lowercase name without a port.
    let (colon, upper) = scan_host(raw.as_bytes());
    if !colon && !upper {
        return (Cow::Borrowed(raw), None);
    }
    let (name, port) = split_port(raw);
    let name = if upper {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    };
    (name, port)
}

/// The high bit of every byte of `w` that is an ASCII capital letter.
#[inline]
fn bytes_upper(w: u64) -> u64 {
    // With the high bits cleared no byte carries into the next: a byte is at
    // least `A` when adding 0x80 - b'A' sets its high bit, and past `Z` when
    // adding 0x80 - b'Z' - 1 does. Bytes that had the high bit are not ASCII.
    let low = w & !HI;
    let at_least_a = low.wrapping_add(LO * u64::from(0x80 - b'A'));
    let past_z = low.wrapping_add(LO * u64::from(0x80 - b'Z' - 1));
    (at_least_a ^ past_z) & !w & HI
}

/// Whether a host has a `:` and whether it has a capital letter, eight bytes at a
/// time.
#[inline]
fn scan_host(b: &[u8]) -> (bool, bool) {
    let mut colon = 0u64;
    let mut upper = 0u64;
    let mut chunks = b.chunks_exact(8);
    for chunk in &mut chunks {
        let w = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        colon |= bytes_equal(w, b':');
        upper |= bytes_upper(w);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let w = match b.len().checked_sub(8) {
            // The last eight bytes, overlapping bytes already seen.
            Some(start) => u64::from_le_bytes(b[start..].try_into().unwrap_or([0; 8])),
            // Zero bytes pad a short host: neither a `:` nor a capital.
            None => {
                let mut last = [0u8; 8];
                last[..rest.len()].copy_from_slice(rest);
                u64::from_le_bytes(last)
            }
        };
        colon |= bytes_equal(w, b':');
        upper |= bytes_upper(w);
    }
    (colon != 0, upper != 0)
}

fn split_port(raw: &str) -> (&str, Option<u16>) {
    if raw.starts_with('[') {
        if let Some(end) = raw.find(']') {
            let port = raw[end + 1..]
                .strip_prefix(':')
                .and_then(|p| p.parse().ok());
            return (&raw[..=end], port);
        }
        return (raw, None);
    }
    match raw.rsplit_once(':') {
        // A bare IPv6 address has several colons: it has no port.
        Some((name, port)) if !name.contains(':') => match port.parse() {
            Ok(p) => (name, Some(p)),
            Err(_) => (raw, None),
        },
        _ => (raw, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let table = [
            ("/foo/bar", "/foo/bar"),
            ("/foo?x=1", "/foo"),
            ("/foo//bar///baz", "/foo/bar/baz"),
            ("/foo/./bar", "/foo/bar"),
            ("/foo/../bar", "/bar"),
            ("/foo/bar/..", "/foo/"),
            ("/foo/bar/.", "/foo/bar/"),
            ("/../foo", "/foo"),
            ("/%7Efoo/%41%2f", "/~foo/A%2F"),
            ("/a%2fb", "/a%2Fb"),
            ("/%", "/%"),
            ("/%zz", "/%zz"),
            ("/a/%2E%2E/b", "/b"),
            ("/é/../x", "/x"),
            ("/a?b//c/../d", "/a"),
            ("/a/.hidden", "/a/.hidden"),
            ("./x", "x"),
            ("", ""),
        ];
        for (raw, want) in table {
            assert_eq!(path(raw), want, "{raw}");
        }
        assert!(matches!(path("/plain/path"), Cow::Borrowed(_)));
    }

    /// 400 strings of each length from 0 to 39 over `alphabet`, from a fixed seed
    /// (xorshift), so that the word-at-a-time scans meet every alignment.
    fn random_strings(alphabet: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        (0..40)
            .flat_map(|len| std::iter::repeat_n(len, 400))
            .map(move |len| {
                (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        alphabet[(seed % alphabet.len() as u64) as usize]
                    })
                    .collect()
            })
    }

    #[test]
    fn path_scan_agrees_with_a_byte_loop() {
        fn slow(b: &[u8]) -> (usize, bool) {
            let end = b.iter().position(|&c| c == b'?').unwrap_or(b.len());
            let p = &b[..end];
            let work = p.first() == Some(&b'.')
                || p.contains(&b'%')
                || p.windows(2).any(|w| w == b"//" || w == b"/.");
            (end, work)
        }
        for bytes in random_strings(&[b'/', b'.', b'%', b'?', b'a', b'Z', 0xc3, 0x80]) {
            assert_eq!(scan_path(&bytes), slow(&bytes), "{bytes:?}");
        }
    }

    #[test]
    fn host_scan_agrees_with_a_byte_loop() {
        fn slow(b: &[u8]) -> (bool, bool) {
            (b.contains(&b':'), b.iter().any(u8::is_ascii_uppercase))
        }
        let alphabet = [
            b'a', b'z', b'A', b'Z', b'@', b'[', b'`', b'{', b':', b'.', b'9', 0xc1, 0xda, 0xba, 0,
        ];
        for bytes in random_strings(&alphabet) {
            assert_eq!(scan_host(&bytes), slow(&bytes), "{bytes:?}");
        }
    }

    #[test]
    fn hosts() {
        assert_eq!(
            host("Example.COM:8080"),
            (Cow::Borrowed("example.com"), Some(8080))
        );
        assert_eq!(host("a.com"), (Cow::Borrowed("a.com"), None));
        assert_eq!(host("[::1]:80"), (Cow::Borrowed("[::1]"), Some(80)));
        assert_eq!(host("::1"), (Cow::Borrowed("::1"), None));
        assert_eq!(
            host("a.com:notaport"),
            (Cow::Borrowed("a.com:notaport"), None)
        );
    }
}
