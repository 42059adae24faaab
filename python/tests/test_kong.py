"""Kong-style services and routes, in Kong's Admin API shape."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from routeyard import (
    ForeignKeyViolationError,
    ManualClock,
    NotFoundError,
    ProcessRequestError,
    Registry,
    SchemaViolationError,
    UniqueViolationError,
)

SERVICE_FIELDS = {
    "id", "name", "protocol", "host", "port", "path", "retries", "connect_timeout",
    "write_timeout", "read_timeout", "tags", "created_at", "updated_at",
    "client_certificate", "tls_verify", "tls_verify_depth", "ca_certificates", "enabled",
}


def service(registry: Registry, name: str = "shop", **extra: Any) -> dict[str, Any]:
    return registry.create_service({"name": name, "host": "shop.internal", **extra})


class TestServices:
    def test_create_returns_every_field_in_kongs_shape(self, registry: Registry) -> None:
        created = service(registry)
        assert set(created) == SERVICE_FIELDS
        assert uuid.UUID(created["id"]).version == 4
        assert (created["protocol"], created["port"], created["retries"]) == ("http", 80, 5)
        assert created["created_at"] == created["updated_at"] == 1_000
        assert created["tls_verify"] is None and created["enabled"] is True

    def test_url_shorthand(self, registry: Registry) -> None:
        created = registry.create_service({"name": "s", "url": "https://api.test:8443/v1"})
        assert (created["protocol"], created["host"], created["port"], created["path"]) == (
            "https",
            "api.test",
            8443,
            "/v1",
        )

    def test_get_by_name_or_id_and_list(self, registry: Registry, clock: ManualClock) -> None:
        first = service(registry, "a")
        clock.advance(1)
        second = service(registry, "b")
        assert registry.service("a") == first
        assert registry.service(first["id"]) == first
        assert registry.service("missing") is None
        assert registry.services() == [first, second]

    def test_put_creates_under_a_name_then_replaces(self, registry: Registry) -> None:
        created, was_created = registry.put_service("by-name", {"host": "one.internal"})
        assert was_created is True
        assert created["name"] == "by-name"
        replaced, was_created = registry.put_service("by-name", {"host": "two.internal"})
        assert was_created is False
        assert replaced["id"] == created["id"]
        assert replaced["host"] == "two.internal"
        # PUT replaces the whole object, but a key that is not an id is the
        # name, whatever the body says.
        assert replaced["name"] == "by-name"

    def test_put_under_a_uuid_uses_it_as_id(self, registry: Registry) -> None:
        key = str(uuid.uuid4())
        created, was_created = registry.put_service(key, {"host": "h.internal"})
        assert was_created and created["id"] == key

    def test_update_patches_given_fields(self, registry: Registry, clock: ManualClock) -> None:
        created = service(registry, retries=2, tags=["a"])
        clock.advance(5)
        patched = registry.update_service("shop", {"port": 8080, "tags": None})
        assert (patched["port"], patched["retries"], patched["tags"]) == (8080, 2, None)
        assert patched["host"] == "shop.internal"
        assert patched["created_at"] == created["created_at"]
        assert patched["updated_at"] == 1_005
        assert registry.service("shop") == patched

    def test_update_of_a_missing_service(self, registry: Registry) -> None:
        with pytest.raises(NotFoundError, match="^Not found$") as info:
            registry.update_service("missing", {"port": 1})
        assert info.value.name == "ResourceNotFoundError"

    def test_update_is_validated_whole(self, registry: Registry) -> None:
        service(registry)
        with pytest.raises(SchemaViolationError) as info:
            registry.update_service("shop", {"host": None})
        assert info.value.fields == [("host", "required field missing")]
        assert registry.service("shop") is not None
        assert registry.service("shop")["host"] == "shop.internal"  # type: ignore[index]

    def test_delete(self, registry: Registry) -> None:
        service(registry)
        assert registry.delete_service("shop") == registry.revision
        assert registry.services() == []
        with pytest.raises(NotFoundError):
            registry.delete_service("shop")

    def test_a_taken_name_is_a_unique_violation(self, registry: Registry) -> None:
        service(registry)
        with pytest.raises(UniqueViolationError) as info:
            service(registry)
        assert info.value.name == "DBConflictError"
        assert info.value.fields == [("name", "shop")]
        assert str(info.value) == "unique constraint violation (name: shop)"

    def test_schema_violations_list_every_rule(self, registry: Registry) -> None:
        with pytest.raises(SchemaViolationError) as info:
            registry.create_service({"host": "h", "port": 70000, "retries": -1})
        assert info.value.name == "ProcessRequestError"
        assert str(info.value).startswith("2 schema violations (")
        assert [path for path, _ in info.value.fields] == ["port", "retries"]
        assert registry.revision == 0

    def test_wrong_types_and_unknown_fields(self, registry: Registry) -> None:
        with pytest.raises(SchemaViolationError, match="expected an integer"):
            registry.create_service({"host": "h", "port": "80"})
        with pytest.raises(SchemaViolationError, match="unknown field"):
            registry.create_service({"host": "h", "colour": "blue"})


class TestRoutes:
    def test_create_with_defaults_in_kongs_shape(self, registry: Registry) -> None:
        svc = service(registry)
        route = registry.create_route({"name": "api", "paths": ["/api"], "service": {"id": svc["id"]}})
        assert route["paths"] == ["/api"]
        assert route["protocols"] == ["http", "https"]
        assert route["strip_path"] is True and route["preserve_host"] is False
        assert route["hosts"] is None and route["headers"] is None
        assert route["service"] == {"id": svc["id"]}
        assert (route["priority"], route["path_mode"]) == (0, "prefix")

    def test_get_list_and_list_by_service(self, registry: Registry, clock: ManualClock) -> None:
        a = service(registry, "a")
        b = service(registry, "b")
        r1 = registry.create_route({"name": "r1", "paths": ["/1"], "service": {"id": a["id"]}})
        clock.advance(1)
        r2 = registry.create_route({"name": "r2", "paths": ["/2"], "service": {"id": b["id"]}})
        clock.advance(1)
        r3 = registry.create_route({"name": "r3", "hosts": ["x.test"]})
        assert registry.route("r1") == r1 and registry.route(r2["id"]) == r2
        assert registry.route("missing") is None
        assert registry.routes() == [r1, r2, r3]
        assert registry.routes("a") == [r1]
        assert registry.routes(service=b["id"]) == [r2]
        assert registry.routes("missing") == []

    def test_put_and_update(self, registry: Registry) -> None:
        created, was_created = registry.put_route("web", {"hosts": ["a.test"]})
        assert was_created and created["name"] == "web"
        replaced, was_created = registry.put_route(created["id"], {"name": "web", "paths": ["/"]})
        assert not was_created
        assert (replaced["hosts"], replaced["paths"]) == (None, ["/"])
        patched = registry.update_route("web", {"methods": ["GET"], "priority": 3})
        assert (patched["methods"], patched["paths"], patched["priority"]) == (["GET"], ["/"], 3)
        with pytest.raises(NotFoundError, match="^Not found$"):
            registry.update_route("missing", {"methods": ["GET"]})

    def test_schema_violation_fields(self, registry: Registry) -> None:
        with pytest.raises(
            SchemaViolationError,
            match=r"^schema violation \(paths.1: should start with: / \(fixed path\) or ~/ \(regex path\)\)$",
        ) as info:
            registry.create_route({"paths": ["api"]})
        assert info.value.fields == [("paths.1", "should start with: / (fixed path) or ~/ (regex path)")]
        with pytest.raises(SchemaViolationError) as whole:
            registry.create_route({"protocols": ["http"]})
        assert whole.value.fields == [
            ("", "must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is 'http'")
        ]
        assert registry.routes() == []

    def test_unknown_service_is_a_foreign_key_violation(self, registry: Registry) -> None:
        missing = str(uuid.uuid4())
        with pytest.raises(ForeignKeyViolationError) as info:
            registry.create_route({"paths": ["/"], "service": {"id": missing}})
        assert info.value.name == "ProcessRequestError"
        assert info.value.fields == [("service.id", missing)]
        assert registry.routes() == []

    def test_a_service_with_routes_cannot_be_deleted(self, registry: Registry) -> None:
        svc = service(registry)
        registry.create_route({"name": "r", "paths": ["/"], "service": {"id": svc["id"]}})
        with pytest.raises(ForeignKeyViolationError):
            registry.delete_service("shop")
        registry.delete_route("r")
        registry.delete_service("shop")
        assert registry.routes() == [] and registry.services() == []
        with pytest.raises(NotFoundError):
            registry.delete_route("r")

    def test_a_taken_route_name(self, registry: Registry) -> None:
        registry.create_route({"name": "r", "paths": ["/"]})
        with pytest.raises(UniqueViolationError):
            registry.create_route({"name": "r", "paths": ["/x"]})

    def test_bodies_must_be_dicts_of_json_values(self, registry: Registry) -> None:
        with pytest.raises(TypeError):
            registry.create_route([])  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="is not a JSON value"):
            registry.create_route({"paths": [object()]})
        with pytest.raises((ProcessRequestError, SchemaViolationError)):
            registry.create_route({"paths": "/"})
