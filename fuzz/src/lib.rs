//! Fuzz targets for routeyard.
//!
//! Each target is a function of the fuzzer's bytes, so the binaries in
//! `fuzz_targets/` stay one line and the replay tests (`tests/replay.rs`) run
//! every saved input (seed corpus and regressions) through exactly the same
//! checks. A target fails by panicking; each checks properties, not only the
//! absence of a panic:
//!
//! - [`port_range`]: the router-group `reservable_ports` parser agrees with an
//!   independent reading of CF's rules; accepted text re-renders and re-parses to
//!   the same ranges; the registry takes exactly what validates and refuses the
//!   rest with `RouterGroupInvalid` and CF's message, changing nothing.
//! - [`cf_json`], [`kong_json`], [`cdap_json`], [`gobetween_json`]: each
//!   dialect's decoding and validation, on the raw bytes and on near-valid
//!   documents built from them. A decoded object applied to a fresh registry reads
//!   back as sent (plus what the registry assigns) and round-trips through the
//!   dialect's encoding; a refused one leaves the registry's revision and snapshot
//!   as they were; errors have the dialect's kinds.
//! - [`match_reference`]: route sets and requests matched by the registry and by
//!   the linear reference matcher of the core's property test must agree.
//! - [`ffi_json`]: the C entry points that take JSON, called through the C ABI
//!   with arbitrary bytes: documented statuses only, errors exactly on failure,
//!   nothing written or changed on failure, every handle and string freed.

#![deny(missing_docs)]

mod cdap;
mod cf;
mod ffi;
mod gen;
mod gobetween;
mod kong;
mod matcher;
mod port_range;

/// The core's `reservable_ports` parser, compiled here from its own source file:
/// the crate keeps it private, and the target checks its parse, validation and
/// display directly as well as through the registry.
#[path = "../../core/src/model/ports.rs"]
#[allow(dead_code)]
mod cf_ports;

/// The reference matcher the core's `matcher_model` property test uses.
#[path = "../../core/tests/support/reference_matcher.rs"]
mod reference_matcher;

/// Asserts that the registry is as `before` shows it after a refused `what`.
fn assert_unchanged(registry: &routeyard::Registry, before: &routeyard::Snapshot, what: &str) {
    assert_eq!(
        registry.snapshot(),
        *before,
        "a refused {what} changed the registry"
    );
}

/// Router-group reserved ports: the bytes (lossily as UTF-8) as a
/// `reservable_ports` value.
pub fn port_range(data: &[u8]) {
    port_range::run(data);
}

/// Cloud Foundry bodies: the bytes as HTTP routes, TCP route mappings and a
/// router group, then a near-valid document of one of them built from the bytes.
/// `@GROUP` stands for the guid of the router group every fresh registry holds.
pub fn cf_json(data: &[u8]) {
    cf::run(data);
}

/// Kong bodies: the bytes as a route and a service (created, and as a PATCH of
/// existing ones), then a near-valid route or service built from the bytes.
pub fn kong_json(data: &[u8]) {
    kong::run(data);
}

/// CDAP route configs: the bytes as a body, then a near-valid body (keys may
/// repeat) built from them, checked by CDAP's rules and by the registry's split.
pub fn cdap_json(data: &[u8]) {
    cdap::run(data);
}

/// gobetween servers: the bytes as a `POST /servers/{name}` body, then a
/// near-valid server built from them.
pub fn gobetween_json(data: &[u8]) {
    gobetween::run(data);
}

/// Route sets and requests from the bytes, matched by the registry and the
/// reference matcher.
pub fn match_reference(data: &[u8]) {
    matcher::run(data);
}

/// One call of a C entry point taking JSON: byte 0 picks the function, byte 1 the
/// shape of the call, the rest is the JSON argument.
pub fn ffi_json(data: &[u8]) {
    ffi::run(data);
}

/// A target: a function of the fuzzer's bytes that panics on a broken property.
pub type Target = fn(&[u8]);

/// Every target by name, for the replay tests and tools.
pub const TARGETS: &[(&str, Target)] = &[
    ("port_range", port_range),
    ("cf_json", cf_json),
    ("kong_json", kong_json),
    ("cdap_json", cdap_json),
    ("gobetween_json", gobetween_json),
    ("match_reference", match_reference),
    ("ffi_json", ffi_json),
];
