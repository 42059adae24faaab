//! Time and leases: the injected clock and the expiry queue.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// A point in time, in nanoseconds since an epoch chosen by the [`Clock`].
///
/// [`SystemClock`] counts from the Unix epoch; a [`ManualClock`] counts from
/// wherever the test sets it.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The epoch itself.
    pub const ZERO: Timestamp = Timestamp(0);

    /// A timestamp `nanos` nanoseconds after the epoch.
    pub const fn from_nanos(nanos: u64) -> Timestamp {
        Timestamp(nanos)
    }

    /// A timestamp `secs` seconds after the epoch.
    pub const fn from_secs(secs: u64) -> Timestamp {
        Timestamp(secs.saturating_mul(1_000_000_000))
    }

    /// Nanoseconds since the epoch.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// This timestamp moved `d` later, saturating at the end of time.
    pub fn saturating_add(self, d: Duration) -> Timestamp {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Timestamp(self.0.saturating_add(nanos))
    }

    /// How long after `earlier` this timestamp is (zero if it is not later).
    pub fn saturating_duration_since(self, earlier: Timestamp) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:09}",
            self.0 / 1_000_000_000,
            self.0 % 1_000_000_000
        )
    }
}

/// The source of time for every TTL decision.
///
/// The registry never reads the system time directly: it asks its clock, so tests
/// drive expiry with a [`ManualClock`] and never sleep.
pub trait Clock: Send + Sync + fmt::Debug + std::panic::RefUnwindSafe {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The wall clock: nanoseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Timestamp(u64::try_from(since.as_nanos()).unwrap_or(u64::MAX))
    }
}

/// A clock that moves only when told to. Clones share the same time.
///
/// # Example
///
/// ```
/// use routeyard::{Clock, ManualClock, Timestamp};
/// use std::time::Duration;
///
/// let clock = ManualClock::new(Timestamp::from_secs(100));
/// clock.advance(Duration::from_secs(5));
/// assert_eq!(clock.now(), Timestamp::from_secs(105));
/// ```
#[derive(Clone, Debug, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A manual clock showing `start`.
    pub fn new(start: Timestamp) -> ManualClock {
        ManualClock {
            nanos: Arc::new(AtomicU64::new(start.0)),
        }
    }

    /// Moves the clock `d` forward.
    pub fn advance(&self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        // fetch_update never fails with a closure that always returns Some.
        let _ = self
            .nanos
            .fetch_update(AtomicOrdering::AcqRel, AtomicOrdering::Acquire, |t| {
                Some(t.saturating_add(nanos))
            });
    }

    /// Sets the clock to `t` (it may move backwards).
    pub fn set(&self, t: Timestamp) {
        self.nanos.store(t.0, AtomicOrdering::Release);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.nanos.load(AtomicOrdering::Acquire))
    }
}

/// One scheduled expiry. Entries are never removed when a lease is renewed: the
/// renewal pushes a new entry, and a popped entry whose time no longer equals the
/// lease's current expiry is stale and skipped.
struct Scheduled<K> {
    at: Timestamp,
    seq: u64,
    key: K,
}

impl<K> PartialEq for Scheduled<K> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<K> Eq for Scheduled<K> {}
impl<K> PartialOrd for Scheduled<K> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<K> Ord for Scheduled<K> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// A min-queue of expiry times with lazy invalidation.
///
/// `push` is O(log n); stale entries are dropped when popped, and the queue is
/// rebuilt from the live leases when stale entries outnumber live ones, so its size
/// stays within twice the number of live leases.
pub(crate) struct LeaseQueue<K> {
    heap: BinaryHeap<Reverse<Scheduled<K>>>,
    seq: u64,
}

impl<K> LeaseQueue<K> {
    pub(crate) fn new() -> Self {
        LeaseQueue {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }

    pub(crate) fn push(&mut self, at: Timestamp, key: K) {
        self.seq += 1;
        self.heap.push(Reverse(Scheduled {
            at,
            seq: self.seq,
            key,
        }));
    }

    /// Pops the earliest entry if it is due at `now` (its time is `<= now`).
    pub(crate) fn pop_due(&mut self, now: Timestamp) -> Option<(Timestamp, K)> {
        if self.heap.peek()?.0.at > now {
            return None;
        }
        self.heap.pop().map(|Reverse(s)| (s.at, s.key))
    }

    /// The number of entries, stale ones included.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    /// Replaces the content with exactly `live` (used to drop stale entries).
    pub(crate) fn rebuild(&mut self, live: impl IntoIterator<Item = (Timestamp, K)>) {
        let mut entries = Vec::with_capacity(self.heap.len() / 2);
        for (at, key) in live {
            self.seq += 1;
            entries.push(Reverse(Scheduled {
                at,
                seq: self.seq,
                key,
            }));
        }
        self.heap = BinaryHeap::from(entries);
    }

    /// Whether enough entries are stale that a rebuild pays for itself.
    pub(crate) fn wants_rebuild(&self, live: usize) -> bool {
        self.heap.len() > 1024 && self.heap.len() > live.saturating_mul(2)
    }
}

impl<K> fmt::Debug for LeaseQueue<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeaseQueue")
            .field("len", &self.heap.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_clones_share_time() {
        let a = ManualClock::new(Timestamp::from_secs(1));
        let b = a.clone();
        a.advance(Duration::from_millis(1500));
        assert_eq!(b.now(), Timestamp::from_nanos(2_500_000_000));
        b.set(Timestamp::ZERO);
        assert_eq!(a.now(), Timestamp::ZERO);
    }

    #[test]
    fn queue_pops_in_time_order_and_only_when_due() {
        let mut q = LeaseQueue::new();
        q.push(Timestamp::from_secs(5), "b");
        q.push(Timestamp::from_secs(3), "a");
        q.push(Timestamp::from_secs(5), "c");
        assert_eq!(q.pop_due(Timestamp::from_secs(2)), None);
        assert_eq!(
            q.pop_due(Timestamp::from_secs(3)),
            Some((Timestamp::from_secs(3), "a"))
        );
        assert_eq!(q.pop_due(Timestamp::from_secs(4)), None);
        // Equal times come out in push order.
        assert_eq!(
            q.pop_due(Timestamp::from_secs(9)),
            Some((Timestamp::from_secs(5), "b"))
        );
        assert_eq!(
            q.pop_due(Timestamp::from_secs(9)),
            Some((Timestamp::from_secs(5), "c"))
        );
        assert_eq!(q.pop_due(Timestamp::from_secs(9)), None);
    }

    #[test]
    fn rebuild_keeps_only_live_entries() {
        let mut q = LeaseQueue::new();
        for i in 0..2000u64 {
            q.push(Timestamp::from_secs(i), i);
        }
        assert!(q.wants_rebuild(10));
        assert!(!q.wants_rebuild(1500));
        q.rebuild((0..10u64).map(|i| (Timestamp::from_secs(100 + i), i)));
        assert_eq!(q.len(), 10);
        assert_eq!(
            q.pop_due(Timestamp::from_secs(100)),
            Some((Timestamp::from_secs(100), 0))
        );
    }

    #[test]
    fn timestamp_arithmetic_saturates() {
        let t = Timestamp::from_nanos(u64::MAX - 1);
        assert_eq!(
            t.saturating_add(Duration::from_secs(1)),
            Timestamp::from_nanos(u64::MAX)
        );
        assert_eq!(
            Timestamp::from_secs(1).saturating_duration_since(Timestamp::from_secs(3)),
            Duration::ZERO
        );
        assert_eq!(
            Timestamp::from_nanos(1_500_000_000).to_string(),
            "1.500000000"
        );
    }
}
