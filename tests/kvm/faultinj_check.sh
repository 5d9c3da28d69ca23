#!/usr/bin/env bash
# faultinj_check.sh — one case of the faultinj suite: run the memtest guest under memvisor with a
# host fault-injection site armed, and hold the outcome to docs/fault-injection.md.
#
#   faultinj_check.sh --site SITE [--must-inject] [--expect-ok] [--stop-re REGEX] [--remove F]...
#                     -- memvisor run memtest.elf ... --fault-inject SITE,...
#
# --remove F: delete F (the case's swap file) when done.
#
# Pass when either
#   the workload finished: exit status 1 (guest exit 0), an "ok ... memtest node I: P pages
#   written and verified, 0 mismatches" line for every node tested, no "not ok" line, and
#   memvisor's end-of-run consistency check passed; or
#   memvisor stopped (not with --expect-ok): exit status 10 and a line
#   "memvisor: guest memory: ..." matching REGEX and saying "(injected)".
# Never: a "not ok" memtest line (a wrong page: the guest read back what it did not write).
# --must-inject (the once and always cases): the site's failure count must be above 0 — from
# the end-of-run line "fault injection: SITE: ... failures N", or, when the VM stopped before
# the statistics, the verbose lines "memvisor: fault injection: SITE: ..." — so a case cannot
# pass without the fault having happened.
set -uo pipefail

site= must= expect_ok= stop_re= remove=()
while [[ $# -gt 0 ]]; do
    case $1 in
    --site) site=$2; shift 2 ;;
    --must-inject) must=1; shift ;;
    --expect-ok) expect_ok=1; shift ;;
    --stop-re) stop_re=$2; shift 2 ;;
    --remove) remove+=("$2"); shift 2 ;;
    --) shift; break ;;
    *) echo "faultinj_check.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
[[ -n $site && $# -gt 0 ]] || { echo "faultinj_check.sh: need --site and a command" >&2; exit 2; }

out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err" "${remove[@]}"' EXIT
"$@" >"$out" 2>"$err"
rc=$?
sed -i 's/\r$//' "$out"          # the guest's serial lines end in CR LF

fail() {
    echo "FAIL ($site, exit status $rc): $*"
    echo "---- stdout:"; cat "$out"; echo "---- stderr:"; cat "$err"
    exit 1
}

grep -E '^not ok .*memtest' "$out" && fail "the guest read back a wrong page (a checksum mismatch)"

if [[ $rc == 1 ]]; then
    oks=$(grep -cE '^ok [0-9]+ - memtest node [0-9]+: [0-9]+ pages written and verified, 0 mismatches$' "$out")
    nodes=$(grep -cE '^memtest: node [0-9]+ pages=[0-9]+$' "$out")
    (( nodes > 0 && oks == nodes )) || fail "$oks clean memtest lines for $nodes nodes"
    grep -q '^not ok' "$out" && fail "a guest check failed"
    grep -qx "memvisor: guest memory consistency check: ok" "$err" \
        || fail "memvisor's end-of-run consistency check did not pass"
    result="finished, $nodes nodes verified"
elif [[ $rc == 10 && -z $expect_ok && -n $stop_re ]]; then
    line=$(grep -E "^memvisor: guest memory: .*($stop_re)" "$err" | head -1)
    [[ -n $line ]] || fail "stopped, but no 'memvisor: guest memory: ...' line matches /$stop_re/"
    [[ $line == *"(injected)"* ]] || fail "the stop line does not say (injected): $line"
    result="stopped: ${line#memvisor: guest memory: }"
else
    fail "exit status $rc: expected 1 (workload finished)${expect_ok:+}${stop_re:+ or 10 (documented stop)}"
fi

failures=$(sed -nE "s/^  fault injection: $site: .*failures ([0-9]+)$/\1/p" "$err" | tail -1)
[[ -n $failures ]] || failures=$(grep -c "^memvisor: fault injection: $site: " "$err")
if [[ -n $must ]] && (( failures == 0 )); then
    fail "site $site never failed: the case tested nothing"
fi
echo "ok: $site: $result; failures injected: $failures"
