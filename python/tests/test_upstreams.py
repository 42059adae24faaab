"""Upstreams: backends and balancing of a service, version splits, connection slots,
draining, statistics, batches, snapshots and events."""

from __future__ import annotations

import gc
from collections import Counter
from typing import Any

import pytest

from routeyard import (
    Connection,
    ForeignKeyViolationError,
    InvalidArgumentError,
    ManualClock,
    NotFoundError,
    ProcessRequestError,
    Registry,
    Subscription,
)

HOST = "api.example.com"


def backend(last: int, **extra: Any) -> dict[str, Any]:
    return {"address": f"10.0.0.{last}", "port": 80, **extra}


def addr(last: int) -> tuple[str, int]:
    return (f"10.0.0.{last}", 80)


@pytest.fixture
def service(registry: Registry) -> dict[str, Any]:
    """A service `web` with one route on HOST leading to it."""
    svc = registry.create_service({"name": "web", "host": "web.internal"})
    registry.create_route({"name": "web-route", "hosts": [HOST], "service": {"id": svc["id"]}})
    return svc


def picks(registry: Registry, n: int, **request: Any) -> Counter[tuple[str, int] | None]:
    out: Counter[tuple[str, int] | None] = Counter()
    for _ in range(n):
        m = registry.match(host=HOST, pick=True, **request)
        assert m is not None
        out[m.backend] += 1
    return out


def connect(registry: Registry, **request: Any) -> Connection:
    conn = registry.connect(host=HOST, **request)
    assert conn is not None
    return conn


class TestPutUpstream:
    def test_returns_the_stored_upstream_with_defaults(
        self, registry: Registry, service: dict[str, Any]
    ) -> None:
        revision = registry.revision
        upstream = registry.put_upstream("web", [backend(1)])
        assert upstream == {
            "service_id": service["id"],
            "backends": [
                {"address": "10.0.0.1", "port": 80, "weight": 1, "tier": 0, "state": "live", "discovered": True}
            ],
            "config": {"strategy": "roundrobin"},
        }
        assert registry.revision == revision + 1
        # By name or by id, and in the list.
        assert registry.upstream("web") == upstream
        assert registry.upstream(service["id"]) == upstream
        assert registry.upstreams() == [upstream]

    def test_every_field_round_trips(self, registry: Registry, service: dict[str, Any]) -> None:
        full = {
            "address": "backend.internal",
            "port": 8443,
            "weight": 5,
            "tier": 2,
            "version": "v7",
            "max_connections": 10,
            "state": "draining",
            "discovered": False,
            "metadata": {"instance_id": "i-1", "log_guid": "g"},
        }
        config = {"strategy": "hash", "seed": 42, "split": {"split": {"v7": 100}, "fallback": "drop", "sticky": True}}
        upstream = registry.put_upstream("web", [full], config)
        assert upstream["backends"] == [full]
        assert upstream["config"] == config

    @pytest.mark.parametrize(
        "strategy", ["roundrobin", "random", "leastconn", "hash", "iphash", "iphash1", "leastbandwidth", "weight"]
    )
    def test_every_strategy_is_accepted(self, registry: Registry, service: dict[str, Any], strategy: str) -> None:
        registry.put_upstream("web", [backend(1)], {"strategy": strategy})
        assert picks(registry, 3, source="192.0.2.1:5000") == {addr(1): 3}

    def test_unknown_service(self, registry: Registry) -> None:
        with pytest.raises(NotFoundError):
            registry.put_upstream("nope", [backend(1)])

    @pytest.mark.parametrize(
        ("backends", "config", "error", "message"),
        [
            ("x", None, ProcessRequestError, "backends must be a list of dicts, not str"),
            ([1], None, ProcessRequestError, r"backends\[0\] must be a dict, not int"),
            ([{"address": "a"}], None, ProcessRequestError, r"backends\[0\]: missing field `port`"),
            ([{"address": "a", "port": 70000}], None, ProcessRequestError, "70000"),
            ([{"address": "a", "port": 1, "state": "zombie"}], None, ProcessRequestError, "unknown variant `zombie`"),
            ([{"address": "a", "port": 1, "tier": -1}], None, ProcessRequestError, "integer `-1`, expected u32"),
            (
                [{"address": "a", "port": 1, "wieght": 2}],
                None,
                ProcessRequestError,
                r"backends\[0\]: unexpected key 'wieght'",
            ),
            ([], {"strategy": "fastest"}, InvalidArgumentError, 'unknown balance strategy "fastest"'),
            ([], {"bogus": 1}, ProcessRequestError, "config: unexpected key 'bogus'"),
            ([], {"split": {"percent": {}}}, ProcessRequestError, r"config\['split'\]: unexpected key 'percent'"),
            ([], {"seed": -1}, ProcessRequestError, "config: invalid value"),
            ([], [1], ProcessRequestError, "config must be a dict, not list"),
        ],
    )
    def test_bad_input_changes_nothing(
        self,
        registry: Registry,
        service: dict[str, Any],
        backends: Any,
        config: Any,
        error: type[Exception],
        message: str,
    ) -> None:
        revision = registry.revision
        with pytest.raises(error, match=message):
            registry.put_upstream("web", backends, config)
        assert registry.revision == revision
        assert registry.upstream("web") is None

    def test_an_invalid_split_in_the_config_applies_its_fallback(
        self, registry: Registry, service: dict[str, Any]
    ) -> None:
        # Unlike set_split, put_upstream stores the configuration as given; a split
        # its backends cannot serve applies the fallback.
        split = {"split": {"v1": 50, "v2": 50}, "fallback": "drop", "sticky": False}
        upstream = registry.put_upstream("web", [backend(1, version="v1")], {"split": split})
        assert upstream["config"]["split"] == split
        assert picks(registry, 3) == {None: 3}
        registry.put_upstream("web", [backend(1, version="v1")], {"split": {**split, "fallback": "random"}})
        assert picks(registry, 3) == {addr(1): 3}

    def test_delete_upstream(self, registry: Registry, service: dict[str, Any]) -> None:
        registry.put_upstream("web", [backend(1)])
        assert registry.delete_upstream("web") == registry.revision
        assert registry.upstream("web") is None
        assert registry.upstreams() == []
        m = registry.match(host=HOST, pick=True)
        assert m is not None and m.backend is None
        with pytest.raises(NotFoundError):
            registry.delete_upstream("web")
        with pytest.raises(NotFoundError):
            registry.delete_upstream("nope")

    def test_a_deleted_service_takes_its_upstream(self, registry: Registry) -> None:
        registry.create_service({"name": "lonely", "host": "h"})
        registry.put_upstream("lonely", [backend(1)])
        registry.delete_service("lonely")
        assert registry.upstreams() == []


class TestPicking:
    def test_weights_1_2_7_round_robin_exact_over_1000_picks(
        self, registry: Registry, service: dict[str, Any]
    ) -> None:
        registry.put_upstream(
            "web",
            [backend(1, weight=1), backend(2, weight=2), backend(3, weight=7)],
            {"strategy": "roundrobin"},
        )
        assert picks(registry, 1000) == {addr(1): 100, addr(2): 200, addr(3): 700}

    def test_without_pick_no_backend_is_chosen(self, registry: Registry, service: dict[str, Any]) -> None:
        registry.put_upstream("web", [backend(1)])
        m = registry.match(host=HOST)
        assert m is not None and m.backend is None

    def test_match_many_picks_too(self, registry: Registry, service: dict[str, Any]) -> None:
        registry.put_upstream("web", [backend(1), backend(2)])
        answers = registry.match_many([{"host": HOST}] * 4, pick=True)
        assert Counter(m.backend for m in answers if m is not None) == {addr(1): 2, addr(2): 2}

    def test_lower_tier_serves_and_the_next_takes_over_when_it_empties(
        self, registry: Registry, service: dict[str, Any]
    ) -> None:
        registry.put_upstream("web", [backend(1, tier=0), backend(2, tier=0), backend(9, tier=1)])
        assert picks(registry, 10) == {addr(1): 5, addr(2): 5}
        registry.put_upstream("web", [backend(1, tier=0, state="down"), backend(2, tier=0), backend(9, tier=1)])
        assert picks(registry, 10) == {addr(2): 10}
        registry.put_upstream(
            "web", [backend(1, tier=0, state="down"), backend(2, tier=0, discovered=False), backend(9, tier=1)]
        )
        assert picks(registry, 10) == {addr(9): 10}
        # Traffic returns as soon as the preferred tier has an eligible backend.
        registry.put_upstream("web", [backend(1, tier=0), backend(9, tier=1)])
        assert picks(registry, 10) == {addr(1): 10}

    def test_no_eligible_backend_picks_none(self, registry: Registry, service: dict[str, Any]) -> None:
        registry.put_upstream("web", [backend(1, state="down"), backend(2, state="draining")])
        assert picks(registry, 3) == {None: 3}

    def test_a_key_keeps_its_backend_with_consistent_hashing(
        self, registry: Registry, service: dict[str, Any]
    ) -> None:
        registry.put_upstream("web", [backend(i) for i in range(1, 9)], {"strategy": "hash"})
        chosen = {}
        for user in range(50):
            first = picks(registry, 5, key=f"user-{user}")
            assert len(first) == 1  # the same key, the same backend
            chosen[user] = next(iter(first))
            # A str key is its UTF-8 bytes.
            assert picks(registry, 1, key=f"user-{user}".encode()) == {chosen[user]: 1}
        assert len(set(chosen.values())) > 1  # different keys spread
        # Removing one backend moves only the keys it held.
        gone = addr(1)
        registry.put_upstream("web", [backend(i) for i in range(2, 9)], {"strategy": "hash"})
        for user, before in chosen.items():
            after = next(iter(picks(registry, 1, key=f"user-{user}")))
            if before != gone:
                assert after == before

    def test_a_key_must_be_bytes_or_str(self, registry: Registry, service: dict[str, Any]) -> None:
        with pytest.raises(TypeError, match="key must be bytes or a str, not int"):
            registry.match(host=HOST, pick=True, key=5)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="request 0: key must be bytes or a str"):
            registry.match_many([{"host": HOST, "key": 5}], pick=True)

    def test_match_many_takes_keys(self, registry: Registry, service: dict[str, Any]) -> None:
        registry.put_upstream("web", [backend(i) for i in range(1, 9)], {"strategy": "hash"})
        one = registry.match(host=HOST, pick=True, key=b"k")
        answers = registry.match_many([{"host": HOST, "key": b"k"}] * 3, pick=True)
        assert one is not None
        assert {m.backend for m in answers if m is not None} == {one.backend}

    def test_iphash_uses_the_source_address(self, registry: Registry, service: dict[str, Any]) -> None:
        registry.put_upstream("web", [backend(i) for i in range(1, 5)], {"strategy": "iphash1"})
        for client in ("192.0.2.1:1000", "192.0.2.2:1000", "[2001:db8::1]:443"):
            assert len(picks(registry, 5, source=client)) == 1

    def test_a_cf_route_ignores_the_key(self, registry: Registry) -> None:
        registry.upsert_http_routes([{"route": "cf.example.com", "ip": "10.1.0.1", "port": 8080}])
        m = registry.match(host="cf.example.com", pick=True, key="k")
        assert m is not None and m.backend == ("10.1.0.1", 8080)


class TestSplits:
    @pytest.fixture(autouse=True)
    def versions(self, registry: Registry, service: dict[str, Any]) -> None:
        registry.put_upstream("web", [backend(1, version="v1"), backend(2, version="v2"), backend(3, version="v2")])

    def test_80_20_exact_over_100_picks(self, registry: Registry) -> None:
        revision = registry.set_split("web", {"v1": 80, "v2": 20})
        assert revision == registry.revision
        counts = picks(registry, 100)
        assert counts[addr(1)] == 80
        assert counts[addr(2)] + counts[addr(3)] == 20
        assert registry.split("web") == {"split": {"v1": 80, "v2": 20}, "fallback": "random", "sticky": False}
        upstream = registry.upstream("web")
        assert upstream is not None
        assert upstream["config"]["split"] == registry.split("web")

    @pytest.mark.parametrize(
        ("split", "message"),
        [
            ({}, "Route config contains invalid format or empty content."),
            ({"v3": 50, "v4": 50}, "The following versions of the application/service could not be found : [v3, v4]"),
            ({"v1": 150, "v2": -50}, "Route Percentage for version v1 must be between 0 and 100, got 150."),
            ({"v1": 80, "v2": 30}, "Route Percentage needs to add up to 100."),
            ({"v1": 80.5, "v2": 19.5}, "Expected an int but was 80.5 at path $.v1"),
            ({"v1": None}, "Expected an int but was null at path $.v1"),
        ],
    )
    def test_every_cdap_refusal_keeps_its_text(
        self, registry: Registry, split: dict[str, Any], message: str
    ) -> None:
        revision = registry.revision
        with pytest.raises(InvalidArgumentError) as info:
            registry.set_split("web", split)
        assert str(info.value) == message
        assert registry.revision == revision
        assert registry.split("web") is None

    def test_unknown_service_and_missing_split(self, registry: Registry) -> None:
        with pytest.raises(NotFoundError):
            registry.set_split("nope", {"v1": 100})
        with pytest.raises(NotFoundError):
            registry.delete_split("web")
        assert registry.split("nope") is None

    def test_unknown_fallback(self, registry: Registry) -> None:
        with pytest.raises(InvalidArgumentError, match="unknown fallback 'sometimes'"):
            registry.set_split("web", {"v1": 100}, fallback="sometimes")  # type: ignore[arg-type]

    def test_fallback_and_sticky_are_kept(self, registry: Registry) -> None:
        registry.set_split("web", {"v1": 50, "v2": 50}, fallback="largest", sticky=True)
        assert registry.split("web") == {"split": {"v1": 50, "v2": 50}, "fallback": "largest", "sticky": True}

    def test_a_sticky_split_keeps_a_key_on_its_version(self, registry: Registry) -> None:
        registry.set_split("web", {"v1": 50, "v2": 50}, sticky=True)
        versions = set()
        for user in range(40):
            got = picks(registry, 4, key=f"user-{user}")
            version = {"v1" if a == addr(1) else "v2" for a in got}
            assert len(version) == 1
            versions |= version
        assert versions == {"v1", "v2"}

    def test_delete_split_returns_to_every_backend(self, registry: Registry) -> None:
        registry.set_split("web", {"v1": 100})
        assert picks(registry, 6) == {addr(1): 6}
        registry.delete_split("web")
        assert registry.split("web") is None
        assert picks(registry, 6) == {addr(1): 2, addr(2): 2, addr(3): 2}

    def test_a_split_on_a_service_without_upstream_needs_the_versions(self, registry: Registry) -> None:
        registry.create_service({"name": "bare", "host": "h"})
        with pytest.raises(InvalidArgumentError, match=r"could not be found : \[v1\]"):
            registry.set_split("bare", {"v1": 100})


class TestConnections:
    def test_counting_and_closing(self, registry: Registry, service: dict[str, Any]) -> None:
        registry.put_upstream("web", [backend(1)])
        conn = connect(registry)
        assert conn.backend == addr(1)
        assert not conn.closed
        conn.established()
        conn.add_rx(300)
        conn.add_tx(200)
        stats = registry.pool_stats("web")
        assert stats is not None
        assert (stats["active_connections"], stats["rx_total"], stats["tx_total"]) == (1, 300, 200)
        counters = stats["backends"][0]["stats"]
        assert (counters["total_connections"], counters["active_connections"]) == (1, 1)
        conn.close()
        conn.close()  # harmless
        assert conn.closed
        stats = registry.pool_stats("web")
        assert stats is not None
        assert stats["active_connections"] == 0
        assert stats["backends"][0]["stats"]["total_connections"] == 1
        with pytest.raises(InvalidArgumentError, match="the connection is closed"):
            conn.add_rx(1)
        with pytest.raises(InvalidArgumentError, match="the connection is closed"):
            conn.established()

    def test_context_manager_gives_the_slot_back(self, registry: Registry, service: dict[str, Any]) -> None:
        registry.put_upstream("web", [backend(1, max_connections=1)])
        with connect(registry) as conn:
            assert registry.connect(host=HOST) is None
        assert conn.closed
        with pytest.raises(RuntimeError):
            with connect(registry):
                raise RuntimeError("boom")
        # The slot came back although the block raised.
        assert registry.connect(host=HOST) is not None

    def test_caps_are_honoured(self, registry: Registry, service: dict[str, Any]) -> None:
        registry.put_upstream("web", [backend(1, max_connections=2)])
        first, second = connect(registry), connect(registry)
        assert registry.connect(host=HOST) is None
        first.close()
        third = connect(registry)
        assert third.backend == addr(1)
        second.close()
        third.close()

    def test_a_zero_cap_takes_nothing(self, registry: Registry, service: dict[str, Any]) -> None:
        registry.put_upstream("web", [backend(1, max_connections=0)])
        assert registry.connect(host=HOST) is None

    def test_a_full_tier_fails_over_to_the_next(self, registry: Registry, service: dict[str, Any]) -> None:
        registry.put_upstream("web", [backend(1, max_connections=1), backend(9, tier=1)])
        held = connect(registry)
        assert held.backend == addr(1)
        assert connect(registry).backend == addr(9)
        held.close()
        assert connect(registry).backend == addr(1)

    def test_least_connections_spreads_open_connections(
        self, registry: Registry, service: dict[str, Any]
    ) -> None:
        registry.put_upstream("web", [backend(1), backend(2), backend(3)], {"strategy": "leastconn"})
        held = [connect(registry) for _ in range(6)]
        assert Counter(c.backend for c in held) == {addr(1): 2, addr(2): 2, addr(3): 2}

    def test_refused_counts_and_frees_the_slot(self, registry: Registry, service: dict[str, Any]) -> None:
        registry.put_upstream("web", [backend(1, max_connections=1)])
        conn = connect(registry)
        conn.refused()
        assert conn.closed
        stats = registry.pool_stats("web")
        assert stats is not None
        assert stats["backends"][0]["stats"]["refused_connections"] == 1
        assert stats["active_connections"] == 0
        with pytest.raises(InvalidArgumentError):
            conn.refused()
        connect(registry).close()

    def test_no_connection_without_a_route_or_an_upstream(
        self, registry: Registry, service: dict[str, Any]
    ) -> None:
        assert registry.connect(host="elsewhere.example.com") is None
        assert registry.connect(host=HOST) is None  # no upstream yet
        registry.upsert_http_routes([{"route": "cf.example.com", "ip": "10.1.0.1", "port": 8080}])
        assert registry.connect(host="cf.example.com") is None  # CF routes have no service pool

    def test_connect_takes_the_match_arguments(self, registry: Registry, service: dict[str, Any]) -> None:
        registry.put_upstream("web", [backend(i) for i in range(1, 9)], {"strategy": "hash"})
        m = registry.match(host=HOST, pick=True, key="sticky-user")
        assert m is not None
        with connect(registry, key="sticky-user", headers={"x": "y"}, source=("192.0.2.1", 5)) as conn:
            assert conn.backend == m.backend
        with pytest.raises(InvalidArgumentError, match="unknown protocol"):
            registry.connect(protocol="smtp")

    def test_counters_survive_a_change_of_the_upstream(self, registry: Registry, service: dict[str, Any]) -> None:
        registry.put_upstream("web", [backend(1)])
        conn = connect(registry)
        registry.put_upstream("web", [backend(1, weight=4), backend(2)])
        stats = registry.pool_stats("web")
        assert stats is not None
        assert stats["active_connections"] == 1
        conn.close()
        stats = registry.pool_stats("web")
        assert stats is not None
        assert stats["active_connections"] == 0

    def test_an_unreferenced_connection_closes_its_slot(self, registry: Registry, service: dict[str, Any]) -> None:
        registry.put_upstream("web", [backend(1)])
        conn = connect(registry)
        assert not gc.is_tracked(conn)  # it refers to no Python object
        del conn
        stats = registry.pool_stats("web")
        assert stats is not None
        assert stats["active_connections"] == 0

    def test_repr(self, registry: Registry, service: dict[str, Any]) -> None:
        registry.put_upstream("web", [backend(1)])
        conn = connect(registry)
        assert repr(conn) == "<Connection backend=('10.0.0.1', 80) closed=False>"
        conn.close()
        assert repr(conn) == "<Connection backend=('10.0.0.1', 80) closed=True>"


class TestDraining:
    def test_a_draining_backend_leaves_once_its_connections_close(
        self, registry: Registry, service: dict[str, Any]
    ) -> None:
        registry.put_upstream("web", [backend(1), backend(2)])
        held = [connect(registry) for _ in range(2)]
        on_one = next(c for c in held if c.backend == addr(1))
        registry.put_upstream("web", [backend(1, state="draining"), backend(2)])
        # No new picks for it, but it keeps its connection.
        assert picks(registry, 4) == {addr(2): 4}
        assert registry.remove_drained() == 0
        on_one.close()
        sub = registry.subscribe(kinds=["upstream"], timeout=0)
        assert registry.remove_drained() == 1
        upstream = registry.upstream("web")
        assert upstream is not None
        assert [(b["address"], b["port"]) for b in upstream["backends"]] == [addr(2)]
        assert [(e.action, e.kind) for e in sub] == [("upsert", "upstream")]
        assert registry.remove_drained() == 0

    def test_an_undiscovered_backend_drains_too(self, registry: Registry, service: dict[str, Any]) -> None:
        registry.put_upstream("web", [backend(1, discovered=False), backend(2)])
        assert registry.remove_drained() == 1


class TestStats:
    def test_rates_over_a_window_of_the_manual_clock(
        self, registry: Registry, service: dict[str, Any], clock: ManualClock
    ) -> None:
        registry.put_upstream("web", [backend(1), backend(2)])
        conn = connect(registry)
        conn.established()
        conn.add_rx(500)
        registry.sample_stats(now=2000)  # the first sample opens a window
        conn.add_rx(4000)
        conn.add_tx(1000)
        registry.sample_stats(now=2002)
        stats = registry.pool_stats("web")
        assert stats is not None
        assert (stats["rx_second"], stats["tx_second"]) == (2000, 500)
        assert (stats["rx_total"], stats["tx_total"]) == (4500, 1000)
        mine = next(b for b in stats["backends"] if (b["host"], int(b["port"])) == conn.backend)
        assert (mine["stats"]["rx_second"], mine["stats"]["tx_second"]) == (2000, 500)
        # A sample at or before the previous one changes nothing.
        registry.sample_stats(now=2001)
        assert registry.pool_stats("web") == stats
        # Without `now`, the registry's clock: nothing moved in a 4 s window.
        clock.set(2006)
        registry.sample_stats()
        stats = registry.pool_stats("web")
        assert stats is not None
        assert (stats["rx_second"], stats["tx_second"]) == (0, 0)
        conn.close()

    def test_the_shape_of_a_report(self, registry: Registry, service: dict[str, Any]) -> None:
        registry.put_upstream("web", [backend(2, weight=3, tier=1, state="down")])
        assert registry.pool_stats("web") == {
            "active_connections": 0,
            "rx_total": 0,
            "tx_total": 0,
            "rx_second": 0,
            "tx_second": 0,
            "backends": [
                {
                    "host": "10.0.0.2",
                    "port": "80",
                    "priority": 1,
                    "weight": 3,
                    "stats": {
                        "live": False,
                        "discovered": True,
                        "total_connections": 0,
                        "active_connections": 0,
                        "refused_connections": 0,
                        "rx": 0,
                        "tx": 0,
                        "rx_second": 0,
                        "tx_second": 0,
                    },
                }
            ],
        }

    def test_no_upstream_no_stats(self, registry: Registry, service: dict[str, Any]) -> None:
        assert registry.pool_stats("web") is None
        assert registry.pool_stats("nope") is None

    def test_bad_times(self, registry: Registry) -> None:
        with pytest.raises(InvalidArgumentError):
            registry.sample_stats(now=-1)
        with pytest.raises(TypeError):
            registry.sample_stats(now="soon")  # type: ignore[arg-type]


def upstream_ops(service_id: str) -> list[dict[str, Any]]:
    return [
        {"op": "put_upstream", "service": "web", "backends": [backend(1)]},
        {
            "op": "put_upstream",
            "service": service_id,
            "backends": [backend(1), backend(2)],
            "config": {"strategy": "leastconn"},
        },
    ]


class TestBatches:
    def test_put_and_delete_upstream(self, registry: Registry, service: dict[str, Any]) -> None:
        events = registry.apply(upstream_ops(service["id"]))
        assert [(e.action, e.kind) for e in events] == [("upsert", "upstream"), ("upsert", "upstream")]
        upstream = registry.upstream("web")
        assert upstream is not None
        assert events[-1].object == upstream
        assert upstream["config"] == {"strategy": "leastconn"}
        events = registry.apply([{"op": "delete_upstream", "service": "web"}])
        assert [(e.action, e.kind) for e in events] == [("delete", "upstream")]
        assert registry.upstream("web") is None

    def test_a_failing_change_keeps_the_upstreams_out(self, registry: Registry, service: dict[str, Any]) -> None:
        revision = registry.revision
        with pytest.raises(NotFoundError):
            registry.apply([*upstream_ops(service["id"]), {"op": "delete_upstream", "service": "nope"}])
        assert registry.revision == revision
        assert registry.upstream("web") is None

    def test_changes_see_the_ones_before(self, registry: Registry) -> None:
        events = registry.apply(
            [
                {"op": "upsert_service", "service": {"name": "fresh", "host": "h"}},
                {"op": "put_upstream", "service": "fresh", "backends": [backend(5)], "config": None},
            ]
        )
        assert [e.kind for e in events] == ["service", "upstream"]
        assert registry.upstream("fresh") is not None

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"op": "put_upstream", "service": "web"}, "change 0: missing field 'backends' for op 'put_upstream'"),
            (
                {"op": "put_upstream", "service": "web", "backends": [{"port": 1}]},
                r"change 0: backends\[0\]: missing field `address`",
            ),
            (
                {"op": "put_upstream", "service": "web", "backends": [], "weights": {}},
                "change 0: unexpected field 'weights' for op 'put_upstream'",
            ),
            ({"op": "delete_upstream", "service": 1}, "change 0: 'service' must be a str, not int"),
            ({"op": "put_upstream", "service": "web", "backends": [], "config": 3}, "config must be a dict"),
        ],
    )
    def test_shape_errors(
        self, registry: Registry, service: dict[str, Any], change: dict[str, Any], message: str
    ) -> None:
        with pytest.raises(ProcessRequestError, match=message):
            registry.apply([change])
        assert registry.upstream("web") is None


class TestSnapshots:
    def test_round_trip_with_upstreams(self, registry: Registry, service: dict[str, Any], clock: ManualClock) -> None:
        registry.put_upstream(
            "web",
            [backend(1, version="v1", metadata={"k": "v"}), backend(2, version="v2", max_connections=3, tier=1)],
            {"strategy": "hash", "seed": 7},
        )
        registry.set_split("web", {"v1": 30, "v2": 70}, fallback="smallest", sticky=True)
        snapshot = registry.snapshot()
        assert snapshot["upstreams"] == registry.upstreams()
        target = Registry(max_ttl=120, clock=clock)
        target.restore(snapshot)
        assert {**target.snapshot(), "revision": 0} == {**snapshot, "revision": 0}
        assert target.split("web") == registry.split("web")
        # Restoring the same state again writes nothing.
        revision = target.revision
        assert target.restore(snapshot) == revision
        # Restoring a state without the upstream removes it, with its event.
        sub = target.subscribe(kinds=["upstream"], timeout=0)
        target.restore({**snapshot, "upstreams": []})
        assert [(e.action, e.kind) for e in sub] == [("delete", "upstream")]
        assert target.upstreams() == []

    @pytest.mark.parametrize(
        ("upstreams", "message"),
        [
            ([3], r"upstreams\[0\] must be a dict, not int"),
            ([{"backends": [], "config": {}}], r"upstreams\[0\]: 'service_id' must be a str, not None"),
            (
                [{"service_id": "x", "backends": [{"address": "a"}], "config": {}}],
                r"upstreams\[0\]: backends\[0\]: missing field `port`",
            ),
            ([{"service_id": "x", "backends": [], "config": {}, "extra": 1}], r"upstreams\[0\]: unexpected key 'extra'"),
        ],
    )
    def test_bad_upstreams_in_a_snapshot(
        self, registry: Registry, service: dict[str, Any], upstreams: list[Any], message: str
    ) -> None:
        snapshot = registry.snapshot()
        revision = registry.revision
        with pytest.raises(ProcessRequestError, match=message):
            registry.restore({**snapshot, "upstreams": upstreams})
        assert registry.revision == revision

    def test_an_upstream_of_a_missing_service_is_refused(self, registry: Registry, service: dict[str, Any]) -> None:
        snapshot = registry.snapshot()
        dangling = {"service_id": "00000000-0000-4000-8000-000000000000", "backends": [], "config": {}}
        with pytest.raises(ForeignKeyViolationError, match="00000000-0000-4000-8000-000000000000"):
            registry.restore({**snapshot, "upstreams": [dangling]})
        assert registry.upstreams() == []

    def test_the_new_lists_are_required(self, registry: Registry) -> None:
        snapshot = registry.snapshot()
        for key in ("upstreams", "servers"):
            partial = {k: v for k, v in snapshot.items() if k != key}
            with pytest.raises(ProcessRequestError, match=f"snapshot: missing key '{key}'"):
                registry.restore(partial)


class TestEvents:
    def test_upstream_events_carry_the_upstream(self, registry: Registry, service: dict[str, Any]) -> None:
        sub: Subscription = registry.subscribe(kinds=["upstream"], timeout=0)
        put = registry.put_upstream("web", [backend(1, version="v1")])
        registry.set_split("web", {"v1": 100})
        registry.delete_split("web")
        registry.delete_upstream("web")
        events = list(sub)
        assert [(e.action, e.kind) for e in events] == [("upsert", "upstream")] * 3 + [("delete", "upstream")]
        assert events[0].object == put
        assert events[1].object["config"]["split"] == {"split": {"v1": 100}, "fallback": "random", "sticky": False}
        assert events[3].expires_at is None
        assert events[3].to_dict()["kind"] == "upstream"

    def test_deleting_a_service_deletes_its_upstream(self, registry: Registry, service: dict[str, Any]) -> None:
        registry.put_upstream("web", [backend(1)])
        registry.delete_route("web-route")
        sub = registry.subscribe(timeout=0)
        registry.delete_service("web")
        assert sorted((e.action, e.kind) for e in sub) == [("delete", "service"), ("delete", "upstream")]


class TestThreads:
    def test_caps_hold_against_concurrent_callers(self, registry: Registry, service: dict[str, Any]) -> None:
        import threading

        registry.put_upstream("web", [backend(1, max_connections=3), backend(2, max_connections=1)])
        errors: list[BaseException] = []
        established = []

        def worker() -> None:
            try:
                count = 0
                for _ in range(200):
                    conn = registry.connect(host=HOST)
                    if conn is None:
                        continue
                    with conn:
                        conn.established()
                        count += 1
                        stats = registry.pool_stats("web")
                        assert stats is not None
                        for b in stats["backends"]:
                            cap = 3 if b["host"] == "10.0.0.1" else 1
                            assert b["stats"]["active_connections"] <= cap
                established.append(count)
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        stats = registry.pool_stats("web")
        assert stats is not None
        assert stats["active_connections"] == 0
        assert sum(b["stats"]["total_connections"] for b in stats["backends"]) == sum(established)
