#!/bin/sh
# Installs this checkout with `pip install .` (the build backend and its Rust build
# as a user's pip runs them) into a fresh virtualenv under DIR made by PYTHON, then
# imports the package from elsewhere and matches a request with it.
#
# usage: pip-install.sh PYTHON DIR
set -eu
python=$1 dir=$2
rm -rf "$dir"
"$python" -m venv "$dir"
"$dir/bin/python" -m pip install --quiet --disable-pip-version-check .
cd "$dir"
bin/python - <<'PY'
import routeyard

registry = routeyard.Registry()
service = registry.create_service({"name": "shop", "host": "shop.internal"})
route = registry.create_route({"paths": ["/orders"], "service": {"id": service["id"]}})
match = registry.match(host="example.com", path="/orders/7")
assert match is not None and match.route_id == route["id"], match
assert match.upstream_host == "shop.internal" and match.upstream_path == "/7", match
print("pip install . works:", routeyard.__file__)
PY
