"""routeyard: an embeddable route registry.

A :class:`Registry` holds Cloud Foundry HTTP routes and TCP route mappings (held by TTL
leases), router groups with reservable ports, port reservations, Kong-style routes and
services, the backends of services (upstreams, with CDAP version splits) and gobetween
servers. Objects go in and come out as dicts in their system's JSON shape: Cloud
Foundry routing-api's for CF objects, Kong's Admin API shape (every field, unset ones as
``None``) for routes and services, gobetween's for servers::

    >>> import routeyard
    >>> clock = routeyard.ManualClock(now=1000)
    >>> registry = routeyard.Registry(max_ttl=120, clock=clock)
    >>> group, created = registry.create_router_group(
    ...     {"name": "default-tcp", "type": "tcp", "reservable_ports": "1024-65535"}
    ... )
    >>> created, group["name"], registry.revision
    (True, 'default-tcp', 1)
    >>> events = registry.subscribe(from_revision=registry.revision, timeout=0)
    >>> registry.upsert_http_routes([{"route": "a.example.com", "ip": "10.0.0.1", "port": 80, "ttl": 30}])
    2
    >>> clock.advance(30)
    >>> registry.http_routes(), registry.expire()
    ([], 1)
    >>> [(e.revision, e.action, e.kind) for e in events]
    [(2, 'upsert', 'http_route'), (3, 'expire', 'http_route')]

Time
    Times and durations are seconds, as an ``int`` (exact) or a ``float`` (rounded to
    the nanosecond): ``ManualClock(now=...)``, ``advance``, ``set``, ``expire(now)``,
    TTLs of reservations, the reaper's interval and subscription timeouts. A registry
    reads its ``clock`` (the system clock, seconds since the Unix epoch, unless given a
    :class:`ManualClock`). Route TTLs and ``max_ttl`` are whole seconds, as in CF. The
    ``expires_at`` of a port reservation is the core's exact integer nanoseconds on
    that clock.

Batches
    :meth:`Registry.apply` takes a list of changes and applies all of them, under
    consecutive revisions, or none. Each change is a dict with an ``"op"`` and exactly
    the fields that op takes:

    ==============================  ==================================================
    ``op``                          fields
    ==============================  ==================================================
    ``upsert_http_route``           ``route``: a CF HTTP route
    ``delete_http_route``           ``route``: a CF HTTP route
    ``upsert_tcp_route_mapping``    ``mapping``: a CF TCP route mapping
    ``delete_tcp_route_mapping``    ``mapping``: a CF TCP route mapping
    ``create_router_group``         ``group``: a CF router group
    ``update_router_group``         ``guid``, ``reservable_ports``: str
    ``delete_router_group``         ``guid``: str
    ``reserve_port``                ``router_group_guid``: str; ``ttl``: seconds or
                                    None (optional)
    ``release_port``                ``router_group_guid``: str, ``port``: int
    ``upsert_service``              ``service``: a Kong service (replaces the one its
                                    ``id`` names, if any)
    ``put_service``                 ``key``: str, ``service``: a Kong service
    ``delete_service``              ``key``: str
    ``upsert_route``                ``route``: a Kong route (replaces the one its
                                    ``id`` names, if any)
    ``put_route``                   ``key``: str, ``route``: a Kong route
    ``delete_route``                ``key``: str
    ``put_upstream``                ``service``: str, ``backends``: list of backend
                                    dicts; ``config``: dict or None (optional)
    ``delete_upstream``             ``service``: str
    ``create_server``               ``name``: str, ``server``: a gobetween server
    ``delete_server``               ``name``: str
    ==============================  ==================================================

    A change not in this form raises :class:`ProcessRequestError` naming its position
    (``change 2: missing field 'guid' for op 'delete_router_group'``); a change the
    registry refuses raises that error's class. Either way nothing is applied. A
    Kong ``PATCH`` (``update_service``, ``update_route``) has no batch form.

Events
    :meth:`Registry.subscribe` returns a :class:`Subscription`, an iterator of
    :class:`Event` (``revision``, ``action``: ``"upsert"``, ``"delete"`` or
    ``"expire"``, ``kind``: ``"http_route"``, ``"tcp_route_mapping"``,
    ``"router_group"``, ``"port_reservation"``, ``"route"``, ``"service"``,
    ``"upstream"`` or ``"server"``, and
    ``object``, a dict in its dialect's shape, and ``expires_at``, the lease's end
    for leased objects). With ``from_revision=r`` it first
    replays the kept events after ``r``. With a ``timeout`` iteration ends once no event
    arrived for that many seconds; without one it waits (interruptible by Ctrl-C). A
    subscriber that falls more than ``subscriber_buffer`` events behind receives what it
    was sent, then :class:`LaggedError` with ``.resume_from``. Asking for revisions no
    longer kept raises :class:`CompactedError` with ``.oldest_revision``.

Snapshots
    :meth:`Registry.snapshot` returns ``{"revision": int, "router_groups": [...],
    "http_routes": [...], "tcp_route_mappings": [...], "port_reservations": [...],
    "routes": [...], "services": [...], "upstreams": [...], "servers": [...]}``, every
    object in the shape the events carry (a server with its ``name``),
    and HTTP routes and TCP mappings with ``expires_at`` (integer nanoseconds, as
    ``Event.expires_at``) besides CF's fields. Every list is sorted by its key. The
    snapshot at revision ``r`` plus the events after ``r`` is the current state.
    Leased objects appear until the event that removes them, even when lapsed.
    :meth:`Registry.restore` takes that form back (every key required) and makes the
    registry hold exactly that state, atomically, writing only the differences, each
    with its event under a new revision.

Matching
    :meth:`Registry.match` takes a request as keyword arguments and returns a
    :class:`Match`, or ``None`` when no route answers::

        >>> service = registry.create_service({"name": "users", "host": "users.internal"})
        >>> route = registry.create_route(
        ...     {"hosts": ["api.example.com"], "paths": [r"~/users/(?<id>\\d+)"],
        ...      "service": {"id": service["id"]}}
        ... )
        >>> m = registry.match(host="api.example.com", path="/users/42/orders")
        >>> m.route_id == route["id"], m.upstream_host, m.upstream_path
        (True, 'users.internal', '/orders')
        >>> m.captures
        [Capture(name='id', index=1, value='42')]
        >>> registry.match(host="api.example.com", path="/") is None
        True

    The arguments: ``protocol`` (a Kong protocol name, default ``"http"``),
    ``method`` (default ``"GET"``), ``host`` (the Host header, which may carry a
    port), ``path`` (the raw path; a query is ignored), ``headers`` (a dict, or a list
    of ``(name, value)`` pairs when a name repeats), ``sni``, ``source`` and
    ``destination`` (``"ip:port"`` with IPv6 in brackets, or ``(ip, port)``),
    ``router_group`` (for a stream request to a CF TCP router: the group whose port,
    the destination's, it arrived on), ``pick`` (choose a backend: a Kong route's
    from its service's upstream, see Upstreams; a CF route's live registration,
    round robin) and ``key`` (the caller key that pick hashes). An unknown protocol or a malformed address raises
    :class:`InvalidArgumentError`; an argument of the wrong type :class:`TypeError`.
    Stream protocols (``tcp``, ``tls``, ``tls_passthrough``, ``udp``) match Kong
    stream routes by SNI, source and destination, then the CF TCP mappings of
    ``router_group`` on the destination port.

    A :class:`Match` is immutable and compares equal to another with the same fields:
    ``route`` and ``service`` (dicts in Kong's shape, built when read), ``route_id``,
    ``service_id``, ``cf_route`` (the CF ``host/path`` that answered), ``tcp_route``
    (``(router_group_guid, port)``), ``upstream_path``, ``upstream_host``,
    ``matched_path``, ``captures`` (a list of :class:`Capture`, each with ``name``,
    ``None`` for an unnamed group, ``index``, 1 for the first group, and ``value``),
    ``backend`` (``(address, port)`` with ``pick=True``, else ``None``), ``redirect``
    (the status code for a plain-HTTP request to an HTTPS-only route) and
    ``revision``. :meth:`Registry.match_many` takes a list of request dicts with the
    same keys and matches them all with the interpreter released.

Upstreams
    :meth:`Registry.put_upstream` gives a service its backends and balancing; the
    routes leading to it then pick among them (``match(..., pick=True)``) and
    :meth:`Registry.connect` takes connection slots on them::

        >>> upstream = registry.put_upstream(
        ...     "users",
        ...     [{"address": "10.0.0.1", "port": 80, "weight": 3},
        ...      {"address": "10.0.0.2", "port": 80},
        ...      {"address": "10.0.0.9", "port": 80, "tier": 1}],
        ...     {"strategy": "roundrobin"},
        ... )
        >>> [registry.match(host="api.example.com", path="/users/1", pick=True).backend[0]
        ...  for _ in range(4)]
        ['10.0.0.1', '10.0.0.1', '10.0.0.2', '10.0.0.1']
        >>> with registry.connect(host="api.example.com", path="/users/1") as conn:
        ...     conn.established()
        ...     conn.add_rx(512)
        ...     registry.pool_stats("users")["active_connections"]
        1

    A backend dict has ``address`` and ``port``, and optionally ``weight`` (default 1),
    ``tier`` (lower is preferred; the next tier serves when a tier has no eligible
    backend), ``version`` (for splits), ``max_connections``, ``state`` (``"live"``,
    ``"draining"``: no new picks, removed by :meth:`Registry.remove_drained` once
    its connections closed, ``"down"``), ``discovered`` and ``metadata``. The
    configuration has ``strategy`` (``"roundrobin"``, ``"random"``, ``"leastconn"``,
    ``"hash"``, ``"iphash"``, ``"iphash1"``, ``"leastbandwidth"``, ``"weight"``),
    ``split`` and ``seed``. ``match``'s ``key`` (bytes or str) is the caller key
    consistent hashing and sticky splits use; the source address is the client IP.

    :meth:`Registry.set_split` sets a CDAP route config (``{"v1": 80, "v2": 20}``) with
    CDAP's rules and texts (:class:`InvalidArgumentError`); any 100 consecutive
    picks hold the percentages exactly. :meth:`Registry.sample_stats` closes a
    statistics window on the registry's clock; :meth:`Registry.pool_stats` and
    :meth:`Registry.server_stats` report in gobetween's shape.

Servers
    :meth:`Registry.create_server` takes a gobetween server (``bind``, ``balance``,
    ``discovery`` with a ``static_list``, ...), checks it and fills in defaults as
    gobetween does (its texts kept), and lands it as a service and a stream route on
    the bind port. :meth:`Registry.dump_servers` and :meth:`Registry.load_servers`
    write and read gobetween config documents in JSON or TOML.

Errors
    Every refused call raises a :class:`RouteyardError` (a :class:`ValueError`) of the
    class of its error kind, with the core's message, ``.name`` (the Cloud Foundry
    routing-api error name) and ``.fields`` (for Kong's schema errors, the
    ``(field, rule)`` pairs). Values that cannot be JSON raise :class:`TypeError`.

Threads
    A registry may be used from any number of threads. Every call releases the
    interpreter while it waits for the registry's locks or for events, and while the
    core works; only the conversion between dicts and the core's objects holds it.
    One exception: :meth:`Registry.match` holds it, because a single lookup never
    waits for a writer and takes less time than releasing and retaking the
    interpreter; :meth:`Registry.match_many` releases it for the whole batch.
"""

from routeyard._routeyard import (
    Capture,
    CompactedError,
    ConflictError,
    Connection,
    Event,
    ForeignKeyViolationError,
    InvalidArgumentError,
    LaggedError,
    ManualClock,
    Match,
    NotFoundError,
    PortRangeExhaustedError,
    ProcessRequestError,
    Reaper,
    Registry,
    RouteInvalidError,
    RouterGroupInvalidError,
    RouteServiceUrlInvalidError,
    RouteyardError,
    SchemaViolationError,
    Subscription,
    TcpRouteMappingInvalidError,
    UniqueViolationError,
    __version__,
)

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
