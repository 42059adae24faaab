//! The crate's own lock-free protocols, written against atomics that the
//! model-checking build replaces with loom's (`RUSTFLAGS="--cfg loom"`), so that
//! the tests in `core/tests/loom_*.rs` check the code the registry runs.
//!
//! This file depends on nothing else in the crate: those tests compile it as a
//! module of their own.

#[cfg(loom)]
use loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
#[cfg(not(loom))]
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// The expiry of a CF route's registration, in nanoseconds, shared by the
/// registry's entry and the matcher's index so that a renewal does not touch the
/// index. Under the registry's write lock a commit stores a renewal into the cell,
/// then publishes the index; lock-free matchers load the published index, then
/// the cell. Storing before publishing is what orders a matcher that sees the new
/// index after the store; a matcher still on the previous index may see the
/// renewal one publication early, never late.
pub(crate) struct LeaseCell {
    nanos: AtomicU64,
}

impl LeaseCell {
    /// A cell holding `nanos`.
    pub(crate) fn new(nanos: u64) -> LeaseCell {
        LeaseCell {
            nanos: AtomicU64::new(nanos),
        }
    }

    /// Writer side, under the registry's lock and before the index is published.
    pub(crate) fn set(&self, nanos: u64) {
        self.nanos.store(nanos, Ordering::Release);
    }

    /// Reader side: the expiry the cell holds.
    pub(crate) fn get(&self) -> u64 {
        self.nanos.load(Ordering::Acquire)
    }
}

impl std::fmt::Debug for LeaseCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("LeaseCell").field(&self.get()).finish()
    }
}

/// The events a writer has sent to one subscriber and the subscriber has not yet
/// taken: the writer counts them in before sending, the subscriber counts each
/// one out as it takes it. The writer reads it, without waiting, to decide how
/// much of a commit fits in the subscriber's buffer and whether it lagged.
///
/// The subscriber only ever lowers the count, so a value the writer reads is an
/// upper bound of the true one: the buffer can never hold more than its
/// capacity, at worst a lag is declared while the subscriber was freeing room.
pub(crate) struct Backlog {
    events: AtomicUsize,
}

impl Backlog {
    /// An empty backlog.
    pub(crate) fn new() -> Backlog {
        Backlog {
            events: AtomicUsize::new(0),
        }
    }

    /// Writer side: how many of `len` events fit in a buffer of `capacity`
    /// events; those are counted in, and must then be sent. Fewer than `len`
    /// means the subscriber lagged.
    pub(crate) fn offer(&self, len: usize, capacity: usize) -> usize {
        let room = capacity.saturating_sub(self.events.load(Ordering::Acquire));
        let fit = len.min(room);
        if fit > 0 {
            self.events.fetch_add(fit, Ordering::AcqRel);
        }
        fit
    }

    /// Subscriber side: one event that was counted in has been taken.
    pub(crate) fn take(&self) {
        self.events.fetch_sub(1, Ordering::AcqRel);
    }

    /// Events sent and not yet taken.
    pub(crate) fn len(&self) -> usize {
        self.events.load(Ordering::Acquire)
    }
}
