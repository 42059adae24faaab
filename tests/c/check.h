/*
 * A minimal test harness shared by the C tests: CHECK records a failure and goes on,
 * RUN runs one test function and reports it, and a few helpers call the API with
 * NUL-terminated literals and check error handles. Each test program ends with
 * "N passed, M failed" and exits non-zero when a test failed.
 */
#ifndef ROUTEYARD_TEST_CHECK_H
#define ROUTEYARD_TEST_CHECK_H

#include <stdbool.h>
#include <stdint.h>
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

#define REPORT()                                                                 \
    (printf("%d passed, %d failed\n", tests_passed, tests_failed),               \
     tests_failed == 0 ? 0 : 1)

/* A NUL-terminated literal as the (pointer, length) pair the API takes. */
#define S(text) (const uint8_t *)(text), strlen(text)

static inline bool contains(const char *haystack, const char *needle) {
    return haystack != NULL && strstr(haystack, needle) != NULL;
}

/* Counts the non-overlapping occurrences of `needle` in `haystack`. */
static inline int count_of(const char *haystack, const char *needle) {
    int n = 0;
    const char *at = haystack;
    if (haystack == NULL) {
        return 0;
    }
    while ((at = strstr(at, needle)) != NULL) {
        n++;
        at += strlen(needle);
    }
    return n;
}

/*
 * Copies the value of the first string field `"name":"..."` of a JSON text (as the
 * library writes it: no spaces, no escapes in the values the tests read) into `buf`.
 * Returns false, leaving `buf` empty, when there is none or it does not fit.
 */
static inline bool json_string(const char *json, const char *name, char *buf, size_t size) {
    char key[64];
    const char *start;
    const char *end;
    buf[0] = '\0';
    if (json == NULL || snprintf(key, sizeof key, "\"%s\":\"", name) >= (int)sizeof key) {
        return false;
    }
    start = strstr(json, key);
    if (start == NULL) {
        return false;
    }
    start += strlen(key);
    end = strchr(start, '"');
    if (end == NULL || (size_t)(end - start) >= size) {
        return false;
    }
    memcpy(buf, start, (size_t)(end - start));
    buf[end - start] = '\0';
    return true;
}

/*
 * Checks that `err` describes a failure with the given CF name and a message that
 * contains `message_part`, then frees it. Also checks that the body is a JSON object.
 */
static inline void check_error_at(ry_error *err, const char *name, const char *message_part,
                           const char *file, int line) {
    if (err == NULL) {
        current_failures++;
        fprintf(stderr, "  %s:%d: expected an error, got NULL\n", file, line);
        return;
    }
    if (ry_error_name(err) == NULL || strcmp(ry_error_name(err), name) != 0 ||
        !contains(ry_error_message(err), message_part) || ry_error_body(err) == NULL ||
        ry_error_body(err)[0] != '{') {
        current_failures++;
        fprintf(stderr, "  %s:%d: expected %s containing \"%s\", got %s: %s (body %s)\n",
                file, line, name, message_part, ry_error_name(err), ry_error_message(err),
                ry_error_body(err));
    }
    ry_error_free(err);
}

#define CHECK_ERROR(err, name, part) check_error_at((err), (name), (part), __FILE__, __LINE__)

/* The status of the last call made through OK. */
static ry_status last_status;

/* Reports a failed call with its error (then freed); true when the call succeeded. */
static inline bool ok_or_report(ry_status status, ry_error *err, const char *what, const char *file,
                         int line) {
    if (status == RY_OK) {
        return true;
    }
    current_failures++;
    fprintf(stderr, "  %s:%d: %s failed with %d: %s: %s\n", file, line, what, (int)status,
            ry_error_name(err), ry_error_message(err));
    ry_error_free(err);
    return false;
}

/*
 * OK(call, err): runs `call`, which writes its error into the `ry_error *` variable
 * `err`, and evaluates to true on RY_OK; otherwise records a failure. The comma
 * operator makes sure `err` is read after the call wrote it.
 */
#define OK(call, err)                                                            \
    (last_status = (call), ok_or_report(last_status, (err), #call, __FILE__, __LINE__))

#endif
