#!/usr/bin/env bash
# qemu_guest.sh CASE IMAGES_DIR NM [ACCEL] — ctest cases guest.qemu.<CASE> (label host, ACCEL tcg)
# and kvm.guest.qemu_kvm.<CASE> (label kvm, ACCEL kvm, in the sandbox): boot a guest image from
# images/ under QEMU (PVH boot of the ELF via -kernel, no VMM of ours involved) and check its
# serial output and exit status. QEMU's isa-debug-exit makes the status
# (code << 1) | 1: 1 = MV_GUEST_EXIT_PASS, 3 = FAIL, 255 = EXCEPTION (include/memvisor/layout.h).
#
#   two_nodes     default image; 2 nodes x 128 MiB, one CPU each, distance 20
#   three_nodes   default image; 64/128/192 MiB, CPUs 0 | 1,2 | 3, distances 15/30/20
#   no_srat       default image; no -numa: QEMU builds no SRAT/SLIT, the guest reports one node
#   bad_tables    default image; a SLIT with distance 5 and an SRAT whose entry overruns the
#                 table (-acpitable): both reported "not ok", neither used, exit FAIL
#   exception_ud  exception-ud image: the #UD dump
#   exception_pf  exception-pf image: the #PF dump
#
# The "numa:" lines of the NUMA cases are derived below from the same numbers that build the
# QEMU options, and compared exactly (see expect_numa for QEMU's SRAT layout).
set -uo pipefail

usage="usage: qemu_guest.sh CASE IMAGES_DIR NM [tcg|kvm]"
case_name=${1:?$usage}
images=${2:?$usage}
nm=${3:?$usage}
accel=${4:-tcg}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../tools/lib/deps.sh"
deps_install qemu-system-x86 || exit 1

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0
fail() { echo "FAIL $case_name: $*"; fails=$((fails + 1)); }

# boot IMAGE QEMU-ARGS...: boot images/IMAGE.elf with the command line from IMAGE.cmdline;
# sets $out (serial output) and $status (QEMU's exit status).
boot() {
	local image=$1
	shift
	local cmdline
	cmdline=$(cat "$images/$image.cmdline") || { fail "no $images/$image.cmdline"; return; }
	out=$(timeout 60 qemu-system-x86_64 -accel "$accel" -machine q35 -nodefaults -no-reboot \
		-display none -monitor none -serial stdio \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
		-kernel "$images/$image.elf" -append "$cmdline" "$@" </dev/null 2>"$work/stderr")
	status=$?
	if [ -s "$work/stderr" ]; then
		echo "qemu stderr:"
		cat "$work/stderr"
	fi
	echo "--- serial output of $image (status $status)"
	echo "$out"
	echo "---"
}

expect_status() {
	[ "$status" -eq "$1" ] || fail "exit status $status, expected $1 ($2)"
}

expect_line() {
	grep -qxF -- "$1" <<<"$out" || fail "no line '$1'"
}

# The TAP stream: starts with the version line, ends with the plan 1..N, N = number of checks.
expect_tap() {
	local n
	n=$(grep -cE '^(not )?ok [0-9]+ - ' <<<"$out")
	[ "$(head -n 1 <<<"$out")" = "TAP version 13" ] || fail "first line is not 'TAP version 13'"
	[ "$(tail -n 1 <<<"$out")" = "1..$n" ] || fail "last line is not the plan 1..$n"
}

# expect_numa: node i has mem[i] MiB, the APIC ids cpus[i] (comma list) and the SLIT row dist[i]
# (comma list); sets qemu_numa (the QEMU options) and expected_numa (the lines the guest must
# print for this topology).
# QEMU's SRAT (hw/i386/acpi-build.c, build_srat) lays the nodes back to back from address 0 in
# id order and cuts the 640 KiB - 1 MiB hole out of node 0: node 0 is [0, 0xa0000) plus
# [0x100000, size), 384 KiB short of its size. All RAM here stays below q35's 2 GiB low-memory
# limit, so no node is split at 4 GiB.
expect_numa() {
	local n=${#mem[@]} base=0 total=0 i want="" ranges size
	qemu_numa=()
	for ((i = 0; i < n; i++)); do
		total=$((total + mem[i]))
		qemu_numa+=(-object "memory-backend-ram,id=m$i,size=${mem[i]}M"
			    -numa "node,nodeid=$i,memdev=m$i")
		local c
		for c in ${cpus[i]//,/ }; do
			qemu_numa[-1]+=",cpus=$c"
		done
	done
	[ "$total" -lt 2048 ] || { fail "test topology must stay below 2 GiB"; return; }
	for ((i = 0; i < n; i++)); do
		local j row=(${dist[i]//,/ })
		for ((j = i + 1; j < n; j++)); do
			qemu_numa+=(-numa "dist,src=$i,dst=$j,val=${row[j]}")
		done
	done
	local nr_cpus
	nr_cpus=$(tr ',' ' ' <<<"${cpus[*]}" | wc -w)
	qemu_numa+=(-m "$total" -smp "$nr_cpus")

	want="numa: nodes=$n cpus=$nr_cpus"
	for ((i = 0; i < n; i++)); do
		local end=$((base + mem[i] * 1024 * 1024))
		if [ "$base" -eq 0 ]; then
			ranges=$(printf '0x0-0x9ffff,0x100000-0x%x' $((end - 1)))
			size="$((mem[i] * 1024 - 384))KiB"
		else
			ranges=$(printf '0x%x-0x%x' "$base" $((end - 1)))
			size="${mem[i]}MiB"
		fi
		want+=$'\n'"numa: node $i cpus=${cpus[i]} mem=$size ranges=$ranges distances=${dist[i]}"
		base=$end
	done
	expected_numa=$want
}

check_numa() {
	local got
	got=$(grep '^numa:' <<<"$out")
	if [ "$got" != "$expected_numa" ]; then
		fail "numa lines differ"
		diff <(echo "$expected_numa") <(echo "$got") | sed 's/^/  /'
	fi
}

# The dump of a deliberate exception: the Bail out! line, RIP at the faulting instruction's
# symbol, and every register holding isr.S's marker (0x0101010101010101 times its number).
check_dump() {
	local image=$1 bail=$2 symbol=$3 addr i
	local regs=(RAX RBX RCX RDX RSI RDI RBP R8 R9 R10 R11 R12 R13 R14 R15)
	expect_status 255 "MV_GUEST_EXIT_EXCEPTION"
	expect_line "$bail"
	# nm prints 16 hex digits for an ELF64 symbol, as the dump prints RIP.
	addr=$("$nm" "$images/$image.elf" | awk -v s="$symbol" '$3 == s { print $1 }')
	[ -n "$addr" ] || { fail "no symbol $symbol in the image"; return; }
	grep -qE "^# RIP=0x$addr CS=0x8 RFLAGS=0x[0-9a-f]{16}$" <<<"$out" \
		|| fail "no '# RIP=' line with RIP = $symbol (0x$addr) and CS=0x8"
	for i in "${!regs[@]}"; do
		local v
		v=$(printf '%016x' $(((i + 1) * 0x0101010101010101)))
		grep -qE "(^| )${regs[i]}=0x$v( |$)" <<<"$out" || fail "${regs[i]} is not 0x$v in the dump"
	done
}

case $case_name in
two_nodes)
	mem=(128 128) cpus=(0 1) dist=(10,20 20,10)
	expect_numa
	boot default "${qemu_numa[@]}"
	expect_status 1 "MV_GUEST_EXIT_PASS"
	expect_tap
	check_numa
	;;
three_nodes)
	mem=(64 128 192) cpus=(0 1,2 3) dist=(10,15,30 15,10,20 30,20,10)
	expect_numa
	boot default "${qemu_numa[@]}"
	expect_status 1 "MV_GUEST_EXIT_PASS"
	expect_tap
	check_numa
	;;
no_srat)
	boot default -m 128 -smp 2
	expect_status 1 "MV_GUEST_EXIT_PASS"
	expect_tap
	expect_line "numa: nodes=1 cpus=2"
	# Node 0 is the memory map's RAM, which SeaBIOS trims (EBDA below 640 KiB, its own tables
	# at the top): checked as starting at 0 and ending in the last 1 MiB of the 128 MiB.
	grep -qE '^numa: node 0 cpus=0,1 mem=[0-9]+KiB ranges=0x0-0x9[0-9a-f]{4},0x100000-0x7f[0-9a-f]{5} distances=10$' <<<"$out" \
		|| fail "no single-node line with all RAM and CPUs 0,1"
	;;
bad_tables)
	# SLIT body: 2 localities, rows 10,5 / 5,10 (off-diagonal must be above 10).
	printf '\x02\0\0\0\0\0\0\0\x0a\x05\x05\x0a' >"$work/slit"
	# SRAT body: 12 reserved bytes, then a memory affinity entry claiming 50 bytes of the 40 left.
	{ printf '\x01\0\0\0\0\0\0\0\0\0\0\0\x01\x32'; head -c 38 /dev/zero; } >"$work/srat"
	boot default -m 128 -smp 2 -acpitable "sig=SLIT,data=$work/slit" \
		-acpitable "sig=SRAT,data=$work/srat"
	expect_status 3 "MV_GUEST_EXIT_FAIL"
	expect_tap
	grep -qE '^not ok [0-9]+ - SLIT distances are 10 to self, above 10 to others$' <<<"$out" \
		|| fail "the bad SLIT is not reported"
	grep -qE '^not ok [0-9]+ - SRAT entries well-formed$' <<<"$out" \
		|| fail "the overrunning SRAT entry is not reported"
	[ "$(grep -c '^not ok' <<<"$out")" -eq 2 ] || fail "expected exactly two failed checks"
	# Neither table is used: one node, default distance.
	expect_line "numa: nodes=1 cpus=2"
	grep -qE '^numa: node 0 cpus=0,1 mem=[0-9]+KiB ranges=0x0-[^ ]+ distances=10$' <<<"$out" \
		|| fail "the report uses a table reported bad"
	;;
exception_ud)
	boot exception-ud -m 128
	check_dump exception-ud "Bail out! exception 6 #UD (invalid opcode) error=0x0" exc_ud_insn
	;;
exception_pf)
	boot exception-pf -m 128
	check_dump exception-pf "Bail out! exception 14 #PF (page fault) error=0x0" exc_pf_insn
	grep -qE '^# RSP=0x[0-9a-f]{16} SS=0x10 CR2=0x00000badc0de0000 CR3=0x[0-9a-f]{16}$' <<<"$out" \
		|| fail "CR2 is not the faulting address 0xbadc0de0000"
	;;
*)
	echo "unknown case '$case_name'"
	exit 2
	;;
esac

[ "$fails" -eq 0 ] && echo "ok $case_name"
[ "$fails" -eq 0 ]
