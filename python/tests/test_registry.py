"""Tests of routeyard.Registry and of the exception hierarchy."""

from __future__ import annotations

import pickle
import threading
import time
from typing import Any

import pytest

import routeyard
from routeyard import (
    ConflictError,
    ForeignKeyViolationError,
    InvalidArgumentError,
    ManualClock,
    ProcessRequestError,
    Reaper,
    Registry,
    RouterGroupInvalidError,
    RouteyardError,
    TcpRouteMappingInvalidError,
)

DEFAULT_TCP: dict[str, Any] = {
    "name": "default-tcp",
    "type": "tcp",
    "reservable_ports": "1024-65535",
}


class TestRegistry:
    def test_a_new_registry_is_empty(self) -> None:
        registry = Registry()
        assert registry.revision == 0
        assert registry.router_groups() == []

    def test_repr_looks_like_the_constructor_call(self) -> None:
        assert repr(Registry()) == "Registry(max_ttl=120)"
        assert repr(Registry(max_ttl=30)) == "Registry(max_ttl=30)"
        assert repr(Registry(5)) == "Registry(max_ttl=5)"

    def test_max_ttl_is_a_non_negative_int(self) -> None:
        with pytest.raises(OverflowError):
            Registry(max_ttl=-1)
        with pytest.raises(TypeError):
            Registry(max_ttl="120")  # type: ignore[arg-type]

    def test_create_router_group_returns_the_stored_group(self) -> None:
        registry = Registry()
        group, created = registry.create_router_group(DEFAULT_TCP)
        assert created is True
        assert set(group) == {"guid", "name", "type", "reservable_ports"}
        assert group["name"] == "default-tcp"
        assert group["type"] == "tcp"
        assert group["reservable_ports"] == "1024-65535"
        assert isinstance(group["guid"], str) and group["guid"]
        assert registry.revision > 0
        assert registry.router_groups() == [group]

    def test_same_name_and_type_returns_the_existing_group(self) -> None:
        registry = Registry()
        first, _ = registry.create_router_group(DEFAULT_TCP)
        revision = registry.revision
        again, created = registry.create_router_group(dict(DEFAULT_TCP))
        assert created is False
        assert again == first
        assert registry.revision == revision
        assert len(registry.router_groups()) == 1

    def test_a_guid_in_the_input_is_ignored(self) -> None:
        registry = Registry()
        group, created = registry.create_router_group(
            {**DEFAULT_TCP, "guid": "chosen-by-the-caller"}
        )
        assert created is True
        assert group["guid"] != "chosen-by-the-caller"

    def test_returned_dicts_are_copies(self) -> None:
        registry = Registry()
        group, _ = registry.create_router_group(DEFAULT_TCP)
        group["name"] = "changed"
        registry.router_groups()[0]["type"] = "changed"
        assert registry.router_groups()[0]["name"] == "default-tcp"
        assert registry.router_groups()[0]["type"] == "tcp"

    def test_revision_is_read_only(self) -> None:
        registry = Registry()
        with pytest.raises(AttributeError):
            setattr(registry, "revision", 7)

    def test_one_registry_serves_several_threads(self) -> None:
        registry = Registry()
        errors: list[BaseException] = []

        def work(index: int) -> None:
            try:
                for i in range(25):
                    port = 1024 + index * 25 + i
                    registry.create_router_group(
                        {"name": f"g-{index}-{i}", "type": "tcp", "reservable_ports": str(port)}
                    )
                    registry.router_groups()
            except BaseException as exc:  # reported by the main thread below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
            assert not thread.is_alive(), "a worker thread hung"
        assert errors == []
        groups = registry.router_groups()
        assert len(groups) == 100
        assert len({g["guid"] for g in groups}) == 100
        assert registry.revision >= 100


class TestErrors:
    def test_every_error_is_a_routeyard_error_and_a_value_error(self) -> None:
        classes = [getattr(routeyard, name) for name in routeyard.__all__ if name.endswith("Error")]
        assert len(classes) == 15
        for cls in classes:
            assert issubclass(cls, RouteyardError)
            assert issubclass(cls, ValueError)
            assert cls.__module__ == "routeyard"

    def test_an_invalid_router_group_keeps_the_core_message(self) -> None:
        registry = Registry()
        bad = {"name": "g", "type": "tcp", "reservable_ports": "1024, 2000"}
        with pytest.raises(
            RouterGroupInvalidError, match="^port must be between 1024 and 65535$"
        ) as info:
            registry.create_router_group(bad)
        assert info.value.name == "ProcessRequestError"
        assert str(info.value) == "port must be between 1024 and 65535"
        assert registry.revision == 0
        assert registry.router_groups() == []

    def test_a_missing_name_is_an_invalid_router_group(self) -> None:
        registry = Registry()
        with pytest.raises(RouterGroupInvalidError, match="missing name in router group"):
            registry.create_router_group({"name": "", "type": "tcp", "reservable_ports": "1024"})

    def test_a_name_taken_by_another_type_is_a_conflict(self) -> None:
        registry = Registry()
        registry.create_router_group(DEFAULT_TCP)
        revision = registry.revision
        with pytest.raises(ConflictError) as info:
            registry.create_router_group({"name": "default-tcp", "type": "http"})
        assert info.value.name == "DBConflictError"
        assert "default-tcp" in str(info.value)
        assert registry.revision == revision

    def test_a_field_of_the_wrong_type_cannot_be_processed(self) -> None:
        registry = Registry()
        with pytest.raises(ProcessRequestError, match="invalid type") as info:
            registry.create_router_group({"name": 42, "type": "tcp", "reservable_ports": "1024"})
        assert info.value.name == "ProcessRequestError"
        assert isinstance(info.value, RouteyardError)

    def test_values_json_cannot_hold_are_type_errors(self) -> None:
        registry = Registry()
        with pytest.raises(TypeError, match="is not a JSON value"):
            registry.create_router_group({**DEFAULT_TCP, "name": object()})
        int_key: dict[Any, Any] = dict(DEFAULT_TCP)
        int_key[1] = "one"
        with pytest.raises(TypeError, match="dict keys must be str"):
            registry.create_router_group(int_key)
        with pytest.raises(TypeError):
            registry.create_router_group([DEFAULT_TCP])  # type: ignore[arg-type]

    def test_errors_survive_pickling(self) -> None:
        registry = Registry()
        with pytest.raises(RouterGroupInvalidError) as info:
            registry.create_router_group({"name": "", "type": "tcp"})
        copy = pickle.loads(pickle.dumps(info.value))
        assert type(copy) is RouterGroupInvalidError
        assert str(copy) == str(info.value)
        assert copy.name == "ProcessRequestError"

    def test_errors_can_be_caught_as_value_error(self) -> None:
        registry = Registry()
        with pytest.raises(ValueError):
            registry.create_router_group({"name": "", "type": "tcp"})


class TestManualClock:
    def test_starts_at_zero_or_the_given_seconds(self) -> None:
        assert ManualClock().now() == 0.0
        assert ManualClock(now=12).now_ns() == 12_000_000_000
        assert ManualClock(now=1.25).now_ns() == 1_250_000_000
        assert ManualClock(now=0.1).now_ns() == 100_000_000

    def test_advance_and_set(self) -> None:
        clock = ManualClock(now=100)
        clock.advance(5)
        clock.advance(0.5)
        assert clock.now() == 105.5
        clock.set(3)
        assert clock.now() == 3.0
        assert repr(clock) == "ManualClock(now=3.000000000)"

    @pytest.mark.parametrize("bad", [-1, -0.5, float("nan"), float("inf"), 2**64, 1e12])
    def test_out_of_range_seconds_are_invalid(self, bad: float) -> None:
        clock = ManualClock()
        with pytest.raises(InvalidArgumentError, match="must be a number of seconds"):
            clock.advance(bad)
        with pytest.raises(InvalidArgumentError):
            clock.set(bad)
        with pytest.raises(InvalidArgumentError):
            ManualClock(now=bad)

    def test_only_ints_and_floats_are_seconds(self) -> None:
        with pytest.raises(TypeError, match="must be an int or a float, not str"):
            ManualClock(now="1")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="not bool"):
            ManualClock().advance(True)

    def test_clones_share_the_time_with_the_registry(self) -> None:
        clock = ManualClock(now=50)
        registry = Registry(max_ttl=10, clock=clock)
        registry.upsert_http_routes([{"route": "a.com", "ip": "1.1.1.1", "port": 1}])
        clock.advance(9)
        assert len(registry.http_routes()) == 1
        clock.advance(1)
        assert registry.http_routes() == []


class TestConfig:
    def test_repr_lists_the_given_options(self) -> None:
        clock = ManualClock(now=1)
        registry = Registry(
            max_ttl=60,
            history=10,
            subscriber_buffer=5,
            clock=clock,
            reserved_ports=[5000, 5001],
            reservation_ttl=2.5,
        )
        assert repr(registry) == (
            "Registry(max_ttl=60, history=10, subscriber_buffer=5, "
            "clock=ManualClock(now=1.000000000), reserved_ports=[5000, 5001], reservation_ttl=2.5)"
        )
        assert registry.max_ttl == 60

    def test_bad_options(self) -> None:
        with pytest.raises(OverflowError):
            Registry(reserved_ports=[70000])
        with pytest.raises(TypeError):
            Registry(clock=object())  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError):
            Registry(reservation_ttl=-1)

    def test_the_system_clock_is_the_default(self) -> None:
        registry = Registry(max_ttl=60)
        registry.upsert_http_routes([{"route": "a.com", "ip": "1.1.1.1", "port": 1}])
        assert len(registry.http_routes()) == 1
        assert registry.expire() == 0
        assert registry.expire(time.time() + 61) == 1


class TestReaper:
    def test_the_reaper_expires_lapsed_leases(self) -> None:
        clock = ManualClock(now=10)
        registry = Registry(max_ttl=5, clock=clock)
        sub = registry.subscribe(kinds=["http_route"], timeout=30)
        registry.upsert_http_routes([{"route": "a.com", "ip": "1.1.1.1", "port": 1}])
        assert next(sub).action == "upsert"
        clock.advance(5)
        with registry.start_reaper(0.01) as reaper:
            assert isinstance(reaper, Reaper)
            assert reaper.running
            event = next(sub)  # waits (interpreter released) for the reaper's sweep
        assert event.action == "expire"
        assert not reaper.running
        assert repr(reaper) == "<Reaper interval=0.01 running=False>"

    def test_stop_is_idempotent(self, registry: Registry) -> None:
        reaper = registry.start_reaper(interval=60)
        assert reaper.running
        reaper.stop()
        reaper.stop()
        assert not reaper.running

    def test_the_interval_must_be_positive(self, registry: Registry) -> None:
        with pytest.raises(InvalidArgumentError, match="interval must be greater than 0"):
            registry.start_reaper(0)
        with pytest.raises(InvalidArgumentError):
            registry.start_reaper(-1)

    def test_compact_index(self, registry: Registry, clock: ManualClock) -> None:
        registry.upsert_http_routes([{"route": "a.com", "ip": "1.1.1.1", "port": p, "ttl": 1} for p in (1, 2)])
        clock.advance(1)
        assert registry.expire() == 2
        registry.compact_index()
        assert registry.compact_index() == 0


class TestSnapshot:
    def test_an_empty_registry(self) -> None:
        assert Registry().snapshot() == {
            "revision": 0,
            "router_groups": [],
            "http_routes": [],
            "tcp_route_mappings": [],
            "port_reservations": [],
            "routes": [],
            "services": [],
            "upstreams": [],
            "servers": [],
        }

    def test_holds_every_kind_in_the_listing_shapes(self, registry: Registry) -> None:
        group, _ = registry.create_router_group(DEFAULT_TCP)
        registry.upsert_http_routes([{"route": "a.com", "ip": "1.1.1.1", "port": 1}])
        registry.upsert_tcp_route_mappings(
            [{"router_group_guid": group["guid"], "port": 2000, "backend_ip": "10.0.0.1", "backend_port": 1}]
        )
        reservation = registry.reserve_port(group["guid"])
        service = registry.create_service({"name": "s", "host": "h"})
        route = registry.create_route({"paths": ["/"], "service": {"id": service["id"]}})
        snapshot = registry.snapshot()
        # Leased CF objects carry their lease's end besides CF's fields.
        http_end = (1_000 + 120) * 1_000_000_000
        assert snapshot == {
            "revision": registry.revision,
            "router_groups": [group],
            "http_routes": [{**r, "expires_at": http_end} for r in registry.http_routes()],
            "tcp_route_mappings": [{**m, "expires_at": http_end} for m in registry.tcp_route_mappings()],
            "port_reservations": [reservation],
            "routes": [route],
            "services": [service],
            "upstreams": [],
            "servers": [],
        }

    def test_snapshot_plus_later_events_is_the_current_state(
        self, registry: Registry, clock: ManualClock
    ) -> None:
        for port in (1, 2, 3):
            registry.upsert_http_routes([{"route": "a.com", "ip": "1.1.1.1", "port": port, "ttl": port}])
        snapshot = registry.snapshot()
        sub = registry.subscribe(from_revision=snapshot["revision"], timeout=0)
        registry.delete_http_routes([{"route": "a.com", "ip": "1.1.1.1", "port": 3}])
        registry.upsert_http_routes([{"route": "b.com", "ip": "1.1.1.1", "port": 4}])
        clock.advance(1)
        registry.expire()
        state = {(r["route"], r["port"]): r for r in snapshot["http_routes"]}
        for event in sub:
            key = (event.object["route"], event.object["port"])
            if event.action == "upsert":
                state[key] = {**event.object, "expires_at": event.expires_at}
            else:
                del state[key]
        assert sorted(state) == [("a.com", 2), ("b.com", 4)]
        # The snapshot lists routes sorted by key (route, ip, port).
        assert [state[key] for key in sorted(state)] == registry.snapshot()["http_routes"]

    def test_lapsed_leases_stay_until_expired(self, registry: Registry, clock: ManualClock) -> None:
        registry.upsert_http_routes([{"route": "a.com", "ip": "1.1.1.1", "port": 1, "ttl": 1}])
        clock.advance(1)
        assert registry.http_routes() == []
        assert len(registry.snapshot()["http_routes"]) == 1
        registry.expire()
        assert registry.snapshot()["http_routes"] == []


def populated(clock: ManualClock) -> Registry:
    """A registry holding one object of every kind, some leases already lapsed."""
    registry = Registry(max_ttl=120, clock=clock)
    group, _ = registry.create_router_group(DEFAULT_TCP)
    registry.upsert_http_routes(
        [
            {"route": "a.com", "ip": "1.1.1.1", "port": 1, "ttl": 5},
            {"route": "a.com/x", "ip": "1.1.1.1", "port": 2, "log_guid": "lg"},
        ]
    )
    registry.upsert_tcp_route_mappings(
        [{"router_group_guid": group["guid"], "port": 2000, "backend_ip": "10.0.0.1", "backend_port": 1}]
    )
    registry.reserve_port(group["guid"], ttl=30)
    service = registry.create_service({"name": "s", "url": "https://h.internal:8443/p", "tags": ["t"]})
    registry.create_route({"name": "r", "paths": ["/"], "hosts": ["a.test"], "service": {"id": service["id"]}})
    registry.create_route({"name": "stream", "protocols": ["tcp"], "sources": [{"ip": "10.0.0.0/8"}]})
    return registry


class TestRestore:
    def test_a_snapshot_restores_into_an_empty_registry(self, clock: ManualClock) -> None:
        source = populated(clock)
        snapshot = source.snapshot()
        target = Registry(max_ttl=120, clock=clock)
        sub = target.subscribe(timeout=0)
        revision = target.restore(snapshot)
        assert revision == target.revision > 0
        restored = target.snapshot()
        assert {**restored, "revision": 0} == {**snapshot, "revision": 0}
        assert len(list(sub)) == revision  # one event per restored object
        def by_key(routes: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return sorted(routes, key=lambda r: (r["route"], r["port"]))

        assert by_key(target.http_routes()) == by_key(source.http_routes())
        assert target.routes() == source.routes()

    def test_restored_leases_run_from_their_own_end(self, clock: ManualClock) -> None:
        snapshot = populated(clock).snapshot()
        target = Registry(max_ttl=120, clock=clock)
        target.restore(snapshot)
        clock.advance(5)
        assert [r["port"] for r in target.http_routes()] == [2]
        assert target.expire() == 1

    def test_restore_writes_only_the_differences(self, clock: ManualClock) -> None:
        registry = populated(clock)
        snapshot = registry.snapshot()
        revision = registry.revision
        assert registry.restore(snapshot) == revision  # nothing differs, nothing committed
        registry.delete_route("r")
        registry.upsert_http_routes([{"route": "b.com", "ip": "1.1.1.1", "port": 3}])
        sub = registry.subscribe(timeout=0)
        registry.restore(snapshot)
        assert sorted((e.action, e.kind) for e in sub) == [("delete", "http_route"), ("upsert", "route")]
        assert {**registry.snapshot(), "revision": 0} == {**snapshot, "revision": 0}

    def test_an_invalid_snapshot_changes_nothing(self, clock: ManualClock) -> None:
        registry = populated(clock)
        before = registry.snapshot()
        bad_mapping = dict(before)
        bad_mapping["router_groups"] = []
        with pytest.raises(TcpRouteMappingInvalidError, match="not found"):
            registry.restore(bad_mapping)
        dangling = {**before, "services": []}
        with pytest.raises(ForeignKeyViolationError):
            registry.restore(dangling)
        assert registry.snapshot() == before

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"revision": -1}, "snapshot: 'revision' must be a non-negative int, not -1"),
            ({"extra": []}, "snapshot: unexpected key 'extra'"),
            ({"routes": {}}, "snapshot: 'routes' must be a list, not dict"),
            ({"http_routes": [[]]}, "snapshot: http_routes[0] must be a dict, not list"),
            (
                {"http_routes": [{"route": "a.com", "ip": "1.1.1.1", "port": 1}]},
                "snapshot: http_routes[0]['expires_at'] must be an int of nanoseconds, not null",
            ),
            ({"port_reservations": [{"port": 1}]}, "snapshot: port_reservations[0]: missing field"),
        ],
    )
    def test_a_malformed_snapshot_is_refused(
        self, registry: Registry, change: dict[str, Any], message: str
    ) -> None:
        snapshot = {**registry.snapshot(), **change}
        with pytest.raises(ProcessRequestError) as info:
            registry.restore(snapshot)
        assert str(info.value).startswith(message)

    def test_every_key_is_required(self, registry: Registry) -> None:
        snapshot = registry.snapshot()
        for key in list(snapshot):
            partial = {k: v for k, v in snapshot.items() if k != key}
            with pytest.raises(ProcessRequestError, match=f"missing key '{key}'"):
                registry.restore(partial)
