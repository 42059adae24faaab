/*
 * Tests of configuration, the manual clock, subscriptions (replay, filters, timeouts,
 * lag, compaction, outliving the registry), snapshots and their restore, atomic
 * batches and the reaper.
 */
#define _POSIX_C_SOURCE 200809L

#include "check.h"

#define SECOND 1000000000ULL
#define T0 (1000 * SECOND)
#define ROUTE_A "[{\"route\":\"a.com\",\"ip\":\"1.2.3.4\",\"port\":80,\"ttl\":10}]"
#define UUID_S "0b1f5c3e-8d2a-4c6b-9e7f-1a2b3c4d5e6f"
#define TCP_GROUP "{\"name\":\"tcp-1\",\"type\":\"tcp\",\"reservable_ports\":\"5000-5010\"}"

/* A registry on a manual clock at T0 with the given history and subscriber buffer. */
static ry_registry *registry_with(ry_clock **clock, size_t history, size_t buffer) {
    ry_config *config = ry_config_new();
    ry_registry *reg = NULL;
    ry_error *err = NULL;
    *clock = ry_clock_new(T0);
    CHECK(OK(ry_config_set_clock(config, *clock, &err), err));
    CHECK(OK(ry_config_set_history(config, history, &err), err));
    CHECK(OK(ry_config_set_subscriber_buffer(config, buffer, &err), err));
    CHECK(OK(ry_registry_new_with_config(config, &reg, &err), err));
    ry_config_free(config);
    return reg;
}

static void upsert(const ry_registry *reg, const char *json) {
    ry_error *err = NULL;
    CHECK(OK(ry_registry_upsert_http_routes_json(reg, S(json), NULL, &err), err));
}

/* Polls one event with a short timeout; returns its JSON (to free) or NULL. */
static char *next_event(ry_subscription *sub) {
    char *out = NULL;
    ry_error *err = NULL;
    if (OK(ry_subscription_poll(sub, 1000, &out, NULL, NULL, &err), err)) {
        return out;
    }
    return NULL;
}

static void test_config_options_reach_the_registry(void) {
    ry_config *config = ry_config_new();
    ry_clock *clock = ry_clock_new(T0);
    ry_registry *reg = NULL;
    ry_error *err = NULL;
    const uint16_t reserved[] = {5005, 6000};
    uint16_t port = 0;
    uint64_t expires = 0;
    uint64_t now = 0;
    char guid[64];
    char *out = NULL;

    CHECK(config != NULL && clock != NULL);
    CHECK(OK(ry_config_set_max_ttl(config, 60, &err), err));
    CHECK(OK(ry_config_set_reservation_ttl(config, 7, &err), err));
    CHECK(OK(ry_config_set_reserved_ports(config, reserved, 2, &err), err));
    CHECK(OK(ry_config_set_history(config, 100, &err), err));
    CHECK(OK(ry_config_set_subscriber_buffer(config, 10, &err), err));
    CHECK(OK(ry_config_set_clock(config, clock, &err), err));
    CHECK(OK(ry_registry_new_with_config(config, &reg, &err), err));
    /* The registry copied the options: the configuration and clock handle can go. */
    ry_config_free(config);

    CHECK(OK(ry_registry_now(reg, &now, &err), err));
    CHECK(now == T0);
    CHECK(OK(ry_clock_advance(clock, 3 * SECOND, &err), err));
    CHECK(OK(ry_registry_now(reg, &now, &err), err));
    CHECK(now == T0 + 3 * SECOND);
    CHECK(OK(ry_clock_set(clock, T0, &err), err));
    CHECK(OK(ry_clock_now(clock, &now, &err), err));
    CHECK(now == T0);
    ry_clock_free(clock);
    CHECK(OK(ry_registry_now(reg, &now, &err), err));
    CHECK(now == T0);

    /* max_ttl 60. */
    CHECK(ry_registry_upsert_http_routes_json(
              reg, S("[{\"route\":\"a.com\",\"ip\":\"1.2.3.4\",\"port\":80,\"ttl\":61}]"), NULL,
              &err) == RY_ERR_INVALID_ROUTE);
    CHECK_ERROR(err, "RouteInvalidError", "Max ttl is 60");

    /* Reserved ports are refused in router groups. */
    CHECK(ry_registry_create_router_group_json(
              reg, S("{\"name\":\"g\",\"type\":\"tcp\",\"reservable_ports\":\"5000-5010\"}"), &out,
              NULL, NULL, &err) == RY_ERR_INVALID_ROUTER_GROUP);
    CHECK_ERROR(err, "ProcessRequestError",
                "Reservable ports must not include the following reserved system component "
                "ports: [5005 6000].");

    /* Reservation TTL 7 s. */
    if (OK(ry_registry_create_router_group_json(
               reg, S("{\"name\":\"g\",\"type\":\"tcp\",\"reservable_ports\":\"5000-5004\"}"),
               &out, NULL, NULL, &err),
           err)) {
        CHECK(json_string(out, "guid", guid, sizeof guid));
        ry_string_free(out);
        CHECK(OK(ry_registry_reserve_port(reg, S(guid), NULL, &port, &expires, &err), err));
        CHECK(port == 5000 && expires == T0 + 7 * SECOND);
    }
    ry_registry_free(reg);
}

static void test_config_and_clock_errors(void) {
    ry_config *config = ry_config_new();
    ry_clock *clock = ry_clock_new(0);
    ry_registry *reg = NULL;
    ry_error *err = NULL;
    uint64_t now = 1;

    CHECK(ry_config_set_max_ttl(NULL, 1, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "config");
    CHECK(ry_config_set_history(NULL, 1, NULL) == RY_ERR_NULL_ARG);
    CHECK(ry_config_set_subscriber_buffer(NULL, 1, NULL) == RY_ERR_NULL_ARG);
    CHECK(ry_config_set_reservation_ttl(NULL, 1, NULL) == RY_ERR_NULL_ARG);
    CHECK(ry_config_set_reserved_ports(NULL, NULL, 0, NULL) == RY_ERR_NULL_ARG);
    CHECK(ry_config_set_reserved_ports(config, NULL, 3, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "ports");
    CHECK(OK(ry_config_set_reserved_ports(config, NULL, 0, &err), err));
    CHECK(ry_config_set_clock(config, NULL, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "clock");
    CHECK(ry_config_set_clock(NULL, clock, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "config");
    CHECK(ry_registry_new_with_config(NULL, &reg, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "config");
    CHECK(ry_registry_new_with_config(config, NULL, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "out");
    CHECK(reg == NULL);

    CHECK(ry_clock_now(NULL, &now, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "clock");
    CHECK(ry_clock_now(clock, NULL, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "now_nanos");
    CHECK(ry_clock_advance(NULL, 1, NULL) == RY_ERR_NULL_ARG);
    CHECK(ry_clock_set(NULL, 1, NULL) == RY_ERR_NULL_ARG);
    CHECK(OK(ry_clock_advance(clock, UINT64_MAX, &err), err));
    CHECK(OK(ry_clock_advance(clock, 5, &err), err)); /* saturates */
    CHECK(OK(ry_clock_now(clock, &now, &err), err));
    CHECK(now == UINT64_MAX);

    /* A registry from the unchanged default configuration, on the system clock. */
    CHECK(OK(ry_registry_new_with_config(config, &reg, &err), err));
    CHECK(OK(ry_registry_now(reg, &now, &err), err));
    CHECK(now > 1600000000ULL * SECOND);
    ry_registry_free(reg);

    ry_config_free(config);
    ry_config_free(NULL);
    ry_clock_free(clock);
    ry_clock_free(NULL);
}

static void test_subscription_replays_then_follows(void) {
    ry_clock *clock = NULL;
    ry_registry *reg = registry_with(&clock, 1000, 1000);
    ry_subscription *sub = NULL;
    uint64_t from = 0;
    size_t pending = 99;
    size_t count = 0;
    char *event;
    ry_error *err = NULL;

    upsert(reg, ROUTE_A);
    CHECK(OK(ry_registry_subscribe(reg, RY_KIND_ALL, &from, &sub, NULL, &err), err));
    CHECK(OK(ry_registry_subscriber_count(reg, &count, &err), err));
    CHECK(count == 1);
    CHECK(OK(ry_subscription_pending(sub, &pending, &err), err));
    CHECK(pending == 1);

    /* The replayed event, in CF's shape inside the envelope. */
    event = next_event(sub);
    CHECK(contains(event, "\"revision\":1"));
    CHECK(contains(event, "\"event\":\"Upsert\""));
    CHECK(contains(event, "\"action\":\"Upsert\""));
    CHECK(contains(event, "\"kind\":\"http_route\""));
    CHECK(contains(event, "\"object\":{\"route\":\"a.com\""));
    CHECK(contains(event, "\"ttl\":10"));
    ry_string_free(event);

    /* Live: a delete, then an expiry (CF calls both Delete). */
    CHECK(OK(ry_registry_delete_http_routes_json(reg, S(ROUTE_A), NULL, &err), err));
    upsert(reg, ROUTE_A);
    CHECK(OK(ry_clock_advance(clock, 10 * SECOND, &err), err));
    CHECK(OK(ry_registry_expire(reg, T0 + 10 * SECOND, NULL, &err), err));
    event = next_event(sub);
    CHECK(contains(event, "\"revision\":2") && contains(event, "\"event\":\"Delete\"") &&
          contains(event, "\"action\":\"Delete\""));
    ry_string_free(event);
    event = next_event(sub);
    CHECK(contains(event, "\"revision\":3") && contains(event, "\"action\":\"Upsert\""));
    ry_string_free(event);
    event = next_event(sub);
    CHECK(contains(event, "\"revision\":4") && contains(event, "\"event\":\"Delete\"") &&
          contains(event, "\"action\":\"Expire\""));
    ry_string_free(event);

    ry_subscription_free(sub);
    CHECK(OK(ry_registry_subscriber_count(reg, &count, &err), err));
    CHECK(count == 0);
    ry_registry_free(reg);
    ry_clock_free(clock);
}

static void test_subscription_filters_and_timeouts(void) {
    ry_clock *clock = NULL;
    ry_registry *reg = registry_with(&clock, 1000, 1000);
    ry_subscription *groups = NULL;
    ry_subscription *services = NULL;
    ry_subscription *none = NULL;
    char *out = (char *)"untouched";
    char *event;
    ry_error *err = (ry_error *)&out; /* any non-NULL value: a timeout resets it */
    uint64_t resume = 77;

    /* From now on only (NULL from). */
    CHECK(OK(ry_registry_subscribe(reg, RY_KIND_ROUTER_GROUP, NULL, &groups, NULL, &err), err));
    CHECK(OK(ry_registry_subscribe(reg, RY_KIND_SERVICE | RY_KIND_ROUTE, NULL, &services, NULL,
                                   &err),
             err));
    CHECK(OK(ry_registry_subscribe(reg, 0, NULL, &none, NULL, &err), err));

    upsert(reg, ROUTE_A);
    if (OK(ry_registry_create_router_group_json(reg, S(TCP_GROUP), &out, NULL, NULL, &err), err)) {
        ry_string_free(out);
    }
    if (OK(ry_registry_create_service_json(reg, S("{\"name\":\"s\",\"host\":\"h\"}"), &out, NULL,
                                           &err),
           err)) {
        ry_string_free(out);
    }

    event = next_event(groups);
    CHECK(contains(event, "\"kind\":\"router_group\"") && contains(event, "\"revision\":2"));
    CHECK(contains(event, "\"object\":{\"guid\":"));
    ry_string_free(event);
    event = next_event(services);
    CHECK(contains(event, "\"kind\":\"service\"") && contains(event, "\"revision\":3"));
    CHECK(contains(event, "\"connect_timeout\":60000"));
    ry_string_free(event);

    /* Nothing more: a timeout is not a failure, and writes nothing. */
    out = (char *)"untouched";
    err = (ry_error *)&out;
    CHECK(ry_subscription_poll(groups, 0, &out, NULL, &resume, &err) == RY_TIMEOUT);
    CHECK(err == NULL && resume == 77 && strcmp(out, "untouched") == 0);
    CHECK(ry_subscription_poll(groups, 20, &out, NULL, NULL, NULL) == RY_TIMEOUT);
    CHECK(ry_subscription_poll(none, 0, &out, NULL, NULL, NULL) == RY_TIMEOUT);
    CHECK(strcmp(out, "untouched") == 0);

    /* Errors of subscribe and poll. */
    CHECK(ry_registry_subscribe(reg, RY_KIND_ALL + 1, NULL, &groups, NULL, &err) ==
          RY_ERR_INVALID_ARGUMENT);
    CHECK_ERROR(err, "ProcessRequestError", "RY_KIND_ALL");
    {
        uint64_t future = 1000;
        ry_subscription *never = NULL;
        CHECK(ry_registry_subscribe(reg, RY_KIND_ALL, &future, &never, NULL, &err) ==
              RY_ERR_INVALID_ARGUMENT);
        CHECK(never == NULL);
        CHECK_ERROR(err, "ProcessRequestError", "");
        CHECK(ry_registry_subscribe(NULL, RY_KIND_ALL, NULL, &never, NULL, &err) ==
              RY_ERR_NULL_ARG);
        CHECK_ERROR(err, "ProcessRequestError", "reg");
        CHECK(ry_registry_subscribe(reg, RY_KIND_ALL, NULL, NULL, NULL, &err) == RY_ERR_NULL_ARG);
        CHECK_ERROR(err, "ProcessRequestError", "out");
    }
    CHECK(ry_subscription_poll(NULL, 0, &out, NULL, NULL, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "sub");
    CHECK(ry_subscription_poll(groups, 0, NULL, NULL, NULL, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "out");
    CHECK(ry_subscription_pending(NULL, NULL, NULL) == RY_ERR_NULL_ARG);
    CHECK(ry_subscription_pending(groups, NULL, NULL) == RY_ERR_NULL_ARG);
    CHECK(ry_registry_subscriber_count(reg, NULL, NULL) == RY_ERR_NULL_ARG);

    ry_subscription_free(groups);
    ry_subscription_free(services);
    ry_subscription_free(none);
    ry_subscription_free(NULL);
    ry_registry_free(reg);
    ry_clock_free(clock);
}

static void test_lagged_subscriber_learns_where_to_resume(void) {
    ry_clock *clock = NULL;
    ry_registry *reg = registry_with(&clock, 1000, 2);
    ry_subscription *sub = NULL;
    ry_subscription *again = NULL;
    uint64_t resume = 0;
    char *out = NULL;
    char *event;
    ry_error *err = NULL;
    int i;

    CHECK(OK(ry_registry_subscribe(reg, RY_KIND_ALL, NULL, &sub, NULL, &err), err));
    for (i = 0; i < 5; i++) {
        char json[128];
        snprintf(json, sizeof json, "[{\"route\":\"r%d.com\",\"ip\":\"1.2.3.4\",\"port\":80}]", i);
        upsert(reg, json);
    }
    /* Two events fit the buffer; the third overflowed it. */
    event = next_event(sub);
    CHECK(contains(event, "\"revision\":1"));
    ry_string_free(event);
    event = next_event(sub);
    CHECK(contains(event, "\"revision\":2"));
    ry_string_free(event);
    CHECK(ry_subscription_poll(sub, 0, &out, NULL, &resume, &err) == RY_ERR_LAGGED);
    CHECK(resume == 2 && out == NULL);
    CHECK_ERROR(err, "ProcessRequestError", "resume from revision 2");
    CHECK(ry_subscription_poll(sub, 0, &out, NULL, &resume, &err) == RY_ERR_CLOSED);
    CHECK_ERROR(err, "ProcessRequestError", "closed");
    CHECK(ry_subscription_poll(sub, 10, &out, NULL, NULL, NULL) == RY_ERR_CLOSED);
    ry_subscription_free(sub);

    /* Resuming from there replays the rest. */
    CHECK(OK(ry_registry_subscribe(reg, RY_KIND_ALL, &resume, &again, NULL, &err), err));
    event = next_event(again);
    CHECK(contains(event, "\"revision\":3") && contains(event, "r2.com"));
    ry_string_free(event);
    ry_subscription_free(again);
    ry_registry_free(reg);
    ry_clock_free(clock);
}

static void test_compacted_history_names_the_oldest_revision(void) {
    ry_clock *clock = NULL;
    ry_registry *reg = registry_with(&clock, 3, 100);
    ry_subscription *sub = NULL;
    uint64_t from = 0;
    uint64_t oldest = 0;
    char *event;
    ry_error *err = NULL;
    int i;

    for (i = 0; i < 10; i++) {
        char json[128];
        snprintf(json, sizeof json, "[{\"route\":\"r%d.com\",\"ip\":\"1.2.3.4\",\"port\":80}]", i);
        upsert(reg, json);
    }
    CHECK(ry_registry_subscribe(reg, RY_KIND_ALL, &from, &sub, &oldest, &err) ==
          RY_ERR_COMPACTED);
    CHECK(sub == NULL);
    CHECK(oldest == 8);
    CHECK_ERROR(err, "ProcessRequestError", "the oldest revision available is 8");

    from = oldest - 1;
    CHECK(OK(ry_registry_subscribe(reg, RY_KIND_ALL, &from, &sub, &oldest, &err), err));
    event = next_event(sub);
    CHECK(contains(event, "\"revision\":8"));
    ry_string_free(event);
    ry_subscription_free(sub);
    ry_registry_free(reg);
    ry_clock_free(clock);
}

static void test_subscription_outlives_its_registry(void) {
    ry_registry *reg = ry_registry_new(120);
    ry_subscription *sub = NULL;
    char *out = NULL;
    char *event;
    ry_error *err = NULL;

    CHECK(OK(ry_registry_subscribe(reg, RY_KIND_HTTP_ROUTE, NULL, &sub, NULL, &err), err));
    upsert(reg, ROUTE_A);
    ry_registry_free(reg);
    event = next_event(sub);
    CHECK(contains(event, "a.com"));
    ry_string_free(event);
    CHECK(ry_subscription_poll(sub, 10, &out, NULL, NULL, &err) == RY_ERR_CLOSED);
    CHECK_ERROR(err, "ProcessRequestError", "closed");
    ry_subscription_free(sub);
}

static void test_snapshot(void) {
    ry_clock *clock = NULL;
    ry_registry *reg = registry_with(&clock, 1000, 1000);
    ry_subscription *sub = NULL;
    char guid[64];
    char body[512];
    char *out = NULL;
    char *event;
    size_t len = 0;
    uint16_t port = 0;
    uint64_t revision = 0;
    ry_error *err = NULL;

    CHECK(OK(ry_registry_snapshot_json(reg, &out, &len, &err), err));
    CHECK(out != NULL && strlen(out) == len);
    CHECK(contains(out, "\"revision\":0") && contains(out, "\"http_routes\":[]") &&
          contains(out, "\"routes\":[]"));
    ry_string_free(out);

    upsert(reg, ROUTE_A);
    if (OK(ry_registry_create_router_group_json(reg, S(TCP_GROUP), &out, NULL, NULL, &err), err)) {
        CHECK(json_string(out, "guid", guid, sizeof guid));
        ry_string_free(out);
    }
    snprintf(body, sizeof body,
             "[{\"router_group_guid\":\"%s\",\"port\":5005,\"backend_ip\":\"10.0.0.8\","
             "\"backend_port\":6000,\"ttl\":30}]",
             guid);
    CHECK(OK(ry_registry_upsert_tcp_route_mappings_json(reg, S(body), NULL, &err), err));
    CHECK(OK(ry_registry_reserve_port(reg, S(guid), NULL, &port, NULL, &err), err));
    if (OK(ry_registry_create_service_json(reg, S("{\"name\":\"s\",\"host\":\"h\"}"), &out, NULL,
                                           &err),
           err)) {
        ry_string_free(out);
    }
    if (OK(ry_registry_create_route_json(reg, S("{\"name\":\"r\",\"paths\":[\"/\"]}"), &out, NULL,
                                         &err),
           err)) {
        ry_string_free(out);
    }

    CHECK(OK(ry_registry_snapshot_json(reg, &out, NULL, &err), err));
    CHECK(contains(out, "\"revision\":6"));
    CHECK(contains(out, "\"http_routes\":[{"));
    CHECK(contains(out, "\"route\":\"a.com\""));
    /* Leased objects carry their expiry, in nanoseconds on the registry's clock. */
    CHECK(contains(out, "\"expires_at\":1010000000000"));
    CHECK(contains(out, "\"expires_at\":1030000000000"));
    CHECK(contains(out, "\"tcp_route_mappings\":[{"));
    CHECK(contains(out, "\"port_reservations\":[{"));
    CHECK(contains(out, "\"router_groups\":[{"));
    CHECK(contains(out, "\"services\":[{") && contains(out, "\"routes\":[{"));
    CHECK(contains(out, "\"name\":\"tcp-1\"") && contains(out, "\"paths\":[\"/\"]"));
    ry_string_free(out);

    /* Snapshot at r, then the events after r. */
    CHECK(ry_registry_revision(reg, &revision, NULL) == RY_OK);
    CHECK(OK(ry_registry_subscribe(reg, RY_KIND_ALL, &revision, &sub, NULL, &err), err));
    upsert(reg, "[{\"route\":\"b.com\",\"ip\":\"1.2.3.4\",\"port\":80}]");
    event = next_event(sub);
    CHECK(contains(event, "\"revision\":7") && contains(event, "b.com"));
    ry_string_free(event);
    ry_subscription_free(sub);

    CHECK(ry_registry_snapshot_json(NULL, &out, NULL, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "reg");
    CHECK(ry_registry_snapshot_json(reg, NULL, NULL, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "out");
    ry_registry_free(reg);
    ry_clock_free(clock);
}

static void test_apply_batches(void) {
    ry_clock *clock = NULL;
    ry_registry *reg = registry_with(&clock, 1000, 1000);
    char guid[64];
    char batch[2048];
    char *out = NULL;
    char *list = NULL;
    uint64_t before = 0;
    uint64_t after = 0;
    ry_error *err = NULL;

    if (OK(ry_registry_create_router_group_json(reg, S(TCP_GROUP), &out, NULL, NULL, &err), err)) {
        CHECK(json_string(out, "guid", guid, sizeof guid));
        ry_string_free(out);
    }

    snprintf(batch, sizeof batch,
             "[{\"create_router_group\":{\"name\":\"g2\",\"type\":\"tcp\",\"reservable_ports\":"
             "\"6000\"}},"
             "{\"upsert_http_route\":{\"route\":\"a.com\",\"ip\":\"1.2.3.4\",\"port\":80}},"
             "{\"upsert_tcp_route_mapping\":{\"router_group_guid\":\"%s\",\"port\":5001,"
             "\"backend_ip\":\"10.0.0.1\",\"backend_port\":6000}},"
             "{\"reserve_port\":{\"router_group_guid\":\"%s\",\"ttl\":30}},"
             "{\"release_port\":{\"router_group_guid\":\"%s\",\"port\":5000}},"
             "{\"update_router_group\":{\"guid\":\"%s\",\"reservable_ports\":\"5000-5020\"}},"
             "{\"delete_http_route\":{\"route\":\"a.com\",\"ip\":\"1.2.3.4\",\"port\":80}},"
             "{\"delete_tcp_route_mapping\":{\"router_group_guid\":\"%s\",\"port\":5001,"
             "\"backend_ip\":\"10.0.0.1\",\"backend_port\":6000}}]",
             guid, guid, guid, guid, guid);
    CHECK(OK(ry_registry_apply_json(reg, S(batch), &out, NULL, &err), err));
    /* One event per change, consecutive revisions after the group's. */
    CHECK(count_of(out, "\"revision\":") == 8);
    CHECK(contains(out, "{\"revision\":2,"));
    CHECK(contains(out, "{\"revision\":9,"));
    CHECK(contains(out, "\"kind\":\"port_reservation\""));
    CHECK(contains(out, "\"kind\":\"tcp_route_mapping\""));
    ry_string_free(out);
    CHECK(ry_registry_revision(reg, &before, NULL) == RY_OK);
    CHECK(before == 9);

    /* The events output is optional; an empty batch commits nothing. */
    CHECK(OK(ry_registry_apply_json(reg, S("[]"), &out, NULL, &err), err));
    CHECK(out != NULL && strcmp(out, "[]") == 0);
    ry_string_free(out);
    out = NULL;

    /* All or nothing: the third change fails, the first two are undone. */
    snprintf(batch, sizeof batch,
             "[{\"upsert_http_route\":{\"route\":\"b.com\",\"ip\":\"1.2.3.4\",\"port\":80}},"
             "{\"delete_router_group\":{\"guid\":\"%s\"}},"
             "{\"update_router_group\":{\"guid\":\"no-such-group\",\"reservable_ports\":\"7000\"}}]",
             guid);
    CHECK(ry_registry_apply_json(reg, S(batch), &out, NULL, &err) == RY_ERR_NOT_FOUND);
    CHECK(out == NULL);
    CHECK_ERROR(err, "ResourceNotFoundError", "router group 'no-such-group' does not exist");
    CHECK(ry_registry_apply_json(
              reg,
              S("[{\"upsert_http_route\":{\"route\":\"b.com\",\"ip\":\"1.2.3.4\",\"port\":80}},"
                "{\"upsert_http_route\":{\"route\":\"c.com\",\"ip\":\"1.2.3.4\",\"port\":0}}]"),
              NULL, NULL, &err) == RY_ERR_INVALID_ROUTE);
    CHECK_ERROR(err, "RouteInvalidError", "Each route request requires a port greater than 0");
    CHECK(ry_registry_apply_json(
              reg, S("[{\"release_port\":{\"router_group_guid\":\"x\",\"port\":5000}}]"), NULL,
              NULL, &err) == RY_ERR_NOT_FOUND);
    CHECK_ERROR(err, "ResourceNotFoundError", "not reserved");
    CHECK(ry_registry_revision(reg, &after, NULL) == RY_OK);
    CHECK(after == before);
    CHECK(OK(ry_registry_http_routes_json(reg, &list, NULL, &err), err));
    CHECK(list != NULL && strcmp(list, "[]") == 0);
    ry_string_free(list);

    /* Malformed batches name the change at fault. */
    CHECK(ry_registry_apply_json(reg, S("{}"), NULL, NULL, &err) == RY_ERR_INVALID_JSON);
    CHECK_ERROR(err, "ProcessRequestError", "the batch must be a JSON array of changes");
    CHECK(ry_registry_apply_json(reg, S("[{\"upsert_http_route\":{}},{\"rename\":{}}]"), NULL,
                                 NULL, &err) == RY_ERR_INVALID_JSON);
    CHECK_ERROR(err, "ProcessRequestError", "change 1: unknown change `rename`");
    CHECK(ry_registry_apply_json(reg, S("[{\"upsert_http_route\":{\"port\":\"80\"}}]"), NULL, NULL,
                                 &err) == RY_ERR_INVALID_JSON);
    CHECK_ERROR(err, "ProcessRequestError", "change 0: upsert_http_route: invalid type");
    CHECK(ry_registry_apply_json(reg, S("[{\"a\":{},\"b\":{}}]"), NULL, NULL, &err) ==
          RY_ERR_INVALID_JSON);
    CHECK_ERROR(err, "ProcessRequestError", "exactly one key");
    CHECK(ry_registry_apply_json(reg, S("[{\"reserve_port\":{\"router_group_guid\":\"x\","
                                        "\"ttl\":-1}}]"),
                                 NULL, NULL, &err) == RY_ERR_INVALID_JSON);
    CHECK_ERROR(err, "ProcessRequestError", "`ttl` must be an integer");
    CHECK(ry_registry_apply_json(reg, S("[1"), NULL, NULL, &err) == RY_ERR_INVALID_JSON);
    CHECK_ERROR(err, "ProcessRequestError", "the batch is not JSON");
    CHECK(ry_registry_apply_json(reg, (const uint8_t *)"[\"\xe2\x82\"]", 5, NULL, NULL, &err) ==
          RY_ERR_INVALID_UTF8);
    CHECK_ERROR(err, "ProcessRequestError", "UTF-8");
    CHECK(ry_registry_apply_json(reg, NULL, 0, NULL, NULL, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "json");
    CHECK(ry_registry_apply_json(NULL, S("[]"), NULL, NULL, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "reg");
    CHECK(ry_registry_revision(reg, &after, NULL) == RY_OK);
    CHECK(after == before);
    ry_registry_free(reg);
    ry_clock_free(clock);
}

/* The snapshot's text after its revision: equal states give equal text. */
static const char *after_revision(const char *snapshot) {
    const char *comma = snapshot == NULL ? NULL : strchr(snapshot, ',');
    return comma == NULL ? "" : comma;
}

static void populate(const ry_registry *reg) {
    char guid[64];
    char body[512];
    char *out = NULL;
    uint16_t port = 0;
    ry_error *err = NULL;

    if (OK(ry_registry_create_router_group_json(reg, S(TCP_GROUP), &out, NULL, NULL, &err), err)) {
        CHECK(json_string(out, "guid", guid, sizeof guid));
        ry_string_free(out);
    }
    upsert(reg, ROUTE_A);
    upsert(reg, "[{\"route\":\"b.com/x\",\"ip\":\"1.2.3.5\",\"port\":81,\"log_guid\":\"lg\"}]");
    snprintf(body, sizeof body,
             "[{\"router_group_guid\":\"%s\",\"port\":5005,\"backend_ip\":\"10.0.0.8\","
             "\"backend_port\":6000,\"ttl\":30,\"isolation_segment\":\"is1\"}]",
             guid);
    CHECK(OK(ry_registry_upsert_tcp_route_mappings_json(reg, S(body), NULL, &err), err));
    CHECK(OK(ry_registry_reserve_port(reg, S(guid), NULL, &port, NULL, &err), err));
    if (OK(ry_registry_create_service_json(reg, S("{\"id\":\"" UUID_S "\",\"name\":\"s\",\"host\":\"h\"}"),
                                           &out, NULL, &err),
           err)) {
        ry_string_free(out);
    }
    if (OK(ry_registry_create_route_json(
               reg, S("{\"name\":\"r\",\"paths\":[\"/\"],\"service\":{\"id\":\"" UUID_S "\"}}"), &out,
               NULL, &err),
           err)) {
        ry_string_free(out);
    }
}

static void test_restore_a_snapshot(void) {
    ry_clock *clock_a = NULL;
    ry_clock *clock_b = NULL;
    ry_registry *a = registry_with(&clock_a, 1000, 1000);
    ry_registry *b = registry_with(&clock_b, 1000, 1000);
    ry_subscription *sub = NULL;
    char *snap_a = NULL;
    char *snap_b = NULL;
    char *event;
    uint64_t revision = 0;
    uint64_t before = 0;
    ry_error *err = NULL;

    populate(a);
    CHECK(OK(ry_registry_snapshot_json(a, &snap_a, NULL, &err), err));

    /* B holds something A lacks; the restore removes it, with its event. */
    upsert(b, "[{\"route\":\"zzz.com\",\"ip\":\"1.2.3.4\",\"port\":80}]");
    CHECK(OK(ry_registry_subscribe(b, RY_KIND_HTTP_ROUTE, NULL, &sub, NULL, &err), err));
    CHECK(OK(ry_registry_restore_json(b, S(snap_a), &revision, &err), err));
    CHECK(ry_registry_revision(b, &before, NULL) == RY_OK);
    CHECK(revision == before && revision > 1);
    CHECK(OK(ry_registry_snapshot_json(b, &snap_b, NULL, &err), err));
    CHECK(snap_a != NULL && snap_b != NULL &&
          strcmp(after_revision(snap_a), after_revision(snap_b)) == 0);
    event = next_event(sub);
    CHECK(contains(event, "\"event\":\"Delete\"") && contains(event, "zzz.com"));
    ry_string_free(event);

    /* Restoring the same state again writes nothing. */
    CHECK(OK(ry_registry_restore_json(b, S(snap_a), &revision, &err), err));
    CHECK(revision == before);

    /* Leases run from their own expiry: a.com (ttl 10) lapses 10 s after T0. */
    CHECK(OK(ry_clock_set(clock_b, T0 + 10 * SECOND, &err), err));
    ry_string_free(snap_b);
    CHECK(OK(ry_registry_http_routes_json(b, &snap_b, NULL, &err), err));
    CHECK(!contains(snap_b, "a.com") && contains(snap_b, "b.com/x"));
    ry_string_free(snap_b);

    ry_subscription_free(sub);
    ry_string_free(snap_a);
    ry_registry_free(a);
    ry_registry_free(b);
    ry_clock_free(clock_a);
    ry_clock_free(clock_b);
}

static void test_restore_refuses_bad_snapshots(void) {
    ry_clock *clock = NULL;
    ry_registry *reg = registry_with(&clock, 1000, 1000);
    ry_error *err = NULL;
    uint64_t revision = 0;
    const char *empty_lists = "\"router_groups\":[],\"tcp_route_mappings\":[],"
                              "\"port_reservations\":[],\"services\":[],\"routes\":[]";
    char text[1024];

    upsert(reg, ROUTE_A);

    CHECK(ry_registry_restore_json(reg, S("{}"), NULL, &err) == RY_ERR_INVALID_JSON);
    CHECK_ERROR(err, "ProcessRequestError", "snapshot: `revision` is required");
    CHECK(ry_registry_restore_json(reg, S("[]"), NULL, &err) == RY_ERR_INVALID_JSON);
    CHECK_ERROR(err, "ProcessRequestError", "must be a JSON object");
    CHECK(ry_registry_restore_json(reg, S("{\"revision\":1,\"http_routes\":[]}"), NULL, &err) ==
          RY_ERR_INVALID_JSON);
    CHECK_ERROR(err, "ProcessRequestError", "snapshot: `router_groups` is required");

    snprintf(text, sizeof text, "{\"revision\":1,\"http_routes\":[],%s,\"extra\":[]}",
             empty_lists);
    CHECK(ry_registry_restore_json(reg, S(text), NULL, &err) == RY_ERR_INVALID_JSON);
    CHECK_ERROR(err, "ProcessRequestError", "snapshot: unknown key `extra`");

    snprintf(text, sizeof text,
             "{\"revision\":1,\"http_routes\":[{\"route\":\"a.com\",\"ip\":\"1.2.3.4\","
             "\"port\":80}],%s}",
             empty_lists);
    CHECK(ry_registry_restore_json(reg, S(text), NULL, &err) == RY_ERR_INVALID_JSON);
    CHECK_ERROR(err, "ProcessRequestError", "http_routes[0]: `expires_at` is required");

    snprintf(text, sizeof text,
             "{\"revision\":1,\"http_routes\":[{\"route\":\"a.com\",\"ip\":\"1.2.3.4\","
             "\"port\":\"80\",\"expires_at\":5}],%s}",
             empty_lists);
    CHECK(ry_registry_restore_json(reg, S(text), NULL, &err) == RY_ERR_INVALID_JSON);
    CHECK_ERROR(err, "ProcessRequestError", "http_routes[0]: invalid type");

    /* Valid JSON, but a mapping on a router group the snapshot lacks. */
    snprintf(text, sizeof text,
             "{\"revision\":1,\"router_groups\":[],\"http_routes\":[],"
             "\"tcp_route_mappings\":[{\"router_group_guid\":\"g\",\"port\":5000,"
             "\"backend_ip\":\"10.0.0.1\",\"backend_port\":6000,\"expires_at\":5}],"
             "\"port_reservations\":[],\"services\":[],\"routes\":[]}");
    CHECK(ry_registry_restore_json(reg, S(text), NULL, &err) == RY_ERR_INVALID_TCP_MAPPING);
    CHECK_ERROR(err, "TcpRouteMappingInvalidError", "router_group_guid: g not found");

    /* A Kong object its decoder refuses. */
    snprintf(text, sizeof text,
             "{\"revision\":1,\"router_groups\":[],\"http_routes\":[],"
             "\"tcp_route_mappings\":[],\"port_reservations\":[],\"services\":[],"
             "\"routes\":[{\"paths\":[\"x\"]}]}");
    CHECK(ry_registry_restore_json(reg, S(text), NULL, &err) == RY_ERR_INVALID_JSON);
    CHECK_ERROR(err, "ProcessRequestError", "routes[0]: schema violation (paths.1:");

    CHECK(ry_registry_restore_json(reg, (const uint8_t *)"{\"\xff\"}", 4, NULL, &err) ==
          RY_ERR_INVALID_UTF8);
    CHECK_ERROR(err, "ProcessRequestError", "UTF-8");
    CHECK(ry_registry_restore_json(reg, NULL, 0, NULL, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "json");
    CHECK(ry_registry_restore_json(NULL, S("{}"), NULL, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "reg");

    /* Nothing changed. */
    CHECK(ry_registry_revision(reg, &revision, NULL) == RY_OK);
    CHECK(revision == 1);
    ry_registry_free(reg);
    ry_clock_free(clock);
}

static void test_apply_kong_changes(void) {
    ry_registry *reg = ry_registry_new(120);
    char *out = NULL;
    uint64_t revision = 0;
    ry_error *err = NULL;
    const char *create =
        "[{\"upsert_service\":{\"id\":\"" UUID_S "\",\"name\":\"s\",\"host\":\"h\"}},"
        "{\"put_route\":{\"key\":\"r\",\"route\":{\"paths\":[\"/\"],"
        "\"service\":{\"id\":\"" UUID_S "\"}}}},"
        "{\"put_service\":{\"key\":\"t\",\"service\":{\"host\":\"t.internal\"}}}";

    /* The last change fails: nothing of the batch stays. */
    {
        char batch[1024];
        snprintf(batch, sizeof batch, "%s,{\"delete_service\":{\"key\":\"nope\"}}]", create);
        CHECK(ry_registry_apply_json(reg, S(batch), &out, NULL, &err) == RY_ERR_NOT_FOUND);
        CHECK_ERROR(err, "ResourceNotFoundError", "Not found");
        CHECK(ry_registry_revision(reg, &revision, NULL) == RY_OK);
        CHECK(revision == 0);
        snprintf(batch, sizeof batch, "%s]", create);
        CHECK(OK(ry_registry_apply_json(reg, S(batch), &out, NULL, &err), err));
        CHECK(count_of(out, "\"kind\":\"service\"") == 2 && count_of(out, "\"kind\":\"route\"") == 1);
        CHECK(contains(out, "\"name\":\"r\"") && contains(out, "\"name\":\"t\""));
        ry_string_free(out);
        out = NULL;
    }
    CHECK(OK(ry_registry_route_json(reg, S("r"), &out, NULL, &err), err));
    CHECK(contains(out, UUID_S));
    ry_string_free(out);

    /* Kong's rules apply inside a batch too. */
    CHECK(ry_registry_apply_json(reg, S("[{\"delete_service\":{\"key\":\"s\"}}]"), NULL, NULL,
                                 &err) == RY_ERR_FOREIGN_KEY_VIOLATION);
    CHECK_ERROR(err, "ProcessRequestError", "");
    CHECK(ry_registry_apply_json(reg, S("[{\"upsert_route\":{\"paths\":[\"x\"]}}]"), NULL, NULL,
                                 &err) == RY_ERR_INVALID_JSON);
    CHECK_ERROR(err, "ProcessRequestError", "change 0: upsert_route: schema violation (paths.1:");
    CHECK(ry_registry_apply_json(reg, S("[{\"put_service\":{\"key\":\"t\"}}]"), NULL, NULL,
                                 &err) == RY_ERR_INVALID_JSON);
    CHECK_ERROR(err, "ProcessRequestError", "change 0: put_service: `service` is required");

    CHECK(OK(ry_registry_apply_json(reg,
                                    S("[{\"delete_route\":{\"key\":\"r\"}},"
                                      "{\"delete_service\":{\"key\":\"s\"}}]"),
                                    NULL, NULL, &err),
             err));
    CHECK(OK(ry_registry_services_json(reg, &out, NULL, &err), err));
    CHECK(count_of(out, "\"host\"") == 1 && contains(out, "t.internal"));
    ry_string_free(out);
    ry_registry_free(reg);
}

static void test_reaper_expires_in_the_background(void) {
    ry_clock *clock = NULL;
    ry_registry *reg = registry_with(&clock, 1000, 1000);
    ry_subscription *sub = NULL;
    ry_reaper *reaper = NULL;
    bool running = false;
    char *out = NULL;
    char *list = NULL;
    ry_error *err = NULL;
    int polls;
    ry_status status = RY_TIMEOUT;

    CHECK(OK(ry_registry_subscribe(reg, RY_KIND_HTTP_ROUTE, NULL, &sub, NULL, &err), err));
    upsert(reg, ROUTE_A);
    CHECK(OK(ry_registry_start_reaper(reg, 5, &reaper, &err), err));
    CHECK(OK(ry_reaper_is_running(reaper, &running, &err), err));
    CHECK(running);

    /* The lease lapses by the manual clock; the reaper removes it and says so. */
    CHECK(OK(ry_clock_advance(clock, 10 * SECOND, &err), err));
    for (polls = 0; polls < 100; polls++) {
        status = ry_subscription_poll(sub, 100, &out, NULL, NULL, NULL);
        if (status != RY_OK || contains(out, "\"action\":\"Expire\"")) {
            break;
        }
        ry_string_free(out);
        out = NULL;
    }
    CHECK(status == RY_OK && contains(out, "\"action\":\"Expire\"") && contains(out, "a.com"));
    ry_string_free(out);
    CHECK(OK(ry_registry_http_routes_json(reg, &list, NULL, &err), err));
    CHECK(list != NULL && strcmp(list, "[]") == 0);
    ry_string_free(list);

    CHECK(OK(ry_reaper_stop(reaper, &err), err));
    CHECK(OK(ry_reaper_is_running(reaper, &running, &err), err));
    CHECK(!running);
    CHECK(OK(ry_reaper_stop(reaper, &err), err)); /* stopping twice is fine */
    ry_reaper_free(reaper);

    /* A reaper keeps the registry's state alive: free the registry first. */
    reaper = NULL;
    CHECK(OK(ry_registry_start_reaper(reg, 1000, &reaper, &err), err));
    ry_registry_free(reg);
    ry_reaper_free(reaper);

    CHECK(ry_registry_start_reaper(NULL, 5, &reaper, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "reg");
    CHECK(ry_reaper_stop(NULL, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "reaper");
    CHECK(ry_reaper_is_running(NULL, &running, NULL) == RY_ERR_NULL_ARG);
    ry_reaper_free(NULL);
    ry_subscription_free(sub);
    ry_clock_free(clock);
}

static void test_reaper_arguments(void) {
    ry_registry *reg = ry_registry_new(120);
    ry_reaper *reaper = NULL;
    bool running = true;
    ry_error *err = NULL;

    CHECK(ry_registry_start_reaper(reg, 0, &reaper, &err) == RY_ERR_INVALID_ARGUMENT);
    CHECK(reaper == NULL);
    CHECK_ERROR(err, "ProcessRequestError", "interval");
    CHECK(ry_registry_start_reaper(reg, 5, NULL, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "out");
    CHECK(OK(ry_registry_start_reaper(reg, 5, &reaper, &err), err));
    CHECK(ry_reaper_is_running(reaper, NULL, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "running");
    CHECK(OK(ry_reaper_is_running(reaper, &running, &err), err));
    CHECK(running);
    /* Freeing a running reaper stops it. */
    ry_reaper_free(reaper);
    ry_registry_free(reg);
}

int main(void) {
    RUN(test_config_options_reach_the_registry);
    RUN(test_config_and_clock_errors);
    RUN(test_subscription_replays_then_follows);
    RUN(test_subscription_filters_and_timeouts);
    RUN(test_lagged_subscriber_learns_where_to_resume);
    RUN(test_compacted_history_names_the_oldest_revision);
    RUN(test_subscription_outlives_its_registry);
    RUN(test_snapshot);
    RUN(test_apply_batches);
    RUN(test_restore_a_snapshot);
    RUN(test_restore_refuses_bad_snapshots);
    RUN(test_apply_kong_changes);
    RUN(test_reaper_expires_in_the_background);
    RUN(test_reaper_arguments);
    return REPORT();
}
