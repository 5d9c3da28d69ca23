#!/usr/bin/env bash
# qemu_faultinj.sh CASE IMAGES_DIR — ctest cases guest.qemu.faultinj_<CASE> (label host): the
# guest's fault-injection sites (guest/faultinj.c) under QEMU TCG, booting
# images/scenario-faultinj.elf with the sites on its command line. Quick iteration for what the
# kvm faultinj suite (tests/kvm/faultinj_guest.cmake) runs under memvisor.
#
#   SITE_MODE   SITE page_alloc (fail_page_alloc), slab (failslab) or balloon (fail_balloon);
#               MODE once (1,100,0,1), 1pct (1,1,0,-1) or always (1,100,0,-1). q35, 2 nodes x
#               128 MiB, 2 CPUs; balloon: microvm, 128 MiB, 2 CPUs, QEMU's virtio-balloon.
#               Verdict: tests/guest/faultinj_check.sh (every pattern intact, the workload
#               finished, free pages back, the site fired in once/always). page_alloc_always
#               also checks the verbose lines are thinned (at most 10 + log2(failures) + 1).
#   mixed       all three sites at once (fail_page_alloc 5%, failslab 8%, fail_balloon 30%,
#               fault_seed=5) on microvm with 4 CPUs: every CPU's kernel rounds fail at once,
#               processes die out of memory or see -ENOMEM; the same verdict for each site
#   none        no site set: the workload alone passes (the baseline the others are held to)
#   bad_knobs   fail_page_alloc=1,200,0,1: a failed check naming the option, exit FAIL, the
#               site not armed
#   outside     failslab=1,100,0,1 with scenario=slab: a failed check (the options come with
#               scenario=faultinj), exit FAIL
set -uo pipefail

usage="usage: qemu_faultinj.sh CASE IMAGES_DIR"
case=${1:?$usage}
images=${2:?$usage}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../tools/lib/deps.sh"
deps_install qemu-system-x86 || exit 1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fails=0
fail() { echo "FAIL faultinj_$case: $*"; fails=$((fails + 1)); }

q35=(-machine q35 -smp 2 -m 256 -object memory-backend-ram,id=m0,size=128M
     -object memory-backend-ram,id=m1,size=128M -numa node,nodeid=0,cpus=0,memdev=m0
     -numa node,nodeid=1,cpus=1,memdev=m1 -numa dist,src=0,dst=1,val=20)
microvm=(-machine microvm,acpi=on,rtc=off,pit=off,pic=off -smp 2 -m 128
	 -global virtio-mmio.force-legacy=false -device virtio-balloon-device,deflate-on-oom=on)

boot() {        # boot CMDLINE QEMU-ARGS...: $work/out, $status
	local cmdline=$1
	shift
	timeout 120 qemu-system-x86_64 -accel tcg -nodefaults -no-reboot -display none \
		-monitor none -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
		-kernel "$images/scenario-faultinj.elf" -append "$cmdline" "$@" \
		</dev/null >"$work/out" 2>&1
	status=$?
	echo "--- serial output (status $status), command line: $cmdline"
	cat "$work/out"
	echo "---"
}

declare -A option=([page_alloc]=fail_page_alloc [slab]=failslab [balloon]=fail_balloon)
declare -A knobs=([once]=1,100,0,1 [1pct]=1,1,0,-1 [always]=1,100,0,-1)

case $case in
none)
	boot "scenario=faultinj" "${q35[@]}"
	"$here/faultinj_check.sh" fail_page_alloc off "$status" "$work/out" || fails=$((fails + 1))
	;;
mixed)
	boot "scenario=faultinj fail_page_alloc=1,5,0,-1 failslab=1,8,0,-1 fail_balloon=1,30,0,-1 fault_seed=5" \
		"${microvm[@]}" -smp 4
	for o in fail_page_alloc failslab fail_balloon; do
		"$here/faultinj_check.sh" "$o" 1pct "$status" "$work/out" || fails=$((fails + 1))
	done
	;;
bad_knobs)
	boot "scenario=faultinj fail_page_alloc=1,200,0,1" "${q35[@]}"
	[ "$status" -eq 3 ] || fail "exit status $status, expected 3 (MV_GUEST_EXIT_FAIL)"
	grep -qxF 'not ok 7 - faultinj: fail_page_alloc=1,200,0,1 is <interval>,<probability>,<space>,<times>' "$work/out" \
		|| fail "no failed check naming the option"
	grep -q '^# mm: .*probability is not a percentage' "$work/out" \
		|| fail "mm/fault_attr did not say which field is wrong"
	grep -q '^# faultinj: fail_page_alloc armed' "$work/out" && fail "the bad site was armed"
	;;
outside)
	boot "scenario=slab failslab=1,100,0,1" "${q35[@]}"
	[ "$status" -eq 3 ] || fail "exit status $status, expected 3 (MV_GUEST_EXIT_FAIL)"
	grep -qE "^not ok [0-9]+ - fault-injection options \(fail_page_alloc=, failslab=, fail_balloon=\) come with 'scenario=faultinj' or 'scenario=soak'$" "$work/out" \
		|| fail "no failed check for the options outside scenario=faultinj"
	;;
*_*)
	site=${case%_*} mode=${case##*_}
	[ -n "${option[$site]:-}" ] && [ -n "${knobs[$mode]:-}" ] || { echo "$usage" >&2; exit 2; }
	if [ "$site" = balloon ]; then
		boot "scenario=faultinj ${option[$site]}=${knobs[$mode]}" "${microvm[@]}"
		grep -q '^# faultinj: balloon device found' "$work/out" || fail "no balloon device found"
	else
		boot "scenario=faultinj ${option[$site]}=${knobs[$mode]}" "${q35[@]}"
	fi
	"$here/faultinj_check.sh" "${option[$site]}" "$mode" "$status" "$work/out" || fails=$((fails + 1))
	if [ "$case" = page_alloc_always ]; then
		n=$(grep -cE '^# faultinj: fail_page_alloc: failing ' "$work/out")
		f=$(grep -oE '^# faultinj fail_page_alloc calls [0-9]+ failures [0-9]+$' "$work/out" | awk '{print $NF}')
		lg=0; while [ $((1 << (lg + 1))) -le "${f:-0}" ]; do lg=$((lg + 1)); done
		[ "$n" -ge 10 ] && [ "$n" -le $((10 + lg + 1)) ] \
			|| fail "$n verbose lines for $f failures: expected 10 plus one per power of two"
	fi
	;;
*)
	echo "$usage" >&2; exit 2 ;;
esac
[ "$fails" -eq 0 ] || exit 1
echo "ok faultinj_$case"
