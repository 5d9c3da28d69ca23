#!/usr/bin/env bash
# faultinj_check.sh SITE MODE STATUS OUTPUT_FILE — the verdict of one guest fault-injection case
# (scenario=faultinj, guest/faultinj_test.c), shared by the QEMU cases (qemu_faultinj.sh) and the
# memvisor ones (tests/kvm/faultinj_guest.sh). STATUS is the process status ((code << 1) | 1 for
# a guest exit code), OUTPUT_FILE the guest's serial output.
#
# Never a wrong page: no pattern mismatch line, no process that read a wrong page, and the
# checks "every pattern intact" and "processes: ... 0 wrong" ok. The guest's documented outcome
# for every guest site is that the workload finishes (docs/fault-injection.md (guest sites): allocation
# failures are retried later, processes may die "out of memory"), so the status must be 1
# (MV_GUEST_EXIT_PASS) with the end-of-scenario checks present: free pages back, no OOM report.
# MODE once or always: the site's "# faultinj SITE calls N failures M" has M > 0 (the case
# cannot pass without the site firing); once: M == 1. MODE off: the site is not armed.
set -uo pipefail

usage="usage: faultinj_check.sh SITE once|1pct|always|off STATUS OUTPUT_FILE"
site=${1:?$usage} mode=${2:?$usage} status=${3:?$usage} file=${4:?$usage}
fails=0
fail() { echo "FAIL faultinj $site $mode: $*"; fails=$((fails + 1)); }
has() { grep -qE "$1" "$file" || fail "no line matching: $1"; }

# The wrong-page checks come first: they hold whatever the status.
grep -E 'does not hold its pattern|read back wrong|page table disagrees' "$file" \
	&& fail "a wrong page"
grep -qE '^not ok [0-9]+ - faultinj: (every pattern intact|processes:)' "$file" \
	&& fail "the integrity checks failed"

[ "$status" -eq 1 ] || fail "exit status $status, expected 1 (MV_GUEST_EXIT_PASS): the guest sites' documented outcome is a finished workload"
grep -q '^not ok' "$file" && fail "failed checks: $(grep '^not ok' "$file" | head -3)"
grep -q '^Bail out!' "$file" && fail "$(grep '^Bail out!' "$file")"
has '^ok [0-9]+ - faultinj: every CPU ran every kernel round$'
has '^ok [0-9]+ - faultinj: every pattern intact: [1-9][0-9]* verified, 0 wrong'
has '^ok [0-9]+ - faultinj: processes: .* 0 wrong$'
has '^ok [0-9]+ - faultinj: balloon'
free=$(grep -oE '^ok [0-9]+ - faultinj: free pages back to [0-9]+ \([0-9]+\)' "$file")
[[ $free =~ back\ to\ ([0-9]+)\ \(([0-9]+)\) && ${BASH_REMATCH[1]} == "${BASH_REMATCH[2]}" ]] \
	|| fail "free pages did not come back: '$free'"
has '^ok [0-9]+ - no unexpected out-of-memory report \(0\)$'
has '^1\.\.[0-9]+$'

counters=$(grep -E "^# faultinj $site calls [0-9]+ failures [0-9]+$" "$file")
failures=${counters##* }
case $mode in
off)
	[ -z "$counters" ] || fail "site $site reported counters but was not set"
	;;
once|always)
	[ -n "$counters" ] || fail "no '# faultinj $site calls N failures M' line"
	[ "${failures:-0}" -gt 0 ] || fail "site $site never fired ($counters): the case would pass vacuously"
	[ "$mode" != once ] || [ "${failures:-0}" -eq 1 ] || fail "times=1 but $failures failures"
	;;
1pct)
	[ -n "$counters" ] || fail "no '# faultinj $site calls N failures M' line"
	;;
*)
	echo "$usage" >&2; exit 2 ;;
esac
[ -z "$counters" ] || echo "checked: $counters"
[ "$fails" -eq 0 ] || exit 1
echo "faultinj $site $mode: ok"
