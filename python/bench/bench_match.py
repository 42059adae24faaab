"""Times Registry.match and Registry.match_many over a 100k-route table.

Not a test: run it by hand against a release build of the extension
(``maturin develop --release``)::

    python python/bench/bench_match.py [--routes 100000] [--rounds 21]

The table: ``--routes`` Kong routes on one service, each with one host,
``svc-{i // 10}.example.com``, and one of ten path prefixes, so every (host, prefix)
pair is one route. It is built with ``Registry.apply`` batches of ``upsert_route``
changes. The requests: 1000 hits spread over the whole table (and as many misses),
each timed in a plain ``time.perf_counter_ns`` loop after a second of warm-up. The
workloads take turns within each round, so that a change in the machine's speed falls
on all of them alike. Every figure is the median over the rounds of the time per
request, loop overhead included, with the best round beside it (the machine's other
work only ever adds time).
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from typing import Any, Callable

import routeyard

PREFIXES = [
    "/orders",
    "/users",
    "/carts",
    "/payments",
    "/invoices",
    "/products",
    "/reviews",
    "/shipping",
    "/search",
    "/accounts",
]
REQUESTS = 1000
BATCH = 10_000


def build(routes: int) -> routeyard.Registry:
    registry = routeyard.Registry()
    service = registry.create_service({"name": "backend", "host": "backend.internal"})
    ref = {"id": service["id"]}
    for start in range(0, routes, BATCH):
        registry.apply(
            [
                {
                    "op": "upsert_route",
                    "route": {
                        "id": str(uuid.UUID(int=i + 1, version=4)),
                        "hosts": [f"svc-{i // 10}.example.com"],
                        "paths": [PREFIXES[i % 10]],
                        "service": ref,
                    },
                }
                for i in range(start, min(start + BATCH, routes))
            ]
        )
    return registry


def spread(routes: int) -> list[tuple[str, str]]:
    """REQUESTS (host, path) hits, spread evenly over the table."""
    step = max(routes // REQUESTS, 1)
    out = []
    for k in range(REQUESTS):
        i = (k * step + k % 10) % routes
        out.append((f"svc-{i // 10}.example.com", f"{PREFIXES[i % 10]}/{k}"))
    return out


def warm_up(runs: list[Callable[[], None]], seconds: float = 1.0) -> None:
    """Runs every workload in turn for a while first, so that the rounds measure the
    steady state (caches, branch predictors and the CPU's clock after the build)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for run in runs:
            run()


def timed(rounds: int, runs: list[Callable[[], None]], per_round: int) -> list[tuple[float, float]]:
    """The median and the best round's time per request of each workload, in
    nanoseconds. Each round runs every workload once, starting from a different one
    each time, so that a change in the machine's speed falls on all of them alike."""
    samples: list[list[float]] = [[] for _ in runs]
    for r in range(rounds):
        for k in range(len(runs)):
            i = (r + k) % len(runs)
            start = time.perf_counter_ns()
            runs[i]()
            samples[i].append((time.perf_counter_ns() - start) / per_round)
    return [(statistics.median(s), min(s)) for s in samples]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routes", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=21)
    args = parser.parse_args()

    started = time.perf_counter()
    registry = build(args.routes)
    built = time.perf_counter() - started
    print(f"built {args.routes} routes with apply in {built:.2f} s ({args.routes / built:,.0f} routes/s)")

    hits = spread(args.routes)
    misses = [(host, "/nowhere" + path) for host, path in hits]
    match = registry.match
    for host, path in hits:
        m = match(host=host, path=path)
        assert m is not None and m.upstream_host == "backend.internal", (host, path)
    for host, path in misses:
        assert match(host=host, path=path) is None, (host, path)

    def loop_hits() -> None:
        for host, path in hits:
            match(host=host, path=path)

    def loop_misses() -> None:
        for host, path in misses:
            match(host=host, path=path)

    def loop_hits_read() -> None:
        for host, path in hits:
            m = match(host=host, path=path)
            m.upstream_host  # type: ignore[union-attr]
            m.upstream_path  # type: ignore[union-attr]

    def loop_hits_kept() -> None:
        # What match_many does: every answer stays alive until the batch is done.
        kept = [match(host=host, path=path) for host, path in hits]
        del kept

    def loop_baseline() -> None:
        # The cheapest native call on the registry: the cost of the loop and a call.
        for _host, _path in hits:
            registry.revision

    batch: list[dict[str, Any]] = [{"host": host, "path": path} for host, path in hits]

    def many() -> None:
        registry.match_many(batch)

    workloads = [
        ("loop + trivial native call (baseline)", loop_baseline),
        ("match, hit", loop_hits),
        ("match, miss", loop_misses),
        ("match, hit, reading upstream_host and upstream_path", loop_hits_read),
        ("match, hit, keeping the 1000 answers in a list", loop_hits_kept),
        ("match_many, 1000 hits per call", many),
    ]
    runs = [run for _, run in workloads]
    warm_up(runs)
    for (name, _), (median, best) in zip(workloads, timed(args.rounds, runs, REQUESTS)):
        print(f"{name:52} {median:6.0f} ns per request (best round {best:.0f})")


if __name__ == "__main__":
    main()
