/*
 * One registry shared by several C threads: readers list, read and snapshot while a
 * writer registers and removes CF routes and Kong services, and a subscriber polls
 * every change. Readers must always see well-formed JSON and a revision that never
 * goes back; the subscriber must see every change exactly once, in revision order.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>

#include "check.h"

#define READERS 3
#define READS 40
#define WRITES 40
/* Per write: a route and a service created, a two-change batch, and both removed. */
#define EVENTS (6 * WRITES)

struct shared {
    const ry_registry *reg;
    uint64_t start_revision;
};

struct reader {
    const struct shared *shared;
    int failures;
};

struct subscriber {
    ry_subscription *sub;
    uint64_t start_revision;
    int received;
    int http_events;
    int service_events;
    int failures;
};

/* A JSON text the library handed out looks like `open ... close`. */
static bool wrapped(const char *text, char open, char close) {
    size_t len = text == NULL ? 0 : strlen(text);
    return len >= 2 && text[0] == open && text[len - 1] == close;
}

static void *reader_main(void *arg) {
    struct reader *r = (struct reader *)arg;
    const ry_registry *reg = r->shared->reg;
    uint64_t last = 0;
    int i;
    for (i = 0; i < READS; i++) {
        char *out = NULL;
        uint64_t revision = 0;
        if (ry_registry_revision(reg, &revision, NULL) != RY_OK || revision < last ||
            revision < r->shared->start_revision) {
            r->failures++;
        }
        last = revision;
        if (ry_registry_http_routes_json(reg, &out, NULL, NULL) != RY_OK ||
            !wrapped(out, '[', ']')) {
            r->failures++;
        }
        ry_string_free(out);
        out = NULL;
        if (ry_registry_tcp_route_mappings_json(reg, &out, NULL, NULL) != RY_OK ||
            !wrapped(out, '[', ']')) {
            r->failures++;
        }
        ry_string_free(out);
        out = NULL;
        if (ry_registry_router_group_by_name_json(reg, S("tcp-1"), &out, NULL, NULL) != RY_OK ||
            !contains(out, "\"name\":\"tcp-1\"")) {
            r->failures++;
        }
        ry_string_free(out);
        out = NULL;
        if (ry_registry_services_json(reg, &out, NULL, NULL) != RY_OK ||
            !wrapped(out, '{', '}')) {
            r->failures++;
        }
        ry_string_free(out);
        out = NULL;
        if (ry_registry_routes_json(reg, NULL, 0, &out, NULL, NULL) != RY_OK ||
            !contains(out, "\"data\":[")) {
            r->failures++;
        }
        ry_string_free(out);
        out = NULL;
        if (ry_registry_port_reservations_json(reg, &out, NULL, NULL) != RY_OK ||
            !wrapped(out, '[', ']')) {
            r->failures++;
        }
        ry_string_free(out);
        out = NULL;
        if (ry_registry_snapshot_json(reg, &out, NULL, NULL) != RY_OK ||
            !contains(out, "\"revision\":") || !wrapped(out, '{', '}')) {
            r->failures++;
        }
        ry_string_free(out);
    }
    return NULL;
}

static void *writer_main(void *arg) {
    const ry_registry *reg = (const ry_registry *)arg;
    int *failures = (int *)calloc(1, sizeof(int));
    int i;
    if (failures == NULL) {
        return NULL;
    }
    for (i = 0; i < WRITES; i++) {
        char json[256];
        char *out = NULL;
        snprintf(json, sizeof json, "[{\"route\":\"r%d.example.com\",\"ip\":\"10.0.0.%d\",\"port\":80}]",
                 i, i % 250);
        if (ry_registry_upsert_http_routes_json(reg, S(json), NULL, NULL) != RY_OK) {
            (*failures)++;
        }
        snprintf(json, sizeof json, "{\"name\":\"s%d\",\"host\":\"h%d.internal\"}", i, i);
        if (ry_registry_create_service_json(reg, S(json), &out, NULL, NULL) != RY_OK) {
            (*failures)++;
        }
        ry_string_free(out);
        out = NULL;
        /* An atomic batch: its two events get consecutive revisions. */
        snprintf(json, sizeof json,
                 "[{\"upsert_http_route\":{\"route\":\"b%d.example.com\",\"ip\":\"10.1.0.1\","
                 "\"port\":80}},{\"delete_http_route\":{\"route\":\"b%d.example.com\","
                 "\"ip\":\"10.1.0.1\",\"port\":80}}]",
                 i, i);
        if (ry_registry_apply_json(reg, S(json), &out, NULL, NULL) != RY_OK ||
            count_of(out, "\"revision\":") != 2) {
            (*failures)++;
        }
        ry_string_free(out);
    }
    for (i = 0; i < WRITES; i++) {
        char json[160];
        snprintf(json, sizeof json, "[{\"route\":\"r%d.example.com\",\"ip\":\"10.0.0.%d\",\"port\":80}]",
                 i, i % 250);
        if (ry_registry_delete_http_routes_json(reg, S(json), NULL, NULL) != RY_OK) {
            (*failures)++;
        }
        snprintf(json, sizeof json, "s%d", i);
        if (ry_registry_delete_service(reg, S(json), NULL, NULL) != RY_OK) {
            (*failures)++;
        }
    }
    return failures;
}

static void *subscriber_main(void *arg) {
    struct subscriber *s = (struct subscriber *)arg;
    int quiet_polls = 0;
    /* Gives up after 100 empty polls in a row (10 s without an event). */
    while (s->received < EVENTS && quiet_polls < 100) {
        char *out = NULL;
        char expected[48];
        ry_status status = ry_subscription_poll(s->sub, 100, &out, NULL, NULL, NULL);
        if (status == RY_TIMEOUT) {
            quiet_polls++;
            continue;
        }
        quiet_polls = 0;
        if (status != RY_OK) {
            s->failures++;
            break;
        }
        s->received++;
        snprintf(expected, sizeof expected, "{\"revision\":%llu,",
                 (unsigned long long)(s->start_revision + (uint64_t)s->received));
        if (strncmp(out, expected, strlen(expected)) != 0) {
            s->failures++;
        }
        if (contains(out, "\"kind\":\"http_route\"")) {
            s->http_events++;
        } else if (contains(out, "\"kind\":\"service\"")) {
            s->service_events++;
        }
        ry_string_free(out);
    }
    return NULL;
}

static void test_readers_writer_and_subscriber(void) {
    ry_config *config = ry_config_new();
    ry_registry *reg = NULL;
    ry_error *err = NULL;
    char *out = NULL;
    struct shared shared;
    struct reader readers[READERS];
    struct subscriber subscriber;
    pthread_t reader_threads[READERS];
    pthread_t writer_thread;
    pthread_t subscriber_thread;
    void *writer_result = NULL;
    size_t pending = 1;
    int i;

    CHECK(OK(ry_config_set_subscriber_buffer(config, 4 * EVENTS, &err), err));
    CHECK(OK(ry_registry_new_with_config(config, &reg, &err), err));
    ry_config_free(config);
    if (reg == NULL) {
        return;
    }
    CHECK(OK(ry_registry_create_router_group_json(
                 reg, S("{\"name\":\"tcp-1\",\"type\":\"tcp\",\"reservable_ports\":\"5000\"}"),
                 &out, NULL, NULL, &err),
             err));
    ry_string_free(out);

    shared.reg = reg;
    CHECK(ry_registry_revision(reg, &shared.start_revision, NULL) == RY_OK);
    memset(&subscriber, 0, sizeof subscriber);
    subscriber.start_revision = shared.start_revision;
    CHECK(OK(ry_registry_subscribe(reg, RY_KIND_ALL, &shared.start_revision, &subscriber.sub,
                                   NULL, &err),
             err));

    CHECK(pthread_create(&subscriber_thread, NULL, subscriber_main, &subscriber) == 0);
    for (i = 0; i < READERS; i++) {
        readers[i].shared = &shared;
        readers[i].failures = 0;
        CHECK(pthread_create(&reader_threads[i], NULL, reader_main, &readers[i]) == 0);
    }
    CHECK(pthread_create(&writer_thread, NULL, writer_main, reg) == 0);

    CHECK(pthread_join(writer_thread, &writer_result) == 0);
    CHECK(writer_result != NULL && *(int *)writer_result == 0);
    free(writer_result);
    for (i = 0; i < READERS; i++) {
        CHECK(pthread_join(reader_threads[i], NULL) == 0);
        CHECK(readers[i].failures == 0);
    }
    CHECK(pthread_join(subscriber_thread, NULL) == 0);

    /* Every change exactly once, in order, and nothing left over. */
    CHECK(subscriber.failures == 0);
    CHECK(subscriber.received == EVENTS);
    CHECK(subscriber.http_events == 4 * WRITES && subscriber.service_events == 2 * WRITES);
    CHECK(OK(ry_subscription_pending(subscriber.sub, &pending, &err), err));
    CHECK(pending == 0);
    {
        uint64_t revision = 0;
        CHECK(ry_registry_revision(reg, &revision, NULL) == RY_OK);
        CHECK(revision == shared.start_revision + EVENTS);
    }
    ry_subscription_free(subscriber.sub);
    ry_registry_free(reg);
}

int main(void) {
    RUN(test_readers_writer_and_subscriber);
    return REPORT();
}
