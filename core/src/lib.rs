//! routeyard: an embeddable route registry.
//!
//! A proxy, a load balancer or a control-plane tool keeps its routing table in a
//! [`Registry`]: Cloud Foundry HTTP routes and TCP route mappings that live by TTL
//! leases, router groups with reservable ports, race-free port reservation, and a
//! revisioned change log that subscribers follow.
//!
//! ```
//! use routeyard::{Action, Clock, Config, Filter, ManualClock, Registry, RouterGroup,
//!                 TcpRouteMapping, Timestamp};
//! use std::time::Duration;
//!
//! let clock = ManualClock::new(Timestamp::from_secs(1_000));
//! let registry = Registry::new(Config::new().clock(clock.clone()));
//!
//! // Router groups and port reservation.
//! let (group, created) =
//!     registry.create_router_group(RouterGroup::new("default-tcp", "tcp", "1024-1033"))?;
//! assert!(created);
//! let reservation = registry.reserve_port(&group.guid, None)?;
//! assert_eq!(reservation.port, 1024);
//!
//! // A TCP mapping on the reserved port claims the reservation.
//! let mut events = registry.subscribe(Filter::all(), Some(registry.revision()))?;
//! registry.upsert_tcp_route_mappings(vec![
//!     TcpRouteMapping::new(&group.guid, 1024, "10.0.0.5", 6000).with_ttl(30),
//! ])?;
//! assert!(registry.port_reservations().is_empty());
//!
//! // Leases lapse by the injected clock; expiry publishes events.
//! clock.advance(Duration::from_secs(30));
//! assert!(registry.tcp_route_mappings().is_empty()); // never listed once lapsed
//! assert_eq!(registry.expire(clock.now()), 1);
//! let actions: Vec<Action> = std::iter::from_fn(|| events.try_recv().ok().flatten())
//!     .map(|e| e.action)
//!     .collect();
//! assert_eq!(actions, [Action::Delete, Action::Upsert, Action::Expire]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Rules
//!
//! Validation follows CF routing-api exactly: the same rules, in the same order,
//! with the same messages (see [`ErrorKind`] for the names). A batch is validated
//! whole before anything applies, and a failed call changes nothing.
//!
//! # Revisions and replicas
//!
//! Every committed change advances one `u64` revision and publishes one
//! [`Event`]. A [`Snapshot`] carries the revision it shows, so `snapshot at r`
//! plus the events after `r` ([`Registry::subscribe`] with `Some(r)`) is exactly
//! the current state. A subscriber that cannot keep up is told from which revision
//! to resume ([`RecvError::Lagged`]); writers never wait for subscribers.
//!
//! # Time
//!
//! All TTL logic reads the configured [`Clock`]. Lapsed entries are never listed,
//! even before [`Registry::expire`] (or a [`Reaper`]) removes them.

#![deny(missing_docs, unsafe_code, rustdoc::broken_intra_doc_links)]
#![warn(missing_debug_implementations)]

pub mod balance;
pub mod dialect;
mod error;
mod events;
mod lease;
mod matcher;
mod model;
mod registry;
pub mod stats;
mod sync;

pub use crate::error::{Error, ErrorKind};
pub use crate::events::{Action, Event, Filter, Kind, Object, RecvError, Subscription};
pub use crate::lease::{Clock, ManualClock, SystemClock, Timestamp};
pub use crate::matcher::{
    Backend, BackendRef, Capture, Found, Match, Matched, Request, UpstreamPath,
};
pub use crate::model::cf::{
    HttpRoute, ModificationTag, PortReservation, RouterGroup, TcpRouteMapping,
};
pub use crate::model::kong::{
    Cidr, CidrError, PathHandling, PathMode, Peer, Protocol, Route, Service, ServiceRef,
};
pub use crate::model::ports::PortRange;
pub use crate::model::upstream::{NamedServer, Upstream};
pub use crate::registry::{Change, Config, Reader, Reaper, Registry, Snapshot};

/// The crate's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
