"""routeyard: an embeddable route registry and request matcher.

A :class:`Registry` holds Cloud Foundry style router groups (and, as the package grows,
routes, backends and leases). Objects go in and come out as dicts in Cloud Foundry's JSON
shapes::

    >>> import routeyard
    >>> registry = routeyard.Registry(max_ttl=120)
    >>> group, created = registry.create_router_group(
    ...     {"name": "default-tcp", "type": "tcp", "reservable_ports": "1024-65535"}
    ... )
    >>> created, group["name"], registry.revision > 0
    (True, 'default-tcp', True)

Every error raised is a :class:`RouteyardError` (a :class:`ValueError`) whose ``.name``
is the Cloud Foundry error name.
"""

from routeyard._routeyard import (
    CompactedError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    PortRangeExhaustedError,
    ProcessRequestError,
    Registry,
    RouteInvalidError,
    RouterGroupInvalidError,
    RouteServiceUrlInvalidError,
    RouteyardError,
    TcpRouteMappingInvalidError,
    __version__,
)

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
