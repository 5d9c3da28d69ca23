#!/usr/bin/env bash
# balloon_check.sh — run scenario=balloon (guest/balloon.c) under memvisor with --balloon and
# hold the host's per-node statistics against what the guest's driver left in the balloon.
#
#   balloon_check.sh --stats JSON --pages N -- memvisor run scenario-balloon.elf ... --balloon
#                    target=SIZE,... --stats JSON
#
# Checks: exit status 1 (every guest TAP check passed: inflated to the target, free pages fell
# by as much, free page reports used, a memory hog served by deflate-on-OOM, deflated back,
# inflated again; ring-3 processes and slab work on the other CPUs during the inflate and the
# deflate, with process iterations ending while the balloon changed; the pattern on
# 512 held pages of both nodes intact after both); memvisor's end-of-run
# consistency check; the guest's final "balloon: node K pages=P" lines sum to N (the target in
# pages); and for every node, the host's pages_ballooned equals P. The guest inflates in 64 KiB
# blocks (memvisor's default cluster), so every ballooned page lies in a whole cluster the host
# gave back: equality, no slack.
set -uo pipefail

stats= want=
while [[ $# -gt 0 ]]; do
    case $1 in
    --stats) stats=$2; shift 2 ;;
    --pages) want=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "balloon_check.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
[[ -n $stats && -n $want && $# -gt 0 ]] || { echo "balloon_check.sh: need --stats, --pages and a command" >&2; exit 2; }

. "$(dirname "$0")/stats_run.sh"
grep -Eq "^ok [0-9]+ - balloon: inflated to $want pages, actual $want$" "$out" \
    || fail "the guest did not inflate to $want pages"
grep -Eq "^ok [0-9]+ - balloon: [0-9]+ free blocks of 2048 KiB reported and used by the device$" "$out" \
    || fail "no free page report used by the device"
grep -Eq "^ok [0-9]+ - balloon: a memory hog past free memory is served by deflate-on-OOM \([0-9]+ pages back, no OOM report\)$" "$out" \
    || fail "deflate-on-OOM did not serve the memory hog (give --balloon ...,deflate-on-oom=on)"
grep -Eq "^ok [0-9]+ - balloon: inflated again to $want pages, left inflated$" "$out" \
    || fail "the guest did not end inflated"
for what in inflated deflated; do
    grep -Eq "^ok [0-9]+ - balloon: workloads kept running on the [1-9][0-9]* other CPUs while the balloon $what, every pattern intact$" "$out" \
        || fail "no workload on the other CPUs while the balloon $what"
    grep -Eq "^ok [0-9]+ - balloon: ring-3 processes kept running on [1-9][0-9]* CPUs while the balloon $what: [1-9][0-9]* exited 0 with every pattern intact, [1-9][0-9]* of their [1-9][0-9]* iterations ended meanwhile \([0-9]+ ring-3 page faults\)$" "$out" \
        || fail "no process iterations ended while the balloon $what"
    grep -Eq "^# balloon: cpu [0-9]+ ran slab while the balloon $what: " "$out" \
        || fail "no slab workload while the balloon $what (give the guest 3 CPUs)"
done
grep -Eq '^ok [0-9]+ - balloon: 512 pages filled with a per-page pattern \(node 0: [1-9][0-9]*, node 1: [1-9][0-9]*\) before inflating$' "$out" \
    || fail "the pattern pages are not spread over both nodes"
for what in inflating deflating; do
    grep -Eq "^ok [0-9]+ - balloon: the pattern on the 512 pages not ballooned is intact after $what \(0 words changed\)$" "$out" \
        || fail "the pattern on the held pages was not checked intact after $what"
done

sum=0
# The "balloon: node" lines after the final inflation are the state the host must show.
sed -n '/balloon: inflated again to/,$p' "$out" | grep -E '^balloon: node [0-9]+ pages=[0-9]+$' >"$tmp"
[[ -s $tmp ]] || fail "no 'balloon: node N pages=P' lines after the final inflation"
while read -r _ _ node pages; do
    pages=${pages#pages=}
    j=$(grep "\"node\": $node," "$stats") || fail "node $node not in $stats"
    host=$(field pages_ballooned "$j")
    [[ -n $host ]] || fail "pages_ballooned missing for node $node in $stats"
    echo "node $node: guest ballooned $pages pages, host holds $host as ballooned"
    (( host == pages )) || fail "node $node: the guest ballooned $pages pages, the host counts $host"
    sum=$((sum + pages))
done <"$tmp"
(( sum == want )) || fail "the guest's per-node figures add up to $sum, not $want"
cat "$err" >&2
echo "ok: $want pages ballooned, per node as the guest says"
