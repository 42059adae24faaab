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
    std::printf("C++: routeyard %s %s\n", ry_version(), failed ? "FAILED" : "ok");
    return failed;
}
