#!/usr/bin/env bash
# trace_check.sh MEMVISOR IMAGE PLOT DIR — `--trace` against a running memtest guest that swaps,
# is paged out and migrated: the JSON lines are well formed and consistent, the last sample is
# the end state (it equals --stats, written after it), and tools/plot-trace renders it.
set -uo pipefail
memvisor=$1 image=$2 plot=$3 dir=$4
trace=$dir/trace.jsonl stats=$dir/trace-stats.json swap=$dir/trace.swap png=$dir/trace.png
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err" "$swap"' EXIT
rm -f "$trace" "$stats" "$png"

fail() {
    echo "FAIL: $*"
    echo "---- stderr:"; cat "$err"; echo "---- trace (head):"; head -n 3 "$trace" 2>/dev/null
    exit 1
}

"$memvisor" run "$image" --cmdline memtest --cpus 2 --numa size=16M,budget=8M \
    --numa size=16M,budget=8M --swap "$swap" --balloon target=4M \
    --mem-request migrate,at=50,node=0,to=1 --mem-request page-out,at=150,node=1 \
    --stats "$stats" --trace "$trace,interval=20,progress=1" >"$out" 2>"$err"
rc=$?
[[ $rc == 1 ]] || fail "memvisor exit status $rc, expected 1 (guest exit code 0)"

python3 - "$trace" "$stats" <<'PY' || fail "the trace does not hold"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
stats = json.load(open(sys.argv[2]))
assert len(lines) >= 5, f"{len(lines)} samples, expected >= 5 at 20 ms"
prev = None
for s in lines:
    assert len(s["nodes"]) == 2, s
    assert s["balloon"]["num_pages"] == 1024, s["balloon"]
    for n in s["nodes"]:
        assert n["frames_used"] <= n["frames_total"] == 2048, n
    if prev:
        assert s["t_ms"] >= prev["t_ms"], (prev["t_ms"], s["t_ms"])
        for a, b in zip(prev["nodes"], s["nodes"]):
            for k in ("faults_zero", "swap_outs", "swap_ins", "migrations_in", "migrations_out"):
                assert b[k] >= a[k], f"{k} went down: {a[k]} -> {b[k]}"
    prev = s
last = lines[-1]
for a, b in zip(last["nodes"], stats["nodes"]):
    for k, v in a.items():
        assert b[k] == v, f"node {a['node']} {k}: last sample {v}, --stats {b[k]}"
assert sum(n["swap_outs"] for n in last["nodes"]) > 0, "nothing swapped out"
assert sum(n["migrations_in"] for n in last["nodes"]) > 0, "nothing migrated"
print(f"{len(lines)} samples over {last['t_ms']} ms; last sample == --stats")
PY
last_ms=$(tail -n 1 "$trace" | python3 -c 'import json,sys; print(json.load(sys.stdin)["t_ms"])')
if (( last_ms >= 1500 )); then
    grep -Eq '^memvisor: trace [0-9]+ s: node 0 [0-9]+/8192 KiB used, ' "$err" \
        || fail "a run of $last_ms ms printed no progress line"
fi
"$plot" "$trace" "$png" --title "memtest, 2 nodes, swap, migrate, page-out" || fail "plot-trace failed"
[[ $(head -c 8 "$png" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] || fail "$png is not a PNG"
echo "plot: $png ($(stat -c %s "$png") bytes)"
