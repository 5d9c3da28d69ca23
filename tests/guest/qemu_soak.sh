#!/usr/bin/env bash
# qemu_soak.sh CASE IMAGES_DIR — ctest cases guest.qemu.soak_<CASE> (label host): scenario=soak
# (guest/soak.c) under QEMU TCG on microvm with QEMU's virtio-balloon (deflate-on-OOM), 2 CPUs,
# 256 MiB: quick iteration for the guest half of tools/soak (which runs it under memvisor with
# the host driven over QMP; QEMU's balloon target stays 0 here, so the driver follows 0).
#
#   short         soak_seconds=8: the progress comment, every TAP line ok, every pattern intact
#                 with 0 mismatches, rounds > 0, processes exited 0, free pages back, exit PASS
#   guest_faults  the same with the guest's sites at 2% (fail_page_alloc, failslab): the sites
#                 fired, processes may be killed out of memory, still 0 mismatches and PASS
#   bad_seconds   soak_seconds=0: a failed check naming the option, the soak not run, exit FAIL
#   outside       soak_seconds=5 with scenario=slab: a failed check, exit FAIL
set -uo pipefail

usage="usage: qemu_soak.sh CASE IMAGES_DIR"
case=${1:?$usage}
images=${2:?$usage}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../tools/lib/deps.sh"
deps_install qemu-system-x86 || exit 1
out=$(mktemp)
trap 'rm -f "$out"' EXIT

fails=0
fail() { echo "FAIL soak_$case: $*"; fails=$((fails + 1)); }

boot() {        # boot CMDLINE: $out, $status
	timeout 100 qemu-system-x86_64 -accel tcg -nodefaults -no-reboot -display none \
		-monitor none -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
		-kernel "$images/scenario-soak.elf" -append "$1" \
		-machine microvm,acpi=on,rtc=off,pit=off,pic=off -smp 2 -m 256 \
		-global virtio-mmio.force-legacy=false -device virtio-balloon-device,deflate-on-oom=on \
		</dev/null >"$out" 2>&1
	status=$?
	echo "--- serial output (status $status), command line: $1"
	grep -v '^ok [0-9]* - pid ' "$out"      # the stress processes' own lines: many, all alike
	echo "---"
}

passed() {      # the verdict tools/soak applies to the guest's side
	[ "$status" -eq 1 ] || fail "exit status $status, expected 1 (MV_GUEST_EXIT_PASS)"
	grep -q '^not ok' "$out" && fail "a check failed"
	grep -qE '^1\.\.[0-9]+$' "$out" || fail "no TAP plan line"
	grep -qE '^ok [0-9]+ - soak: every pattern intact: [1-9][0-9]* held-block and [1-9][0-9]* kernel-allocation checks, 0 mismatches' "$out" \
		|| fail "no 'every pattern intact ... 0 mismatches' line"
	grep -qE '^ok [0-9]+ - soak: every CPU ran every one of the [1-9][0-9]* rounds' "$out" \
		|| fail "no rounds, or not every CPU ran them"
	grep -qE '^# soak: [0-9]+ s: [1-9][0-9]* rounds, [0-9]+ patterns verified, 0 mismatches' "$out" \
		|| fail "no progress comment"
	grep -qE '^ok [0-9]+ - soak: free pages back to ([0-9]+) \(\1\)' "$out" || fail "free pages not back"
}

case $case in
short)
	boot "scenario=soak soak_seconds=8"
	passed
	grep -qE '^ok [0-9]+ - soak: processes: ([1-9][0-9]*) of \1 created exited 0 with their checks passed, 0 killed out of memory, 0 not created; 0 wrong$' "$out" \
		|| fail "not every process exited 0"
	;;
guest_faults)
	boot "scenario=soak soak_seconds=8 fail_page_alloc=1,2,0,-1 failslab=1,2,0,-1 fault_verbose=0"
	passed
	for s in fail_page_alloc failslab; do
		grep -qE "^# faultinj $s calls [0-9]+ failures [1-9][0-9]*$" "$out" || fail "$s never fired"
	done
	;;
bad_seconds)
	boot "scenario=soak soak_seconds=0"
	[ "$status" -eq 3 ] || fail "exit status $status, expected 3 (MV_GUEST_EXIT_FAIL)"
	grep -qE '^not ok [0-9]+ - soak: soak_seconds=0 is 1\.\.86400 seconds$' "$out" \
		|| fail "no failed check naming the option"
	grep -qxF '# scenario soak: not run (bad soak_seconds=)' "$out" || fail "the soak ran anyway"
	;;
outside)
	boot "scenario=slab soak_seconds=5"
	[ "$status" -eq 3 ] || fail "exit status $status, expected 3 (MV_GUEST_EXIT_FAIL)"
	grep -qE "^not ok [0-9]+ - option 'soak_seconds=' comes with 'scenario=soak'$" "$out" \
		|| fail "no failed check for the option outside scenario=soak"
	;;
*)
	echo "$usage" >&2; exit 2 ;;
esac
[ "$fails" -eq 0 ] || exit 1
echo "ok soak_$case"
