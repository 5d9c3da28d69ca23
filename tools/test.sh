#!/usr/bin/env bash
# The whole test suite, as README.md and .ci/run call it (Debian 12, as root).
#
# 1. installs the Debian packages the build and the tests need (only those missing);
# 2. builds with clang + AddressSanitizer + UndefinedBehaviorSanitizer + libFuzzer targets and runs
#    every ctest case except benchmarks (labels unit, fuzz, ...);
# 3. builds with gcc -Werror (the other compiler the guest and VMM are built with) and runs the
#    unit tests there too;
# 4. builds the host engine tests (ctest label `engine`, target engine_tests: the binaries listed
#    in MV_ENGINE_TESTS in cmake/memvisor.cmake) with clang + ThreadSanitizer and runs exactly
#    those cases, with the suppressions in tests/tsan.supp (about 2 minutes on 2 idle cores);
# 5. runs every ctest case except benchmarks in the clang build of step 2.
#
# Environment: MV_FUZZ_SECONDS (default 30: 11 fuzzers on the 2-core CI machine keep the suite
# under 20 minutes; set more for a deeper run) bounds each fuzzer; MV_JOBS (default nproc).
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/lib/deps.sh

deps_install cmake ninja-build clang libclang-rt-14-dev llvm gcc binutils acpica-tools \
             qemu-system-x86 libseccomp-dev gnuplot-nox

jobs=${MV_JOBS:-$(nproc)}
fuzz_seconds=${MV_FUZZ_SECONDS:-30}

echo "== clang + ASan + UBSan + fuzzers (build/test-clang)"
cmake -S . -B build/test-clang -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_C_COMPILER=clang -DMV_ASAN=ON -DMV_UBSAN=ON -DMV_WERROR=ON \
      -DMV_FUZZ=ON -DMV_FUZZ_SECONDS="$fuzz_seconds" >/dev/null
cmake --build build/test-clang -j "$jobs"

echo "== gcc -Werror (build/test-gcc)"
cmake -S . -B build/test-gcc -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_C_COMPILER=gcc -DMV_WERROR=ON >/dev/null
cmake --build build/test-gcc -j "$jobs"
ctest --test-dir build/test-gcc -L unit --output-on-failure -j "$jobs" >build/test-gcc/ctest.log \
  || { cat build/test-gcc/ctest.log; exit 1; }
tail -n 3 build/test-gcc/ctest.log

echo "== clang + ThreadSanitizer: the host engine tests, label engine (build/test-tsan)"
cmake -S . -B build/test-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_C_COMPILER=clang -DMV_TSAN=ON -DMV_WERROR=ON >/dev/null
cmake --build build/test-tsan -j "$jobs" --target engine_tests
echo "cases per binary:" $(ctest --test-dir build/test-tsan -L engine -N |
      sed -n 's/^ *Test *#[0-9]*: \([a-z_]*\)\..*/\1/p' | uniq -c | awk '{print $2 "=" $1}')
ctest --test-dir build/test-tsan -L engine --output-on-failure -j "$jobs" \
      >build/test-tsan/ctest.log || { cat build/test-tsan/ctest.log; exit 1; }
grep -E 'tests passed|Total Test time' build/test-tsan/ctest.log

echo "== every test case except benchmarks (clang build)"
ctest --test-dir build/test-clang -LE bench --output-on-failure -j "$jobs"
