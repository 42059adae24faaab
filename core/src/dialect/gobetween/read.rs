//! Reading gobetween's JSON and TOML documents into the typed model, field by
//! field, as Go's `encoding/json` and BurntSushi's `toml` fill gobetween's
//! config structs: unknown keys are ignored, a key matches its field exactly
//! or else ignoring ASCII case, `null` leaves a field unset, and a value of the
//! wrong type is an error naming the field.

use serde_json::{Map, Number, Value};

use super::{GbEnum, GbError, GbErrorKind};

/// The syntax a document came in; it decides the wording of type errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Syntax {
    Json,
    Toml,
}

/// Marker keys for TOML values JSON cannot hold.
const DATETIME: &str = "\u{0}datetime";
const NONFINITE: &str = "\u{0}float";

/// Converts a TOML value to a JSON value; datetimes and non-finite floats
/// become marker objects that no field accepts.
pub(super) fn toml_to_json(v: toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::Number(i.into()),
        toml::Value::Float(f) => match Number::from_f64(f) {
            Some(n) => Value::Number(n),
            None => marker(NONFINITE, f.to_string()),
        },
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => marker(DATETIME, d.to_string()),
        toml::Value::Array(a) => Value::Array(a.into_iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => {
            Value::Object(t.into_iter().map(|(k, v)| (k, toml_to_json(v))).collect())
        }
    }
}

fn marker(key: &str, text: String) -> Value {
    let mut m = Map::new();
    m.insert(key.to_string(), Value::String(text));
    Value::Object(m)
}

fn is_marker(m: &Map<String, Value>) -> Option<&'static str> {
    if m.len() != 1 {
        return None;
    }
    if m.contains_key(DATETIME) {
        Some("datetime")
    } else if m.contains_key(NONFINITE) {
        Some("float")
    } else {
        None
    }
}

/// What a Go type error calls the JSON value (`numeric` when the target is a
/// number, where Go adds the literal).
fn json_kind(v: &Value, numeric: bool) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "bool".into(),
        Value::Number(n) if numeric => format!("number {n}"),
        Value::Number(_) => "number".into(),
        Value::String(_) => "string".into(),
        Value::Array(_) => "array".into(),
        Value::Object(_) => "object".into(),
    }
}

fn toml_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(m) => is_marker(m).unwrap_or("table"),
    }
}

/// The fields of a `null` object: none.
fn empty_map() -> &'static Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(Map::new)
}

fn decode_error(message: String) -> GbError {
    GbError::new(GbErrorKind::Decode, message)
}

/// A document's top level: an object, or `null` (nothing set).
pub(super) fn top<'v>(
    syntax: Syntax,
    v: &'v Value,
    go_type: &'static str,
    strukt: &'static str,
) -> Result<Obj<'v>, GbError> {
    match v {
        Value::Object(map) if is_marker(map).is_none() => Ok(Obj {
            map,
            syntax,
            strukt,
            go_path: String::new(),
            key_path: String::new(),
        }),
        Value::Null => Ok(Obj {
            map: empty_map(),
            syntax,
            strukt,
            go_path: String::new(),
            key_path: String::new(),
        }),
        other => Err(decode_error(match syntax {
            Syntax::Json => format!(
                "json: cannot unmarshal {} into Go value of type {go_type}",
                json_kind(other, false)
            ),
            Syntax::Toml => format!(
                "toml: incompatible types: TOML value has type {}; destination has type {go_type}",
                toml_kind(other)
            ),
        })),
    }
}

/// One object being read, with where it sits for messages: the Go struct it
/// fills, the path of field names (as Go's `encoding/json` names it) and the
/// path of keys including map keys (as TOML names it).
pub(super) struct Obj<'v> {
    map: &'v Map<String, Value>,
    syntax: Syntax,
    strukt: &'static str,
    go_path: String,
    key_path: String,
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

impl<'v> Obj<'v> {
    /// The value of a field: an exact key, else a key equal ignoring ASCII
    /// case; `null` counts as absent.
    fn get(&self, name: &str) -> Option<&'v Value> {
        let v = self.map.get(name).or_else(|| {
            self.map
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })?;
        (!v.is_null()).then_some(v)
    }

    fn type_error(&self, name: &str, v: &Value, go_type: &str, numeric: bool) -> GbError {
        decode_error(match self.syntax {
            Syntax::Json => format!(
                "json: cannot unmarshal {} into Go struct field {}.{} of type {go_type}",
                json_kind(v, numeric),
                self.strukt,
                join(&self.go_path, name)
            ),
            Syntax::Toml => format!(
                "toml: incompatible types: TOML value has type {}; destination has type {go_type} (key \"{}\")",
                toml_kind(v),
                join(&self.key_path, name)
            ),
        })
    }

    /// A string field.
    pub(super) fn string(&self, name: &str) -> Result<Option<String>, GbError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.type_error(name, v, "string", false)),
        }
    }

    /// A boolean field.
    pub(super) fn boolean(&self, name: &str) -> Result<Option<bool>, GbError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.type_error(name, v, "bool", false)),
        }
    }

    /// A Go `int` field (64 bits).
    pub(super) fn int(&self, name: &str) -> Result<Option<i64>, GbError> {
        match self.get(name) {
            None => Ok(None),
            Some(v @ Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.type_error(name, v, "int", true)),
            Some(v) => Err(self.type_error(name, v, "int", false)),
        }
    }

    /// A Go `uint64` field.
    pub(super) fn uint(&self, name: &str) -> Result<Option<u64>, GbError> {
        match self.get(name) {
            None => Ok(None),
            Some(v @ Value::Number(n)) => n
                .as_u64()
                .map(Some)
                .ok_or_else(|| self.type_error(name, v, "uint64", true)),
            Some(v) => Err(self.type_error(name, v, "uint64", false)),
        }
    }

    /// A `[]string` field; a `null` element is an empty string, as Go leaves it.
    pub(super) fn strings(&self, name: &str) -> Result<Option<Vec<String>>, GbError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s.clone()),
                    Value::Null => Ok(String::new()),
                    other => Err(self.type_error(name, other, "string", false)),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(v) => Err(self.type_error(name, v, "[]string", false)),
        }
    }

    /// A string field holding one of gobetween's names; an empty string is
    /// unset, as gobetween reads it.
    ///
    /// An unknown name is refused with the text gobetween's validation gives
    /// it ([`GbErrorKind::Invalid`]).
    pub(super) fn named<T: GbEnum>(&self, name: &str) -> Result<Option<T>, GbError> {
        match self.string(name)? {
            None => Ok(None),
            Some(s) if s.is_empty() => Ok(None),
            Some(s) => T::from_name(&s)
                .map(Some)
                .ok_or_else(|| GbError::new(GbErrorKind::Invalid, T::unsupported(&s))),
        }
    }

    /// A nested object field filling the Go struct `strukt`.
    pub(super) fn object(
        &self,
        name: &str,
        strukt: &'static str,
    ) -> Result<Option<Obj<'v>>, GbError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Object(map)) if is_marker(map).is_none() => Ok(Some(Obj {
                map,
                syntax: self.syntax,
                strukt,
                go_path: join(&self.go_path, name),
                key_path: join(&self.key_path, name),
            })),
            Some(v) => Err(self.type_error(name, v, &format!("config.{strukt}"), false)),
        }
    }

    /// A map field of objects (`servers`): each entry with its key, in key
    /// order; a `null` entry is an empty object, as Go stores a zero value.
    /// Go's paths leave map keys out; TOML's keep them.
    pub(super) fn object_map(
        &self,
        name: &str,
        strukt: &'static str,
    ) -> Result<Vec<(String, Obj<'v>)>, GbError> {
        let go_type = format!("map[string]config.{strukt}");
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(Value::Object(map)) if is_marker(map).is_none() => map
                .iter()
                .map(|(key, v)| match v {
                    Value::Null => Ok((
                        key.clone(),
                        Obj {
                            map: empty_map(),
                            syntax: self.syntax,
                            strukt,
                            go_path: join(&self.go_path, name),
                            key_path: join(&join(&self.key_path, name), key),
                        },
                    )),
                    Value::Object(inner) if is_marker(inner).is_none() => Ok((
                        key.clone(),
                        Obj {
                            map: inner,
                            syntax: self.syntax,
                            strukt,
                            go_path: join(&self.go_path, name),
                            key_path: join(&join(&self.key_path, name), key),
                        },
                    )),
                    other => Err(self.type_error(name, other, &format!("config.{strukt}"), false)),
                })
                .collect(),
            Some(v) => Err(self.type_error(name, v, &go_type, false)),
        }
    }

    /// `static_list`: backend lines, kept as written, or backend objects
    /// `{host, port, weight, priority, max_connections, sni}`, which become
    /// the equivalent line.
    pub(super) fn static_list(&self, name: &str) -> Result<Option<Vec<String>>, GbError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::String(s) => Ok(s.clone()),
                    Value::Null => Ok(String::new()),
                    Value::Object(map) if is_marker(map).is_none() => Obj {
                        map,
                        syntax: self.syntax,
                        strukt: "Backend",
                        go_path: join(&self.go_path, name),
                        key_path: format!("{}[{i}]", join(&self.key_path, name)),
                    }
                    .read_backend()
                    .map(|b| b.to_string()),
                    other => Err(self.type_error(name, other, "string", false)),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(v) => Err(self.type_error(name, v, "[]string", false)),
        }
    }

    fn read_backend(&self) -> Result<super::BackendSpec, GbError> {
        let invalid = |what: &str| {
            GbError::new(
                GbErrorKind::Decode,
                format!(
                    "backend {} {what}",
                    if self.key_path.is_empty() {
                        "entry"
                    } else {
                        &self.key_path
                    }
                ),
            )
        };
        let host = self.string("host")?.ok_or_else(|| invalid("has no host"))?;
        // gobetween keeps ports as strings; a number is taken too.
        let port = match self.get("port") {
            None => return Err(invalid("has no port")),
            Some(Value::String(s)) => s.parse::<u32>().ok(),
            Some(v @ Value::Number(n)) => match n.as_u64() {
                Some(p) => u32::try_from(p).ok(),
                None => return Err(self.type_error("port", v, "string", true)),
            },
            Some(v) => return Err(self.type_error("port", v, "string", false)),
        };
        let port = port
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p != 0)
            .ok_or_else(|| invalid("has a port that is not between 1 and 65535"))?;
        let small = |field: &str, default: u32| -> Result<u32, GbError> {
            match self.int(field)? {
                None => Ok(default),
                Some(n) => u32::try_from(n).map_err(|_| {
                    invalid(&format!(
                        "has a {field} that is not between 0 and {}",
                        u32::MAX
                    ))
                }),
            }
        };
        let spec = super::BackendSpec {
            host,
            port,
            weight: small("weight", 1)?,
            priority: small("priority", 1)?,
            max_connections: small("max_connections", 0)?,
            sni: self.string("sni")?.filter(|s| !s.is_empty()),
        };
        spec.check_fields(&self.key_path)
            .map_err(|_| invalid("has a host or sni that is empty or holds whitespace"))?;
        Ok(spec)
    }
}
