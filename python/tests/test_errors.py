"""The exception hierarchy: one class per error kind, CF names, fields, pickling."""

from __future__ import annotations

import pickle
from typing import Callable

import pytest

import routeyard
from routeyard import (
    CompactedError,
    ConflictError,
    ForeignKeyViolationError,
    InvalidArgumentError,
    LaggedError,
    ManualClock,
    NotFoundError,
    PortRangeExhaustedError,
    ProcessRequestError,
    Registry,
    RouteInvalidError,
    RouterGroupInvalidError,
    RouteServiceUrlInvalidError,
    RouteyardError,
    SchemaViolationError,
    TcpRouteMappingInvalidError,
    UniqueViolationError,
)


def fresh() -> Registry:
    return Registry(clock=ManualClock(now=100), history=1, subscriber_buffer=1)


def tcp_group(registry: Registry, ports: str = "5000") -> str:
    group, _ = registry.create_router_group({"name": "g", "type": "tcp", "reservable_ports": ports})
    guid = group["guid"]
    assert isinstance(guid, str)
    return guid


def exhaust(registry: Registry) -> None:
    guid = tcp_group(registry)
    registry.reserve_port(guid)
    registry.reserve_port(guid)


def compacted(registry: Registry) -> None:
    registry.create_router_group({"name": "a", "type": "http"})
    registry.create_router_group({"name": "b", "type": "http"})
    registry.subscribe(from_revision=0)


def lagged(registry: Registry) -> None:
    sub = registry.subscribe(timeout=0)
    registry.create_router_group({"name": "a", "type": "http"})
    registry.create_router_group({"name": "b", "type": "http"})
    list(sub)


def conflict(registry: Registry) -> None:
    registry.create_router_group({"name": "g", "type": "http"})
    registry.create_router_group({"name": "g", "type": "tcp", "reservable_ports": "5000"})


def unique(registry: Registry) -> None:
    registry.create_service({"name": "s", "host": "h"})
    registry.create_service({"name": "s", "host": "h"})


# Each class, a call that raises it, and the CF name it carries.
CASES: list[tuple[type[RouteyardError], Callable[[Registry], object], str]] = [
    (RouteInvalidError, lambda r: r.upsert_http_routes([{"route": "a.com", "ip": "1.1.1.1", "port": 0}]), "RouteInvalidError"),
    (
        RouteServiceUrlInvalidError,
        lambda r: r.upsert_http_routes(
            [{"route": "a.com", "ip": "1.1.1.1", "port": 1, "route_service_url": "http://x"}]
        ),
        "RouteServiceUrlInvalidError",
    ),
    (TcpRouteMappingInvalidError, lambda r: r.upsert_tcp_route_mappings([{"port": 1}]), "TcpRouteMappingInvalidError"),
    (RouterGroupInvalidError, lambda r: r.create_router_group({"name": "", "type": "tcp"}), "ProcessRequestError"),
    (ProcessRequestError, lambda r: r.upsert_http_routes([{"port": "1"}]), "ProcessRequestError"),
    (NotFoundError, lambda r: r.delete_router_group("missing"), "ResourceNotFoundError"),
    (ConflictError, conflict, "DBConflictError"),
    (PortRangeExhaustedError, exhaust, "PortRangeExhaustedError"),
    (CompactedError, compacted, "ProcessRequestError"),
    (InvalidArgumentError, lambda r: r.reserve_port(tcp_group(r), ttl=0), "ProcessRequestError"),
    (SchemaViolationError, lambda r: r.create_route({"paths": ["x"]}), "ProcessRequestError"),
    (UniqueViolationError, unique, "DBConflictError"),
    (ForeignKeyViolationError, lambda r: r.create_route({"paths": ["/"], "service": {"id": "f" * 8 + "-0000-4000-8000-" + "0" * 12}}), "ProcessRequestError"),
    (LaggedError, lagged, "ProcessRequestError"),
]


class TestHierarchy:
    def test_every_class_is_exported_and_covered(self) -> None:
        exported = {getattr(routeyard, n) for n in routeyard.__all__ if n.endswith("Error")}
        assert exported == {RouteyardError} | {cls for cls, _, _ in CASES}
        assert len(exported) == 15
        for cls in exported:
            assert issubclass(cls, RouteyardError) and issubclass(cls, ValueError)
            assert cls.__module__ == "routeyard"
            assert cls.__doc__

    @pytest.mark.parametrize(("cls", "call", "name"), CASES, ids=[c.__name__ for c, _, _ in CASES])
    def test_each_class_is_raised_with_its_cf_name(
        self, cls: type[RouteyardError], call: Callable[[Registry], object], name: str
    ) -> None:
        with pytest.raises(RouteyardError) as info:
            call(fresh())
        assert type(info.value) is cls
        assert info.value.name == name
        assert isinstance(info.value.fields, list)
        assert str(info.value)

    @pytest.mark.parametrize(("cls", "call", "name"), CASES, ids=[c.__name__ for c, _, _ in CASES])
    def test_each_class_survives_pickling(
        self, cls: type[RouteyardError], call: Callable[[Registry], object], name: str
    ) -> None:
        with pytest.raises(cls) as info:
            call(fresh())
        copy = pickle.loads(pickle.dumps(info.value))
        assert type(copy) is cls
        assert str(copy) == str(info.value)
        assert copy.name == name
        assert copy.fields == info.value.fields


class TestAttributes:
    def test_fields_are_empty_outside_kong(self) -> None:
        with pytest.raises(NotFoundError) as info:
            fresh().delete_router_group("missing")
        assert info.value.fields == []

    def test_compacted_and_lagged_carry_revisions(self) -> None:
        with pytest.raises(CompactedError) as compact:
            compacted(fresh())
        assert compact.value.oldest_revision == 2
        with pytest.raises(LaggedError) as lag:
            lagged(fresh())
        assert lag.value.resume_from == 1

    def test_a_foreign_key_violation_names_the_service(self) -> None:
        missing = "ffffffff-0000-4000-8000-000000000000"
        with pytest.raises(ForeignKeyViolationError) as info:
            fresh().create_route({"paths": ["/"], "service": {"id": missing}})
        assert info.value.fields == [("service.id", missing)]
