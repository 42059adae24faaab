//! Connection and byte counters per backend, and their rates over a window.
//!
//! Every backend of a [`Pool`](crate::balance::Pool) owns one [`BackendStats`].
//! The hot path (a connection opened, closed or refused, bytes received or sent)
//! is one relaxed atomic operation; nothing on it locks or allocates.
//!
//! # Rates
//!
//! `rx_second` and `tx_second` are bytes per second over the **last window**: the
//! interval between the two most recent calls to [`BackendStats::sample`] (or
//! [`Pool::sample`](crate::balance::Pool::sample), which samples every backend at
//! the same instant). The owner calls it periodically with its clock's time;
//! [`SAMPLE_INTERVAL`] (2 s, gobetween's period) is a sensible period. A rate is
//! `(bytes now − bytes at the previous sample) × 10⁹ / window in nanoseconds`,
//! rounded down, so with a 2 s window it is gobetween's `delta / 2`, and it is 0
//! after a window without traffic. Before the second sample the rates are 0.
//!
//! ```
//! use routeyard::{ManualClock, Clock, Timestamp};
//! use routeyard::stats::BackendStats;
//! use std::time::Duration;
//!
//! let clock = ManualClock::new(Timestamp::from_secs(10));
//! let stats = BackendStats::new();
//! stats.sample(clock.now());
//! stats.add_rx(4_000);
//! clock.advance(Duration::from_secs(2));
//! stats.sample(clock.now());
//! assert_eq!(stats.rx_second(), 2_000);
//! ```
//!
//! # Wire shapes
//!
//! [`BackendCounters`], [`BackendReport`] and [`ServerStats`] serialise with
//! gobetween's field names (`GET /servers/:name/stats`): `rx`/`tx` per backend,
//! `rx_total`/`tx_total` per server, `priority` for the tier and the port as a
//! string.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::lease::Timestamp;

/// A sensible period for calling [`BackendStats::sample`]: gobetween's 2 s.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(2);

/// The live counters of one backend, shared by every pool generation that holds
/// a backend of the same identity (address and port).
///
/// Counter updates are relaxed atomics; reads may see a neighbouring update
/// late, never a torn value.
#[derive(Debug, Default)]
pub struct BackendStats {
    total: AtomicU64,
    active: AtomicU64,
    refused: AtomicU64,
    rx: AtomicU64,
    tx: AtomicU64,
    rx_second: AtomicU64,
    tx_second: AtomicU64,
    // The previous sample: its time (0 = none yet) and the totals then. Written
    // only by the sampler that holds `sampling`.
    sampled_at: AtomicU64,
    sampled_rx: AtomicU64,
    sampled_tx: AtomicU64,
    sampling: AtomicBool,
}

impl BackendStats {
    /// Counters at zero.
    pub fn new() -> BackendStats {
        BackendStats::default()
    }

    /// A connection to the backend was established: one more in total and one
    /// more active.
    #[inline]
    pub fn connection_opened(&self) {
        self.total.fetch_add(1, Ordering::Relaxed);
        self.active.fetch_add(1, Ordering::Relaxed);
    }

    /// An active connection ended: one fewer active (never below zero).
    #[inline]
    pub fn connection_closed(&self) {
        let _ = self
            .active
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |a| a.checked_sub(1));
    }

    /// A connection attempt to the backend failed (the dial was refused).
    #[inline]
    pub fn connection_refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes one active-connection slot if fewer than `cap` are active (any
    /// number when `cap` is `None`), and says whether it did. The slot is given
    /// back by [`BackendStats::connection_closed`]; the total counts only once
    /// the connection is established ([`BackendStats::connection_established`]).
    #[inline]
    pub fn try_acquire(&self, cap: Option<u32>) -> bool {
        match cap {
            None => {
                self.active.fetch_add(1, Ordering::Relaxed);
                true
            }
            Some(cap) => self
                .active
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |a| {
                    (a < u64::from(cap)).then_some(a + 1)
                })
                .is_ok(),
        }
    }

    /// A connection whose slot was taken by [`BackendStats::try_acquire`] is
    /// now established: one more in total.
    #[inline]
    pub fn connection_established(&self) {
        self.total.fetch_add(1, Ordering::Relaxed);
    }

    /// `bytes` more were received from the backend.
    #[inline]
    pub fn add_rx(&self, bytes: u64) {
        self.rx.fetch_add(bytes, Ordering::Relaxed);
    }

    /// `bytes` more were sent to the backend.
    #[inline]
    pub fn add_tx(&self, bytes: u64) {
        self.tx.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Connections established so far.
    pub fn total_connections(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Connections open now.
    #[inline]
    pub fn active_connections(&self) -> u64 {
        self.active.load(Ordering::Relaxed)
    }

    /// Connection attempts refused so far.
    pub fn refused_connections(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Bytes received so far.
    pub fn rx(&self) -> u64 {
        self.rx.load(Ordering::Relaxed)
    }

    /// Bytes sent so far.
    pub fn tx(&self) -> u64 {
        self.tx.load(Ordering::Relaxed)
    }

    /// Bytes received per second over the last window (see the module docs).
    pub fn rx_second(&self) -> u64 {
        self.rx_second.load(Ordering::Relaxed)
    }

    /// Bytes sent per second over the last window (see the module docs).
    pub fn tx_second(&self) -> u64 {
        self.tx_second.load(Ordering::Relaxed)
    }

    /// Received plus sent bytes per second over the last window; what the
    /// least-bandwidth strategy compares.
    #[inline]
    pub fn bandwidth(&self) -> u64 {
        self.rx_second().saturating_add(self.tx_second())
    }

    /// Closes a window at `now`: the rates become the byte deltas since the
    /// previous sample divided by the time between them, and `now` starts the
    /// next window.
    ///
    /// The first sample only starts a window. A sample at or before the previous
    /// one (a clock that did not move, or moved back) changes nothing, and so does
    /// a sample taken while another thread is sampling the same backend.
    pub fn sample(&self, now: Timestamp) {
        if self
            .sampling
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        let at = now.as_nanos();
        let prev_at = self.sampled_at.load(Ordering::Relaxed);
        let (rx, tx) = (self.rx(), self.tx());
        if prev_at == 0 || at > prev_at {
            if prev_at != 0 {
                let window = at - prev_at;
                let rate = |now: u64, then: u64| -> u64 {
                    let delta = u128::from(now.saturating_sub(then));
                    u64::try_from(delta * 1_000_000_000 / u128::from(window)).unwrap_or(u64::MAX)
                };
                self.rx_second.store(
                    rate(rx, self.sampled_rx.load(Ordering::Relaxed)),
                    Ordering::Relaxed,
                );
                self.tx_second.store(
                    rate(tx, self.sampled_tx.load(Ordering::Relaxed)),
                    Ordering::Relaxed,
                );
            }
            // A clock at its epoch would read as "no sample yet"; one nanosecond
            // later is as good a start.
            self.sampled_at.store(at.max(1), Ordering::Relaxed);
            self.sampled_rx.store(rx, Ordering::Relaxed);
            self.sampled_tx.store(tx, Ordering::Relaxed);
        }
        self.sampling.store(false, Ordering::Release);
    }

    /// The counters as gobetween reports them, with the `live` and `discovered`
    /// flags the owner knows.
    pub fn counters(&self, live: bool, discovered: bool) -> BackendCounters {
        BackendCounters {
            live,
            discovered,
            total_connections: self.total_connections(),
            active_connections: self.active_connections(),
            refused_connections: self.refused_connections(),
            rx: self.rx(),
            tx: self.tx(),
            rx_second: self.rx_second(),
            tx_second: self.tx_second(),
        }
    }
}

/// One backend's counters, in gobetween's shape (`stats` of a backend).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BackendCounters {
    /// Whether the backend is up (not `down`).
    pub live: bool,
    /// Whether discovery still lists the backend.
    pub discovered: bool,
    /// Connections established so far.
    pub total_connections: u64,
    /// Connections open now.
    pub active_connections: u64,
    /// Connection attempts refused so far.
    pub refused_connections: u64,
    /// Bytes received so far.
    pub rx: u64,
    /// Bytes sent so far.
    pub tx: u64,
    /// Bytes received per second over the last window.
    pub rx_second: u64,
    /// Bytes sent per second over the last window.
    pub tx_second: u64,
}

/// One backend of a server's report, in gobetween's shape.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendReport {
    /// The backend's address.
    pub host: String,
    /// The backend's port, as a string (gobetween's wire type).
    pub port: String,
    /// The backend's tier (gobetween's `priority`; lower is preferred).
    pub priority: i64,
    /// The backend's weight.
    pub weight: u64,
    /// The backend's connection cap; left out without one (gobetween leaves out 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u32>,
    /// The SNI name the backend serves (its `sni` metadata); left out when none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    /// Its counters.
    pub stats: BackendCounters,
}

/// A server's (a pool's) report, in gobetween's shape: totals over the backends
/// it holds now, and each backend.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerStats {
    /// Connections open now, over all backends.
    pub active_connections: u64,
    /// Bytes received so far, over the backends held now.
    pub rx_total: u64,
    /// Bytes sent so far, over the backends held now.
    pub tx_total: u64,
    /// Bytes received per second over the last window, over all backends.
    pub rx_second: u64,
    /// Bytes sent per second over the last window, over all backends.
    pub tx_second: u64,
    /// Each backend, in the pool's order (by `address:port`).
    pub backends: Vec<BackendReport>,
}

impl ServerStats {
    /// Sums the per-backend figures into a server's report.
    pub fn from_backends(backends: Vec<BackendReport>) -> ServerStats {
        let mut s = ServerStats::default();
        for b in &backends {
            s.active_connections = s
                .active_connections
                .saturating_add(b.stats.active_connections);
            s.rx_total = s.rx_total.saturating_add(b.stats.rx);
            s.tx_total = s.tx_total.saturating_add(b.stats.tx);
            s.rx_second = s.rx_second.saturating_add(b.stats.rx_second);
            s.tx_second = s.tx_second.saturating_add(b.stats.tx_second);
        }
        s.backends = backends;
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closing_never_goes_below_zero() {
        let s = BackendStats::new();
        s.connection_closed();
        assert_eq!(s.active_connections(), 0);
        s.connection_opened();
        s.connection_closed();
        s.connection_closed();
        assert_eq!(s.active_connections(), 0);
        assert_eq!(s.total_connections(), 1);
    }

    #[test]
    fn acquire_respects_the_cap() {
        let s = BackendStats::new();
        assert!(s.try_acquire(Some(2)));
        assert!(s.try_acquire(Some(2)));
        assert!(!s.try_acquire(Some(2)));
        assert!(!s.try_acquire(Some(0)));
        assert!(s.try_acquire(None));
        assert_eq!(s.active_connections(), 3);
        assert_eq!(s.total_connections(), 0);
    }

    #[test]
    fn oibits() {
        fn check<T: Send + Sync + std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}
        check::<BackendStats>();
        check::<ServerStats>();
    }
}
