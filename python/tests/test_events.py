"""Subscriptions: replay, live events, kinds, timeouts, expiry, lag and compaction."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from routeyard import (
    CompactedError,
    Event,
    InvalidArgumentError,
    LaggedError,
    ManualClock,
    ProcessRequestError,
    Registry,
    RouteyardError,
    Subscription,
)


def route(port: int, ttl: int = 30) -> dict[str, Any]:
    return {"route": "a.example.com", "ip": "10.0.0.1", "port": port, "ttl": ttl}


def drain(sub: Subscription) -> list[tuple[int, str, str]]:
    return [(e.revision, e.action, e.kind) for e in sub]


class TestSubscription:
    def test_replay_then_live(self, registry: Registry) -> None:
        registry.upsert_http_routes([route(1)])
        registry.upsert_http_routes([route(2)])
        sub = registry.subscribe(from_revision=0, timeout=0)
        assert sub.pending == 2
        assert drain(sub) == [(1, "upsert", "http_route"), (2, "upsert", "http_route")]
        registry.delete_http_routes([route(1)])
        assert drain(sub) == [(3, "delete", "http_route")]

    def test_live_only_by_default(self, registry: Registry) -> None:
        registry.upsert_http_routes([route(1)])
        sub = registry.subscribe(timeout=0)
        assert drain(sub) == []
        registry.upsert_http_routes([route(2)])
        assert drain(sub) == [(2, "upsert", "http_route")]

    def test_event_objects_are_in_the_dialect_shape(self, registry: Registry) -> None:
        sub = registry.subscribe(timeout=0)
        registry.upsert_http_routes([route(1)])
        group, _ = registry.create_router_group({"name": "g", "type": "tcp", "reservable_ports": "5000"})
        service = registry.create_service({"name": "s", "host": "h.internal"})
        events = list(sub)
        assert [e.kind for e in events] == ["http_route", "router_group", "service"]
        assert events[0].object == registry.http_routes()[0]
        assert events[1].object == group
        assert events[2].object == service
        assert events[2].to_dict() == {
            "revision": 3,
            "action": "upsert",
            "kind": "service",
            "object": service,
        }

    def test_leased_objects_carry_their_lease_end(self, registry: Registry, clock: ManualClock) -> None:
        sub = registry.subscribe(timeout=0)
        registry.upsert_http_routes([route(1, ttl=30)])
        group, _ = registry.create_router_group({"name": "g", "type": "tcp", "reservable_ports": "5000"})
        registry.reserve_port(group["guid"], ttl=2)
        http, grp, reservation = list(sub)
        assert http.expires_at == clock.now_ns() + 30_000_000_000
        assert "expires_at" not in http.object  # CF's shape has no such field
        assert grp.expires_at is None
        assert reservation.expires_at == reservation.object["expires_at"] == clock.now_ns() + 2_000_000_000

    def test_kinds_filter(self, registry: Registry) -> None:
        sub = registry.subscribe(kinds=["router_group", "port_reservation"], timeout=0)
        registry.upsert_http_routes([route(1)])
        group, _ = registry.create_router_group({"name": "g", "type": "tcp", "reservable_ports": "5000"})
        registry.reserve_port(group["guid"])
        assert drain(sub) == [(2, "upsert", "router_group"), (3, "upsert", "port_reservation")]
        with pytest.raises(ProcessRequestError, match="unknown kind 'routes'"):
            registry.subscribe(kinds=["routes"])  # type: ignore[list-item]
        with pytest.raises(TypeError):
            registry.subscribe(kinds="route")  # type: ignore[arg-type]

    def test_expiry_events_under_a_manual_clock(self, registry: Registry, clock: ManualClock) -> None:
        sub = registry.subscribe(kinds=["http_route"], timeout=0)
        registry.upsert_http_routes([route(1, ttl=10), route(2, ttl=20)])
        clock.advance(10)
        assert registry.expire() == 1
        clock.advance(10)
        assert registry.expire(clock.now()) == 1
        events = list(sub)
        assert [(e.action, e.object["port"]) for e in events] == [
            ("upsert", 1),
            ("upsert", 2),
            ("expire", 1),
            ("expire", 2),
        ]
        assert registry.expire() == 0

    def test_expire_takes_an_explicit_time(self, registry: Registry) -> None:
        registry.upsert_http_routes([route(1, ttl=10)])
        assert registry.expire(1_009.999) == 0
        assert registry.expire(1_010) == 1

    def test_recv_returns_none_on_timeout(self, registry: Registry) -> None:
        sub = registry.subscribe()
        assert sub.recv(timeout=0) is None
        registry.upsert_http_routes([route(1)])
        event = sub.recv(timeout=5)
        assert isinstance(event, Event) and event.revision == 1

    def test_a_blocked_iterator_wakes_for_a_write_from_another_thread(self, registry: Registry) -> None:
        sub = registry.subscribe(timeout=30)
        writer = threading.Timer(0.05, lambda: registry.upsert_http_routes([route(1)]))
        writer.start()
        try:
            event = next(sub)
        finally:
            writer.join()
        assert (event.revision, event.action) == (1, "upsert")

    def test_iteration_resumes_after_a_timeout(self, registry: Registry) -> None:
        sub = registry.subscribe(timeout=0)
        assert list(sub) == []
        registry.upsert_http_routes([route(1)])
        assert [e.revision for e in sub] == [1]

    def test_lag_raises_with_the_revision_to_resume_from(self, clock: ManualClock) -> None:
        registry = Registry(clock=clock, subscriber_buffer=2)
        sub = registry.subscribe(timeout=0)
        for port in range(1, 6):
            registry.upsert_http_routes([route(port)])
        received = []
        with pytest.raises(LaggedError) as info:
            for event in sub:
                received.append(event.revision)
        assert received == [1, 2]
        assert info.value.resume_from == 2
        assert isinstance(info.value, RouteyardError)
        assert "resume from revision 2" in str(info.value)
        assert sub.closed
        assert list(sub) == []
        again = registry.subscribe(from_revision=info.value.resume_from, timeout=0)
        assert [e.revision for e in again] == [3, 4, 5]

    def test_compaction_names_the_oldest_revision(self, clock: ManualClock) -> None:
        registry = Registry(clock=clock, history=2)
        for port in range(1, 6):
            registry.upsert_http_routes([route(port)])
        with pytest.raises(CompactedError) as info:
            registry.subscribe(from_revision=1)
        assert info.value.oldest_revision == 4
        assert info.value.name == "ProcessRequestError"
        sub = registry.subscribe(from_revision=info.value.oldest_revision - 1, timeout=0)
        assert [e.revision for e in sub] == [4, 5]

    def test_a_revision_from_the_future_is_invalid(self, registry: Registry) -> None:
        with pytest.raises(InvalidArgumentError):
            registry.subscribe(from_revision=1)

    def test_close_and_context_manager(self, registry: Registry) -> None:
        assert repr(registry.subscribe()) == "<Subscription timeout=None>"
        with registry.subscribe(timeout=0.5) as sub:
            assert repr(sub) == "<Subscription timeout=0.5>"
            assert registry.subscriber_count == 1
            assert not sub.closed
        assert sub.closed
        registry.upsert_http_routes([route(1)])
        assert list(sub) == [] and sub.recv(0) is None and sub.pending == 0
        assert registry.subscriber_count == 0
        sub.close()  # closing twice is harmless

    def test_negative_timeouts_are_refused(self, registry: Registry) -> None:
        with pytest.raises(InvalidArgumentError):
            registry.subscribe(timeout=-1)
        with pytest.raises(TypeError):
            registry.subscribe(timeout="1")  # type: ignore[arg-type]


class TestEvent:
    def test_events_compare_by_value_and_are_unhashable(self, registry: Registry) -> None:
        a = registry.subscribe(from_revision=0, timeout=0)
        b = registry.subscribe(from_revision=0, timeout=0)
        registry.upsert_http_routes([route(1)])
        first, second = next(a), next(b)
        assert first == second and first is not second
        with pytest.raises(TypeError):
            hash(first)

    def test_repr_and_read_only_fields(self, registry: Registry) -> None:
        sub = registry.subscribe(timeout=0)
        registry.create_router_group({"name": "g", "type": "http"})
        event = next(sub)
        assert repr(event).startswith("Event(revision=1, action='upsert', kind='router_group', object={")
        with pytest.raises(AttributeError):
            setattr(event, "revision", 2)
        event.object["name"] = "changed"
        assert event.object["name"] == "g"

    def test_events_cannot_be_built_from_python(self) -> None:
        with pytest.raises(TypeError):
            Event()
        with pytest.raises(TypeError):
            Subscription()
