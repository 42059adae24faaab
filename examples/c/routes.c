/*
 * A tour of the routeyard C API: register Cloud Foundry HTTP routes and a Kong
 * service with a route, match requests against them (ry_match, the allocation-free
 * hot path, and ry_reader_match, its form for a thread's loop of matches), list what
 * the registry holds, then print every change a subscription saw, including an expiry
 * driven by a manual clock.
 *
 * Build and run with `make run` in this directory (see the Makefile for the link
 * line), after `cargo build -p routeyard-ffi` at the root of the repository.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "routeyard.h"

#define SECOND 1000000000ULL

/* A NUL-terminated text as the (pointer, length) pair the API takes. */
#define TEXT(s) (const uint8_t *)(s), strlen(s)

/* Matches GET host + path and prints the answer; pick asks for a backend. */
static ry_status show_match(const ry_registry *reg, const char *host, const char *path,
                            bool pick, ry_error **err) {
    ry_request req = {0};
    ry_match_result result;
    char upstream_path[256];
    char upstream_host[256];
    char cf_route[256];
    char backend_name[256];
    ry_status status;

    req.protocol = RY_PROTOCOL_HTTP;
    req.method = (const uint8_t *)"GET";
    req.method_len = 3;
    req.host = (const uint8_t *)host;
    req.host_len = strlen(host);
    req.path = (const uint8_t *)path;
    req.path_len = strlen(path);

    /* The caller owns the answer: point each wanted buffer at storage of its own. */
    memset(&result, 0, sizeof result);
    result.upstream_path.data = upstream_path;
    result.upstream_path.capacity = sizeof upstream_path;
    result.upstream_host.data = upstream_host;
    result.upstream_host.capacity = sizeof upstream_host;
    result.cf_route.data = cf_route;
    result.cf_route.capacity = sizeof cf_route;
    result.backend_name.data = backend_name;
    result.backend_name.capacity = sizeof backend_name;

    status = ry_match(reg, &req, pick, &result, err);
    if (status != RY_OK) {
        return status;
    }
    printf("GET %s%s -> ", host, path);
    switch (result.kind) {
    case RY_MATCH_KIND_ROUTE:
        printf("Kong route %s (service %s)", result.route_id, result.service_id);
        break;
    case RY_MATCH_KIND_CF_ROUTE:
        printf("CF route %s", cf_route);
        break;
    case RY_MATCH_KIND_TCP_ROUTE:
        printf("TCP port %u", (unsigned)result.tcp_port);
        break;
    default:
        printf("no route\n");
        return RY_OK;
    }
    printf(", upstream %s%s", upstream_host, upstream_path);
    if (result.backend_picked && result.backend.family == RY_ADDR_FAMILY_IPV4) {
        printf(", backend %u.%u.%u.%u:%u", result.backend.addr[0], result.backend.addr[1],
               result.backend.addr[2], result.backend.addr[3], (unsigned)result.backend.port);
    } else if (result.backend_picked) {
        printf(", backend %s:%u", result.backend.family == RY_ADDR_FAMILY_NONE ? backend_name
                                                                               : "(IPv6)",
               (unsigned)result.backend.port);
    }
    printf(" (revision %" PRIu64 ")\n", result.revision);
    return RY_OK;
}

/* A thread's loop of matches through a reader: the answer's strings are lent (valid
 * until the reader's next call), nothing is copied out. Prints each request's
 * backend. */
static ry_status pick_in_a_loop(const ry_registry *reg, const char *host,
                                const char *const *paths, size_t count, ry_error **err) {
    ry_reader *reader = NULL;
    ry_status status = ry_reader_new(reg, &reader, err);
    size_t i;
    for (i = 0; status == RY_OK && i < count; i++) {
        ry_request req = {0};
        ry_match_view view;
        req.protocol = RY_PROTOCOL_HTTP;
        req.host = (const uint8_t *)host;
        req.host_len = strlen(host);
        req.path = (const uint8_t *)paths[i];
        req.path_len = strlen(paths[i]);
        status = ry_reader_match(reader, &req, true, &view, err);
        if (status == RY_OK && view.backend_picked &&
            view.backend.family == RY_ADDR_FAMILY_IPV4) {
            printf("reader: %s%s -> %.*s via %u.%u.%u.%u:%u\n", host, paths[i],
                   (int)view.upstream_path.len, view.upstream_path.data, view.backend.addr[0],
                   view.backend.addr[1], view.backend.addr[2], view.backend.addr[3],
                   (unsigned)view.backend.port);
        }
    }
    ry_reader_free(reader);
    return status;
}

/* Prints a failed call's status and details, frees the error, and returns 1. */
static int report(const char *what, ry_status status, ry_error *err) {
    fprintf(stderr, "%s failed (status %d): %s: %s\n  body: %s\n", what, (int)status,
            ry_error_name(err), ry_error_message(err), ry_error_body(err));
    ry_error_free(err);
    return 1;
}

int main(void) {
    ry_config *config = ry_config_new();
    ry_clock *clock = ry_clock_new(1700000000ULL * SECOND);
    ry_registry *reg = NULL;
    ry_subscription *events = NULL;
    ry_error *err = NULL;
    ry_status status;
    char *json = NULL;
    uint64_t revision = 0;
    uint64_t now = 0;
    size_t expired = 0;
    int failed = 0;

    /* A registry on a manual clock, so that the example decides when leases lapse. */
    if (config == NULL || clock == NULL ||
        (status = ry_config_set_max_ttl(config, 120, &err)) != RY_OK ||
        (status = ry_config_set_clock(config, clock, &err)) != RY_OK ||
        (status = ry_registry_new_with_config(config, &reg, &err)) != RY_OK) {
        failed = report("creating the registry", status, err);
        goto done;
    }

    /* Every kind of change, from now on. */
    status = ry_registry_subscribe(reg, RY_KIND_ALL, NULL, &events, NULL, &err);
    if (status != RY_OK) {
        failed = report("subscribing", status, err);
        goto done;
    }

    /* Two backends of one CF route (TTL 30 s) and one of another (the max TTL). */
    status = ry_registry_upsert_http_routes_json(
        reg,
        TEXT("[{\"route\":\"shop.example.com/cart\",\"ip\":\"10.0.0.7\",\"port\":8080,\"ttl\":30},"
             " {\"route\":\"shop.example.com/cart\",\"ip\":\"10.0.0.8\",\"port\":8080,\"ttl\":30},"
             " {\"route\":\"api.example.com\",\"ip\":\"10.0.1.1\",\"port\":9000}]"),
        &revision, &err);
    if (status != RY_OK) {
        failed = report("registering CF routes", status, err);
        goto done;
    }
    printf("registered CF routes, revision %" PRIu64 "\n", revision);

    /* CF's validation, with CF's error name and message. */
    status = ry_registry_upsert_http_routes_json(
        reg, TEXT("[{\"route\":\"bad.example.com\",\"ip\":\"10.0.0.9\",\"port\":0}]"), NULL,
        &err);
    printf("a route without a port: %s: %s\n", ry_error_name(err), ry_error_message(err));
    ry_error_free(err);
    err = NULL;

    /* A Kong service and a route leading to it (by the service's id), in Kong's shapes. */
    status = ry_registry_create_service_json(
        reg, TEXT("{\"name\":\"billing\",\"url\":\"http://10.0.2.1:7000/v1\"}"), &json, NULL, &err);
    if (status != RY_OK) {
        failed = report("creating a Kong service", status, err);
        goto done;
    }
    {
        const char *id = strstr(json, "\"id\":\"");
        char body[256];
        snprintf(body, sizeof body,
                 "{\"paths\":[\"/invoices\"],\"hosts\":[\"billing.example.com\"],"
                 "\"service\":{\"id\":\"%.36s\"}}",
                 id != NULL ? id + 6 : "");
        ry_string_free(json);
        json = NULL;
        status = ry_registry_put_route_json(reg, TEXT("invoices"), TEXT(body), &json, NULL, NULL,
                                            &err);
        if (status != RY_OK) {
            failed = report("creating a Kong route", status, err);
            goto done;
        }
    }
    printf("Kong route: %s\n", json);
    ry_string_free(json);
    json = NULL;

    /* The hot path: a Kong route (strip_path is on by default), then the CF route
     * twice with a backend picked round robin, then a miss. */
    if ((status = show_match(reg, "billing.example.com", "/invoices/2024", false, &err)) !=
            RY_OK ||
        (status = show_match(reg, "Shop.Example.com:443", "/cart/42", true, &err)) != RY_OK ||
        (status = show_match(reg, "shop.example.com", "/cart/42", true, &err)) != RY_OK ||
        (status = show_match(reg, "unknown.example.com", "/", true, &err)) != RY_OK) {
        failed = report("matching a request", status, err);
        goto done;
    }
    {
        static const char *const paths[] = {"/cart/1", "/cart/2", "/cart/3"};
        status = pick_in_a_loop(reg, "shop.example.com", paths, 3, &err);
        if (status != RY_OK) {
            failed = report("matching through a reader", status, err);
            goto done;
        }
    }

    /* What the registry holds, in CF's shape. */
    status = ry_registry_http_routes_json(reg, &json, NULL, &err);
    if (status != RY_OK) {
        failed = report("listing CF routes", status, err);
        goto done;
    }
    printf("CF routes: %s\n", json);
    ry_string_free(json);
    json = NULL;

    /* Thirty seconds later the cart backends' leases lapse; expire them. */
    ry_clock_advance(clock, 30 * SECOND, NULL);
    ry_registry_now(reg, &now, NULL);
    ry_registry_expire(reg, now, &expired, NULL);
    printf("expired %zu leases\n", expired);

    /* Every change, in revision order. */
    for (;;) {
        status = ry_subscription_poll(events, 100, &json, NULL, NULL, &err);
        if (status == RY_TIMEOUT) {
            break;
        }
        if (status != RY_OK) {
            failed = report("polling events", status, err);
            goto done;
        }
        printf("event: %s\n", json);
        ry_string_free(json);
        json = NULL;
    }

done:
    ry_subscription_free(events);
    ry_registry_free(reg);
    ry_clock_free(clock);
    ry_config_free(config);
    return failed;
}
