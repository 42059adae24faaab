// Proves that include/routeyard.h compiles as strict C++11 and that its functions link
// with C linkage from C++ (the header's `extern "C"` guard).
#include "routeyard.h"

#include <cstdio>
#include <cstring>

int main() {
    ry_registry *reg = ry_registry_new(120);
    if (reg == nullptr) {
        std::fprintf(stderr, "ry_registry_new returned NULL\n");
        return 1;
    }
    const char json[] = "{\"name\":\"default-tcp\",\"type\":\"tcp\",\"reservable_ports\":\"1024-65535\"}";
    char *out = nullptr;
    bool created = false;
    ry_error *err = nullptr;
    ry_status status = ry_registry_create_router_group_json(
        reg, reinterpret_cast<const uint8_t *>(json), std::strlen(json), &out, nullptr, &created,
        &err);
    int failed = (status != RY_OK || err != nullptr || !created || out == nullptr) ? 1 : 0;
    if (err != nullptr) {
        std::fprintf(stderr, "%s: %s\n", ry_error_name(err), ry_error_message(err));
    }
    ry_error_free(err);
    ry_string_free(out);
    ry_registry_free(reg);

    // The handles of the configuration, the clock and a subscription, from C++.
    ry_config *config = ry_config_new();
    ry_clock *clock = ry_clock_new(1000);
    ry_registry *replica = nullptr;
    ry_subscription *sub = nullptr;
    char *event = nullptr;
    const uint64_t from = 0;
    const char route[] = "[{\"route\":\"a.com\",\"ip\":\"1.2.3.4\",\"port\":80}]";
    if (ry_config_set_clock(config, clock, nullptr) != RY_OK ||
        ry_registry_new_with_config(config, &replica, nullptr) != RY_OK ||
        ry_registry_upsert_http_routes_json(replica, reinterpret_cast<const uint8_t *>(route),
                                            std::strlen(route), nullptr, nullptr) != RY_OK ||
        ry_registry_subscribe(replica, RY_KIND_ALL, &from, &sub, nullptr, nullptr) != RY_OK ||
        ry_subscription_poll(sub, 0, &event, nullptr, nullptr, nullptr) != RY_OK ||
        std::strstr(event, "\"kind\":\"http_route\"") == nullptr) {
        failed = 1;
    }
    ry_string_free(event);

    // The hot path's structs from C++: value-initialised, then the fields that apply.
    ry_request req = {};
    req.protocol = RY_PROTOCOL_HTTP;
    req.host = reinterpret_cast<const uint8_t *>("a.com");
    req.host_len = 5;
    req.path = reinterpret_cast<const uint8_t *>("/");
    req.path_len = 1;
    ry_match_result result = {};
    char cf_route[64];
    result.cf_route.data = cf_route;
    result.cf_route.capacity = sizeof cf_route;
    if (ry_match(replica, &req, true, &result, nullptr) != RY_OK ||
        result.kind != RY_MATCH_KIND_CF_ROUTE || std::strcmp(cf_route, "a.com") != 0 ||
        !result.backend_picked || result.backend.family != RY_ADDR_FAMILY_IPV4 ||
        result.backend.addr[3] != 4 || result.backend.port != 80) {
        failed = 1;
    }
    ry_subscription_free(sub);
    ry_registry_free(replica);
    ry_clock_free(clock);
    ry_config_free(config);
    std::printf("C++: routeyard %s %s\n", ry_version(), failed ? "FAILED" : "ok");
    return failed;
}
