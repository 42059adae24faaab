/*
 * A tour of the routeyard C API: register Cloud Foundry HTTP routes and a Kong
 * service with a route, list what the registry holds, then print every change a
 * subscription saw, including an expiry driven by a manual clock.
 *
 * Build and run with `make run` in this directory (see the Makefile for the link
 * line), after `cargo build -p routeyard-ffi` at the root of the repository.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "routeyard.h"

#define SECOND 1000000000ULL

/* A NUL-terminated text as the (pointer, length) pair the API takes. */
#define TEXT(s) (const uint8_t *)(s), strlen(s)

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
