"""Type stubs for the native module routeyard._routeyard; import from routeyard instead."""

from types import TracebackType
from typing import Any, ClassVar, Iterable, Literal, Sequence, final

__all__ = [
    "Capture",
    "CompactedError",
    "ConflictError",
    "Connection",
    "Event",
    "ForeignKeyViolationError",
    "InvalidArgumentError",
    "LaggedError",
    "ManualClock",
    "Match",
    "NotFoundError",
    "PortRangeExhaustedError",
    "ProcessRequestError",
    "Reaper",
    "Registry",
    "RouteInvalidError",
    "RouteServiceUrlInvalidError",
    "RouterGroupInvalidError",
    "RouteyardError",
    "SchemaViolationError",
    "Subscription",
    "TcpRouteMappingInvalidError",
    "UniqueViolationError",
    "__version__",
]

__version__: str

@final
class ManualClock:
    """A clock that moves only when told to; pass it as ``Registry(clock=...)``.

    Times are seconds (an int, or a float rounded to the nanosecond) since an epoch of
    the caller's choosing; the clock starts at ``now`` (default 0).
    """

    def __new__(cls, now: float | None = None) -> ManualClock: ...
    def now(self) -> float:
        """The time shown, in seconds."""
    def now_ns(self) -> int:
        """The time shown, in nanoseconds."""
    def advance(self, seconds: float) -> None:
        """Moves the clock ``seconds`` forward."""
    def set(self, now: float) -> None:
        """Sets the clock to ``now`` seconds; it may move backwards."""

@final
class Registry:
    """An in-memory route registry; one instance may be shared by any number of threads.

    ``max_ttl``: whole seconds, the longest lease and the lease of a registration that
    names none. ``history``: events kept for replay (default 65,536).
    ``subscriber_buffer``: undelivered events a subscriber may hold before it lags
    (default 1,024). ``clock``: a :class:`ManualClock`, or None for the system clock.
    ``reserved_ports``: ports no router group may make reservable.
    ``reservation_ttl``: seconds a port reservation lives unless claimed (default
    ``max_ttl``).
    """

    def __new__(
        cls,
        max_ttl: int = 120,
        history: int | None = None,
        subscriber_buffer: int | None = None,
        clock: ManualClock | None = None,
        reserved_ports: list[int] | None = None,
        reservation_ttl: float | None = None,
    ) -> Registry: ...
    @property
    def revision(self) -> int:
        """A counter that every committed change advances; 0 when new."""
    @property
    def max_ttl(self) -> int:
        """The configured ``max_ttl``, in whole seconds."""
    @property
    def subscriber_count(self) -> int:
        """The number of open subscriptions."""

    # CF HTTP routes
    def upsert_http_routes(self, routes: list[dict[str, Any]]) -> int:
        """Creates or renews CF HTTP routes, all or none; returns the revision."""
    def delete_http_routes(self, routes: list[dict[str, Any]]) -> int:
        """Removes CF HTTP routes by key (absent ones are skipped); returns the revision."""
    def http_routes(self) -> list[dict[str, Any]]:
        """The live CF HTTP routes, in no particular order."""

    # CF TCP route mappings
    def upsert_tcp_route_mappings(self, mappings: list[dict[str, Any]]) -> int:
        """Creates or renews CF TCP route mappings, all or none; returns the revision."""
    def delete_tcp_route_mappings(self, mappings: list[dict[str, Any]]) -> int:
        """Removes CF TCP route mappings by key; returns the revision."""
    def tcp_route_mappings(
        self, isolation_segments: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """The live CF TCP route mappings, optionally only those in the given segments
        (``""`` selects mappings without one)."""

    # Router groups
    def create_router_group(self, group: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Creates a router group from a dict in Cloud Foundry's shape.

        Returns ``(group, created)``: the stored group with its ``guid``, and whether it
        is new. A group with the same name and type is returned unchanged.
        """
    def update_router_group(self, guid: str, reservable_ports: str) -> dict[str, Any]:
        """Replaces the ``reservable_ports`` of the group with this guid; returns it."""
    def delete_router_group(self, guid: str) -> int:
        """Removes a router group and its port reservations; returns the revision."""
    def router_groups(self) -> list[dict[str, Any]]:
        """Lists the router groups as dicts in Cloud Foundry's shape."""
    def router_group(self, guid: str) -> dict[str, Any] | None:
        """The router group with this guid, or None."""
    def router_group_by_name(self, name: str) -> dict[str, Any]:
        """The router group with this name; :class:`NotFoundError` if there is none."""

    # Port reservations
    def reserve_port(self, router_group_guid: str, ttl: float | None = None) -> dict[str, Any]:
        """Reserves the lowest free port of the group for ``ttl`` seconds; returns
        ``{"router_group_guid", "port", "expires_at"}`` (``expires_at`` in nanoseconds)."""
    def release_port(self, router_group_guid: str, port: int) -> int:
        """Releases a port reservation; returns the revision."""
    def port_reservations(self) -> list[dict[str, Any]]:
        """The live port reservations, in no particular order."""
    def reserve_port_in_range(self, name: str, range: str) -> int:
        """Narrows (or creates) the tcp group ``name`` to the first port of ``"a-b"``
        that no group holds, atomically; returns the port."""

    # Kong services
    def create_service(self, service: dict[str, Any]) -> dict[str, Any]:
        """Creates a service (Kong's ``POST /services``); returns it in Kong's shape."""
    def put_service(self, key: str, service: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Creates or replaces the service named or identified by ``key``; returns
        ``(service, created)``."""
    def update_service(self, key: str, patch: dict[str, Any]) -> dict[str, Any]:
        """Applies a partial dict (Kong's ``PATCH``) to a service; returns it."""
    def delete_service(self, key: str) -> int:
        """Deletes a service by name or id; returns the revision."""
    def service(self, key: str) -> dict[str, Any] | None:
        """The service with this name or id, or None."""
    def services(self) -> list[dict[str, Any]]:
        """Every service, oldest first."""

    # Kong routes
    def create_route(self, route: dict[str, Any]) -> dict[str, Any]:
        """Creates a route (Kong's ``POST /routes``); returns it in Kong's shape."""
    def put_route(self, key: str, route: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Creates or replaces the route named or identified by ``key``; returns
        ``(route, created)``."""
    def update_route(self, key: str, patch: dict[str, Any]) -> dict[str, Any]:
        """Applies a partial dict (Kong's ``PATCH``) to a route; returns it."""
    def delete_route(self, key: str) -> int:
        """Deletes a route by name or id; returns the revision."""
    def route(self, key: str) -> dict[str, Any] | None:
        """The route with this name or id, or None."""
    def routes(self, service: str | None = None) -> list[dict[str, Any]]:
        """Every route, oldest first; with ``service``, only those leading to it."""

    # Matching
    def match(
        self,
        protocol: str = "http",
        method: str = "GET",
        host: str = "",
        path: str = "/",
        headers: dict[str, str] | Sequence[tuple[str, str]] | None = None,
        sni: str | None = None,
        source: str | tuple[str, int] | None = None,
        destination: str | tuple[str, int] | None = None,
        router_group: str | None = None,
        pick: bool = False,
        key: bytes | str | None = None,
    ) -> Match | None:
        """Matches a request; returns the answer, or None when no route answers.

        Stream protocols (``tcp``, ``tls``, ``tls_passthrough``, ``udp``) match stream
        routes, then (given ``router_group``) the CF TCP mappings of that group on the
        destination's port. ``source``/``destination``: ``"ip:port"`` (IPv6 in
        brackets) or ``(ip, port)``. ``pick``: also choose a backend (a Kong route's
        from its service's upstream, by its strategy; a CF route's live registration,
        round robin). ``key``: the caller key a pick hashes for consistent hashing
        and sticky splits.
        """
    def connect(
        self,
        protocol: str = "http",
        method: str = "GET",
        host: str = "",
        path: str = "/",
        headers: dict[str, str] | Sequence[tuple[str, str]] | None = None,
        sni: str | None = None,
        source: str | tuple[str, int] | None = None,
        destination: str | tuple[str, int] | None = None,
        router_group: str | None = None,
        key: bytes | str | None = None,
    ) -> Connection | None:
        """Matches a request as :meth:`match` does and takes a connection slot on a
        backend of the route's service upstream; None when no route answers or no
        backend has room."""
    def match_many(
        self, requests: Iterable[dict[str, Any]], pick: bool = False
    ) -> list[Match | None]:
        """Matches each request (a dict with the keyword arguments of :meth:`match`
        as keys, ``pick`` excepted) with the interpreter released; one answer per
        request, in order."""

    # Upstreams, splits and statistics
    def put_upstream(
        self,
        service: str,
        backends: list[dict[str, Any]],
        config: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Sets the backends and balancing of a service; returns
        ``{"service_id", "backends", "config"}``."""
    def upstream(self, service: str) -> dict[str, Any] | None:
        """The upstream of a service (by name or id), or None."""
    def upstreams(self) -> list[dict[str, Any]]:
        """Every upstream, by service id."""
    def delete_upstream(self, service: str) -> int:
        """Removes the backends and balancing of a service; returns the revision."""
    def set_split(
        self,
        service: str,
        split: dict[str, int],
        fallback: _Fallback = "random",
        sticky: bool = False,
    ) -> int:
        """Sets the version split of a service (CDAP's rules and texts); returns the
        revision."""
    def split(self, service: str) -> dict[str, Any] | None:
        """The version split of a service, ``{"split", "fallback", "sticky"}``, or None."""
    def delete_split(self, service: str) -> int:
        """Removes the version split of a service; returns the revision."""
    def pool_stats(self, service: str) -> dict[str, Any] | None:
        """The statistics of a service's backends in gobetween's shape, or None."""
    def sample_stats(self, now: float | None = None) -> None:
        """Closes a statistics window at ``now`` (seconds; default the clock's time)."""
    def remove_drained(self) -> int:
        """Removes draining backends without connections; returns how many."""

    # gobetween servers
    def create_server(self, name: str, server: dict[str, Any]) -> dict[str, Any]:
        """Creates a gobetween server; returns it as stored, with its ``name``."""
    def server(self, name: str) -> dict[str, Any] | None:
        """The gobetween server of this name, or None."""
    def servers(self) -> dict[str, dict[str, Any]]:
        """Every gobetween server, by name."""
    def delete_server(self, name: str) -> int:
        """Deletes a gobetween server and what it landed as; returns the revision."""
    def server_stats(self, name: str) -> dict[str, Any] | None:
        """A gobetween server's statistics in gobetween's shape, or None."""
    def dump_servers(self, format: _Format = "json") -> str:
        """The servers as a gobetween config document."""
    def load_servers(self, text: str, format: _Format = "json") -> int:
        """Creates every server of a gobetween config document, atomically; returns
        the revision."""

    # Batches, leases, events, snapshots
    def apply(self, changes: list[dict[str, Any]]) -> list[Event]:
        """Applies a list of changes atomically; returns the committed events."""
    def expire(self, now: float | None = None) -> int:
        """Removes the leases lapsed at ``now`` (seconds; default the clock's time);
        returns how many."""
    def compact_index(self) -> int:
        """Drops lapsed CF backends from the matcher's index; returns how many."""
    def start_reaper(self, interval: float) -> Reaper:
        """Starts a thread that expires lapsed leases every ``interval`` seconds."""
    def subscribe(
        self,
        from_revision: int | None = None,
        kinds: Sequence[_EventKind] | None = None,
        timeout: float | None = None,
    ) -> Subscription:
        """Subscribes to events; iterate over the result to receive them."""
    def snapshot(self) -> dict[str, Any]:
        """Everything the registry holds and the revision it shows; leased CF objects
        carry ``expires_at`` (nanoseconds) besides their CF fields."""
    def restore(self, snapshot: dict[str, Any]) -> int:
        """Makes the registry hold exactly what ``snapshot`` holds, atomically, writing
        only the differences; returns the revision."""

@final
class Capture:
    """One group of a regex path that took part in a match."""

    __hash__: ClassVar[None]  # type: ignore[assignment]
    @property
    def name(self) -> str | None:
        """The group's name, for a named group; otherwise None."""
    @property
    def index(self) -> int:
        """The group's number, 1 for the first group."""
    @property
    def value(self) -> str:
        """The captured text."""

@final
class Match:
    """The answer to a request; immutable, equal to another when every field is."""

    __hash__: ClassVar[None]  # type: ignore[assignment]
    @property
    def route(self) -> dict[str, Any] | None:
        """The Kong-style route that matched, in Kong's shape (a new dict on each
        read); None when a CF route or CF TCP mappings answered."""
    @property
    def route_id(self) -> str | None:
        """The id of the Kong-style route that matched, or None."""
    @property
    def service(self) -> dict[str, Any] | None:
        """The route's service in Kong's shape (a new dict on each read), or None."""
    @property
    def service_id(self) -> str | None:
        """The id of the route's service, or None."""
    @property
    def cf_route(self) -> str | None:
        """The CF HTTP route (``host/path``, lowercased) that answered, or None."""
    @property
    def tcp_route(self) -> tuple[str, int] | None:
        """``(router_group_guid, port)`` of the CF TCP mappings that answered, or None."""
    @property
    def upstream_path(self) -> str:
        """The path to send upstream, after ``strip_path`` and the service's path
        (``""`` for streams)."""
    @property
    def upstream_host(self) -> str:
        """The Host to send upstream: the request's with ``preserve_host`` and for CF
        routes, else the service's; for streams the SNI."""
    @property
    def matched_path(self) -> str:
        """The part of the request path the route's path matched (``""`` when it
        matched by other fields, and for CF routes)."""
    @property
    def captures(self) -> list[Capture]:
        """The groups of a regex path that took part in the match, in group order."""
    @property
    def backend(self) -> tuple[str, int] | None:
        """``(address, port)`` of the backend chosen with ``pick=True``, or None."""
    @property
    def redirect(self) -> int | None:
        """The status code to redirect a plain-HTTP request to an HTTPS-only route
        with, or None."""
    @property
    def revision(self) -> int:
        """The registry revision of the index that answered."""

_EventAction = Literal["upsert", "delete", "expire"]
_EventKind = Literal[
    "http_route",
    "tcp_route_mapping",
    "router_group",
    "port_reservation",
    "route",
    "service",
    "upstream",
    "server",
]
_Fallback = Literal["random", "drop", "smallest", "largest"]
_Format = Literal["json", "toml"]

@final
class Connection:
    """A connection slot on a backend, taken by :meth:`Registry.connect`; given back
    by :meth:`close`, a ``with`` block or garbage collection."""

    @property
    def backend(self) -> tuple[str, int]:
        """``(address, port)`` of the backend."""
    @property
    def closed(self) -> bool:
        """Whether the slot was given back."""
    def established(self) -> None:
        """The dial succeeded: counts the connection in the backend's total."""
    def refused(self) -> None:
        """The dial failed: counts a refused connection and gives the slot back."""
    def add_rx(self, n: int) -> None:
        """``n`` more bytes were received from the backend."""
    def add_tx(self, n: int) -> None:
        """``n`` more bytes were sent to the backend."""
    def close(self) -> None:
        """Gives the slot back; closing again does nothing."""
    def __enter__(self) -> Connection: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

@final
class Event:
    """One committed change."""

    @property
    def revision(self) -> int:
        """The registry's revision once this change was applied."""
    @property
    def action(self) -> _EventAction:
        """``"upsert"``, ``"delete"`` or ``"expire"``."""
    @property
    def kind(self) -> _EventKind:
        """The kind of object."""
    @property
    def expires_at(self) -> int | None:
        """For a leased object, when its lease ends (nanoseconds on the registry's
        clock); otherwise None."""
    @property
    def object(self) -> dict[str, Any]:
        """The object, as a dict in its dialect's shape."""
    def to_dict(self) -> dict[str, Any]:
        """``{"revision", "action", "kind", "object"}``."""

@final
class Subscription:
    """An iterator of events: the replayed history, then live changes."""

    def __iter__(self) -> Subscription: ...
    def __next__(self) -> Event: ...
    def recv(self, timeout: float | None = None) -> Event | None:
        """The next event within ``timeout`` seconds, or None."""
    @property
    def pending(self) -> int:
        """The number of events that can be received without waiting."""
    @property
    def closed(self) -> bool:
        """Whether the subscription was closed."""
    def close(self) -> None:
        """Unsubscribes; iteration then ends."""
    def __enter__(self) -> Subscription: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

@final
class Reaper:
    """The background expiry thread started by :meth:`Registry.start_reaper`."""

    @property
    def running(self) -> bool:
        """Whether the thread runs."""
    def stop(self) -> None:
        """Stops the thread and waits for it."""
    def __enter__(self) -> Reaper: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

class RouteyardError(ValueError):
    """Base class of the errors routeyard raises."""

    name: str
    """The Cloud Foundry routing-api name of the error, such as "ProcessRequestError"."""
    fields: list[tuple[str, str]]
    """For Kong's errors, each offending field's path and the rule it broke."""

class RouteInvalidError(RouteyardError): ...
class RouteServiceUrlInvalidError(RouteyardError): ...
class TcpRouteMappingInvalidError(RouteyardError): ...
class RouterGroupInvalidError(RouteyardError): ...
class ProcessRequestError(RouteyardError): ...
class NotFoundError(RouteyardError): ...
class ConflictError(RouteyardError): ...
class PortRangeExhaustedError(RouteyardError): ...

class CompactedError(RouteyardError):
    oldest_revision: int
    """The oldest revision whose events can still be replayed."""

class InvalidArgumentError(RouteyardError): ...
class SchemaViolationError(RouteyardError): ...
class UniqueViolationError(RouteyardError): ...
class ForeignKeyViolationError(RouteyardError): ...

class LaggedError(RouteyardError):
    resume_from: int
    """The last revision whose events were all delivered; subscribe again from it."""
