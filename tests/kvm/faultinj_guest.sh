#!/usr/bin/env bash
# faultinj_guest.sh SITE MODE KNOBS MEMVISOR IMAGE [MEMVISOR-OPTIONS...] — one case of the kvm
# faultinj suite's guest part (tests/kvm/faultinj_guest.cmake): `memvisor run IMAGE OPTIONS
# --cmdline "scenario=faultinj SITE=KNOBS"`, then the shared verdict
# (tests/guest/faultinj_check.sh) on its output and status. With a balloon device (an option
# --balloon among OPTIONS, with a target above the workload's BALLOON_STEP) memvisor's end-of-run
# report must also show the device holding no page, `actual` 0 and no bad request (no page it
# was not given deflated, none twice, none over the target): the guest deflated everything and
# told the device only of pages it held.
set -uo pipefail

usage="usage: faultinj_guest.sh SITE MODE KNOBS MEMVISOR IMAGE [OPTIONS...]"
site=${1:?$usage} mode=${2:?$usage} knobs=${3:?$usage} memvisor=${4:?$usage} image=${5:?$usage}
shift 5
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp)
trap 'rm -f "$out"' EXIT

cmdline="scenario=faultinj $site=$knobs"
echo "--- memvisor run $image $* --cmdline \"$cmdline\""
"$memvisor" run "$image" "$@" --cmdline "$cmdline" >"$out" 2>&1
status=$?
cat "$out"
echo "--- status $status"
fails=0
"$here/../guest/faultinj_check.sh" "$site" "$mode" "$status" "$out" || fails=1
if [[ " $* " == *" --balloon"* ]]; then
	grep -qE '^ *virtio-balloon: target [0-9]+ pages, actual 0, held 0, .*bad requests: pfns 0, duplicates 0, not held 0, over target 0, malformed 0' "$out" || {
		echo "FAIL: memvisor's balloon device does not end with actual 0, held 0 and no bad request"
		fails=1
	}
fi
grep -qx 'memvisor: guest memory consistency check: ok' "$out" || {
	echo "FAIL: no 'memvisor: guest memory consistency check: ok'"
	fails=1
}
exit $fails
