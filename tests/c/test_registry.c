/*
 * Tests of the C API in include/routeyard.h, written against the header alone: the
 * version, the registry's lifetime and revision, and router group creation and
 * listing, on their success paths and their error paths (NULL arguments, invalid
 * UTF-8, malformed JSON, router groups that fail validation). test_cf.c, test_kong.c,
 * test_events.c and test_threads.c cover the rest of the header. Run plain, static and
 * under valgrind by tests/c/Makefile; the closing line is "N passed, M failed" and the
 * exit status is non-zero when a test failed.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "routeyard.h"

static int tests_passed;
static int tests_failed;
static int current_failures;

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            current_failures++;                                                  \
            fprintf(stderr, "  %s:%d: check failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                      \
        }                                                                        \
    } while (0)

#define RUN(test)                                                                \
    do {                                                                         \
        current_failures = 0;                                                    \
        test();                                                                  \
        if (current_failures == 0) {                                             \
            tests_passed++;                                                      \
            printf("ok   %s\n", #test);                                          \
        } else {                                                                 \
            tests_failed++;                                                      \
            printf("FAIL %s\n", #test);                                          \
        }                                                                        \
    } while (0)

static const char DEFAULT_TCP[] =
    "{\"name\":\"default-tcp\",\"type\":\"tcp\",\"reservable_ports\":\"1024-65535\"}";

/* Calls ry_registry_create_router_group_json with a NUL-terminated text. */
static ry_status create(const ry_registry *reg, const char *json, char **out,
                        size_t *out_len, bool *created, ry_error **err) {
    return ry_registry_create_router_group_json(reg, (const uint8_t *)json,
                                                strlen(json), out, out_len,
                                                created, err);
}

static uint64_t revision_of(const ry_registry *reg) {
    uint64_t revision = UINT64_MAX;
    ry_status status = ry_registry_revision(reg, &revision, NULL);
    CHECK(status == RY_OK);
    return revision;
}

static bool contains(const char *haystack, const char *needle) {
    return haystack != NULL && strstr(haystack, needle) != NULL;
}

/* Checks that `err` describes a failure with the given CF name, then frees it. */
static void check_error(ry_error *err, const char *name, const char *message_part) {
    CHECK(err != NULL);
    if (err == NULL) {
        return;
    }
    CHECK(ry_error_name(err) != NULL && strcmp(ry_error_name(err), name) == 0);
    CHECK(ry_error_message(err) != NULL && strlen(ry_error_message(err)) > 0);
    CHECK(contains(ry_error_message(err), message_part));
    ry_error_free(err);
}

static void test_version(void) {
    const char *version = ry_version();
    CHECK(version != NULL);
    CHECK(version != NULL && version[0] >= '0' && version[0] <= '9');
    CHECK(contains(version, "."));
    /* The same static string every time. */
    CHECK(ry_version() == version);
}

static void test_new_registry_is_empty(void) {
    ry_registry *reg = ry_registry_new(120);
    char *json = NULL;
    size_t len = 0;
    ry_error *err = (ry_error *)&len; /* any non-NULL value: success must reset it */

    CHECK(reg != NULL);
    CHECK(revision_of(reg) == 0);
    CHECK(ry_registry_router_groups_json(reg, &json, &len, &err) == RY_OK);
    CHECK(err == NULL);
    CHECK(json != NULL && strcmp(json, "[]") == 0);
    CHECK(len == 2);
    ry_string_free(json);
    ry_registry_free(reg);
}

static void test_create_and_list_router_group(void) {
    ry_registry *reg = ry_registry_new(120);
    char *group = NULL;
    char *again = NULL;
    char *list = NULL;
    size_t group_len = 0;
    size_t list_len = 0;
    bool created = false;
    ry_error *err = NULL;
    uint64_t revision;

    CHECK(create(reg, DEFAULT_TCP, &group, &group_len, &created, &err) == RY_OK);
    CHECK(err == NULL);
    CHECK(created);
    CHECK(group != NULL && strlen(group) == group_len);
    CHECK(contains(group, "\"name\":\"default-tcp\""));
    CHECK(contains(group, "\"type\":\"tcp\""));
    CHECK(contains(group, "\"reservable_ports\":\"1024-65535\""));
    CHECK(contains(group, "\"guid\":\""));
    revision = revision_of(reg);
    CHECK(revision > 0);

    /* The list holds exactly that group. */
    CHECK(ry_registry_router_groups_json(reg, &list, &list_len, NULL) == RY_OK);
    CHECK(list != NULL && list_len == group_len + 2);
    CHECK(list != NULL && list[0] == '[' && strncmp(list + 1, group, group_len) == 0);

    /* Same name and type again: the stored group comes back, nothing changes. */
    created = true;
    CHECK(create(reg, DEFAULT_TCP, &again, NULL, &created, NULL) == RY_OK);
    CHECK(!created);
    CHECK(again != NULL && group != NULL && strcmp(again, group) == 0);
    CHECK(revision_of(reg) == revision);

    ry_string_free(list);
    ry_string_free(again);
    ry_string_free(group);
    ry_registry_free(reg);
}

static void test_input_is_read_by_length_not_nul(void) {
    /* Only the first `len` bytes are the JSON; the rest must not be read as part of it. */
    char buffer[sizeof DEFAULT_TCP + 16];
    ry_registry *reg = ry_registry_new(120);
    char *group = NULL;

    memcpy(buffer, DEFAULT_TCP, sizeof DEFAULT_TCP - 1);
    memcpy(buffer + sizeof DEFAULT_TCP - 1, "garbage-after-it", 16);
    CHECK(ry_registry_create_router_group_json(reg, (const uint8_t *)buffer,
                                               sizeof DEFAULT_TCP - 1, &group, NULL,
                                               NULL, NULL) == RY_OK);
    CHECK(contains(group, "default-tcp"));
    ry_string_free(group);
    ry_registry_free(reg);
}

static void test_invalid_router_group(void) {
    ry_registry *reg = ry_registry_new(120);
    char *out = NULL;
    bool created = true;
    ry_error *err = NULL;
    ry_status status;

    /* CF splits reservable_ports on ',' without trimming, so " 2000" is not a port. */
    status = create(reg,
                    "{\"name\":\"g\",\"type\":\"tcp\",\"reservable_ports\":\"1024, 2000\"}",
                    &out, NULL, &created, &err);
    CHECK(status == RY_ERR_INVALID_ROUTER_GROUP);
    CHECK(out == NULL);
    CHECK(created); /* untouched on failure */
    check_error(err, "ProcessRequestError", "");

    /* A missing name. */
    err = NULL;
    status = create(reg, "{\"type\":\"tcp\",\"reservable_ports\":\"1024-2000\",\"name\":\"\"}",
                    &out, NULL, NULL, &err);
    CHECK(status == RY_ERR_INVALID_ROUTER_GROUP);
    check_error(err, "ProcessRequestError", "name");

    /* The same failure without an error slot still reports its status. */
    status = create(reg,
                    "{\"name\":\"g\",\"type\":\"tcp\",\"reservable_ports\":\"1024, 2000\"}",
                    &out, NULL, NULL, NULL);
    CHECK(status == RY_ERR_INVALID_ROUTER_GROUP);

    CHECK(revision_of(reg) == 0);
    ry_registry_free(reg);
}

static void test_name_taken_by_another_type(void) {
    ry_registry *reg = ry_registry_new(120);
    char *out = NULL;
    ry_error *err = NULL;
    uint64_t revision;

    CHECK(create(reg, DEFAULT_TCP, &out, NULL, NULL, NULL) == RY_OK);
    ry_string_free(out);
    out = NULL;
    revision = revision_of(reg);
    CHECK(create(reg, "{\"name\":\"default-tcp\",\"type\":\"http\"}", &out, NULL, NULL,
                 &err) == RY_ERR_CONFLICT);
    CHECK(out == NULL);
    check_error(err, "DBConflictError", "default-tcp");
    CHECK(revision_of(reg) == revision);
    ry_registry_free(reg);
}

static void test_malformed_json(void) {
    static const char *const inputs[] = {
        "",
        "{",
        "{\"name\":",
        "42",
        "{\"name\":42,\"type\":\"tcp\",\"reservable_ports\":\"1024\"}",
        "nul",
    };
    ry_registry *reg = ry_registry_new(120);
    size_t i;

    for (i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        char *out = NULL;
        ry_error *err = NULL;
        CHECK(create(reg, inputs[i], &out, NULL, NULL, &err) == RY_ERR_INVALID_JSON);
        CHECK(out == NULL);
        check_error(err, "ProcessRequestError", "");
    }
    CHECK(revision_of(reg) == 0);
    ry_registry_free(reg);
}

static void test_invalid_utf8(void) {
    static const uint8_t latin1[] = "{\"name\":\"caf\xe9\",\"type\":\"tcp\"}";
    ry_registry *reg = ry_registry_new(120);
    char *out = NULL;
    ry_error *err = NULL;

    CHECK(ry_registry_create_router_group_json(reg, latin1, sizeof latin1 - 1, &out, NULL,
                                               NULL, &err) == RY_ERR_INVALID_UTF8);
    CHECK(out == NULL);
    check_error(err, "ProcessRequestError", "UTF-8");
    ry_registry_free(reg);
}

static void test_null_arguments(void) {
    ry_registry *reg = ry_registry_new(120);
    char *out = NULL;
    uint64_t revision = 0;
    ry_error *err = NULL;

    CHECK(ry_registry_revision(NULL, &revision, &err) == RY_ERR_NULL_ARG);
    check_error(err, "ProcessRequestError", "reg");
    err = NULL;
    CHECK(ry_registry_revision(reg, NULL, &err) == RY_ERR_NULL_ARG);
    check_error(err, "ProcessRequestError", "revision");

    err = NULL;
    CHECK(ry_registry_router_groups_json(NULL, &out, NULL, &err) == RY_ERR_NULL_ARG);
    check_error(err, "ProcessRequestError", "reg");
    err = NULL;
    CHECK(ry_registry_router_groups_json(reg, NULL, NULL, &err) == RY_ERR_NULL_ARG);
    check_error(err, "ProcessRequestError", "out");

    err = NULL;
    CHECK(create(NULL, DEFAULT_TCP, &out, NULL, NULL, &err) == RY_ERR_NULL_ARG);
    check_error(err, "ProcessRequestError", "reg");
    err = NULL;
    CHECK(ry_registry_create_router_group_json(reg, NULL, 0, &out, NULL, NULL, &err) ==
          RY_ERR_NULL_ARG);
    check_error(err, "ProcessRequestError", "json");
    err = NULL;
    CHECK(create(reg, DEFAULT_TCP, NULL, NULL, NULL, &err) == RY_ERR_NULL_ARG);
    check_error(err, "ProcessRequestError", "out");

    /* Without an error slot. */
    CHECK(ry_registry_revision(NULL, NULL, NULL) == RY_ERR_NULL_ARG);

    /* A rejected call has no side effect: the NULL `out` above created nothing. */
    CHECK(out == NULL);
    CHECK(revision_of(reg) == 0);

    /* Accessors and frees accept NULL. */
    CHECK(ry_error_message(NULL) == NULL);
    CHECK(ry_error_name(NULL) == NULL);
    ry_error_free(NULL);
    ry_string_free(NULL);
    ry_registry_free(NULL);
    ry_registry_free(reg);
}

#define THREADS 4
#define GROUPS_PER_THREAD 25

struct worker {
    ry_registry *reg;
    int index;
    int failures;
};

static void *worker_main(void *arg) {
    struct worker *w = (struct worker *)arg;
    int i;
    for (i = 0; i < GROUPS_PER_THREAD; i++) {
        char json[128];
        char *out = NULL;
        char *list = NULL;
        bool created = false;
        uint64_t revision = 0;
        snprintf(json, sizeof json,
                 "{\"name\":\"group-%d-%d\",\"type\":\"tcp\",\"reservable_ports\":\"%d\"}",
                 w->index, i, 1024 + w->index * GROUPS_PER_THREAD + i);
        if (create(w->reg, json, &out, NULL, &created, NULL) != RY_OK || !created) {
            w->failures++;
        }
        if (ry_registry_router_groups_json(w->reg, &list, NULL, NULL) != RY_OK ||
            ry_registry_revision(w->reg, &revision, NULL) != RY_OK || revision == 0) {
            w->failures++;
        }
        ry_string_free(list);
        ry_string_free(out);
    }
    return NULL;
}

static void test_shared_between_threads(void) {
    ry_registry *reg = ry_registry_new(120);
    pthread_t threads[THREADS];
    struct worker workers[THREADS];
    char *list = NULL;
    const char *cursor;
    int groups = 0;
    int i;

    for (i = 0; i < THREADS; i++) {
        workers[i].reg = reg;
        workers[i].index = i;
        workers[i].failures = 0;
        CHECK(pthread_create(&threads[i], NULL, worker_main, &workers[i]) == 0);
    }
    for (i = 0; i < THREADS; i++) {
        CHECK(pthread_join(threads[i], NULL) == 0);
        CHECK(workers[i].failures == 0);
    }
    CHECK(ry_registry_router_groups_json(reg, &list, NULL, NULL) == RY_OK);
    for (cursor = list; cursor != NULL && (cursor = strstr(cursor, "\"guid\"")) != NULL;
         cursor++) {
        groups++;
    }
    CHECK(groups == THREADS * GROUPS_PER_THREAD);
    CHECK(revision_of(reg) >= (uint64_t)(THREADS * GROUPS_PER_THREAD));
    ry_string_free(list);
    ry_registry_free(reg);
}

int main(void) {
    RUN(test_version);
    RUN(test_new_registry_is_empty);
    RUN(test_create_and_list_router_group);
    RUN(test_input_is_read_by_length_not_nul);
    RUN(test_invalid_router_group);
    RUN(test_name_taken_by_another_type);
    RUN(test_malformed_json);
    RUN(test_invalid_utf8);
    RUN(test_null_arguments);
    RUN(test_shared_between_threads);
    printf("%d passed, %d failed\n", tests_passed, tests_failed);
    return tests_failed == 0 ? 0 : 1;
}
