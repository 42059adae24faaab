//! Backend choice: statistical checks with seeded draws, tiers, caps, draining,
//! hashing, splits and their fallbacks.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use routeyard::balance::{
    Backend, BackendId, BackendState, Fallback, PickInput, Pool, PoolConfig, Split, SplitConfig,
    Strategy,
};
use routeyard::{Clock, ErrorKind, ManualClock, Timestamp};

const N: usize = 100_000;

fn addr(i: usize) -> String {
    format!("10.0.{}.{}", i / 250, i % 250 + 1)
}

fn pool(backends: Vec<Backend>, strategy: Strategy) -> Pool {
    Pool::try_new(backends, PoolConfig::new().strategy(strategy).seed(7)).unwrap()
}

fn pick_addr(pool: &Pool, input: &PickInput<'_>) -> String {
    pool.pick(input).unwrap().backend().address.clone()
}

/// How often each address is picked in `n` picks without input.
fn counts(pool: &Pool, n: usize) -> HashMap<String, usize> {
    let mut c = HashMap::new();
    for _ in 0..n {
        *c.entry(pick_addr(pool, &PickInput::new())).or_insert(0) += 1;
    }
    c
}

fn assert_share(counts: &HashMap<String, usize>, address: &str, share: f64, total: usize) {
    let got = *counts.get(address).unwrap_or(&0) as f64 / total as f64;
    assert!(
        (got - share).abs() <= 0.01,
        "{address}: share {got:.4}, expected {share} ± 0.01"
    );
}

fn versioned() -> Vec<Backend> {
    // Two instances of v1, three of v2: the split weighs versions, not instances.
    vec![
        Backend::new("10.1.0.1", 80).with_version("v1"),
        Backend::new("10.1.0.2", 80).with_version("v1"),
        Backend::new("10.2.0.1", 80).with_version("v2"),
        Backend::new("10.2.0.2", 80).with_version("v2"),
        Backend::new("10.2.0.3", 80).with_version("v2"),
    ]
}

fn version_of(pool: &Pool, input: &PickInput<'_>) -> Option<String> {
    pool.pick(input)
        .map(|b| b.backend().version.clone().unwrap())
}

// ---------------------------------------------------------------------------
// Splits

#[test]
fn split_80_20_is_exact_over_every_100_consecutive_picks() {
    for strategy in [
        Strategy::RoundRobin,
        Strategy::WeightedRandom,
        Strategy::LeastConnections,
    ] {
        let pool = Pool::try_new(
            versioned(),
            PoolConfig::new()
                .strategy(strategy)
                .seed(1)
                .split(SplitConfig::new(Split::new().with("v1", 80).with("v2", 20))),
        )
        .unwrap();
        assert!(pool.split_error().is_none());
        let picks: Vec<bool> = (0..N)
            .map(|_| version_of(&pool, &PickInput::new()).unwrap() == "v1")
            .collect();
        let v1 = picks.iter().filter(|&&p| p).count();
        assert!(
            (v1 as f64 / N as f64 - 0.8).abs() <= 0.01,
            "{strategy}: {v1}"
        );
        assert_eq!(v1, N * 80 / 100, "{strategy}");
        let mut window = picks[..100].iter().filter(|&&p| p).count();
        assert_eq!(window, 80);
        for i in 100..N {
            window += usize::from(picks[i]) - usize::from(picks[i - 100]);
            assert_eq!(window, 80, "{strategy}: window ending at {i}");
        }
    }
}

#[test]
fn split_weighs_versions_not_instances() {
    // CDAP's draw gives about 67/33 here (two v1 instances, one v2).
    let backends = vec![
        Backend::new("10.1.0.1", 80).with_version("v1"),
        Backend::new("10.1.0.2", 80).with_version("v1"),
        Backend::new("10.2.0.1", 80).with_version("v2"),
    ];
    let pool = Pool::try_new(
        backends,
        PoolConfig::new()
            .strategy(Strategy::WeightedRandom)
            .seed(3)
            .split(SplitConfig::new(Split::new().with("v1", 50).with("v2", 50))),
    )
    .unwrap();
    let c = counts(&pool, 10_000);
    assert_eq!(c["10.2.0.1"], 5_000);
    assert_eq!(c["10.1.0.1"] + c["10.1.0.2"], 5_000);
}

#[test]
fn split_stays_exact_with_concurrent_callers() {
    let pool = Arc::new(
        Pool::try_new(
            versioned(),
            PoolConfig::new().split(SplitConfig::new(Split::new().with("v1", 30).with("v2", 70))),
        )
        .unwrap(),
    );
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let pool = Arc::clone(&pool);
            thread::spawn(move || {
                (0..25_000)
                    .filter(|_| version_of(&pool, &PickInput::new()).unwrap() == "v1")
                    .count()
            })
        })
        .collect();
    let v1: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(v1, 30_000);
}

#[test]
fn a_version_with_a_zero_share_is_never_picked() {
    let mut backends = versioned();
    backends.push(Backend::new("10.3.0.1", 80).with_version("v3"));
    let pool = Pool::try_new(
        backends,
        PoolConfig::new().split(SplitConfig::new(
            Split::new().with("v1", 0).with("v2", 100).with("v3", 0),
        )),
    )
    .unwrap();
    for _ in 0..1_000 {
        assert_eq!(version_of(&pool, &PickInput::new()).unwrap(), "v2");
    }
}

#[test]
fn a_version_without_eligible_backends_yields_to_the_others() {
    let mut backends = versioned();
    for b in backends
        .iter_mut()
        .filter(|b| b.version.as_deref() == Some("v2"))
    {
        b.state = BackendState::Down;
    }
    let pool = Pool::try_new(
        backends,
        PoolConfig::new().split(SplitConfig::new(Split::new().with("v1", 20).with("v2", 80))),
    )
    .unwrap();
    for _ in 0..500 {
        assert_eq!(version_of(&pool, &PickInput::new()).unwrap(), "v1");
    }
}

#[test]
fn splits_work_among_many_versions() {
    // 200 labels; the split names two, and the first has no eligible backend.
    let backends: Vec<Backend> = (0..200)
        .map(|i| {
            let b = Backend::new(addr(i), 80).with_version(format!("v{i:03}"));
            if i == 130 {
                b.with_state(BackendState::Down)
            } else {
                b
            }
        })
        .collect();
    let pool = Pool::try_new(
        backends,
        PoolConfig::new().split(SplitConfig::new(
            Split::new().with("v130", 40).with("v199", 60),
        )),
    )
    .unwrap();
    assert!(pool.split_error().is_none());
    for _ in 0..300 {
        assert_eq!(version_of(&pool, &PickInput::new()).unwrap(), "v199");
    }
}

#[test]
fn sticky_split_keeps_a_key_on_its_version_and_honours_the_shares() {
    let pool = Pool::try_new(
        versioned(),
        PoolConfig::new()
            .strategy(Strategy::ConsistentHash)
            .split(SplitConfig::new(Split::new().with("v1", 80).with("v2", 20)).sticky(true)),
    )
    .unwrap();
    let mut v1 = 0;
    for k in 0..N {
        let key = format!("user-{k}");
        let input = PickInput::new().key(key.as_bytes());
        let first = pool.pick(&input).unwrap().label().to_string();
        for _ in 0..3 {
            assert_eq!(pool.pick(&input).unwrap().label(), first);
        }
        if first.starts_with("10.1.") {
            v1 += 1;
        }
    }
    let share = v1 as f64 / N as f64;
    assert!((share - 0.8).abs() <= 0.01, "sticky v1 share {share}");
}

#[test]
fn a_named_version_bypasses_the_split() {
    let pool = Pool::try_new(
        versioned(),
        PoolConfig::new().split(SplitConfig::new(Split::new().with("v1", 100).with("v2", 0))),
    )
    .unwrap();
    for _ in 0..100 {
        assert_eq!(
            version_of(&pool, &PickInput::new().version("v2")).unwrap(),
            "v2"
        );
    }
    assert!(pool.pick(&PickInput::new().version("v9")).is_none());
}

// ---------------------------------------------------------------------------
// Split validation and fallbacks

#[test]
fn split_validation_uses_cdap_messages_in_cdap_order() {
    let versions = ["v1", "v2"];
    let cases: Vec<(Split, &str)> = vec![
        (
            Split::new(),
            "Route config contains invalid format or empty content.",
        ),
        (
            Split::new().with("v1", 50).with("v3", 30).with("v4", 20),
            "The following versions of the application/service could not be found : [v3, v4]",
        ),
        (
            // CDAP itself accepts this one.
            Split::new().with("v1", 150).with("v2", -50),
            "Route Percentage for version v1 must be between 0 and 100, got 150.",
        ),
        (
            Split::new().with("v1", 100).with("v2", -0).with("x", 1),
            "The following versions of the application/service could not be found : [x]",
        ),
        (
            Split::new().with("v1", 60).with("v2", 30),
            "Route Percentage needs to add up to 100.",
        ),
        (
            Split::new().with("v1", 60).with("v2", 50),
            "Route Percentage needs to add up to 100.",
        ),
    ];
    for (split, message) in cases {
        let err = split.validate(versions).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert_eq!(err.message(), message);
    }
    Split::new()
        .with("v1", 100)
        .with("v2", 0)
        .validate(versions)
        .unwrap();
}

#[test]
fn split_round_trips_as_cdap_json() {
    let split: Split = serde_json::from_str(r#"{"v2": 20, "v1": 80}"#).unwrap();
    assert_eq!(split, Split::new().with("v1", 80).with("v2", 20));
    assert_eq!(
        serde_json::to_string(&split).unwrap(),
        r#"{"v1":80,"v2":20}"#
    );
    assert!(serde_json::from_str::<Split>(r#"{"v1": "80"}"#).is_err());
    assert!(serde_json::from_str::<Split>(r#"{"v1": 8.5}"#).is_err());
}

fn three_versions() -> Vec<Backend> {
    vec![
        Backend::new("10.1.0.1", 80).with_version("v1"),
        Backend::new("10.2.0.1", 80).with_version("v2"),
        Backend::new("10.3.0.1", 80).with_version("v3"),
        Backend::new("10.9.0.1", 80),
    ]
}

fn fallback_pool(backends: Vec<Backend>, split: Option<Split>, fallback: Fallback) -> Pool {
    Pool::try_new(
        backends,
        PoolConfig::new()
            .strategy(Strategy::WeightedRandom)
            .seed(11)
            .split(SplitConfig {
                split,
                fallback,
                sticky: false,
            }),
    )
    .unwrap()
}

#[test]
fn an_invalid_split_applies_the_fallback_and_says_why() {
    let bad = Some(Split::new().with("v1", 50).with("v2", 40));
    let pool = fallback_pool(three_versions(), bad.clone(), Fallback::Random);
    assert_eq!(
        pool.split_error().unwrap().message(),
        "Route Percentage needs to add up to 100."
    );
    // Random: every backend, whatever its version (or none).
    let c = counts(&pool, 8_000);
    assert_eq!(c.len(), 4);
    for n in c.values() {
        assert!((1_700..=2_300).contains(n), "{c:?}");
    }

    let pool = fallback_pool(three_versions(), bad.clone(), Fallback::Drop);
    assert!(pool.pick(&PickInput::new()).is_none());
    assert!(pool.connect(&PickInput::new()).is_none());

    let pool = fallback_pool(three_versions(), bad.clone(), Fallback::Smallest);
    assert_eq!(counts(&pool, 500)["10.1.0.1"], 500);

    let pool = fallback_pool(three_versions(), bad, Fallback::Largest);
    assert_eq!(counts(&pool, 500)["10.3.0.1"], 500);
}

#[test]
fn a_missing_split_applies_the_fallback() {
    let pool = fallback_pool(three_versions(), None, Fallback::Largest);
    assert!(pool.split_error().is_none());
    assert_eq!(counts(&pool, 100)["10.3.0.1"], 100);
    let pool = fallback_pool(three_versions(), None, Fallback::Drop);
    assert!(pool.pick(&PickInput::new()).is_none());
}

#[test]
fn smallest_and_largest_skip_versions_without_eligible_backends() {
    let mut backends = three_versions();
    backends[0].state = BackendState::Down; // v1
    backends[2].max_connections = Some(0); // v3 is full
    let pool = fallback_pool(backends.clone(), None, Fallback::Smallest);
    assert_eq!(counts(&pool, 100)["10.2.0.1"], 100);
    let pool = fallback_pool(backends, None, Fallback::Largest);
    assert_eq!(counts(&pool, 100)["10.2.0.1"], 100);
}

#[test]
fn a_split_naming_an_unknown_version_falls_back() {
    let pool = fallback_pool(
        three_versions(),
        Some(Split::new().with("v1", 50).with("v7", 50)),
        Fallback::Smallest,
    );
    assert_eq!(
        pool.split_error().unwrap().message(),
        "The following versions of the application/service could not be found : [v7]"
    );
    assert_eq!(counts(&pool, 50)["10.1.0.1"], 50);
}

// ---------------------------------------------------------------------------
// Weights

fn weighted_1_2_7() -> Vec<Backend> {
    vec![
        Backend::new("10.0.0.1", 80).with_weight(1),
        Backend::new("10.0.0.2", 80).with_weight(2),
        Backend::new("10.0.0.3", 80).with_weight(7),
    ]
}

#[test]
fn round_robin_honours_weights_exactly_in_every_period() {
    let pool = pool(weighted_1_2_7(), Strategy::RoundRobin);
    let picks: Vec<String> = (0..N)
        .map(|_| pick_addr(&pool, &PickInput::new()))
        .collect();
    for period in picks.chunks(10) {
        let n = |a: &str| period.iter().filter(|p| *p == a).count();
        assert_eq!((n("10.0.0.1"), n("10.0.0.2"), n("10.0.0.3")), (1, 2, 7));
    }
    // Smooth: the weight-1 and weight-2 backends never come twice in a row.
    assert!(picks.windows(2).all(|w| w[0] != w[1] || w[0] == "10.0.0.3"));
}

#[test]
fn weighted_random_and_weight_draw_in_proportion() {
    for strategy in [Strategy::WeightedRandom, Strategy::Weight] {
        let c = counts(&pool(weighted_1_2_7(), strategy), N);
        assert_share(&c, "10.0.0.1", 0.1, N);
        assert_share(&c, "10.0.0.2", 0.2, N);
        assert_share(&c, "10.0.0.3", 0.7, N);
    }
}

#[test]
fn seeded_pools_draw_the_same_sequence() {
    let a = pool(weighted_1_2_7(), Strategy::WeightedRandom);
    let b = pool(weighted_1_2_7(), Strategy::WeightedRandom);
    let sa: Vec<String> = (0..1_000)
        .map(|_| pick_addr(&a, &PickInput::new()))
        .collect();
    let sb: Vec<String> = (0..1_000)
        .map(|_| pick_addr(&b, &PickInput::new()))
        .collect();
    assert_eq!(sa, sb);
}

#[test]
fn zero_weights_take_nothing_unless_all_are_zero() {
    let backends = vec![
        Backend::new("10.0.0.1", 80).with_weight(0),
        Backend::new("10.0.0.2", 80).with_weight(5),
    ];
    for strategy in [
        Strategy::RoundRobin,
        Strategy::WeightedRandom,
        Strategy::ConsistentHash,
    ] {
        let p = pool(backends.clone(), strategy);
        for k in 0..500u32 {
            let key = k.to_le_bytes();
            assert_eq!(pick_addr(&p, &PickInput::new().key(&key)), "10.0.0.2");
        }
    }
    let zeros = vec![
        Backend::new("10.0.0.1", 80).with_weight(0),
        Backend::new("10.0.0.2", 80).with_weight(0),
    ];
    let c = counts(&pool(zeros, Strategy::WeightedRandom), 10_000);
    assert!((4_500..=5_500).contains(&c["10.0.0.1"]), "{c:?}");
}

// ---------------------------------------------------------------------------
// Tiers

fn tiered() -> Vec<Backend> {
    vec![
        Backend::new("10.0.0.1", 80).with_tier(1),
        Backend::new("10.0.0.2", 80).with_tier(1),
        Backend::new("10.0.0.3", 80).with_tier(2),
        Backend::new("10.0.0.4", 80).with_tier(5),
    ]
}

#[test]
fn every_strategy_fails_over_between_tiers_and_returns() {
    let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));
    for strategy in Strategy::ALL {
        let input = PickInput::new().key(b"k").client_ip(ip);
        let p0 = pool(tiered(), strategy);
        for _ in 0..50 {
            assert!(pick_addr(&p0, &input).as_str() <= "10.0.0.2", "{strategy}");
        }
        // Tier 1 goes down and undiscovered: tier 2 serves.
        let mut b = tiered();
        b[0].state = BackendState::Down;
        b[1].discovered = false;
        let p1 = p0.try_rebuild(b.clone()).unwrap();
        for _ in 0..50 {
            assert_eq!(pick_addr(&p1, &input), "10.0.0.3", "{strategy}");
        }
        // Tier 2 drains: tier 5 serves.
        b[2].state = BackendState::Draining;
        let p2 = p1.try_rebuild(b.clone()).unwrap();
        assert_eq!(pick_addr(&p2, &input), "10.0.0.4", "{strategy}");
        // Tier 1 returns: traffic returns.
        b[0].state = BackendState::Live;
        let p3 = p2.try_rebuild(b).unwrap();
        for _ in 0..50 {
            assert_eq!(pick_addr(&p3, &input), "10.0.0.1", "{strategy}");
        }
    }
}

#[test]
fn a_full_tier_yields_to_the_next_until_a_slot_frees() {
    let backends = vec![
        Backend::new("10.0.0.1", 80).with_max_connections(2),
        Backend::new("10.0.0.9", 80).with_tier(1),
    ];
    for strategy in Strategy::ALL {
        let p = pool(backends.clone(), strategy);
        let a = p.connect(&PickInput::new().key(b"x")).unwrap();
        let b = p.connect(&PickInput::new().key(b"x")).unwrap();
        assert_eq!(a.backend().address, "10.0.0.1");
        assert_eq!(b.backend().address, "10.0.0.1");
        let c = p.connect(&PickInput::new().key(b"x")).unwrap();
        assert_eq!(c.backend().address, "10.0.0.9", "{strategy}");
        drop(a);
        assert_eq!(pick_addr(&p, &PickInput::new().key(b"x")), "10.0.0.1");
    }
}

// ---------------------------------------------------------------------------
// Caps and draining

#[test]
fn caps_bound_active_connections_under_every_strategy() {
    let backends = vec![
        Backend::new("10.0.0.1", 80).with_max_connections(3),
        Backend::new("10.0.0.2", 80).with_max_connections(1),
        Backend::new("10.0.0.3", 80).with_max_connections(0),
    ];
    for strategy in Strategy::ALL {
        let p = pool(backends.clone(), strategy);
        let ip = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
        let held: Vec<_> = (0..4)
            .map(|_| p.connect(&PickInput::new().client_ip(ip)).unwrap())
            .collect();
        assert!(
            p.connect(&PickInput::new().client_ip(ip)).is_none(),
            "{strategy}"
        );
        assert!(
            p.pick(&PickInput::new().client_ip(ip)).is_none(),
            "{strategy}"
        );
        let active: Vec<u64> = p
            .backends()
            .iter()
            .map(|b| b.stats().active_connections())
            .collect();
        assert_eq!(active, [3, 1, 0], "{strategy}");
        drop(held);
        assert!(p.connect(&PickInput::new()).is_some());
    }
}

#[test]
fn caps_hold_against_concurrent_connects() {
    let p = Arc::new(pool(
        vec![
            Backend::new("10.0.0.1", 80).with_max_connections(5),
            Backend::new("10.0.0.2", 80).with_max_connections(5),
        ],
        Strategy::RoundRobin,
    ));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let p = Arc::clone(&p);
            thread::spawn(move || {
                let mut held = Vec::new();
                for _ in 0..100 {
                    if let Some(c) = p.connect(&PickInput::new()) {
                        held.push(c);
                    }
                }
                held
            })
        })
        .collect();
    let held: Vec<_> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert_eq!(held.len(), 10);
    for b in p.backends() {
        assert_eq!(b.stats().active_connections(), 5);
    }
}

#[test]
fn draining_takes_no_picks_and_is_reported_once_idle() {
    let backends = vec![Backend::new("10.0.0.1", 80), Backend::new("10.0.0.2", 80)];
    let p0 = pool(backends.clone(), Strategy::LeastConnections);
    // Least connections alternates: one of the first two connections is on .1.
    let first = p0.connect(&PickInput::new()).unwrap();
    let second = p0.connect(&PickInput::new()).unwrap();
    let (conn, other) = if first.backend().address == "10.0.0.1" {
        (first, second)
    } else {
        (second, first)
    };
    assert_eq!(conn.backend().address, "10.0.0.1");
    drop(other);
    let mut b = backends;
    b[0].state = BackendState::Draining;
    let p1 = p0.try_rebuild(b.clone()).unwrap();
    // The connection is still counted on the draining backend.
    assert_eq!(p1.backends()[0].stats().active_connections(), 1);
    for strategy in Strategy::ALL {
        let p = p1.reconfigure(PoolConfig::new().strategy(strategy));
        for k in 0..200u32 {
            let key = k.to_be_bytes();
            assert_eq!(pick_addr(&p, &PickInput::new().key(&key)), "10.0.0.2");
        }
    }
    assert!(p1.drained().is_empty());
    drop(conn);
    assert_eq!(
        p1.drained(),
        [BackendId {
            address: "10.0.0.1".into(),
            port: 80
        }]
    );
    // Undiscovered backends leave the same way.
    b[1].discovered = false;
    let p2 = p1.try_rebuild(b).unwrap();
    assert_eq!(p2.drained().len(), 2);
    assert!(p2.pick(&PickInput::new()).is_none());
}

#[test]
fn counters_survive_a_rebuild_by_identity() {
    let p0 = pool(
        vec![Backend::new("10.0.0.1", 80), Backend::new("10.0.0.2", 80)],
        Strategy::RoundRobin,
    );
    let held: Vec<_> = (0..4)
        .map(|_| p0.connect(&PickInput::new()).unwrap())
        .collect();
    held.iter().for_each(|c| c.established());
    let p1 = p0
        .try_rebuild(vec![
            Backend::new("10.0.0.1", 80).with_weight(9).with_tier(3),
            Backend::new("10.0.0.3", 80),
        ])
        .unwrap();
    let a = p1.get("10.0.0.1", 80).unwrap();
    assert!(Arc::ptr_eq(
        a.stats(),
        p0.get("10.0.0.1", 80).unwrap().stats()
    ));
    assert_eq!(a.stats().active_connections(), 2);
    assert_eq!(a.stats().total_connections(), 2);
    assert_eq!(
        p1.get("10.0.0.3", 80).unwrap().stats().total_connections(),
        0
    );
    drop(held);
    assert_eq!(a.stats().active_connections(), 0);
}

#[test]
fn round_robin_carries_on_across_rebuilds() {
    let backends: Vec<Backend> = (0..4).map(|i| Backend::new(addr(i), 80)).collect();
    let mut p = pool(backends.clone(), Strategy::RoundRobin);
    let mut seen = Vec::new();
    for _ in 0..8 {
        seen.push(pick_addr(&p, &PickInput::new()));
        // A rebuild with the same set (a renewed lease, say) must not restart
        // the cycle at the first backend.
        p = p.try_rebuild(backends.clone()).unwrap();
    }
    for i in 0..4 {
        assert_eq!(seen.iter().filter(|a| **a == addr(i)).count(), 2);
    }
}

// ---------------------------------------------------------------------------
// Least connections and least bandwidth

#[test]
fn least_connections_breaks_ties_fairly() {
    let backends: Vec<Backend> = (0..4).map(|i| Backend::new(addr(i), 80)).collect();
    let p = pool(backends, Strategy::LeastConnections);
    let c = counts(&p, N);
    for i in 0..4 {
        assert_share(&c, &addr(i), 0.25, N);
    }
    // With connections held, the least loaded wins.
    let held: Vec<_> = (0..7)
        .map(|_| p.connect(&PickInput::new()).unwrap())
        .collect();
    let active: Vec<u64> = p
        .backends()
        .iter()
        .map(|b| b.stats().active_connections())
        .collect();
    assert!(active.iter().max().unwrap() - active.iter().min().unwrap() <= 1);
    let least = p
        .backends()
        .iter()
        .filter(|b| b.stats().active_connections() == 1)
        .map(|b| b.backend().address.clone())
        .collect::<Vec<_>>();
    assert_eq!(least.len(), 1);
    assert_eq!(pick_addr(&p, &PickInput::new()), least[0]);
    drop(held);
}

#[test]
fn least_bandwidth_follows_the_sampled_rates() {
    let clock = ManualClock::new(Timestamp::from_secs(100));
    let backends: Vec<Backend> = (0..3).map(|i| Backend::new(addr(i), 80)).collect();
    let p = pool(backends, Strategy::LeastBandwidth);
    p.sample(clock.now());
    let bs = p.backends();
    bs[0].stats().add_rx(6_000);
    bs[1].stats().add_tx(2_000);
    bs[2].stats().add_rx(3_000);
    bs[2].stats().add_tx(1_000);
    clock.advance(Duration::from_secs(2));
    p.sample(clock.now());
    assert_eq!(bs[1].stats().bandwidth(), 1_000);
    for _ in 0..100 {
        assert_eq!(pick_addr(&p, &PickInput::new()), addr(1));
    }
    // Equal rates: fewer active connections first, then a fair draw.
    bs[0].stats().add_rx(2_000);
    bs[2].stats().add_rx(2_000);
    clock.advance(Duration::from_secs(2));
    p.sample(clock.now());
    assert_eq!(
        bs.iter().map(|b| b.stats().bandwidth()).collect::<Vec<_>>(),
        [1_000, 0, 1_000]
    );
    assert_eq!(pick_addr(&p, &PickInput::new()), addr(1));
    for b in bs {
        b.stats().add_tx(2_000);
    }
    clock.advance(Duration::from_secs(2));
    p.sample(clock.now());
    // All at 1000 B/s now; the one holding a connection is avoided.
    bs[0].stats().connection_opened();
    let c = counts(&p, 10_000);
    assert!(!c.contains_key(&addr(0)), "{c:?}");
    assert!((4_500..=5_500).contains(&c[&addr(1)]), "{c:?}");
}

// ---------------------------------------------------------------------------
// Hashing

fn keys(n: usize) -> Vec<String> {
    (0..n).map(|k| format!("session-{k:08}")).collect()
}

fn assignment(p: &Pool, keys: &[String]) -> Vec<String> {
    keys.iter()
        .map(|k| {
            p.pick(&PickInput::new().key(k.as_bytes()))
                .unwrap()
                .label()
                .to_string()
        })
        .collect()
}

#[test]
fn consistent_hash_moves_only_the_leaving_backends_keys() {
    let keys = keys(50_000);
    for (n, weights) in [(10usize, false), (10, true), (7, false), (50, true)] {
        let backends: Vec<Backend> = (0..n)
            .map(|i| {
                Backend::new(addr(i), 80).with_weight(if weights {
                    [1, 2, 3, 20][i % 4]
                } else {
                    1
                })
            })
            .collect();
        let before_pool = pool(backends.clone(), Strategy::ConsistentHash);
        let before = assignment(&before_pool, &keys);
        // Each key is stable.
        assert_eq!(before, assignment(&before_pool, &keys));
        for leaving in [0, n / 2, n - 1] {
            let mut rest = backends.clone();
            let gone = rest.remove(leaving);
            let gone = format!("{}:{}", gone.address, gone.port);
            let after = assignment(&before_pool.try_rebuild(rest).unwrap(), &keys);
            let moved = before.iter().zip(&after).filter(|(b, a)| b != a).count();
            for (b, a) in before.iter().zip(&after) {
                if b != a {
                    assert_eq!(*b, gone, "a key of a staying backend moved");
                }
            }
            let limit = 1.0 / n as f64 + 0.02;
            let share = moved as f64 / keys.len() as f64;
            if !weights {
                assert!(share <= limit, "n={n}: moved {share}, limit {limit}");
            }
            assert_eq!(moved, before.iter().filter(|b| **b == gone).count());
        }
    }
}

#[test]
fn consistent_hash_spreads_keys_by_weight() {
    let keys = keys(N);
    let even: Vec<Backend> = (0..5).map(|i| Backend::new(addr(i), 80)).collect();
    let a = assignment(&pool(even, Strategy::ConsistentHash), &keys);
    for i in 0..5 {
        let label = format!("{}:80", addr(i));
        let share = a.iter().filter(|x| **x == label).count() as f64 / N as f64;
        assert!((share - 0.2).abs() <= 0.01, "{label}: {share}");
    }
    let a = assignment(&pool(weighted_1_2_7(), Strategy::ConsistentHash), &keys);
    for (address, want) in [
        ("10.0.0.1:80", 0.1),
        ("10.0.0.2:80", 0.2),
        ("10.0.0.3:80", 0.7),
    ] {
        let share = a.iter().filter(|x| *x == address).count() as f64 / N as f64;
        assert!((share - want).abs() <= 0.01, "{address}: {share}");
    }
    // Weights above 8 take the other scoring; both scales compare.
    let heavy = vec![
        Backend::new("10.0.0.1", 80).with_weight(3),
        Backend::new("10.0.0.2", 80).with_weight(12),
        Backend::new("10.0.0.3", 80).with_weight(85),
    ];
    let a = assignment(&pool(heavy, Strategy::ConsistentHash), &keys);
    for (address, want) in [
        ("10.0.0.1:80", 0.03),
        ("10.0.0.2:80", 0.12),
        ("10.0.0.3:80", 0.85),
    ] {
        let share = a.iter().filter(|x| *x == address).count() as f64 / N as f64;
        assert!((share - want).abs() <= 0.01, "{address}: {share}");
    }
}

fn fnv1a32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

fn ips(n: u32) -> Vec<IpAddr> {
    (0..n)
        .map(|i| IpAddr::V4(Ipv4Addr::from(0xc000_0000 + i * 7919)))
        .collect()
}

fn by_ip(p: &Pool, ips: &[IpAddr]) -> Vec<String> {
    ips.iter()
        .map(|&ip| {
            p.pick(&PickInput::new().client_ip(ip))
                .unwrap()
                .label()
                .to_string()
        })
        .collect()
}

#[test]
fn iphash_is_fnv_modulo_and_remaps_when_the_set_changes() {
    let backends: Vec<Backend> = (0..8).map(|i| Backend::new(addr(i), 80)).collect();
    let p = pool(backends.clone(), Strategy::IpHash);
    let clients = ips(20_000);
    let before = by_ip(&p, &clients);
    // The exact rule: FNV-1a 32 of the octets, modulo the list in address:port order.
    let mut labels: Vec<String> = backends
        .iter()
        .map(|b| format!("{}:80", b.address))
        .collect();
    labels.sort();
    for (ip, got) in clients.iter().zip(&before).take(500) {
        let IpAddr::V4(v4) = ip else { unreachable!() };
        let want = &labels[(fnv1a32(&v4.octets()) % 8) as usize];
        assert_eq!(got, want);
    }
    let mut rest = backends;
    rest.remove(3);
    let after = by_ip(&p.try_rebuild(rest).unwrap(), &clients);
    let moved = before.iter().zip(&after).filter(|(b, a)| b != a).count();
    assert!(
        moved as f64 / clients.len() as f64 > 0.5,
        "iphash is not consistent: most clients move ({moved})"
    );
}

#[test]
fn iphash1_is_rendezvous_and_moves_only_the_leaving_backends_clients() {
    let backends: Vec<Backend> = (0..8).map(|i| Backend::new(addr(i), 80)).collect();
    let p = pool(backends.clone(), Strategy::IpHash1);
    let clients = ips(20_000);
    let before = by_ip(&p, &clients);
    let labels: Vec<String> = backends
        .iter()
        .map(|b| format!("{}:80", b.address))
        .collect();
    for (ip, got) in clients.iter().zip(&before).take(500) {
        let IpAddr::V4(v4) = ip else { unreachable!() };
        let want = labels
            .iter()
            .max_by_key(|l| fnv1a32(&[&v4.octets()[..], l.as_bytes()].concat()))
            .unwrap();
        assert_eq!(got, want);
    }
    let mut rest = backends;
    let gone = rest.remove(3);
    let gone = format!("{}:80", gone.address);
    let after = by_ip(&p.try_rebuild(rest).unwrap(), &clients);
    for (b, a) in before.iter().zip(&after) {
        if b != a {
            assert_eq!(*b, gone);
        }
    }
    let moved = before.iter().zip(&after).filter(|(b, a)| b != a).count();
    assert_eq!(moved, before.iter().filter(|b| **b == gone).count());
    assert!(moved as f64 / clients.len() as f64 <= 1.0 / 8.0 + 0.02);
}

#[test]
fn ip_strategies_use_the_key_without_an_ip() {
    let backends: Vec<Backend> = (0..5).map(|i| Backend::new(addr(i), 80)).collect();
    for strategy in [
        Strategy::IpHash,
        Strategy::IpHash1,
        Strategy::ConsistentHash,
    ] {
        let p = pool(backends.clone(), strategy);
        let first = pick_addr(&p, &PickInput::new().key(b"tenant-42"));
        for _ in 0..20 {
            assert_eq!(pick_addr(&p, &PickInput::new().key(b"tenant-42")), first);
        }
        // Without key and IP: a weighted draw over the tier.
        assert_eq!(counts(&p, 5_000).len(), 5);
    }
}

// ---------------------------------------------------------------------------
// Construction and wire shapes

#[test]
fn bad_backend_lists_are_rejected_with_a_reason() {
    let cases = [
        (
            vec![Backend::new("10.0.0.1", 80), Backend::new("10.0.0.1", 80)],
            "backend 10.0.0.1:80 is listed more than once",
        ),
        (
            vec![Backend::new("::1", 80), Backend::new("::1", 80)],
            "backend [::1]:80 is listed more than once",
        ),
        (
            vec![Backend::new("", 80)],
            "a backend requires a non-empty address",
        ),
        (
            vec![Backend::new("10.0.0.1", 0)],
            "backend 10.0.0.1 requires a port greater than 0",
        ),
    ];
    for (backends, message) in cases {
        let err = Pool::try_new(backends.clone(), PoolConfig::new()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert_eq!(err.message(), message);
        let p = Pool::empty(PoolConfig::new());
        assert_eq!(p.try_rebuild(backends).unwrap_err().message(), message);
        assert!(p.pick(&PickInput::new()).is_none());
    }
}

#[test]
fn types_round_trip_through_json() {
    let b: Backend = serde_json::from_str(
        r#"{"address":"10.0.0.1","port":8080,"tier":2,"state":"draining",
            "version":"v2","max_connections":10,"metadata":{"log_guid":"g"}}"#,
    )
    .unwrap();
    assert_eq!(
        b,
        Backend::new("10.0.0.1", 8080)
            .with_tier(2)
            .with_state(BackendState::Draining)
            .with_version("v2")
            .with_max_connections(10)
            .with_metadata("log_guid", "g")
    );
    assert_eq!(b.weight, 1);
    assert!(b.discovered);
    let again: Backend = serde_json::from_str(&serde_json::to_string(&b).unwrap()).unwrap();
    assert_eq!(again, b);
    assert_eq!(
        serde_json::to_string(&Backend::new("h", 1)).unwrap(),
        r#"{"address":"h","port":1,"weight":1,"tier":0,"state":"live","discovered":true}"#
    );

    for s in Strategy::ALL {
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, format!("\"{}\"", s.name()));
        assert_eq!(serde_json::from_str::<Strategy>(&json).unwrap(), s);
        assert_eq!(s.name().parse::<Strategy>().unwrap(), s);
    }
    let err = "fastest".parse::<Strategy>().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);

    let config: PoolConfig = serde_json::from_str(
        r#"{"strategy":"leastconn","split":{"split":{"v1":90,"v2":10},"fallback":"largest","sticky":true}}"#,
    )
    .unwrap();
    assert_eq!(
        config,
        PoolConfig::new()
            .strategy(Strategy::LeastConnections)
            .split(
                SplitConfig::new(Split::new().with("v1", 90).with("v2", 10))
                    .fallback(Fallback::Largest)
                    .sticky(true)
            )
    );
    assert_eq!(
        serde_json::from_str::<PoolConfig>(&serde_json::to_string(&config).unwrap()).unwrap(),
        config
    );
    assert!(serde_json::from_str::<Fallback>("\"lowest\"").is_err());
    assert!(serde_json::from_str::<BackendState>("\"up\"").is_err());
}

// ---------------------------------------------------------------------------
// Rebuilds under load

#[test]
fn counters_stay_exact_while_pools_are_republished_under_load() {
    use arc_swap::ArcSwap;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    let backends = |round: u32| -> Vec<Backend> {
        (0..20)
            .map(|i| {
                let b = Backend::new(addr(i), 80)
                    .with_weight(1 + (i as u32 + round) % 4)
                    .with_tier(u32::from(i >= 16))
                    .with_max_connections(50);
                // One backend drains in odd rounds.
                if i == round as usize % 20 && round % 2 == 1 {
                    b.with_state(BackendState::Draining)
                } else {
                    b
                }
            })
            .collect()
    };
    for strategy in [
        Strategy::RoundRobin,
        Strategy::ConsistentHash,
        Strategy::LeastConnections,
    ] {
        let current = Arc::new(ArcSwap::from_pointee(
            Pool::try_new(backends(0), PoolConfig::new().strategy(strategy)).unwrap(),
        ));
        let running = Arc::new(AtomicBool::new(true));
        let established = Arc::new(AtomicU64::new(0));
        let readers: Vec<_> = (0..2)
            .map(|t| {
                let (current, running, established) =
                    (current.clone(), running.clone(), established.clone());
                thread::spawn(move || {
                    let mut held = std::collections::VecDeque::new();
                    let mut k = 0u64;
                    while running.load(Ordering::Relaxed) {
                        k += 1;
                        let key = (k * 2 + t).to_le_bytes();
                        let pool = current.load();
                        if let Some(c) = pool.connect(&PickInput::new().key(&key)) {
                            assert!(c.backend().state == BackendState::Live);
                            c.established();
                            c.add_rx(10);
                            established.fetch_add(1, Ordering::Relaxed);
                            held.push_back(c);
                        }
                        if held.len() > 30 {
                            held.pop_front();
                        }
                    }
                })
            })
            .collect();
        for round in 1..=50 {
            let next = current.load().try_rebuild(backends(round)).unwrap();
            current.store(Arc::new(next));
        }
        running.store(false, Ordering::Relaxed);
        readers.into_iter().for_each(|r| r.join().unwrap());
        let pool = current.load();
        let total: u64 = pool
            .backends()
            .iter()
            .map(|b| b.stats().total_connections())
            .sum();
        assert_eq!(total, established.load(Ordering::Relaxed), "{strategy}");
        assert_eq!(pool.stats().rx_total, total * 10, "{strategy}");
        for b in pool.backends() {
            assert_eq!(b.stats().active_connections(), 0, "{strategy}");
        }
    }
}
