#!/usr/bin/env bash
# The demo, as README.md gives it (Debian 12, as root): installs the build packages, builds
# memvisor and runs `memvisor selfcheck` — the mm/ library driven over two NUMA nodes (buddy,
# policies, numastat, slab, VMA tree, EPT stage-2) with every consistency checker.
# When the VMM core lands, this boots the default guest on 2 NUMA nodes instead (inside
# tools/sandbox where /dev/kvm is absent).
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/lib/deps.sh

deps_install cmake ninja-build gcc
cmake -S . -B build/demo -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=gcc >/dev/null
cmake --build build/demo --target memvisor -j "$(nproc)" >/dev/null
exec build/demo/vmm/memvisor selfcheck "$@"
