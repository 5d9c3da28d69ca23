#!/usr/bin/env bash
# qemu_proc.sh SCENARIO IMAGES_DIR [tcg|kvm] — ctest cases guest.qemu.scenario_<SCENARIO> for the
# process scenarios (guest/proctest.c): boot images/scenario-<SCENARIO>.elf under QEMU (PVH via
# -kernel; 2 nodes x 128 MiB, one CPU each) and check the serial output:
#   every scenario  exit status 1 (MV_GUEST_EXIT_PASS; QEMU makes it (code << 1) | 1), a TAP
#                   plan, no "not ok", "proc: free pages back to F (F)" with equal numbers
#   vma             the program's maps checks passed (at least 9 "maps ... VMAs as expected")
#   fault           the kernel counted the program's 112 faults (104 + 8 under set_mempolicy)
#   stack           two kill lines: the stack at its limit, and stopped by the guard gap
#                   above a mapping; then hello exits 42
#   segv            one kill line per bad access, each naming the address, VMA and reason,
#                   then hello exits 42 (the kernel carried on)
#   shared          MAP_SHARED | MAP_ANONYMOUS across a fork: the child's writes reach the
#                   parent's shared pages only
#   interleave      six processes switching at sched_yield, each reads its own data at the
#                   same addresses; the scheduler switched between them
#   churn           three seeds of 4000 random operations each agreed with the program's model
#   cow             the child's copy counts, wait's exit status and the killed child's SIGSEGV
#   mbind           mbind's errors, four ranges placed by bind/interleave/bind/the process
#                   policy (the program's rss per node and the kernel's walk), the policies in
#                   the maps dump, MPOL_DEFAULT merging the VMAs back
#   stress          3 processes per CPU on both CPUs at once, preempted by the tick: each
#                   reports 0 bad pages, every CPU ran processes, preemptions > 0, all exited 0,
#                   each node's free pages came back
set -uo pipefail

usage="usage: qemu_proc.sh SCENARIO IMAGES_DIR [tcg|kvm]"
sc=${1:?$usage}
images=${2:?$usage}
accel=${3:-tcg}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../tools/lib/deps.sh"
deps_install qemu-system-x86 || exit 1

fails=0
fail() { echo "FAIL scenario_$sc: $*"; fails=$((fails + 1)); }

out=$(timeout 120 qemu-system-x86_64 -accel "$accel" -machine q35 -nodefaults -no-reboot \
	-display none -monitor none -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
	-kernel "$images/scenario-$sc.elf" -append "$(cat "$images/scenario-$sc.cmdline")" \
	-smp 2 -m 256 -object memory-backend-ram,id=m0,size=128M \
	-object memory-backend-ram,id=m1,size=128M -numa node,nodeid=0,cpus=0,memdev=m0 \
	-numa node,nodeid=1,cpus=1,memdev=m1 -numa dist,src=0,dst=1,val=20 </dev/null 2>&1)
status=$?
echo "--- serial output of scenario-$sc (status $status)"
echo "$out"
echo "---"

has() { grep -qE "$1" <<<"$out" || fail "no line matching: $1"; }
count() { grep -cE "$1" <<<"$out"; }

[ "$status" -eq 1 ] || fail "exit status $status, expected 1 (MV_GUEST_EXIT_PASS)"
has '^1\.\.[0-9]+$'
[ "$(count '^not ok')" -eq 0 ] || fail "failed checks"
free=$(grep -oE '^ok [0-9]+ - proc: free pages back to [0-9]+ \([0-9]+\)' <<<"$out")
[[ $free =~ back\ to\ ([0-9]+)\ \(([0-9]+)\) && ${BASH_REMATCH[1]} == "${BASH_REMATCH[2]}" ]] \
	|| fail "free pages did not come back: '$free'"

case $sc in
vma)
	[ "$(count '^ok [0-9]+ - vma: maps .* VMAs as expected$')" -ge 9 ] || fail "too few maps checks"
	[ "$(count '^proc: pid .* killed')" -eq 0 ] || fail "a process was killed"
	;;
fault)
	has '^ok [0-9]+ - fault: the kernel counted 112 faults \(112\), 0 copy-on-write$'
	has '^ok [0-9]+ - fault: MAP_POPULATE of 32 pages: 0 faults \(0\)'
	;;
stack)
	has '^proc: pid 1 \(stack\) killed by SIGSEGV: write at 0x7fffffefe000 in VMA 0x7fffffeff000-0x7ffffffff000 rw-p: stack cannot grow \(limit or guard gap\)$'
	has '^proc: pid 2 \(stack-guard\) killed by SIGSEGV: write at 0x7ffffffbf000 in VMA 0x7ffffffc0000-0x7ffffffff000 rw-p: stack cannot grow \(limit or guard gap\)$'
	[ "$(count '^proc: pid .* killed')" -eq 2 ] || fail "not exactly two kills"
	has '^ok [0-9]+ - hello: exited with 42 '
	;;
segv)
	has '^proc: pid [0-9]+ \(segv-unmapped\) killed by SIGSEGV: read at 0x300000000 in VMA none: no VMA at the address$'
	has '^proc: pid [0-9]+ \(segv-write-ro\) killed by SIGSEGV: write at 0x300000000 in VMA 0x300000000-0x300001000 r--p: VMA not writable$'
	has '^proc: pid [0-9]+ \(segv-exec-nx\) killed by SIGSEGV: execute at 0x300000000 in VMA 0x300000000-0x300001000 rw-p: VMA not executable$'
	has '^proc: pid [0-9]+ \(segv-prot-none\) killed by SIGSEGV: read at 0x300000000 in VMA 0x300000000-0x300001000 ---p: VMA not readable$'
	has '^proc: pid [0-9]+ \(segv-direct-map\) killed by SIGSEGV: read at 0xffff888000100000 in VMA none: kernel address \(outside user space\)$'
	has '^proc: pid [0-9]+ \(segv-kernel-image\) killed by SIGSEGV: read at 0x100000 in VMA none: kernel address \(outside user space\)$'
	has '^proc: pid [0-9]+ \(segv-noncanonical\) killed by SIGSEGV: exception 13 error 0x0 at RIP 0x[0-9a-f]+: general protection fault$'
	[ "$(count '^proc: pid .* killed')" -eq 7 ] || fail "not exactly 7 kills"
	has '^ok [0-9]+ - hello: exited with 42 '
	;;
shared)
	has '^ok [0-9]+ - shared: maps shows the shared mapping as [0-9a-f]+-[0-9a-f]+ rw-s 00000000 00:00 0$'
	has '^ok [0-9]+ - shared: child: sees the pre-fork data; its writes copied only the 4 private pages \(4 copies\)$'
	has '^ok [0-9]+ - shared: parent: the child.s writes are in the shared pages, not in the private ones$'
	;;
interleave)
	[ "$(count '^ok [0-9]+ - interleave: pid [0-9]+: 200 iterations, 400 yields, its own data at 0x200000000 after every switch \(0 bad\)$')" -eq 6 ] \
		|| fail "not six processes with their own data"
	has '^ok [0-9]+ - interleave: [0-9]+ switches between processes '
	;;
churn)
	[ "$(count '^ok [0-9]+ - churn: 4000 random operations \(seed 0x[0-9a-f]+\) as the model says, [0-9]+ forks$')" -eq 3 ] \
		|| fail "not three passed churn runs"
	[ "$(count '^proc: pid .* killed')" -eq 0 ] || fail "a process was killed"
	;;
cow)
	has '^ok [0-9]+ - cow: child: writing pages 0-15: 16 faults \(16\), 8 copies '
	has '^ok [0-9]+ - cow: wait: child 2 exited with status 0x700 \(0x700\)$'
	has '^proc: pid 3 \(cow\) killed by SIGSEGV: read at 0x300000000 in VMA none: no VMA at the address$'
	has '^ok [0-9]+ - cow: wait: child 3 killed, status 11 \(SIGSEGV 11\)$'
	[ "$(count '^proc: pid .* killed')" -eq 1 ] || fail "not exactly one kill"
	;;
mbind)
	[ "$(count '^ok [0-9]+ - mbind: range [0-3] \(.*\): every page on its node \(0 misplaced\)$')" -eq 4 ] \
		|| fail "not all four ranges placed right"
	has '^ok [0-9]+ - mbind: interleave 0-1: 8 pages on each node \(node 0 8, node 1 8\)$'
	has '^#   200000000-200010000 rw-p 00000000 00:00 0 +policy bind:1$'
	has '^#   200010000-200020000 rw-p 00000000 00:00 0 +policy interleave:0,1$'
	has '^ok [0-9]+ - mbind: MPOL_DEFAULT over the whole range: merged back into one VMA$'
	;;
stress)
	[ "$(count '^ok [0-9]+ - stress: pid [0-9]+: [0-9]+ iterations, [0-9]+ forks, 0 bad pages, 0 bad heap sums$')" -eq 6 ] \
		|| fail "not six processes reporting clean data"
	has '^ok [0-9]+ - stress: every one of the 2 CPUs ran processes$'
	has '^ok [0-9]+ - stress: the tick preempted processes [1-9][0-9]* times$'
	has '^ok [0-9]+ - stress: all 6 processes exited 0 with their checks passed$'
	[ "$(count '^ok [0-9]+ - stress: node [0-9]+: free pages back to ([0-9]+) \(\1\)$')" -eq 2 ] \
		|| fail "not both nodes' free pages back"
	[ "$(count '^proc: pid .* killed')" -eq 0 ] || fail "a process was killed"
	;;
*)
	echo "unknown scenario '$sc'"
	exit 2
	;;
esac

[ "$fails" -eq 0 ] && echo "ok scenario_$sc"
[ "$fails" -eq 0 ]
