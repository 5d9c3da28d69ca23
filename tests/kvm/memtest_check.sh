#!/usr/bin/env bash
# memtest_check.sh — run the memtest guest under memvisor and hold the host's statistics against
# what the guest saw.
#
#   memtest_check.sh --stats JSON [--expect-swap] -- memvisor run memtest.elf ... --stats JSON
#
# Checks: exit status 1 (guest exit 0: every TAP check passed); one "ok ... memtest node I: ...
# 0 mismatches" line per node; and per node I, from the guest's "memtest: node I pages=P" line and
# the JSON written by --stats (strict policy, no migration, so node I's pages are in pool I or in
# swap):   P <= frames_used(I) + pages_swapped(I) <= frames_total(I) + pages_swapped(I)
# and frames_used(I) <= frames_total(I) (the budget). With --expect-swap every node must also
# have swapped out and back in (swap_outs > 0, swap_ins > 0). memvisor's own end-of-run
# consistency check (gmem_check: stage 2, pools, swap and host mappings agree) must pass.
set -uo pipefail

stats= expect_swap=
while [[ $# -gt 0 ]]; do
    case $1 in
    --stats) stats=$2; shift 2 ;;
    --expect-swap) expect_swap=1; shift ;;
    --) shift; break ;;
    *) echo "memtest_check.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
[[ -n $stats && $# -gt 0 ]] || { echo "memtest_check.sh: need --stats and a command" >&2; exit 2; }

. "$(dirname "$0")/stats_run.sh"

nodes=0
grep -E '^memtest: node [0-9]+ pages=[0-9]+$' "$out" >"$tmp"
while read -r _ _ node pages; do
    node=${node%%[^0-9]*} pages=${pages#pages=}
    grep -Eq "^ok [0-9]+ - memtest node $node: $pages pages written and verified, 0 mismatches$" "$out" \
        || fail "node $node: no clean memtest line for $pages pages"
    line=$(grep "\"node\": $node," "$stats") || fail "node $node: not in $stats"
    used=$(field frames_used "$line") total=$(field frames_total "$line")
    swapped=$(field pages_swapped "$line")
    outs=$(field swap_outs "$line") ins=$(field swap_ins "$line")
    held=$((used + swapped))
    echo "node $node: guest touched $pages pages; host: pool $used/$total frames used, $swapped pages in swap, $outs swap-outs, $ins swap-ins"
    (( pages <= held )) || fail "node $node: the guest touched $pages pages but the host holds only $held for it"
    (( used <= total )) || fail "node $node: $used frames used, budget is $total"
    (( held <= total + swapped )) || fail "node $node: inconsistent counts"
    if [[ -n $expect_swap ]]; then
        (( outs > 0 && ins > 0 )) || fail "node $node: expected pages to go to swap and come back"
    fi
    nodes=$((nodes + 1))
done <"$tmp"
(( nodes > 0 )) || fail "no 'memtest: node I pages=P' lines"
cat "$err" >&2
echo "ok: $nodes nodes verified against the host statistics"
