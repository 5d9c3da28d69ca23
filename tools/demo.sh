#!/usr/bin/env bash
# The demo, as README.md gives it (Debian 12, as root): installs the build packages, builds
# memvisor and the guest images, and boots the default image on 2 NUMA nodes with 2 vCPUs —
# directly where /dev/kvm exists, else inside the nested KVM sandbox (tools/sandbox, which
# installs its own packages). The guest prints its TAP checks and the NUMA topology it read from
# ACPI; memvisor then prints each guest node's host memory by host NUMA node. Guest node i is
# bound to host node i when the host (or the sandbox, which has 2) has that node.
# Extra arguments go to `memvisor run` (e.g. --cpus 4 --numa ...), replacing the default nodes.
# Exit status 0 when the guest reported success (it writes 0 to the exit port: memvisor's
# status 1, the QEMU isa-debug-exit convention); otherwise memvisor's status (docs/cli.md).
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/lib/deps.sh

deps_install cmake ninja-build gcc libseccomp-dev
cmake -S . -B build/demo -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=gcc >/dev/null
cmake --build build/demo --target memvisor image-default -j "$(nproc)" >/dev/null

run=(build/demo/vmm/memvisor run build/demo/images/default.elf --cpus 2 --memory-report)
if [[ $# -gt 0 ]]; then
    run+=("$@")
    script='exec "$@"'
else
    # Decided where the guest runs: the sandbox's host nodes are not this machine's.
    script='for n in 0 1; do
                b=; [ -d /sys/devices/system/node/node$n ] && b=,host-node=$n
                set -- "$@" --numa node=$n,size=64M,cpus=$n$b
            done
            exec "$@"'
fi
echo "demo: memvisor run default.elf, 2 NUMA nodes x 64 MiB, 2 vCPUs$([[ -e /dev/kvm ]] || echo ', inside the nested KVM sandbox')"
set +e
tools/sandbox --nodes 2 -- /bin/sh -c "$script" sh "${run[@]}"
status=$?
set -e
if [[ $status == 1 ]]; then
    echo "demo: the guest reported success (exit code 0 → memvisor status 1)"
    exit 0
fi
echo "demo: memvisor ended with status $status (docs/cli.md)" >&2
exit "$status"
