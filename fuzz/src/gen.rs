//! Near-valid JSON documents built from the fuzzer's bytes.
//!
//! A [`Field`] names a key of a dialect's object and a few JSON texts for its
//! value: valid ones, boundary ones and wrong types. [`object`] picks some of
//! the fields, mostly with one of those values and sometimes with an arbitrary
//! JSON value, and now and then adds a key the dialect does not know. The
//! documents therefore sit close to what the decoders accept, where the
//! interesting rules are, instead of failing at the first byte as random bytes
//! mostly do.

use arbitrary::{Result, Unstructured};
use serde_json::{Map, Number, Value};

/// A key of an object and JSON texts for its value.
pub(crate) type Field = (&'static str, &'static [&'static str]);

/// Strings that exercise decoders: empty, case, separators, escapes, non-ASCII.
const STRINGS: &[&str] = &[
    "",
    "a",
    "A.COM",
    "a.com",
    "*.a.com",
    "/",
    "/a/b",
    "~/a/\\d+",
    "10.0.0.1",
    "::1",
    "1024-2000",
    " ",
    "\u{0}",
    "é",
    "a\u{0}b",
    "%",
    "\\",
    "-1",
    "9999999999999999999999",
];

/// Numbers around the limits the dialects check.
const NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "80",
    "100",
    "101",
    "120",
    "121",
    "1023",
    "1024",
    "65535",
    "65536",
    "2147483647",
    "2147483648",
    "-2147483649",
    "9223372036854775807",
    "18446744073709551615",
    "18446744073709551616",
    "1.5",
    "1e2",
    "-0",
    "50.0",
];

/// An arbitrary JSON value, at most `depth` levels deep.
pub(crate) fn any_value(u: &mut Unstructured<'_>, depth: u32) -> Result<Value> {
    let pick = if depth == 0 {
        u.int_in_range(0..=4)?
    } else {
        u.int_in_range(0..=6)?
    };
    Ok(match pick {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => text(u.choose(NUMBERS)?),
        3 => match u.int_in_range(0..=2)? {
            0 => Value::Number(Number::from(u.arbitrary::<i64>()?)),
            1 => Value::Number(Number::from(u.arbitrary::<u64>()?)),
            _ => Number::from_f64(u.arbitrary::<f64>()?).map_or(Value::Null, Value::Number),
        },
        4 => Value::String(if u.arbitrary()? {
            (*u.choose(STRINGS)?).to_string()
        } else {
            u.arbitrary::<String>()?
        }),
        5 => {
            let n = u.int_in_range(0..=3)?;
            let mut list = Vec::with_capacity(n);
            for _ in 0..n {
                list.push(any_value(u, depth - 1)?);
            }
            Value::Array(list)
        }
        _ => {
            let n = u.int_in_range(0..=3)?;
            let mut map = Map::new();
            for _ in 0..n {
                let key = if u.arbitrary()? {
                    (*u.choose(STRINGS)?).to_string()
                } else {
                    u.arbitrary::<String>()?
                };
                map.insert(key, any_value(u, depth - 1)?);
            }
            Value::Object(map)
        }
    })
}

/// Parses one of the JSON texts of a field table (written by hand, always valid).
pub(crate) fn text(json: &str) -> Value {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("bad JSON in a field table {json:?}: {e}"))
}

/// A value for a field: mostly one of its texts, sometimes anything.
pub(crate) fn field_value(u: &mut Unstructured<'_>, values: &[&str]) -> Result<Value> {
    if values.is_empty() || u.ratio(1, 6)? {
        any_value(u, 2)
    } else {
        Ok(text(u.choose(values)?))
    }
}

/// An object with some of `fields` (each with probability 3/4), and sometimes
/// an unknown key.
pub(crate) fn object(u: &mut Unstructured<'_>, fields: &[Field]) -> Result<Map<String, Value>> {
    let mut map = Map::new();
    for (key, values) in fields {
        if u.ratio(3, 4)? {
            map.insert((*key).to_string(), field_value(u, values)?);
        }
    }
    if u.ratio(1, 10)? {
        let key = if u.arbitrary()? {
            "unknown_field".to_string()
        } else {
            u.arbitrary::<String>()?
        };
        map.insert(key, any_value(u, 1)?);
    }
    Ok(map)
}

/// A list of `1..=max` objects built by `one`, sometimes empty.
pub(crate) fn list(
    u: &mut Unstructured<'_>,
    max: usize,
    mut one: impl FnMut(&mut Unstructured<'_>) -> Result<Value>,
) -> Result<Value> {
    let n = u.int_in_range(0..=max)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(one(u)?);
    }
    Ok(Value::Array(out))
}

/// The document as bytes: usually compact JSON; sometimes pretty, or with its
/// last byte cut off (a truncated body).
pub(crate) fn render(u: &mut Unstructured<'_>, doc: &Value) -> Vec<u8> {
    let mut bytes = match u.int_in_range(0u8..=9).unwrap_or(0) {
        0 => serde_json::to_vec_pretty(doc).unwrap_or_default(),
        _ => serde_json::to_vec(doc).unwrap_or_default(),
    };
    if u.ratio(1u8, 20).unwrap_or(false) {
        bytes.pop();
    }
    bytes
}

/// Replaces every `from` in `bytes` by `to` (the placeholders seed files use for
/// ids known only at run time).
pub(crate) fn substitute(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if !from.is_empty() && bytes[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}
