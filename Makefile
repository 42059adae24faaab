# Entry points: `make run`, `make test` (what CI runs, through .ci/run), `make lint`,
# `make bench` and `make header`. Every target shares one cargo target directory.

CARGO ?= cargo
PYTHON ?= python3
VENV := .venv
VENV_BIN := $(VENV)/bin
TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
# apt-get needs root; use sudo when not running as root.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.DEFAULT_GOAL := test
.PHONY: run test test-rust test-loom test-c test-c-asan test-c-tsan test-python test-fuzz fuzz lint bench header c-tools

## Build and start the HTTP facade on 127.0.0.1:8080.
run:
	$(CARGO) run -p routeyard-facade -- --listen 127.0.0.1:8080

## Every test suite: Rust (with the header check and the facade end-to-end tests), loom's
## model checks, C, Python, and the fuzz targets (built, their corpora replayed).
test: test-rust test-loom test-c test-python test-fuzz

test-rust:
	$(CARGO) test --workspace --locked

## loom's model checks of the lock-free protocols (core/src/sync.rs and the lease
## cells). `--cfg loom` changes how every crate builds, so they get a target directory
## of their own.
test-loom:
	RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=$(TARGET_DIR)/loom $(CARGO) test --locked \
		-p routeyard --release --test loom_backlog --test loom_lease

## The C tests against the library cargo built: plain, static, under valgrind and
## under AddressSanitizer + LeakSanitizer + UndefinedBehaviorSanitizer.
test-c: c-tools
	$(CARGO) build --locked -p routeyard-ffi
	$(MAKE) -C tests/c LIBDIR=$(TARGET_DIR)/debug

## Only the sanitizer run of the C tests.
test-c-asan: c-tools
	$(CARGO) build --locked -p routeyard-ffi
	$(MAKE) -C tests/c asan LIBDIR=$(TARGET_DIR)/debug

## ThreadSanitizer on the C tests, against a library built instrumented as well
## (nightly Rust rebuilding its standard library with -Zsanitizer=thread, in a target
## directory of its own; nightly and its rust-src are installed when missing). Not
## part of `make test`: it needs nightly and rebuilds std and every dependency.
HOST := $(shell rustc -vV 2>/dev/null | sed -n 's/^host: //p')
TSAN_TARGET_DIR := $(TARGET_DIR)/tsan
test-c-tsan: c-tools
	rustup run nightly rustc --version >/dev/null 2>&1 || \
		rustup toolchain install nightly --profile minimal
	rustup component list --toolchain nightly --installed | grep -q '^rust-src' || \
		rustup component add rust-src --toolchain nightly
	RUSTFLAGS=-Zsanitizer=thread CARGO_TARGET_DIR=$(TSAN_TARGET_DIR) \
		$(CARGO) +nightly build --locked -Zbuild-std --target $(HOST) -p routeyard-ffi
	$(MAKE) -C tests/c tsan LIBDIR=$(TSAN_TARGET_DIR)/$(HOST)/debug \
		TSAN_RT=$$(rustc +nightly --print sysroot)/lib/rustlib/$(HOST)/lib/librustc-nightly_rt.tsan.a

## Builds the extension into .venv, checks the stubs, then runs pytest; then builds the
## abi3 wheel and runs the tests against it on every other CPython 3.9+ pyenv has here;
## then installs the checkout with `pip install .` into a fresh virtualenv and matches.
test-python: $(VENV)/.installed
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(VENV_BIN)/maturin develop --locked
	$(VENV_BIN)/python -m mypy --strict python/tests
	$(VENV_BIN)/python -m mypy.stubtest routeyard
	$(VENV_BIN)/python -m pytest python/tests --doctest-modules python/routeyard
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(VENV_BIN)/maturin build --locked --quiet \
		--out $(TARGET_DIR)/wheels
	python/scripts/other-pythons.sh $$(ls -t $(TARGET_DIR)/wheels/routeyard-*-abi3-*.whl | head -1) \
		python/tests $(TARGET_DIR)/other-pythons
	python/scripts/pip-install.sh $(PYTHON) $(TARGET_DIR)/pip-install

# The virtualenv with the pinned build and test tools; reinstalled when the pins change.
$(VENV)/.installed: python/requirements-dev.txt
	test -x $(VENV_BIN)/python || $(PYTHON) -m venv $(VENV)
	$(VENV_BIN)/python -m pip install --quiet -r python/requirements-dev.txt
	touch $@

# Installs the C toolchain and valgrind when a command is missing. gcc brings the
# sanitizer runtimes (libasan, liblsan, libubsan) with it.
c-tools:
	@missing=""; \
	for tool in gcc g++ valgrind; do \
		command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing"; \
		$(SUDO) apt-get update && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	fi

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	$(CARGO) fmt --manifest-path fuzz/Cargo.toml -- --check
	$(CARGO) clippy --manifest-path fuzz/Cargo.toml --target-dir $(TARGET_DIR) --all-targets --locked -- -D warnings

bench:
	$(CARGO) bench --locked -p routeyard-benches

## The fuzz crate (fuzz/, its own workspace): every target builds, and every saved input
## (seed corpus and regressions) replays through its target.
test-fuzz:
	$(CARGO) build --manifest-path fuzz/Cargo.toml --target-dir $(TARGET_DIR) --locked --bins
	$(CARGO) test --manifest-path fuzz/Cargo.toml --target-dir $(TARGET_DIR) --locked

FUZZ_SECONDS ?= 60
# `none` works on stable; `address` (with LeakSanitizer, for -detect_leaks) needs
# -Zsanitizer, which stable accepts only with RUSTC_BOOTSTRAP=1, set here for it.
FUZZ_SANITIZER ?= none
CARGO_FUZZ_VERSION := 0.13.2
FUZZ_TARGETS := port_range cf_json kong_json cdap_json gobetween_json match_reference ffi_json

## Runs every fuzz target in turn for FUZZ_SECONDS each, with libFuzzer instrumentation on
## the stable toolchain. New inputs go to $(TARGET_DIR)/fuzz-corpus/<target>, crashes to
## fuzz/artifacts/<target>/.
fuzz:
	command -v cargo-fuzz >/dev/null 2>&1 || $(CARGO) install --locked cargo-fuzz --version $(CARGO_FUZZ_VERSION)
	for target in $(FUZZ_TARGETS); do \
		mkdir -p $(TARGET_DIR)/fuzz-corpus/$$target && \
		$(if $(filter none,$(FUZZ_SANITIZER)),,RUSTC_BOOTSTRAP=1) $(CARGO) fuzz run \
			--sanitizer $(FUZZ_SANITIZER) --target-dir $(TARGET_DIR) $$target \
			$(TARGET_DIR)/fuzz-corpus/$$target fuzz/corpus/$$target \
			-- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done

## Regenerates include/routeyard.h from the ffi crate.
header:
	RY_BLESS=1 $(CARGO) test --locked -p routeyard-ffi --test header
