"""Registry.apply: atomic batches of tagged change dicts."""

from __future__ import annotations

from typing import Any

import pytest

from routeyard import (
    ForeignKeyViolationError,
    ManualClock,
    NotFoundError,
    ProcessRequestError,
    Registry,
    RouteInvalidError,
    SchemaViolationError,
    TcpRouteMappingInvalidError,
)


def route(port: int, **extra: Any) -> dict[str, Any]:
    return {"route": "a.example.com", "ip": "10.0.0.1", "port": port, **extra}


def group_guid(registry: Registry) -> str:
    group, _ = registry.create_router_group({"name": "g", "type": "tcp", "reservable_ports": "5000-5003"})
    guid = group["guid"]
    assert isinstance(guid, str)
    return guid


class TestApply:
    def test_every_op_applies_in_order_under_consecutive_revisions(
        self, registry: Registry, clock: ManualClock
    ) -> None:
        guid = group_guid(registry)
        mapping = {"router_group_guid": guid, "port": 5002, "backend_ip": "10.0.0.9", "backend_port": 80}
        events = registry.apply(
            [
                {"op": "upsert_http_route", "route": route(1)},
                {"op": "upsert_http_route", "route": route(2)},
                {"op": "delete_http_route", "route": route(1)},
                {"op": "create_router_group", "group": {"name": "h", "type": "tcp", "reservable_ports": "6000"}},
                {"op": "update_router_group", "guid": guid, "reservable_ports": "5000-5010"},
                {"op": "reserve_port", "router_group_guid": guid},
                {"op": "reserve_port", "router_group_guid": guid, "ttl": 2.5},
                {"op": "release_port", "router_group_guid": guid, "port": 5000},
                {"op": "upsert_tcp_route_mapping", "mapping": mapping},
                {"op": "upsert_tcp_route_mapping", "mapping": {**mapping, "backend_port": 81}},
                {"op": "delete_tcp_route_mapping", "mapping": mapping},
            ]
        )
        assert [e.revision for e in events] == list(range(2, 2 + len(events)))
        assert events[-1].revision == registry.revision
        assert [(e.action, e.kind) for e in events] == [
            ("upsert", "http_route"),
            ("upsert", "http_route"),
            ("delete", "http_route"),
            ("upsert", "router_group"),
            ("upsert", "router_group"),
            ("upsert", "port_reservation"),
            ("upsert", "port_reservation"),
            ("delete", "port_reservation"),
            ("upsert", "tcp_route_mapping"),
            ("upsert", "tcp_route_mapping"),
            ("delete", "tcp_route_mapping"),
        ]
        assert [r["port"] for r in registry.http_routes()] == [2]
        assert [r["port"] for r in registry.port_reservations()] == [5001]
        assert registry.port_reservations()[0]["expires_at"] == clock.now_ns() + 2_500_000_000
        assert [m["backend_port"] for m in registry.tcp_route_mappings()] == [81]
        assert registry.router_group(guid)["reservable_ports"] == "5000-5010"  # type: ignore[index]
        assert {g["name"] for g in registry.router_groups()} == {"g", "h"}

    def test_events_match_what_subscribers_see(self, registry: Registry) -> None:
        sub = registry.subscribe(timeout=0)
        events = registry.apply([{"op": "upsert_http_route", "route": route(p)} for p in (1, 2, 3)])
        assert list(sub) == events

    def test_delete_router_group(self, registry: Registry) -> None:
        guid = group_guid(registry)
        registry.apply([{"op": "delete_router_group", "guid": guid}])
        assert registry.router_groups() == []

    def test_an_empty_batch_commits_nothing(self, registry: Registry) -> None:
        assert registry.apply([]) == []
        assert registry.revision == 0

    def test_a_later_failure_undoes_every_change(self, registry: Registry) -> None:
        guid = group_guid(registry)
        revision = registry.revision
        sub = registry.subscribe(timeout=0)
        with pytest.raises(NotFoundError, match="is not reserved"):
            registry.apply(
                [
                    {"op": "upsert_http_route", "route": route(1)},
                    {"op": "reserve_port", "router_group_guid": guid},
                    {"op": "delete_router_group", "guid": guid},
                    {"op": "release_port", "router_group_guid": guid, "port": 5000},
                ]
            )
        assert registry.revision == revision
        assert registry.http_routes() == [] and registry.port_reservations() == []
        assert registry.router_group(guid) is not None
        assert list(sub) == []

    def test_each_change_sees_the_ones_before_it(self, registry: Registry) -> None:
        with pytest.raises(TcpRouteMappingInvalidError, match="not found"):
            registry.apply(
                [
                    {"op": "create_router_group", "group": {"name": "g", "type": "tcp", "reservable_ports": "5000"}},
                    {
                        "op": "upsert_tcp_route_mapping",
                        "mapping": {"router_group_guid": "unknown", "port": 5000, "backend_ip": "1.1.1.1", "backend_port": 1},
                    },
                ]
            )
        assert registry.router_groups() == []

    def test_core_validation_errors_pass_through(self, registry: Registry) -> None:
        with pytest.raises(RouteInvalidError, match="^Each route request requires a port greater than 0$"):
            registry.apply([{"op": "upsert_http_route", "route": route(1)}, {"op": "upsert_http_route", "route": route(0)}])
        with pytest.raises(ProcessRequestError, match="invalid type"):
            registry.apply([{"op": "upsert_http_route", "route": route("80")}])  # type: ignore[arg-type]
        with pytest.raises(ProcessRequestError, match="expected"):
            registry.apply([{"op": "upsert_http_route", "route": [route(1)]}])
        assert registry.revision == 0

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"route": {}}, "change 1: missing 'op'"),
            ({"op": 3}, "change 1: 'op' must be a str, not int"),
            ({"op": "upsert_tcp_route"}, "change 1: unknown op 'upsert_tcp_route'; expected one of upsert_http_route, "),
            ({"op": "upsert_route"}, "change 1: missing field 'route' for op 'upsert_route'"),
            ({"op": "put_route", "route": {}}, "change 1: missing field 'key' for op 'put_route'"),
            ({"op": "delete_router_group"}, "change 1: missing field 'guid' for op 'delete_router_group'"),
            ({"op": "delete_router_group", "guid": "g", "name": "x"}, "change 1: unexpected field 'name' for op 'delete_router_group'"),
            ({"op": "delete_router_group", "guid": 7}, "change 1: 'guid' must be a str, not int"),
            ({"op": "release_port", "router_group_guid": "g", "port": 70000}, "change 1: 'port' must be an int from 0 to 65535, not 70000"),
            ({"op": "reserve_port", "router_group_guid": "g", "ttl": -1}, "change 1: 'ttl' must be None or a non-negative number of seconds, not -1"),
            ({"op": "reserve_port", "router_group_guid": "g", "ttl": "1"}, "change 1: 'ttl' must be None or a non-negative number of seconds"),
        ],
    )
    def test_malformed_changes_name_their_position(
        self, registry: Registry, change: dict[str, Any], message: str
    ) -> None:
        with pytest.raises(ProcessRequestError) as info:
            registry.apply([{"op": "upsert_http_route", "route": route(1)}, change])
        assert str(info.value).startswith(message)
        assert info.value.name == "ProcessRequestError"
        assert registry.revision == 0

    def test_changes_must_be_dicts_in_a_list(self, registry: Registry) -> None:
        with pytest.raises(ProcessRequestError, match="^change 0: a change must be a dict, not list$"):
            registry.apply([[1]])  # type: ignore[list-item]
        with pytest.raises(TypeError):
            registry.apply({"op": "delete_router_group", "guid": "g"})  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="is not a JSON value"):
            registry.apply([{"op": "delete_router_group", "guid": object()}])


class TestKongChanges:
    def test_services_and_routes_in_one_batch(self, registry: Registry) -> None:
        events = registry.apply(
            [
                {"op": "put_service", "key": "shop", "service": {"host": "shop.internal"}},
                {"op": "upsert_service", "service": {"name": "cart", "host": "cart.internal"}},
                {"op": "put_route", "key": "web", "route": {"paths": ["/"]}},
                {"op": "upsert_route", "route": {"name": "api", "hosts": ["api.test"]}},
                {"op": "delete_route", "key": "web"},
                {"op": "delete_service", "key": "cart"},
            ]
        )
        assert [(e.action, e.kind) for e in events] == [
            ("upsert", "service"),
            ("upsert", "service"),
            ("upsert", "route"),
            ("upsert", "route"),
            ("delete", "route"),
            ("delete", "service"),
        ]
        assert [s["name"] for s in registry.services()] == ["shop"]
        assert [r["name"] for r in registry.routes()] == ["api"]
        assert events[0].object == registry.service("shop")

    def test_a_route_may_lead_to_a_service_created_earlier_in_the_batch(self, registry: Registry) -> None:
        service_id = "5f1b0a3e-0000-4000-8000-000000000001"
        registry.apply(
            [
                {"op": "upsert_service", "service": {"id": service_id, "host": "h.internal"}},
                {"op": "upsert_route", "route": {"paths": ["/"], "service": {"id": service_id}}},
            ]
        )
        assert registry.routes(service_id)[0]["service"] == {"id": service_id}

    def test_a_kong_failure_undoes_the_cf_changes_too(self, registry: Registry) -> None:
        missing = "5f1b0a3e-0000-4000-8000-000000000002"
        with pytest.raises(ForeignKeyViolationError):
            registry.apply(
                [
                    {"op": "upsert_http_route", "route": route(1)},
                    {"op": "upsert_route", "route": {"paths": ["/"], "service": {"id": missing}}},
                ]
            )
        assert registry.revision == 0 and registry.http_routes() == []
        with pytest.raises(SchemaViolationError, match="paths.1"):
            registry.apply([{"op": "upsert_route", "route": {"paths": ["x"]}}])
        with pytest.raises(NotFoundError):
            registry.apply([{"op": "delete_service", "key": "missing"}])
