//! Backend choice: strategies, tiers, connection caps, draining and version splits.
//!
//! A [`Pool`] is an immutable set of [`Backend`]s with a [`Strategy`] and an
//! optional [`SplitConfig`]. Picking takes `&self`, never locks and never
//! allocates: the only shared writes are relaxed atomic counters. When the
//! backends or the configuration change, the owner builds the next pool from the
//! current one ([`Pool::try_rebuild`], [`Pool::reconfigure`]) and publishes it
//! (with `arc-swap`, for example); readers of the old pool finish undisturbed.
//! Per-backend counters ([`BackendStats`]) live behind an `Arc` that the next pool
//! takes over for every backend of the same identity (address and port), so
//! active connections, totals and rates survive a rebuild, and so do the
//! round-robin positions.
//!
//! ```
//! use routeyard::balance::{Backend, PickInput, Pool, PoolConfig, Strategy};
//!
//! let pool = Pool::try_new(
//!     vec![
//!         Backend::new("10.0.0.1", 8080).with_weight(3),
//!         Backend::new("10.0.0.2", 8080),
//!         Backend::new("10.0.0.9", 8080).with_tier(2), // standby
//!     ],
//!     PoolConfig::new().strategy(Strategy::RoundRobin),
//! )?;
//! let picks: Vec<_> = (0..4)
//!     .map(|_| pool.pick(&PickInput::new()).unwrap().backend().address.clone())
//!     .collect();
//! assert_eq!(picks.iter().filter(|a| *a == "10.0.0.1").count(), 3);
//! assert!(!picks.contains(&"10.0.0.9".to_string()));
//!
//! // A proxy takes a connection slot, which honours `max_connections`.
//! let conn = pool.connect(&PickInput::new()).unwrap();
//! conn.established();
//! assert_eq!(conn.stats().active_connections(), 1);
//! drop(conn);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Eligibility and tiers
//!
//! A backend is eligible when its state is [`BackendState::Live`], it is
//! `discovered`, and it holds fewer active connections than its
//! `max_connections`. Every strategy considers only the **lowest tier that has an
//! eligible backend**: when that tier empties (down, undiscovered, draining or
//! full), the next tier serves, and traffic returns as soon as it has an eligible
//! backend again. (gobetween applies its `priority` only with the `weight`
//! balancer; here it is the tier of every strategy.)
//!
//! # Weights
//!
//! A weight of 0 takes no traffic, unless every backend of the tier has weight 0:
//! then they share it evenly (gobetween's rule). Least connections, least
//! bandwidth, `iphash` and `iphash1` ignore weights, as in gobetween.
//!
//! # Draining
//!
//! A [`BackendState::Draining`] backend (or one no longer `discovered`) takes no
//! new picks but keeps its connections; [`Pool::drained`] lists those whose active
//! connections reached 0, which the owner then removes.
//!
//! # Version splits
//!
//! With a [`SplitConfig`], a request that names no version goes to a version
//! chosen by the [`Split`]'s percentages, then to a backend of that version by
//! the strategy. The choice is an interleave driven by one atomic counter, so any
//! 100 consecutive picks hold exactly the percentages, and it weighs versions,
//! not instances (unlike CDAP's own draw). With `sticky`, a caller key is hashed
//! onto the percentage buckets instead. A missing or invalid split applies the
//! [`Fallback`].

use std::cell::Cell;
use std::cmp::Ordering as CmpOrdering;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind};
use crate::lease::Timestamp;
use crate::stats::{BackendReport, BackendStats, ServerStats};

// ---------------------------------------------------------------------------
// Backends

/// Whether a backend takes traffic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendState {
    /// Takes new picks.
    #[default]
    Live,
    /// Takes no new picks, keeps its connections, and is reported by
    /// [`Pool::drained`] once it has none left.
    Draining,
    /// Takes no picks.
    Down,
}

/// One upstream: where to connect and how to weigh it.
///
/// Its identity is the address and port ([`BackendId`]): a rebuilt pool keeps
/// the counters of a backend with the same identity, whatever else changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backend {
    /// An IP address or a host name.
    pub address: String,
    /// The port.
    pub port: u16,
    /// The share of traffic, relative to the other backends of its tier
    /// (default 1).
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// The tier: lower is preferred (gobetween's `priority`; default 0).
    #[serde(default)]
    pub tier: u32,
    /// The version label, for splits between versions (CDAP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// At most this many active connections; `None` is unlimited (gobetween's
    /// `max_connections = 0`), `Some(0)` takes none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u32>,
    /// Live, draining or down.
    #[serde(default)]
    pub state: BackendState,
    /// Whether discovery still lists the backend (default true). An undiscovered
    /// backend takes no new picks and leaves once drained, as in gobetween.
    #[serde(default = "default_discovered")]
    pub discovered: bool,
    /// Free-form data, such as CF's `log_guid` or `instance_id`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

fn default_weight() -> u32 {
    1
}

fn default_discovered() -> bool {
    true
}

impl Backend {
    /// A live, discovered backend of weight 1 in tier 0, without version, cap
    /// or metadata.
    pub fn new(address: impl Into<String>, port: u16) -> Backend {
        Backend {
            address: address.into(),
            port,
            weight: 1,
            tier: 0,
            version: None,
            max_connections: None,
            state: BackendState::Live,
            discovered: true,
            metadata: BTreeMap::new(),
        }
    }

    /// Sets the weight.
    pub fn with_weight(mut self, weight: u32) -> Backend {
        self.weight = weight;
        self
    }

    /// Sets the tier.
    pub fn with_tier(mut self, tier: u32) -> Backend {
        self.tier = tier;
        self
    }

    /// Sets the version label.
    pub fn with_version(mut self, version: impl Into<String>) -> Backend {
        self.version = Some(version.into());
        self
    }

    /// Caps the active connections.
    pub fn with_max_connections(mut self, max: u32) -> Backend {
        self.max_connections = Some(max);
        self
    }

    /// Sets the state.
    pub fn with_state(mut self, state: BackendState) -> Backend {
        self.state = state;
        self
    }

    /// Sets whether discovery lists the backend.
    pub fn with_discovered(mut self, discovered: bool) -> Backend {
        self.discovered = discovered;
        self
    }

    /// Adds one metadata entry.
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Backend {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Its identity.
    pub fn id(&self) -> BackendId {
        BackendId {
            address: self.address.clone(),
            port: self.port,
        }
    }
}

/// A backend's identity: address and port.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BackendId {
    /// The address.
    pub address: String,
    /// The port.
    pub port: u16,
}

impl fmt::Display for BackendId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.address.contains(':') {
            write!(f, "[{}]:{}", self.address, self.port)
        } else {
            write!(f, "{}:{}", self.address, self.port)
        }
    }
}

// ---------------------------------------------------------------------------
// Strategies, splits, configuration

/// How a backend is chosen within a tier.
///
/// Serialised with gobetween's `balance` names where it has one (`roundrobin`,
/// `leastconn`, `iphash`, `iphash1`, `leastbandwidth`, `weight`), and `random`
/// and `hash` for the two it lacks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Strategy {
    /// Smooth weighted round robin: a precomputed sequence in which each backend
    /// appears in proportion to its weight, evenly spread, walked by an atomic
    /// counter. Weights 1:2:7 give exactly 1, 2 and 7 of every 10 consecutive
    /// picks. Exact while a tier's weights, divided by their greatest common
    /// divisor, total at most 65,536; larger totals are scaled down to that.
    #[default]
    #[serde(rename = "roundrobin")]
    RoundRobin,
    /// An independent draw in exact proportion to weight (a cumulative draw over
    /// integer weights).
    #[serde(rename = "random")]
    WeightedRandom,
    /// The fewest active connections; ties are broken uniformly at random.
    #[serde(rename = "leastconn")]
    LeastConnections,
    /// Rendezvous hashing of the caller key (else the client IP): a key keeps its
    /// backend while that backend stays, and removing one backend moves only its
    /// own keys. Weights are honoured: a backend's score is the best of
    /// `weight` draws (`u^(1/weight)` above 8), so its share of keys is its
    /// share of the weight, and its score never depends on the other backends.
    /// Keys fall on 65,536 slots first; tiers of 16 or more backends keep each
    /// slot's owner in a table, so a pick is one lookup, and a rebuild rescores
    /// only the slots that a change touches. Without key or IP, a weighted
    /// random draw.
    #[serde(rename = "hash")]
    ConsistentHash,
    /// gobetween's `iphash`: FNV-1a (32 bit) of the client IP's octets (4 for
    /// IPv4, 16 for IPv6), modulo the number of eligible backends ordered by
    /// `address:port`. Not consistent: any change to that list remaps most
    /// clients. Without an IP the caller key is hashed; without both, a weighted
    /// random draw.
    #[serde(rename = "iphash")]
    IpHash,
    /// gobetween's `iphash1`: the backend with the highest FNV-1a (32 bit) of the
    /// client IP's octets followed by `address:port` (rendezvous), so removing a
    /// backend moves only its own clients. Inputs as for [`Strategy::IpHash`].
    #[serde(rename = "iphash1")]
    IpHash1,
    /// The least `rx_second + tx_second` over the last stats window; ties go to
    /// fewer active connections, then uniformly at random (which keeps a burst
    /// between two samples from herding onto one backend).
    #[serde(rename = "leastbandwidth")]
    LeastBandwidth,
    /// gobetween's `weight` (its default): within the lowest eligible tier, a
    /// draw in proportion to weight. Chooses exactly as
    /// [`Strategy::WeightedRandom`]; kept apart so a gobetween configuration
    /// round-trips.
    #[serde(rename = "weight")]
    Weight,
}

impl Strategy {
    /// Every strategy.
    pub const ALL: [Strategy; 8] = [
        Strategy::RoundRobin,
        Strategy::WeightedRandom,
        Strategy::LeastConnections,
        Strategy::ConsistentHash,
        Strategy::IpHash,
        Strategy::IpHash1,
        Strategy::LeastBandwidth,
        Strategy::Weight,
    ];

    /// Its wire name (`roundrobin`, `random`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Strategy::RoundRobin => "roundrobin",
            Strategy::WeightedRandom => "random",
            Strategy::LeastConnections => "leastconn",
            Strategy::ConsistentHash => "hash",
            Strategy::IpHash => "iphash",
            Strategy::IpHash1 => "iphash1",
            Strategy::LeastBandwidth => "leastbandwidth",
            Strategy::Weight => "weight",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Strategy {
    type Err = Error;

    /// Parses a wire name.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for any other text.
    fn from_str(s: &str) -> Result<Strategy, Error> {
        Strategy::ALL
            .into_iter()
            .find(|st| st.name() == s)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidArgument,
                    format!(
                        "unknown balance strategy {s:?}; expected one of roundrobin, random, leastconn, hash, iphash, iphash1, leastbandwidth, weight"
                    ),
                )
            })
    }
}

/// Percentages per version label, as CDAP's route config (`{"v1": 80, "v2":
/// 20}`).
///
/// # Example
///
/// ```
/// use routeyard::balance::Split;
///
/// let split: Split = serde_json::from_str(r#"{"v1": 80, "v2": 20}"#)?;
/// split.validate(["v1", "v2"])?;
/// let err = split.validate(["v1"]).unwrap_err();
/// assert_eq!(
///     err.message(),
///     "The following versions of the application/service could not be found : [v2]"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Split(BTreeMap<String, i64>);

impl Split {
    /// An empty split (which is invalid until versions are added).
    pub fn new() -> Split {
        Split::default()
    }

    /// Adds or replaces one version's percentage.
    pub fn with(mut self, version: impl Into<String>, percent: i64) -> Split {
        self.0.insert(version.into(), percent);
        self
    }

    /// The percentages, by version label.
    pub fn percentages(&self) -> &BTreeMap<String, i64> {
        &self.0
    }

    /// Checks the split against the versions the service has, by CDAP's rules
    /// and in CDAP's order, plus a range check CDAP lacks:
    ///
    /// 1. not empty: `Route config contains invalid format or empty content.`;
    /// 2. every version exists: `The following versions of the
    ///    application/service could not be found : [v3, v4]` (the missing
    ///    labels, in order; CDAP, and [`crate::dialect::cdap`], which knows the
    ///    service, list program ids instead);
    /// 3. every percentage is an integer in 0..=100: `Route Percentage for
    ///    version v1 must be between 0 and 100, got 150.` (ours, as in
    ///    [`crate::dialect::cdap`]; CDAP accepts `{"v1": 150, "v2": -50}`);
    /// 4. the total is 100: `Route Percentage needs to add up to 100.`
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] with the first rule's message that fails.
    pub fn validate<'a>(&self, versions: impl IntoIterator<Item = &'a str>) -> Result<(), Error> {
        if self.0.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "Route config contains invalid format or empty content.",
            ));
        }
        let known: Vec<&str> = versions.into_iter().collect();
        let missing: Vec<&str> = self
            .0
            .keys()
            .map(String::as_str)
            .filter(|v| !known.contains(v))
            .collect();
        if !missing.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "The following versions of the application/service could not be found : [{}]",
                    missing.join(", ")
                ),
            ));
        }
        if let Some((v, p)) = self.0.iter().find(|(_, p)| !(0..=100).contains(*p)) {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("Route Percentage for version {v} must be between 0 and 100, got {p}."),
            ));
        }
        if self.0.values().sum::<i64>() != 100 {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "Route Percentage needs to add up to 100.",
            ));
        }
        Ok(())
    }
}

/// What to do when a pool has a [`SplitConfig`] but its split is missing or
/// invalid (CDAP's `router.userservice.fallback.strategy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fallback {
    /// Any eligible backend, whatever its version, by the strategy (CDAP's
    /// default).
    #[default]
    Random,
    /// No backend: the request is dropped.
    Drop,
    /// The backends of the smallest version label (by byte order) that has an
    /// eligible backend.
    Smallest,
    /// The backends of the largest version label (by byte order) that has an
    /// eligible backend.
    Largest,
}

/// Routing between versions of a service.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitConfig {
    /// The percentages; `None` (missing) applies the fallback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<Split>,
    /// What a missing or invalid split does.
    #[serde(default)]
    pub fallback: Fallback,
    /// Whether a caller key is hashed onto the percentage buckets (the same key
    /// keeps its version), instead of the exact interleave.
    #[serde(default)]
    pub sticky: bool,
}

impl SplitConfig {
    /// A split with the default fallback ([`Fallback::Random`]), not sticky.
    pub fn new(split: Split) -> SplitConfig {
        SplitConfig {
            split: Some(split),
            ..SplitConfig::default()
        }
    }

    /// Sets the fallback.
    pub fn fallback(mut self, fallback: Fallback) -> SplitConfig {
        self.fallback = fallback;
        self
    }

    /// Sets sticky mode.
    pub fn sticky(mut self, sticky: bool) -> SplitConfig {
        self.sticky = sticky;
        self
    }
}

/// How a [`Pool`] chooses.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolConfig {
    /// The strategy (default round robin).
    #[serde(default)]
    pub strategy: Strategy,
    /// Version routing, if the service splits traffic between versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<SplitConfig>,
    /// A seed for the pool's random draws, for reproducible tests. Without one,
    /// each thread draws from its own generator, seeded once per thread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

impl PoolConfig {
    /// Round robin, no split, unseeded.
    pub fn new() -> PoolConfig {
        PoolConfig::default()
    }

    /// Sets the strategy.
    pub fn strategy(mut self, strategy: Strategy) -> PoolConfig {
        self.strategy = strategy;
        self
    }

    /// Sets version routing.
    pub fn split(mut self, split: SplitConfig) -> PoolConfig {
        self.split = Some(split);
        self
    }

    /// Seeds the random draws.
    pub fn seed(mut self, seed: u64) -> PoolConfig {
        self.seed = Some(seed);
        self
    }
}

/// What a pick may use besides the pool: a caller key (for
/// [`Strategy::ConsistentHash`] and sticky splits), the client IP (for `iphash`
/// and `iphash1`), and a version the request names.
#[derive(Clone, Copy, Debug, Default)]
pub struct PickInput<'a> {
    key: Option<&'a [u8]>,
    client_ip: Option<IpAddr>,
    version: Option<&'a str>,
}

impl<'a> PickInput<'a> {
    /// No key, no IP, no version.
    pub fn new() -> PickInput<'a> {
        PickInput::default()
    }

    /// Sets the caller key.
    pub fn key(mut self, key: &'a [u8]) -> PickInput<'a> {
        self.key = Some(key);
        self
    }

    /// Sets the client IP.
    pub fn client_ip(mut self, ip: IpAddr) -> PickInput<'a> {
        self.client_ip = Some(ip);
        self
    }

    /// Pins the pick to one version's backends, bypassing the split (as CDAP
    /// does for a request that names its version).
    pub fn version(mut self, version: &'a str) -> PickInput<'a> {
        self.version = Some(version);
        self
    }
}

// ---------------------------------------------------------------------------
// Hashing and randomness

const P0: u64 = 0xa076_1d64_78bd_642f;
const P1: u64 = 0xe703_7ed1_a0b4_28db;
const P2: u64 = 0x8ebc_6af0_9c88_c6e3;
const P3: u64 = 0x5899_65cc_7537_4cc3;

/// The 128-bit product of `a` and `b`, folded to 64 bits.
#[inline(always)]
fn mum(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

/// A fast 64-bit hash of a byte string, eight bytes per step.
#[inline]
fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h = P0 ^ (bytes.len() as u64).wrapping_mul(P1);
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = mum(h ^ u64::from_le_bytes(w), P1);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = mum(h ^ u64::from_le_bytes(w), P2);
    }
    mum(h ^ P3, P0)
}

const FNV32_OFFSET: u32 = 0x811c_9dc5;
const FNV32_PRIME: u32 = 0x0100_0193;

/// FNV-1a, 32 bit, continued from `h` over `bytes`.
#[inline]
fn fnv1a32(mut h: u32, bytes: &[u8]) -> u32 {
    for &b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(FNV32_PRIME);
    }
    h
}

/// The rendezvous score of a key hash for one backend's seeds.
#[inline(always)]
fn score(key: u64, seed: (u64, u64)) -> u64 {
    mum(key ^ seed.0, seed.1)
}

/// Weights up to this are honoured in rendezvous hashing by taking the best of
/// `weight` scores; larger ones by `u^(1/weight)`.
const VIRTUAL_SCORES: u32 = 8;

/// A backend's weighted rendezvous score: a value whose distribution function
/// is `x^weight` over the `u64` range, so the highest score falls on each
/// backend in proportion to its weight. It depends only on the key and the
/// backend's own seeds and weight.
#[inline(always)]
fn weighted_score(key: u64, seeds: (u64, u64), weight: u32) -> u64 {
    if weight <= VIRTUAL_SCORES {
        let mut best = score(key, seeds);
        for j in 1..u64::from(weight) {
            best = best.max(score(
                key,
                (seeds.0.wrapping_add(j.wrapping_mul(P0)), seeds.1),
            ));
        }
        best
    } else {
        let u = ((score(key, seeds) >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let x = (u.ln() / f64::from(weight)).exp();
        // An `as` cast from float saturates at u64::MAX.
        (x * 18_446_744_073_709_551_616.0) as u64
    }
}

/// A uniform draw below `n` from 64 random bits (Lemire's multiply-shift).
#[inline(always)]
fn below(r: u64, n: u64) -> u64 {
    ((u128::from(r) * u128::from(n)) >> 64) as u64
}

thread_local! {
    static THREAD_RNG: Cell<u64> = Cell::new(thread_seed());
}

fn thread_seed() -> u64 {
    use std::hash::BuildHasher;
    // RandomState's keys are random per process and differ per instance.
    std::collections::hash_map::RandomState::new().hash_one(std::thread::current().id())
}

/// The pool's source of random bits: wyrand, per thread, or from one shared
/// seeded state for reproducible runs.
enum Rng {
    Thread,
    Seeded { seed: u64, state: AtomicU64 },
}

impl Rng {
    #[inline]
    fn next(&self) -> u64 {
        let s = match self {
            Rng::Thread => THREAD_RNG.with(|c| {
                let s = c.get().wrapping_add(P0);
                c.set(s);
                s
            }),
            Rng::Seeded { state, .. } => state.fetch_add(P0, Ordering::Relaxed).wrapping_add(P0),
        };
        mum(s, s ^ P1)
    }
}

impl fmt::Debug for Rng {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rng::Thread => f.write_str("Thread"),
            Rng::Seeded { seed, .. } => write!(f, "Seeded({seed})"),
        }
    }
}

// ---------------------------------------------------------------------------
// Compiled pool

/// A backend as a pool holds it: its configuration and its shared counters.
#[derive(Debug)]
pub struct PoolBackend {
    backend: Backend,
    stats: Arc<BackendStats>,
    label: String,
    seeds: (u64, u64),
}

impl PoolBackend {
    /// The backend's configuration.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Its counters (shared with the pools before and after this one).
    pub fn stats(&self) -> &Arc<BackendStats> {
        &self.stats
    }

    /// `address:port`, as gobetween writes it (no brackets around IPv6).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Whether it holds fewer active connections than its `max_connections`
    /// (always, without a cap).
    pub fn has_room(&self) -> bool {
        match self.backend.max_connections {
            None => true,
            Some(cap) => self.stats.active_connections() < u64::from(cap),
        }
    }
}

/// A counter that concurrent picks advance, alone on its cache lines so that
/// advancing it does not evict the read-only fields next to it from the other
/// cores (128 bytes: adjacent lines are fetched in pairs on common CPUs).
#[derive(Debug)]
#[repr(align(128))]
struct Cursor(AtomicU64);

/// The eligible backends of one tier, precompiled for every strategy.
struct Tier {
    tier: u32,
    /// Entry indices, in `address:port` order.
    members: Box<[u32]>,
    /// Cumulative effective weights, aligned with `members`.
    cumulative: Box<[u64]>,
    /// Effective weights, aligned with `members`.
    weights: Box<[u64]>,
    /// The smooth round-robin sequence: positions in `members`.
    schedule: Box<[u32]>,
    /// Rendezvous seeds, aligned with `members`.
    hash_seeds: Box<[(u64, u64)]>,
    /// Rendezvous weights, aligned with `members`: the configured weights (all
    /// 1 when all are 0), never reduced, so that one backend leaving changes no
    /// other backend's score.
    hash_weights: Box<[u32]>,
    /// For consistent hashing over many members: the owner (a position in
    /// `members`) of each of the [`HASH_SLOTS`] slots.
    hash_table: Option<Box<[u32]>>,
    /// Whether some member has a connection cap (picks must check room).
    capped: bool,
    /// The members' counters, aligned with `members`.
    stats: Box<[Arc<BackendStats>]>,
    /// The members' connection caps (`u64::MAX` for none), aligned with
    /// `members`.
    caps: Box<[u64]>,
    cursor: Cursor,
}

impl fmt::Debug for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The schedule and the slot table are long and say little.
        f.debug_struct("Tier")
            .field("tier", &self.tier)
            .field("members", &self.members)
            .field("weights", &self.weights)
            .field("capped", &self.capped)
            .field("schedule_len", &self.schedule.len())
            .field("hash_table", &self.hash_table.is_some())
            .field("cursor", &self.cursor.0)
            .finish_non_exhaustive()
    }
}

impl Tier {
    fn total(&self) -> u64 {
        self.cumulative.last().copied().unwrap_or(0)
    }

    /// Whether the member at position `k` is under its connection cap.
    #[inline]
    fn room(&self, k: usize) -> bool {
        self.stats[k].active_connections() < self.caps[k]
    }
}

/// The tiers of one set of backends (all, or one version's), lowest first.
#[derive(Debug)]
struct Group {
    version: Option<String>,
    tiers: Box<[Tier]>,
}

/// A compiled split: the interleave over versions and the sticky buckets.
#[derive(Debug)]
struct SplitPlan {
    /// The interleave: positions in `shares`.
    schedule: Box<[u32]>,
    /// For each bucket 0..100, the version index (sticky mode).
    buckets: Box<[u32]>,
    /// The versions with a share (indices into `Pool::versions`), in label
    /// order; at most 100.
    shares: Box<[u32]>,
    sticky: bool,
    cursor: Cursor,
}

/// The longest round-robin sequence a tier keeps; weights whose total (after
/// dividing by their greatest common divisor) exceeds it are scaled down.
const MAX_SCHEDULE: u64 = 1 << 16;

/// How many times [`Pool::connect`] picks again when another thread took the
/// last slot of the backend it picked.
const CONNECT_ATTEMPTS: usize = 8;

/// An immutable set of backends and how to choose among them.
///
/// Picks take `&self`, never lock and never allocate; share the pool with an
/// `Arc` (or publish it through `arc-swap`) and rebuild it to change it.
#[derive(Debug)]
pub struct Pool {
    entries: Box<[Arc<PoolBackend>]>,
    config: PoolConfig,
    all: Group,
    /// One group per version label, in label order (eligible or not).
    versions: Box<[Group]>,
    split: Option<SplitPlan>,
    split_error: Option<Error>,
    rng: Rng,
    /// Whether a pick uses the caller key's hash (consistent hashing or a
    /// sticky split).
    hashes_keys: bool,
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// The evenly spread sequence for `weights`: position `i` appears `weights[i]`
/// times, its `k`-th appearance ordered at `(2k + 1) / 2w` of the period, ties
/// by position. Over any run of consecutive entries each position's count is
/// within one of its exact share.
fn smooth_schedule(weights: &[u64]) -> Vec<u32> {
    #[derive(PartialEq, Eq)]
    struct Next {
        num: u64,
        den: u64,
        pos: u32,
    }
    impl Ord for Next {
        fn cmp(&self, other: &Self) -> CmpOrdering {
            // Reversed, for a min-heap on num / den, then pos.
            let a = u128::from(self.num) * u128::from(other.den);
            let b = u128::from(other.num) * u128::from(self.den);
            b.cmp(&a).then(other.pos.cmp(&self.pos))
        }
    }
    impl PartialOrd for Next {
        fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
            Some(self.cmp(other))
        }
    }
    let total: u64 = weights.iter().sum();
    let mut out = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    let mut heap: BinaryHeap<Next> = weights
        .iter()
        .enumerate()
        .filter(|(_, &w)| w > 0)
        .map(|(pos, &w)| Next {
            num: 1,
            den: w,
            pos: pos as u32,
        })
        .collect();
    while let Some(mut next) = heap.pop() {
        out.push(next.pos);
        let seen = next.num / 2 + 1;
        if seen < next.den {
            next.num += 2;
            heap.push(next);
        }
    }
    out
}

/// The weights a tier uses: all-zero becomes all-one; then divided by their
/// greatest common divisor.
fn effective_weights(raw: &[u32]) -> Vec<u64> {
    let mut w: Vec<u64> = raw.iter().map(|&w| u64::from(w)).collect();
    if w.iter().all(|&w| w == 0) {
        w.iter_mut().for_each(|w| *w = 1);
    }
    let g = w.iter().fold(0, |g, &w| gcd(g, w)).max(1);
    w.iter_mut().for_each(|w| *w /= g);
    w
}

/// Weights scaled so their total fits [`MAX_SCHEDULE`] (a weight above zero
/// keeps at least 1).
fn schedule_weights(w: &[u64]) -> Vec<u64> {
    let total: u64 = w.iter().sum();
    if total <= MAX_SCHEDULE {
        return w.to_vec();
    }
    w.iter()
        .map(|&x| {
            if x == 0 {
                0
            } else {
                let scaled = u128::from(x) * u128::from(MAX_SCHEDULE) / u128::from(total);
                (scaled as u64).max(1)
            }
        })
        .collect()
}

fn build_group(
    entries: &[Arc<PoolBackend>],
    version: Option<&str>,
    old: Option<&Pool>,
    hash_table: bool,
) -> Group {
    let mut by_tier: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (i, e) in entries.iter().enumerate() {
        let b = &e.backend;
        if b.state != BackendState::Live || !b.discovered {
            continue;
        }
        if version.is_some() && b.version.as_deref() != version {
            continue;
        }
        by_tier.entry(b.tier).or_default().push(i as u32);
    }
    let old_group = old.and_then(|p| match version {
        None => Some(&p.all),
        Some(v) => p.version_group(v),
    });
    let tiers = by_tier
        .into_iter()
        .map(|(tier, members)| {
            let raw: Vec<u32> = members
                .iter()
                .map(|&i| entries[i as usize].backend.weight)
                .collect();
            let weights = effective_weights(&raw);
            let mut acc = 0u64;
            let cumulative: Vec<u64> = weights
                .iter()
                .map(|&w| {
                    acc = acc.saturating_add(w);
                    acc
                })
                .collect();
            let schedule = smooth_schedule(&schedule_weights(&weights));
            let hash_seeds: Vec<(u64, u64)> =
                members.iter().map(|&i| entries[i as usize].seeds).collect();
            let hash_weights: Vec<u32> = if raw.iter().all(|&w| w == 0) {
                vec![1; raw.len()]
            } else {
                raw
            };
            let capped = members
                .iter()
                .any(|&i| entries[i as usize].backend.max_connections.is_some());
            let old_tier = old_group.and_then(|g| g.tiers.iter().find(|t| t.tier == tier));
            let cursor = old_tier.map_or(0, |t| t.cursor.0.load(Ordering::Relaxed));
            let hash_table = (hash_table && members.len() >= HASH_TABLE_MIN).then(|| {
                let labels: Vec<&str> = members
                    .iter()
                    .map(|&i| entries[i as usize].label.as_str())
                    .collect();
                let old = old_tier.zip(old.map(|p| &p.entries[..]));
                build_hash_table(&labels, &hash_seeds, &hash_weights, old)
            });
            let stats = members
                .iter()
                .map(|&i| Arc::clone(&entries[i as usize].stats))
                .collect();
            let caps = members
                .iter()
                .map(|&i| {
                    entries[i as usize]
                        .backend
                        .max_connections
                        .map_or(u64::MAX, u64::from)
                })
                .collect();
            Tier {
                tier,
                members: members.into(),
                cumulative: cumulative.into(),
                weights: weights.into(),
                schedule: schedule.into(),
                hash_seeds: hash_seeds.into(),
                hash_weights: hash_weights.into(),
                hash_table,
                capped,
                stats,
                caps,
                cursor: Cursor(AtomicU64::new(cursor)),
            }
        })
        .collect();
    Group {
        version: version.map(str::to_owned),
        tiers,
    }
}

/// Keys are hashed onto `2^HASH_SLOT_BITS` slots, and each slot goes to the
/// backend with the highest weighted rendezvous score for it: removing a
/// backend hands only its own slots to others, and a slot's owner never
/// depends on anything but the backends' identities and weights.
const HASH_SLOT_BITS: u32 = 16;

/// The number of hash slots.
const HASH_SLOTS: usize = 1 << HASH_SLOT_BITS;

/// Tiers with at least this many members keep a table of slot owners (256 KiB)
/// and answer a hashed pick with one lookup; smaller ones compute the scores.
const HASH_TABLE_MIN: usize = 16;

#[inline(always)]
fn slot_of(key_hash: u64) -> u32 {
    (key_hash >> (64 - HASH_SLOT_BITS)) as u32
}

#[inline(always)]
fn slot_key(slot: u32) -> u64 {
    mum(mum(u64::from(slot) ^ P3, P0) ^ P1, P2)
}

/// The slot owners of a tier. With the same tier of the previous pool, only
/// what changed is scored: each slot keeps its owner if it stays (unless a
/// newcomer outscores it), and only the slots of a leaving owner are scored
/// afresh against every member.
fn build_hash_table(
    labels: &[&str],
    seeds: &[(u64, u64)],
    weights: &[u32],
    old: Option<(&Tier, &[Arc<PoolBackend>])>,
) -> Box<[u32]> {
    // The highest score among `among` (positions), ties to the lowest position.
    let best_of = |key: u64, among: &[usize]| -> u32 {
        let mut best: Option<(u64, usize)> = None;
        for &p in among {
            let w = weights[p];
            if w == 0 {
                continue;
            }
            let s = weighted_score(key, seeds[p], w);
            if best.is_none_or(|(b, bp)| s > b || (s == b && p < bp)) {
                best = Some((s, p));
            }
        }
        best.map_or(0, |(_, p)| p as u32)
    };
    let everyone: Vec<usize> = (0..labels.len()).collect();
    let reusable = old.and_then(|(tier, entries)| {
        let table = tier.hash_table.as_ref()?;
        let position: HashMap<&str, usize> =
            labels.iter().enumerate().map(|(p, &l)| (l, p)).collect();
        let mut kept = vec![false; labels.len()];
        // Old position -> new position, for members whose score is unchanged.
        let map: Vec<Option<usize>> = tier
            .members
            .iter()
            .zip(tier.hash_weights.iter())
            .map(|(&i, &w)| {
                let p = *position.get(entries[i as usize].label.as_str())?;
                (weights[p] == w && w > 0).then(|| {
                    kept[p] = true;
                    p
                })
            })
            .collect();
        let added: Vec<usize> = (0..labels.len()).filter(|&p| !kept[p]).collect();
        Some((table, map, added))
    });
    let mut out = vec![0u32; HASH_SLOTS];
    match reusable {
        None => {
            for (slot, owner) in out.iter_mut().enumerate() {
                *owner = best_of(slot_key(slot as u32), &everyone);
            }
        }
        Some((table, map, mut added)) => {
            // The kept owner first, then the newcomers.
            added.insert(0, 0);
            for (slot, owner) in out.iter_mut().enumerate() {
                *owner = match map[table[slot] as usize] {
                    None => best_of(slot_key(slot as u32), &everyone),
                    Some(p) if added.len() == 1 => p as u32,
                    Some(p) => {
                        added[0] = p;
                        best_of(slot_key(slot as u32), &added)
                    }
                };
            }
        }
    }
    out.into()
}

/// A key resolved once per pick.
struct Resolved<'a> {
    key_hash: Option<u64>,
    ip: Option<IpOctets>,
    key: Option<&'a [u8]>,
}

#[derive(Clone, Copy)]
struct IpOctets {
    bytes: [u8; 16],
    len: usize,
}

impl IpOctets {
    fn of(ip: IpAddr) -> IpOctets {
        let mut bytes = [0u8; 16];
        match ip {
            IpAddr::V4(v4) => {
                bytes[..4].copy_from_slice(&v4.octets());
                IpOctets { bytes, len: 4 }
            }
            IpAddr::V6(v6) => IpOctets {
                bytes: v6.octets(),
                len: 16,
            },
        }
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl Pool {
    /// A pool of `backends` chosen among by `config`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] when a backend has an empty address or
    /// port 0, or two backends share an address and port. An invalid split is
    /// not an error here: the pool applies the fallback and
    /// [`Pool::split_error`] says why (validate with [`Split::validate`] before
    /// accepting one).
    pub fn try_new(backends: Vec<Backend>, config: PoolConfig) -> Result<Pool, Error> {
        Pool::build(backends, config, None)
    }

    /// An empty pool.
    pub fn empty(config: PoolConfig) -> Pool {
        Pool::compile(Vec::new(), config, None)
    }

    /// The next pool: `backends` under this pool's configuration. Backends with
    /// the address and port of one of this pool keep its counters; round-robin
    /// positions and the split's interleave carry on where they were.
    ///
    /// # Errors
    ///
    /// As [`Pool::try_new`]; this pool is unchanged either way.
    pub fn try_rebuild(&self, backends: Vec<Backend>) -> Result<Pool, Error> {
        Pool::build(backends, self.config.clone(), Some(self))
    }

    /// The next pool: the same backends (and counters) under `config`.
    pub fn reconfigure(&self, config: PoolConfig) -> Pool {
        let backends = self.entries.iter().map(|e| e.backend.clone()).collect();
        Pool::compile(backends, config, Some(self))
    }

    fn build(
        backends: Vec<Backend>,
        config: PoolConfig,
        old: Option<&Pool>,
    ) -> Result<Pool, Error> {
        let mut seen: HashMap<(&str, u16), ()> = HashMap::with_capacity(backends.len());
        for b in &backends {
            if b.address.is_empty() {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    "a backend requires a non-empty address",
                ));
            }
            if b.port == 0 {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!("backend {} requires a port greater than 0", b.address),
                ));
            }
            if seen.insert((b.address.as_str(), b.port), ()).is_some() {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!("backend {} is listed more than once", b.id()),
                ));
            }
        }
        Ok(Pool::compile(backends, config, old))
    }

    fn compile(backends: Vec<Backend>, config: PoolConfig, old: Option<&Pool>) -> Pool {
        let old_stats: HashMap<(&str, u16), &Arc<BackendStats>> = old
            .map(|p| {
                p.entries
                    .iter()
                    .map(|e| ((e.backend.address.as_str(), e.backend.port), &e.stats))
                    .collect()
            })
            .unwrap_or_default();
        let mut entries: Vec<Arc<PoolBackend>> = backends
            .into_iter()
            .map(|backend| {
                let label = format!("{}:{}", backend.address, backend.port);
                let h = hash_bytes(label.as_bytes());
                let stats = old_stats
                    .get(&(backend.address.as_str(), backend.port))
                    .map_or_else(|| Arc::new(BackendStats::new()), |s| Arc::clone(s));
                Arc::new(PoolBackend {
                    seeds: (h, mum(h ^ P2, P3) | 1),
                    backend,
                    stats,
                    label,
                })
            })
            .collect();
        entries.sort_by(|a, b| a.label.cmp(&b.label));

        let table = config.strategy == Strategy::ConsistentHash;
        let all = build_group(&entries, None, old, table);
        let mut labels: Vec<&str> = entries
            .iter()
            .filter_map(|e| e.backend.version.as_deref())
            .collect();
        labels.sort_unstable();
        labels.dedup();
        let versions: Box<[Group]> = labels
            .iter()
            .map(|v| build_group(&entries, Some(v), old, table))
            .collect();

        let (split, split_error) = match &config.split {
            None => (None, None),
            Some(sc) => match &sc.split {
                None => (None, None),
                Some(s) => match s.validate(labels.iter().copied()) {
                    Err(e) => (None, Some(e)),
                    Ok(()) => {
                        let cursor = old
                            .and_then(|p| p.split.as_ref())
                            .map_or(0, |p| p.cursor.0.load(Ordering::Relaxed));
                        (Some(plan_split(s, &versions, sc.sticky, cursor)), None)
                    }
                },
            },
        };

        let rng = match config.seed {
            None => Rng::Thread,
            Some(seed) => {
                let state = match old.map(|p| &p.rng) {
                    Some(Rng::Seeded { seed: s, state }) if *s == seed => {
                        state.load(Ordering::Relaxed)
                    }
                    _ => seed,
                };
                Rng::Seeded {
                    seed,
                    state: AtomicU64::new(state),
                }
            }
        };

        let hashes_keys = config.strategy == Strategy::ConsistentHash
            || config.split.as_ref().is_some_and(|s| s.sticky);
        Pool {
            hashes_keys,
            entries: entries.into(),
            config,
            all,
            versions,
            split,
            split_error,
            rng,
        }
    }

    /// The backends, in `address:port` order, whatever their state.
    pub fn backends(&self) -> &[Arc<PoolBackend>] {
        &self.entries
    }

    /// The backend with this address and port.
    pub fn get(&self, address: &str, port: u16) -> Option<&Arc<PoolBackend>> {
        self.entries
            .iter()
            .find(|e| e.backend.port == port && e.backend.address == address)
    }

    /// The configuration.
    pub fn config(&self) -> &PoolConfig {
        &self.config
    }

    /// Why the configured split is not applied, when it is invalid for these
    /// backends' versions (the pool then applies the fallback).
    pub fn split_error(&self) -> Option<&Error> {
        self.split_error.as_ref()
    }

    /// The version labels the backends carry, in order.
    pub fn versions(&self) -> impl Iterator<Item = &str> {
        self.versions.iter().filter_map(|g| g.version.as_deref())
    }

    /// Draining or undiscovered backends that have no active connection left:
    /// the owner removes them with [`Pool::try_rebuild`].
    pub fn drained(&self) -> Vec<BackendId> {
        self.entries
            .iter()
            .filter(|e| {
                (e.backend.state == BackendState::Draining || !e.backend.discovered)
                    && e.stats.active_connections() == 0
            })
            .map(|e| e.backend.id())
            .collect()
    }

    /// Chooses a backend for a request, or `None` when no backend is eligible
    /// (or the split's fallback drops the request).
    ///
    /// The pick does not count a connection; a proxy that opens one uses
    /// [`Pool::connect`] (or the [`BackendStats`] methods) so caps, least
    /// connections and the stats see it.
    #[inline]
    pub fn pick(&self, input: &PickInput<'_>) -> Option<&Arc<PoolBackend>> {
        let r = Resolved {
            key_hash: if self.hashes_keys {
                input.key.map(hash_bytes)
            } else {
                None
            },
            ip: input.client_ip.map(IpOctets::of),
            key: input.key,
        };
        let i = self.pick_index(input, &r)?;
        Some(&self.entries[i as usize])
    }

    /// Picks a backend and takes one of its connection slots (honouring
    /// `max_connections` even against concurrent callers), or `None` when no
    /// backend has room. The slot is freed when the [`Connection`] drops.
    pub fn connect(&self, input: &PickInput<'_>) -> Option<Connection> {
        for _ in 0..CONNECT_ATTEMPTS {
            let e = self.pick(input)?;
            if e.stats.try_acquire(e.backend.max_connections) {
                return Some(Connection {
                    entry: Arc::clone(e),
                });
            }
        }
        None
    }

    /// Closes a stats window at `now` for every backend (see
    /// [`crate::stats`]).
    pub fn sample(&self, now: Timestamp) {
        for e in self.entries.iter() {
            e.stats.sample(now);
        }
    }

    /// The server's report in gobetween's shape.
    pub fn stats(&self) -> ServerStats {
        ServerStats::from_backends(
            self.entries
                .iter()
                .map(|e| BackendReport {
                    host: e.backend.address.clone(),
                    port: e.backend.port.to_string(),
                    priority: i64::from(e.backend.tier),
                    weight: u64::from(e.backend.weight),
                    max_connections: e.backend.max_connections.filter(|&cap| cap > 0),
                    sni: e.backend.metadata.get("sni").cloned(),
                    stats: e
                        .stats
                        .counters(e.backend.state != BackendState::Down, e.backend.discovered),
                })
                .collect(),
        )
    }

    fn version_group(&self, v: &str) -> Option<&Group> {
        self.versions
            .binary_search_by(|g| g.version.as_deref().unwrap_or("").cmp(v))
            .ok()
            .map(|i| &self.versions[i])
    }

    fn pick_index(&self, input: &PickInput<'_>, r: &Resolved<'_>) -> Option<u32> {
        if let Some(v) = input.version {
            return self.pick_group(self.version_group(v)?, r);
        }
        let Some(sc) = &self.config.split else {
            return self.pick_group(&self.all, r);
        };
        if let Some(plan) = &self.split {
            return self.pick_split(plan, r);
        }
        match sc.fallback {
            Fallback::Random => self.pick_group(&self.all, r),
            Fallback::Drop => None,
            Fallback::Smallest if self.versions.is_empty() => self.pick_group(&self.all, r),
            Fallback::Largest if self.versions.is_empty() => self.pick_group(&self.all, r),
            Fallback::Smallest => self.versions.iter().find_map(|g| self.pick_group(g, r)),
            Fallback::Largest => self
                .versions
                .iter()
                .rev()
                .find_map(|g| self.pick_group(g, r)),
        }
    }

    fn pick_split(&self, plan: &SplitPlan, r: &Resolved<'_>) -> Option<u32> {
        if plan.sticky {
            if let Some(h) = r.key_hash {
                let first = plan.buckets[(h % 100) as usize];
                if let Some(i) = self.pick_group(&self.versions[first as usize], r) {
                    return Some(i);
                }
                // Its version has nothing eligible: the others, in label order.
                return plan
                    .shares
                    .iter()
                    .filter(|&&v| v != first)
                    .find_map(|&v| self.pick_group(&self.versions[v as usize], r));
            }
        }
        let n = plan.schedule.len() as u64;
        let start = plan.cursor.0.fetch_add(1, Ordering::Relaxed) % n;
        // Versions found without an eligible backend, by position in `shares`
        // (at most 100, so two words).
        let mut tried = [0u64; 2];
        for step in 0..n {
            let pos = plan.schedule[((start + step) % n) as usize];
            let (word, bit) = ((pos / 64) as usize, pos % 64);
            if tried[word] & (1 << bit) != 0 {
                continue;
            }
            let v = plan.shares[pos as usize];
            if let Some(i) = self.pick_group(&self.versions[v as usize], r) {
                return Some(i);
            }
            tried[word] |= 1 << bit;
        }
        None
    }

    #[inline]
    fn pick_group(&self, g: &Group, r: &Resolved<'_>) -> Option<u32> {
        g.tiers.iter().find_map(|t| self.pick_tier(t, r))
    }

    fn pick_tier(&self, t: &Tier, r: &Resolved<'_>) -> Option<u32> {
        match self.config.strategy {
            Strategy::RoundRobin => self.round_robin(t),
            Strategy::WeightedRandom | Strategy::Weight => self.weighted(t),
            Strategy::LeastConnections => self.least(t, |s| (s.active_connections(), 0)),
            Strategy::LeastBandwidth => self.least(t, |s| (s.bandwidth(), s.active_connections())),
            Strategy::ConsistentHash => match r
                .key_hash
                .or_else(|| r.ip.map(|ip| hash_bytes(ip.as_slice())))
            {
                Some(h) => self.rendezvous(t, h),
                None => self.weighted(t),
            },
            Strategy::IpHash => match r.ip_or_key() {
                Some(bytes) => self.ip_hash(t, fnv1a32(FNV32_OFFSET, bytes)),
                None => self.weighted(t),
            },
            Strategy::IpHash1 => match r.ip_or_key() {
                Some(bytes) => self.ip_hash1(t, fnv1a32(FNV32_OFFSET, bytes)),
                None => self.weighted(t),
            },
        }
    }

    fn round_robin(&self, t: &Tier) -> Option<u32> {
        let n = t.schedule.len() as u64;
        if n == 0 {
            return None;
        }
        let start = t.cursor.0.fetch_add(1, Ordering::Relaxed) % n;
        let first = t.schedule[start as usize] as usize;
        if !t.capped || t.room(first) {
            return Some(t.members[first]);
        }
        (1..n)
            .map(|step| t.schedule[((start + step) % n) as usize] as usize)
            .find(|&k| t.room(k))
            .map(|k| t.members[k])
    }

    fn weighted(&self, t: &Tier) -> Option<u32> {
        let total = t.total();
        if total == 0 {
            return None;
        }
        let draw = below(self.rng.next(), total);
        let first = t.cumulative.partition_point(|&c| c <= draw);
        if !t.capped || t.room(first) {
            return Some(t.members[first]);
        }
        // Draw again over the members with room, in exact proportion.
        let with_room = |k: &usize| t.room(*k);
        let total: u64 = (0..t.members.len())
            .filter(with_room)
            .map(|k| t.weights[k])
            .sum();
        if total == 0 {
            return None;
        }
        let mut draw = below(self.rng.next(), total);
        for k in (0..t.members.len()).filter(with_room) {
            if draw < t.weights[k] {
                return Some(t.members[k]);
            }
            draw -= t.weights[k];
        }
        None
    }

    /// The member with the least `key`, ties uniformly at random: one pass
    /// finds the least key and how many share it, a second takes a random one
    /// of them (or the first, if the counters moved in between).
    fn least(&self, t: &Tier, key: impl Fn(&BackendStats) -> (u64, u64)) -> Option<u32> {
        let mut min = (u64::MAX, u64::MAX);
        let mut ties = 0u64;
        let mut first = None;
        for (k, s) in t.stats.iter().enumerate() {
            if t.capped && !t.room(k) {
                continue;
            }
            let v = key(s);
            if first.is_none() || v < min {
                (min, ties, first) = (v, 1, Some(k));
            } else if v == min {
                ties += 1;
            }
        }
        let first = first?;
        if ties > 1 {
            let mut nth = below(self.rng.next(), ties);
            for (k, s) in t.stats.iter().enumerate().skip(first) {
                if (t.capped && !t.room(k)) || key(s) != min {
                    continue;
                }
                if nth == 0 {
                    return Some(t.members[k]);
                }
                nth -= 1;
            }
        }
        Some(t.members[first])
    }

    fn rendezvous(&self, t: &Tier, h: u64) -> Option<u32> {
        let slot = slot_of(h);
        if let Some(table) = &t.hash_table {
            let first = table[slot as usize] as usize;
            if !t.capped || t.room(first) {
                return Some(t.members[first]);
            }
        }
        self.rendezvous_scan(t, slot)
    }

    /// The table's choice computed by a scan, over the members with room.
    fn rendezvous_scan(&self, t: &Tier, slot: u32) -> Option<u32> {
        let key = slot_key(slot);
        let mut best: Option<(usize, u64)> = None;
        for (k, (&w, &seeds)) in t.hash_weights.iter().zip(t.hash_seeds.iter()).enumerate() {
            if w == 0 || (t.capped && !t.room(k)) {
                continue;
            }
            let s = weighted_score(key, seeds, w);
            if best.is_none_or(|(_, b)| s > b) {
                best = Some((k, s));
            }
        }
        best.map(|(k, _)| t.members[k])
    }

    fn ip_hash(&self, t: &Tier, h: u32) -> Option<u32> {
        let n = t.members.len() as u32;
        if n == 0 {
            return None;
        }
        let first = (h % n) as usize;
        if !t.capped {
            return Some(t.members[first]);
        }
        // gobetween filters full backends before hashing: the modulus is the
        // number with room.
        let m = (0..t.members.len()).filter(|&k| t.room(k)).count() as u32;
        if m == 0 {
            return None;
        }
        (0..t.members.len())
            .filter(|&k| t.room(k))
            .nth((h % m) as usize)
            .map(|k| t.members[k])
    }

    fn ip_hash1(&self, t: &Tier, prefix: u32) -> Option<u32> {
        let mut best: Option<(u32, u32)> = None;
        for (k, &i) in t.members.iter().enumerate() {
            if t.capped && !t.room(k) {
                continue;
            }
            let s = fnv1a32(prefix, self.entries[i as usize].label.as_bytes());
            if best.is_none_or(|(_, b)| s > b) {
                best = Some((i, s));
            }
        }
        best.map(|(i, _)| i)
    }
}

impl Resolved<'_> {
    fn ip_or_key(&self) -> Option<&[u8]> {
        self.ip.as_ref().map(IpOctets::as_slice).or(self.key)
    }
}

fn plan_split(split: &Split, versions: &[Group], sticky: bool, cursor: u64) -> SplitPlan {
    // Validation guaranteed every label exists and the shares total 100.
    let mut shares = Vec::new();
    let mut weights = Vec::new();
    let mut buckets = Vec::with_capacity(100);
    for (label, &pct) in split.percentages() {
        if pct <= 0 {
            continue;
        }
        let Some(v) = versions
            .iter()
            .position(|g| g.version.as_deref() == Some(label.as_str()))
        else {
            continue;
        };
        shares.push(v as u32);
        weights.push(pct as u64);
        buckets.extend(std::iter::repeat_n(v as u32, pct as usize));
    }
    SplitPlan {
        schedule: smooth_schedule(&weights).into(),
        buckets: buckets.into(),
        shares: shares.into(),
        sticky,
        cursor: Cursor(AtomicU64::new(cursor)),
    }
}

/// One connection slot on a backend, taken by [`Pool::connect`] and given back
/// on drop.
#[derive(Debug)]
pub struct Connection {
    entry: Arc<PoolBackend>,
}

impl Connection {
    /// The backend.
    pub fn backend(&self) -> &Backend {
        &self.entry.backend
    }

    /// Its counters.
    pub fn stats(&self) -> &BackendStats {
        &self.entry.stats
    }

    /// The dial succeeded: counts one more connection in total.
    pub fn established(&self) {
        self.entry.stats.connection_established();
    }

    /// The dial failed: counts a refused connection and frees the slot.
    pub fn refused(self) {
        self.entry.stats.connection_refused();
    }

    /// `bytes` more were received from the backend.
    pub fn add_rx(&self, bytes: u64) {
        self.entry.stats.add_rx(bytes);
    }

    /// `bytes` more were sent to the backend.
    pub fn add_tx(&self, bytes: u64) {
        self.entry.stats.add_tx(bytes);
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.entry.stats.connection_closed();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oibits() {
        fn check<T: Send + Sync + std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}
        check::<Pool>();
        check::<Connection>();
        check::<Backend>();
    }

    #[test]
    fn schedule_is_evenly_spread() {
        let s = smooth_schedule(&[1, 2, 7]);
        assert_eq!(s.len(), 10);
        // No position appears twice in a row unless it must (7 of 10).
        let twos = s.windows(2).filter(|w| w[0] == 1 && w[1] == 1).count();
        assert_eq!(twos, 0);
        for pos in 0..3u32 {
            let want = [1, 2, 7][pos as usize];
            assert_eq!(s.iter().filter(|&&p| p == pos).count(), want);
        }
    }

    #[test]
    fn effective_weights_reduce_and_default() {
        assert_eq!(effective_weights(&[0, 0]), vec![1, 1]);
        assert_eq!(effective_weights(&[20, 80, 0]), vec![1, 4, 0]);
        let big = schedule_weights(&[u64::from(u32::MAX), 1]);
        assert!(big.iter().sum::<u64>() <= MAX_SCHEDULE + 1);
        assert_eq!(big[1], 1);
    }

    #[test]
    fn hash_tables_agree_with_the_scan_and_with_fresh_builds() {
        let backends = |n: usize, bump: Option<usize>| -> Vec<Backend> {
            (0..n)
                .map(|i| {
                    let w = [1, 2, 5, 9, 30][i % 5] + u32::from(bump == Some(i));
                    Backend::new(format!("10.0.0.{}", i + 1), 80).with_weight(w)
                })
                .collect()
        };
        let config = PoolConfig::new().strategy(Strategy::ConsistentHash);
        let fresh = Pool::try_new(backends(40, None), config.clone()).unwrap();
        let tier = &fresh.all.tiers[0];
        assert!(tier.hash_table.is_some());
        for slot in (0..HASH_SLOTS as u32).step_by(7) {
            let table = tier.members[tier.hash_table.as_ref().unwrap()[slot as usize] as usize];
            assert_eq!(
                Some(table),
                fresh.rendezvous_scan(tier, slot),
                "slot {slot}"
            );
        }
        let owners = |p: &Pool| p.all.tiers[0].hash_table.as_ref().unwrap().to_vec();
        let labels = |p: &Pool| -> Vec<String> {
            let t = &p.all.tiers[0];
            owners(p)
                .iter()
                .map(|&o| p.entries[t.members[o as usize] as usize].label.clone())
                .collect()
        };
        let want = labels(&fresh);
        let grown = Pool::try_new(backends(39, None), config.clone())
            .unwrap()
            .try_rebuild(backends(40, None))
            .unwrap();
        assert_eq!(labels(&grown), want);
        let shrunk = Pool::try_new(backends(42, None), config.clone())
            .unwrap()
            .try_rebuild(backends(40, None))
            .unwrap();
        assert_eq!(labels(&shrunk), want);
        for bumped in [0, 3, 4] {
            let reweighed = Pool::try_new(backends(40, Some(bumped)), config.clone())
                .unwrap()
                .try_rebuild(backends(40, None))
                .unwrap();
            assert_eq!(labels(&reweighed), want);
        }
    }

    #[test]
    fn debug_output_stays_short() {
        let backends = (0..40)
            .map(|i| Backend::new(format!("10.0.0.{}", i + 1), 80).with_weight(1 + i % 7))
            .collect();
        let pool = Pool::try_new(
            backends,
            PoolConfig::new().strategy(Strategy::ConsistentHash),
        )
        .unwrap();
        assert!(pool.all.tiers[0].hash_table.is_some());
        assert!(format!("{pool:?}").len() < 40_000);
    }

    #[test]
    fn fnv_matches_reference_values() {
        // FNV-1a 32 of "" and "a", from the specification's test vectors.
        assert_eq!(fnv1a32(FNV32_OFFSET, b""), 0x811c_9dc5);
        assert_eq!(fnv1a32(FNV32_OFFSET, b"a"), 0xe40c_292c);
    }
}
