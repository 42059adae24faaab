//! The one error type of the registry.

use std::fmt;

/// What kind of failure an [`Error`] reports.
///
/// Every kind maps onto one of Cloud Foundry routing-api's error names (see
/// [`ErrorKind::cf_name`]), onto a C status code and onto a Python exception class.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// An HTTP route failed validation (`RouteInvalidError`).
    RouteInvalid,
    /// A route's `route_service_url` failed validation (`RouteServiceUrlInvalidError`).
    RouteServiceUrlInvalid,
    /// A TCP route mapping failed validation (`TcpRouteMappingInvalidError`).
    TcpRouteMappingInvalid,
    /// A router group failed validation. CF reports these as `ProcessRequestError`.
    RouterGroupInvalid,
    /// The request itself could not be processed: malformed JSON, wrong field types,
    /// an unusable argument (`ProcessRequestError`).
    ProcessRequest,
    /// The named object does not exist (`ResourceNotFoundError`).
    NotFound,
    /// No free port is left in the requested range (`PortRangeExhaustedError`).
    PortRangeExhausted,
    /// The change conflicts with an existing object (`DBConflictError`), for example
    /// a router group name already taken by a group of another type.
    Conflict,
    /// A subscription asked to resume from a revision older than the kept history;
    /// [`Error::oldest_revision`] names the oldest revision that can still be replayed.
    Compacted,
    /// A revision or argument that can never be valid, such as a revision newer than
    /// the registry's (`ProcessRequestError`).
    InvalidArgument,
    /// A Kong object broke its schema (Kong's `schema violation`, code 2);
    /// [`Error::fields`] says which fields and why.
    SchemaViolation,
    /// A Kong object reuses a unique value, such as a name (Kong's `unique
    /// constraint violation`, code 5).
    UniqueViolation,
    /// A Kong object refers to an object that does not exist, or an object still
    /// referred to was to be deleted (Kong's `foreign key violation`, code 4).
    ForeignKeyViolation,
}

impl ErrorKind {
    /// The name Cloud Foundry's routing-api gives this kind of error on the wire.
    ///
    /// Kinds that CF has no name for map to the nearest one (`ProcessRequestError`).
    pub fn cf_name(self) -> &'static str {
        match self {
            ErrorKind::RouteInvalid => "RouteInvalidError",
            ErrorKind::RouteServiceUrlInvalid => "RouteServiceUrlInvalidError",
            ErrorKind::TcpRouteMappingInvalid => "TcpRouteMappingInvalidError",
            ErrorKind::RouterGroupInvalid
            | ErrorKind::ProcessRequest
            | ErrorKind::Compacted
            | ErrorKind::InvalidArgument
            | ErrorKind::SchemaViolation
            | ErrorKind::ForeignKeyViolation => "ProcessRequestError",
            ErrorKind::NotFound => "ResourceNotFoundError",
            ErrorKind::PortRangeExhausted => "PortRangeExhaustedError",
            ErrorKind::Conflict | ErrorKind::UniqueViolation => "DBConflictError",
        }
    }
}

/// An error from the registry: a kind and the message text.
///
/// The message is the exact text the reference system uses where it has one
/// (for example `"Each route request requires a port greater than 0"`); a failed
/// registry call never changes the registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    oldest_revision: Option<u64>,
    fields: Vec<(String, String)>,
}

impl Error {
    /// An error of `kind` with `message`, for code that works with the registry
    /// to report in its terms (for example from a [`Registry::modify_route`]
    /// closure).
    ///
    /// [`Registry::modify_route`]: crate::Registry::modify_route
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            oldest_revision: None,
            fields: Vec::new(),
        }
    }

    /// A Kong-style error about fields: `fields` holds `(path, rule)` pairs such as
    /// `("paths.1", "should start with: / (fixed path) or ~/ (regex path)")`, and
    /// the message lists them as Kong does: `schema violation (path: rule)`, or
    /// `N schema violations (path: rule; ...)` for several.
    pub(crate) fn with_fields(kind: ErrorKind, fields: Vec<(String, String)>) -> Error {
        Error {
            kind,
            message: violation_message(kind, &fields),
            oldest_revision: None,
            fields,
        }
    }

    pub(crate) fn compacted(requested: u64, oldest: u64) -> Error {
        Error {
            kind: ErrorKind::Compacted,
            message: format!(
                "revision {requested} is no longer in the event history; the oldest revision available is {oldest}"
            ),
            oldest_revision: Some(oldest),
            fields: Vec::new(),
        }
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message text, without any prefix.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// CF routing-api's name for this error (`"RouteInvalidError"`, ...).
    pub fn cf_name(&self) -> &'static str {
        self.kind.cf_name()
    }

    /// For Kong-style errors: each offending field's path (`hosts.2`, `name`, or
    /// empty for a rule about the whole object) and the rule it broke.
    pub fn fields(&self) -> &[(String, String)] {
        &self.fields
    }

    /// For [`ErrorKind::Compacted`]: the oldest revision whose events can still be
    /// replayed. Subscribing from one less than it replays everything kept.
    pub fn oldest_revision(&self) -> Option<u64> {
        self.oldest_revision
    }
}

/// Kong's text for field violations: `schema violation (path: rule)`, `N schema
/// violations (path: rule; ...)` for several, and the same shape under the
/// `unique constraint violation` and `foreign key violation` labels.
pub(crate) fn violation_message(kind: ErrorKind, fields: &[(String, String)]) -> String {
    let label = match kind {
        ErrorKind::UniqueViolation => "unique constraint violation",
        ErrorKind::ForeignKeyViolation => "foreign key violation",
        _ => "schema violation",
    };
    let parts: Vec<String> = fields
        .iter()
        .map(|(path, rule)| {
            if path.is_empty() {
                rule.clone()
            } else {
                format!("{path}: {rule}")
            }
        })
        .collect();
    if kind == ErrorKind::SchemaViolation && parts.len() > 1 {
        format!("{} schema violations ({})", parts.len(), parts.join("; "))
    } else {
        format!("{label} ({})", parts.join("; "))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
