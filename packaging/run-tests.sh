#!/usr/bin/env bash
# Installs dependencies, builds and runs every test:
#   1. release build: unit, fuzz-corpus replay and end-to-end tests
#   2. libFuzzer build (clang): each fuzz target for a short run
#   3. ASan+UBSan build: the whole suite again under the sanitizers
# Ends with ctest's summary line of the sanitizer run.
set -euo pipefail
cd "$(dirname "$0")/.."
./packaging/install-deps.sh
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
jobs="$(nproc)"

echo "== release build and tests"
./packaging/build.sh release
ctest --preset release -j"$jobs"

echo "== fuzz targets (libFuzzer, ${LF_FUZZ_SECONDS:-20} s each)"
cmake --preset fuzz -DLF_FUZZ_SECONDS="${LF_FUZZ_SECONDS:-20}" >/dev/null
cmake --build --preset fuzz -j"$jobs"
ctest --test-dir build/fuzz -L fuzz --output-on-failure

echo "== ASan+UBSan build and tests"
./packaging/build.sh debug
ctest --preset debug -j"$jobs"
