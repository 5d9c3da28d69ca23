#!/usr/bin/env bash
# qmp_check.sh — drive a running memtest guest over the QMP socket (docs/qmp.md) with
# tools/qmp-client and check every reply, then that the guest still finished correctly.
#
#   qmp_check.sh drive MEMVISOR IMAGE CLIENT DIR    stop, status, stats, page-out/in, bad input,
#                                                   set-budget, cpus, fault injection (a swap
#                                                   write fails a page-out, the count moves),
#                                                   cont; the guest must pass
#   qmp_check.sh quit MEMVISOR IMAGE CLIENT DIR     quit a running guest: reply, SHUTDOWN, status 0
#   qmp_check.sh oom MEMVISOR IMAGE CLIENT DIR      a budget the memtest outgrows without swap:
#                                                   MEMVISOR_OOM, SHUTDOWN host-error, status 10
#   qmp_check.sh migrate MEMVISOR IMAGE CLIENT DIR  stop at once, move node 0's pages to node 1's
#                                                   pool, query, cont: the memtest must pass on
#                                                   the moved pages
#   qmp_check.sh balloon MEMVISOR IMAGE CLIENT DIR  IMAGE = scenario-balloon: query-balloon, then
#                                                   "balloon" asks for 64 MiB back; the guest's
#                                                   driver inflates (BALLOON_CHANGE events), deflates,
#                                                   inflates again; the last event says 192 MiB
#   qmp_check.sh balloon_stats MEMVISOR IMAGE CLIENT DIR   IMAGE = scenario-balloon with
#                                                   --balloon stats-interval=1: qom-get/qom-set of
#                                                   guest-stats-polling-interval and bad paths, then
#                                                   qom-get guest-stats while the guest runs: the
#                                                   figures must be ones the guest's driver sent
#
# memvisor runs with --qmp ...,wait=on, so the guest starts when the client connects, and the
# client's first command (stop) comes before the memtest has done much. While the guest is paused
# node 1 is paged out and in (the counts must match: nothing runs to change them) and node 0's
# budget is halved; after cont the memtest verifies every page it wrote. No process substitution
# (the sandbox has no /dev/fd).
set -uo pipefail
mode=$1 memvisor=$2 image=$3 client=$4 dir=$5
# the socket lives in /tmp: a Unix socket cannot be bound on the sandbox's 9p export (ENXIO)
sockdir=$(mktemp -d /tmp/qmp_check.XXXXXX)
sock=$sockdir/qmp.sock swap=$dir/qmp-$mode.swap stats=$dir/qmp-$mode.json
out=$(mktemp) err=$(mktemp) replies=$(mktemp)
trap 'rm -f "$out" "$err" "$replies" "$swap"; rm -rf "$sockdir"' EXIT
rm -f "$stats"

fail() {
    echo "FAIL: $*"
    echo "---- replies:"; cat "$replies"; echo "---- stdout:"; cat "$out"; echo "---- stderr:"; cat "$err"
    exit 1
}
# line N of the replies without events
reply() { grep -v '^{"event"' "$replies" | sed -n "$1p"; }
expect() {      # expect N REGEX
    local got; got=$(reply "$1")
    [[ $got =~ $2 ]] || fail "reply $1: '$got' does not match '$2'"
}

if [[ $mode == oom ]]; then
    "$memvisor" run "$image" --cmdline memtest --numa size=16M,budget=4M \
        --qmp "unix:$sock,server=on,wait=on" >"$out" 2>"$err" &
elif [[ $mode == balloon_stats ]]; then
    "$memvisor" run "$image" --cmdline scenario=balloon --cpus 2 --numa size=128M,cpus=0 \
        --numa size=128M,cpus=1 --balloon target=64M,stats-interval=1 --stats "$stats" \
        --qmp "unix:$sock,server=on,wait=on" >"$out" 2>"$err" &
elif [[ $mode == migrate ]]; then
    # swap: node 1's pool lends frames to node 0's pages, so the memtest of node 1 needs it
    "$memvisor" run "$image" --cmdline memtest --cpus 2 --numa size=16M --numa size=16M \
        --swap "$swap" --stats "$stats" --qmp "unix:$sock,server=on,wait=on" >"$out" 2>"$err" &
elif [[ $mode == balloon ]]; then
    "$memvisor" run "$image" --cmdline scenario=balloon --cpus 2 --numa size=128M,cpus=0 \
        --numa size=128M,cpus=1 --balloon free-page-reporting=on --stats "$stats" \
        --qmp "unix:$sock,server=on,wait=on" >"$out" 2>"$err" &
else
    "$memvisor" run "$image" --cmdline memtest --cpus 2 --numa size=16M --numa size=16M --prefault \
        --swap "$swap" --stats "$stats" --qmp "unix:$sock,server=on,wait=on" >"$out" 2>"$err" &
fi
pid=$!

if [[ $mode == drive ]]; then
    python3 "$client" --wait 60 --events --drain "$sock" \
        stop -- query-status -- x-memvisor-query-memory -- \
        x-memvisor-page-out '{"node": 1}' -- x-memvisor-query-memory -- \
        --raw '{"execute": nonsense}' -- frobnicate -- \
        x-memvisor-page-out '{"node": "one"}' -- \
        x-memvisor-page-in '{"node": 1}' -- \
        x-memvisor-set-budget '{"node": 0, "size": 8388608}' -- \
        query-cpus-fast -- query-memory-size-summary -- \
        x-memvisor-fault-inject '{"site": "swap-write-eio", "times": 1}' -- \
        x-memvisor-page-out '{"node": 1}' -- x-memvisor-query-faults -- \
        x-memvisor-fault-inject '{"site": "swap-write-eio", "probability": 101}' -- \
        cont -- query-status >"$replies"
    crc=$?
    wait "$pid"; rc=$?
    sed -i 's/\r$//' "$out"
    [[ $crc == 1 ]] || fail "qmp-client exit status $crc, expected 1 (five commands failed)"
    expect 1 '^\{"return": \{\}\}$'
    expect 2 '^\{"return": \{"running": false, "status": "paused"\}\}$'
    expect 3 '"nodes": \[\{"node": 0, "size": 16777216, "frames_total": 4096, '
    expect 4 '^\{"return": \{"pages": [1-9][0-9]*\}\}$'
    out_pages=$(reply 4 | tr -dc 0-9)
    expect 5 '\{"node": 1, "size": 16777216, "frames_total": 4096, "frames_free": 4096, "frames_used": 0, "clusters_mapped": 0, "pages_swapped": '"$out_pages"','
    expect 6 '^\{"error": \{"class": "GenericError", "desc": "JSON parse error at offset 12: unexpected character .n."\}\}$'
    expect 7 '^\{"error": \{"class": "CommandNotFound", "desc": "The command frobnicate has not been found"\}\}$'
    expect 8 '^\{"error": \{"class": "GenericError", "desc": "Invalid parameter type for .node., expected: integer"\}\}$'
    expect 9 '^\{"return": \{"pages": '"$out_pages"'\}\}$'
    expect 10 '^\{"return": \{\}\}$'
    expect 11 '^\{"return": \[\{"cpu-index": 0, .*"thread-id": [1-9][0-9]*, "props": \{"node-id": 0, .*\{"cpu-index": 1, '
    expect 12 '^\{"return": \{"base-memory": 33554432, "plugged-memory": 0\}\}$'
    # fault injection over the socket: arm swap-write-eio once, the next page-out's first write
    # fails (the request fails, its clusters stay in memory, the guest goes on), the site's
    # failure count moves to 1, a bad knob is refused naming it
    expect 13 '^\{"return": \{\}\}$'
    expect 14 '^\{"error": \{"class": "GenericError", "desc": ".*write of 16 pages at slot [0-9]+: Input/output error \(injected\)"\}\}$'
    expect 15 '\{"site": "swap-write-eio", "probability": 100, "interval": 1, "times": 0, "space": 0, "verbose": 1, "calls": [1-9][0-9]*, "failures": 1\}'
    expect 16 '^\{"error": \{"class": "GenericError", "desc": "Parameter .probability.: 101 is not in 0..100"\}\}$'
    grep -q '^{"event": "MEMVISOR_SWAP_FAILURE", "data": {"desc": ".*Input/output error (injected)", "fatal": false}, ' "$replies" \
        || fail "no MEMVISOR_SWAP_FAILURE (fatal: false) event for the injected write failure"
    expect 17 '^\{"return": \{\}\}$'
    expect 18 '^\{"return": \{"running": true, "status": "running"\}\}$'
    grep -q '^{"event": "STOP", "timestamp": {"seconds": [0-9]*, "microseconds": [0-9]*}}$' "$replies" || fail "no STOP event"
    grep -q '^{"event": "RESUME", ' "$replies" || fail "no RESUME event"
    grep -q '^{"event": "SHUTDOWN", "data": {"guest": true, "reason": "guest-shutdown"}' "$replies" \
        || fail "no SHUTDOWN event when the guest ended"
    [[ $rc == 1 ]] || fail "memvisor exit status $rc, expected 1 (guest exit code 0)"
    grep -Eq '^ok [0-9]+ - memtest node 0: [0-9]+ pages written and verified, 0 mismatches$' "$out" || fail "node 0: no clean memtest line"
    grep -Eq '^ok [0-9]+ - memtest node 1: [0-9]+ pages written and verified, 0 mismatches$' "$out" || fail "node 1: no clean memtest line"
    grep -qx "memvisor: guest memory consistency check: ok" "$err" || fail "consistency check did not pass"
    line=$(grep '"node": 0,' "$stats") || fail "no node 0 in $stats"
    [[ $line == *'"frames_total": 2048,'* ]] || fail "node 0's budget is not the 8 MiB set over QMP: $line"
    [[ $line =~ \"swap_outs\":\ [1-9] ]] || fail "node 0 never swapped under its halved budget: $line"
elif [[ $mode == migrate ]]; then
    # Paused before the memtest starts: node 0 holds the boot's pages, node 1's pool is empty.
    python3 "$client" --wait 60 --events --drain "$sock" \
        stop -- x-memvisor-migrate '{"node": 0, "to": 1}' -- x-memvisor-query-memory -- \
        x-memvisor-migrate '{"node": 0}' -- cont >"$replies"
    crc=$?
    wait "$pid"; rc=$?
    sed -i 's/\r$//' "$out"
    [[ $crc == 1 ]] || fail "qmp-client exit status $crc, expected 1 (one command was bad)"
    expect 1 '^\{"return": \{\}\}$'
    expect 2 '^\{"return": \{"pages": [1-9][0-9]*\}\}$'
    moved=$(reply 2 | tr -dc 0-9)
    expect 3 '\{"node": 0, "size": 16777216, "frames_total": 4096, "frames_free": 4096, "frames_used": 0, '
    expect 3 '\{"node": 1, "size": 16777216, "frames_total": 4096, "frames_free": [0-9]+, "frames_used": '"$moved"', '
    expect 3 '"migrations_out": [1-9]'
    expect 4 '^\{"error": \{"class": "GenericError", "desc": "Parameter .to. is missing"\}\}$'
    expect 5 '^\{"return": \{\}\}$'
    [[ $rc == 1 ]] || fail "memvisor exit status $rc, expected 1 (guest exit code 0)"
    for n in 0 1; do
        grep -Eq "^ok [0-9]+ - memtest node $n: [0-9]+ pages written and verified, 0 mismatches$" "$out" \
            || fail "node $n: no clean memtest line"
    done
    grep -qx "memvisor: guest memory consistency check: ok" "$err" || fail "consistency check did not pass"
    line=$(grep '"node": 1,' "$stats") || fail "no node 1 in $stats"
    [[ $line =~ \"migrations_in\":\ [1-9] ]] || fail "node 1's pool took no migrated cluster: $line"
elif [[ $mode == balloon ]]; then
    # 256 MiB of RAM; "balloon" 192 MiB = keep 192, give 64 MiB (16384 pages) back.
    python3 "$client" --wait 60 --events --drain "$sock" \
        query-balloon -- balloon '{"value": 201326592}' >"$replies"
    crc=$?
    wait "$pid"; rc=$?
    sed -i 's/\r$//' "$out"
    [[ $crc == 0 ]] || fail "qmp-client exit status $crc, expected 0"
    expect 1 '^\{"return": \{"actual": 268435456\}\}$'
    expect 2 '^\{"return": \{\}\}$'
    [[ $rc == 1 ]] || fail "memvisor exit status $rc, expected 1 (guest exit code 0)"
    grep -Eq '^ok [0-9]+ - balloon: inflated to 16384 pages, actual 16384$' "$out" \
        || fail "the guest did not inflate to the 16384 pages asked over QMP"
    grep -Eq '^ok [0-9]+ - balloon: inflated again to 16384 pages, left inflated$' "$out" \
        || fail "the guest did not end inflated"
    grep -q '^{"event": "BALLOON_CHANGE", "data": {"actual": 268435456}, ' "$replies" \
        || fail "no BALLOON_CHANGE back to all 256 MiB after the deflate"
    last=$(grep '^{"event": "BALLOON_CHANGE"' "$replies" | tail -n 1)
    [[ $last == '{"event": "BALLOON_CHANGE", "data": {"actual": 201326592}, '* ]] \
        || fail "the last BALLOON_CHANGE is not 192 MiB: $last"
    grep -qx "memvisor: guest memory consistency check: ok" "$err" || fail "consistency check did not pass"
    line=$(grep '"node": 0,' "$stats") || fail "no node 0 in $stats"
    [[ $line =~ \"pages_ballooned\":\ [1-9] ]] || fail "node 0 holds no ballooned pages: $line"
elif [[ $mode == balloon_stats ]]; then
    path='"path": "/machine/peripheral/balloon0"'
    # one connection (a new python per read is too slow in the nested sandbox): the interval,
    # bad requests, then guest-stats every 0.2 s while the guest runs (the connection ends
    # with memvisor: qmp-client then exits 2)
    stats_reads=()
    for _ in $(seq 150); do
        stats_reads+=(-- --sleep 0.2 -- qom-get "{$path, \"property\": \"guest-stats\"}")
    done
    python3 "$client" --wait 60 "$sock" \
        qom-get "{$path, \"property\": \"guest-stats-polling-interval\"}" -- \
        qom-set "{$path, \"property\": \"guest-stats-polling-interval\", \"value\": 3601}" -- \
        qom-get '{"path": "/machine/peripheral/balloon1", "property": "guest-stats"}' -- \
        qom-set "{$path, \"property\": \"guest-stats-polling-interval\", \"value\": 1}" \
        "${stats_reads[@]}" >"$replies"
    crc=$?
    [[ $crc == 1 || $crc == 2 ]] || fail "qmp-client exit status $crc, expected 1 (two commands were bad) or 2 (memvisor ended first)"
    expect 1 '^\{"return": 1\}$'
    expect 2 '^\{"error": \{"class": "GenericError", "desc": "guest-stats-polling-interval 3601 is above 3600 s"\}\}$'
    expect 3 '^\{"error": \{"class": "DeviceNotFound", "desc": "Device ./machine/peripheral/balloon1. not found"\}\}$'
    expect 4 '^\{"return": \{\}\}$'
    wait "$pid"; rc=$?
    sed -i 's/\r$//' "$out"
    last=$(grep '"last-update": [1-9]' "$replies" | tail -n 1)
    [[ $rc == 1 ]] || fail "memvisor exit status $rc, expected 1 (guest exit code 0)"
    [[ -n $last ]] || fail "no guest-stats reply with a report while the guest ran"
    [[ $last =~ ^\{\"return\":\ \{\"stats\":\ \{\"stat-swap-in\":\ 0,\ \"stat-swap-out\":\ 0,\ \"stat-major-faults\":\ 0,\ \"stat-minor-faults\":\ [0-9]+,\ \"stat-free-memory\":\ ([0-9]+),\ \"stat-total-memory\":\ ([0-9]+),\ \"stat-available-memory\":\ ([0-9]+),\ \"stat-disk-caches\":\ 0,\ \"stat-htlb-pgalloc\":\ 18446744073709551615,\ \"stat-htlb-pgfail\":\ 18446744073709551615\},\ \"last-update\":\ [1-9][0-9]*\}\}$ ]] \
        || fail "guest-stats is not QEMU's shape with the driver's tags: $last"
    free=${BASH_REMATCH[1]} total=${BASH_REMATCH[2]} avail=${BASH_REMATCH[3]}
    room=$(sed -nE 's/^ok [0-9]+ - balloon: device [0-9]+ ready .*room for ([0-9]+) pages$/\1/p' "$out")
    [[ -n $room ]] || fail "no 'room for N pages' line from the guest"
    (( total == room * 4096 )) || fail "stat-total-memory $total is not the guest's $room pages"
    (( avail == free )) || fail "stat-available-memory $avail is not the free memory $free"
    grep -Eq "^# balloon: stats #[0-9]+: free=$free total=$total " "$out" \
        || fail "stat-free-memory $free is not a figure the guest's driver sent"
    grep -Eq '^ok [0-9]+ - balloon: the device asked for statistics [1-9][0-9]* times, each answered ' "$out" \
        || fail "the guest's driver answered no statistics request"
    grep -qx "memvisor: guest memory consistency check: ok" "$err" || fail "consistency check did not pass"
    echo "guest-stats: free $free of $total bytes ($room pages)"
elif [[ $mode == oom ]]; then
    python3 "$client" --wait 60 --events --drain "$sock" query-status >"$replies"
    crc=$?
    wait "$pid"; rc=$?
    [[ $crc == 0 ]] || fail "qmp-client exit status $crc, expected 0"
    expect 1 '^\{"return": \{"running": true, "status": "running"\}\}$'
    grep -q '^{"event": "MEMVISOR_OOM", "data": {"desc": "node 0: host memory budget (4096 KiB) is used up and nothing can be evicted (no host swap: give --swap)", "fatal": true}, "timestamp": ' "$replies" \
        || fail "no MEMVISOR_OOM event naming the budget"
    grep -q '^{"event": "SHUTDOWN", "data": {"guest": false, "reason": "host-error"}' "$replies" \
        || fail "no SHUTDOWN host-error event"
    [[ $rc == 10 ]] || fail "memvisor exit status $rc, expected 10"
else
    python3 "$client" --wait 60 --events --drain "$sock" quit >"$replies"
    crc=$?
    wait "$pid"; rc=$?
    [[ $crc == 0 ]] || fail "qmp-client exit status $crc, expected 0"
    expect 1 '^\{"return": \{\}\}$'
    grep -q '^{"event": "SHUTDOWN", "data": {"guest": false, "reason": "host-qmp-quit"}, "timestamp": ' "$replies" \
        || fail "no SHUTDOWN event after quit"
    [[ $rc == 0 ]] || fail "memvisor exit status $rc, expected 0 after quit"
    grep -qx "memvisor: quit requested over QMP" "$err" || fail "no quit message"
    grep -qx "memvisor: guest memory consistency check: ok" "$err" || fail "consistency check did not pass"
    [[ ! -e $sock ]] || fail "the socket $sock is left behind"
fi
cat "$replies"
echo "ok: $mode"
