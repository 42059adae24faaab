"""gobetween servers: create, refusals with gobetween's texts, statistics, delete,
dump and load, batches, snapshots and events."""

from __future__ import annotations

from typing import Any

import pytest

from routeyard import (
    ConflictError,
    InvalidArgumentError,
    ManualClock,
    NotFoundError,
    ProcessRequestError,
    Registry,
)


def server(port: int = 3000, *backends: str, **extra: Any) -> dict[str, Any]:
    lines = list(backends) or ["10.0.0.1:8000 weight=3", "10.0.0.2:8000"]
    return {
        "bind": f"0.0.0.0:{port}",
        "balance": "roundrobin",
        "discovery": {"kind": "static", "static_list": lines},
        **extra,
    }


# What gobetween shows for `server()` once prepared: every default filled in.
PREPARED = {
    "name": "web",
    "bind": "0.0.0.0:3000",
    "protocol": "tcp",
    "balance": "roundrobin",
    "max_connections": 0,
    "client_idle_timeout": "0",
    "backend_idle_timeout": "0",
    "backend_connection_timeout": "0",
    "discovery": {
        "kind": "static",
        "failpolicy": "keeplast",
        "interval": "0",
        "timeout": "0",
        "static_list": ["10.0.0.1:8000 weight=3", "10.0.0.2:8000"],
    },
    "healthcheck": {"kind": "none", "interval": "0", "passes": 1, "fails": 1, "timeout": "0"},
}


class TestCreate:
    def test_is_prepared_as_gobetween_does(self, registry: Registry) -> None:
        revision = registry.revision
        created = registry.create_server("web", server())
        assert created == PREPARED
        assert registry.revision > revision
        assert registry.server("web") == created
        assert registry.servers() == {"web": {k: v for k, v in PREPARED.items() if k != "name"}}
        assert registry.server("nope") is None

    def test_lands_as_a_service_with_an_upstream_and_a_stream_route(self, registry: Registry) -> None:
        registry.create_server("web", server())
        service = registry.service("web")
        route = registry.route("web")
        assert service is not None and route is not None
        assert service["tags"] == ["gobetween"] and route["tags"] == ["gobetween"]
        assert route["protocols"] == ["tcp"]
        assert route["destinations"] == [{"ip": None, "port": 3000}]
        upstream = registry.upstream("web")
        assert upstream is not None
        assert upstream["config"]["strategy"] == "roundrobin"
        assert [(b["address"], b["port"], b["weight"]) for b in upstream["backends"]] == [
            ("10.0.0.1", 8000, 3),
            ("10.0.0.2", 8000, 1),
        ]

    def test_a_stream_request_to_the_bind_port_picks_by_weight(self, registry: Registry) -> None:
        registry.create_server("web", server())
        chosen = []
        for _ in range(8):
            m = registry.match(protocol="tcp", destination="192.0.2.10:3000", pick=True)
            assert m is not None and m.route_id is not None
            chosen.append(m.backend)
        assert chosen.count(("10.0.0.1", 8000)) == 6
        assert chosen.count(("10.0.0.2", 8000)) == 2
        assert registry.match(protocol="tcp", destination="192.0.2.10:3001", pick=True) is None

    def test_a_duplicate_name_keeps_gobetweens_text(self, registry: Registry) -> None:
        registry.create_server("web", server())
        revision = registry.revision
        with pytest.raises(ConflictError) as info:
            registry.create_server("web", server(3001))
        assert str(info.value) == "Server with this name already exists: web"
        assert info.value.name == "DBConflictError"  # CF's name for a conflict
        assert registry.revision == revision

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            ({"discovery": {"kind": "static", "static_list": []}}, "No bind specified for server bad"),
            ({"bind": "0.0.0.0:1"}, "No .discovery specified for server bad"),
            ({**server(), "balance": "random"}, "Not supported balance type random"),
            ({**server(), "protocol": "http"}, "Not supported protocol http"),
            ({**server(), "protocol": "tls"}, "Need tls section for tls protocol"),
            ({"bind": "0.0.0.0:1", "discovery": {"kind": "consul"}}, "Not supported discovery kind consul"),
            (
                {**server(), "backend_idle_timeout": "soon"},
                'backend_idle_timeout parsing error: time: invalid duration "soon"',
            ),
            (
                {**server(), "healthcheck": {"kind": "ping", "interval": "0s"}},
                "Healthcheck interval should be greater than 0s",
            ),
            (server(3000, "nope"), "Cant parse nope"),
            (server(3000, "10.0.0.1:0"), "Cant parse 10.0.0.1:0: port 0 is not between 1 and 65535"),
            (
                {**server(), "bind": "0.0.0.0:99999"},
                "bind 0.0.0.0:99999 is not host:port with a port between 1 and 65535",
            ),
        ],
    )
    def test_a_refused_server_keeps_gobetweens_text_and_changes_nothing(
        self, registry: Registry, body: dict[str, Any], message: str
    ) -> None:
        with pytest.raises(InvalidArgumentError) as info:
            registry.create_server("bad", body)
        assert str(info.value) == message
        assert registry.revision == 0
        assert registry.servers() == {}
        assert registry.service("bad") is None

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            ({"bind": 5}, "json: cannot unmarshal number into Go struct field Server.bind of type string"),
            (
                {**server(), "max_connections": "x"},
                "json: cannot unmarshal string into Go struct field Server.max_connections of type int",
            ),
        ],
    )
    def test_a_body_that_does_not_decode(self, registry: Registry, body: dict[str, Any], message: str) -> None:
        with pytest.raises(ProcessRequestError) as info:
            registry.create_server("bad", body)
        assert str(info.value) == message
        assert registry.revision == 0

    def test_a_name_taken_by_a_service_or_unfit_for_one(self, registry: Registry) -> None:
        registry.create_service({"name": "taken", "host": "h"})
        with pytest.raises(ConflictError, match="a service or route named 'taken' exists already"):
            registry.create_server("taken", server())
        with pytest.raises(InvalidArgumentError, match="server name 'bad name' cannot name its service"):
            registry.create_server("bad name", server())
        assert registry.servers() == {}

    def test_a_value_that_is_not_json(self, registry: Registry) -> None:
        with pytest.raises(TypeError):
            registry.create_server("web", {"bind": object()})


class TestDelete:
    def test_takes_everything_the_server_landed_as(self, registry: Registry) -> None:
        registry.create_server("web", server())
        assert registry.delete_server("web") == registry.revision
        assert registry.server("web") is None
        assert registry.service("web") is None
        assert registry.route("web") is None
        assert registry.upstream("web") is None
        assert registry.server_stats("web") is None

    def test_an_unknown_name(self, registry: Registry) -> None:
        with pytest.raises(NotFoundError) as info:
            registry.delete_server("web")
        assert str(info.value) == "Server not found"


class TestStats:
    def test_in_gobetweens_shape(self, registry: Registry, clock: ManualClock) -> None:
        registry.create_server("web", server(3000, "10.0.0.1:8000 weight=3 priority=2", "10.0.0.2:8000"))
        conn = registry.connect(protocol="tcp", destination="192.0.2.10:3000")
        assert conn is not None
        conn.established()
        conn.add_rx(1000)
        registry.sample_stats()
        conn.add_rx(3000)
        conn.add_tx(800)
        clock.advance(2)
        registry.sample_stats()
        stats = registry.server_stats("web")
        assert stats is not None
        # Priority 1 (gobetween's default) is preferred over 2.
        assert conn.backend == ("10.0.0.2", 8000)
        assert {k: v for k, v in stats.items() if k != "backends"} == {
            "active_connections": 1,
            "rx_total": 4000,
            "tx_total": 800,
            "rx_second": 1500,
            "tx_second": 400,
        }
        assert [(b["host"], b["port"], b["priority"], b["weight"]) for b in stats["backends"]] == [
            ("10.0.0.1", "8000", 2, 3),
            ("10.0.0.2", "8000", 1, 1),
        ]
        assert stats["backends"][1]["stats"] == {
            "live": True,
            "discovered": True,
            "total_connections": 1,
            "active_connections": 1,
            "refused_connections": 0,
            "rx": 4000,
            "tx": 800,
            "rx_second": 1500,
            "tx_second": 400,
        }
        assert stats == registry.pool_stats("web")
        conn.close()
        stats = registry.server_stats("web")
        assert stats is not None and stats["active_connections"] == 0

    def test_unknown_server(self, registry: Registry) -> None:
        assert registry.server_stats("web") is None
        # A plain service with an upstream is no server.
        registry.create_service({"name": "plain", "host": "h"})
        registry.put_upstream("plain", [{"address": "10.0.0.1", "port": 1}])
        assert registry.server_stats("plain") is None


CONFIG = """[defaults]
max_connections = 7
client_idle_timeout = "10m"

[servers.one]
bind = "0.0.0.0:4001"

[servers.one.discovery]
kind = "static"
static_list = ["10.0.0.1:80"]

[servers.two]
bind = "0.0.0.0:4002"
max_connections = 3

[servers.two.discovery]
kind = "static"
static_list = ["10.0.0.2:80 weight=4 priority=2 max_connections=9"]
"""


class TestDumpAndLoad:
    @pytest.mark.parametrize("fmt", ["json", "toml"])
    def test_a_dump_loads_back_into_the_same_servers(self, registry: Registry, fmt: Any) -> None:
        registry.create_server("web", server())
        registry.create_server("db", server(5432, "10.0.1.1:5432"))
        text = registry.dump_servers(fmt)
        other = Registry()
        assert other.load_servers(text, fmt) == other.revision
        assert other.servers() == registry.servers()
        assert other.dump_servers(fmt) == text

    def test_the_dump_in_each_syntax(self, registry: Registry) -> None:
        assert registry.dump_servers() == "{}"
        registry.create_server("web", server())
        json_dump = registry.dump_servers()
        assert json_dump.startswith('{\n    "servers": {\n        "web": {\n            "bind": "0.0.0.0:3000",')
        toml_dump = registry.dump_servers("toml")
        assert toml_dump.startswith('[servers.web]\nbind = "0.0.0.0:3000"\n')
        assert 'static_list = ["10.0.0.1:8000 weight=3", "10.0.0.2:8000"]' in toml_dump

    def test_load_applies_the_documents_defaults(self, registry: Registry) -> None:
        registry.load_servers(CONFIG, "toml")
        one, two = registry.server("one"), registry.server("two")
        assert one is not None and two is not None
        assert (one["max_connections"], one["client_idle_timeout"]) == (7, "10m")
        assert (two["max_connections"], two["client_idle_timeout"]) == (3, "10m")
        upstream = registry.upstream("two")
        assert upstream is not None
        assert upstream["backends"][0]["tier"] == 2
        assert upstream["backends"][0]["weight"] == 4
        assert upstream["backends"][0]["max_connections"] == 9

    def test_load_is_all_or_nothing(self, registry: Registry) -> None:
        registry.create_server("two", server(9000))
        revision = registry.revision
        with pytest.raises(ConflictError, match="Server with this name already exists: two"):
            registry.load_servers(CONFIG, "toml")
        assert registry.revision == revision
        assert list(registry.servers()) == ["two"]

    @pytest.mark.parametrize(
        ("text", "fmt", "error", "message"),
        [
            ("{", "json", ProcessRequestError, "EOF while parsing"),
            ('[servers.a]\nbind = 1\n', "toml", ProcessRequestError, "toml: incompatible types"),
            ('[servers.a]\nbind = "0.0.0.0:1"\n', "toml", InvalidArgumentError, "No .discovery specified for server a"),
            ("{}", "yaml", InvalidArgumentError, "unknown format 'yaml'; expected json or toml"),
        ],
    )
    def test_bad_documents(self, registry: Registry, text: str, fmt: Any, error: type[Exception], message: str) -> None:
        with pytest.raises(error, match=message):
            registry.load_servers(text, fmt)
        assert registry.revision == 0

    def test_dump_refuses_an_unknown_format(self, registry: Registry) -> None:
        with pytest.raises(InvalidArgumentError, match="unknown format 'xml'"):
            registry.dump_servers("xml")  # type: ignore[arg-type]


class TestBatches:
    def test_create_and_delete(self, registry: Registry) -> None:
        events = registry.apply(
            [
                {"op": "create_server", "name": "web", "server": server()},
                {"op": "create_server", "name": "db", "server": server(5432, "10.0.1.1:5432")},
                {"op": "delete_server", "name": "web"},
            ]
        )
        assert [e.revision for e in events] == list(range(1, registry.revision + 1))
        server_events = [(e.action, e.object["name"]) for e in events if e.kind == "server"]
        assert server_events == [("upsert", "web"), ("upsert", "db"), ("delete", "web")]
        assert list(registry.servers()) == ["db"]
        assert registry.service("web") is None

    def test_atomic(self, registry: Registry) -> None:
        with pytest.raises(InvalidArgumentError, match="Not supported balance type random"):
            registry.apply(
                [
                    {"op": "create_server", "name": "web", "server": server()},
                    {"op": "create_server", "name": "db", "server": {**server(1), "balance": "random"}},
                ]
            )
        with pytest.raises(ConflictError, match="Server with this name already exists: web"):
            registry.apply(
                [
                    {"op": "create_server", "name": "web", "server": server()},
                    {"op": "create_server", "name": "web", "server": server(1)},
                ]
            )
        with pytest.raises(NotFoundError, match="Server not found"):
            registry.apply(
                [
                    {"op": "create_server", "name": "web", "server": server()},
                    {"op": "delete_server", "name": "nope"},
                ]
            )
        assert registry.revision == 0
        assert registry.servers() == {}
        assert registry.services() == []

    @pytest.mark.parametrize(
        ("change", "error", "message"),
        [
            ({"op": "create_server", "name": "web"}, ProcessRequestError, "change 0: missing field 'server'"),
            ({"op": "create_server", "server": {}}, ProcessRequestError, "change 0: missing field 'name'"),
            ({"op": "delete_server", "name": 3}, ProcessRequestError, "change 0: 'name' must be a str, not int"),
            (
                {"op": "create_server", "name": "web", "server": {"bind": 5}},
                ProcessRequestError,
                "json: cannot unmarshal number into Go struct field Server.bind of type string",
            ),
            ({"op": "create_server", "name": "web", "server": 3}, ProcessRequestError, "json: cannot unmarshal"),
        ],
    )
    def test_shape_errors(
        self, registry: Registry, change: dict[str, Any], error: type[Exception], message: str
    ) -> None:
        with pytest.raises(error, match=message):
            registry.apply([change])
        assert registry.revision == 0


class TestSnapshots:
    def test_round_trip_with_servers(self, registry: Registry, clock: ManualClock) -> None:
        registry.create_server("web", server(3000, "10.0.0.1:8000 weight=3 priority=2 max_connections=5 sni=a.test"))
        registry.load_servers(CONFIG, "toml")
        snapshot = registry.snapshot()
        assert [s["name"] for s in snapshot["servers"]] == ["one", "two", "web"]
        assert snapshot["servers"][2] == registry.server("web")
        target = Registry(max_ttl=120, clock=clock)
        sub = target.subscribe(kinds=["server"], timeout=0)
        target.restore(snapshot)
        assert sorted(e.object["name"] for e in sub) == ["one", "two", "web"]
        assert {**target.snapshot(), "revision": 0} == {**snapshot, "revision": 0}
        assert target.servers() == registry.servers()
        revision = target.revision
        assert target.restore(snapshot) == revision
        m = target.match(protocol="tcp", destination="192.0.2.1:4002", pick=True)
        assert m is not None and m.backend == ("10.0.0.2", 80)

    def test_restore_removes_servers_the_snapshot_lacks(self, registry: Registry) -> None:
        empty = registry.snapshot()
        registry.create_server("web", server())
        registry.restore(empty)
        assert registry.servers() == {}
        assert registry.service("web") is None

    @pytest.mark.parametrize(
        ("servers", "error", "message"),
        [
            ([3], ProcessRequestError, r"servers\[0\] must be a dict, not int"),
            ([{"bind": "0.0.0.0:1"}], ProcessRequestError, r"servers\[0\]\['name'\] must be a str, not None"),
            ([{"name": "x", "bind": 5}], ProcessRequestError, "json: cannot unmarshal number"),
        ],
    )
    def test_bad_servers_in_a_snapshot(
        self, registry: Registry, servers: list[Any], error: type[Exception], message: str
    ) -> None:
        snapshot = registry.snapshot()
        with pytest.raises(error, match=message):
            registry.restore({**snapshot, "servers": servers})
        assert registry.revision == 0


class TestEvents:
    def test_server_events(self, registry: Registry) -> None:
        sub = registry.subscribe(kinds=["server"], timeout=0)
        created = registry.create_server("web", server())
        registry.delete_server("web")
        events = list(sub)
        assert [(e.action, e.kind) for e in events] == [("upsert", "server"), ("delete", "server")]
        assert events[0].object == created
        assert events[1].object == created
        assert events[0].expires_at is None

    def test_a_server_commits_its_service_upstream_and_route(self, registry: Registry) -> None:
        sub = registry.subscribe(timeout=0)
        registry.create_server("web", server())
        assert sorted(e.kind for e in sub) == ["route", "server", "service", "upstream"]

    def test_unknown_kinds_name_the_new_ones(self, registry: Registry) -> None:
        with pytest.raises(ProcessRequestError, match="upstream, server"):
            registry.subscribe(kinds=["servers"])  # type: ignore[list-item]
