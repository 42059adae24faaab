/*
 * Tests of services' backends: upstreams, connection reports and pool statistics with
 * their rates, draining, picks through ry_match_json, CDAP version splits, gobetween servers, and how batches,
 * snapshots and events carry upstreams and servers.
 */
#define _POSIX_C_SOURCE 200809L

#include "check.h"

#define SECOND 1000000000ULL
#define T0 (1000 * SECOND)
#define ORDERS "{\"name\":\"orders\",\"host\":\"orders.internal\"}"
#define BACKENDS                                                                 \
    "{\"backends\":[{\"address\":\"10.0.0.1\",\"port\":80,\"version\":\"v1\"},"  \
    "{\"address\":\"10.0.0.2\",\"port\":80,\"version\":\"v1\",\"weight\":3},"    \
    "{\"address\":\"10.0.0.3\",\"port\":80,\"version\":\"v2\",\"tier\":1}],"     \
    "\"config\":{\"strategy\":\"leastconn\",\"seed\":7}}"
#define WEB                                                                      \
    "{\"bind\":\"0.0.0.0:3000\",\"balance\":\"weight\",\"discovery\":{\"kind\":" \
    "\"static\",\"static_list\":[\"10.1.0.1:8000 weight=3 priority=1\","         \
    "\"10.1.0.2:8000\"]}}"

/* A registry on a manual clock at T0, holding the Kong service `orders`. */
static ry_registry *registry_at_t0(ry_clock **clock) {
    ry_config *config = ry_config_new();
    ry_registry *reg = NULL;
    ry_error *err = NULL;
    char *out = NULL;
    *clock = ry_clock_new(T0);
    CHECK(OK(ry_config_set_clock(config, *clock, &err), err));
    CHECK(OK(ry_registry_new_with_config(config, &reg, &err), err));
    ry_config_free(config);
    if (OK(ry_registry_create_service_json(reg, S(ORDERS), &out, NULL, &err), err)) {
        ry_string_free(out);
    }
    return reg;
}

static uint64_t revision_of(const ry_registry *reg) {
    uint64_t revision = 0;
    CHECK(ry_registry_revision(reg, &revision, NULL) == RY_OK);
    return revision;
}

static void put_orders(const ry_registry *reg) {
    ry_error *err = NULL;
    CHECK(OK(ry_registry_put_upstream_json(reg, S("orders"), S(BACKENDS), NULL, NULL, &err), err));
}

/* The pool statistics of a service, to free, or NULL. */
static char *pool_stats(const ry_registry *reg, const char *service) {
    char *out = NULL;
    ry_error *err = NULL;
    if (OK(ry_registry_pool_stats_json(reg, S(service), &out, NULL, &err), err)) {
        return out;
    }
    return NULL;
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

static void test_upstream_put_get_list_delete(void) {
    ry_clock *clock = NULL;
    ry_registry *reg = registry_at_t0(&clock);
    ry_error *err = NULL;
    char *out = NULL;
    char *again = NULL;
    size_t len = 0;
    uint64_t before;
    uint64_t revision = 0;

    CHECK(OK(ry_registry_upstreams_json(reg, &out, &len, &err), err));
    CHECK(out != NULL && strcmp(out, "[]") == 0 && len == 2);
    ry_string_free(out);
    CHECK(ry_registry_upstream_json(reg, S("orders"), &out, NULL, &err) == RY_ERR_NOT_FOUND);
    CHECK_ERROR(err, "ResourceNotFoundError", "service \"orders\" has no upstream");

    before = revision_of(reg);
    CHECK(OK(ry_registry_put_upstream_json(reg, S("orders"), S(BACKENDS), &out, &len, &err), err));
    CHECK(out != NULL && strlen(out) == len);
    CHECK(contains(out, "\"service_id\":\"") && contains(out, "\"address\":\"10.0.0.2\""));
    CHECK(contains(out, "\"weight\":3") && contains(out, "\"tier\":1"));
    CHECK(contains(out, "\"strategy\":\"leastconn\"") && contains(out, "\"seed\":7"));
    /* Defaults are written out. */
    CHECK(contains(out, "\"state\":\"live\"") && contains(out, "\"discovered\":true"));
    CHECK(revision_of(reg) == before + 1);

    /* The same upstream again writes nothing. */
    CHECK(OK(ry_registry_put_upstream_json(reg, S("orders"), S(BACKENDS), NULL, NULL, &err), err));
    CHECK(revision_of(reg) == before + 1);

    CHECK(OK(ry_registry_upstream_json(reg, S("orders"), &again, NULL, &err), err));
    CHECK(again != NULL && out != NULL && strcmp(out, again) == 0);
    ry_string_free(again);
    CHECK(OK(ry_registry_upstreams_json(reg, &again, NULL, &err), err));
    CHECK(again != NULL && again[0] == '[' && out != NULL && contains(again, out) &&
          count_of(again, "\"service_id\"") == 1);
    ry_string_free(again);
    ry_string_free(out);
    out = NULL;

    /* Errors change nothing. */
    before = revision_of(reg);
    CHECK(ry_registry_put_upstream_json(reg, S("nope"), S(BACKENDS), &out, NULL, &err) ==
          RY_ERR_NOT_FOUND);
    CHECK_ERROR(err, "ResourceNotFoundError", "Not found");
    CHECK(ry_registry_put_upstream_json(reg, S("orders"), S("{\"backends\":"), &out, NULL, &err) ==
          RY_ERR_INVALID_JSON);
    CHECK_ERROR(err, "ProcessRequestError", "the upstream is not JSON");
    CHECK(ry_registry_put_upstream_json(reg, S("orders"), S("[]"), &out, NULL, &err) ==
          RY_ERR_INVALID_JSON);
    CHECK_ERROR(err, "ProcessRequestError", "must be a JSON object");
    CHECK(ry_registry_put_upstream_json(reg, S("orders"), S("{\"config\":{}}"), &out, NULL, &err) ==
          RY_ERR_INVALID_JSON);
    CHECK_ERROR(err, "ProcessRequestError", "upstream: `backends` is required");
    CHECK(ry_registry_put_upstream_json(reg, S("orders"), S("{\"backends\":{}}"), &out, NULL,
                                        &err) == RY_ERR_INVALID_JSON);
    CHECK_ERROR(err, "ProcessRequestError", "`backends` must be an array");
    CHECK(ry_registry_put_upstream_json(reg, S("orders"), S("{\"backends\":[],\"colour\":1}"), &out,
                                        NULL, &err) == RY_ERR_INVALID_JSON);
    CHECK_ERROR(err, "ProcessRequestError", "unknown key `colour`");
    CHECK(ry_registry_put_upstream_json(reg, S("orders"),
                                        S("{\"backends\":[{\"address\":\"10.0.0.1\"}]}"), &out,
                                        NULL, &err) == RY_ERR_INVALID_JSON);
    CHECK_ERROR(err, "ProcessRequestError", "missing field `port`");
    CHECK(ry_registry_put_upstream_json(reg, S("orders"),
                                        S("{\"backends\":[],\"config\":{\"strategy\":\"fast\"}}"),
                                        &out, NULL, &err) == RY_ERR_INVALID_JSON);
    CHECK_ERROR(err, "ProcessRequestError", "upstream: config:");
    CHECK(ry_registry_put_upstream_json(reg, S("orders"),
                                        S("{\"backends\":[{\"address\":\"a\",\"port\":1},"
                                          "{\"address\":\"a\",\"port\":1}]}"),
                                        &out, NULL, &err) == RY_ERR_INVALID_ARGUMENT);
    CHECK_ERROR(err, "ProcessRequestError", "backend a:1 is listed more than once");
    CHECK(ry_registry_put_upstream_json(reg, S("orders"),
                                        S("{\"backends\":[{\"address\":\"a\",\"port\":0}]}"),
                                        &out, NULL, &err) == RY_ERR_INVALID_ARGUMENT);
    CHECK_ERROR(err, "ProcessRequestError", "requires a port greater than 0");
    CHECK(out == NULL);
    CHECK(revision_of(reg) == before);

    CHECK(OK(ry_registry_delete_upstream(reg, S("orders"), &revision, &err), err));
    CHECK(revision == before + 1 && revision_of(reg) == revision);
    CHECK(ry_registry_upstream_json(reg, S("orders"), &out, NULL, &err) == RY_ERR_NOT_FOUND);
    CHECK_ERROR(err, "ResourceNotFoundError", "has no upstream");
    CHECK(ry_registry_delete_upstream(reg, S("orders"), NULL, &err) == RY_ERR_NOT_FOUND);
    CHECK_ERROR(err, "ResourceNotFoundError", "Not found");
    CHECK(ry_registry_upstream_json(reg, S("nope"), &out, NULL, &err) == RY_ERR_NOT_FOUND);
    CHECK_ERROR(err, "ResourceNotFoundError", "no service \"nope\"");
    CHECK(ry_registry_delete_upstream(reg, S("nope"), NULL, &err) == RY_ERR_NOT_FOUND);
    CHECK_ERROR(err, "ResourceNotFoundError", "Not found");
    CHECK(out == NULL);

    ry_registry_free(reg);
    ry_clock_free(clock);
}

static void test_reports_reach_pool_statistics(void) {
    ry_clock *clock = NULL;
    ry_registry *reg = registry_at_t0(&clock);
    ry_error *err = NULL;
    char *stats;
    char *out = NULL;
    uint64_t now = 0;

    CHECK(ry_registry_pool_stats_json(reg, S("orders"), &out, NULL, &err) == RY_ERR_NOT_FOUND);
    CHECK_ERROR(err, "ResourceNotFoundError", "has no upstream");
    CHECK(ry_registry_report(reg, S("orders"), S("10.0.0.1"), 80, RY_REPORT_OPENED, &err) ==
          RY_ERR_NOT_FOUND);
    CHECK_ERROR(err, "ResourceNotFoundError", "has no upstream");
    put_orders(reg);

    stats = pool_stats(reg, "orders");
    CHECK(contains(stats, "\"active_connections\":0,\"rx_total\":0,\"tx_total\":0"));
    CHECK(count_of(stats, "\"host\":") == 3);
    CHECK(contains(stats, "{\"host\":\"10.0.0.2\",\"port\":\"80\",\"priority\":0,\"weight\":3,"));
    ry_string_free(stats);

    /* Two opened, one closed, one refused, one established over a counted slot. */
    CHECK(OK(ry_registry_report(reg, S("orders"), S("10.0.0.2"), 80, RY_REPORT_OPENED, &err), err));
    CHECK(OK(ry_registry_report(reg, S("orders"), S("10.0.0.2"), 80, RY_REPORT_OPENED, &err), err));
    CHECK(OK(ry_registry_report(reg, S("orders"), S("10.0.0.2"), 80, RY_REPORT_CLOSED, &err), err));
    CHECK(OK(ry_registry_report(reg, S("orders"), S("10.0.0.2"), 80, RY_REPORT_REFUSED, &err), err));
    CHECK(OK(ry_registry_report(reg, S("orders"), S("10.0.0.2"), 80, RY_REPORT_ESTABLISHED, &err),
             err));
    CHECK(OK(ry_registry_report_bytes(reg, S("orders"), S("10.0.0.2"), 80, 4000, 1000, &err), err));
    CHECK(OK(ry_registry_report_bytes(reg, S("orders"), S("10.0.0.1"), 80, 0, 500, &err), err));
    /* A close never takes the active count below zero. */
    CHECK(OK(ry_registry_report(reg, S("orders"), S("10.0.0.3"), 80, RY_REPORT_CLOSED, &err), err));

    stats = pool_stats(reg, "orders");
    CHECK(contains(stats, "{\"active_connections\":1,\"rx_total\":4000,\"tx_total\":1500,"
                          "\"rx_second\":0,\"tx_second\":0,"));
    CHECK(contains(stats, "\"host\":\"10.0.0.2\",\"port\":\"80\",\"priority\":0,\"weight\":3,"
                          "\"stats\":{\"live\":true,\"discovered\":true,\"total_connections\":3,"
                          "\"active_connections\":1,\"refused_connections\":1,\"rx\":4000,"
                          "\"tx\":1000,\"rx_second\":0,\"tx_second\":0}"));
    CHECK(contains(stats, "\"host\":\"10.0.0.3\",\"port\":\"80\",\"priority\":1,\"weight\":1,"
                          "\"stats\":{\"live\":true,\"discovered\":true,\"total_connections\":0,"
                          "\"active_connections\":0,"));
    ry_string_free(stats);

    /* Rates: the bytes between two samples over the seconds between them. */
    CHECK(OK(ry_registry_now(reg, &now, &err), err));
    CHECK(OK(ry_registry_sample_stats(reg, now, &err), err));
    CHECK(OK(ry_registry_report_bytes(reg, S("orders"), S("10.0.0.2"), 80, 8000, 2000, &err), err));
    CHECK(OK(ry_clock_advance(clock, 2 * SECOND, &err), err));
    CHECK(OK(ry_registry_now(reg, &now, &err), err));
    CHECK(OK(ry_registry_sample_stats(reg, now, &err), err));
    /* A sample at the same instant changes nothing. */
    CHECK(OK(ry_registry_sample_stats(reg, now, &err), err));
    stats = pool_stats(reg, "orders");
    CHECK(contains(stats, "\"rx_total\":12000,\"tx_total\":3500,\"rx_second\":4000,"
                          "\"tx_second\":1000,"));
    CHECK(contains(stats, "\"rx\":12000,\"tx\":3000,\"rx_second\":4000,\"tx_second\":1000}"));
    ry_string_free(stats);
    /* A window without traffic brings the rates back to 0. */
    CHECK(OK(ry_clock_advance(clock, 2 * SECOND, &err), err));
    CHECK(OK(ry_registry_sample_stats(reg, now + 2 * SECOND, &err), err));
    stats = pool_stats(reg, "orders");
    CHECK(contains(stats, "\"rx_second\":0,\"tx_second\":0,\"backends\""));
    ry_string_free(stats);

    /* Counters of backends that stay survive a new upstream. */
    CHECK(OK(ry_registry_put_upstream_json(
                 reg, S("orders"),
                 S("{\"backends\":[{\"address\":\"10.0.0.2\",\"port\":80,\"weight\":5}]}"), NULL,
                 NULL, &err),
             err));
    stats = pool_stats(reg, "orders");
    CHECK(count_of(stats, "\"host\":") == 1 && contains(stats, "\"total_connections\":3,"));
    ry_string_free(stats);

    /* Unknown backends, services and kinds; nothing moves. */
    CHECK(ry_registry_report(reg, S("orders"), S("10.0.0.1"), 80, RY_REPORT_OPENED, &err) ==
          RY_ERR_NOT_FOUND);
    CHECK_ERROR(err, "ResourceNotFoundError", "service \"orders\" has no backend 10.0.0.1:80");
    CHECK(ry_registry_report(reg, S("orders"), S("10.0.0.2"), 81, RY_REPORT_OPENED, &err) ==
          RY_ERR_NOT_FOUND);
    CHECK_ERROR(err, "ResourceNotFoundError", "no backend 10.0.0.2:81");
    CHECK(ry_registry_report_bytes(reg, S("orders"), S("10.0.0.9"), 80, 1, 1, &err) ==
          RY_ERR_NOT_FOUND);
    CHECK_ERROR(err, "ResourceNotFoundError", "no backend 10.0.0.9:80");
    CHECK(ry_registry_report(reg, S("nope"), S("10.0.0.2"), 80, RY_REPORT_OPENED, &err) ==
          RY_ERR_NOT_FOUND);
    CHECK_ERROR(err, "ResourceNotFoundError", "no service \"nope\"");
    CHECK(ry_registry_report(reg, S("orders"), S("10.0.0.2"), 80, 4, &err) ==
          RY_ERR_INVALID_ARGUMENT);
    CHECK_ERROR(err, "ProcessRequestError", "kind 4 is none of RY_REPORT_OPENED");
    CHECK(ry_registry_pool_stats_json(reg, S("nope"), &out, NULL, &err) == RY_ERR_NOT_FOUND);
    CHECK_ERROR(err, "ResourceNotFoundError", "no service");
    CHECK(out == NULL);
    stats = pool_stats(reg, "orders");
    CHECK(contains(stats, "\"total_connections\":3,\"active_connections\":1,"
                          "\"refused_connections\":1,\"rx\":12000,\"tx\":3000,"));
    ry_string_free(stats);

    ry_registry_free(reg);
    ry_clock_free(clock);
}

/* Counts, over `n` picks through ry_match_json, how often each of `addresses` answered. */
static void pick_counts(const ry_registry *reg, int n, const char *const *addresses,
                        int *counts, int count) {
    const char *request = "{\"host\":\"shop.example.com\",\"path\":\"/orders/7\",\"pick\":true}";
    char needle[96];
    char *out = NULL;
    ry_error *err = NULL;
    int i;
    int j;
    for (j = 0; j < count; j++) {
        counts[j] = 0;
    }
    for (i = 0; i < n; i++) {
        if (!OK(ry_match_json(reg, S(request), &out, NULL, &err), err)) {
            return;
        }
        for (j = 0; j < count; j++) {
            snprintf(needle, sizeof needle, "\"backend\":{\"address\":\"%s\",\"port\":80}",
                     addresses[j]);
            counts[j] += contains(out, needle) ? 1 : 0;
        }
        ry_string_free(out);
    }
}

static void test_matches_pick_from_upstreams(void) {
    ry_clock *clock = NULL;
    ry_registry *reg = registry_at_t0(&clock);
    ry_error *err = NULL;
    char *out = NULL;
    char id[64];
    char route[256];
    const char *const addresses[] = {"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.9"};
    int counts[4];

    if (OK(ry_registry_service_json(reg, S("orders"), &out, NULL, &err), err)) {
        CHECK(json_string(out, "id", id, sizeof id));
        ry_string_free(out);
    }
    snprintf(route, sizeof route,
             "{\"name\":\"orders\",\"paths\":[\"/orders\"],\"service\":{\"id\":\"%s\"}}", id);
    if (OK(ry_registry_create_route_json(reg, S(route), &out, NULL, &err), err)) {
        ry_string_free(out);
    }

    /* Smooth weighted round robin: weights 1 and 3 take exactly 1 and 3 of every 4;
     * the standby tier takes nothing while the first has a live backend. */
    CHECK(OK(ry_registry_put_upstream_json(
                 reg, S("orders"),
                 S("{\"backends\":[{\"address\":\"10.0.0.1\",\"port\":80,\"weight\":1},"
                   "{\"address\":\"10.0.0.2\",\"port\":80,\"weight\":3},"
                   "{\"address\":\"10.0.0.9\",\"port\":80,\"tier\":1}],"
                   "\"config\":{\"strategy\":\"roundrobin\"}}"),
                 NULL, NULL, &err),
             err));
    pick_counts(reg, 400, addresses, counts, 4);
    CHECK(counts[0] == 100 && counts[1] == 300 && counts[2] == 0 && counts[3] == 0);

    /* With the first tier down, the standby serves. */
    CHECK(OK(ry_registry_put_upstream_json(
                 reg, S("orders"),
                 S("{\"backends\":[{\"address\":\"10.0.0.1\",\"port\":80,\"state\":\"down\"},"
                   "{\"address\":\"10.0.0.2\",\"port\":80,\"state\":\"draining\"},"
                   "{\"address\":\"10.0.0.9\",\"port\":80,\"tier\":1}]}"),
                 NULL, NULL, &err),
             err));
    pick_counts(reg, 10, addresses, counts, 4);
    CHECK(counts[0] == 0 && counts[1] == 0 && counts[3] == 10);

    /* A CDAP split weighs versions, not instances: v2's one backend takes 20 of 100. */
    put_orders(reg);
    CHECK(OK(ry_registry_set_split_json(reg, S("orders"), S("{\"v1\":80,\"v2\":20}"),
                                        RY_FALLBACK_RANDOM, false, NULL, &err),
             err));
    pick_counts(reg, 100, addresses, counts, 4);
    CHECK(counts[2] == 20 && counts[0] + counts[1] == 80 && counts[3] == 0);
    /* All of it to v2. */
    CHECK(OK(ry_registry_set_split_json(reg, S("orders"), S("{\"v2\":100}"), RY_FALLBACK_RANDOM,
                                        false, NULL, &err),
             err));
    pick_counts(reg, 10, addresses, counts, 4);
    CHECK(counts[2] == 10);

    ry_registry_free(reg);
    ry_clock_free(clock);
}

static void test_drained_backends_leave_once_idle(void) {
    ry_clock *clock = NULL;
    ry_registry *reg = registry_at_t0(&clock);
    ry_error *err = NULL;
    char *out = NULL;
    size_t removed = 99;
    uint64_t before;

    CHECK(OK(ry_registry_remove_drained(reg, &removed, &err), err));
    CHECK(removed == 0);
    CHECK(OK(ry_registry_put_upstream_json(
                 reg, S("orders"),
                 S("{\"backends\":[{\"address\":\"10.0.0.1\",\"port\":80},"
                   "{\"address\":\"10.0.0.2\",\"port\":80,\"state\":\"draining\"},"
                   "{\"address\":\"10.0.0.3\",\"port\":80,\"discovered\":false}]}"),
                 NULL, NULL, &err),
             err));
    /* 10.0.0.2 still holds a connection: only 10.0.0.3 goes. */
    CHECK(OK(ry_registry_report(reg, S("orders"), S("10.0.0.2"), 80, RY_REPORT_OPENED, &err), err));
    before = revision_of(reg);
    CHECK(OK(ry_registry_remove_drained(reg, &removed, &err), err));
    CHECK(removed == 1 && revision_of(reg) == before + 1);
    CHECK(OK(ry_registry_upstream_json(reg, S("orders"), &out, NULL, &err), err));
    CHECK(contains(out, "10.0.0.1") && contains(out, "10.0.0.2") && !contains(out, "10.0.0.3"));
    ry_string_free(out);

    CHECK(OK(ry_registry_report(reg, S("orders"), S("10.0.0.2"), 80, RY_REPORT_CLOSED, &err), err));
    CHECK(OK(ry_registry_remove_drained(reg, NULL, &err), err));
    CHECK(OK(ry_registry_upstream_json(reg, S("orders"), &out, NULL, &err), err));
    CHECK(contains(out, "10.0.0.1") && !contains(out, "10.0.0.2"));
    ry_string_free(out);
    CHECK(OK(ry_registry_remove_drained(reg, &removed, &err), err));
    CHECK(removed == 0);

    ry_registry_free(reg);
    ry_clock_free(clock);
}

/* Sets a split and expects it refused with `status` and a message containing `part`. */
static void refused_split(const ry_registry *reg, const char *body, ry_status status,
                          const char *name, const char *part) {
    ry_error *err = NULL;
    uint64_t revision = 12345;
    CHECK(ry_registry_set_split_json(reg, S("orders"), S(body), RY_FALLBACK_RANDOM, false,
                                     &revision, &err) == status);
    CHECK(revision == 12345);
    CHECK_ERROR(err, name, part);
}

static void test_splits_speak_cdap(void) {
    ry_clock *clock = NULL;
    ry_registry *reg = registry_at_t0(&clock);
    ry_error *err = NULL;
    char *out = NULL;
    size_t len = 0;
    ry_fallback fallback = 99;
    bool sticky = true;
    uint64_t revision = 0;
    uint64_t before;

    /* A service without a split reads as CDAP's `{}`. */
    CHECK(OK(ry_registry_split_json(reg, S("orders"), &out, &len, &fallback, &sticky, &err), err));
    CHECK(out != NULL && strcmp(out, "{}") == 0 && len == 2);
    CHECK(fallback == RY_FALLBACK_RANDOM && !sticky);
    ry_string_free(out);
    put_orders(reg);

    before = revision_of(reg);
    /* Each of CDAP's refusals, with its text. */
    refused_split(reg, "{}", RY_ERR_INVALID_ARGUMENT, "ProcessRequestError",
                  "Route config contains invalid format or empty content.");
    refused_split(reg, "", RY_ERR_INVALID_ARGUMENT, "ProcessRequestError",
                  "Route config contains invalid format or empty content.");
    refused_split(reg, "null", RY_ERR_INVALID_ARGUMENT, "ProcessRequestError",
                  "Route config contains invalid format or empty content.");
    refused_split(reg, "{\"v1\":50,\"v3\":25,\"v4\":25}", RY_ERR_INVALID_ARGUMENT,
                  "ProcessRequestError",
                  "The following versions of the application/service could not be found : "
                  "[v3, v4]");
    refused_split(reg, "{\"v1\":150,\"v2\":-50}", RY_ERR_INVALID_ARGUMENT, "ProcessRequestError",
                  "Route Percentage for version v1 must be between 0 and 100, got 150.");
    refused_split(reg, "{\"v1\":50,\"v2\":40}", RY_ERR_INVALID_ARGUMENT, "ProcessRequestError",
                  "Route Percentage needs to add up to 100.");
    refused_split(reg, "{\"v1\":50,\"v1\":50}", RY_ERR_INVALID_JSON, "ProcessRequestError",
                  "duplicate key: v1");
    refused_split(reg, "{\"v1\":true,\"v2\":0}", RY_ERR_INVALID_JSON, "ProcessRequestError",
                  "Expected an int but was true at path $.v1");
    refused_split(reg, "{\"v1\":50.5,\"v2\":49.5}", RY_ERR_INVALID_JSON, "ProcessRequestError",
                  "Expected an int but was 50.5 at path $.v1");
    refused_split(reg, "[80,20]", RY_ERR_INVALID_JSON, "ProcessRequestError", "");
    refused_split(reg, "{\"v1\":", RY_ERR_INVALID_JSON, "ProcessRequestError", "");
    CHECK(ry_registry_set_split_json(reg, S("orders"), S("{\"v1\":80,\"v2\":20}"), 4, false, NULL,
                                     &err) == RY_ERR_INVALID_ARGUMENT);
    CHECK_ERROR(err, "ProcessRequestError", "fallback 4 is none of RY_FALLBACK_RANDOM");
    CHECK(ry_registry_set_split_json(reg, S("nope"), S("{\"v1\":100}"), RY_FALLBACK_RANDOM, false,
                                     NULL, &err) == RY_ERR_NOT_FOUND);
    CHECK_ERROR(err, "ResourceNotFoundError", "Not found");
    CHECK(revision_of(reg) == before);
    CHECK(OK(ry_registry_split_json(reg, S("orders"), &out, NULL, NULL, NULL, &err), err));
    CHECK(out != NULL && strcmp(out, "{}") == 0);
    ry_string_free(out);

    /* Gson's integer reading: numeric strings and integral fractions count. */
    CHECK(OK(ry_registry_set_split_json(reg, S("orders"), S("{\"v2\":\"20\",\"v1\":80.0}"),
                                        RY_FALLBACK_SMALLEST, true, &revision, &err),
             err));
    CHECK(revision == before + 1 && revision_of(reg) == revision);
    CHECK(OK(ry_registry_split_json(reg, S("orders"), &out, NULL, &fallback, &sticky, &err), err));
    CHECK(out != NULL && strcmp(out, "{\"v1\":80,\"v2\":20}") == 0);
    CHECK(fallback == RY_FALLBACK_SMALLEST && sticky);
    ry_string_free(out);
    /* The upstream carries it. */
    CHECK(OK(ry_registry_upstream_json(reg, S("orders"), &out, NULL, &err), err));
    CHECK(contains(out, "\"split\":{\"split\":{\"v1\":80,\"v2\":20},\"fallback\":\"smallest\","
                        "\"sticky\":true}"));
    ry_string_free(out);

    /* Every fallback reads back as set. */
    CHECK(OK(ry_registry_set_split_json(reg, S("orders"), S("{\"v1\":100}"), RY_FALLBACK_DROP,
                                        false, NULL, &err),
             err));
    CHECK(OK(ry_registry_split_json(reg, S("orders"), &out, NULL, &fallback, &sticky, &err), err));
    CHECK(strcmp(out, "{\"v1\":100}") == 0 && fallback == RY_FALLBACK_DROP && !sticky);
    ry_string_free(out);
    CHECK(OK(ry_registry_set_split_json(reg, S("orders"), S("{\"v2\":100}"), RY_FALLBACK_LARGEST,
                                        false, NULL, &err),
             err));
    CHECK(OK(ry_registry_split_json(reg, S("orders"), &out, NULL, &fallback, NULL, &err), err));
    CHECK(strcmp(out, "{\"v2\":100}") == 0 && fallback == RY_FALLBACK_LARGEST);
    ry_string_free(out);

    /* DELETE, then DELETE again: CDAP's 404. */
    CHECK(OK(ry_registry_delete_split(reg, S("orders"), &revision, &err), err));
    CHECK(revision == revision_of(reg));
    CHECK(OK(ry_registry_split_json(reg, S("orders"), &out, NULL, &fallback, &sticky, &err), err));
    CHECK(strcmp(out, "{}") == 0 && fallback == RY_FALLBACK_RANDOM && !sticky);
    ry_string_free(out);
    CHECK(ry_registry_delete_split(reg, S("orders"), NULL, &err) == RY_ERR_NOT_FOUND);
    CHECK_ERROR(err, "ResourceNotFoundError", "Not found");
    /* The backends stay. */
    CHECK(OK(ry_registry_upstream_json(reg, S("orders"), &out, NULL, &err), err));
    CHECK(count_of(out, "\"address\"") == 3 && !contains(out, "\"split\""));
    ry_string_free(out);
    out = NULL;
    CHECK(ry_registry_split_json(reg, S("nope"), &out, NULL, NULL, NULL, &err) ==
          RY_ERR_NOT_FOUND);
    CHECK_ERROR(err, "ResourceNotFoundError", "no service \"nope\"");
    CHECK(ry_registry_delete_split(reg, S("nope"), NULL, &err) == RY_ERR_NOT_FOUND);
    CHECK_ERROR(err, "ResourceNotFoundError", "Not found");
    CHECK(out == NULL);

    ry_registry_free(reg);
    ry_clock_free(clock);
}

static void test_servers_speak_gobetween(void) {
    ry_clock *clock = NULL;
    ry_registry *reg = registry_at_t0(&clock);
    ry_error *err = NULL;
    char *out = NULL;
    char *again = NULL;
    size_t len = 0;
    uint64_t before;
    uint64_t revision = 0;

    CHECK(OK(ry_registry_servers_json(reg, &out, &len, &err), err));
    CHECK(out != NULL && strcmp(out, "{}") == 0 && len == 2);
    ry_string_free(out);

    CHECK(OK(ry_registry_create_server_json(reg, S("web"), S(WEB), &out, &len, &err), err));
    CHECK(out != NULL && strlen(out) == len);
    /* gobetween's defaults are filled in; the name is not part of the server. */
    CHECK(contains(out, "\"bind\":\"0.0.0.0:3000\"") && contains(out, "\"protocol\":\"tcp\""));
    CHECK(contains(out, "\"balance\":\"weight\"") && contains(out, "\"client_idle_timeout\":\"0\""));
    CHECK(!contains(out, "\"name\""));
    CHECK(OK(ry_registry_server_json(reg, S("web"), &again, NULL, &err), err));
    CHECK(again != NULL && out != NULL && strcmp(out, again) == 0);
    ry_string_free(again);
    CHECK(OK(ry_registry_servers_json(reg, &again, NULL, &err), err));
    CHECK(contains(again, "{\"web\":{\"bind\":\"0.0.0.0:3000\""));
    ry_string_free(again);
    ry_string_free(out);
    out = NULL;

    /* It landed as a service, a route and an upstream named after it. */
    CHECK(OK(ry_registry_service_json(reg, S("web"), &out, NULL, &err), err));
    CHECK(contains(out, "\"gobetween\"") && contains(out, "\"port\":3000"));
    ry_string_free(out);
    CHECK(OK(ry_registry_route_json(reg, S("web"), &out, NULL, &err), err));
    CHECK(contains(out, "\"protocols\":[\"tcp\"]"));
    ry_string_free(out);
    CHECK(OK(ry_registry_upstream_json(reg, S("web"), &out, NULL, &err), err));
    CHECK(contains(out, "\"address\":\"10.1.0.1\",\"port\":8000,\"weight\":3,\"tier\":1"));
    CHECK(contains(out, "\"strategy\":\"weight\""));
    ry_string_free(out);
    out = NULL;

    /* Refusals, with gobetween's texts; nothing changes. */
    before = revision_of(reg);
    CHECK(ry_registry_create_server_json(reg, S("web"), S(WEB), &out, NULL, &err) ==
          RY_ERR_CONFLICT);
    CHECK_ERROR(err, "DBConflictError", "Server with this name already exists: web");
    CHECK(ry_registry_create_server_json(
              reg, S("api"), S("{\"discovery\":{\"kind\":\"static\",\"static_list\":[]}}"), &out,
              NULL, &err) == RY_ERR_INVALID_ARGUMENT);
    CHECK_ERROR(err, "ProcessRequestError", "No bind specified for server api");
    CHECK(ry_registry_create_server_json(reg, S("api"),
                                         S("{\"bind\":\":1\",\"balance\":\"random\"}"), &out,
                                         NULL, &err) == RY_ERR_INVALID_ARGUMENT);
    CHECK_ERROR(err, "ProcessRequestError", "Not supported balance type random");
    CHECK(ry_registry_create_server_json(reg, S("api"),
                                         S("{\"bind\":\":1\",\"max_connections\":\"x\"}"), &out,
                                         NULL, &err) == RY_ERR_INVALID_JSON);
    CHECK_ERROR(err, "ProcessRequestError",
                "json: cannot unmarshal string into Go struct field Server.max_connections");
    CHECK(ry_registry_create_server_json(reg, S("api"), S("{\"bind\":"), &out, NULL, &err) ==
          RY_ERR_INVALID_JSON);
    CHECK_ERROR(err, "ProcessRequestError", "");
    CHECK(ry_registry_create_server_json(reg, S("orders"), S(WEB), &out, NULL, &err) ==
          RY_ERR_CONFLICT);
    CHECK_ERROR(err, "DBConflictError", "a service or route named 'orders' exists already");
    CHECK(ry_registry_create_server_json(reg, S("bad name"), S(WEB), &out, NULL, &err) ==
          RY_ERR_INVALID_ARGUMENT);
    CHECK_ERROR(err, "ProcessRequestError", "server name 'bad name'");
    CHECK(out == NULL && revision_of(reg) == before);

    /* Statistics through the server's name. */
    CHECK(OK(ry_registry_report(reg, S("web"), S("10.1.0.2"), 8000, RY_REPORT_OPENED, &err), err));
    CHECK(OK(ry_registry_report_bytes(reg, S("web"), S("10.1.0.2"), 8000, 64, 512, &err), err));
    CHECK(OK(ry_registry_server_stats_json(reg, S("web"), &out, &len, &err), err));
    CHECK(out != NULL && strlen(out) == len);
    CHECK(contains(out, "{\"active_connections\":1,\"rx_total\":64,\"tx_total\":512,"));
    CHECK(contains(out, "\"host\":\"10.1.0.1\",\"port\":\"8000\",\"priority\":1,\"weight\":3,"));
    ry_string_free(out);
    out = NULL;
    CHECK(ry_registry_server_stats_json(reg, S("orders"), &out, NULL, &err) == RY_ERR_NOT_FOUND);
    CHECK_ERROR(err, "ResourceNotFoundError", "Server not found");

    /* Deleting takes everything it landed as. */
    CHECK(OK(ry_registry_delete_server(reg, S("web"), &revision, &err), err));
    CHECK(revision == revision_of(reg) && revision > before);
    CHECK(ry_registry_server_json(reg, S("web"), &out, NULL, &err) == RY_ERR_NOT_FOUND);
    CHECK_ERROR(err, "ResourceNotFoundError", "Server not found");
    CHECK(ry_registry_service_json(reg, S("web"), &out, NULL, &err) == RY_ERR_NOT_FOUND);
    ry_error_free(err);
    CHECK(ry_registry_upstream_json(reg, S("web"), &out, NULL, &err) == RY_ERR_NOT_FOUND);
    ry_error_free(err);
    CHECK(ry_registry_delete_server(reg, S("web"), NULL, &err) == RY_ERR_NOT_FOUND);
    CHECK_ERROR(err, "ResourceNotFoundError", "Server not found");
    CHECK(OK(ry_registry_servers_json(reg, &out, NULL, &err), err));
    CHECK(out != NULL && strcmp(out, "{}") == 0);
    ry_string_free(out);

    ry_registry_free(reg);
    ry_clock_free(clock);
}

static void test_batches_carry_upstreams_and_servers(void) {
    ry_clock *clock = NULL;
    ry_registry *reg = registry_at_t0(&clock);
    ry_error *err = NULL;
    char *out = NULL;
    uint64_t before = revision_of(reg);
    const char *put = "{\"put_upstream\":{\"service\":\"orders\",\"backends\":[{\"address\":"
                      "\"10.0.0.1\",\"port\":80}],\"config\":{\"strategy\":\"random\"}}}";
    char batch[1024];

    /* A batch whose last change fails keeps nothing. */
    snprintf(batch, sizeof batch,
             "[%s,{\"create_server\":{\"name\":\"web\",\"server\":%s}},"
             "{\"delete_server\":{\"name\":\"missing\"}}]",
             put, WEB);
    CHECK(ry_registry_apply_json(reg, S(batch), &out, NULL, &err) == RY_ERR_NOT_FOUND);
    CHECK_ERROR(err, "ResourceNotFoundError", "Server not found");
    CHECK(out == NULL && revision_of(reg) == before);
    CHECK(OK(ry_registry_upstreams_json(reg, &out, NULL, &err), err));
    CHECK(strcmp(out, "[]") == 0);
    ry_string_free(out);
    CHECK(OK(ry_registry_servers_json(reg, &out, NULL, &err), err));
    CHECK(strcmp(out, "{}") == 0);
    ry_string_free(out);
    out = NULL;

    /* The same without the failing change applies whole. */
    snprintf(batch, sizeof batch, "[%s,{\"create_server\":{\"name\":\"web\",\"server\":%s}}]", put,
             WEB);
    CHECK(OK(ry_registry_apply_json(reg, S(batch), &out, NULL, &err), err));
    CHECK(count_of(out, "\"kind\":\"upstream\"") == 2 && count_of(out, "\"kind\":\"server\"") == 1);
    CHECK(contains(out, "\"kind\":\"server\",\"object\":{\"name\":\"web\",\"bind\":"));
    ry_string_free(out);
    CHECK(OK(ry_registry_upstream_json(reg, S("orders"), &out, NULL, &err), err));
    CHECK(contains(out, "\"strategy\":\"random\""));
    ry_string_free(out);

    CHECK(OK(ry_registry_apply_json(reg, S("[{\"delete_upstream\":{\"service\":\"orders\"}},"
                                           "{\"delete_server\":{\"name\":\"web\"}}]"),
                                    &out, NULL, &err),
             err));
    CHECK(contains(out, "\"action\":\"Delete\",\"kind\":\"upstream\""));
    CHECK(contains(out, "\"action\":\"Delete\",\"kind\":\"server\""));
    ry_string_free(out);
    CHECK(OK(ry_registry_upstreams_json(reg, &out, NULL, &err), err));
    CHECK(strcmp(out, "[]") == 0);
    ry_string_free(out);

    /* Arguments the batch cannot read name the change. */
    before = revision_of(reg);
    CHECK(ry_registry_apply_json(reg, S("[{\"put_upstream\":{\"backends\":[]}}]"), NULL, NULL,
                                 &err) == RY_ERR_INVALID_JSON);
    CHECK_ERROR(err, "ProcessRequestError", "change 0: put_upstream: `service` is required");
    CHECK(ry_registry_apply_json(
              reg, S("[{\"put_upstream\":{\"service\":\"orders\",\"backends\":[],\"x\":1}}]"),
              NULL, NULL, &err) == RY_ERR_INVALID_JSON);
    CHECK_ERROR(err, "ProcessRequestError", "change 0: put_upstream: unknown key `x`");
    CHECK(ry_registry_apply_json(reg, S("[{\"delete_upstream\":{}}]"), NULL, NULL, &err) ==
          RY_ERR_INVALID_JSON);
    CHECK_ERROR(err, "ProcessRequestError", "change 0: delete_upstream: `service` is required");
    CHECK(ry_registry_apply_json(reg,
                                 S("[{\"create_server\":{\"name\":\"x\",\"server\":{\"bind\":"
                                   "\":1\",\"balance\":\"random\"}}}]"),
                                 NULL, NULL, &err) == RY_ERR_INVALID_JSON);
    CHECK_ERROR(err, "ProcessRequestError",
                "change 0: create_server: Not supported balance type random");
    CHECK(ry_registry_apply_json(reg, S("[{\"create_server\":{\"name\":\"x\"}}]"), NULL, NULL,
                                 &err) == RY_ERR_INVALID_JSON);
    CHECK_ERROR(err, "ProcessRequestError", "change 0: create_server: `server` is required");
    CHECK(ry_registry_apply_json(reg, S("[{\"delete_server\":{\"name\":7}}]"), NULL, NULL, &err) ==
          RY_ERR_INVALID_JSON);
    CHECK_ERROR(err, "ProcessRequestError", "change 0: delete_server: `name` must be a string");
    /* Core refusals keep their status. */
    CHECK(ry_registry_apply_json(reg, S("[{\"delete_upstream\":{\"service\":\"orders\"}}]"), NULL,
                                 NULL, &err) == RY_ERR_NOT_FOUND);
    CHECK_ERROR(err, "ResourceNotFoundError", "Not found");
    snprintf(batch, sizeof batch,
             "[{\"create_server\":{\"name\":\"web\",\"server\":%s}},"
             "{\"create_server\":{\"name\":\"web\",\"server\":%s}}]",
             WEB, WEB);
    CHECK(ry_registry_apply_json(reg, S(batch), NULL, NULL, &err) == RY_ERR_CONFLICT);
    CHECK_ERROR(err, "DBConflictError", "Server with this name already exists: web");
    CHECK(revision_of(reg) == before);

    ry_registry_free(reg);
    ry_clock_free(clock);
}

/* The snapshot's text after its revision: equal states give equal text. */
static const char *after_revision(const char *snapshot) {
    const char *comma = snapshot == NULL ? NULL : strchr(snapshot, ',');
    return comma == NULL ? "" : comma;
}

static void test_snapshots_carry_upstreams_and_servers(void) {
    ry_clock *clock_a = NULL;
    ry_clock *clock_b = NULL;
    ry_registry *a = registry_at_t0(&clock_a);
    ry_registry *b = registry_at_t0(&clock_b);
    ry_error *err = NULL;
    char *snap_a = NULL;
    char *snap_b = NULL;
    char *out_a = NULL;
    char *out_b = NULL;
    uint64_t revision = 0;
    uint64_t before;
    char text[1024];

    put_orders(a);
    CHECK(OK(ry_registry_set_split_json(a, S("orders"), S("{\"v1\":70,\"v2\":30}"),
                                        RY_FALLBACK_DROP, true, NULL, &err),
             err));
    CHECK(OK(ry_registry_create_server_json(a, S("web"), S(WEB), NULL, NULL, &err), err));
    CHECK(OK(ry_registry_snapshot_json(a, &snap_a, NULL, &err), err));
    CHECK(contains(snap_a, ",\"upstreams\":[{\"service_id\":"));
    CHECK(count_of(snap_a, "\"service_id\"") == 2);
    CHECK(contains(snap_a, ",\"servers\":[{\"name\":\"web\",\"bind\":\"0.0.0.0:3000\""));

    /* B's own `orders` differs (another id); the restore makes B equal to A. */
    CHECK(OK(ry_registry_restore_json(b, S(snap_a), &revision, &err), err));
    CHECK(revision == revision_of(b));
    CHECK(OK(ry_registry_snapshot_json(b, &snap_b, NULL, &err), err));
    CHECK(snap_a != NULL && snap_b != NULL &&
          strcmp(after_revision(snap_a), after_revision(snap_b)) == 0);
    CHECK(OK(ry_registry_split_json(b, S("orders"), &out_b, NULL, NULL, NULL, &err), err));
    CHECK(out_b != NULL && strcmp(out_b, "{\"v1\":70,\"v2\":30}") == 0);
    ry_string_free(out_b);
    CHECK(OK(ry_registry_server_json(a, S("web"), &out_a, NULL, &err), err));
    CHECK(OK(ry_registry_server_json(b, S("web"), &out_b, NULL, &err), err));
    CHECK(out_a != NULL && out_b != NULL && strcmp(out_a, out_b) == 0);
    ry_string_free(out_a);
    ry_string_free(out_b);
    /* The restored pool serves reports. */
    CHECK(OK(ry_registry_report(b, S("web"), S("10.1.0.1"), 8000, RY_REPORT_OPENED, &err), err));

    /* Restoring the same state again writes nothing. */
    before = revision_of(b);
    CHECK(OK(ry_registry_restore_json(b, S(snap_a), &revision, &err), err));
    CHECK(revision == before);

    /* Refused snapshots change nothing. */
    snprintf(text, sizeof text,
             "{\"revision\":1,\"router_groups\":[],\"http_routes\":[],\"tcp_route_mappings\":[],"
             "\"port_reservations\":[],\"services\":[],\"routes\":[],"
             "\"upstreams\":[{\"service_id\":\"missing\",\"backends\":[]}],\"servers\":[]}");
    CHECK(ry_registry_restore_json(b, S(text), NULL, &err) == RY_ERR_FOREIGN_KEY_VIOLATION);
    CHECK_ERROR(err, "ProcessRequestError", "missing");
    snprintf(text, sizeof text,
             "{\"revision\":1,\"router_groups\":[],\"http_routes\":[],\"tcp_route_mappings\":[],"
             "\"port_reservations\":[],\"services\":[],\"routes\":[],"
             "\"upstreams\":[{\"service_id\":\"x\",\"backends\":7}],\"servers\":[]}");
    CHECK(ry_registry_restore_json(b, S(text), NULL, &err) == RY_ERR_INVALID_JSON);
    CHECK_ERROR(err, "ProcessRequestError", "upstreams[0]: invalid type");
    snprintf(text, sizeof text,
             "{\"revision\":1,\"router_groups\":[],\"http_routes\":[],\"tcp_route_mappings\":[],"
             "\"port_reservations\":[],\"services\":[],\"routes\":[],\"upstreams\":[],"
             "\"servers\":[{\"bind\":\":1\"}]}");
    CHECK(ry_registry_restore_json(b, S(text), NULL, &err) == RY_ERR_INVALID_JSON);
    CHECK_ERROR(err, "ProcessRequestError", "servers[0]: `name` is required");
    snprintf(text, sizeof text,
             "{\"revision\":1,\"router_groups\":[],\"http_routes\":[],\"tcp_route_mappings\":[],"
             "\"port_reservations\":[],\"services\":[],\"routes\":[],\"upstreams\":[],"
             "\"servers\":[{\"name\":\"s\",\"balance\":\"random\"}]}");
    CHECK(ry_registry_restore_json(b, S(text), NULL, &err) == RY_ERR_INVALID_JSON);
    CHECK_ERROR(err, "ProcessRequestError", "servers[0]: Not supported balance type random");
    snprintf(text, sizeof text,
             "{\"revision\":1,\"router_groups\":[],\"http_routes\":[],\"tcp_route_mappings\":[],"
             "\"port_reservations\":[],\"services\":[],\"routes\":[],\"upstreams\":{},"
             "\"servers\":[]}");
    CHECK(ry_registry_restore_json(b, S(text), NULL, &err) == RY_ERR_INVALID_JSON);
    CHECK_ERROR(err, "ProcessRequestError", "snapshot: `upstreams` must be an array");
    CHECK(revision_of(b) == before);

    /* A snapshot without the two lists holds none: restoring it removes them. */
    CHECK(OK(ry_registry_restore_json(
                 b, S("{\"revision\":1,\"router_groups\":[],\"http_routes\":[],"
                      "\"tcp_route_mappings\":[],\"port_reservations\":[],\"services\":[],"
                      "\"routes\":[]}"),
                 NULL, &err),
             err));
    CHECK(OK(ry_registry_servers_json(b, &out_b, NULL, &err), err));
    CHECK(out_b != NULL && strcmp(out_b, "{}") == 0);
    ry_string_free(out_b);
    CHECK(OK(ry_registry_upstreams_json(b, &out_b, NULL, &err), err));
    CHECK(out_b != NULL && strcmp(out_b, "[]") == 0);
    ry_string_free(out_b);

    ry_string_free(snap_a);
    ry_string_free(snap_b);
    ry_registry_free(a);
    ry_registry_free(b);
    ry_clock_free(clock_a);
    ry_clock_free(clock_b);
}

static void test_events_of_upstreams_and_servers(void) {
    ry_clock *clock = NULL;
    ry_registry *reg = registry_at_t0(&clock);
    ry_subscription *all = NULL;
    ry_subscription *servers = NULL;
    ry_error *err = NULL;
    char *event;
    char *out = NULL;
    size_t pending = 0;

    CHECK(RY_KIND_ALL == ((1u << 8) - 1));
    CHECK((RY_KIND_UPSTREAM & RY_KIND_SERVER) == 0 && (RY_KIND_ALL & RY_KIND_UPSTREAM) != 0);
    CHECK(OK(ry_registry_subscribe(reg, RY_KIND_UPSTREAM | RY_KIND_SERVER, NULL, &all, NULL, &err),
             err));
    CHECK(OK(ry_registry_subscribe(reg, RY_KIND_SERVER, NULL, &servers, NULL, &err), err));

    put_orders(reg);
    event = next_event(all);
    CHECK(contains(event, "\"event\":\"Upsert\",\"action\":\"Upsert\",\"kind\":\"upstream\","
                          "\"object\":{\"service_id\":"));
    CHECK(contains(event, "\"address\":\"10.0.0.3\""));
    ry_string_free(event);

    CHECK(OK(ry_registry_set_split_json(reg, S("orders"), S("{\"v1\":100}"), RY_FALLBACK_RANDOM,
                                        false, NULL, &err),
             err));
    event = next_event(all);
    CHECK(contains(event, "\"kind\":\"upstream\"") && contains(event, "\"split\":{\"v1\":100}"));
    ry_string_free(event);

    /* A server commits its service, route, upstream and itself; this filter sees two. */
    CHECK(OK(ry_registry_create_server_json(reg, S("web"), S(WEB), &out, NULL, &err), err));
    ry_string_free(out);
    event = next_event(all);
    CHECK(contains(event, "\"kind\":\"upstream\"") && contains(event, "10.1.0.1"));
    ry_string_free(event);
    event = next_event(all);
    CHECK(contains(event, "\"action\":\"Upsert\",\"kind\":\"server\",\"object\":{\"name\":\"web\""));
    ry_string_free(event);

    CHECK(OK(ry_registry_delete_server(reg, S("web"), NULL, &err), err));
    event = next_event(all);
    CHECK(contains(event, "\"action\":\"Delete\",\"kind\":\"upstream\"") &&
          contains(event, "10.1.0.1"));
    ry_string_free(event);
    event = next_event(all);
    CHECK(contains(event, "\"action\":\"Delete\",\"kind\":\"server\"") &&
          contains(event, "\"name\":\"web\""));
    ry_string_free(event);
    CHECK(OK(ry_subscription_pending(all, &pending, &err), err));
    CHECK(pending == 0);

    /* The server-only subscription saw exactly the two server events. */
    event = next_event(servers);
    CHECK(contains(event, "\"action\":\"Upsert\",\"kind\":\"server\""));
    ry_string_free(event);
    event = next_event(servers);
    CHECK(contains(event, "\"action\":\"Delete\",\"kind\":\"server\""));
    ry_string_free(event);
    CHECK(OK(ry_subscription_pending(servers, &pending, &err), err));
    CHECK(pending == 0);

    /* Bits beyond the known kinds are refused. */
    ry_subscription_free(servers);
    servers = NULL;
    CHECK(ry_registry_subscribe(reg, RY_KIND_ALL + 1, NULL, &servers, NULL, &err) ==
          RY_ERR_INVALID_ARGUMENT);
    CHECK_ERROR(err, "ProcessRequestError", "outside RY_KIND_ALL");
    CHECK(servers == NULL);

    ry_subscription_free(all);
    ry_registry_free(reg);
    ry_clock_free(clock);
}

static void test_null_utf8_and_out_errors(void) {
    ry_clock *clock = NULL;
    ry_registry *reg = registry_at_t0(&clock);
    ry_error *err = NULL;
    char *out = NULL;
    const uint8_t bad[] = {'o', 0xff};
    uint64_t before;

    put_orders(reg);
    before = revision_of(reg);

    /* NULL registry. */
    CHECK(ry_registry_put_upstream_json(NULL, S("orders"), S(BACKENDS), &out, NULL, &err) ==
          RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "`reg`");
    CHECK(ry_registry_upstream_json(NULL, S("orders"), &out, NULL, NULL) == RY_ERR_NULL_ARG);
    CHECK(ry_registry_upstreams_json(NULL, &out, NULL, NULL) == RY_ERR_NULL_ARG);
    CHECK(ry_registry_delete_upstream(NULL, S("orders"), NULL, NULL) == RY_ERR_NULL_ARG);
    CHECK(ry_registry_set_split_json(NULL, S("orders"), S("{}"), 0, false, NULL, NULL) ==
          RY_ERR_NULL_ARG);
    CHECK(ry_registry_split_json(NULL, S("orders"), &out, NULL, NULL, NULL, NULL) ==
          RY_ERR_NULL_ARG);
    CHECK(ry_registry_delete_split(NULL, S("orders"), NULL, NULL) == RY_ERR_NULL_ARG);
    CHECK(ry_registry_pool_stats_json(NULL, S("orders"), &out, NULL, NULL) == RY_ERR_NULL_ARG);
    CHECK(ry_registry_sample_stats(NULL, T0, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "`reg`");
    CHECK(ry_registry_remove_drained(NULL, NULL, NULL) == RY_ERR_NULL_ARG);
    CHECK(ry_registry_report(NULL, S("orders"), S("10.0.0.1"), 80, RY_REPORT_OPENED, NULL) ==
          RY_ERR_NULL_ARG);
    CHECK(ry_registry_report_bytes(NULL, S("orders"), S("10.0.0.1"), 80, 1, 1, NULL) ==
          RY_ERR_NULL_ARG);
    CHECK(ry_registry_create_server_json(NULL, S("web"), S(WEB), &out, NULL, NULL) ==
          RY_ERR_NULL_ARG);
    CHECK(ry_registry_server_json(NULL, S("web"), &out, NULL, NULL) == RY_ERR_NULL_ARG);
    CHECK(ry_registry_servers_json(NULL, &out, NULL, NULL) == RY_ERR_NULL_ARG);
    CHECK(ry_registry_delete_server(NULL, S("web"), NULL, NULL) == RY_ERR_NULL_ARG);
    CHECK(ry_registry_server_stats_json(NULL, S("web"), &out, NULL, NULL) == RY_ERR_NULL_ARG);

    /* NULL strings and out-parameters. */
    CHECK(ry_registry_put_upstream_json(reg, NULL, 0, S(BACKENDS), NULL, NULL, &err) ==
          RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "`service`");
    CHECK(ry_registry_put_upstream_json(reg, S("orders"), NULL, 0, NULL, NULL, &err) ==
          RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "`json`");
    CHECK(ry_registry_upstream_json(reg, S("orders"), NULL, NULL, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "`out`");
    CHECK(ry_registry_upstreams_json(reg, NULL, NULL, NULL) == RY_ERR_NULL_ARG);
    CHECK(ry_registry_delete_upstream(reg, NULL, 0, NULL, NULL) == RY_ERR_NULL_ARG);
    CHECK(ry_registry_set_split_json(reg, S("orders"), NULL, 0, 0, false, NULL, &err) ==
          RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "`json`");
    CHECK(ry_registry_split_json(reg, S("orders"), NULL, NULL, NULL, NULL, NULL) ==
          RY_ERR_NULL_ARG);
    CHECK(ry_registry_delete_split(reg, NULL, 0, NULL, NULL) == RY_ERR_NULL_ARG);
    CHECK(ry_registry_pool_stats_json(reg, S("orders"), NULL, NULL, NULL) == RY_ERR_NULL_ARG);
    CHECK(ry_registry_report(reg, S("orders"), NULL, 0, 80, RY_REPORT_OPENED, &err) ==
          RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "`address`");
    CHECK(ry_registry_report_bytes(reg, NULL, 0, S("10.0.0.1"), 80, 1, 1, NULL) ==
          RY_ERR_NULL_ARG);
    CHECK(ry_registry_create_server_json(reg, NULL, 0, S(WEB), NULL, NULL, &err) ==
          RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "`name`");
    CHECK(ry_registry_create_server_json(reg, S("web"), NULL, 0, NULL, NULL, NULL) ==
          RY_ERR_NULL_ARG);
    CHECK(ry_registry_server_json(reg, S("web"), NULL, NULL, NULL) == RY_ERR_NULL_ARG);
    CHECK(ry_registry_servers_json(reg, NULL, NULL, NULL) == RY_ERR_NULL_ARG);
    CHECK(ry_registry_delete_server(reg, NULL, 0, NULL, NULL) == RY_ERR_NULL_ARG);
    CHECK(ry_registry_server_stats_json(reg, S("web"), NULL, NULL, NULL) == RY_ERR_NULL_ARG);

    /* Invalid UTF-8. */
    CHECK(ry_registry_put_upstream_json(reg, bad, sizeof bad, S(BACKENDS), NULL, NULL, &err) ==
          RY_ERR_INVALID_UTF8);
    CHECK_ERROR(err, "ProcessRequestError", "argument `service` is not valid UTF-8");
    CHECK(ry_registry_put_upstream_json(reg, S("orders"), bad, sizeof bad, NULL, NULL, &err) ==
          RY_ERR_INVALID_UTF8);
    CHECK_ERROR(err, "ProcessRequestError", "argument `json` is not valid UTF-8");
    CHECK(ry_registry_upstream_json(reg, bad, sizeof bad, &out, NULL, NULL) == RY_ERR_INVALID_UTF8);
    CHECK(ry_registry_delete_upstream(reg, bad, sizeof bad, NULL, NULL) == RY_ERR_INVALID_UTF8);
    CHECK(ry_registry_set_split_json(reg, S("orders"), bad, sizeof bad, 0, false, NULL, NULL) ==
          RY_ERR_INVALID_UTF8);
    CHECK(ry_registry_split_json(reg, bad, sizeof bad, &out, NULL, NULL, NULL, NULL) ==
          RY_ERR_INVALID_UTF8);
    CHECK(ry_registry_delete_split(reg, bad, sizeof bad, NULL, NULL) == RY_ERR_INVALID_UTF8);
    CHECK(ry_registry_pool_stats_json(reg, bad, sizeof bad, &out, NULL, NULL) ==
          RY_ERR_INVALID_UTF8);
    CHECK(ry_registry_report(reg, S("orders"), bad, sizeof bad, 80, RY_REPORT_OPENED, &err) ==
          RY_ERR_INVALID_UTF8);
    CHECK_ERROR(err, "ProcessRequestError", "argument `address` is not valid UTF-8");
    CHECK(ry_registry_report_bytes(reg, bad, sizeof bad, S("10.0.0.1"), 80, 1, 1, NULL) ==
          RY_ERR_INVALID_UTF8);
    CHECK(ry_registry_create_server_json(reg, S("web"), bad, sizeof bad, NULL, NULL, NULL) ==
          RY_ERR_INVALID_UTF8);
    CHECK(ry_registry_create_server_json(reg, bad, sizeof bad, S(WEB), NULL, NULL, NULL) ==
          RY_ERR_INVALID_UTF8);
    CHECK(ry_registry_server_json(reg, bad, sizeof bad, &out, NULL, NULL) == RY_ERR_INVALID_UTF8);
    CHECK(ry_registry_delete_server(reg, bad, sizeof bad, NULL, NULL) == RY_ERR_INVALID_UTF8);
    CHECK(ry_registry_server_stats_json(reg, bad, sizeof bad, &out, NULL, NULL) ==
          RY_ERR_INVALID_UTF8);

    /* Nothing was handed out, nothing changed, and the counters did not move. */
    CHECK(out == NULL);
    CHECK(revision_of(reg) == before);
    out = pool_stats(reg, "orders");
    CHECK(contains(out, "\"active_connections\":0,\"rx_total\":0,\"tx_total\":0,"));
    ry_string_free(out);

    ry_registry_free(reg);
    ry_clock_free(clock);
}

int main(void) {
    RUN(test_upstream_put_get_list_delete);
    RUN(test_reports_reach_pool_statistics);
    RUN(test_drained_backends_leave_once_idle);
    RUN(test_matches_pick_from_upstreams);
    RUN(test_splits_speak_cdap);
    RUN(test_servers_speak_gobetween);
    RUN(test_batches_carry_upstreams_and_servers);
    RUN(test_snapshots_carry_upstreams_and_servers);
    RUN(test_events_of_upstreams_and_servers);
    RUN(test_null_utf8_and_out_errors);
    return REPORT();
}
