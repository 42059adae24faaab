"""Tests of routeyard.Registry and of the exception hierarchy."""

from __future__ import annotations

import pickle
import threading
from typing import Any

import pytest

import routeyard
from routeyard import (
    ConflictError,
    ProcessRequestError,
    Registry,
    RouterGroupInvalidError,
    RouteyardError,
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
        assert len(classes) == 11
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
