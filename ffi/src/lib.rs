//! The C API of routeyard.
//!
//! The generated header is `include/routeyard.h` at the root of the repository; every
//! exported item is documented there. Conventions shared by all functions:
//!
//! - Everything is prefixed: functions `ry_<type>_<verb>`, types `ry_<type>`, constants
//!   `RY_*`.
//! - Fallible functions return an `ry_status` (`RY_OK` is zero) and take an optional
//!   `ry_error **err` for details. NULL pointers are reported as `RY_ERR_NULL_ARG`,
//!   never dereferenced.
//! - Strings in are `(const uint8_t *ptr, size_t len)` and must be UTF-8. Strings out are
//!   NUL-terminated, owned by the library and freed with `ry_string_free`.
//! - Objects travel as JSON in their dialect's wire shape: Cloud Foundry routing-api's
//!   for HTTP routes, TCP mappings, router groups and reservations, Kong's Admin API's
//!   for services and routes, CDAP's route config for splits, gobetween's for servers
//!   and statistics. The core's codecs read and write them.
//! - No panic unwinds into C: it becomes `RY_ERR_PANIC`, or NULL where a function has no
//!   status to return.
#![deny(missing_docs, rustdoc::broken_intra_doc_links)]

#[macro_use]
mod macros;

mod cf;
mod clock;
mod config;
mod error;
mod json;
mod kong;
mod lookup;
mod reader;
mod reaper;
mod registry;
mod server;
mod string;
mod subscription;
mod upstream;

pub use cf::{
    ry_registry_create_router_group_json, ry_registry_delete_http_routes_json,
    ry_registry_delete_router_group, ry_registry_delete_tcp_route_mappings_json,
    ry_registry_http_routes_json, ry_registry_port_reservations_json, ry_registry_release_port,
    ry_registry_reserve_port, ry_registry_reserve_port_in_range,
    ry_registry_router_group_by_name_json, ry_registry_router_group_json,
    ry_registry_router_groups_json, ry_registry_tcp_route_mappings_in_json,
    ry_registry_tcp_route_mappings_json, ry_registry_update_router_group_json,
    ry_registry_upsert_http_routes_json, ry_registry_upsert_tcp_route_mappings_json,
};
pub use clock::{
    ry_clock, ry_clock_advance, ry_clock_free, ry_clock_new, ry_clock_now, ry_clock_set,
};
pub use config::{
    ry_config, ry_config_free, ry_config_new, ry_config_set_clock, ry_config_set_history,
    ry_config_set_max_ttl, ry_config_set_reservation_ttl, ry_config_set_reserved_ports,
    ry_config_set_subscriber_buffer,
};
pub use error::{
    ry_error, ry_error_body, ry_error_free, ry_error_message, ry_error_name, ry_status,
};
pub use kong::{
    ry_registry_create_route_json, ry_registry_create_service_json, ry_registry_delete_route,
    ry_registry_delete_service, ry_registry_patch_route_json, ry_registry_patch_service_json,
    ry_registry_put_route_json, ry_registry_put_service_json, ry_registry_route_json,
    ry_registry_routes_json, ry_registry_service_json, ry_registry_services_json,
};
pub use lookup::{
    ry_addr, ry_addr_family, ry_buffer, ry_header, ry_match, ry_match_json, ry_match_kind,
    ry_match_result, ry_protocol, ry_request, RY_ID_SIZE,
};
pub use reader::{
    ry_match_view, ry_reader, ry_reader_free, ry_reader_match, ry_reader_new, ry_str,
};
pub use reaper::{
    ry_reaper, ry_reaper_free, ry_reaper_is_running, ry_reaper_stop, ry_registry_start_reaper,
};
pub use registry::{
    ry_registry, ry_registry_apply_json, ry_registry_compact_index, ry_registry_expire,
    ry_registry_free, ry_registry_new, ry_registry_new_with_config, ry_registry_now,
    ry_registry_restore_json, ry_registry_revision, ry_registry_snapshot_json,
    ry_registry_subscriber_count, ry_version,
};
pub use server::{
    ry_registry_create_server_json, ry_registry_delete_server, ry_registry_server_json,
    ry_registry_server_stats_json, ry_registry_servers_json,
};
pub use string::ry_string_free;
pub use subscription::{
    ry_registry_subscribe, ry_subscription, ry_subscription_free, ry_subscription_pending,
    ry_subscription_poll, RY_KIND_ALL, RY_KIND_HTTP_ROUTE, RY_KIND_PORT_RESERVATION, RY_KIND_ROUTE,
    RY_KIND_ROUTER_GROUP, RY_KIND_SERVER, RY_KIND_SERVICE, RY_KIND_TCP_ROUTE_MAPPING,
    RY_KIND_UPSTREAM,
};
pub use upstream::{
    ry_fallback, ry_registry_delete_split, ry_registry_delete_upstream,
    ry_registry_pool_stats_json, ry_registry_put_upstream_json, ry_registry_remove_drained,
    ry_registry_report, ry_registry_report_bytes, ry_registry_sample_stats,
    ry_registry_set_split_json, ry_registry_split_json, ry_registry_upstream_json,
    ry_registry_upstreams_json, ry_report_kind, RY_FALLBACK_DROP, RY_FALLBACK_LARGEST,
    RY_FALLBACK_RANDOM, RY_FALLBACK_SMALLEST, RY_REPORT_CLOSED, RY_REPORT_ESTABLISHED,
    RY_REPORT_OPENED, RY_REPORT_REFUSED,
};
