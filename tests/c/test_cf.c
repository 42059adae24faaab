/*
 * Tests of the Cloud Foundry dialect of the C API: HTTP routes, TCP route mappings,
 * router groups (get, update, delete) and port reservation, each on its success path
 * and its error paths (CF's validation messages, not found, malformed JSON, invalid
 * UTF-8, NULL arguments). Time is driven by a manual clock.
 */
#define _POSIX_C_SOURCE 200809L

#include "check.h"

#define SECOND 1000000000ULL
#define T0 (1000 * SECOND)

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

static uint64_t revision_of(const ry_registry *reg) {
    uint64_t revision = UINT64_MAX;
    CHECK(ry_registry_revision(reg, &revision, NULL) == RY_OK);
    return revision;
}

/* Lists through `list` and returns the JSON text, to be freed with ry_string_free. */
static char *listed(ry_status (*list)(const ry_registry *, char **, size_t *, ry_error **),
                    const ry_registry *reg) {
    char *out = NULL;
    size_t len = 0;
    ry_error *err = NULL;
    if (OK(list(reg, &out, &len, &err), err)) {
        CHECK(out != NULL && strlen(out) == len);
    }
    return out;
}

/* Creates a tcp router group and copies its guid into `guid`. */
static void make_group(const ry_registry *reg, const char *json, char *guid, size_t size) {
    char *out = NULL;
    ry_error *err = NULL;
    if (OK(ry_registry_create_router_group_json(reg, S(json), &out, NULL, NULL, &err), err)) {
        CHECK(json_string(out, "guid", guid, size));
    }
    ry_string_free(out);
}

static void test_http_routes_upsert_list_delete(void) {
    ry_clock *clock = NULL;
    ry_registry *reg = manual_registry(&clock);
    const char *route =
        "[{\"route\":\"shop.example.com/cart\",\"ip\":\"10.0.0.1\",\"port\":8080,"
        "\"ttl\":60,\"log_guid\":\"lg-1\"}]";
    uint64_t revision = 0;
    ry_error *err = NULL;
    char *list;
    char tag[64];
    char tag_again[64];

    CHECK(OK(ry_registry_upsert_http_routes_json(reg, S(route), &revision, &err), err));
    CHECK(revision == 1 && revision_of(reg) == 1);
    list = listed(ry_registry_http_routes_json, reg);
    CHECK(count_of(list, "\"route\":") == 1);
    CHECK(contains(list, "\"route\":\"shop.example.com/cart\""));
    CHECK(contains(list, "\"ip\":\"10.0.0.1\""));
    CHECK(contains(list, "\"port\":8080"));
    CHECK(contains(list, "\"ttl\":60"));
    CHECK(contains(list, "\"log_guid\":\"lg-1\""));
    CHECK(contains(list, "\"index\":0"));
    CHECK(json_string(list, "guid", tag, sizeof tag) && strlen(tag) > 0);
    ry_string_free(list);

    /* A renewal keeps the modification tag's guid and bumps its index. */
    CHECK(OK(ry_registry_upsert_http_routes_json(reg, S(route), NULL, &err), err));
    list = listed(ry_registry_http_routes_json, reg);
    CHECK(count_of(list, "\"route\":") == 1);
    CHECK(contains(list, "\"index\":1"));
    CHECK(json_string(list, "guid", tag_again, sizeof tag_again) && strcmp(tag, tag_again) == 0);
    ry_string_free(list);

    /* Delete by key; deleting what is absent succeeds too. */
    CHECK(OK(ry_registry_delete_http_routes_json(reg, S(route), &revision, &err), err));
    CHECK(revision == 3);
    list = listed(ry_registry_http_routes_json, reg);
    CHECK(list != NULL && strcmp(list, "[]") == 0);
    ry_string_free(list);
    CHECK(OK(ry_registry_delete_http_routes_json(reg, S(route), NULL, &err), err));
    CHECK(OK(ry_registry_delete_http_routes_json(reg, S("[]"), NULL, &err), err));

    ry_registry_free(reg);
    ry_clock_free(clock);
}

static void test_http_route_validation(void) {
    ry_registry *reg = ry_registry_new(120);
    ry_error *err = NULL;
    char *list;

    CHECK(ry_registry_upsert_http_routes_json(
              reg, S("[{\"route\":\"a.com\",\"ip\":\"1.2.3.4\",\"port\":0}]"), NULL, &err) ==
          RY_ERR_INVALID_ROUTE);
    CHECK(contains(ry_error_body(err), "\"name\":\"RouteInvalidError\""));
    CHECK_ERROR(err, "RouteInvalidError", "Each route request requires a port greater than 0");

    CHECK(ry_registry_upsert_http_routes_json(
              reg, S("[{\"route\":\"a.com\",\"ip\":\"1.2.3.4\",\"port\":80,\"ttl\":121}]"), NULL,
              &err) == RY_ERR_INVALID_ROUTE);
    CHECK_ERROR(err, "RouteInvalidError", "Max ttl is 120");

    CHECK(ry_registry_upsert_http_routes_json(
              reg, S("[{\"route\":\"a.com\",\"ip\":\"\",\"port\":80}]"), NULL, &err) ==
          RY_ERR_INVALID_ROUTE);
    CHECK_ERROR(err, "RouteInvalidError", "Each route request requires an IP");

    CHECK(ry_registry_upsert_http_routes_json(
              reg,
              S("[{\"route\":\"a.com\",\"ip\":\"1.2.3.4\",\"port\":80,"
                "\"route_service_url\":\"http://rs.example.com\"}]"),
              NULL, &err) == RY_ERR_INVALID_ROUTE_SERVICE_URL);
    CHECK_ERROR(err, "RouteServiceUrlInvalidError", "Route service url must use HTTPS.");

    /* One bad route in a batch: nothing applies. */
    CHECK(ry_registry_upsert_http_routes_json(
              reg,
              S("[{\"route\":\"ok.com\",\"ip\":\"1.2.3.4\",\"port\":80},"
                "{\"route\":\"bad.com?x\",\"ip\":\"1.2.3.4\",\"port\":80}]"),
              NULL, &err) == RY_ERR_INVALID_ROUTE);
    CHECK_ERROR(err, "RouteInvalidError", "url cannot contain any of [?, #]");

    /* Delete validates the keys too, without the TTL rules. */
    CHECK(ry_registry_delete_http_routes_json(
              reg, S("[{\"route\":\"\",\"ip\":\"1.2.3.4\",\"port\":80,\"ttl\":999}]"), NULL,
              &err) == RY_ERR_INVALID_ROUTE);
    CHECK_ERROR(err, "RouteInvalidError", "Each route request requires a valid route");

    /* Not an array, wrong types, not JSON: CF's ProcessRequestError with its prefix. */
    CHECK(ry_registry_upsert_http_routes_json(reg, S("{\"route\":\"a.com\"}"), NULL, &err) ==
          RY_ERR_INVALID_JSON);
    CHECK(contains(ry_error_body(err), "\"message\":\"Cannot process request: "));
    CHECK_ERROR(err, "ProcessRequestError", "");
    CHECK(ry_registry_upsert_http_routes_json(reg, S("[{\"port\":65536}]"), NULL, &err) ==
          RY_ERR_INVALID_JSON);
    CHECK_ERROR(err, "ProcessRequestError", "");
    CHECK(ry_registry_delete_http_routes_json(reg, S("nope"), NULL, &err) ==
          RY_ERR_INVALID_JSON);
    CHECK_ERROR(err, "ProcessRequestError", "");
    CHECK(ry_registry_upsert_http_routes_json(reg, (const uint8_t *)"[\"\xff\"]", 5, NULL,
                                              &err) == RY_ERR_INVALID_UTF8);
    CHECK_ERROR(err, "ProcessRequestError", "UTF-8");

    CHECK(revision_of(reg) == 0);
    list = listed(ry_registry_http_routes_json, reg);
    CHECK(list != NULL && strcmp(list, "[]") == 0);
    ry_string_free(list);
    ry_registry_free(reg);
}

static void test_http_route_leases_lapse_by_the_clock(void) {
    ry_clock *clock = NULL;
    ry_registry *reg = manual_registry(&clock);
    ry_error *err = NULL;
    size_t removed = 99;
    uint64_t now = 0;
    char *list;

    CHECK(OK(ry_registry_upsert_http_routes_json(
                 reg,
                 S("[{\"route\":\"a.com\",\"ip\":\"1.2.3.4\",\"port\":80,\"ttl\":10},"
                   "{\"route\":\"b.com\",\"ip\":\"1.2.3.4\",\"port\":80}]"),
                 NULL, &err),
             err));
    CHECK(OK(ry_clock_advance(clock, 10 * SECOND, &err), err));
    /* Lapsed: never listed, even before it is expired. */
    list = listed(ry_registry_http_routes_json, reg);
    CHECK(!contains(list, "a.com") && contains(list, "b.com"));
    ry_string_free(list);

    CHECK(OK(ry_registry_now(reg, &now, &err), err));
    CHECK(now == T0 + 10 * SECOND);
    CHECK(OK(ry_registry_expire(reg, now, &removed, &err), err));
    CHECK(removed == 1);
    CHECK(OK(ry_registry_expire(reg, now, &removed, &err), err));
    CHECK(removed == 0);
    /* The route without a ttl got max_ttl: it lapses at 120 s. */
    CHECK(OK(ry_registry_expire(reg, T0 + 120 * SECOND, NULL, &err), err));
    list = listed(ry_registry_http_routes_json, reg);
    CHECK(list != NULL && strcmp(list, "[]") == 0);
    ry_string_free(list);
    CHECK(OK(ry_registry_compact_index(reg, &removed, &err), err));

    CHECK(ry_registry_expire(NULL, now, &removed, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "reg");
    CHECK(ry_registry_compact_index(NULL, NULL, NULL) == RY_ERR_NULL_ARG);
    CHECK(ry_registry_now(reg, NULL, NULL) == RY_ERR_NULL_ARG);
    ry_registry_free(reg);
    ry_clock_free(clock);
}

static void test_tcp_route_mappings(void) {
    ry_registry *reg = ry_registry_new(120);
    char guid[64];
    char body[512];
    char *list;
    char *out = NULL;
    uint64_t revision = 0;
    ry_error *err = NULL;

    make_group(reg, "{\"name\":\"tcp-1\",\"type\":\"tcp\",\"reservable_ports\":\"5000-5010\"}",
               guid, sizeof guid);
    snprintf(body, sizeof body,
             "[{\"router_group_guid\":\"%s\",\"port\":5000,\"backend_ip\":\"10.0.0.8\","
             "\"backend_port\":6000,\"ttl\":60,\"isolation_segment\":\"is1\"},"
             "{\"router_group_guid\":\"%s\",\"port\":5001,\"backend_ip\":\"10.0.0.9\","
             "\"backend_port\":6001}]",
             guid, guid);
    /* One revision per mapping, after the group's. */
    CHECK(OK(ry_registry_upsert_tcp_route_mappings_json(reg, S(body), &revision, &err), err));
    CHECK(revision == 3);

    list = listed(ry_registry_tcp_route_mappings_json, reg);
    CHECK(count_of(list, "\"backend_ip\"") == 2);
    CHECK(contains(list, "\"backend_port\":6000"));
    CHECK(contains(list, "\"backend_tls_port\":0"));
    CHECK(contains(list, "\"isolation_segment\":\"is1\""));
    ry_string_free(list);

    /* Filtered by isolation segment; "" selects mappings without one. */
    CHECK(OK(ry_registry_tcp_route_mappings_in_json(reg, S("[\"is1\"]"), &out, NULL, &err), err));
    CHECK(count_of(out, "\"backend_ip\"") == 1 && contains(out, "10.0.0.8"));
    ry_string_free(out);
    CHECK(OK(ry_registry_tcp_route_mappings_in_json(reg, S("[\"\"]"), &out, NULL, &err), err));
    CHECK(count_of(out, "\"backend_ip\"") == 1 && contains(out, "10.0.0.9"));
    ry_string_free(out);
    CHECK(OK(ry_registry_tcp_route_mappings_in_json(reg, S("[\"is1\",\"\"]"), &out, NULL, &err),
             err));
    CHECK(count_of(out, "\"backend_ip\"") == 2);
    ry_string_free(out);
    CHECK(OK(ry_registry_tcp_route_mappings_in_json(reg, S("[]"), &out, NULL, &err), err));
    CHECK(out != NULL && strcmp(out, "[]") == 0);
    ry_string_free(out);
    out = NULL;
    CHECK(ry_registry_tcp_route_mappings_in_json(reg, S("\"is1\""), &out, NULL, &err) ==
          RY_ERR_INVALID_JSON);
    CHECK(out == NULL);
    CHECK_ERROR(err, "ProcessRequestError", "segments must be a JSON array of strings");
    CHECK(ry_registry_tcp_route_mappings_in_json(reg, NULL, 0, &out, NULL, &err) ==
          RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "segments");

    /* Delete one mapping by key. */
    snprintf(body, sizeof body,
             "[{\"router_group_guid\":\"%s\",\"port\":5000,\"backend_ip\":\"10.0.0.8\","
             "\"backend_port\":6000}]",
             guid);
    CHECK(OK(ry_registry_delete_tcp_route_mappings_json(reg, S(body), &revision, &err), err));
    CHECK(revision == 4);
    list = listed(ry_registry_tcp_route_mappings_json, reg);
    CHECK(count_of(list, "\"backend_ip\"") == 1 && !contains(list, "10.0.0.8"));
    ry_string_free(list);
    ry_registry_free(reg);
}

static void test_tcp_route_mapping_validation(void) {
    ry_registry *reg = ry_registry_new(120);
    char guid[64];
    char body[512];
    ry_error *err = NULL;

    make_group(reg, "{\"name\":\"tcp-1\",\"type\":\"tcp\",\"reservable_ports\":\"5000-5010\"}",
               guid, sizeof guid);

    /* CF's name for the kind, and routing-api's wire body with its prefix. */
    snprintf(body, sizeof body,
             "[{\"router_group_guid\":\"%s\",\"port\":5000,\"backend_ip\":\"10.0.0.8\","
             "\"backend_port\":0}]",
             guid);
    CHECK(ry_registry_upsert_tcp_route_mappings_json(reg, S(body), NULL, &err) ==
          RY_ERR_INVALID_TCP_MAPPING);
    CHECK(contains(ry_error_body(err), "\"name\":\"ProcessRequestError\""));
    CHECK(contains(ry_error_body(err),
                   "\"message\":\"Cannot process request: Each tcp mapping requires a "
                   "positive backend port"));
    CHECK_ERROR(err, "TcpRouteMappingInvalidError",
                "Each tcp mapping requires a positive backend port. RouteMapping=[");

    CHECK(ry_registry_upsert_tcp_route_mappings_json(
              reg,
              S("[{\"router_group_guid\":\"no-such-group\",\"port\":5000,"
                "\"backend_ip\":\"10.0.0.8\",\"backend_port\":6000}]"),
              NULL, &err) == RY_ERR_INVALID_TCP_MAPPING);
    CHECK_ERROR(err, "TcpRouteMappingInvalidError", "router_group_guid: no-such-group not found");

    snprintf(body, sizeof body,
             "[{\"router_group_guid\":\"%s\",\"port\":5000,\"backend_ip\":\"10.0.0.8\","
             "\"backend_port\":6000,\"ttl\":0}]",
             guid);
    CHECK(ry_registry_upsert_tcp_route_mappings_json(reg, S(body), NULL, &err) ==
          RY_ERR_INVALID_TCP_MAPPING);
    CHECK_ERROR(err, "TcpRouteMappingInvalidError",
                "Each tcp route mapping requires a ttl greater than 0");

    CHECK(ry_registry_delete_tcp_route_mappings_json(
              reg, S("[{\"router_group_guid\":\"\",\"port\":5000}]"), NULL, &err) ==
          RY_ERR_INVALID_TCP_MAPPING);
    CHECK_ERROR(err, "TcpRouteMappingInvalidError", "requires a non empty router group guid");

    CHECK(ry_registry_upsert_tcp_route_mappings_json(reg, S("[{\"backend_port\":-1}]"), NULL,
                                                     &err) == RY_ERR_INVALID_JSON);
    CHECK_ERROR(err, "ProcessRequestError", "");
    CHECK(ry_registry_delete_tcp_route_mappings_json(reg, (const uint8_t *)"\xc3", 1, NULL,
                                                     &err) == RY_ERR_INVALID_UTF8);
    CHECK_ERROR(err, "ProcessRequestError", "UTF-8");
    CHECK(ry_registry_upsert_tcp_route_mappings_json(NULL, S("[]"), NULL, &err) ==
          RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "reg");
    CHECK(ry_registry_tcp_route_mappings_json(reg, NULL, NULL, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "out");

    /* Only the group was created. */
    CHECK(revision_of(reg) == 1);
    ry_registry_free(reg);
}

static void test_router_group_get_update_delete(void) {
    ry_registry *reg = ry_registry_new(120);
    char guid[64];
    char *out = NULL;
    size_t len = 0;
    uint64_t revision = 0;
    ry_error *err = NULL;

    make_group(reg, "{\"name\":\"edge\",\"type\":\"tcp\",\"reservable_ports\":\"5000-5010\"}",
               guid, sizeof guid);

    CHECK(OK(ry_registry_router_group_by_name_json(reg, S("edge"), &out, &len, &err), err));
    CHECK(contains(out, guid) && strlen(out) == len);
    ry_string_free(out);
    CHECK(OK(ry_registry_router_group_json(reg, S(guid), &out, NULL, &err), err));
    CHECK(contains(out, "\"name\":\"edge\""));
    ry_string_free(out);
    out = NULL;

    CHECK(ry_registry_router_group_by_name_json(reg, S("nope"), &out, NULL, &err) ==
          RY_ERR_NOT_FOUND);
    CHECK(out == NULL);
    CHECK_ERROR(err, "ResourceNotFoundError", "router group 'nope' not found");
    CHECK(ry_registry_router_group_json(reg, S("nope"), &out, NULL, &err) == RY_ERR_NOT_FOUND);
    CHECK_ERROR(err, "ResourceNotFoundError", "router group 'nope' does not exist");

    /* Update: only reservable_ports counts; name and type are ignored. */
    CHECK(OK(ry_registry_update_router_group_json(
                 reg, S(guid),
                 S("{\"name\":\"other\",\"type\":\"http\",\"reservable_ports\":\"6000-6010\"}"),
                 &out, &len, &err),
             err));
    CHECK(contains(out, "\"reservable_ports\":\"6000-6010\""));
    CHECK(contains(out, "\"name\":\"edge\"") && contains(out, "\"type\":\"tcp\""));
    ry_string_free(out);
    out = NULL;
    revision = revision_of(reg);
    /* An unchanged value commits nothing; the output is optional. */
    CHECK(OK(ry_registry_update_router_group_json(
                 reg, S(guid), S("{\"reservable_ports\":\"6000-6010\"}"), NULL, NULL, &err),
             err));
    CHECK(revision_of(reg) == revision);

    CHECK(ry_registry_update_router_group_json(
              reg, S(guid), S("{\"reservable_ports\":\"1024, 2000\"}"), &out, NULL, &err) ==
          RY_ERR_INVALID_ROUTER_GROUP);
    CHECK(out == NULL);
    CHECK(contains(ry_error_body(err), "Cannot process request: "));
    CHECK_ERROR(err, "ProcessRequestError", "port must be between 1024 and 65535");
    CHECK(ry_registry_update_router_group_json(
              reg, S(guid), S("{\"reservable_ports\":\"6000-5000\"}"), NULL, NULL, &err) ==
          RY_ERR_INVALID_ROUTER_GROUP);
    CHECK_ERROR(err, "ProcessRequestError", "range (6000-5000) must be in ascending numeric order");
    CHECK(ry_registry_update_router_group_json(reg, S("nope"), S("{\"reservable_ports\":\"6000\"}"),
                                               NULL, NULL, &err) == RY_ERR_NOT_FOUND);
    CHECK_ERROR(err, "ResourceNotFoundError", "router group 'nope' does not exist");
    CHECK(ry_registry_update_router_group_json(reg, S(guid), S("[]"), NULL, NULL, &err) ==
          RY_ERR_INVALID_JSON);
    CHECK_ERROR(err, "ProcessRequestError", "");
    CHECK(ry_registry_update_router_group_json(reg, S(guid), NULL, 0, NULL, NULL, &err) ==
          RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "json");
    CHECK(revision_of(reg) == revision);

    CHECK(OK(ry_registry_delete_router_group(reg, S(guid), &revision, &err), err));
    CHECK(revision == revision_of(reg));
    CHECK(ry_registry_delete_router_group(reg, S(guid), NULL, &err) == RY_ERR_NOT_FOUND);
    CHECK_ERROR(err, "ResourceNotFoundError", guid);
    CHECK(ry_registry_delete_router_group(reg, NULL, 0, NULL, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "guid");
    CHECK(ry_registry_router_group_by_name_json(reg, (const uint8_t *)"\xfe", 1, &out, NULL,
                                                &err) == RY_ERR_INVALID_UTF8);
    CHECK_ERROR(err, "ProcessRequestError", "name");
    out = listed(ry_registry_router_groups_json, reg);
    CHECK(out != NULL && strcmp(out, "[]") == 0);
    ry_string_free(out);
    ry_registry_free(reg);
}

static void test_port_reservation(void) {
    ry_clock *clock = NULL;
    ry_registry *reg = manual_registry(&clock);
    char guid[64];
    char body[512];
    char *list;
    uint16_t port = 0;
    uint64_t expires = 0;
    uint64_t ttl = 5;
    uint64_t zero = 0;
    ry_error *err = NULL;

    make_group(reg, "{\"name\":\"tcp-1\",\"type\":\"tcp\",\"reservable_ports\":\"5000-5002\"}",
               guid, sizeof guid);

    /* The lowest free port; the default TTL is max_ttl. */
    CHECK(OK(ry_registry_reserve_port(reg, S(guid), NULL, &port, &expires, &err), err));
    CHECK(port == 5000 && expires == T0 + 120 * SECOND);
    CHECK(OK(ry_registry_reserve_port(reg, S(guid), &ttl, &port, &expires, &err), err));
    CHECK(port == 5001 && expires == T0 + 5 * SECOND);
    list = listed(ry_registry_port_reservations_json, reg);
    CHECK(count_of(list, "\"router_group_guid\"") == 2);
    CHECK(contains(list, "\"port\":5000") && contains(list, "\"port\":5001"));
    ry_string_free(list);

    /* A mapping on a reserved port claims its reservation. */
    snprintf(body, sizeof body,
             "[{\"router_group_guid\":\"%s\",\"port\":5000,\"backend_ip\":\"10.0.0.8\","
             "\"backend_port\":6000}]",
             guid);
    CHECK(OK(ry_registry_upsert_tcp_route_mappings_json(reg, S(body), NULL, &err), err));
    list = listed(ry_registry_port_reservations_json, reg);
    CHECK(count_of(list, "\"router_group_guid\"") == 1 && !contains(list, "\"port\":5000"));
    ry_string_free(list);

    CHECK(OK(ry_registry_reserve_port(reg, S(guid), NULL, &port, NULL, &err), err));
    CHECK(port == 5002);
    port = 0;
    CHECK(ry_registry_reserve_port(reg, S(guid), NULL, &port, NULL, &err) ==
          RY_ERR_PORT_RANGE_EXHAUSTED);
    CHECK(port == 0);
    CHECK_ERROR(err, "PortRangeExhaustedError", "There are no free ports in range");

    /* A lapsed reservation frees its port, swept or not. */
    CHECK(OK(ry_clock_advance(clock, 5 * SECOND, &err), err));
    CHECK(OK(ry_registry_reserve_port(reg, S(guid), NULL, &port, NULL, &err), err));
    CHECK(port == 5001);

    CHECK(OK(ry_registry_release_port(reg, S(guid), 5002, NULL, &err), err));
    CHECK(ry_registry_release_port(reg, S(guid), 5002, NULL, &err) == RY_ERR_NOT_FOUND);
    CHECK_ERROR(err, "ResourceNotFoundError", "port 5002 of router group");
    CHECK(ry_registry_reserve_port(reg, S(guid), &zero, &port, NULL, &err) ==
          RY_ERR_INVALID_ARGUMENT);
    CHECK_ERROR(err, "ProcessRequestError", "");
    CHECK(ry_registry_reserve_port(reg, S("no-such-group"), NULL, &port, NULL, &err) ==
          RY_ERR_NOT_FOUND);
    CHECK_ERROR(err, "ResourceNotFoundError", "no-such-group");
    CHECK(ry_registry_reserve_port(reg, S(guid), NULL, NULL, NULL, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "port");
    CHECK(ry_registry_release_port(NULL, S(guid), 5000, NULL, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "reg");
    CHECK(ry_registry_port_reservations_json(reg, NULL, NULL, NULL) == RY_ERR_NULL_ARG);

    /* An http group has no reservable ports. */
    make_group(reg, "{\"name\":\"web\",\"type\":\"http\"}", guid, sizeof guid);
    CHECK(ry_registry_reserve_port(reg, S(guid), NULL, &port, NULL, &err) ==
          RY_ERR_INVALID_REQUEST);
    CHECK_ERROR(err, "ProcessRequestError", "");
    ry_registry_free(reg);
    ry_clock_free(clock);
}

static void test_reserve_port_in_range(void) {
    ry_registry *reg = ry_registry_new(120);
    uint16_t port = 0;
    char *out = NULL;
    ry_error *err = NULL;

    CHECK(OK(ry_registry_reserve_port_in_range(reg, S("edge"), S("6000-6002"), &port, &err),
             err));
    CHECK(port == 6000);
    CHECK(OK(ry_registry_router_group_by_name_json(reg, S("edge"), &out, NULL, &err), err));
    CHECK(contains(out, "\"type\":\"tcp\"") && contains(out, "\"reservable_ports\":\"6000\""));
    ry_string_free(out);
    out = NULL;

    /* 6000 now belongs to edge's ranges: the next group gets 6001. */
    CHECK(OK(ry_registry_reserve_port_in_range(reg, S("edge-2"), S("6000-6002"), &port, &err),
             err));
    CHECK(port == 6001);
    /* An existing group is narrowed to the new port. */
    CHECK(OK(ry_registry_reserve_port_in_range(reg, S("edge"), S("6000-6002"), &port, &err),
             err));
    CHECK(port == 6002);
    CHECK(OK(ry_registry_router_group_by_name_json(reg, S("edge"), &out, NULL, &err), err));
    CHECK(contains(out, "\"reservable_ports\":\"6002\""));
    ry_string_free(out);
    /* Narrowing edge gave 6000 back. */
    CHECK(OK(ry_registry_reserve_port_in_range(reg, S("edge-3"), S("6000-6002"), &port, &err),
             err));
    CHECK(port == 6000);

    CHECK(ry_registry_reserve_port_in_range(reg, S("x"), S("6000-6002"), &port, &err) ==
          RY_ERR_PORT_RANGE_EXHAUSTED);
    CHECK_ERROR(err, "PortRangeExhaustedError", "There are no free ports in range: [6000-6002]");
    CHECK(ry_registry_reserve_port_in_range(reg, S("x"), S("7000"), &port, &err) ==
          RY_ERR_INVALID_REQUEST);
    CHECK_ERROR(err, "ProcessRequestError", "single port is not supported");
    CHECK(ry_registry_reserve_port_in_range(reg, S("x"), S("7000-7001,8000-8001"), &port, &err) ==
          RY_ERR_INVALID_REQUEST);
    CHECK_ERROR(err, "ProcessRequestError", "multiple port ranges are not supported");
    CHECK(ry_registry_reserve_port_in_range(reg, S("x"), S("70-"), &port, &err) ==
          RY_ERR_INVALID_ROUTER_GROUP);
    CHECK_ERROR(err, "ProcessRequestError", "requires an ending port");
    CHECK(ry_registry_reserve_port_in_range(reg, S("x"), NULL, 0, &port, &err) ==
          RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "range");
    CHECK(ry_registry_reserve_port_in_range(reg, S("x"), S("7000-7001"), NULL, &err) ==
          RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "port");
    ry_registry_free(reg);
}

int main(void) {
    RUN(test_http_routes_upsert_list_delete);
    RUN(test_http_route_validation);
    RUN(test_http_route_leases_lapse_by_the_clock);
    RUN(test_tcp_route_mappings);
    RUN(test_tcp_route_mapping_validation);
    RUN(test_router_group_get_update_delete);
    RUN(test_port_reservation);
    RUN(test_reserve_port_in_range);
    return REPORT();
}
