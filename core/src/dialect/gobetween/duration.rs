//! Go's duration syntax (`time.ParseDuration`, `Duration.String`), which
//! gobetween uses for every timeout and interval.

use std::fmt;
use std::time::Duration;

const NS: u128 = 1;
const US: u128 = 1_000;
const MS: u128 = 1_000_000;
const S: u128 = 1_000_000_000;
const MIN: u128 = 60 * S;
const H: u128 = 60 * MIN;

/// A duration as Go holds it: signed nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GoDuration(pub i64);

impl GoDuration {
    /// The duration as a timeout: `None` for zero or negative, which gobetween
    /// treats as "no timeout".
    pub fn as_timeout(self) -> Option<Duration> {
        u64::try_from(self.0)
            .ok()
            .filter(|n| *n > 0)
            .map(Duration::from_nanos)
    }
}

/// A string Go's `time.ParseDuration` refuses, with Go's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DurationError {
    message: String,
}

impl DurationError {
    fn invalid(s: &str) -> DurationError {
        DurationError {
            message: format!("time: invalid duration {}", quote(s)),
        }
    }

    /// Go's message, such as `time: missing unit in duration "10"`.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DurationError {}

/// Go's `strconv.Quote` for the strings that appear in these messages: a
/// double-quoted string with `"`, `\` and control characters escaped.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn unit(u: &str) -> Option<u128> {
    Some(match u {
        "ns" => NS,
        "us" | "\u{b5}s" | "\u{3bc}s" => US,
        "ms" => MS,
        "s" => S,
        "m" => MIN,
        "h" => H,
        _ => return None,
    })
}

/// Parses a duration exactly as Go's `time.ParseDuration` does: an optional
/// sign, then one or more decimal numbers each with a unit (`ns`, `us`, `µs`,
/// `ms`, `s`, `m`, `h`), such as `"1h30m"` or `"-1.5s"`; `"0"` alone needs no
/// unit.
///
/// # Errors
///
/// Go's texts: `time: invalid duration "<s>"`, `time: missing unit in
/// duration "<s>"`, `time: unknown unit "<u>" in duration "<s>"`.
pub fn parse_duration(s: &str) -> Result<GoDuration, DurationError> {
    let orig = s;
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut neg = false;
    if let Some(&c) = bytes.first() {
        if c == b'-' || c == b'+' {
            neg = c == b'-';
            i = 1;
        }
    }
    if &s[i..] == "0" {
        return Ok(GoDuration(0));
    }
    if i == bytes.len() {
        return Err(DurationError::invalid(orig));
    }
    let mut total: u128 = 0;
    let limit: u128 = 1 << 63;
    while i < bytes.len() {
        let c = bytes[i];
        if !(c == b'.' || c.is_ascii_digit()) {
            return Err(DurationError::invalid(orig));
        }
        // The integer part.
        let start = i;
        let mut whole: u128 = 0;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            whole = whole * 10 + u128::from(bytes[i] - b'0');
            if whole > limit {
                return Err(DurationError::invalid(orig));
            }
            i += 1;
        }
        let pre = i != start;
        // The fraction.
        let mut frac: u128 = 0;
        let mut scale: u128 = 1;
        let mut post = false;
        if i < bytes.len() && bytes[i] == b'.' {
            i += 1;
            let fstart = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                // Digits beyond what can matter are skipped, as Go does.
                if scale < 1_000_000_000_000_000_000 {
                    frac = frac * 10 + u128::from(bytes[i] - b'0');
                    scale *= 10;
                }
                i += 1;
            }
            post = i != fstart;
        }
        if !pre && !post {
            return Err(DurationError::invalid(orig));
        }
        // The unit: everything up to the next digit or dot.
        let ustart = i;
        while i < bytes.len() && !(bytes[i] == b'.' || bytes[i].is_ascii_digit()) {
            i += 1;
        }
        if ustart == i {
            return Err(DurationError {
                message: format!("time: missing unit in duration {}", quote(orig)),
            });
        }
        let u = &s[ustart..i];
        let Some(mult) = unit(u) else {
            return Err(DurationError {
                message: format!(
                    "time: unknown unit {} in duration {}",
                    quote(u),
                    quote(orig)
                ),
            });
        };
        let v = whole
            .checked_mul(mult)
            .filter(|v| *v <= limit)
            .ok_or_else(|| DurationError::invalid(orig))?;
        let v = v + frac * mult / scale;
        total += v;
        if total > limit {
            return Err(DurationError::invalid(orig));
        }
    }
    if neg {
        // `limit` is 2^63, which fits as i64::MIN.
        Ok(GoDuration(0i64.wrapping_sub_unsigned(total as u64)))
    } else if total >= limit {
        Err(DurationError::invalid(orig))
    } else {
        // Below 2^63 here.
        Ok(GoDuration(total as i64))
    }
}

/// Writes `v / 10^prec` with its fraction trimmed of trailing zeros.
fn frac_str(v: u128, prec: u32) -> String {
    let base = 10u128.pow(prec);
    let (w, f) = (v / base, v % base);
    if f == 0 {
        return w.to_string();
    }
    let digits = format!("{f:0width$}", width = prec as usize);
    format!("{w}.{}", digits.trim_end_matches('0'))
}

/// Formats a duration as Go's `Duration.String` does: `"0s"`, `"1.5ms"`,
/// `"2m0s"`, `"1h2m3.5s"`. gobetween's `GET /` shows `uptime` this way.
pub fn format_duration(d: GoDuration) -> String {
    if d.0 == 0 {
        return "0s".to_string();
    }
    let neg = d.0 < 0;
    let u = u128::from(d.0.unsigned_abs());
    let body = if u < S {
        if u < US {
            format!("{u}ns")
        } else if u < MS {
            format!("{}\u{b5}s", frac_str(u, 3))
        } else {
            format!("{}ms", frac_str(u, 6))
        }
    } else {
        let h = u / H;
        let m = (u % H) / MIN;
        let secs = frac_str(u % MIN, 9);
        if h > 0 {
            format!("{h}h{m}m{secs}s")
        } else if m > 0 {
            format!("{m}m{secs}s")
        } else {
            format!("{secs}s")
        }
    };
    if neg {
        format!("-{body}")
    } else {
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let ok: &[(&str, i64)] = &[
            ("0", 0),
            ("-0", 0),
            ("+0", 0),
            ("5s", 5_000_000_000),
            ("1.5s", 1_500_000_000),
            ("1h30m", 5_400_000_000_000),
            ("-1.5h", -5_400_000_000_000),
            (".5s", 500_000_000),
            ("5.s", 5_000_000_000),
            ("100ms", 100_000_000),
            ("3us", 3_000),
            ("3\u{b5}s", 3_000),
            ("3\u{3bc}s", 3_000),
            ("7ns", 7),
            ("1m1s1ms", 61_001_000_000),
            ("9223372036854775807ns", i64::MAX),
            ("-9223372036854775808ns", i64::MIN),
            ("0.000000001s", 1),
            ("0.1234567891s", 123_456_789),
        ];
        for &(s, want) in ok {
            assert_eq!(parse_duration(s), Ok(GoDuration(want)), "{s}");
        }
        let bad: &[(&str, &str)] = &[
            ("", r#"time: invalid duration """#),
            ("-", r#"time: invalid duration "-""#),
            ("s", r#"time: invalid duration "s""#),
            (".s", r#"time: invalid duration ".s""#),
            ("10", r#"time: missing unit in duration "10""#),
            ("1s2", r#"time: missing unit in duration "1s2""#),
            ("10x", r#"time: unknown unit "x" in duration "10x""#),
            ("1 s", r#"time: unknown unit " s" in duration "1 s""#),
            ("abc", r#"time: invalid duration "abc""#),
            (
                "9223372036854775808ns",
                r#"time: invalid duration "9223372036854775808ns""#,
            ),
            ("3000000h", r#"time: invalid duration "3000000h""#),
            (
                "99999999999999999999999999999s",
                r#"time: invalid duration "99999999999999999999999999999s""#,
            ),
            ("--1s", r#"time: invalid duration "--1s""#),
        ];
        for &(s, want) in bad {
            assert_eq!(parse_duration(s).unwrap_err().message(), want, "{s}");
        }
    }

    #[test]
    fn format_table() {
        for (n, want) in [
            (0, "0s"),
            (1, "1ns"),
            (1_500, "1.5\u{b5}s"),
            (1_500_000, "1.5ms"),
            (1_000_000_000, "1s"),
            (1_500_000_000, "1.5s"),
            (120_000_000_000, "2m0s"),
            (3_600_000_000_000, "1h0m0s"),
            (3_723_500_000_000, "1h2m3.5s"),
            (-1_500_000_000, "-1.5s"),
            (i64::MIN, "-2562047h47m16.854775808s"),
        ] {
            assert_eq!(format_duration(GoDuration(n)), want, "{n}");
            assert_eq!(parse_duration(want), Ok(GoDuration(n)), "{want}");
        }
    }

    #[test]
    fn timeouts() {
        assert_eq!(GoDuration(0).as_timeout(), None);
        assert_eq!(GoDuration(-5).as_timeout(), None);
        assert_eq!(GoDuration(5).as_timeout(), Some(Duration::from_nanos(5)));
    }
}
