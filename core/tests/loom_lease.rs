//! Model check, with loom, of the protocol by which a CF route's expiry reaches
//! lock-free matchers.
//!
//! A stored CF route and the matcher's index share one expiry cell (an atomic
//! count of nanoseconds). Under the registry's write lock, a commit stores a
//! renewal's new time into the cell (release), then publishes the new index
//! (an atomic pointer swap) and the new revision (release). A matcher loads the
//! published index, then the cell (acquire), and serves the backend while the
//! cell is later than now. A route that lapsed and is registered again gets a
//! new cell in the next index; the old cell is never written again.
//!
//! The model below performs exactly those steps on the registry's own cell type
//! (`LeaseCell`, compiled from `core/src/sync.rs` with loom's atomics) and a
//! published index and revision counter as the registry keeps them, so that every
//! interleaving and every value the memory model allows is explored:
//!
//! - a matcher that sees the index of revision `r` reads an expiry written at `r`
//!   or later, never an older one (a renewal may show one publication early,
//!   since the cell is stored before the swap, but never late);
//! - a matcher's successive reads never go back to an older expiry;
//! - a matcher that sees the revision counter at `r` then sees an index of `r`
//!   or later;
//! - a re-registered route is live exactly in the indexes from its revision on.
//!
//! What carries these guarantees is the order "store the cell, then swap the
//! index": a matcher that loads an index published after the store is ordered
//! after it by the swap, whatever the cell's own orderings (the model passes
//! with relaxed cell accesses too, and fails as soon as the store follows the
//! swap). A matcher still holding the previous index may read the cell either
//! way, which is why a renewal can show one publication early.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p routeyard --release --test
//! loom_lease` (or `make test-loom`).

#![cfg(loom)]

// The subscriber backlog in the same file is checked by `loom_backlog`.
#[allow(dead_code)]
#[path = "../src/sync.rs"]
mod sync;

use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};

use loom::sync::atomic::{AtomicU64, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;
use sync::LeaseCell;

/// The expiry a commit leaves in the cell, by revision: created at 1, renewed
/// at 2 (later), renewed at 3 with a shorter TTL (earlier than 2's, later than
/// 1's).
const AT_1: u64 = 100;
const AT_2: u64 = 300;
const AT_3: u64 = 200;

/// The revision that wrote an expiry value (the values are distinct).
fn written_at(value: u64) -> u64 {
    match value {
        AT_1 => 1,
        AT_2 => 2,
        AT_3 => 3,
        other => panic!("the cell holds a value nobody wrote: {other}"),
    }
}

/// A published index: its revision and the backend's expiry cell.
struct Index {
    revision: u64,
    cell: Arc<LeaseCell>,
}

/// What readers share with the writer: the published index (an atomic pointer
/// in the registry; a pointer behind loom's mutex gives the same
/// release/acquire edge) and the revision counter.
struct Published {
    index: Mutex<Arc<Index>>,
    revision: AtomicU64,
}

impl Published {
    fn load(&self) -> Arc<Index> {
        self.index.lock().unwrap().clone()
    }

    /// The commit's tail: swap in the index, then store the revision.
    fn publish(&self, index: Index) {
        let revision = index.revision;
        *self.index.lock().unwrap() = Arc::new(index);
        self.revision.store(revision, Ordering::Release);
    }
}

#[test]
fn renewals_are_never_seen_late_nor_undone() {
    static RUNS: StdAtomicUsize = StdAtomicUsize::new(0);
    loom::model(|| {
        RUNS.fetch_add(1, StdOrdering::Relaxed);
        let cell = Arc::new(LeaseCell::new(AT_1));
        let published = Arc::new(Published {
            index: Mutex::new(Arc::new(Index {
                revision: 1,
                cell: cell.clone(),
            })),
            revision: AtomicU64::new(1),
        });
        let reader = {
            let published = published.clone();
            thread::spawn(move || {
                let seen_revision = published.revision.load(Ordering::Acquire);
                let index = published.load();
                assert!(
                    index.revision >= seen_revision,
                    "an index older than the revision already seen"
                );
                let first = written_at(index.cell.get());
                assert!(
                    first >= index.revision,
                    "the index of revision {} showed the expiry of revision {first}",
                    index.revision
                );
                let again = published.load();
                let second = written_at(again.cell.get());
                assert!(
                    second >= first,
                    "the expiry went back from {first} to {second}"
                );
                assert!(second >= again.revision);
            })
        };
        // Two commits under the (single) writer: renew, then renew shorter.
        for (revision, at) in [(2, AT_2), (3, AT_3)] {
            cell.set(at);
            published.publish(Index {
                revision,
                cell: cell.clone(),
            });
        }
        reader.join().unwrap();
    });
    let runs = RUNS.load(StdOrdering::Relaxed);
    println!("{runs} interleavings");
    assert!(runs > 1);
}

#[test]
fn a_route_registered_again_is_live_exactly_from_its_revision() {
    static RUNS: StdAtomicUsize = StdAtomicUsize::new(0);
    // The route lapsed at 100; it is now 150; the new registration runs to 250.
    const NOW: u64 = 150;
    loom::model(|| {
        RUNS.fetch_add(1, StdOrdering::Relaxed);
        let old = Arc::new(LeaseCell::new(100));
        let published = Arc::new(Published {
            index: Mutex::new(Arc::new(Index {
                revision: 1,
                cell: old.clone(),
            })),
            revision: AtomicU64::new(1),
        });
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let published = published.clone();
                thread::spawn(move || {
                    let index = published.load();
                    let live = index.cell.get() > NOW;
                    assert_eq!(
                        live,
                        index.revision >= 3,
                        "liveness disagrees with the index of revision {}",
                        index.revision
                    );
                })
            })
            .collect();
        // Revision 2: the expiry (the old backend stays in the index until
        // compaction; its cell is not written). Revision 3: a new cell.
        published.publish(Index {
            revision: 2,
            cell: old.clone(),
        });
        let new = Arc::new(LeaseCell::new(250));
        published.publish(Index {
            revision: 3,
            cell: new,
        });
        for r in readers {
            r.join().unwrap();
        }
        assert_eq!(old.get(), 100);
    });
    let runs = RUNS.load(StdOrdering::Relaxed);
    println!("{runs} interleavings");
    assert!(runs > 1);
}
