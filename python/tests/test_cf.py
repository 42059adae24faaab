"""Cloud Foundry objects: HTTP routes, TCP route mappings, router groups, port reservation."""

from __future__ import annotations

from typing import Any

import pytest

from routeyard import (
    InvalidArgumentError,
    ManualClock,
    NotFoundError,
    PortRangeExhaustedError,
    ProcessRequestError,
    Registry,
    RouteInvalidError,
    RouterGroupInvalidError,
    RouteServiceUrlInvalidError,
    TcpRouteMappingInvalidError,
)


def http_route(route: str = "a.example.com/app", port: int = 8080, **extra: Any) -> dict[str, Any]:
    return {"route": route, "ip": "10.0.0.1", "port": port, **extra}


def tcp_group(registry: Registry, ports: str = "5000-5002", name: str = "tcp-1") -> str:
    group, _ = registry.create_router_group({"name": name, "type": "tcp", "reservable_ports": ports})
    guid = group["guid"]
    assert isinstance(guid, str)
    return guid


def mapping(guid: str, port: int = 5000, backend_port: int = 6000, **extra: Any) -> dict[str, Any]:
    return {
        "router_group_guid": guid,
        "port": port,
        "backend_ip": "10.0.0.9",
        "backend_port": backend_port,
        **extra,
    }


class TestHttpRoutes:
    def test_upsert_lists_the_route_in_cf_shape(self, registry: Registry) -> None:
        revision = registry.upsert_http_routes([http_route(ttl=30, log_guid="lg")])
        assert revision == registry.revision == 1
        [route] = registry.http_routes()
        assert set(route) == {"route", "ip", "port", "ttl", "log_guid", "modification_tag"}
        assert (route["route"], route["ip"], route["port"], route["ttl"], route["log_guid"]) == (
            "a.example.com/app",
            "10.0.0.1",
            8080,
            30,
            "lg",
        )
        assert route["modification_tag"]["index"] == 0
        assert route["modification_tag"]["guid"]

    def test_a_route_without_ttl_gets_max_ttl(self, registry: Registry) -> None:
        registry.upsert_http_routes([http_route()])
        assert registry.http_routes()[0]["ttl"] == 120

    def test_a_route_service_url_is_kept(self, registry: Registry) -> None:
        registry.upsert_http_routes([http_route(route_service_url="https://rs.example.com")])
        assert registry.http_routes()[0]["route_service_url"] == "https://rs.example.com"

    def test_renewal_keeps_the_tag_guid_and_bumps_its_index(self, registry: Registry) -> None:
        registry.upsert_http_routes([http_route()])
        first = registry.http_routes()[0]["modification_tag"]
        registry.upsert_http_routes([http_route(ttl=60)])
        [route] = registry.http_routes()
        assert route["modification_tag"] == {"guid": first["guid"], "index": 1}
        assert route["ttl"] == 60

    def test_a_lapsed_route_is_never_listed(self, registry: Registry, clock: ManualClock) -> None:
        registry.upsert_http_routes([http_route(ttl=10)])
        clock.advance(9.5)
        assert len(registry.http_routes()) == 1
        clock.advance(0.5)
        assert registry.http_routes() == []

    def test_delete_removes_by_key_and_skips_absent_routes(self, registry: Registry) -> None:
        registry.upsert_http_routes([http_route(port=1), http_route(port=2)])
        registry.delete_http_routes([http_route(port=1), http_route(port=3)])
        assert [r["port"] for r in registry.http_routes()] == [2]

    @pytest.mark.parametrize(
        ("route", "cls", "message"),
        [
            (http_route(port=0), RouteInvalidError, "Each route request requires a port greater than 0"),
            (http_route(ip=""), RouteInvalidError, "Each route request requires an IP"),
            (http_route(ttl=121), RouteInvalidError, "Max ttl is 120"),
            (http_route(ttl=0), RouteInvalidError, "Request requires a ttl greater than 0"),
            (
                http_route(route_service_url="http://rs.example.com"),
                RouteServiceUrlInvalidError,
                "Route service url must use HTTPS.",
            ),
        ],
    )
    def test_invalid_routes_raise_cf_errors_and_change_nothing(
        self, registry: Registry, route: dict[str, Any], cls: type[Exception], message: str
    ) -> None:
        with pytest.raises(cls) as info:
            registry.upsert_http_routes([http_route(port=1), route])
        assert str(info.value) == message
        assert registry.revision == 0
        assert registry.http_routes() == []

    def test_error_names_are_cfs(self, registry: Registry) -> None:
        with pytest.raises(RouteInvalidError) as route_err:
            registry.upsert_http_routes([http_route(port=0)])
        assert route_err.value.name == "RouteInvalidError"
        with pytest.raises(RouteServiceUrlInvalidError) as url_err:
            registry.upsert_http_routes([http_route(route_service_url="http://x")])
        assert url_err.value.name == "RouteServiceUrlInvalidError"

    def test_undecodable_routes_cannot_be_processed(self, registry: Registry) -> None:
        with pytest.raises(ProcessRequestError, match="invalid type"):
            registry.upsert_http_routes([http_route(port="80")])  # type: ignore[arg-type]
        with pytest.raises(ProcessRequestError):
            registry.upsert_http_routes([http_route(port=65536)])
        with pytest.raises(ProcessRequestError, match="expected a sequence"):
            registry.upsert_http_routes(http_route())  # type: ignore[arg-type]
        assert registry.revision == 0

    def test_delete_checks_routes_but_not_ttl(self, registry: Registry) -> None:
        registry.upsert_http_routes([http_route()])
        registry.delete_http_routes([http_route(ttl=9999)])
        assert registry.http_routes() == []
        with pytest.raises(RouteInvalidError):
            registry.delete_http_routes([http_route(port=0)])


class TestTcpRouteMappings:
    def test_upsert_and_list(self, registry: Registry) -> None:
        guid = tcp_group(registry)
        registry.upsert_tcp_route_mappings([mapping(guid, ttl=30)])
        [m] = registry.tcp_route_mappings()
        assert (m["router_group_guid"], m["port"], m["backend_ip"], m["backend_port"], m["ttl"]) == (
            guid,
            5000,
            "10.0.0.9",
            6000,
            30,
        )
        assert m["modification_tag"]["index"] == 0

    def test_an_unknown_router_group_is_refused(self, registry: Registry) -> None:
        with pytest.raises(TcpRouteMappingInvalidError, match="router_group_guid: nope not found") as info:
            registry.upsert_tcp_route_mappings([mapping("nope")])
        assert info.value.name == "TcpRouteMappingInvalidError"

    def test_invalid_mappings_keep_cfs_messages(self, registry: Registry) -> None:
        guid = tcp_group(registry)
        revision = registry.revision
        with pytest.raises(
            TcpRouteMappingInvalidError, match="^Each tcp mapping requires a positive external port."
        ):
            registry.upsert_tcp_route_mappings([mapping(guid), mapping(guid, port=0)])
        with pytest.raises(
            TcpRouteMappingInvalidError, match="^Each tcp mapping requires TTL to be less than or equal to 120."
        ):
            registry.upsert_tcp_route_mappings([mapping(guid, ttl=121)])
        assert registry.revision == revision
        assert registry.tcp_route_mappings() == []

    def test_isolation_segments_filter(self, registry: Registry) -> None:
        guid = tcp_group(registry)
        registry.upsert_tcp_route_mappings(
            [
                mapping(guid, backend_port=1),
                mapping(guid, backend_port=2, isolation_segment="is1"),
                mapping(guid, backend_port=3, isolation_segment="is2"),
            ]
        )
        assert len(registry.tcp_route_mappings()) == 3

        def ports(mappings: list[dict[str, Any]]) -> list[int]:
            return sorted(m["backend_port"] for m in mappings)

        assert ports(registry.tcp_route_mappings(isolation_segments=["is1"])) == [2]
        assert ports(registry.tcp_route_mappings(["", "is2"])) == [1, 3]
        assert registry.tcp_route_mappings([]) == []

    def test_delete_and_lapse(self, registry: Registry, clock: ManualClock) -> None:
        guid = tcp_group(registry)
        registry.upsert_tcp_route_mappings([mapping(guid, backend_port=1, ttl=5), mapping(guid, backend_port=2)])
        registry.delete_tcp_route_mappings([mapping(guid, backend_port=2)])
        assert [m["backend_port"] for m in registry.tcp_route_mappings()] == [1]
        clock.advance(5)
        assert registry.tcp_route_mappings() == []
        with pytest.raises(TcpRouteMappingInvalidError):
            registry.delete_tcp_route_mappings([mapping(guid, port=0)])


class TestRouterGroups:
    def test_get_by_guid_and_by_name(self, registry: Registry) -> None:
        guid = tcp_group(registry)
        group = registry.router_group(guid)
        assert group is not None and group["name"] == "tcp-1"
        assert registry.router_group("unknown") is None
        assert registry.router_group_by_name("tcp-1") == group
        with pytest.raises(NotFoundError, match="^router group 'other' not found$") as info:
            registry.router_group_by_name("other")
        assert info.value.name == "ResourceNotFoundError"

    def test_update_replaces_the_ports(self, registry: Registry) -> None:
        guid = tcp_group(registry)
        group = registry.update_router_group(guid, "6000-6010")
        assert group["reservable_ports"] == "6000-6010"
        assert registry.router_group(guid) == group
        revision = registry.revision
        registry.update_router_group(guid, "6000-6010")
        assert registry.revision == revision  # unchanged: nothing committed

    def test_update_is_validated(self, registry: Registry) -> None:
        guid = tcp_group(registry)
        with pytest.raises(RouterGroupInvalidError, match="port must be between 1024 and 65535"):
            registry.update_router_group(guid, "80")
        with pytest.raises(NotFoundError):
            registry.update_router_group("unknown", "6000")
        assert registry.router_group(guid) == registry.router_group_by_name("tcp-1")
        assert registry.router_group_by_name("tcp-1")["reservable_ports"] == "5000-5002"

    def test_delete(self, registry: Registry) -> None:
        guid = tcp_group(registry)
        assert registry.delete_router_group(guid) == registry.revision
        assert registry.router_groups() == []
        with pytest.raises(NotFoundError):
            registry.delete_router_group(guid)

    def test_reserved_ports_cannot_be_made_reservable(self, clock: ManualClock) -> None:
        registry = Registry(clock=clock, reserved_ports=[5001])
        with pytest.raises(RouterGroupInvalidError):
            registry.create_router_group({"name": "g", "type": "tcp", "reservable_ports": "5000-5002"})
        registry.create_router_group({"name": "g", "type": "tcp", "reservable_ports": "5002-5003"})


class TestPortReservations:
    def test_reserve_takes_the_lowest_free_port(self, registry: Registry, clock: ManualClock) -> None:
        guid = tcp_group(registry)
        first = registry.reserve_port(guid)
        assert first == {
            "router_group_guid": guid,
            "port": 5000,
            "expires_at": (1_000 + 120) * 1_000_000_000,
        }
        second = registry.reserve_port(guid, ttl=1.5)
        assert second["port"] == 5001
        assert second["expires_at"] == clock.now_ns() + 1_500_000_000
        assert sorted(r["port"] for r in registry.port_reservations()) == [5000, 5001]

    def test_a_mapping_claims_the_reservation_of_its_port(self, registry: Registry) -> None:
        guid = tcp_group(registry)
        port = registry.reserve_port(guid)["port"]
        registry.upsert_tcp_route_mappings([mapping(guid, port=port)])
        assert registry.port_reservations() == []
        assert registry.reserve_port(guid)["port"] == 5001

    def test_reservations_lapse(self, registry: Registry, clock: ManualClock) -> None:
        guid = tcp_group(registry)
        registry.reserve_port(guid, ttl=2)
        clock.advance(2)
        assert registry.port_reservations() == []
        with pytest.raises(NotFoundError, match="is not reserved"):
            registry.release_port(guid, 5000)
        assert registry.reserve_port(guid)["port"] == 5000

    def test_release(self, registry: Registry) -> None:
        guid = tcp_group(registry)
        registry.reserve_port(guid)
        assert registry.release_port(guid, 5000) == registry.revision
        assert registry.port_reservations() == []
        with pytest.raises(NotFoundError, match=f"^port 5000 of router group '{guid}' is not reserved$"):
            registry.release_port(guid, 5000)

    def test_exhaustion_unknown_groups_and_zero_ttls(self, registry: Registry) -> None:
        guid = tcp_group(registry, ports="5000-5001")
        registry.reserve_port(guid)
        registry.reserve_port(guid)
        with pytest.raises(PortRangeExhaustedError, match="There are no free ports in range") as info:
            registry.reserve_port(guid)
        assert info.value.name == "PortRangeExhaustedError"
        with pytest.raises(NotFoundError):
            registry.reserve_port("unknown")
        with pytest.raises(InvalidArgumentError, match="requires a ttl greater than 0"):
            registry.reserve_port(guid, ttl=0)
        with pytest.raises(InvalidArgumentError, match="ttl must be a number of seconds"):
            registry.reserve_port(guid, ttl=-1)

    def test_reservation_ttl_is_configurable(self, clock: ManualClock) -> None:
        registry = Registry(clock=clock, reservation_ttl=7)
        guid = tcp_group(registry)
        assert registry.reserve_port(guid)["expires_at"] == clock.now_ns() + 7_000_000_000

    def test_reserve_port_in_range(self, registry: Registry) -> None:
        tcp_group(registry, ports="5000-5001", name="taken")
        port = registry.reserve_port_in_range("mine", "5000-5010")
        assert port == 5002
        assert registry.router_group_by_name("mine")["reservable_ports"] == "5002"
        assert registry.router_group_by_name("mine")["type"] == "tcp"
        assert registry.reserve_port_in_range("mine", "5000-5010") == 5003
        assert registry.router_group_by_name("mine")["reservable_ports"] == "5003"

    @pytest.mark.parametrize(
        ("range_", "cls", "message"),
        [
            ("5000-5001,6000-6001", ProcessRequestError, "multiple port ranges are not supported"),
            ("5000", ProcessRequestError, "single port is not supported"),
            ("80-90", RouterGroupInvalidError, "port must be between 1024 and 65535"),
        ],
    )
    def test_reserve_port_in_range_refusals(
        self, registry: Registry, range_: str, cls: type[Exception], message: str
    ) -> None:
        with pytest.raises(cls, match=f"^{message}$"):
            registry.reserve_port_in_range("mine", range_)
        assert registry.router_groups() == []

    def test_a_full_range_is_exhausted(self, registry: Registry) -> None:
        tcp_group(registry, ports="5000-5001", name="taken")
        with pytest.raises(PortRangeExhaustedError, match=r"^There are no free ports in range: \[5000-5001\]$"):
            registry.reserve_port_in_range("mine", "5000-5001")
