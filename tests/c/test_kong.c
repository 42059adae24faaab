/*
 * Tests of the Kong dialect of the C API: services and routes created, put (by name
 * and by id), patched, read, listed and deleted, with Kong's error statuses and
 * bodies (schema, unique and foreign key violations, not found, unparsable bodies).
 */
#define _POSIX_C_SOURCE 200809L

#include "check.h"

#define UUID "6a3c2b8e-2f34-4f9b-9d4a-0c2f1e5d7a11"

/* Creates a service or route through `create` and copies its id into `id`. */
static void make(ry_status (*create)(const ry_registry *, const uint8_t *, size_t, char **,
                                     size_t *, ry_error **),
                 const ry_registry *reg, const char *json, char *id, size_t size) {
    char *out = NULL;
    ry_error *err = NULL;
    if (OK(create(reg, S(json), &out, NULL, &err), err)) {
        CHECK(json_string(out, "id", id, size));
    }
    ry_string_free(out);
}

static void test_service_crud(void) {
    ry_registry *reg = ry_registry_new(120);
    char id[64];
    char *out = NULL;
    size_t len = 0;
    bool created = false;
    uint64_t revision = 0;
    ry_error *err = NULL;

    /* Kong's url shorthand sets protocol, host, port and path. */
    CHECK(OK(ry_registry_create_service_json(
                 reg, S("{\"name\":\"shop\",\"url\":\"http://10.0.0.5:8080/api\"}"), &out, &len,
                 &err),
             err));
    CHECK(out != NULL && strlen(out) == len);
    CHECK(contains(out, "\"name\":\"shop\""));
    CHECK(contains(out, "\"protocol\":\"http\""));
    CHECK(contains(out, "\"host\":\"10.0.0.5\""));
    CHECK(contains(out, "\"port\":8080"));
    CHECK(contains(out, "\"path\":\"/api\""));
    CHECK(contains(out, "\"retries\":5"));
    CHECK(json_string(out, "id", id, sizeof id) && strlen(id) == 36);
    ry_string_free(out);

    /* Read by name and by id. */
    CHECK(OK(ry_registry_service_json(reg, S("shop"), &out, NULL, &err), err));
    CHECK(contains(out, id));
    ry_string_free(out);
    CHECK(OK(ry_registry_service_json(reg, S(id), &out, NULL, &err), err));
    CHECK(contains(out, "\"name\":\"shop\""));
    ry_string_free(out);

    /* PUT by a name creates, then replaces. */
    CHECK(OK(ry_registry_put_service_json(reg, S("billing"), S("{\"host\":\"b.internal\"}"), &out,
                                          NULL, &created, &err),
             err));
    CHECK(created);
    CHECK(contains(out, "\"name\":\"billing\"") && contains(out, "\"host\":\"b.internal\""));
    CHECK(contains(out, "\"port\":80"));
    ry_string_free(out);
    /* The key names the service, whatever the body says or leaves out. */
    CHECK(OK(ry_registry_put_service_json(reg, S("billing"),
                                          S("{\"host\":\"b2.internal\",\"port\":81}"), &out, NULL,
                                          &created, &err),
             err));
    CHECK(!created);
    CHECK(contains(out, "\"host\":\"b2.internal\"") && contains(out, "\"port\":81"));
    CHECK(contains(out, "\"name\":\"billing\""));
    ry_string_free(out);
    CHECK(OK(ry_registry_put_service_json(reg, S("billing"),
                                          S("{\"name\":\"other\",\"host\":\"b3.internal\"}"),
                                          &out, NULL, &created, &err),
             err));
    CHECK(!created && contains(out, "\"name\":\"billing\"") && contains(out, "b3.internal"));
    ry_string_free(out);

    /* PUT by a UUID key sets the id. */
    CHECK(OK(ry_registry_put_service_json(reg, S(UUID), S("{\"host\":\"u.internal\"}"), &out, NULL,
                                          NULL, &err),
             err));
    CHECK(contains(out, "\"id\":\"" UUID "\"") && contains(out, "\"name\":null"));
    ry_string_free(out);

    /* PATCH changes only the fields given. */
    CHECK(OK(ry_registry_patch_service_json(reg, S("shop"), S("{\"port\":9090}"), &out, NULL,
                                            &err),
             err));
    CHECK(contains(out, "\"port\":9090") && contains(out, "\"host\":\"10.0.0.5\""));
    CHECK(contains(out, id));
    ry_string_free(out);

    CHECK(OK(ry_registry_services_json(reg, &out, &len, &err), err));
    CHECK(out != NULL && strncmp(out, "{\"data\":[", 9) == 0);
    CHECK(contains(out, "\"next\":null"));
    CHECK(count_of(out, "\"connect_timeout\"") == 3);
    ry_string_free(out);

    CHECK(OK(ry_registry_delete_service(reg, S("billing"), &revision, &err), err));
    CHECK(revision > 0);
    out = NULL;
    CHECK(ry_registry_service_json(reg, S("billing"), &out, NULL, &err) == RY_ERR_NOT_FOUND);
    CHECK(out == NULL);
    CHECK(ry_error_body(err) != NULL && strcmp(ry_error_body(err), "{\"message\":\"Not found\"}") == 0);
    CHECK_ERROR(err, "ResourceNotFoundError", "Not found");
    CHECK(ry_registry_delete_service(reg, S("billing"), NULL, &err) == RY_ERR_NOT_FOUND);
    CHECK_ERROR(err, "ResourceNotFoundError", "Not found");
    ry_registry_free(reg);
}

static void test_service_errors(void) {
    ry_registry *reg = ry_registry_new(120);
    char *out = NULL;
    uint64_t revision = 0;
    ry_error *err = NULL;

    CHECK(OK(ry_registry_create_service_json(reg, S("{\"name\":\"shop\",\"host\":\"a.internal\"}"),
                                             &out, NULL, &err),
             err));
    ry_string_free(out);
    out = NULL;
    CHECK(ry_registry_revision(reg, &revision, NULL) == RY_OK);

    CHECK(ry_registry_create_service_json(reg, S("{\"name\":\"shop\",\"host\":\"b.internal\"}"),
                                          &out, NULL, &err) == RY_ERR_UNIQUE_VIOLATION);
    CHECK(contains(ry_error_body(err), "\"code\":5"));
    CHECK(contains(ry_error_body(err), "\"name\":\"unique constraint violation\""));
    CHECK_ERROR(err, "DBConflictError", "UNIQUE violation detected on '{name=\"shop\"}'");

    CHECK(ry_registry_create_service_json(reg, S("{\"host\":\"a.internal\",\"port\":\"x\"}"), &out,
                                          NULL, &err) == RY_ERR_SCHEMA_VIOLATION);
    CHECK(contains(ry_error_body(err), "\"code\":2"));
    CHECK(contains(ry_error_body(err), "\"fields\":{\"port\":"));
    CHECK_ERROR(err, "ProcessRequestError", "schema violation (port: expected an integer)");

    CHECK(ry_registry_create_service_json(reg, S("{\"host\":\"a.internal\",\"colour\":1}"), &out,
                                          NULL, &err) == RY_ERR_SCHEMA_VIOLATION);
    CHECK_ERROR(err, "ProcessRequestError", "colour: unknown field");

    CHECK(ry_registry_create_service_json(reg, S("[1]"), &out, NULL, &err) ==
          RY_ERR_INVALID_JSON);
    CHECK(ry_error_body(err) != NULL &&
          strcmp(ry_error_body(err), "{\"message\":\"Cannot parse JSON body\"}") == 0);
    CHECK_ERROR(err, "ProcessRequestError", "Cannot parse JSON body");

    CHECK(ry_registry_patch_service_json(reg, S("shop"), S("{\"host\":null}"), &out, NULL, &err) ==
          RY_ERR_SCHEMA_VIOLATION);
    CHECK_ERROR(err, "ProcessRequestError", "host: required field missing");
    CHECK(ry_registry_patch_service_json(reg, S("nope"), S("{}"), &out, NULL, &err) ==
          RY_ERR_NOT_FOUND);
    CHECK_ERROR(err, "ResourceNotFoundError", "Not found");
    CHECK(ry_registry_put_service_json(reg, S("other"), S("{\"port\":1}"), &out, NULL, NULL,
                                       &err) == RY_ERR_SCHEMA_VIOLATION);
    CHECK_ERROR(err, "ProcessRequestError", "host: required field missing");

    CHECK(ry_registry_create_service_json(reg, (const uint8_t *)"{\"name\":\"\x80\"}", 11, &out,
                                          NULL, &err) == RY_ERR_INVALID_UTF8);
    CHECK_ERROR(err, "ProcessRequestError", "UTF-8");
    CHECK(ry_registry_create_service_json(reg, S("{\"host\":\"a\"}"), NULL, NULL, &err) ==
          RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "out");
    CHECK(ry_registry_put_service_json(reg, NULL, 0, S("{}"), &out, NULL, NULL, &err) ==
          RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "key");
    CHECK(ry_registry_patch_service_json(NULL, S("shop"), S("{}"), &out, NULL, &err) ==
          RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "reg");
    CHECK(ry_registry_service_json(reg, S("shop"), NULL, NULL, NULL) == RY_ERR_NULL_ARG);
    CHECK(ry_registry_delete_service(reg, NULL, 0, NULL, NULL) == RY_ERR_NULL_ARG);
    CHECK(ry_registry_services_json(NULL, &out, NULL, NULL) == RY_ERR_NULL_ARG);
    CHECK(out == NULL);

    {
        uint64_t after = 0;
        CHECK(ry_registry_revision(reg, &after, NULL) == RY_OK);
        CHECK(after == revision);
    }
    ry_registry_free(reg);
}

static void test_route_crud(void) {
    ry_registry *reg = ry_registry_new(120);
    char shop[64];
    char other[64];
    char route_id[64];
    char json[512];
    char *out = NULL;
    bool created = false;
    ry_error *err = NULL;

    make(ry_registry_create_service_json, reg, "{\"name\":\"shop\",\"host\":\"a.internal\"}",
         shop, sizeof shop);
    make(ry_registry_create_service_json, reg, "{\"name\":\"other\",\"host\":\"b.internal\"}",
         other, sizeof other);

    snprintf(json, sizeof json,
             "{\"name\":\"cart\",\"paths\":[\"/cart\"],\"hosts\":[\"shop.test\"],"
             "\"methods\":[\"GET\",\"GET\"],\"service\":{\"id\":\"%s\"},\"path_mode\":\"segment\"}",
             shop);
    CHECK(OK(ry_registry_create_route_json(reg, S(json), &out, NULL, &err), err));
    CHECK(contains(out, "\"name\":\"cart\""));
    CHECK(contains(out, "\"paths\":[\"/cart\"]"));
    CHECK(contains(out, "\"methods\":[\"GET\"]")); /* a set: the repeat is gone */
    CHECK(contains(out, "\"protocols\":[\"http\",\"https\"]"));
    CHECK(contains(out, "\"strip_path\":true"));
    CHECK(contains(out, "\"path_mode\":\"segment\""));
    CHECK(contains(out, shop));
    CHECK(json_string(out, "id", route_id, sizeof route_id));
    ry_string_free(out);

    snprintf(json, sizeof json, "{\"paths\":[\"/o\"],\"service\":{\"id\":\"%s\"}}", other);
    CHECK(OK(ry_registry_put_route_json(reg, S("o-route"), S(json), &out, NULL, &created, &err),
             err));
    CHECK(created && contains(out, "\"name\":\"o-route\""));
    ry_string_free(out);
    CHECK(OK(ry_registry_put_route_json(reg, S("o-route"), S(json), &out, NULL, &created, &err),
             err));
    CHECK(!created && contains(out, "\"name\":\"o-route\""));
    ry_string_free(out);

    CHECK(OK(ry_registry_patch_route_json(reg, S("cart"), S("{\"strip_path\":false,\"priority\":7}"),
                                          &out, NULL, &err),
             err));
    CHECK(contains(out, "\"strip_path\":false") && contains(out, "\"priority\":7"));
    CHECK(contains(out, "\"paths\":[\"/cart\"]"));
    ry_string_free(out);

    CHECK(OK(ry_registry_route_json(reg, S(route_id), &out, NULL, &err), err));
    CHECK(contains(out, "\"name\":\"cart\""));
    ry_string_free(out);

    /* Every route, then the routes of one service by name or id. */
    CHECK(OK(ry_registry_routes_json(reg, NULL, 0, &out, NULL, &err), err));
    CHECK(count_of(out, "\"regex_priority\"") == 2 && contains(out, "\"next\":null"));
    ry_string_free(out);
    CHECK(OK(ry_registry_routes_json(reg, S("shop"), &out, NULL, &err), err));
    CHECK(count_of(out, "\"regex_priority\"") == 1 && contains(out, "\"name\":\"cart\""));
    ry_string_free(out);
    CHECK(OK(ry_registry_routes_json(reg, S(other), &out, NULL, &err), err));
    CHECK(count_of(out, "\"regex_priority\"") == 1 && contains(out, "\"name\":\"o-route\""));
    ry_string_free(out);
    out = NULL;
    CHECK(ry_registry_routes_json(reg, S("nope"), &out, NULL, &err) == RY_ERR_NOT_FOUND);
    CHECK(out == NULL);
    CHECK_ERROR(err, "ResourceNotFoundError", "Not found");

    /* A service routes still lead to cannot go. */
    CHECK(ry_registry_delete_service(reg, S("shop"), NULL, &err) == RY_ERR_FOREIGN_KEY_VIOLATION);
    CHECK(contains(ry_error_body(err), "\"code\":4"));
    CHECK_ERROR(err, "ProcessRequestError",
                "an existing 'routes' entity references this 'services' entity");
    CHECK(OK(ry_registry_delete_route(reg, S("cart"), NULL, &err), err));
    CHECK(OK(ry_registry_delete_service(reg, S("shop"), NULL, &err), err));
    CHECK(ry_registry_route_json(reg, S("cart"), &out, NULL, &err) == RY_ERR_NOT_FOUND);
    CHECK_ERROR(err, "ResourceNotFoundError", "Not found");
    CHECK(ry_registry_delete_route(reg, S("cart"), NULL, &err) == RY_ERR_NOT_FOUND);
    CHECK_ERROR(err, "ResourceNotFoundError", "Not found");
    ry_registry_free(reg);
}

static void test_route_errors(void) {
    ry_registry *reg = ry_registry_new(120);
    char *out = NULL;
    ry_error *err = NULL;

    CHECK(ry_registry_create_route_json(reg, S("{\"paths\":[\"api\"]}"), &out, NULL, &err) ==
          RY_ERR_SCHEMA_VIOLATION);
    CHECK(contains(ry_error_body(err),
                   "\"fields\":{\"paths\":[\"should start with: / (fixed path) or ~/ (regex "
                   "path)\"]}"));
    CHECK_ERROR(err, "ProcessRequestError",
                "schema violation (paths.1: should start with: / (fixed path) or ~/ (regex path))");

    CHECK(ry_registry_create_route_json(
              reg, S("{\"paths\":[\"/a\"],\"service\":{\"id\":\"" UUID "\"}}"), &out, NULL, &err) ==
          RY_ERR_FOREIGN_KEY_VIOLATION);
    CHECK(contains(ry_error_body(err), "\"name\":\"foreign key violation\""));
    CHECK_ERROR(err, "ProcessRequestError", UUID);

    CHECK(OK(ry_registry_create_route_json(reg, S("{\"name\":\"r\",\"paths\":[\"/a\"]}"), &out,
                                           NULL, &err),
             err));
    ry_string_free(out);
    out = NULL;
    CHECK(ry_registry_create_route_json(reg, S("{\"name\":\"r\",\"paths\":[\"/b\"]}"), &out, NULL,
                                        &err) == RY_ERR_UNIQUE_VIOLATION);
    CHECK_ERROR(err, "DBConflictError", "UNIQUE violation");
    CHECK(ry_registry_patch_route_json(reg, S("r"), S("{\"paths\":[\"b\"]}"), &out, NULL, &err) ==
          RY_ERR_SCHEMA_VIOLATION);
    CHECK_ERROR(err, "ProcessRequestError", "paths.1");
    CHECK(ry_registry_patch_route_json(reg, S("r"), S("not json"), &out, NULL, &err) ==
          RY_ERR_INVALID_JSON);
    CHECK_ERROR(err, "ProcessRequestError", "Cannot parse JSON body");
    CHECK(ry_registry_put_route_json(reg, S("r2"), S("{\"protocols\":[\"gopher\"]}"), &out, NULL,
                                     NULL, &err) == RY_ERR_SCHEMA_VIOLATION);
    CHECK_ERROR(err, "ProcessRequestError", "protocols");
    CHECK(out == NULL);

    CHECK(ry_registry_route_json(reg, (const uint8_t *)"\xff", 1, &out, NULL, &err) ==
          RY_ERR_INVALID_UTF8);
    CHECK_ERROR(err, "ProcessRequestError", "key");
    CHECK(ry_registry_routes_json(reg, (const uint8_t *)"\xff", 1, &out, NULL, &err) ==
          RY_ERR_INVALID_UTF8);
    CHECK_ERROR(err, "ProcessRequestError", "service");
    CHECK(ry_registry_create_route_json(reg, NULL, 0, &out, NULL, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "json");
    CHECK(ry_registry_put_route_json(reg, S("r"), NULL, 0, &out, NULL, NULL, &err) ==
          RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "json");
    CHECK(ry_registry_patch_route_json(reg, S("r"), S("{}"), NULL, NULL, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "out");
    CHECK(ry_registry_delete_route(NULL, S("r"), NULL, &err) == RY_ERR_NULL_ARG);
    CHECK_ERROR(err, "ProcessRequestError", "reg");
    CHECK(ry_registry_routes_json(reg, NULL, 0, NULL, NULL, NULL) == RY_ERR_NULL_ARG);
    CHECK(out == NULL);
    ry_registry_free(reg);
}

int main(void) {
    RUN(test_service_crud);
    RUN(test_service_errors);
    RUN(test_route_crud);
    RUN(test_route_errors);
    return REPORT();
}
