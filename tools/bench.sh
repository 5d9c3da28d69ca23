#!/usr/bin/env bash
# Runs every benchmark (label bench) and writes the tables to build/bench/results.md.
#
# Installs the peers first (Debian 12, as root): malloc peers for the slab tables, Linux's maple
# tree and rbtree (built from linux-source-6.1 inside build/bench at this point, never committed)
# for the VMA tables. Release build, mm/ debug checks off, each benchmark pinned to CPU 0.
#
# Usage: tools/bench.sh [NAME-FILTER]   e.g. tools/bench.sh vma
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/lib/deps.sh

deps_install cmake ninja-build gcc make xz-utils libjemalloc-dev libmimalloc-dev \
	libtcmalloc-minimal4 linux-source-6.1 liburcu-dev

filter=${1:-}
cmake -S . -B build/bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=gcc \
      -DMV_BENCH=ON -DMV_MM_DEBUG=OFF >/dev/null
cmake --build build/bench -j "$(nproc)"

out=build/bench/results.md
{
	echo "# memvisor benchmarks — $(date -u +%Y-%m-%dT%H:%MZ)"
	echo
	echo "command: tools/bench.sh ${filter}"
	echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(uname -r)"
	echo "compiler: $(gcc --version | head -n1)"
} >"$out"
status=0
for b in build/bench/tests/bench/bench_*; do
	[ -x "$b" ] || continue
	case "$(basename "$b")" in *"$filter"*) ;; *) continue ;; esac
	echo "== $(basename "$b")" | tee -a "$out"
	taskset -c 0 "$b" 2>&1 | tee -a "$out" || status=1
done
echo
echo "tables written to $out"
exit $status
