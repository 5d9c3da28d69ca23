#!/usr/bin/env bash
# trace_plot_check.sh PLOT DIR — tools/plot-trace renders a small synthetic two-node trace.
set -euo pipefail
plot=$1 dir=$2
trace=$dir/synthetic.jsonl png=$dir/synthetic.png
rm -f "$png"
python3 - "$trace" <<'PY'
import json, sys
keys = ("frames_used", "frames_total", "pages_swapped", "pages_ballooned", "faults_zero",
        "faults_swapin", "faults_minor", "faults_balloon", "swap_outs", "swap_ins",
        "migrations_in")
with open(sys.argv[1], "w") as f:
    for i in range(20):
        nodes = [dict({k: i * (n + 1) for k in keys}, node=n, frames_total=4096) for n in range(2)]
        f.write(json.dumps({"t_ms": i * 100, "nodes": nodes}) + "\n")
PY
"$plot" "$trace" "$png"
[[ $(head -c 8 "$png" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] || { echo "not a PNG"; exit 1; }
echo "ok: $(stat -c %s "$png") bytes"
