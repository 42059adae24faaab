"""Several Python threads sharing one registry: writers, readers, a subscriber, the reaper."""

from __future__ import annotations

import threading
from typing import Any, Callable

from routeyard import Event, LaggedError, ManualClock, Registry

WRITERS = 4
ROUNDS = 50
JOIN_TIMEOUT = 120


def run_all(targets: list[Callable[[], None]]) -> list[BaseException]:
    """Runs each target on its own thread; returns what they raised. Fails on a hang."""
    errors: list[BaseException] = []

    def guard(target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except BaseException as exc:  # reported by the caller
                errors.append(exc)

        return run

    threads = [threading.Thread(target=guard(t)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=JOIN_TIMEOUT)
        assert not thread.is_alive(), "a thread hung"
    return errors


def route(writer: int, i: int, ttl: int = 60) -> dict[str, Any]:
    return {"route": f"w{writer}.example.com/r{i}", "ip": "10.0.0.1", "port": 1000 + i, "ttl": ttl}


def test_writers_readers_and_a_subscriber_agree_on_the_final_state() -> None:
    clock = ManualClock(now=1_000)
    registry = Registry(max_ttl=60, clock=clock, subscriber_buffer=1_000_000)
    group, _ = registry.create_router_group({"name": "tcp", "type": "tcp", "reservable_ports": "5000-5999"})
    start = registry.revision
    sub = registry.subscribe(from_revision=start, timeout=0)
    done = threading.Event()
    seen: list[Event] = []
    reservations: list[int] = []
    lock = threading.Lock()

    def cf_writer(w: int) -> Callable[[], None]:
        def run() -> None:
            for i in range(ROUNDS):
                registry.upsert_http_routes([route(w, i), route(w, i + ROUNDS, ttl=1)])
                if i % 5 == 4:
                    registry.delete_http_routes([route(w, i)])
        return run

    def batch_writer() -> None:
        for i in range(ROUNDS):
            events = registry.apply(
                [
                    {"op": "reserve_port", "router_group_guid": group["guid"]},
                    {"op": "upsert_http_route", "route": route(99, i)},
                ]
            )
            with lock:
                reservations.append(events[0].object["port"])

    def kong_writer() -> None:
        for i in range(ROUNDS):
            service = registry.create_service({"name": f"s{i}", "host": "h.internal"})
            registry.create_route({"name": f"r{i}", "paths": [f"/{i}"], "service": {"id": service["id"]}})
            registry.update_route(f"r{i}", {"priority": i})

    def reader() -> None:
        while not done.is_set():
            registry.http_routes()
            registry.snapshot()
            registry.routes()

    def subscriber() -> None:
        # Reads while the writers run; once they are done, every event is already
        # queued, so a last drain without waiting collects the rest.
        while not done.is_set():
            event = sub.recv(timeout=0.05)
            if event is not None:
                seen.append(event)
        seen.extend(sub)

    def writers_then_signal() -> None:
        errors = run_all([cf_writer(w) for w in range(WRITERS)] + [batch_writer, kong_writer])
        if errors:
            raise errors[0]
        clock.advance(1)
        registry.expire()
        done.set()

    errors = run_all([writers_then_signal, reader, reader, subscriber])
    assert errors == []

    # The final state: every writer's surviving routes, the batch writer's routes.
    kept = {(r["route"], r["port"]) for r in registry.http_routes()}
    expected = {
        (route(w, i)["route"], route(w, i)["port"])
        for w in range(WRITERS)
        for i in range(ROUNDS)
        if i % 5 != 4
    } | {(route(99, i)["route"], route(99, i)["port"]) for i in range(ROUNDS)}
    assert kept == expected
    assert sorted(reservations) == list(range(5000, 5000 + ROUNDS))
    assert sorted(r["port"] for r in registry.port_reservations()) == sorted(reservations)
    assert sorted((r["name"], r["priority"]) for r in registry.routes()) == sorted(
        (f"r{i}", i) for i in range(ROUNDS)
    )
    assert len(registry.services()) == ROUNDS

    # The subscriber saw every revision once, in order, ending at the last one.
    assert [e.revision for e in seen] == list(range(start + 1, registry.revision + 1))
    expired = [e for e in seen if e.action == "expire"]
    assert len(expired) == WRITERS * ROUNDS  # every ttl=1 route lapsed

    # Replaying the events over an empty state rebuilds the HTTP routes.
    state: dict[tuple[str, int], dict[str, Any]] = {}
    for event in seen:
        if event.kind != "http_route":
            continue
        key = (event.object["route"], event.object["port"])
        if event.action == "upsert":
            state[key] = event.object
        else:
            del state[key]
    assert set(state) == expected


def test_a_slow_subscriber_lags_while_writers_keep_going() -> None:
    registry = Registry(subscriber_buffer=8)
    sub = registry.subscribe(timeout=5)

    def writer(w: int) -> Callable[[], None]:
        def run() -> None:
            for i in range(100):
                registry.upsert_http_routes([route(w, i)])
        return run

    assert run_all([writer(w) for w in range(4)]) == []
    assert len(registry.http_routes()) == 400
    received = 0
    try:
        for _ in sub:
            received += 1
    except LaggedError as lag:
        assert lag.resume_from == received
    else:
        raise AssertionError("the subscriber should have lagged")


def test_a_blocked_subscriber_does_not_block_other_threads() -> None:
    registry = Registry()
    sub = registry.subscribe(timeout=60)
    got: list[int] = []

    def wait_for_one() -> None:
        got.append(next(sub).revision)

    waiter = threading.Thread(target=wait_for_one)
    waiter.start()
    # While the waiter sits in next(), this thread still runs Python and writes.
    for i in range(10):
        registry.create_router_group({"name": f"g{i}", "type": "http"})
    waiter.join(timeout=JOIN_TIMEOUT)
    assert not waiter.is_alive()
    assert got == [1]
    assert len(registry.router_groups()) == 10


def test_the_reaper_runs_beside_writers_and_a_replica_that_restores() -> None:
    clock = ManualClock(now=0)
    registry = Registry(max_ttl=10, clock=clock, subscriber_buffer=1_000_000)
    replica = Registry(max_ttl=10, clock=clock)
    done = threading.Event()

    def writer(w: int) -> Callable[[], None]:
        def run() -> None:
            for i in range(ROUNDS):
                registry.apply(
                    [
                        {"op": "upsert_http_route", "route": route(w, i, ttl=1)},
                        {"op": "upsert_http_route", "route": route(w, i + ROUNDS, ttl=10)},
                    ]
                )
        return run

    def ticker() -> None:
        # Moves time by at most 5 s: short leases (1 s) lapse while the reaper runs,
        # long ones (10 s) cannot.
        while not done.is_set() and clock.now() < 5:
            clock.advance(0.001)

    def follower() -> None:
        while not done.is_set():
            replica.restore(registry.snapshot())

    with registry.start_reaper(0.001):
        def writers() -> None:
            errors = run_all([writer(w) for w in range(WRITERS)])
            done.set()
            if errors:
                raise errors[0]

        assert run_all([writers, ticker, follower]) == []
    # At 6 s every short lease has lapsed and no long one has.
    assert clock.now() < 6
    clock.set(6)
    registry.expire()
    kept = {(r["route"], r["port"]) for r in registry.http_routes()}
    assert kept == {
        (route(w, i + ROUNDS)["route"], route(w, i + ROUNDS)["port"])
        for w in range(WRITERS)
        for i in range(ROUNDS)
    }
    assert len(registry.snapshot()["http_routes"]) == len(kept)
    # The replica converges on the source's state.
    replica.restore(registry.snapshot())
    assert {**replica.snapshot(), "revision": 0} == {**registry.snapshot(), "revision": 0}
