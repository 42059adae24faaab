//! Time and leases: the injected clock and the expiry queue.

use std::collections::{BTreeMap, VecDeque};
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

/// Leases are grouped into buckets of this many nanoseconds (about 4 ms), so that
/// sorting the bucket that comes due stays short even when a million leases were
/// registered within a second.
const BUCKET_NANOS: u64 = 1 << 22;

/// One scheduled expiry: when, a sequence number that orders equal times by
/// scheduling order, and what.
type Scheduled<K> = (Timestamp, u64, K);

/// The expiry queue: leases grouped by the few milliseconds they lapse in.
///
/// Scheduling is O(1) (an append to its bucket). Leases nearly always arrive in
/// time order, so a bucket remembers whether its appends stayed ordered and is
/// sorted, once, only if they did not, when it comes due; it is then drained
/// from the front. Sweeping a million leases thus reads memory in order instead
/// of sifting a million-entry heap.
///
/// Entries are never removed when a lease is renewed: the renewal schedules a new
/// entry, and the caller skips a popped entry that is no longer current. When
/// stale entries outnumber live ones the queue is rebuilt from the live leases, so
/// it stays within twice their number.
pub(crate) struct LeaseQueue<K> {
    buckets: BTreeMap<u64, Bucket<K>>,
    len: usize,
    seq: u64,
}

struct Bucket<K> {
    items: VecDeque<Scheduled<K>>,
    sorted: bool,
}

impl<K> LeaseQueue<K> {
    pub(crate) fn new() -> Self {
        LeaseQueue {
            buckets: BTreeMap::new(),
            len: 0,
            seq: 0,
        }
    }

    pub(crate) fn push(&mut self, at: Timestamp, key: K) {
        self.seq += 1;
        self.len += 1;
        let bucket = self
            .buckets
            .entry(at.0 / BUCKET_NANOS)
            .or_insert_with(|| Bucket {
                items: VecDeque::new(),
                sorted: true,
            });
        if bucket.items.back().is_some_and(|last| last.0 > at) {
            bucket.sorted = false;
        }
        bucket.items.push_back((at, self.seq, key));
    }

    /// Pops the earliest entry if it is due at `now` (its time is `<= now`).
    /// Entries with equal times come out in scheduling order.
    pub(crate) fn pop_due(&mut self, now: Timestamp) -> Option<(Timestamp, K)> {
        loop {
            let mut first = self.buckets.first_entry()?;
            if *first.key() > now.0 / BUCKET_NANOS {
                return None;
            }
            let bucket = first.get_mut();
            if !bucket.sorted {
                bucket
                    .items
                    .make_contiguous()
                    .sort_unstable_by_key(|e| (e.0, e.1));
                bucket.sorted = true;
            }
            match bucket.items.front() {
                None => {
                    first.remove();
                }
                Some(&(at, _, _)) if at > now => return None,
                Some(_) => {
                    let (at, _, key) = bucket.items.pop_front()?;
                    self.len -= 1;
                    if bucket.items.is_empty() {
                        first.remove();
                    }
                    return Some((at, key));
                }
            }
        }
    }

    /// The number of entries, stale ones included.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Replaces the content with exactly `live` (used to drop stale entries).
    pub(crate) fn rebuild(&mut self, live: impl IntoIterator<Item = (Timestamp, K)>) {
        self.buckets.clear();
        self.len = 0;
        for (at, key) in live {
            self.push(at, key);
        }
    }

    /// Whether enough entries are stale that a rebuild pays for itself.
    pub(crate) fn wants_rebuild(&self, live: usize) -> bool {
        self.len > 1024 && self.len > live.saturating_mul(2)
    }
}

impl<K> fmt::Debug for LeaseQueue<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeaseQueue")
            .field("len", &self.len)
            .field("buckets", &self.buckets.len())
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
    fn pushes_into_a_bucket_being_drained_keep_order() {
        let mut q = LeaseQueue::new();
        let t = |ms: u64| Timestamp::from_nanos(5_000_000_000 + ms * 1_000_000);
        q.push(t(300), 3);
        q.push(t(100), 1);
        assert_eq!(q.pop_due(t(100)), Some((t(100), 1)));
        q.push(t(200), 2);
        q.push(t(50), 0);
        assert_eq!(q.pop_due(t(999)), Some((t(50), 0)));
        assert_eq!(q.pop_due(t(999)), Some((t(200), 2)));
        assert_eq!(q.pop_due(t(250)), None);
        assert_eq!(q.pop_due(t(999)), Some((t(300), 3)));
        assert_eq!(q.pop_due(Timestamp::from_secs(99)), None);
        assert_eq!(q.len(), 0);
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
