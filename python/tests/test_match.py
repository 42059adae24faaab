"""Matching requests: Registry.match, Registry.match_many, Match and Capture."""

from __future__ import annotations

import gc
import inspect
import sys
import threading
from typing import Any, Callable

import pytest

from routeyard import Capture, InvalidArgumentError, ManualClock, Match, Registry, RouteyardError

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


def service(registry: Registry, name: str = "shop", **extra: Any) -> dict[str, Any]:
    return registry.create_service({"name": name, "host": f"{name}.internal", **extra})


def route(registry: Registry, svc: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = dict(fields)
    if svc is not None:
        body["service"] = {"id": svc["id"]}
    return registry.create_route(body)


def matched(m: Match | None) -> Match:
    assert m is not None, "the request matched nothing"
    return m


def cf_route(host_path: str, ip: str, port: int = 8080, ttl: int = 60) -> dict[str, Any]:
    return {"route": host_path, "ip": ip, "port": port, "ttl": ttl}


def tcp_group(registry: Registry, ports: str = "5000-5010") -> str:
    group, _ = registry.create_router_group({"name": "tcp-1", "type": "tcp", "reservable_ports": ports})
    guid: str = group["guid"]
    return guid


def mapping(guid: str, port: int, ip: str, backend_port: int = 6000, ttl: int = 60, **extra: Any) -> dict[str, Any]:
    return {
        "router_group_guid": guid,
        "port": port,
        "backend_ip": ip,
        "backend_port": backend_port,
        "ttl": ttl,
        **extra,
    }


class TestKongHttp:
    def test_host_and_path_answer_with_route_service_and_rewrite(self, registry: Registry) -> None:
        svc = service(registry, path="/v1")
        r = route(registry, svc, name="orders", hosts=["shop.example.com"], paths=["/orders"])
        m = matched(registry.match(host="shop.example.com", path="/orders/7?x=1"))
        assert m.route_id == r["id"]
        assert m.route == registry.route(r["id"])
        assert m.service_id == svc["id"]
        assert m.service == registry.service(svc["id"])
        assert (m.cf_route, m.tcp_route, m.backend, m.redirect) == (None, None, None, None)
        # strip_path is Kong's default: the matched prefix goes, the service's path comes.
        assert m.upstream_path == "/v1/7"
        assert m.upstream_host == "shop.internal"
        assert m.matched_path == "/orders"
        assert m.captures == []
        assert m.revision == registry.revision

    def test_misses_return_none(self, registry: Registry) -> None:
        route(registry, service(registry), hosts=["shop.example.com"], paths=["/orders"])
        assert registry.match(host="other.example.com", path="/orders") is None
        assert registry.match(host="shop.example.com", path="/users") is None
        assert registry.match() is None

    def test_the_host_may_carry_a_port(self, registry: Registry) -> None:
        r = route(registry, service(registry), hosts=["shop.example.com"])
        assert matched(registry.match(host="shop.example.com:8443")).route_id == r["id"]

    def test_strip_path_off_keeps_the_request_path(self, registry: Registry) -> None:
        route(registry, service(registry, path="/v1"), paths=["/orders"], strip_path=False)
        m = matched(registry.match(path="/orders/7"))
        assert m.upstream_path == "/v1/orders/7"
        assert m.matched_path == "/orders"

    @pytest.mark.parametrize("length", [1, 20, 60, 61, 62, 63, 200, 5000])
    def test_answers_keep_their_texts_whole_at_any_length(self, registry: Registry, length: int) -> None:
        # The upstream path, upstream host and matched path are kept together, inline
        # when short: lengths around the inline size and far past it.
        prefix = "/" + "p" * length
        route(registry, service(registry, host="h" * length + ".internal", path="/base"), paths=[prefix], strip_path=False)
        request_path = prefix + "/rest/" + "r" * length
        first = matched(registry.match(path=request_path))
        assert first.upstream_path == "/base" + request_path
        assert first.upstream_host == "h" * length + ".internal"
        assert first.matched_path == prefix
        assert first == matched(registry.match(path=request_path))
        assert first != matched(registry.match(path=request_path + "x"))

    def test_v1_path_handling_collapses_slashes_in_long_paths(self, registry: Registry) -> None:
        route(registry, service(registry, path="/base/"), paths=["/api"], path_handling="v1")
        tail = "/" + "x" * 100
        m = matched(registry.match(path="/api" + tail))
        assert m.upstream_path == "/base" + tail
        assert m.matched_path == "/api"

    def test_preserve_host_sends_the_requests_host(self, registry: Registry) -> None:
        route(registry, service(registry), hosts=["*.example.com"], preserve_host=True)
        m = matched(registry.match(host="a.example.com:8080", path="/x"))
        assert m.upstream_host == "a.example.com:8080"
        assert m.upstream_path == "/x"
        assert m.matched_path == ""

    def test_regex_captures_are_named_and_numbered(self, registry: Registry) -> None:
        route(
            registry,
            service(registry),
            paths=[r"~/users/(?<user>\d+)/orders/(\d+)"],
            strip_path=False,
        )
        m = matched(registry.match(path="/users/42/orders/7/items"))
        assert [(c.name, c.index, c.value) for c in m.captures] == [("user", 1, "42"), (None, 2, "7")]
        assert repr(m.captures[0]) == "Capture(name='user', index=1, value='42')"
        assert all(isinstance(c, Capture) for c in m.captures)
        assert m.captures == matched(registry.match(path="/users/42/orders/7/items")).captures
        assert m.captures != matched(registry.match(path="/users/43/orders/7")).captures
        assert m.matched_path == "/users/42/orders/7"
        assert m.upstream_path == "/users/42/orders/7/items"

    def test_methods_must_agree(self, registry: Registry) -> None:
        r = route(registry, service(registry), paths=["/orders"], methods=["POST", "PUT"])
        assert registry.match(path="/orders") is None
        assert matched(registry.match(method="POST", path="/orders")).route_id == r["id"]

    def test_headers_as_a_dict_or_as_pairs(self, registry: Registry) -> None:
        svc = service(registry)
        v2 = route(registry, svc, paths=["/api"], headers={"x-version": ["2"]})
        plain = route(registry, svc, paths=["/api"])
        assert matched(registry.match(path="/api")).route_id == plain["id"]
        assert matched(registry.match(path="/api", headers={"X-Version": "2"})).route_id == v2["id"]
        pairs = [("x-other", "1"), ("x-version", "1"), ("x-version", "2")]
        assert matched(registry.match(path="/api", headers=pairs)).route_id == v2["id"]
        assert matched(registry.match(path="/api", headers=[("x-version", "3")])).route_id == plain["id"]

    def test_https_only_routes_redirect_plain_http(self, registry: Registry) -> None:
        route(registry, service(registry), paths=["/secure"], protocols=["https"])
        route(
            registry,
            service(registry, "other"),
            paths=["/moved"],
            protocols=["https"],
            https_redirect_status_code=308,
        )
        assert matched(registry.match(path="/secure")).redirect == 426
        assert matched(registry.match(protocol="https", path="/secure")).redirect is None
        assert matched(registry.match(path="/moved")).redirect == 308

    def test_priority_and_longer_paths_win(self, registry: Registry) -> None:
        svc = service(registry)
        short = route(registry, svc, paths=["/a"])
        long = route(registry, svc, paths=["/a/b"])
        assert matched(registry.match(path="/a/b/c")).route_id == long["id"]
        registry.update_route(short["id"], {"priority": 1})
        assert matched(registry.match(path="/a/b/c")).route_id == short["id"]

    def test_a_route_without_service(self, registry: Registry) -> None:
        r = route(registry, paths=["/lonely"])
        m = matched(registry.match(path="/lonely"))
        assert (m.route_id, m.service, m.service_id) == (r["id"], None, None)

    def test_updates_and_deletes_reach_matching(self, registry: Registry) -> None:
        r = route(registry, service(registry), name="r", paths=["/a"])
        first = matched(registry.match(path="/a"))
        registry.update_route("r", {"paths": ["/b"]})
        assert registry.match(path="/a") is None
        second = matched(registry.match(path="/b"))
        assert second.revision > first.revision
        # An answer is a snapshot: the earlier one still shows the old route.
        assert first.route is not None and first.route["paths"] == ["/a"]
        registry.delete_route(r["id"])
        assert registry.match(path="/b") is None


class TestMatchObject:
    def test_equal_answers_compare_equal(self, registry: Registry) -> None:
        route(registry, service(registry), paths=["/a"])
        first, again = registry.match(path="/a/1"), registry.match(path="/a/1")
        assert first == again
        assert first != registry.match(path="/a/2")
        other: object = "not a match"
        assert first != other

    def test_frozen(self, registry: Registry) -> None:
        route(registry, service(registry), paths=["/a"])
        m = matched(registry.match(path="/a"))
        with pytest.raises(AttributeError):
            m.upstream_path = "/b"  # type: ignore[misc]
        with pytest.raises(TypeError):
            Match()
        with pytest.raises(TypeError):
            hash(m)

    def test_class_is_final_and_documented(self, registry: Registry) -> None:
        assert Match.__module__ == "routeyard" and Match.__qualname__ == "Match"
        assert (Match.__doc__ or "").startswith("The answer to a request.")
        assert (Match.upstream_path.__doc__ or "").startswith("The path to send upstream")
        with pytest.raises(TypeError):
            type("Sub", (Match,), {})
        with pytest.raises(TypeError, match="No constructor defined for Match"):
            Match.__new__(Match)
        route(registry, service(registry), paths=["/a"])
        m = matched(registry.match(path="/a"))
        assert isinstance(m, Match) and type(m) is Match
        other: Any = m
        assert (other == 1) is False and (other != 1) is True
        with pytest.raises(TypeError):
            other < m

    def test_matches_give_back_what_they_hold(self, registry: Registry) -> None:
        route(registry, service(registry), paths=["/a"])
        before = sys.getrefcount(Match)  # every Match holds a reference to its class
        for _ in range(1000):
            registry.match(path="/a/b")
            registry.match_many([{"path": "/a/b"}, {"path": "/x"}])
        assert sys.getrefcount(Match) == before

    def test_dicts_are_new_on_every_read(self, registry: Registry) -> None:
        route(registry, service(registry), paths=["/a"])
        m = matched(registry.match(path="/a"))
        r = m.route
        assert r is not None
        r["paths"] = ["/changed"]
        assert m.route is not None and m.route["paths"] == ["/a"]

    def test_repr_names_the_answer(self, registry: Registry) -> None:
        svc = service(registry)
        r = route(registry, svc, paths=["/a"], protocols=["https"])
        assert repr(registry.match(path="/a/b")) == (
            f"Match(route_id='{r['id']}', service_id='{svc['id']}', "
            f"upstream_host='shop.internal', upstream_path='/b', redirect=426, "
            f"revision={registry.revision})"
        )
        registry.upsert_http_routes([cf_route("cf.example.com", "10.0.0.1")])
        assert repr(registry.match(host="cf.example.com", pick=True)) == (
            "Match(cf_route='cf.example.com', upstream_host='cf.example.com', "
            f"upstream_path='/', backend=('10.0.0.1', 8080), revision={registry.revision})"
        )


class TestCfHttp:
    def test_pick_goes_round_robin_over_live_backends(self, registry: Registry) -> None:
        registry.upsert_http_routes(
            [cf_route("app.example.com/api", "10.0.0.1"), cf_route("app.example.com/api", "10.0.0.2")]
        )
        m = matched(registry.match(host="App.Example.com:443", path="/api/v1/items"))
        assert m.cf_route == "app.example.com/api"
        assert (m.route, m.route_id, m.service, m.backend) == (None, None, None, None)
        assert m.upstream_host == "App.Example.com:443"
        assert m.upstream_path == "/api/v1/items"
        picks = [matched(registry.match(host="app.example.com", path="/api", pick=True)).backend for _ in range(4)]
        assert sorted(set(picks), key=str) == [("10.0.0.1", 8080), ("10.0.0.2", 8080)]
        assert picks[0] != picks[1] and picks[0] == picks[2]

    def test_segments_not_bytes(self, registry: Registry) -> None:
        registry.upsert_http_routes([cf_route("app.example.com/api", "10.0.0.1")])
        assert registry.match(host="app.example.com", path="/apix") is None
        assert registry.match(host="app.example.com", path="/api/") is not None

    def test_lapsed_backends_are_never_picked(self, registry: Registry, clock: ManualClock) -> None:
        registry.upsert_http_routes(
            [cf_route("app.example.com", "10.0.0.1", ttl=10), cf_route("app.example.com", "10.0.0.2", ttl=30)]
        )
        clock.advance(10)
        for _ in range(3):
            assert matched(registry.match(host="app.example.com", pick=True)).backend == ("10.0.0.2", 8080)
        clock.advance(20)
        # Lapsed, not yet swept: still not matched.
        assert registry.match(host="app.example.com", pick=True) is None
        assert registry.expire() == 2
        assert registry.match(host="app.example.com") is None

    def test_kong_routes_come_before_cf_routes(self, registry: Registry) -> None:
        registry.upsert_http_routes([cf_route("app.example.com", "10.0.0.1")])
        r = route(registry, service(registry), hosts=["app.example.com"])
        m = matched(registry.match(host="app.example.com", pick=True))
        assert (m.route_id, m.cf_route, m.backend) == (r["id"], None, None)


class TestStreams:
    def test_kong_stream_routes_by_sni_source_and_destination(self, registry: Registry) -> None:
        svc = service(registry)
        sni = route(registry, svc, name="sni", protocols=["tcp", "tls"], snis=["db.example.com"])
        src = route(registry, svc, name="src", protocols=["tcp", "tls"], sources=[{"ip": "192.168.0.0/16"}])
        dst = route(registry, svc, name="dst", protocols=["tcp", "tls"], destinations=[{"port": 5432}])
        v6 = route(registry, svc, name="v6", protocols=["tcp", "tls"], destinations=[{"ip": "2001:db8::/32"}])
        m = matched(
            registry.match(
                protocol="tls", sni="db.example.com", source="1.1.1.1:1000", destination="10.0.0.1:80"
            )
        )
        assert m.route_id == sni["id"]
        assert (m.upstream_path, m.matched_path, m.redirect) == ("", "", None)
        assert matched(registry.match(protocol="tcp", source=("192.168.3.4", 1), destination="10.0.0.1:80")).route_id == src["id"]
        assert matched(registry.match(protocol="tcp", source="8.8.8.8:1", destination=("10.0.0.1", 5432))).route_id == dst["id"]
        assert matched(registry.match(protocol="tcp", source="[2001:db8::2]:1", destination="[2001:db8::1]:9")).route_id == v6["id"]
        assert registry.match(protocol="tcp", source="8.8.8.8:1", destination="10.0.0.1:80") is None
        # Protocols must agree: HTTP never sees stream routes, nor udp these ones.
        assert registry.match(protocol="udp", source="8.8.8.8:1", destination="10.0.0.1:5432") is None
        assert registry.match(host="db.example.com") is None

    def test_stream_answers_carry_the_sni_as_host(self, registry: Registry) -> None:
        route(registry, service(registry), protocols=["tls"], snis=["db.example.com"], preserve_host=True)
        m = matched(registry.match(protocol="tls", sni="db.example.com", source="1.1.1.1:1", destination="2.2.2.2:3"))
        assert m.upstream_host == "db.example.com"

    def test_cf_tcp_mappings_by_router_group_and_port(self, registry: Registry, clock: ManualClock) -> None:
        guid = tcp_group(registry)
        registry.upsert_tcp_route_mappings(
            [
                mapping(guid, 5001, "10.0.0.1", ttl=30),
                mapping(guid, 5001, "10.0.0.2", ttl=60),
                mapping(guid, 5002, "10.0.0.3", ttl=60),
            ]
        )

        def on(port: int, pick: bool = True) -> Match | None:
            return registry.match(
                protocol="tcp", source="1.2.3.4:50000", destination=f"10.255.0.1:{port}", router_group=guid, pick=pick
            )

        m = matched(on(5001, pick=False))
        assert m.tcp_route == (guid, 5001)
        assert (m.route, m.cf_route, m.backend, m.upstream_path) == (None, None, None, "")
        assert {matched(on(5001)).backend for _ in range(4)} == {("10.0.0.1", 6000), ("10.0.0.2", 6000)}
        assert matched(on(5002)).backend == ("10.0.0.3", 6000)
        # Without the router group, on an unknown group, or on a port without mappings: nothing.
        assert registry.match(protocol="tcp", source="1.2.3.4:1", destination="10.255.0.1:5001") is None
        assert (
            registry.match(protocol="tcp", source="1.2.3.4:1", destination="10.255.0.1:5001", router_group="nope")
            is None
        )
        assert on(5003) is None
        clock.advance(30)
        for _ in range(3):
            assert matched(on(5001)).backend == ("10.0.0.2", 6000)
        clock.advance(30)
        assert on(5001) is None

    def test_tcp_mappings_with_an_sni_host_serve_only_that_name(self, registry: Registry) -> None:
        guid = tcp_group(registry)
        registry.upsert_tcp_route_mappings(
            [
                mapping(guid, 5005, "10.0.0.7", backend_sni_hostname="a.example.com"),
                mapping(guid, 5005, "10.0.0.8"),
            ]
        )

        def pick(sni: str | None) -> tuple[str, int] | None:
            protocol = "tls" if sni else "tcp"
            m = registry.match(
                protocol=protocol, sni=sni, source="1.1.1.1:1", destination="10.0.0.1:5005", router_group=guid, pick=True
            )
            return matched(m).backend

        for _ in range(3):
            assert pick("a.example.com") == ("10.0.0.7", 6000)
            assert pick("b.example.com") == ("10.0.0.8", 6000)
            assert pick(None) == ("10.0.0.8", 6000)


class TestInvalidArguments:
    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"protocol": "htp"}, "unknown protocol 'htp'; expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp"),
            ({"protocol": "HTTP"}, "unknown protocol 'HTTP'"),
            ({"source": "10.0.0.1"}, "invalid source address '10.0.0.1': expected 'ip:port', with an IPv6 address in brackets"),
            ({"destination": "::1:80"}, "invalid destination address '::1:80'"),
            ({"destination": "10.0.0.1:65536"}, "invalid destination address '10.0.0.1:65536'"),
            ({"source": ("10.0.0.300", 1)}, "invalid source address: '10.0.0.300' is not an IP address"),
            ({"source": ("10.0.0.1", 65536)}, "invalid source port 65536: must be from 0 to 65535"),
            ({"destination": ("10.0.0.1", -1)}, "invalid destination port -1: must be from 0 to 65535"),
        ],
    )
    def test_bad_values_raise_invalid_argument(self, registry: Registry, kwargs: dict[str, Any], message: str) -> None:
        with pytest.raises(InvalidArgumentError, match="^" + message.replace("(", r"\(").replace(")", r"\)")) as info:
            registry.match(**kwargs)
        assert isinstance(info.value, RouteyardError)
        assert info.value.name == "ProcessRequestError"

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"host": 5}, "host must be a str, not int"),
            ({"protocol": None, "path": b"/x"}, "path must be a str, not bytes"),
            ({"headers": "x-a: 1"}, "headers must be a dict or a list of (name, value) pairs, not str"),
            ({"headers": {"x-a": 1}}, "header names and values must be str, not ('x-a', 1)"),
            ({"headers": [("x-a", "1", "2")]}, "each header must be a (name, value) tuple, not ('x-a', '1', '2')"),
            ({"source": 80}, "source must be an 'ip:port' str or an (ip: str, port: int) tuple, not 80"),
            ({"destination": ("10.0.0.1", "80")}, "destination must be an 'ip:port' str or an (ip: str, port: int) tuple"),
            ({"destination": ("10.0.0.1", True)}, "destination must be an 'ip:port' str or an (ip: str, port: int) tuple"),
            ({"router_group": 1}, "router_group must be a str, not int"),
        ],
    )
    def test_values_of_the_wrong_type_raise_type_error(
        self, registry: Registry, kwargs: dict[str, Any], message: str
    ) -> None:
        with pytest.raises(TypeError) as info:
            registry.match(**kwargs)
        assert str(info.value).startswith(message)

    def test_a_str_without_utf8_form_raises_unicode_encode_error(self, registry: Registry) -> None:
        with pytest.raises(UnicodeEncodeError):
            registry.match(host="\ud800")
        with pytest.raises(UnicodeEncodeError):
            registry.match_many([{"path": "/\udfff"}])

    def test_unknown_keywords_are_refused(self, registry: Registry) -> None:
        with pytest.raises(TypeError, match="^Registry.match\\(\\) got an unexpected keyword argument 'hots'$"):
            registry.match(hots="a")  # type: ignore[call-arg]
        with pytest.raises(TypeError, match="^Registry.connect\\(\\) got an unexpected keyword argument 'pick'$"):
            registry.connect(pick=True)  # type: ignore[call-arg]


class TestArguments:
    """Arguments bind as Python binds them: by position in the documented order, or by
    name, a None standing for the default."""

    def test_positional_keyword_and_built_names_agree(self, registry: Registry) -> None:
        r = route(registry, service(registry), hosts=["a.example.com"], paths=["/x"], methods=["POST"])
        by_name = matched(registry.match(method="POST", host="a.example.com", path="/x/1"))
        by_position = matched(registry.match("http", "POST", "a.example.com", "/x/1"))
        built: dict[str, Any] = {"ho" + "st": "a.example.com", "pa" + "th": "/x/1", "met" + "hod": "POST"}
        by_built_name = matched(registry.match(**built))
        assert by_name == by_position == by_built_name
        assert by_name.route_id == r["id"]

    def test_none_is_the_default(self, registry: Registry) -> None:
        route(registry, paths=["/"])
        untyped: Any = registry  # None where the stubs say str: the untyped call Python allows
        assert untyped.match(protocol=None, method=None, host=None, path=None, headers=None, pick=None) == registry.match()
        assert untyped.match(None, None, None, None, None, None, None, None, None, None, None) == registry.match()

    def test_pick_by_position_and_by_name(self, registry: Registry) -> None:
        registry.upsert_http_routes([cf_route("cf.example.com/a", "10.0.0.1")])
        args = ("http", "GET", "cf.example.com", "/a", None, None, None, None, None)
        assert matched(registry.match(*args, True)).backend == ("10.0.0.1", 8080)
        assert matched(registry.match(*args, False)).backend is None
        assert matched(registry.match(*args, pick=True)).backend == ("10.0.0.1", 8080)

    def test_calls_keep_no_reference_to_their_arguments(self, registry: Registry) -> None:
        # The arguments are borrowed for the call; the answer is the caller's alone.
        route(registry, service(registry), hosts=["a.example.com"], paths=["/x"])
        host, path = "".join(["a.", "example.com"]), "".join(["/x", "/1"])
        headers = {"x-a": "1"}
        before = [sys.getrefcount(o) for o in (host, path, headers)]
        for _ in range(1000):
            registry.match(host=host, path=path, headers=headers)
            registry.match("http", "GET", host, path, headers)
            registry.connect(host=host, path=path)
            with pytest.raises(TypeError):
                registry.match(host=host, path=path, headers=headers, hots=host)  # type: ignore[call-arg]
        assert [sys.getrefcount(o) for o in (host, path, headers)] == before
        answer = registry.match(host=host, path=path)
        assert sys.getrefcount(answer) == 2  # the name, and getrefcount's argument

    def test_every_way_of_passing_a_request_answers_alike(self, registry: Registry) -> None:
        class Text(str):
            pass

        route(registry, service(registry), hosts=["a.example.com"], paths=["/x"], methods=["GET"])
        other = route(registry, service(registry, "other"), paths=["/y"])
        for host, path, method in [
            ("a.example.com", "/x/1", "GET"),
            ("A.Example.com:80", "/x", "GET"),
            ("a.example.com", "/x", "POST"),
            ("b.example.com", "/y/%7e", "PUT"),
            ("", "/", "GET"),
        ]:
            want = registry.match(method=method, host=host, path=path)
            untyped: Any = registry
            assert registry.match(path=path, host=host, method=method) == want
            assert registry.match("http", method, host, path) == want
            assert untyped.match(**{"ho" + "st": host, "pa" + "th": path, "method": method}) == want
            assert registry.match(method=Text(method), host=Text(host), path=Text(path)) == want
            assert registry.match(method=method, host=host, path=path, sni=None) == want
            assert registry.match(method=method, host=host, path=path, protocol="http") == want
            assert registry.match_many([{"method": method, "host": host, "path": path}]) == [want]
        assert registry.match(host="a.example.com") is None
        assert matched(registry.match(path="/y")).route_id == other["id"]
        with pytest.raises(UnicodeEncodeError):
            registry.match(host="a.example.com", path="/x/\udc80")
        with pytest.raises(TypeError, match="path must be a str, not bytes"):
            untyped.match(host="a.example.com", path=b"/x")

    def test_match_and_connect_are_methods_with_signatures(self, registry: Registry) -> None:
        request = ["protocol", "method", "host", "path", "headers", "sni", "source", "destination", "router_group"]
        assert list(inspect.signature(Registry.match).parameters) == ["self", *request, "pick", "key"]
        assert list(inspect.signature(Registry.connect).parameters) == ["self", *request, "key"]
        assert list(inspect.signature(registry.match).parameters) == [*request, "pick", "key"]
        assert (Registry.match.__doc__ or "").startswith("Matches a request")
        assert (Registry.connect.__doc__ or "").startswith("Matches a request as `match` does")

    def test_the_methods_may_be_called_through_the_class(self, registry: Registry) -> None:
        r = route(registry, service(registry), paths=["/x"])
        assert matched(Registry.match(registry, path="/x")).route_id == r["id"]
        assert Registry.connect(registry, path="/y") is None
        unbound: Any = Registry.match
        with pytest.raises(TypeError):
            unbound(object(), path="/x")
        with pytest.raises(TypeError):
            unbound()

    def test_binding_errors_are_worded_as_python_words_them(self, registry: Registry) -> None:
        untyped: Any = registry  # calls the stubs rightly refuse
        with pytest.raises(TypeError, match="^Registry.match\\(\\) got multiple values for argument 'host'$"):
            untyped.match("http", "GET", "a", host="b")
        with pytest.raises(TypeError, match="^Registry.match\\(\\) takes from 0 to 11 positional arguments but 12 were given$"):
            untyped.match(*([None] * 12))
        with pytest.raises(TypeError, match="^Registry.connect\\(\\) takes from 0 to 10 positional arguments but 11 were given$"):
            untyped.connect(*([None] * 11))
        with pytest.raises(TypeError, match="^argument 'pick': must be a bool, not int$"):
            untyped.match(pick=1)


class TestMatchMany:
    def requests(self) -> list[dict[str, Any]]:
        return [
            {"host": "shop.example.com", "path": "/orders/1"},
            {"host": "shop.example.com", "path": "/nothing"},
            {"host": "app.example.com", "path": "/api/x"},
            {"method": "POST", "path": "/api", "headers": [("x-version", "2")]},
            {"path": "/api", "headers": {"x-version": "2"}, "protocol": "https"},
            {"protocol": "tls", "sni": "db.example.com", "source": "1.1.1.1:1", "destination": ("10.0.0.1", 80)},
            {},
            {"path": "/secure", "sni": None, "source": None, "destination": None, "headers": None, "router_group": None},
        ]

    def setup(self, registry: Registry) -> None:
        svc = service(registry)
        route(registry, svc, hosts=["shop.example.com"], paths=["/orders"])
        route(registry, svc, paths=["/api"], headers={"x-version": ["2"]})
        route(registry, svc, paths=["/secure"], protocols=["https"])
        route(registry, svc, protocols=["tls"], snis=["db.example.com"])
        registry.upsert_http_routes([cf_route("app.example.com/api", "10.0.0.1")])

    def test_equal_to_repeated_match(self, registry: Registry) -> None:
        self.setup(registry)
        requests = self.requests()
        many = registry.match_many(requests)
        one_by_one = [registry.match(**r) for r in requests]
        assert many == one_by_one
        assert [m is None for m in many] == [False, True, False, False, False, False, True, False]

    def test_pick_applies_to_every_request(self, registry: Registry) -> None:
        self.setup(registry)
        many = registry.match_many([{"host": "app.example.com", "path": "/api"}] * 2, pick=True)
        assert [matched(m).backend for m in many] == [("10.0.0.1", 8080)] * 2
        assert matched(registry.match_many([{"host": "app.example.com", "path": "/api"}])[0]).backend is None

    def test_a_batch_longer_than_a_chunk_keeps_its_order(self, registry: Registry) -> None:
        # Batches are matched a few dozen requests at a time; the answers come back
        # in request order whatever the length.
        self.setup(registry)
        requests = [self.requests()[i % 8] for i in range(301)]
        many = registry.match_many(requests)
        assert len(many) == 301
        assert many == [registry.match(**r) for r in requests]

    def test_answers_are_not_tracked_by_the_cycle_collector(self, registry: Registry) -> None:
        # An answer refers to no Python object, so it can be in no cycle.
        self.setup(registry)
        one = matched(registry.match(host="app.example.com", path="/api"))
        many = registry.match_many(self.requests())
        assert not gc.is_tracked(one)
        assert not any(gc.is_tracked(m) for m in many if m is not None)
        gc.collect()
        assert one.upstream_path == "/api"
        assert many == registry.match_many(self.requests())

    def test_any_iterable_and_the_empty_batch(self, registry: Registry) -> None:
        self.setup(registry)
        assert registry.match_many([]) == []
        assert registry.match_many(iter(self.requests())) == registry.match_many(self.requests())
        assert registry.match_many(tuple(self.requests())) == registry.match_many(self.requests())

    @pytest.mark.parametrize(
        ("requests", "error", "message"),
        [
            ([{}, {"protocol": "nope"}], InvalidArgumentError, "request 1: unknown protocol 'nope'"),
            ([{"source": "1.2.3.4"}], InvalidArgumentError, "request 0: invalid source address '1.2.3.4'"),
            ([{}, {}, {"hots": "a"}], TypeError, "request 2: unexpected key 'hots'; a request takes protocol, method"),
            ([{}, "GET /"], TypeError, "request 1: a request must be a dict, not str"),
            ([{"host": None}], TypeError, "request 0: host must be a str, not NoneType"),
            ([{1: "a"}], TypeError, "request 0: a request key must be a str, not int"),
            ("GET /", TypeError, "requests must be a list of dicts, not str"),
            ({"host": "a"}, TypeError, "requests must be a list of dicts, not dict"),
            (5, TypeError, "'int' object is not iterable"),
        ],
    )
    def test_a_bad_request_names_its_position(
        self, registry: Registry, requests: Any, error: type[Exception], message: str
    ) -> None:
        with pytest.raises(error) as info:
            registry.match_many(requests)
        assert str(info.value).startswith(message)
        if isinstance(info.value, RouteyardError):
            assert info.value.name == "ProcessRequestError"


def test_matching_while_another_thread_writes() -> None:
    clock = ManualClock(now=1_000)
    registry = Registry(max_ttl=60, clock=clock)
    svc = service(registry)
    stable = route(registry, svc, hosts=["stable.example.com"])
    registry.upsert_http_routes([cf_route("cf.example.com", "10.0.0.1")])
    done = threading.Event()
    rounds = 200
    failures: list[str] = []

    def writer() -> None:
        try:
            for i in range(rounds):
                r = route(registry, svc, name=f"r{i}", paths=[f"/w/{i}/"])
                registry.upsert_http_routes([cf_route("cf.example.com", f"10.0.1.{i % 250}")])
                if i % 3 == 0:
                    registry.delete_route(r["id"])
        finally:
            done.set()

    def reader() -> None:
        last = 0
        while not done.is_set():
            m = matched(registry.match(host="stable.example.com", path="/anything"))
            if m.route_id != stable["id"]:
                failures.append(f"stable route answered by {m!r}")
            if m.revision < last:
                failures.append(f"revision went back from {last} to {m.revision}")
            last = m.revision
            cf = matched(registry.match(host="cf.example.com", pick=True))
            if cf.backend is None:
                failures.append("no backend picked")
            for one in registry.match_many([{"host": "stable.example.com"}, {"path": "/w/1/x"}]):
                if one is not None and one.route_id is None:
                    failures.append(f"unexpected answer {one!r}")

    errors = run_all([writer, reader, reader, reader])
    assert errors == []
    assert failures == []
    # Once the writer is done, every route it kept answers.
    for i in range(rounds):
        m = registry.match(path=f"/w/{i}/x")
        if i % 3 == 0:
            assert m is None
        else:
            assert matched(m).route is not None and matched(m).route["name"] == f"r{i}"  # type: ignore[index]
