//! Helpers shared by the concurrency and stress tests: a seeded generator,
//! threads joined with a deadline, a subscriber that checks its stream as it
//! reads, and a clock that follows the writers' progress.
//!
//! Every wait here is bounded: a deadlock or a lost wake-up fails the test
//! instead of hanging it.

// Each test crate that includes this module uses a different part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use routeyard::{Event, ManualClock, RecvError, Subscription, Timestamp};

/// Where the manual clocks of these tests start.
pub const START: Timestamp = Timestamp::from_secs(1_000_000);
/// How long any one wait may take before the test declares a deadlock.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// What a writer predicts for one of its CF entries (an HTTP route or a TCP
/// mapping): modification-tag index, TTL, and (HTTP) log guid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CfExpected {
    pub index: u32,
    pub ttl: i64,
    pub log_guid: String,
}

/// Records an upsert of `key` in a writer's model: a new entry starts at index 0,
/// an existing one counts up, and an empty log guid keeps the one it had.
pub fn cf_upsert<K: Ord>(model: &mut BTreeMap<K, CfExpected>, key: K, ttl: i64, log_guid: &str) {
    match model.get_mut(&key) {
        Some(e) => {
            e.index += 1;
            e.ttl = ttl;
            if !log_guid.is_empty() {
                e.log_guid = log_guid.to_string();
            }
        }
        None => {
            model.insert(
                key,
                CfExpected {
                    index: 0,
                    ttl,
                    log_guid: log_guid.to_string(),
                },
            );
        }
    }
}

/// SplitMix64: a small seeded generator, so each writer's sequence is reproducible.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Runs `f` on a new thread and returns a receiver for its result, so that the
/// caller can wait for it with a timeout.
pub fn spawn<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> mpsc::Receiver<thread::Result<T>> {
    let (tx, rx) = mpsc::channel();
    thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = tx.send(result);
        })
        .expect("spawn a test thread");
    rx
}

/// Waits for a thread started by [`spawn`]; fails on timeout or panic.
pub fn join<T>(rx: &mpsc::Receiver<thread::Result<T>>, deadline: Instant, what: &str) -> T {
    let left = deadline.saturating_duration_since(Instant::now());
    match rx.recv_timeout(left) {
        Ok(Ok(value)) => value,
        Ok(Err(panic)) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{what} panicked: {message}")
        }
        Err(_) => panic!("{what} did not finish in time: deadlock or livelock"),
    }
}

/// Joins every thread of `threads` with [`join`], in order; they are named
/// `{what} {index}` in failures.
pub fn join_all<T>(
    threads: &[mpsc::Receiver<thread::Result<T>>],
    deadline: Instant,
    what: &str,
) -> Vec<T> {
    threads
        .iter()
        .enumerate()
        .map(|(i, rx)| join(rx, deadline, &format!("{what} {i}")))
        .collect()
}

/// One read of a subscription followed until revision `target` (published once
/// the writers are done): `None` once `last`, the revision read so far, reached
/// it; otherwise what the subscription gave within 20 ms, an event checked to
/// follow `last`. Fails past `deadline`.
pub fn next_event(
    sub: &mut Subscription,
    last: u64,
    target: &AtomicU64,
    deadline: Instant,
) -> Option<Result<Event, RecvError>> {
    let goal = target.load(Ordering::Acquire);
    if goal != 0 && last == goal {
        return None;
    }
    assert!(
        Instant::now() < deadline,
        "subscriber stuck at revision {last} (goal {goal})"
    );
    let read = sub.recv_timeout(Duration::from_millis(20));
    if let Ok(e) = &read {
        assert_eq!(e.revision, last + 1, "gap or repeat in the event stream");
    }
    Some(read)
}

/// Receives until the event of `target` arrives (see [`next_event`]), starting
/// right after `from`.
pub fn subscriber(
    mut sub: Subscription,
    from: u64,
    target: &AtomicU64,
    deadline: Instant,
) -> Vec<Event> {
    let mut events: Vec<Event> = Vec::new();
    loop {
        let last = events.last().map_or(from, |e| e.revision);
        match next_event(&mut sub, last, target, deadline) {
            None => return events,
            Some(Ok(e)) => events.push(e),
            Some(Err(RecvError::Timeout)) => {}
            Some(Err(e)) => panic!("subscription failed after revision {last}: {e}"),
        }
    }
}

/// Moves `clock` forward by `step` for every `ops_per_step` operations counted
/// in `ops_done`, never more than `cap` in all, until `stop`; returns how far it
/// moved.
pub fn drive_clock(
    clock: &ManualClock,
    ops_done: &AtomicU64,
    stop: &AtomicBool,
    step: Duration,
    ops_per_step: u64,
    cap: Duration,
) -> Duration {
    let mut moved = Duration::ZERO;
    while !stop.load(Ordering::Acquire) {
        let due = step * (ops_done.load(Ordering::Relaxed) / ops_per_step) as u32;
        if moved < due.min(cap) {
            clock.advance(step);
            moved += step;
        } else {
            thread::yield_now();
        }
    }
    moved
}
