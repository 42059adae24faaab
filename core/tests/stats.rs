//! Counters and windowed rates under a manual clock, and gobetween's report shape.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use routeyard::balance::{Backend, BackendState, PickInput, Pool, PoolConfig};
use routeyard::stats::{BackendStats, ServerStats, SAMPLE_INTERVAL};
use routeyard::{Clock, ManualClock, Timestamp};

#[test]
fn rates_are_the_last_windows_deltas_per_second() {
    let clock = ManualClock::new(Timestamp::from_secs(1_000));
    let s = BackendStats::new();
    s.add_rx(10_000);
    // The first sample only opens a window.
    s.sample(clock.now());
    assert_eq!((s.rx_second(), s.tx_second()), (0, 0));

    s.add_rx(5_001);
    s.add_tx(300);
    clock.advance(SAMPLE_INTERVAL);
    s.sample(clock.now());
    // gobetween's integer division by its 2 s period.
    assert_eq!((s.rx_second(), s.tx_second()), (2_500, 150));
    assert_eq!((s.rx(), s.tx()), (15_001, 300));

    // A window without traffic reads 0.
    clock.advance(SAMPLE_INTERVAL);
    s.sample(clock.now());
    assert_eq!((s.rx_second(), s.tx_second()), (0, 0));

    // Windows of another length divide by their own length.
    s.add_tx(9_000);
    clock.advance(Duration::from_millis(3_000));
    s.sample(clock.now());
    assert_eq!(s.tx_second(), 3_000);
    s.add_tx(1_000);
    clock.advance(Duration::from_millis(250));
    s.sample(clock.now());
    assert_eq!(s.tx_second(), 4_000);
}

#[test]
fn a_clock_that_does_not_advance_changes_nothing() {
    let clock = ManualClock::new(Timestamp::from_secs(50));
    let s = BackendStats::new();
    s.sample(clock.now());
    s.add_rx(4_000);
    clock.advance(Duration::from_secs(2));
    s.sample(clock.now());
    assert_eq!(s.rx_second(), 2_000);

    s.add_rx(1_000_000);
    s.sample(clock.now()); // same instant
    assert_eq!(s.rx_second(), 2_000);
    clock.set(Timestamp::from_secs(40)); // backwards
    s.sample(clock.now());
    assert_eq!(s.rx_second(), 2_000);

    // The bytes are not lost: the next real window counts them.
    clock.set(Timestamp::from_secs(54));
    s.sample(clock.now());
    assert_eq!(s.rx_second(), 500_000);
}

#[test]
fn a_clock_at_its_epoch_still_opens_a_window() {
    let clock = ManualClock::new(Timestamp::ZERO);
    let s = BackendStats::new();
    s.sample(clock.now());
    s.add_rx(1_000);
    clock.advance(Duration::from_secs(1));
    s.sample(clock.now());
    // Off by at most the nanosecond the epoch is moved by.
    assert!((999..=1_000).contains(&s.rx_second()), "{}", s.rx_second());
}

#[test]
fn connection_counters_follow_the_lifecycle() {
    let pool = Pool::try_new(
        vec![Backend::new("10.0.0.1", 80).with_max_connections(2)],
        PoolConfig::new(),
    )
    .unwrap();
    let a = pool.connect(&PickInput::new()).unwrap();
    a.established();
    a.add_rx(100);
    a.add_tx(40);
    let b = pool.connect(&PickInput::new()).unwrap();
    assert!(pool.connect(&PickInput::new()).is_none());
    b.refused();
    let s = pool.backends()[0].stats();
    assert_eq!(
        (
            s.total_connections(),
            s.active_connections(),
            s.refused_connections()
        ),
        (1, 1, 1)
    );
    drop(a);
    assert_eq!(s.active_connections(), 0);
    assert_eq!((s.rx(), s.tx()), (100, 40));

    s.connection_opened();
    s.connection_refused();
    s.connection_closed();
    assert_eq!(
        (
            s.total_connections(),
            s.active_connections(),
            s.refused_connections()
        ),
        (2, 0, 2)
    );
}

#[test]
fn concurrent_updates_are_all_counted() {
    let s = Arc::new(BackendStats::new());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let s = Arc::clone(&s);
            thread::spawn(move || {
                for _ in 0..10_000 {
                    s.connection_opened();
                    s.add_rx(3);
                    s.add_tx(5);
                    s.connection_closed();
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(s.total_connections(), 40_000);
    assert_eq!(s.active_connections(), 0);
    assert_eq!((s.rx(), s.tx()), (120_000, 200_000));
}

#[test]
fn the_server_report_has_gobetweens_shape_and_sums() {
    let clock = ManualClock::new(Timestamp::from_secs(7));
    let pool = Pool::try_new(
        vec![
            Backend::new("10.0.0.2", 9000).with_weight(3).with_tier(2),
            Backend::new("10.0.0.1", 9000).with_state(BackendState::Down),
            Backend::new("10.0.0.3", 9000).with_discovered(false),
        ],
        PoolConfig::new(),
    )
    .unwrap();
    pool.sample(clock.now());
    let bs = pool.backends();
    bs[1].stats().connection_opened();
    bs[1].stats().add_rx(8_000);
    bs[2].stats().add_tx(2_000);
    bs[0].stats().connection_refused();
    clock.advance(SAMPLE_INTERVAL);
    pool.sample(clock.now());

    let report = pool.stats();
    assert_eq!(report.active_connections, 1);
    assert_eq!((report.rx_total, report.tx_total), (8_000, 2_000));
    assert_eq!((report.rx_second, report.tx_second), (4_000, 1_000));

    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "active_connections": 1,
            "rx_total": 8000,
            "tx_total": 2000,
            "rx_second": 4000,
            "tx_second": 1000,
            "backends": [
                {"host": "10.0.0.1", "port": "9000", "priority": 0, "weight": 1, "stats": {
                    "live": false, "discovered": true, "total_connections": 0,
                    "active_connections": 0, "refused_connections": 1,
                    "rx": 0, "tx": 0, "rx_second": 0, "tx_second": 0}},
                {"host": "10.0.0.2", "port": "9000", "priority": 2, "weight": 3, "stats": {
                    "live": true, "discovered": true, "total_connections": 1,
                    "active_connections": 1, "refused_connections": 0,
                    "rx": 8000, "tx": 0, "rx_second": 4000, "tx_second": 0}},
                {"host": "10.0.0.3", "port": "9000", "priority": 0, "weight": 1, "stats": {
                    "live": true, "discovered": false, "total_connections": 0,
                    "active_connections": 0, "refused_connections": 0,
                    "rx": 0, "tx": 2000, "rx_second": 0, "tx_second": 1000}}
            ]
        })
    );
    let back: ServerStats = serde_json::from_value(json).unwrap();
    assert_eq!(back, report);
}

#[test]
fn rates_survive_a_rebuild() {
    let clock = ManualClock::new(Timestamp::from_secs(1));
    let p0 = Pool::try_new(vec![Backend::new("10.0.0.1", 80)], PoolConfig::new()).unwrap();
    p0.sample(clock.now());
    p0.backends()[0].stats().add_rx(6_000);
    let p1 = p0
        .try_rebuild(vec![
            Backend::new("10.0.0.1", 80).with_weight(4),
            Backend::new("10.0.0.9", 80),
        ])
        .unwrap();
    clock.advance(Duration::from_secs(3));
    p1.sample(clock.now());
    let s = p1.get("10.0.0.1", 80).unwrap().stats();
    assert_eq!(s.rx_second(), 2_000);
    // The newcomer's first sample only opened its window.
    assert_eq!(p1.get("10.0.0.9", 80).unwrap().stats().rx_second(), 0);
}
