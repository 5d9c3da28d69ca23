#!/usr/bin/env bash
# seccomp_check.sh MEMVISOR IMAGE CLIENT DIR — every long-lived thread of a running memvisor is
# under its seccomp filter (vmm/seccomp_filter.h) and the guest runs correctly under them.
#
# memvisor runs the memtest guest with every kind of thread: 2 vCPUs, a userfaultfd reader and
# the reclaimer (swap, half budgets), a balloon with a statistics timer, a pending --mem-request,
# and QMP. Once paused over QMP, /proc/PID/task/*/status must say "Seccomp: 2" (filter mode) for
# each named thread and 0 for the main thread; after cont the memtest must pass.
set -uo pipefail
memvisor=$1 image=$2 client=$3 dir=$4
# the socket lives in /tmp: a Unix socket cannot be bound on the sandbox's 9p export (ENXIO)
sockdir=$(mktemp -d /tmp/seccomp_check.XXXXXX)
sock=$sockdir/qmp.sock swap=$dir/seccomp.swap
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err" "$swap"; rm -rf "$sockdir"' EXIT

fail() {
    echo "FAIL: $*"
    echo "---- stdout:"; cat "$out"; echo "---- stderr:"; cat "$err"
    exit 1
}

"$memvisor" run "$image" --cmdline memtest --cpus 2 --numa size=16M,budget=8M \
    --numa size=16M,budget=8M --swap "$swap" --balloon stats-interval=1 \
    --mem-request page-out,at=600000,node=1 \
    --qmp "unix:$sock,server=on,wait=on" >"$out" 2>"$err" &
pid=$!
python3 "$client" --wait 60 "$sock" stop >/dev/null || fail "QMP stop failed"

declare -A mode
for task in /proc/$pid/task/*; do
    name=$(cat "$task/comm" 2>/dev/null) || continue
    m=$(sed -n 's/^Seccomp:[[:space:]]*//p' "$task/status" 2>/dev/null)
    echo "thread $(basename "$task") '$name': Seccomp $m"
    mode[$name]=$m
done
for name in vcpu0 vcpu1 uffd reclaim balloon-stats mem-request qmp; do
    [[ ${mode[$name]:-missing} == 2 ]] || fail "thread '$name' runs with Seccomp ${mode[$name]:-missing}, expected 2 (filtered)"
done
[[ ${mode[memvisor]:-missing} == 0 ]] || fail "the main thread runs with Seccomp ${mode[memvisor]:-missing}, expected 0"

python3 "$client" --wait 10 "$sock" cont >/dev/null || fail "QMP cont failed"
wait "$pid"; rc=$?
sed -i 's/\r$//' "$out"
[[ $rc == 1 ]] || fail "memvisor exit status $rc, expected 1 (guest exit code 0)"
grep -q "memvisor: seccomp:" "$err" && fail "a filter refused a call: $(grep "memvisor: seccomp:" "$err")"
for n in 0 1; do
    grep -Eq "^ok [0-9]+ - memtest node $n: [0-9]+ pages written and verified, 0 mismatches$" "$out" \
        || fail "node $n: no clean memtest line"
done
grep -qx "memvisor: guest memory consistency check: ok" "$err" || fail "consistency check did not pass"
echo "every thread filtered; memtest passed"
