/*
 * Tests of the hot path, ry_match: Kong HTTP routes (hosts, paths, methods, headers,
 * regex paths, strip_path, preserve_host, HTTPS redirects), CF HTTP routes (round
 * robin, lapsed leases under a manual clock), Kong stream routes (SNIs, sources,
 * destinations, IPv4 and IPv6) and CF TCP mappings; misses, buffers too small,
 * invalid UTF-8, bad enum values and NULLs; readers (ry_reader_match), which must
 * answer every one of these as ry_match does, and the lifetimes of what they lend;
 * ry_match_json, its captures and its errors; and several threads matching while
 * another one writes.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdlib.h>

#include "check.h"

#define SECOND 1000000000ULL
#define T0 (1000 * SECOND)

/* A result with a buffer of its own for every string. */
struct answer {
    ry_match_result r;
    char cf_route[128];
    char upstream_path[256];
    char upstream_host[128];
    char matched_path[128];
    char backend_name[128];
};

/* Fills the result with a pattern (ry_match must overwrite what it reports) and
 * points every buffer at its storage. */
static void prepare(struct answer *a) {
    memset(a, 0x5a, sizeof *a);
    a->r.cf_route.data = a->cf_route;
    a->r.cf_route.capacity = sizeof a->cf_route;
    a->r.upstream_path.data = a->upstream_path;
    a->r.upstream_path.capacity = sizeof a->upstream_path;
    a->r.upstream_host.data = a->upstream_host;
    a->r.upstream_host.capacity = sizeof a->upstream_host;
    a->r.matched_path.data = a->matched_path;
    a->r.matched_path.capacity = sizeof a->matched_path;
    a->r.backend_name.data = a->backend_name;
    a->r.backend_name.capacity = sizeof a->backend_name;
}

/* Whether a lent string holds exactly `text`. */
static bool lent_is(ry_str s, const char *text) {
    return s.data != NULL && s.len == strlen(text) && memcmp(s.data, text, s.len) == 0;
}

/* Whether a reader's answer, asked without a pick, is the same as ry_match's. */
static bool view_agrees(const ry_match_view *v, const struct answer *a) {
    return v->kind == a->r.kind && lent_is(v->route_id, a->r.route_id) &&
           lent_is(v->service_id, a->r.service_id) && lent_is(v->cf_route, a->cf_route) &&
           v->tcp_port == a->r.tcp_port && lent_is(v->upstream_path, a->upstream_path) &&
           lent_is(v->upstream_host, a->upstream_host) &&
           lent_is(v->matched_path, a->matched_path) && v->redirect == a->r.redirect &&
           !v->backend_picked && v->backend.family == RY_ADDR_FAMILY_NONE &&
           v->backend.port == 0 && v->backend_name.len == 0 && v->revision == a->r.revision;
}

/* Matches, expecting RY_OK; the answer goes to `a`. A new reader of the registry is
 * asked the same (without a pick, so that a round robin moves only once) and must
 * lend the same answer. */
static bool match_at(const ry_registry *reg, const ry_request *req, bool pick, struct answer *a,
                     const char *file, int line) {
    ry_error *err = NULL;
    ry_status status;
    prepare(a);
    status = ry_match(reg, req, pick, &a->r, &err);
    if (status != RY_OK) {
        current_failures++;
        fprintf(stderr, "  %s:%d: ry_match failed with %d: %s\n", file, line, (int)status,
                ry_error_message(err));
        ry_error_free(err);
        return false;
    }
    {
        ry_reader *reader = NULL;
        ry_match_view view;
        bool agrees;
        if (ry_reader_new(reg, &reader, &err) != RY_OK) {
            current_failures++;
            fprintf(stderr, "  %s:%d: ry_reader_new failed: %s\n", file, line,
                    ry_error_message(err));
            ry_error_free(err);
            return false;
        }
        memset(&view, 0x5a, sizeof view);
        agrees = ry_reader_match(reader, req, false, &view, NULL) == RY_OK &&
                 view_agrees(&view, a);
        ry_reader_free(reader);
        if (!agrees) {
            current_failures++;
            fprintf(stderr, "  %s:%d: ry_reader_match answered otherwise\n", file, line);
            return false;
        }
    }
    /* Every buffer holds exactly `len` bytes before its NUL. */
    if (strlen(a->cf_route) != a->r.cf_route.len ||
        strlen(a->upstream_path) != a->r.upstream_path.len ||
        strlen(a->upstream_host) != a->r.upstream_host.len ||
        strlen(a->matched_path) != a->r.matched_path.len ||
        strlen(a->backend_name) != a->r.backend_name.len) {
        current_failures++;
        fprintf(stderr, "  %s:%d: a buffer's length does not match its text\n", file, line);
        return false;
    }
    return true;
}

#define MATCH(reg, req, pick, a) match_at((reg), (req), (pick), (a), __FILE__, __LINE__)

static ry_request http_request(const char *method, const char *host, const char *path) {
    ry_request req;
    memset(&req, 0, sizeof req);
    req.protocol = RY_PROTOCOL_HTTP;
    req.method = (const uint8_t *)method;
    req.method_len = strlen(method);
    req.host = (const uint8_t *)host;
    req.host_len = strlen(host);
    req.path = (const uint8_t *)path;
    req.path_len = strlen(path);
    return req;
}

static ry_addr ipv4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port) {
    ry_addr addr;
    memset(&addr, 0, sizeof addr);
    addr.family = RY_ADDR_FAMILY_IPV4;
    addr.addr[0] = a;
    addr.addr[1] = b;
    addr.addr[2] = c;
    addr.addr[3] = d;
    addr.port = port;
    return addr;
}

static ry_request stream_request(ry_protocol protocol, ry_addr source, ry_addr destination) {
    ry_request req;
    memset(&req, 0, sizeof req);
    req.protocol = protocol;
    req.source = source;
    req.destination = destination;
    return req;
}

/* A registry with max_ttl 120 s on a manual clock at T0; the clock goes to *clock. */
static ry_registry *manual_registry(ry_clock **clock) {
    ry_config *config = ry_config_new();
    ry_registry *reg = NULL;
    ry_error *err = NULL;
    *clock = ry_clock_new(T0);
    CHECK(config != NULL && *clock != NULL);
    CHECK(OK(ry_config_set_clock(config, *clock, &err), err));
    CHECK(OK(ry_registry_new_with_config(config, &reg, &err), err));
    ry_config_free(config);
    return reg;
}

/* Creates a Kong object through `create` and copies the id it got into `id`. */
static void make(ry_status (*create)(const ry_registry *, const uint8_t *, size_t, char **,
                                     size_t *, ry_error **),
                 const ry_registry *reg, const char *json, char *id) {
    char *out = NULL;
    ry_error *err = NULL;
    id[0] = '\0';
    if (OK(create(reg, S(json), &out, NULL, &err), err)) {
        CHECK(json_string(out, "id", id, RY_ID_SIZE) && strlen(id) == 36);
    }
    ry_string_free(out);
}

/* Creates a Kong route from a JSON text with one `%s` for the service id. */
static void make_route(const ry_registry *reg, const char *format, const char *service_id,
                       char *id) {
    char json[512];
    snprintf(json, sizeof json, format, service_id);
    make(ry_registry_create_route_json, reg, json, id);
}

static void upsert_cf(const ry_registry *reg, const char *json) {
    ry_error *err = NULL;
    CHECK(OK(ry_registry_upsert_http_routes_json(reg, S(json), NULL, &err), err));
}

static void test_kong_http_routes(void) {
    ry_registry *reg = ry_registry_new(120);
    char service[RY_ID_SIZE];
    char orders[RY_ID_SIZE];
    char keep[RY_ID_SIZE];
    char versioned[RY_ID_SIZE];
    char users[RY_ID_SIZE];
    char secure[RY_ID_SIZE];
    uint64_t revision = 0;
    struct answer a;
    ry_request req;
    ry_header headers[2];

    make(ry_registry_create_service_json, reg,
         "{\"name\":\"orders\",\"url\":\"http://orders.internal:8080/api\"}", service);
    make_route(reg,
               "{\"name\":\"orders\",\"hosts\":[\"shop.example.com\"],\"paths\":[\"/orders\"],"
               "\"methods\":[\"GET\",\"POST\"],\"strip_path\":true,\"service\":{\"id\":\"%s\"}}",
               service, orders);
    make_route(reg,
               "{\"hosts\":[\"keep.example.com\"],\"paths\":[\"/k\"],\"strip_path\":false,"
               "\"preserve_host\":true,\"service\":{\"id\":\"%s\"}}",
               service, keep);
    make_route(reg,
               "{\"hosts\":[\"api.example.com\"],\"headers\":{\"x-version\":[\"2\",\"3\"]},"
               "\"service\":{\"id\":\"%s\"}}",
               service, versioned);
    make_route(reg,
               "{\"hosts\":[\"api.example.com\"],\"paths\":[\"~/users/(?<id>\\\\d+)$\"],"
               "\"strip_path\":false,\"service\":{\"id\":\"%s\"}}",
               service, users);
    make_route(reg,
               "{\"hosts\":[\"secure.example.com\"],\"protocols\":[\"https\"],"
               "\"https_redirect_status_code\":301,\"service\":{\"id\":\"%s\"}}",
               service, secure);
    CHECK(ry_registry_revision(reg, &revision, NULL) == RY_OK && revision == 6);

    /* Host, path and method; strip_path removes the matched prefix, the service's path
     * goes in front, and the service's host goes upstream. */
    req = http_request("GET", "shop.example.com", "/orders/7?full=1");
    if (MATCH(reg, &req, false, &a)) {
        CHECK(a.r.kind == RY_MATCH_KIND_ROUTE);
        CHECK(strcmp(a.r.route_id, orders) == 0);
        CHECK(strcmp(a.r.service_id, service) == 0);
        CHECK(strcmp(a.upstream_path, "/api/7") == 0);
        CHECK(strcmp(a.upstream_host, "orders.internal") == 0);
        CHECK(strcmp(a.matched_path, "/orders") == 0);
        CHECK(a.cf_route[0] == '\0' && a.r.cf_route.len == 0);
        CHECK(a.r.tcp_port == 0 && a.r.redirect == 0);
        CHECK(!a.r.backend_picked && a.r.backend.family == RY_ADDR_FAMILY_NONE);
        CHECK(a.r.backend.port == 0 && a.backend_name[0] == '\0');
        CHECK(a.r.revision == 6);
    }
    /* Asking for a backend changes nothing for a Kong route: it has none. */
    req = http_request("POST", "Shop.Example.com:443", "/orders");
    if (MATCH(reg, &req, true, &a)) {
        CHECK(a.r.kind == RY_MATCH_KIND_ROUTE && strcmp(a.r.route_id, orders) == 0);
        CHECK(strcmp(a.upstream_path, "/api") == 0);
        CHECK(!a.r.backend_picked);
    }
    /* A method the route does not list: nothing else matches. */
    req = http_request("DELETE", "shop.example.com", "/orders/7");
    if (MATCH(reg, &req, false, &a)) {
        CHECK(a.r.kind == RY_MATCH_KIND_NONE);
        CHECK(a.r.route_id[0] == '\0' && a.r.service_id[0] == '\0');
        CHECK(a.r.upstream_path.len == 0 && a.r.upstream_host.len == 0);
        CHECK(a.upstream_path[0] == '\0' && a.matched_path[0] == '\0');
        CHECK(a.r.revision == 6);
    }
    /* preserve_host sends the request's Host as it came; without strip_path the whole
     * path follows the service's. */
    req = http_request("GET", "keep.example.com:8443", "/k/x");
    if (MATCH(reg, &req, false, &a)) {
        CHECK(strcmp(a.r.route_id, keep) == 0);
        CHECK(strcmp(a.upstream_host, "keep.example.com:8443") == 0);
        CHECK(strcmp(a.upstream_path, "/api/k/x") == 0);
        CHECK(strcmp(a.matched_path, "/k") == 0);
    }
    /* Headers: any listed value, names without regard to case. */
    req = http_request("GET", "api.example.com", "/anything");
    headers[0].name = (const uint8_t *)"Accept";
    headers[0].name_len = 6;
    headers[0].value = (const uint8_t *)"*/*";
    headers[0].value_len = 3;
    headers[1].name = (const uint8_t *)"X-Version";
    headers[1].name_len = 9;
    headers[1].value = (const uint8_t *)"3";
    headers[1].value_len = 1;
    req.headers = headers;
    req.headers_len = 2;
    if (MATCH(reg, &req, false, &a)) {
        CHECK(a.r.kind == RY_MATCH_KIND_ROUTE && strcmp(a.r.route_id, versioned) == 0);
        CHECK(a.r.matched_path.len == 0);
    }
    headers[1].value = (const uint8_t *)"4";
    if (MATCH(reg, &req, false, &a)) {
        CHECK(a.r.kind == RY_MATCH_KIND_NONE);
    }
    /* A regex path: what it matched is the whole path. */
    req = http_request("GET", "api.example.com", "/users/42");
    if (MATCH(reg, &req, false, &a)) {
        CHECK(strcmp(a.r.route_id, users) == 0);
        CHECK(strcmp(a.matched_path, "/users/42") == 0);
        CHECK(strcmp(a.upstream_path, "/api/users/42") == 0);
    }
    req = http_request("GET", "api.example.com", "/users/x42");
    if (MATCH(reg, &req, false, &a)) {
        CHECK(a.r.kind == RY_MATCH_KIND_NONE);
    }
    /* An HTTPS-only route answers plain HTTP with its redirect status. */
    req = http_request("GET", "secure.example.com", "/");
    if (MATCH(reg, &req, false, &a)) {
        CHECK(strcmp(a.r.route_id, secure) == 0 && a.r.redirect == 301);
    }
    req.protocol = RY_PROTOCOL_HTTPS;
    if (MATCH(reg, &req, false, &a)) {
        CHECK(strcmp(a.r.route_id, secure) == 0 && a.r.redirect == 0);
    }
    /* Buffers not wanted are neither computed nor written. */
    req = http_request("GET", "shop.example.com", "/orders/7");
    prepare(&a);
    a.r.upstream_path.data = NULL;
    a.r.cf_route.data = NULL;
    a.r.backend_name.data = NULL;
    CHECK(ry_match(reg, &req, false, &a.r, NULL) == RY_OK);
    CHECK(a.r.kind == RY_MATCH_KIND_ROUTE && a.r.upstream_path.len == 0);
    CHECK(a.r.cf_route.len == 0 && a.r.backend_name.len == 0);
    CHECK((unsigned char)a.upstream_path[0] == 0x5a);
    CHECK(strcmp(a.upstream_host, "orders.internal") == 0);
    ry_registry_free(reg);
}

static bool same_backend(const ry_addr *addr, uint8_t last, uint16_t port) {
    static const uint8_t zero[12] = {0};
    return addr->family == RY_ADDR_FAMILY_IPV4 && addr->addr[0] == 10 && addr->addr[1] == 0 &&
           addr->addr[2] == 0 && addr->addr[3] == last && addr->port == port &&
           memcmp(addr->addr + 4, zero, sizeof zero) == 0;
}

static void test_cf_routes_round_robin_and_expiry(void) {
    ry_clock *clock = NULL;
    ry_registry *reg = manual_registry(&clock);
    ry_error *err = NULL;
    struct answer a;
    ry_request req = http_request("GET", "Shop.Example.com:443", "/cart/42");
    int first = 0;
    int second = 0;
    int i;

    upsert_cf(reg,
              "[{\"route\":\"shop.example.com/cart\",\"ip\":\"10.0.0.1\",\"port\":8080,\"ttl\":60},"
              "{\"route\":\"shop.example.com/cart\",\"ip\":\"10.0.0.2\",\"port\":8081,\"ttl\":10},"
              "{\"route\":\"shop.example.com\",\"ip\":\"10.0.0.3\",\"port\":9000,\"ttl\":60}]");

    /* Without a pick: the route, the request's path and host, no backend. */
    if (MATCH(reg, &req, false, &a)) {
        CHECK(a.r.kind == RY_MATCH_KIND_CF_ROUTE);
        CHECK(strcmp(a.cf_route, "shop.example.com/cart") == 0);
        CHECK(strcmp(a.upstream_path, "/cart/42") == 0);
        CHECK(strcmp(a.upstream_host, "Shop.Example.com:443") == 0);
        CHECK(a.r.route_id[0] == '\0' && a.r.service_id[0] == '\0');
        CHECK(a.r.matched_path.len == 0);
        CHECK(!a.r.backend_picked && a.r.backend.family == RY_ADDR_FAMILY_NONE);
    }
    /* Round robin over both live backends. */
    for (i = 0; i < 4; i++) {
        if (MATCH(reg, &req, true, &a)) {
            CHECK(a.r.backend_picked);
            CHECK(a.r.backend_name.len == 0);
            first += same_backend(&a.r.backend, 1, 8080);
            second += same_backend(&a.r.backend, 2, 8081);
        }
    }
    CHECK(first == 2 && second == 2);
    /* Segment prefix: /cartx is the host's route, not /cart's. */
    req = http_request("GET", "shop.example.com", "/cartx");
    if (MATCH(reg, &req, true, &a)) {
        CHECK(strcmp(a.cf_route, "shop.example.com") == 0);
        CHECK(a.r.backend_picked && same_backend(&a.r.backend, 3, 9000));
    }

    /* Ten seconds on, the second backend's lease has lapsed: never picked, swept or
     * not. */
    CHECK(OK(ry_clock_advance(clock, 10 * SECOND, &err), err));
    req = http_request("GET", "shop.example.com", "/cart");
    for (i = 0; i < 3; i++) {
        if (MATCH(reg, &req, true, &a)) {
            CHECK(a.r.kind == RY_MATCH_KIND_CF_ROUTE && same_backend(&a.r.backend, 1, 8080));
        }
    }
    /* Sixty seconds on, /cart has no live backend: its requests fall back to the
     * host's route until that one lapses too. */
    CHECK(OK(ry_clock_advance(clock, 45 * SECOND, &err), err));
    if (MATCH(reg, &req, true, &a)) {
        CHECK(strcmp(a.cf_route, "shop.example.com/cart") == 0);
    }
    CHECK(OK(ry_clock_advance(clock, 5 * SECOND, &err), err));
    if (MATCH(reg, &req, true, &a)) {
        CHECK(a.r.kind == RY_MATCH_KIND_NONE && !a.r.backend_picked);
        CHECK(a.r.cf_route.len == 0 && a.cf_route[0] == '\0');
    }

    /* A backend registered by name goes into backend_name. */
    upsert_cf(reg, "[{\"route\":\"named.example.com\",\"ip\":\"backend.internal\",\"port\":80}]");
    req = http_request("GET", "named.example.com", "/");
    if (MATCH(reg, &req, true, &a)) {
        CHECK(a.r.backend_picked && a.r.backend.family == RY_ADDR_FAMILY_NONE);
        CHECK(a.r.backend.port == 80 && strcmp(a.backend_name, "backend.internal") == 0);
    }
    ry_registry_free(reg);
    ry_clock_free(clock);
}

static void test_stream_routes_and_tcp_mappings(void) {
    ry_clock *clock = NULL;
    ry_registry *reg = manual_registry(&clock);
    char service[RY_ID_SIZE];
    char db[RY_ID_SIZE];
    char cache[RY_ID_SIZE];
    char six[RY_ID_SIZE];
    char guid[64];
    char *out = NULL;
    char body[512];
    ry_error *err = NULL;
    struct answer a;
    ry_request req;
    ry_addr v6;

    make(ry_registry_create_service_json, reg, "{\"name\":\"db\",\"host\":\"db.internal\"}",
         service);
    make_route(reg,
               "{\"protocols\":[\"tls\"],\"snis\":[\"db.example.com\"],"
               "\"service\":{\"id\":\"%s\"}}",
               service, db);
    make_route(reg,
               "{\"protocols\":[\"tcp\"],\"sources\":[{\"ip\":\"10.1.0.0/16\"}],"
               "\"destinations\":[{\"port\":6379}],\"service\":{\"id\":\"%s\"}}",
               service, cache);
    make_route(reg,
               "{\"protocols\":[\"tcp\"],\"destinations\":[{\"ip\":\"2001:db8::/32\","
               "\"port\":7000}],\"service\":{\"id\":\"%s\"}}",
               service, six);

    /* TLS by SNI: a stream has no Host header, its SNI stands in. */
    req = stream_request(RY_PROTOCOL_TLS, ipv4(10, 9, 0, 1, 40000), ipv4(10, 0, 0, 1, 5432));
    req.sni = (const uint8_t *)"db.example.com";
    req.sni_len = strlen("db.example.com");
    if (MATCH(reg, &req, true, &a)) {
        CHECK(a.r.kind == RY_MATCH_KIND_ROUTE && strcmp(a.r.route_id, db) == 0);
        CHECK(strcmp(a.r.service_id, service) == 0);
        CHECK(a.r.upstream_path.len == 0);
        CHECK(!a.r.backend_picked);
    }
    req.sni = (const uint8_t *)"other.example.com";
    req.sni_len = strlen("other.example.com");
    if (MATCH(reg, &req, false, &a)) {
        CHECK(a.r.kind == RY_MATCH_KIND_NONE);
    }
    /* TCP by source CIDR and destination port. */
    req = stream_request(RY_PROTOCOL_TCP, ipv4(10, 1, 2, 3, 40000), ipv4(10, 0, 0, 1, 6379));
    if (MATCH(reg, &req, false, &a)) {
        CHECK(a.r.kind == RY_MATCH_KIND_ROUTE && strcmp(a.r.route_id, cache) == 0);
    }
    req.source = ipv4(10, 2, 0, 1, 40000);
    if (MATCH(reg, &req, false, &a)) {
        CHECK(a.r.kind == RY_MATCH_KIND_NONE);
    }
    /* The same route does not answer UDP. */
    req = stream_request(RY_PROTOCOL_UDP, ipv4(10, 1, 2, 3, 40000), ipv4(10, 0, 0, 1, 6379));
    if (MATCH(reg, &req, false, &a)) {
        CHECK(a.r.kind == RY_MATCH_KIND_NONE);
    }
    /* IPv6 destinations. */
    memset(&v6, 0, sizeof v6);
    v6.family = RY_ADDR_FAMILY_IPV6;
    v6.addr[0] = 0x20;
    v6.addr[1] = 0x01;
    v6.addr[2] = 0x0d;
    v6.addr[3] = 0xb8;
    v6.addr[15] = 1;
    v6.port = 7000;
    req = stream_request(RY_PROTOCOL_TCP, ipv4(10, 9, 0, 1, 40000), v6);
    if (MATCH(reg, &req, false, &a)) {
        CHECK(a.r.kind == RY_MATCH_KIND_ROUTE && strcmp(a.r.route_id, six) == 0);
    }
    v6.addr[2] = 0x0e;
    req.destination = v6;
    if (MATCH(reg, &req, false, &a)) {
        CHECK(a.r.kind == RY_MATCH_KIND_NONE);
    }

    /* CF TCP mappings: the router group's port, given the group. */
    if (OK(ry_registry_create_router_group_json(
               reg, S("{\"name\":\"tcp-1\",\"type\":\"tcp\",\"reservable_ports\":\"5000-5010\"}"),
               &out, NULL, NULL, &err),
           err)) {
        CHECK(json_string(out, "guid", guid, sizeof guid));
    }
    ry_string_free(out);
    snprintf(body, sizeof body,
             "[{\"router_group_guid\":\"%s\",\"port\":5000,\"backend_ip\":\"10.0.0.8\","
             "\"backend_port\":6000,\"ttl\":30},"
             "{\"router_group_guid\":\"%s\",\"port\":5000,\"backend_ip\":\"10.0.0.9\","
             "\"backend_port\":6001,\"ttl\":60}]",
             guid, guid);
    CHECK(OK(ry_registry_upsert_tcp_route_mappings_json(reg, S(body), NULL, &err), err));
    req = stream_request(RY_PROTOCOL_TCP, ipv4(192, 168, 0, 1, 40000), ipv4(10, 0, 0, 1, 5000));
    req.router_group = (const uint8_t *)guid;
    req.router_group_len = strlen(guid);
    if (MATCH(reg, &req, true, &a)) {
        CHECK(a.r.kind == RY_MATCH_KIND_TCP_ROUTE && a.r.tcp_port == 5000);
        CHECK(a.r.route_id[0] == '\0' && a.r.cf_route.len == 0);
        CHECK(a.r.backend_picked);
        CHECK(same_backend(&a.r.backend, 8, 6000) || same_backend(&a.r.backend, 9, 6001));
    }
    /* Once the first mapping lapses, only the second is picked. */
    CHECK(OK(ry_clock_advance(clock, 30 * SECOND, &err), err));
    if (MATCH(reg, &req, true, &a)) {
        CHECK(a.r.kind == RY_MATCH_KIND_TCP_ROUTE && same_backend(&a.r.backend, 9, 6001));
    }
    if (MATCH(reg, &req, true, &a)) {
        CHECK(same_backend(&a.r.backend, 9, 6001));
    }
    /* Another port, another group, or no group: nothing. */
    req.destination.port = 5001;
    if (MATCH(reg, &req, true, &a)) {
        CHECK(a.r.kind == RY_MATCH_KIND_NONE && a.r.tcp_port == 0);
    }
    req.destination.port = 5000;
    req.router_group = (const uint8_t *)"another-group";
    req.router_group_len = strlen("another-group");
    if (MATCH(reg, &req, true, &a)) {
        CHECK(a.r.kind == RY_MATCH_KIND_NONE);
    }
    req.router_group = NULL;
    req.router_group_len = 0;
    if (MATCH(reg, &req, true, &a)) {
        CHECK(a.r.kind == RY_MATCH_KIND_NONE);
    }
    ry_registry_free(reg);
    ry_clock_free(clock);
}

static void test_buffers_too_small(void) {
    ry_registry *reg = ry_registry_new(120);
    ry_error *err = NULL;
    struct answer a;
    char small[4];
    ry_request req = http_request("GET", "shop.example.com", "/cart/42");

    upsert_cf(reg, "[{\"route\":\"shop.example.com/cart\",\"ip\":\"10.0.0.1\",\"port\":8080},"
                   "{\"route\":\"shop.example.com/cart\",\"ip\":\"10.0.0.2\",\"port\":8080}]");

    /* upstream_path is too small: every length is reported, nothing else written. */
    prepare(&a);
    memset(small, 'x', sizeof small);
    a.r.upstream_path.data = small;
    a.r.upstream_path.capacity = sizeof small;
    a.r.matched_path.data = NULL;
    CHECK(ry_match(reg, &req, true, &a.r, &err) == RY_ERR_BUFFER_TOO_SMALL);
    CHECK(ry_error_body(err) != NULL);
    CHECK_ERROR(err, "ProcessRequestError", "`out->upstream_path` holds 4 bytes but its value needs 9");
    CHECK(a.r.upstream_path.len == 8);
    CHECK(a.r.cf_route.len == strlen("shop.example.com/cart"));
    CHECK(a.r.upstream_host.len == strlen("shop.example.com"));
    CHECK(a.r.matched_path.len == 0 && a.r.backend_name.len == 0);
    CHECK(memcmp(small, "xxxx", 4) == 0);
    CHECK((unsigned char)a.cf_route[0] == 0x5a && (unsigned char)a.upstream_host[0] == 0x5a);
    CHECK((unsigned char)a.r.route_id[0] == 0x5a && (unsigned char)a.r.kind == 0x5a);
    CHECK(*(const unsigned char *)&a.r.backend_picked == 0x5a);

    /* Exactly the size asked for fits; the round robin had not moved, so this pick
     * and the next one still cover both backends. */
    {
        char exact[9];
        int first = 0;
        int second = 0;
        int i;
        for (i = 0; i < 2; i++) {
            prepare(&a);
            a.r.upstream_path.data = exact;
            a.r.upstream_path.capacity = sizeof exact;
            CHECK(ry_match(reg, &req, true, &a.r, &err) == RY_OK);
            CHECK(strcmp(exact, "/cart/42") == 0 && a.r.upstream_path.len == 8);
            first += same_backend(&a.r.backend, 1, 8080);
            second += same_backend(&a.r.backend, 2, 8080);
        }
        CHECK(first == 1 && second == 1);
    }

    /* A buffer of capacity 0 has no room even for the NUL, on a miss too. */
    req = http_request("GET", "nowhere.example.com", "/");
    prepare(&a);
    a.r.upstream_host.capacity = 0;
    CHECK(ry_match(reg, &req, false, &a.r, &err) == RY_ERR_BUFFER_TOO_SMALL);
    CHECK_ERROR(err, "ProcessRequestError", "`out->upstream_host` holds 0 bytes");
    CHECK(a.r.upstream_host.len == 0 && (unsigned char)a.r.kind == 0x5a);

    /* A backend registered by name needs backend_name. */
    upsert_cf(reg, "[{\"route\":\"named.example.com\",\"ip\":\"backend.internal\",\"port\":80}]");
    req = http_request("GET", "named.example.com", "/");
    prepare(&a);
    a.r.backend_name.data = NULL;
    a.r.backend_name.capacity = 0;
    CHECK(ry_match(reg, &req, true, &a.r, &err) == RY_ERR_BUFFER_TOO_SMALL);
    CHECK(a.r.backend_name.len == strlen("backend.internal"));
    CHECK((unsigned char)a.r.kind == 0x5a);
    CHECK_ERROR(err, "ProcessRequestError", "registered by name");
    /* ... unless no backend is picked. */
    CHECK(ry_match(reg, &req, false, &a.r, &err) == RY_OK);
    CHECK(a.r.kind == RY_MATCH_KIND_CF_ROUTE && a.r.backend_name.len == 0);
    ry_registry_free(reg);
}

static void test_bad_input(void) {
    ry_registry *reg = ry_registry_new(120);
    ry_error *err = NULL;
    struct answer a;
    ry_request req = http_request("GET", "shop.example.com", "/cart");
    ry_header header;

    upsert_cf(reg, "[{\"route\":\"shop.example.com/cart\",\"ip\":\"10.0.0.1\",\"port\":8080}]");

    /* NULL handles and pointers; `out` is left untouched. */
    prepare(&a);
    CHECK(ry_match(NULL, &req, false, &a.r, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "argument `reg` must not be NULL");
    CHECK(ry_match(reg, NULL, false, &a.r, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "argument `req` must not be NULL");
    CHECK(ry_match(reg, &req, false, NULL, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "argument `out` must not be NULL");
    CHECK(ry_match(reg, &req, false, NULL, NULL) == RY_ERR_NULL_ARG);
    req.host = NULL;
    CHECK(ry_match(reg, &req, false, &a.r, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "`host` is NULL but its length is 16");
    CHECK((unsigned char)a.r.kind == 0x5a && (unsigned char)a.cf_route[0] == 0x5a);

    /* Invalid UTF-8 in any string. */
    req = http_request("GET", "shop.example.com", "/cart");
    req.path = (const uint8_t *)"/c\xff";
    req.path_len = 3;
    CHECK(ry_match(reg, &req, false, &a.r, &err) == RY_ERR_INVALID_UTF8);
    CHECK_ERROR(err, "ProcessRequestError", "argument `path` is not valid UTF-8");
    req = http_request("GET", "shop.example.com", "/cart");
    req.method = (const uint8_t *)"G\xc3";
    req.method_len = 2;
    CHECK(ry_match(reg, &req, false, &a.r, &err) == RY_ERR_INVALID_UTF8);
    CHECK_ERROR(err, "ProcessRequestError", "`method`");
    req = http_request("GET", "sh\xe2\x82op", "/cart");
    CHECK(ry_match(reg, &req, false, &a.r, &err) == RY_ERR_INVALID_UTF8);
    CHECK_ERROR(err, "ProcessRequestError", "`host`");
    /* Valid UTF-8 beyond ASCII is read in full and matched. */
    req = http_request("GET", "shop.example.com", "/cart/caf\xc3\xa9");
    CHECK(MATCH(reg, &req, false, &a) && a.r.kind == RY_MATCH_KIND_CF_ROUTE);
    CHECK(strcmp(a.upstream_path, "/cart/caf\xc3\xa9") == 0);
    req = http_request("GET", "shop.example.com", "/cart/\xe2\x82\xac");
    CHECK(MATCH(reg, &req, false, &a) && a.r.kind == RY_MATCH_KIND_CF_ROUTE);
    req = http_request("GET", "shop.example.com", "/cart");
    req.sni = (const uint8_t *)"\x80";
    req.sni_len = 1;
    CHECK(ry_match(reg, &req, false, &a.r, &err) == RY_ERR_INVALID_UTF8);
    CHECK_ERROR(err, "ProcessRequestError", "`sni`");
    req = http_request("GET", "shop.example.com", "/cart");
    req.router_group = (const uint8_t *)"g\xff";
    req.router_group_len = 2;
    CHECK(ry_match(reg, &req, false, &a.r, &err) == RY_ERR_INVALID_UTF8);
    CHECK_ERROR(err, "ProcessRequestError", "`router_group`");
    req = http_request("GET", "shop.example.com", "/cart");
    header.name = (const uint8_t *)"x-\xff";
    header.name_len = 3;
    header.value = (const uint8_t *)"1";
    header.value_len = 1;
    req.headers = &header;
    req.headers_len = 1;
    CHECK(ry_match(reg, &req, false, &a.r, &err) == RY_ERR_INVALID_UTF8);
    CHECK_ERROR(err, "ProcessRequestError", "`headers[].name`");
    header.name = (const uint8_t *)"x-a";
    header.value = (const uint8_t *)"\xfe";
    CHECK(ry_match(reg, &req, false, &a.r, &err) == RY_ERR_INVALID_UTF8);
    CHECK_ERROR(err, "ProcessRequestError", "`headers[].value`");
    header.name = NULL;
    CHECK(ry_match(reg, &req, false, &a.r, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "`headers[0].name` is NULL");
    req.headers = NULL;
    req.headers_len = 2;
    CHECK(ry_match(reg, &req, false, &a.r, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "`headers` is NULL but `headers_len` is 2");
    /* An empty value may be NULL. */
    header.name = (const uint8_t *)"x-a";
    header.value = NULL;
    header.value_len = 0;
    req.headers = &header;
    req.headers_len = 1;
    CHECK(MATCH(reg, &req, false, &a) && a.r.kind == RY_MATCH_KIND_CF_ROUTE);

    /* Values outside the enums. */
    prepare(&a);
    req = http_request("GET", "shop.example.com", "/cart");
    req.protocol = (ry_protocol)8;
    CHECK(ry_match(reg, &req, false, &a.r, &err) == RY_ERR_INVALID_ARGUMENT);
    CHECK_ERROR(err, "ProcessRequestError", "`protocol` is 8, not an ry_protocol");
    req.protocol = RY_PROTOCOL_GRPCS;
    req.source.family = (ry_addr_family)3;
    CHECK(ry_match(reg, &req, false, &a.r, &err) == RY_ERR_INVALID_ARGUMENT);
    CHECK_ERROR(err, "ProcessRequestError", "`source.family` is 3");
    req.source.family = RY_ADDR_FAMILY_NONE;
    req.destination.family = (ry_addr_family)-1;
    CHECK(ry_match(reg, &req, false, &a.r, &err) == RY_ERR_INVALID_ARGUMENT);
    CHECK_ERROR(err, "ProcessRequestError", "`destination.family`");
    CHECK((unsigned char)a.r.kind == 0x5a);

    /* An absent method, host and path are empty: nothing here matches them. */
    memset(&req, 0, sizeof req);
    CHECK(MATCH(reg, &req, false, &a) && a.r.kind == RY_MATCH_KIND_NONE);
    ry_registry_free(reg);
}

/* Whether `s` lies within the `len` bytes at `start`. */
static bool lent_from(ry_str s, const void *start, size_t len) {
    const char *base = (const char *)start;
    return s.data >= base && s.data + s.len <= base + len;
}

/* The registry's revision now. */
static uint64_t revision_of(const ry_registry *reg) {
    uint64_t revision = 0;
    ry_error *err = NULL;
    CHECK(OK(ry_registry_revision(reg, &revision, &err), err));
    return revision;
}

static void test_reader(void) {
    ry_registry *reg = ry_registry_new(120);
    ry_reader *reader = NULL;
    ry_error *err = NULL;
    ry_match_view view;
    ry_request req;
    char service[RY_ID_SIZE];
    char keep[RY_ID_SIZE];
    char orders[RY_ID_SIZE];
    char host[] = "keep.example.com";
    char path[] = "/k/1";
    char route_id[RY_ID_SIZE];

    /* Creation and freeing. */
    ry_reader_free(NULL);
    CHECK(ry_reader_new(NULL, &reader, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "argument `reg` must not be NULL");
    CHECK(ry_reader_new(reg, NULL, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "argument `out` must not be NULL");
    CHECK(OK(ry_reader_new(reg, &reader, &err), err) && reader != NULL);

    make(ry_registry_create_service_json, reg,
         "{\"name\":\"orders\",\"url\":\"http://orders.internal:8080/api\"}", service);
    make_route(reg,
               "{\"hosts\":[\"keep.example.com\"],\"paths\":[\"/k\"],\"strip_path\":false,"
               "\"preserve_host\":true,\"service\":{\"id\":\"%s\"}}",
               service, keep);
    make_route(reg,
               "{\"hosts\":[\"orders.example.com\"],\"paths\":[\"/orders\"],"
               "\"service\":{\"id\":\"%s\"}}",
               service, orders);

    /* A reader sees what was committed before its call, its first one or not. */
    req = http_request("GET", host, path);
    memset(&view, 0x5a, sizeof view);
    CHECK(OK(ry_reader_match(reader, &req, false, &view, &err), err));
    CHECK(view.kind == RY_MATCH_KIND_ROUTE && lent_is(view.route_id, keep));
    CHECK(lent_is(view.service_id, service));
    /* preserve_host: the request's Host, lent from the request itself; the path is
     * the request's too (no strip_path, the service's path before it). */
    CHECK(lent_is(view.upstream_host, "keep.example.com"));
    CHECK(lent_from(view.upstream_host, host, sizeof host));
    CHECK(lent_is(view.upstream_path, "/api/k/1") && lent_is(view.matched_path, "/k"));
    CHECK(lent_from(view.matched_path, path, sizeof path));
    CHECK(view.cf_route.len == 0 && view.cf_route.data != NULL);
    CHECK(!view.backend_picked && view.redirect == 0);
    CHECK(view.revision == revision_of(reg));

    /* The service's host, and a path assembled from the service's and the request's
     * after strip_path; a path that needs normalising (`//`, `..`) matches as its
     * normalised form, which the reader lays out itself. */
    req = http_request("GET", "orders.example.com", "/orders//x/../42");
    CHECK(OK(ry_reader_match(reader, &req, false, &view, &err), err));
    CHECK(view.kind == RY_MATCH_KIND_ROUTE && lent_is(view.route_id, orders));
    CHECK(lent_is(view.upstream_host, "orders.internal"));
    CHECK(lent_is(view.upstream_path, "/api/42") && lent_is(view.matched_path, "/orders"));

    /* Lent strings outlive changes to the registry until the reader's next call. */
    req = http_request("GET", host, path);
    CHECK(OK(ry_reader_match(reader, &req, false, &view, &err), err));
    CHECK(OK(ry_registry_delete_route(reg, S(keep), NULL, &err), err));
    CHECK(OK(ry_registry_compact_index(reg, NULL, &err), err));
    CHECK(lent_is(view.route_id, keep) && lent_is(view.service_id, service));
    memcpy(route_id, view.route_id.data, view.route_id.len);
    route_id[view.route_id.len] = '\0';
    CHECK(strcmp(route_id, keep) == 0);
    /* ... and the next call sees the deletion. */
    CHECK(OK(ry_reader_match(reader, &req, false, &view, &err), err));
    CHECK(view.kind == RY_MATCH_KIND_NONE && view.route_id.len == 0 && view.route_id.data != NULL);
    CHECK(view.upstream_path.len == 0 && view.upstream_host.len == 0);
    CHECK(view.revision == revision_of(reg));

    /* Picks: a CF route's backends by address and by name. */
    upsert_cf(reg, "[{\"route\":\"shop.example.com/cart\",\"ip\":\"10.0.0.1\",\"port\":8080},"
                   "{\"route\":\"named.example.com\",\"ip\":\"backend.internal\",\"port\":80}]");
    req = http_request("GET", "Shop.Example.com", "/cart/42");
    CHECK(OK(ry_reader_match(reader, &req, true, &view, &err), err));
    CHECK(view.kind == RY_MATCH_KIND_CF_ROUTE && lent_is(view.cf_route, "shop.example.com/cart"));
    CHECK(view.backend_picked && same_backend(&view.backend, 1, 8080));
    CHECK(view.backend_name.len == 0 && lent_is(view.upstream_path, "/cart/42"));
    req = http_request("GET", "named.example.com", "/");
    CHECK(OK(ry_reader_match(reader, &req, true, &view, &err), err));
    CHECK(view.backend_picked && view.backend.family == RY_ADDR_FAMILY_NONE);
    CHECK(view.backend.port == 80 && lent_is(view.backend_name, "backend.internal"));
    CHECK(OK(ry_reader_match(reader, &req, false, &view, &err), err));
    CHECK(!view.backend_picked && view.backend_name.len == 0);

    /* Bad input: an error, and `out` untouched. */
    memset(&view, 0x5a, sizeof view);
    CHECK(ry_reader_match(NULL, &req, false, &view, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "argument `reader` must not be NULL");
    CHECK(ry_reader_match(reader, NULL, false, &view, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "argument `req` must not be NULL");
    CHECK(ry_reader_match(reader, &req, false, NULL, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "argument `out` must not be NULL");
    req = http_request("GET", "shop.example.com", "/c\xff");
    CHECK(ry_reader_match(reader, &req, false, &view, &err) == RY_ERR_INVALID_UTF8);
    CHECK_ERROR(err, "ProcessRequestError", "argument `path` is not valid UTF-8");
    req = http_request("GET", "shop.example.com", "/cart");
    req.protocol = (ry_protocol)99;
    CHECK(ry_reader_match(reader, &req, false, &view, &err) == RY_ERR_INVALID_ARGUMENT);
    CHECK_ERROR(err, "ProcessRequestError", "not an ry_protocol");
    /* ... also in a request with more than a method, a host and a path. */
    req = http_request("GET", "shop.example.com", "/cart");
    req.source.family = (ry_addr_family)7;
    CHECK(ry_reader_match(reader, &req, false, &view, &err) == RY_ERR_INVALID_ARGUMENT);
    CHECK_ERROR(err, "ProcessRequestError", "`source.family` is 7");
    req = http_request("GET", "shop.example.com", "/cart");
    req.headers_len = 2;
    CHECK(ry_reader_match(reader, &req, false, &view, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "`headers` is NULL but `headers_len` is 2");
    CHECK(ry_reader_match(NULL, &req, false, &view, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "argument `reader` must not be NULL");
    CHECK(ry_reader_match(reader, &req, false, NULL, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "argument `out` must not be NULL");
    CHECK((unsigned char)view.kind == 0x5a);

    /* The reader keeps the registry's state: freeing the registry first is allowed. */
    ry_registry_free(reg);
    req = http_request("GET", "shop.example.com", "/cart");
    CHECK(OK(ry_reader_match(reader, &req, false, &view, &err), err));
    CHECK(view.kind == RY_MATCH_KIND_CF_ROUTE);
    ry_reader_free(reader);
}

static void test_match_json(void) {
    ry_registry *reg = ry_registry_new(120);
    char service[RY_ID_SIZE];
    char users[RY_ID_SIZE];
    char *out = NULL;
    size_t len = 0;
    ry_error *err = NULL;

    make(ry_registry_create_service_json, reg, "{\"name\":\"users\",\"host\":\"users.internal\"}",
         service);
    make_route(reg,
               "{\"hosts\":[\"api.example.com\"],\"paths\":[\"~/users/(?<id>\\\\d+)/(\\\\w+)$\"],"
               "\"service\":{\"id\":\"%s\"}}",
               service, users);
    upsert_cf(reg, "[{\"route\":\"shop.example.com\",\"ip\":\"10.0.0.1\",\"port\":8080}]");

    /* Captures, numbered and named, and the whole route and service. */
    CHECK(OK(ry_match_json(reg,
                           S("{\"method\":\"GET\",\"host\":\"api.example.com\","
                             "\"path\":\"/users/42/posts\",\"headers\":{\"accept\":\"*/*\"}}"),
                           &out, &len, &err),
             err));
    CHECK(out != NULL && strlen(out) == len);
    CHECK(contains(out, "\"kind\":\"route\""));
    CHECK(contains(out, users) && contains(out, service));
    CHECK(contains(out, "\"captures\":[{\"index\":1,\"name\":\"id\",\"value\":\"42\"},"
                        "{\"index\":2,\"name\":null,\"value\":\"posts\"}]"));
    CHECK(contains(out, "\"upstream_host\":\"users.internal\""));
    CHECK(contains(out, "\"backend\":null"));
    ry_string_free(out);
    out = NULL;

    /* A CF route with a picked backend. */
    CHECK(OK(ry_match_json(reg, S("{\"host\":\"shop.example.com\",\"path\":\"/\",\"pick\":true}"),
                           &out, NULL, &err),
             err));
    CHECK(contains(out, "\"kind\":\"cf_route\",\"cf_route\":\"shop.example.com\""));
    CHECK(contains(out, "\"backend\":{\"address\":\"10.0.0.1\",\"port\":8080}"));
    ry_string_free(out);
    out = NULL;

    /* A miss is null. */
    CHECK(OK(ry_match_json(reg, S("{\"host\":\"nowhere.example.com\"}"), &out, &len, &err), err));
    CHECK(out != NULL && strcmp(out, "null") == 0 && len == 4);
    ry_string_free(out);
    out = NULL;

    /* Bad requests name the field; nothing is written. */
    CHECK(ry_match_json(reg, S("{\"protocol\":\"gopher\"}"), &out, NULL, &err) ==
          RY_ERR_INVALID_JSON);
    CHECK(out == NULL);
    CHECK_ERROR(err, "ProcessRequestError", "`protocol` is \"gopher\"");
    CHECK(ry_match_json(reg, S("{\"destination\":\"10.0.0.1\"}"), &out, NULL, &err) ==
          RY_ERR_INVALID_JSON);
    CHECK_ERROR(err, "ProcessRequestError", "`destination` must be an address with a port");
    CHECK(ry_match_json(reg, S("{\"colour\":1}"), &out, NULL, &err) == RY_ERR_INVALID_JSON);
    CHECK_ERROR(err, "ProcessRequestError", "unknown field `colour`");
    CHECK(ry_match_json(reg, (const uint8_t *)"{\"host\":\"\xff\"}", 11, &out, NULL, &err) ==
          RY_ERR_INVALID_UTF8);
    CHECK_ERROR(err, "ProcessRequestError", "argument `json` is not valid UTF-8");
    CHECK(ry_match_json(reg, S("{}"), NULL, NULL, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "argument `out` must not be NULL");
    CHECK(ry_match_json(NULL, S("{}"), &out, NULL, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "argument `reg` must not be NULL");
    CHECK(ry_match_json(reg, NULL, 0, &out, NULL, NULL) == RY_ERR_NULL_ARG);
    CHECK(out == NULL);
    ry_registry_free(reg);
}

/* Threads: readers match while a writer adds and removes routes. */
#define MATCHERS 3
#define MATCHES 1500
#define ROUNDS 60

struct matcher {
    const ry_registry *reg;
    const char *stable_id;
    int hits;
    int failures;
};

static void *matcher_main(void *arg) {
    struct matcher *m = (struct matcher *)arg;
    struct answer a;
    ry_reader *reader = NULL;
    ry_match_view view;
    int i;
    if (ry_reader_new(m->reg, &reader, NULL) != RY_OK) {
        m->failures++;
        return NULL;
    }
    for (i = 0; i < MATCHES; i++) {
        char path[32];
        ry_request req;
        ry_status status;
        snprintf(path, sizeof path, "/r%d/x", i % ROUNDS);
        /* A route that never changes. */
        req = http_request("GET", "stable.example.com", "/s/1");
        prepare(&a);
        status = ry_match(m->reg, &req, true, &a.r, NULL);
        if (status != RY_OK || a.r.kind != RY_MATCH_KIND_ROUTE ||
            strcmp(a.r.route_id, m->stable_id) != 0 || strcmp(a.upstream_path, "/1") != 0 ||
            strcmp(a.upstream_host, "stable.internal") != 0) {
            m->failures++;
        }
        /* The same through this thread's reader. */
        status = ry_reader_match(reader, &req, true, &view, NULL);
        if (status != RY_OK || view.kind != RY_MATCH_KIND_ROUTE ||
            !lent_is(view.route_id, m->stable_id) || !lent_is(view.upstream_path, "/1") ||
            !lent_is(view.upstream_host, "stable.internal")) {
            m->failures++;
        }
        /* Kong routes the writer adds and removes: either the right one or nothing. */
        req = http_request("GET", "churn.example.com", path);
        prepare(&a);
        status = ry_match(m->reg, &req, false, &a.r, NULL);
        if (status != RY_OK ||
            (a.r.kind != RY_MATCH_KIND_NONE &&
             (a.r.kind != RY_MATCH_KIND_ROUTE || strlen(a.r.route_id) != 36 ||
              a.r.matched_path.len < 3 ||
              strncmp(path, a.matched_path, a.r.matched_path.len) != 0))) {
            m->failures++;
        }
        m->hits += a.r.kind == RY_MATCH_KIND_ROUTE;
        /* CF routes the writer upserts and deletes, with a picked backend. */
        req = http_request("GET", "cf.example.com", path);
        prepare(&a);
        status = ry_match(m->reg, &req, true, &a.r, NULL);
        if (status != RY_OK ||
            (a.r.kind != RY_MATCH_KIND_NONE &&
             (a.r.kind != RY_MATCH_KIND_CF_ROUTE || strncmp(a.cf_route, "cf.example.com", 14) != 0 ||
              !a.r.backend_picked || a.r.backend.family != RY_ADDR_FAMILY_IPV4 ||
              a.r.backend.addr[0] != 10 || a.r.backend.port != 8080))) {
            m->failures++;
        }
        /* A churned route through the reader: the right one or nothing, and what it
         * lends stays readable while the writer goes on. */
        req = http_request("GET", "churn.example.com", path);
        if (ry_reader_match(reader, &req, false, &view, NULL) != RY_OK ||
            (view.kind != RY_MATCH_KIND_NONE &&
             (view.route_id.len != 36 || view.matched_path.len < 3 ||
              strncmp(path, view.matched_path.data, view.matched_path.len) != 0))) {
            m->failures++;
        }
    }
    ry_reader_free(reader);
    return NULL;
}

struct writer {
    const ry_registry *reg;
    const char *service_id;
    int failures;
};

static void *writer_main(void *arg) {
    struct writer *w = (struct writer *)arg;
    int i;
    for (i = 0; i < ROUNDS; i++) {
        char json[256];
        char key[16];
        snprintf(key, sizeof key, "r%d", i);
        snprintf(json, sizeof json,
                 "{\"hosts\":[\"churn.example.com\"],\"paths\":[\"/r%d\"],"
                 "\"service\":{\"id\":\"%s\"}}",
                 i, w->service_id);
        {
            char *out = NULL;
            if (ry_registry_put_route_json(w->reg, S(key), S(json), &out, NULL, NULL, NULL) !=
                RY_OK) {
                w->failures++;
            }
            ry_string_free(out);
        }
        snprintf(json, sizeof json,
                 "[{\"route\":\"cf.example.com/r%d\",\"ip\":\"10.0.%d.1\",\"port\":8080}]", i, i);
        if (ry_registry_upsert_http_routes_json(w->reg, S(json), NULL, NULL) != RY_OK) {
            w->failures++;
        }
        if (i >= 2) {
            snprintf(key, sizeof key, "r%d", i - 2);
            if (ry_registry_delete_route(w->reg, S(key), NULL, NULL) != RY_OK) {
                w->failures++;
            }
            snprintf(json, sizeof json,
                     "[{\"route\":\"cf.example.com/r%d\",\"ip\":\"10.0.%d.1\",\"port\":8080}]",
                     i - 2, i - 2);
            if (ry_registry_delete_http_routes_json(w->reg, S(json), NULL, NULL) != RY_OK) {
                w->failures++;
            }
        }
    }
    return NULL;
}

static void test_threads_match_while_one_writes(void) {
    ry_registry *reg = ry_registry_new(120);
    char service[RY_ID_SIZE];
    char stable[RY_ID_SIZE];
    struct matcher matchers[MATCHERS];
    struct writer writer;
    pthread_t matcher_threads[MATCHERS];
    pthread_t writer_thread;
    int hits = 0;
    int i;

    make(ry_registry_create_service_json, reg,
         "{\"name\":\"stable\",\"host\":\"stable.internal\"}", service);
    make_route(reg,
               "{\"hosts\":[\"stable.example.com\"],\"paths\":[\"/s\"],"
               "\"service\":{\"id\":\"%s\"}}",
               service, stable);

    writer.reg = reg;
    writer.service_id = service;
    writer.failures = 0;
    for (i = 0; i < MATCHERS; i++) {
        matchers[i].reg = reg;
        matchers[i].stable_id = stable;
        matchers[i].hits = 0;
        matchers[i].failures = 0;
        CHECK(pthread_create(&matcher_threads[i], NULL, matcher_main, &matchers[i]) == 0);
    }
    CHECK(pthread_create(&writer_thread, NULL, writer_main, &writer) == 0);
    CHECK(pthread_join(writer_thread, NULL) == 0);
    CHECK(writer.failures == 0);
    for (i = 0; i < MATCHERS; i++) {
        CHECK(pthread_join(matcher_threads[i], NULL) == 0);
        CHECK(matchers[i].failures == 0);
        hits += matchers[i].hits;
    }
    /* Not asserted above zero: how many churned routes a matcher saw depends on timing. */
    printf("     churned routes matched %d times\n", hits);

    /* After the writer: the last two rounds' routes are there, the others gone. */
    {
        struct answer a;
        char path[32];
        ry_request req;
        snprintf(path, sizeof path, "/r%d/x", ROUNDS - 1);
        req = http_request("GET", "churn.example.com", path);
        CHECK(MATCH(reg, &req, false, &a) && a.r.kind == RY_MATCH_KIND_ROUTE);
        req = http_request("GET", "churn.example.com", "/r0/x");
        CHECK(MATCH(reg, &req, false, &a) && a.r.kind == RY_MATCH_KIND_NONE);
        req = http_request("GET", "cf.example.com", path);
        CHECK(MATCH(reg, &req, true, &a) && a.r.kind == RY_MATCH_KIND_CF_ROUTE);
        req = http_request("GET", "cf.example.com", "/r0");
        CHECK(MATCH(reg, &req, true, &a) && a.r.kind == RY_MATCH_KIND_NONE);
    }
    ry_registry_free(reg);
}

int main(void) {
    RUN(test_kong_http_routes);
    RUN(test_cf_routes_round_robin_and_expiry);
    RUN(test_stream_routes_and_tcp_mappings);
    RUN(test_buffers_too_small);
    RUN(test_bad_input);
    RUN(test_reader);
    RUN(test_match_json);
    RUN(test_threads_match_while_one_writes);
    return REPORT();
}
