//! Model-based test of the matcher: random route sets and random requests are
//! matched both by the registry and by a deliberately simple reference matcher
//! (a linear scan over every (route, path) pair that applies the traditional
//! rules and picks the best-ranked full match; see `support/reference_matcher.rs`,
//! which the fuzz target `match_reference` shares). After every insert, update and
//! delete, both must pick the same route for every request.

#[path = "support/reference_matcher.rs"]
mod reference_matcher;

use proptest::prelude::*;
use routeyard::PathMode;

use reference_matcher::{
    run, Op, Req, Spec, HEADER_NAMES, METHODS, PLAIN_PATHS, REGEX_PATHS, REQUEST_HEADER_VALUES,
    REQUEST_HOSTS, REQUEST_PATHS, REQUEST_SNIS, ROUTE_HOSTS, SNIS,
};

// -- Generated shapes ------------------------------------------------------------------

fn subset(len: usize, max: usize) -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::btree_set(0..len, 0..=max).prop_map(|s| s.into_iter().collect())
}

fn spec() -> impl Strategy<Value = Spec> {
    let headers = proptest::collection::btree_map(
        0..HEADER_NAMES.len(),
        prop_oneof![
            3 => subset(3, 2).prop_filter("values", |v| !v.is_empty()),
            1 => Just(vec![3usize]),
        ],
        0..=2,
    )
    .prop_map(|m| m.into_iter().collect::<Vec<_>>());
    (
        prop_oneof![1 => Just(vec![]), 1 => subset(ROUTE_HOSTS.len(), 2)],
        subset(PLAIN_PATHS.len(), 2),
        prop_oneof![2 => Just(vec![]), 1 => subset(REGEX_PATHS.len(), 1)],
        prop_oneof![2 => Just(vec![]), 1 => subset(METHODS.len(), 2)],
        prop_oneof![2 => Just(vec![]), 1 => headers],
        prop_oneof![3 => Just(vec![]), 1 => subset(SNIS.len(), 1)],
        prop_oneof![6 => Just(0i64), 1 => Just(1), 1 => Just(-1)],
        0i64..3,
        prop_oneof![
            Just(PathMode::Prefix),
            Just(PathMode::Segment),
            Just(PathMode::Exact)
        ],
    )
        .prop_map(
            |(hosts, plain, regex, methods, headers, snis, priority, regex_priority, mode)| {
                let mut spec = Spec {
                    hosts,
                    plain,
                    regex,
                    methods,
                    headers,
                    snis,
                    priority,
                    regex_priority,
                    mode,
                };
                spec.make_matchable();
                spec
            },
        )
}

fn req() -> impl Strategy<Value = Req> {
    (
        0..METHODS.len(),
        0..REQUEST_HOSTS.len(),
        0..REQUEST_PATHS.len(),
        proptest::collection::vec(
            (0..HEADER_NAMES.len(), 0..REQUEST_HEADER_VALUES.len()),
            0..3,
        ),
        any::<bool>(),
        proptest::option::of(0..REQUEST_SNIS.len()),
    )
        .prop_map(|(method, host, path, headers, https, sni)| Req {
            method,
            host,
            path,
            headers,
            https,
            sni,
        })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => spec().prop_map(Op::Create),
        2 => (any::<usize>(), spec()).prop_map(|(i, s)| Op::Update(i, s)),
        1 => any::<usize>().prop_map(Op::Delete),
        2 => (0u64..2).prop_map(Op::Tick),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn registry_agrees_with_linear_reference(
        ops in proptest::collection::vec(op(), 1..24),
        requests in proptest::collection::vec(req(), 1..24),
    ) {
        run(&ops, &requests).map_err(TestCaseError::fail)?;
    }
}

/// Every request of the alphabet against one fixed, dense route set.
#[test]
fn exhaustive_requests_against_a_dense_set() {
    let mut ops = Vec::new();
    for (i, &h) in [0usize, 2, 5, 6, 8, 9].iter().enumerate() {
        ops.push(Op::Create(Spec {
            hosts: vec![h],
            plain: vec![i % PLAIN_PATHS.len()],
            regex: if i % 2 == 0 {
                vec![i % REGEX_PATHS.len()]
            } else {
                vec![]
            },
            methods: vec![],
            headers: vec![],
            snis: vec![],
            priority: 0,
            regex_priority: (i % 3) as i64,
            mode: [PathMode::Prefix, PathMode::Segment, PathMode::Exact][i % 3],
        }));
    }
    for (i, _) in PLAIN_PATHS.iter().enumerate() {
        ops.push(Op::Create(Spec {
            hosts: vec![],
            plain: vec![i],
            regex: vec![],
            methods: vec![i % METHODS.len()],
            headers: vec![(i % 2, vec![i % 4])],
            snis: if i % 3 == 0 { vec![0] } else { vec![] },
            priority: 0,
            regex_priority: 0,
            mode: PathMode::Segment,
        }));
    }
    let mut requests = Vec::new();
    for method in 0..METHODS.len() {
        for host in 0..REQUEST_HOSTS.len() {
            for path in 0..REQUEST_PATHS.len() {
                requests.push(Req {
                    method,
                    host,
                    path,
                    headers: vec![(path % 2, (host + method) % REQUEST_HEADER_VALUES.len())],
                    https: (host + path) % 2 == 0,
                    sni: Some(method % REQUEST_SNIS.len()),
                });
            }
        }
    }
    run(&ops, &requests).unwrap();
}

/// Every request of the alphabet against more routes than one bucket keeps in
/// a list, so that its paths sit in a tree (exact-mode ones by their whole
/// path, the others in the radix tree), then again after updates that move
/// routes between modes and deletes.
#[test]
fn exhaustive_requests_against_a_tree_bucket() {
    let modes = [PathMode::Prefix, PathMode::Segment, PathMode::Exact];
    let spec = |i: usize, mode: PathMode| Spec {
        hosts: if i % 5 == 0 { vec![0] } else { vec![] },
        plain: vec![i % PLAIN_PATHS.len(), (i / 3) % PLAIN_PATHS.len()],
        regex: if i % 4 == 0 {
            vec![i % REGEX_PATHS.len()]
        } else {
            vec![]
        },
        methods: if i % 6 == 0 {
            vec![i % METHODS.len()]
        } else {
            vec![]
        },
        headers: vec![],
        snis: vec![],
        priority: [0, 0, 1, -1][i % 4],
        regex_priority: (i % 3) as i64,
        mode,
    };
    let mut ops: Vec<Op> = (0..30).map(|i| Op::Create(spec(i, modes[i % 3]))).collect();
    let requests: Vec<Req> = (0..METHODS.len())
        .flat_map(|method| {
            (0..REQUEST_HOSTS.len()).flat_map(move |host| {
                (0..REQUEST_PATHS.len()).map(move |path| Req {
                    method,
                    host,
                    path,
                    headers: vec![],
                    https: false,
                    sni: None,
                })
            })
        })
        .collect();
    run(&ops, &requests).unwrap();
    // Routes of every mode are moved to another mode or deleted.
    for i in 0..30 {
        ops.push(match i % 4 {
            0 => Op::Update(i, spec(i + 1, modes[(i + 2) % 3])),
            2 => Op::Delete(i),
            _ => Op::Tick(1),
        });
    }
    run(&ops, &requests).unwrap();
}
