"""Type stubs for the native module routeyard._routeyard; import from routeyard instead."""

from typing import Any, final

__all__ = [
    "CompactedError",
    "ConflictError",
    "InvalidArgumentError",
    "NotFoundError",
    "PortRangeExhaustedError",
    "ProcessRequestError",
    "Registry",
    "RouteInvalidError",
    "RouteServiceUrlInvalidError",
    "RouterGroupInvalidError",
    "RouteyardError",
    "TcpRouteMappingInvalidError",
    "__version__",
]

__version__: str

@final
class Registry:
    """An in-memory route registry; one instance may be shared by any number of threads."""

    def __new__(cls, max_ttl: int = 120) -> Registry: ...
    @property
    def revision(self) -> int:
        """A counter that every committed change advances; 0 when new."""
    def create_router_group(self, group: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Creates a router group from a dict in Cloud Foundry's shape.

        Returns ``(group, created)``: the stored group with its ``guid``, and whether it
        is new. A group with the same name and type is returned unchanged.
        """
    def router_groups(self) -> list[dict[str, Any]]:
        """Lists the router groups as dicts in Cloud Foundry's shape."""

class RouteyardError(ValueError):
    """Base class of the errors routeyard raises."""

    name: str
    """The Cloud Foundry routing-api name of the error, such as "ProcessRequestError"."""

class RouteInvalidError(RouteyardError): ...
class RouteServiceUrlInvalidError(RouteyardError): ...
class TcpRouteMappingInvalidError(RouteyardError): ...
class RouterGroupInvalidError(RouteyardError): ...
class ProcessRequestError(RouteyardError): ...
class NotFoundError(RouteyardError): ...
class ConflictError(RouteyardError): ...
class PortRangeExhaustedError(RouteyardError): ...
class CompactedError(RouteyardError): ...
class InvalidArgumentError(RouteyardError): ...
