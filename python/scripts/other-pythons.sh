#!/bin/sh
# Runs the Python tests against the abi3 wheel WHEEL on every CPython 3.9 or later
# that pyenv keeps on this machine, other than the one the .venv was made with, each
# in a virtualenv of its own under DIR. The tests run from a copy, so that they import
# the installed wheel rather than the package in the source tree. Without pyenv, or
# with no other CPython, it says so and succeeds: the .venv's run covers that one.
#
# usage: other-pythons.sh WHEEL TESTS DIR
set -eu
wheel=$1 tests=$2 dir=$3
own=$(.venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
found=0
for python in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/*/bin/python3; do
    [ -x "$python" ] || continue
    version=$("$python" -c 'import sys; v = sys.version_info
print("%d.%d" % v[:2] if sys.implementation.name == "cpython" and v >= (3, 9) else "")')
    [ -n "$version" ] && [ "$version" != "$own" ] || continue
    found=1
    echo "== CPython $version: $python"
    rm -rf "$dir/$version"
    "$python" -m venv "$dir/$version/venv"
    "$dir/$version/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        pytest "$wheel"
    cp -R "$tests" "$dir/$version/tests"
    (cd "$dir/$version" && venv/bin/python -m pytest -q -p no:cacheprovider tests)
done
[ "$found" = 1 ] || echo "no other CPython 3.9+ under pyenv here: only $own was tested"
