//! Model check of a subscriber's buffer accounting ([`Backlog`] in
//! `src/sync.rs`) with loom: a writer offering commits while the subscriber takes
//! events, in every interleaving and under the memory model's weaker orders.
//!
//! The message transport (a channel in the registry) is a queue behind loom's
//! mutex here, which gives the same guarantee: what was counted in before a send
//! is visible to whoever receives it. The writer side follows `EventLog::publish`,
//! the subscriber side `Subscription::next_buffered` and `take`.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p routeyard --release --test
//! loom_backlog` (or `make test-loom`).

#![cfg(loom)]

// The lease cell in the same file is checked by `loom_lease`.
#[allow(dead_code)]
#[path = "../src/sync.rs"]
mod sync;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};

use loom::sync::{Arc, Mutex};
use loom::thread;

use sync::Backlog;

/// What travels to the subscriber: the first `len` revisions of a commit, or
/// the lag notice.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Message {
    Batch(Vec<u64>, usize),
    Lagged { resume_from: u64 },
}

/// The writer's view of one subscriber.
struct Writer {
    queue: Arc<Mutex<VecDeque<Message>>>,
    backlog: Arc<Backlog>,
    capacity: usize,
    lagged: bool,
}

impl Writer {
    /// Offers one commit's events; returns whether the subscriber is still
    /// followed.
    fn publish(&mut self, batch: &[u64]) -> bool {
        if self.lagged {
            return false;
        }
        let fit = self.backlog.offer(batch.len(), self.capacity);
        assert!(fit <= batch.len());
        assert!(
            self.backlog.len() <= self.capacity,
            "the buffer holds more than its capacity"
        );
        let mut queue = self.queue.lock().unwrap();
        if fit > 0 {
            queue.push_back(Message::Batch(batch.to_vec(), fit));
        }
        if fit < batch.len() {
            queue.push_back(Message::Lagged {
                resume_from: batch[fit] - 1,
            });
            self.lagged = true;
        }
        !self.lagged
    }
}

/// The subscriber: what it received, and whether it was told it lagged.
struct Reader {
    queue: Arc<Mutex<VecDeque<Message>>>,
    backlog: Arc<Backlog>,
    capacity: usize,
    current: Option<(Vec<u64>, usize, usize)>,
    got: Vec<u64>,
    lagged: Option<u64>,
}

impl Reader {
    /// Takes at most one event (or the lag notice) without waiting; returns
    /// whether it took something.
    fn try_take(&mut self) -> bool {
        if let Some((batch, next, end)) = self.current.as_mut() {
            self.got.push(batch[*next]);
            *next += 1;
            if *next == *end {
                self.current = None;
            }
            self.backlog.take();
            let left = self.backlog.len();
            assert!(
                left <= self.capacity,
                "the count went below zero or above the capacity: {left}"
            );
            return true;
        }
        if self.lagged.is_some() {
            return false;
        }
        let message = self.queue.lock().unwrap().pop_front();
        match message {
            None => false,
            Some(Message::Batch(batch, len)) => {
                assert!(len > 0, "an empty batch was sent");
                self.current = Some((batch, 0, len));
                self.try_take()
            }
            Some(Message::Lagged { resume_from }) => {
                self.lagged = Some(resume_from);
                true
            }
        }
    }

    /// Takes everything left (the writer is done).
    fn drain(&mut self) {
        while self.try_take() {}
    }
}

/// Runs one writer offering `commits` against one subscriber that takes up to
/// `reads` times while the writer runs and the rest afterwards; checks that the
/// subscriber got a gapless prefix of the revisions, a lag notice exactly when
/// it got less than everything, resuming from its last revision, and that the
/// count is back to zero. Returns the number of interleavings explored.
fn check(commits: &'static [&'static [u64]], capacity: usize, reads: usize) -> usize {
    let runs = std::sync::Arc::new(StdAtomicUsize::new(0));
    let counter = runs.clone();
    loom::model(move || {
        counter.fetch_add(1, StdOrdering::Relaxed);
        let queue = Arc::new(Mutex::new(VecDeque::new()));
        let backlog = Arc::new(Backlog::new());
        let mut writer = Writer {
            queue: queue.clone(),
            backlog: backlog.clone(),
            capacity,
            lagged: false,
        };
        let mut reader = Reader {
            queue,
            backlog: backlog.clone(),
            capacity,
            current: None,
            got: Vec::new(),
            lagged: None,
        };
        let subscriber = thread::spawn(move || {
            for _ in 0..reads {
                reader.try_take();
            }
            reader
        });
        for batch in commits {
            if !writer.publish(batch) {
                break;
            }
        }
        let mut reader = subscriber.join().unwrap();
        reader.drain();

        let all: Vec<u64> = commits.iter().flat_map(|b| b.iter().copied()).collect();
        let expected: Vec<u64> = (1..=reader.got.len() as u64).collect();
        assert_eq!(reader.got, expected, "a gap or a repeat");
        match reader.lagged {
            None => assert_eq!(reader.got, all, "events lost without a lag notice"),
            Some(resume_from) => {
                assert!(reader.got.len() < all.len(), "a lag with nothing lost");
                assert_eq!(
                    resume_from,
                    reader.got.last().copied().unwrap_or(0),
                    "resume_from is not the last delivered revision"
                );
            }
        }
        assert_eq!(backlog.len(), 0, "events counted in and never taken");
    });
    runs.load(StdOrdering::Relaxed)
}

#[test]
fn a_buffer_with_room_delivers_everything() {
    let runs = check(&[&[1, 2], &[3], &[4, 5]], 5, 3);
    println!("{runs} interleavings");
    assert!(runs > 1);
}

#[test]
fn a_full_buffer_lags_exactly_after_what_it_delivered() {
    // Capacity 2 and commits of 2: whether the third commit fits depends on how
    // far the subscriber got, and the fourth on both.
    let runs = check(&[&[1, 2], &[3, 4], &[5], &[6]], 2, 4);
    println!("{runs} interleavings");
    assert!(runs > 1);
}

#[test]
fn a_commit_larger_than_the_buffer_is_cut_where_it_overflows() {
    let runs = check(&[&[1], &[2, 3, 4]], 2, 2);
    println!("{runs} interleavings");
    assert!(runs > 1);
}

/// The writer never reads a count lower than the true one: whatever the
/// subscriber frees may be seen late, never early.
#[test]
fn the_writer_never_overestimates_the_room() {
    let runs = std::sync::Arc::new(StdAtomicUsize::new(0));
    let counter = runs.clone();
    loom::model(move || {
        counter.fetch_add(1, StdOrdering::Relaxed);
        let backlog = Arc::new(Backlog::new());
        assert_eq!(backlog.offer(3, 3), 3);
        let taker = {
            let backlog = backlog.clone();
            thread::spawn(move || {
                backlog.take();
                backlog.take();
            })
        };
        // Whatever room the writer sees, the buffer stays within its capacity
        // once that room is used.
        let fit = backlog.offer(3, 3);
        assert!(fit <= 2);
        taker.join().unwrap();
        assert_eq!(backlog.len(), 1 + fit);
        for _ in 0..1 + fit {
            backlog.take();
        }
        assert_eq!(backlog.len(), 0);
    });
    let runs = runs.load(StdOrdering::Relaxed);
    println!("{runs} interleavings");
    assert!(runs > 1);
}
