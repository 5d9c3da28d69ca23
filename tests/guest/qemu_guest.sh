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
#   memtest_two_nodes    memtest image; 2 nodes x 32 MiB: every node's tested ranges and page
#                        count recomputed here from the memory map, the numa: ranges and the
#                        skip lines (which must cover the image, per nm), all verified
#   memtest_high_ram     the same with q35's RAM below 4 GiB cut to 48 MiB (max-ram-below-4g):
#                        node 1 is split, its second half at 4 GiB (2 MiB pages, qemu64 CPU)
#   memtest_high_ram_1g  the same with -cpu max, which has 1 GiB pages
#   memtest_corrupt      memtest image booted with "memtest corrupt": each node must report
#                        exactly the flipped word, exit FAIL
#   memtest_pageout      memtest-pageout image: QEMU has no host-memory device, so every
#                        request is "not ok ... no host-memory device answered" (the bad-magic
#                        check passes), the memtest itself passes, exit FAIL
#   smp_two       smp image (scenario=smp); 2 nodes, one CPU each: every CPU online with its
#                 APIC id and node ("smp: cpu I apic=A node=N" from the same numbers as -numa),
#                 "smp: cpus=2 online=2", no failed check (calls, ticket lock, TLB shootdown)
#   smp_four      the same with 4 CPUs, two per node
#
#   microvm_virtio  default image on QEMU's microvm machine (ACPI on) with two virtio-mmio
#                 devices: the guest's AML walk (guest/aml.c) must find both in the DSDT with
#                 their windows and GSIs, understand the whole DSDT, and pass every check
#                 (microvm's memory map also carries an empty entry the guest must drop)
#
#   scenario_balloon     scenario-balloon image on microvm with QEMU's virtio-balloon (modern
#                        virtio-mmio, free page reporting on); a QMP "balloon" command through
#                        a FIFO asks for 28 MiB of the 128: the guest's driver must inflate
#                        exactly 7168 pages, have 16 free 2 MiB blocks reported, serve a memory
#                        hog by deflate-on-OOM, deflate them all; on 3 CPUs, ring-3
#                        processes (map, fill, verify, fork, unmap; iterations ending while
#                        the balloon changes) on one other CPU and slab work on the last
#                        during both, a page pattern intact after both. Before the target, QMP
#                        turns on QEMU's stats polling (qom-set guest-stats-polling-interval) and
#                        reads guest-stats (qom-get) until the driver has refilled the buffer:
#                        the figures must be the guest's (check_guest_stats)
#
#   scenario_<name>      scenario-<name> image (guest/mmtest.c: buddy numa slab vmalloc
#                        integrity), 2 nodes x 128 MiB: exit PASS, no "not ok"
#   scenario_high_ram    scenario-numa image with node 1 entirely above 4 GiB (QEMU's
#                        max-ram-below-4g), -cpu max (1 GiB pages): every check passes and
#                        bind(1) pages are frames above 4 GiB, reached through the direct map
#   scenario_oom         scenario-oom image: exactly one "not ok", the OOM report, exit FAIL
#   scenario_break_buddy scenario-buddy with break=buddy: buddy_check reports, Bail out!
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

# boot IMAGE QEMU-ARGS...: boot images/IMAGE.elf with the command line from IMAGE.cmdline
# (or $cmdline_override when set) on $machine; sets $out (serial output) and $status (QEMU's
# exit status).
machine=q35
cmdline_override=
boot() {
	local image=$1
	shift
	local cmdline
	cmdline=$(cat "$images/$image.cmdline") || { fail "no $images/$image.cmdline"; return; }
	[ -z "$cmdline_override" ] || cmdline=$cmdline_override
	out=$(timeout 60 qemu-system-x86_64 -accel "$accel" -machine "$machine" -nodefaults -no-reboot \
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

# scenario_balloon's QMP side (run in the background): capabilities; guest-stats polling every
# second on the balloon (qom-set); guest-stats (qom-get) once a second until two different
# last-update times were seen, i.e. the guest's driver refilled the buffer QEMU gave back at least
# once (the first update is the buffer it posted at start); then the 28 MiB target. Every reply
# is logged ("> " the command, "< " the reply); the last guest-stats reply goes to
# $work/guest-stats.
qmp_drive_balloon() {
	local line first= tries
	exec 3>"$work/qmp.in" 4<"$work/qmp.out"
	qmp() {
		echo "> $1"
		printf '%s\n' "$1" >&3
		while IFS= read -r -t 30 line <&4; do
			line=${line%$'\r'}
			case $line in
			*'"return"'* | *'"error"'*) echo "< $line"; reply=$line; return 0 ;;
			esac
		done
		echo "< (no reply within 30 s)"
		return 1
	}
	qmp '{"execute":"qmp_capabilities"}' || return
	qmp '{"execute":"qom-set","arguments":{"path":"/machine/peripheral/balloon0","property":"guest-stats-polling-interval","value":1}}' || return
	for tries in $(seq 40); do
		sleep 1
		qmp '{"execute":"qom-get","arguments":{"path":"/machine/peripheral/balloon0","property":"guest-stats"}}' || return
		[[ $reply =~ \"last-update\":\ ([0-9]+) ]] || continue
		[[ ${BASH_REMATCH[1]} != 0 ]] || continue
		[[ -z $first ]] && first=${BASH_REMATCH[1]}
		[[ ${BASH_REMATCH[1]} != "$first" ]] && break
	done
	printf '%s\n' "$reply" >"$work/guest-stats"
	qmp '{"execute":"balloon","arguments":{"value":104857600}}'
}

# The balloon scenario's checks common to every device: the workloads on the other CPUs during
# both phases (with 3 CPUs, ring-3 processes on one, slab work on the other: both kinds, and
# process iterations that ended while the balloon changed), the pattern on the pages kept out of
# the balloon after both.
check_balloon_scenario_parts() {
	local what
	for what in inflated deflated; do
		grep -qE "^ok [0-9]+ - balloon: workloads kept running on the [1-9][0-9]* other CPUs while the balloon $what, every pattern intact$" <<<"$out" \
			|| fail "no workload check while the balloon $what"
		grep -qE "^ok [0-9]+ - balloon: ring-3 processes kept running on [1-9][0-9]* CPUs while the balloon $what: [1-9][0-9]* exited 0 with every pattern intact, [1-9][0-9]* of their [1-9][0-9]* iterations ended meanwhile \([0-9]+ ring-3 page faults\)$" <<<"$out" \
			|| fail "no process iterations ended while the balloon $what"
		grep -qE "^# balloon: cpu [0-9]+ ran slab while the balloon $what: " <<<"$out" \
			|| fail "no slab workload while the balloon $what"
	done
	for what in inflating deflating; do
		grep -qE "^ok [0-9]+ - balloon: the pattern on the 512 pages not ballooned is intact after $what \\(0 words changed\\)$" <<<"$out" \
			|| fail "no intact pattern after $what"
	done
}

# QEMU read our driver's statistics: the last guest-stats reply holds the figures of one of the
# guest's "# balloon: stats #N" lines (free and total memory in bytes), total memory is the
# guest's managed RAM ("room for N pages"), and the driver answered at least one request.
check_guest_stats() {
	local reply free total room
	reply=$(cat "$work/guest-stats" 2>/dev/null)
	[[ $reply =~ \"stat-free-memory\":\ ([0-9]+) ]] || { fail "no stat-free-memory in guest-stats: '$reply'"; return; }
	free=${BASH_REMATCH[1]}
	[[ $reply =~ \"stat-total-memory\":\ ([0-9]+) ]] || { fail "no stat-total-memory in guest-stats"; return; }
	total=${BASH_REMATCH[1]}
	room=$(sed -nE 's/^ok [0-9]+ - balloon: device [0-9]+ ready .*room for ([0-9]+) pages$/\1/p' <<<"$out")
	[[ -n $room ]] || { fail "no 'room for N pages' line"; return; }
	(( total == room * 4096 )) || fail "guest-stats total memory $total is not the guest's $room pages"
	grep -qE "^# balloon: stats #[0-9]+: free=$free total=$total " <<<"$out" \
		|| fail "guest-stats free memory $free is not a value the guest reported"
	(( free > 0 && free < total )) || fail "guest-stats free memory $free not within (0, $total)"
	for s in swap-in swap-out major-faults; do
		[[ $reply == *"\"stat-$s\": 0"* ]] || fail "stat-$s is not 0: '$reply'"
	done
	grep -qE '^ok [0-9]+ - balloon: the device asked for statistics [1-9][0-9]* times, each answered ' <<<"$out" \
		|| fail "the driver answered no statistics request"
	echo "guest-stats: free $free total $total (guest: $room pages)"
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
# (comma list); with below_4g set (MiB), q35 puts only that much RAM below 4 GiB
# (max-ram-below-4g) and the rest at 4 GiB. Sets qemu_numa (the QEMU options), node_ranges[i]
# (node i's SRAT ranges, "base:end" pairs, end exclusive, decimal) and expected_numa (the lines
# the guest must print for this topology).
# QEMU's SRAT (hw/i386/acpi-build.c, build_srat) lays the nodes back to back from address 0 in
# id order and cuts the 640 KiB - 1 MiB hole out of node 0: node 0 is [0, 0xa0000) plus
# [0x100000, size), 384 KiB short of its size. A node crossing the end of low RAM is split
# there and continues at 4 GiB. Without below_4g all RAM stays below q35's 2 GiB low-memory
# limit, so no node is split.
below_4g=
expect_numa() {
	local n=${#mem[@]} base=0 total=0 i want="" ranges size low=$((1 << 62))
	qemu_numa=()
	node_ranges=()
	[ -z "$below_4g" ] || low=$((below_4g << 20))
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
	[ -z "$below_4g" ] || machine+=",max-ram-below-4g=${below_4g}M"
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
		local end=$((base + mem[i] * 1024 * 1024)) r pairs=() high=$((1 << 32))
		# Guest-physical pieces of [base, end) in "RAM offset" space: split at low.
		if [ "$end" -le "$low" ]; then
			pairs=("$base:$end")
		elif [ "$base" -ge "$low" ]; then
			pairs=("$((base - low + high)):$((end - low + high))")
		else
			pairs=("$base:$low" "$high:$((end - low + high))")
		fi
		if [ "$base" -eq 0 ]; then
			pairs=("0:$((0xa0000))" "$((0x100000)):${pairs[0]#*:}" "${pairs[@]:1}")
			size="$((mem[i] * 1024 - 384))KiB"
		else
			size="${mem[i]}MiB"
		fi
		node_ranges[i]="${pairs[*]}"
		ranges=
		for r in "${pairs[@]}"; do
			ranges+=$(printf ',0x%x-0x%x' "${r%:*}" $((${r#*:} - 1)))
		done
		want+=$'\n'"numa: node $i cpus=${cpus[i]} mem=$size ranges=${ranges#,} distances=${dist[i]}"
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

# hex_pairs SED-REGEX: the two hex numbers (inclusive range) that REGEX's groups 1 and 2 pick
# from each line of $out, as "base:end" pairs, end exclusive, decimal.
hex_pairs() {
	local a b
	while read -r a b; do
		echo "$((a)):$((b + 1))"
	done < <(sed -nE "s/$1/\1 \2/p" <<<"$out")
}

# memtest_expect: what the memtest must test, recomputed from the guest's memory map and skip
# lines and from node_ranges (checked against the numa: lines by check_numa): per node i,
# node_segs[i] ("base:end" pairs) = node ranges ∩ RAM − skips, touching pieces merged, shrunk to
# whole 8-byte words; seg_list[i] as the guest prints it; seg_pages[i] its distinct 4 KiB pages.
# Also checks that the skip lines are exactly the image, [__image_start, __bss_end) per nm.
memtest_expect() {
	local ram skips i r m k s e at img_start bss_end prev
	mapfile -t ram < <(hex_pairs '^# memmap: (0x[0-9a-f]+)-(0x[0-9a-f]+) ram$')
	mapfile -t skips < <(hex_pairs '^# memtest: skip (0x[0-9a-f]+)-(0x[0-9a-f]+) \(.*\)$')
	img_start=$("$nm" "$images/memtest.elf" | awk '$3 == "__image_start" { print $1 }')
	bss_end=$("$nm" "$images/memtest.elf" | awk '$3 == "__bss_end" { print $1 }')
	prev=$((16#${img_start:-0}))
	for k in "${skips[@]}"; do
		[ "${k%:*}" -eq "$prev" ] || fail "skip lines do not continue at $(printf 0x%x "$prev")"
		prev=${k#*:}
	done
	[ "${#skips[@]}" -gt 0 ] && [ "$prev" -eq "$((16#${bss_end:-0}))" ] \
		|| fail "skip lines do not cover the image up to __bss_end (0x$bss_end)"
	ram_end=0
	for m in "${ram[@]}"; do
		[ "${m#*:}" -le "$ram_end" ] || ram_end=${m#*:}
	done
	node_segs=() seg_list=() seg_pages=()
	for ((i = 0; i < ${#mem[@]}; i++)); do
		local pieces=() merged=() list="" pages=0 last=-1
		for r in ${node_ranges[i]}; do
			for m in "${ram[@]}"; do
				s=$((${r%:*} > ${m%:*} ? ${r%:*} : ${m%:*}))
				e=$((${r#*:} < ${m#*:} ? ${r#*:} : ${m#*:}))
				at=$s
				for k in "${skips[@]}" "$e:$e"; do
					local cut=$((${k%:*} < e ? ${k%:*} : e))
					[ "$cut" -le "$at" ] || pieces+=("$at:$cut")
					[ "${k#*:}" -le "$at" ] || at=${k#*:}
					[ "$at" -lt "$e" ] || break
				done
			done
		done
		for k in "${pieces[@]}"; do
			if [ "${#merged[@]}" -gt 0 ] && [ "${k%:*}" -le "${merged[-1]#*:}" ]; then
				merged[-1]="${merged[-1]%:*}:${k#*:}"
			else
				merged+=("$k")
			fi
		done
		pieces=()
		for k in "${merged[@]}"; do
			s=$(((${k%:*} + 7) & ~7)) e=$((${k#*:} & ~7))
			[ "$s" -ge "$e" ] && continue
			pieces+=("$s:$e")
			list+=$(printf ',0x%x-0x%x' "$s" $((e - 1)))
			local first=$((s >> 12)) lastp=$(((e - 1) >> 12))
			[ "$first" -ne "$last" ] || first=$((first + 1))
			[ "$first" -gt "$lastp" ] || pages=$((pages + lastp - first + 1))
			last=$lastp
		done
		node_segs[i]="${pieces[*]}"
		list=${list#,}
		seg_list[i]=${list:--}
		seg_pages[i]=$pages
	done
}

# check_memtest: the memtest's lines for every node, as memtest_expect computed them, all
# verified; RAM ends at ram_end, all of it mapped.
check_memtest() {
	local i
	memtest_expect
	grep -qxE "ok [0-9]+ - memtest: identity map covers RAM up to $(printf 0x%x "$ram_end")" \
		<<<"$out" || fail "no check that the identity map covers RAM up to the end of RAM"
	for ((i = 0; i < ${#mem[@]}; i++)); do
		expect_line "# memtest: node $i ranges=${seg_list[i]} pages=${seg_pages[i]}"
		expect_line "memtest: node $i pages=${seg_pages[i]}"
		[ "$corrupt" ] && continue
		grep -qxE "ok [0-9]+ - memtest node $i: ${seg_pages[i]} pages written and verified, 0 mismatches" \
			<<<"$out" || fail "node $i: no 'ok' memtest line with ${seg_pages[i]} pages"
	done
}
corrupt=

# The requests of `memtest pageout` in order, as "what" parts of their TAP lines. The block is
# the first 2 MiB-aligned 2 MiB of node 0's tested ranges (node_segs, from memtest_expect).
pageout_requests() {
	local k s block=
	for k in ${node_segs[0]}; do
		s=$(((${k%:*} + 0x1fffff) & ~0x1fffff))
		[ $((s + 0x200000)) -le "${k#*:}" ] && { block=$s; break; }
	done
	[ -n "$block" ] || { fail "node 0 has no 2 MiB-aligned block to page out"; return; }
	printf 'page-out rejects unaligned gpa 0x%x\n' $((block + 0x800))
	echo "page-out rejects unaligned len 0x800"
	echo "page-out rejects len 0"
	echo "hostmem rejects op 0"
	echo "hostmem rejects op 3"
	echo "page-out rejects unknown flag 0x2"
	echo "page-out rejects nonzero reserved0"
	echo "page-out rejects nonzero reserved1[1]"
	echo "page-out rejects range 0xfffffffffffff000+0x2000 wrapping past 2^64"
	echo "page-out rejects range 0xc0000000-0xc0000fff in the MMIO hole"
	echo "page-out rejects node ${#mem[@]} (no such node)"
	printf 'page-out range 0x%x-0x%x\n' "$block" $((block + 0x1fffff))
	printf 'page-in range 0x%x-0x%x\n' "$block" $((block + 0x1fffff))
	for ((k = 0; k < ${#mem[@]}; k++)); do
		echo "page-out node $k"
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
memtest_two_nodes | memtest_high_ram | memtest_high_ram_1g)
	mem=(32 32) cpus=(0 1) dist=(10,20 20,10)
	cpu=()
	case $case_name in
	memtest_high_ram) below_4g=48 ;;
	memtest_high_ram_1g) below_4g=48 cpu=(-cpu max) ;;
	esac
	expect_numa
	boot memtest "${qemu_numa[@]}" "${cpu[@]}"
	expect_status 1 "MV_GUEST_EXIT_PASS"
	expect_tap
	check_numa
	check_memtest
	if [ "$below_4g" ]; then
		[ "$ram_end" -gt $((1 << 32)) ] || fail "no RAM above 4 GiB in the memory map"
		# 0x101000000 rounded up to whole GiB; qemu64 has no 1 GiB pages, -cpu max has.
		size="2 MiB"
		[ "${#cpu[@]}" -eq 0 ] || size="1 GiB"
		expect_line "# paging: identity map extended to 0x140000000 with $size pages"
	fi
	;;
memtest_corrupt)
	mem=(32 32) cpus=(0 1) dist=(10,20 20,10) corrupt=1 cmdline_override="memtest corrupt"
	expect_numa
	boot memtest "${qemu_numa[@]}"
	expect_status 3 "MV_GUEST_EXIT_FAIL"
	expect_tap
	check_numa
	check_memtest
	# Each node flips bit 0 of the middle word of its last tested range; verify reports it alone.
	for ((i = 0; i < ${#mem[@]}; i++)); do
		k=${node_segs[i]##* }
		addr=$(printf 0x%x $(((${k%:*} + (${k#*:} - ${k%:*}) / 2) & ~7)))
		expect_line "# memtest: corrupt node $i word $addr (bit 0 flipped)"
		line=$(grep -E "^not ok [0-9]+ - memtest node $i: ${seg_pages[i]} pages written and verified, 1 mismatches, first at $addr: expected 0x[0-9a-f]{16}, actual 0x[0-9a-f]{16}$" <<<"$out")
		if [ -z "$line" ]; then
			fail "node $i: no 'not ok' line with exactly the word at $addr"
		else
			want=${line#*expected 0x} want=${want%%,*} got=${line##*actual 0x}
			[ $((16#$want ^ 16#$got)) -eq 1 ] || fail "node $i: expected/actual differ in more than bit 0"
		fi
	done
	[ "$(grep -c '^not ok' <<<"$out")" -eq "${#mem[@]}" ] || fail "expected one failed check per node"
	;;
memtest_pageout)
	mem=(32 32) cpus=(0 1) dist=(10,20 20,10)
	expect_numa
	boot memtest-pageout "${qemu_numa[@]}"
	expect_status 3 "MV_GUEST_EXIT_FAIL"
	expect_tap
	check_numa
	check_memtest
	want=$(pageout_requests | sed 's/$/: no host-memory device answered/')
	got=$(sed -nE 's/^not ok [0-9]+ - //p' <<<"$out")
	if [ "$got" != "$want" ]; then
		fail "the failed checks are not exactly the unanswered requests"
		diff <(echo "$want") <(echo "$got") | sed 's/^/  /'
	fi
	grep -qxE 'ok [0-9]+ - page-out: node 0 has a 2 MiB-aligned 2 MiB block of tested RAM' <<<"$out" \
		|| fail "no block for the range requests"
	grep -qxE 'ok [0-9]+ - hostmem ignores a block with a bad magic \(status 0x7fffffff\)' <<<"$out" \
		|| fail "the bad-magic request is not reported as ignored"
	;;
smp_two | smp_four)
	mem=(64 64) dist=(10,20 20,10)
	if [ "$case_name" = smp_two ]; then cpus=(0 1); else cpus=(0,1 2,3); fi
	expect_numa
	boot smp "${qemu_numa[@]}"
	expect_status 1 "MV_GUEST_EXIT_PASS"
	expect_tap
	check_numa
	nr=0
	for ((i = 0; i < ${#cpus[@]}; i++)); do
		for c in ${cpus[i]//,/ }; do
			expect_line "smp: cpu $nr apic=$c node=$i"
			nr=$((nr + 1))
		done
	done
	expect_line "smp: cpus=$nr online=$nr"
	[ "$(grep -c '^not ok' <<<"$out")" -eq 0 ] || fail "a check failed"
	grep -qxE "ok [0-9]+ - spinlock: $nr CPUs x [0-9]+ increments under contention = [0-9]+ \\(expected [0-9]+\\)" \
		<<<"$out" || fail "no passed spinlock check with $nr CPUs"
	grep -qxE "ok [0-9]+ - smp: the other $((nr - 1)) CPUs halted with interrupts off" <<<"$out" \
		|| fail "the other CPUs were not halted before the exit"
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
scenario_buddy | scenario_numa | scenario_slab | scenario_vmalloc | scenario_integrity)
	# The guest's own memory manager (guest/mmtest.c): 2 nodes x 128 MiB; every check passes.
	mem=(128 128) cpus=(0 1) dist=(10,20 20,10)
	expect_numa
	boot "${case_name//_/-}" "${qemu_numa[@]}"
	expect_status 1 "MV_GUEST_EXIT_PASS"
	expect_tap
	check_numa
	grep -q '^not ok' <<<"$out" && fail "a check failed"
	grep -qE '^ok [0-9]+ - buddy_check after ' <<<"$out" || fail "no buddy_check line"
	;;
microvm_virtio)
	machine=microvm,acpi=on,rtc=off,pit=off,pic=off
	boot default -m 128 -smp 2 -device virtio-balloon-device -device virtio-rng-device
	expect_status 1 "MV_GUEST_EXIT_PASS"
	expect_tap
	grep -q '^not ok' <<<"$out" && fail "a check failed"
	grep -q '^# DSDT: walk stopped' <<<"$out" && fail "the AML walk did not understand microvm's DSDT"
	grep -qE '^ok [0-9]+ - DSDT: AML well-formed as far as walked \(6 devices, 2 virtio-mmio\)$' <<<"$out" \
		|| fail "the DSDT walk did not find microvm's 6 devices, 2 of them virtio-mmio"
	[ "$(grep -cE '^# DSDT: device VR[0-9A-F]{2} hid=LNRO0005 uid=[0-9]+ mmio=0xfeb0[0-9a-f]{4}\+0x200 irq=[0-9]+$' <<<"$out")" -eq 2 ] \
		|| fail "not two virtio-mmio devices with a 0x200-byte window below 0xfec00000"
	grep -qE '^# memmap: entry [0-9]+ \(0x0, type 0\) is empty: dropped$' <<<"$out" \
		|| fail "microvm's empty memory-map entry was not dropped"
	;;
scenario_balloon)
	machine=microvm,acpi=on,rtc=off,pit=off,pic=off
	mkfifo "$work/qmp.in" "$work/qmp.out" || { fail "mkfifo"; exit 1; }
	# QEMU opens both FIFOs read-write, so these opens return once QEMU has started; the
	# guest waits for a non-zero target (answering stats requests meanwhile), so the target
	# comes last: first the stats polling, then guest-stats until two updates were seen.
	qmp_drive_balloon >"$work/qmp.log" 2>&1 &
	boot scenario-balloon -m 128 -smp 3 -global virtio-mmio.force-legacy=false \
		-device virtio-balloon-device,id=balloon0,free-page-reporting=on,deflate-on-oom=on \
		-chardev pipe,id=qmp,path="$work/qmp" -mon chardev=qmp,mode=control
	wait
	echo "--- QMP"; cat "$work/qmp.log"; echo "---"
	expect_status 1 "MV_GUEST_EXIT_PASS"
	expect_tap
	grep -q '^not ok' <<<"$out" && fail "a check failed"
	grep -qE '^ok [0-9]+ - balloon: inflated to 7168 pages, actual 7168$' <<<"$out" \
		|| fail "the balloon did not inflate to QEMU's target of 7168 pages"
	grep -qE '^ok [0-9]+ - balloon: 16 free blocks of 2048 KiB reported and used by the device$' <<<"$out" \
		|| fail "no free page report"
	grep -qE '^ok [0-9]+ - balloon: a memory hog past free memory is served by deflate-on-OOM \(512 pages back, no OOM report\)$' <<<"$out" \
		|| fail "deflate-on-OOM did not serve the memory hog"
	grep -qE '^ok [0-9]+ - balloon: deflated 7168 pages, free pages back to ' <<<"$out" \
		|| fail "the balloon did not deflate"
	check_balloon_scenario_parts
	check_guest_stats
	;;
scenario_high_ram)
	# Node 0 is all the RAM below 4 GiB, node 1 starts at 4 GiB: the memory manager's tables,
	# direct map and policies must handle frames that only the direct map reaches.
	mem=(64 64) cpus=(0 1) dist=(10,20 20,10) below_4g=64
	expect_numa
	boot scenario-numa "${qemu_numa[@]}" -cpu max
	expect_status 1 "MV_GUEST_EXIT_PASS"
	expect_tap
	check_numa
	grep -q '^not ok' <<<"$out" && fail "a check failed"
	expect_line "numa: node 1 cpus=1 mem=64MiB ranges=0x100000000-0x103ffffff distances=20,10"
	grep -qE '^ok [0-9]+ - vmem: direct map of [0-9]+ MiB of RAM at 0xffff888000000000 \(1 GiB/2 MiB/4 KiB pages\)' <<<"$out" \
		|| fail "no direct map with 1 GiB pages"
	grep -qE '^ok [0-9]+ - numa: bind to node 1: 64 of 64 pages there' <<<"$out" \
		|| fail "bind(1) did not place its pages on node 1 (above 4 GiB)"
	;;
scenario_oom)
	# Exhausted memory, then one ordinary allocation: the OOM line names node, order and caller.
	mem=(128 128) cpus=(0 1) dist=(10,20 20,10)
	expect_numa
	boot scenario-oom "${qemu_numa[@]}"
	expect_status 3 "MV_GUEST_EXIT_FAIL"
	expect_tap
	grep -qE '^not ok [0-9]+ - out of memory: node 0 order 0 for scenario_oom$' <<<"$out" \
		|| fail "no OOM report line"
	[ "$(grep -c '^not ok' <<<"$out")" -eq 1 ] || fail "other checks than the OOM failed"
	;;
scenario_break_buddy)
	# break=buddy: mm/'s buddy_check must catch the corrupted frame and the guest bail out.
	mem=(128 128) cpus=(0 1) dist=(10,20 20,10)
	expect_numa
	cmdline_override="scenario=buddy break=buddy"
	boot scenario-buddy "${qemu_numa[@]}"
	expect_status 5 "MV_GUEST_EXIT_BAIL"
	grep -qE '^# mm: buddy_check: ' <<<"$out" || fail "no buddy_check report"
	grep -qE '^Bail out! buddy_check after setup: -117 ' <<<"$out" || fail "no Bail out! line"
	;;
*)
	echo "unknown case '$case_name'"
	exit 2
	;;
esac

[ "$fails" -eq 0 ] && echo "ok $case_name"
[ "$fails" -eq 0 ]
