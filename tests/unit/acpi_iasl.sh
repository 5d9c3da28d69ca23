#!/usr/bin/env bash
# acpi_iasl.sh ACPI_DUMP CONFIG — ctest case acpi.iasl.CONFIG (label host): ACPICA's iasl judges
# the tables acpi_build() writes for fixture machine CONFIG (tests/unit/acpi_fixture.h).
#
# For every table <SIG>.dat that acpi_dump writes (XSDT FACP DSDT APIC SRAT SLIT):
#   1. `iasl -d` must disassemble it with exit status 0 and print no Error or Warning (a bad
#      checksum is a "Firmware Warning"), and the .dsl must carry no "Incorrect"/"Invalid"/
#      Error/Warning annotation (the disassembler writes those into it);
#   2. `iasl -oa` must recompile that .dsl (the data-table compiler, or the ASL compiler for the
#      DSDT, with optimisations off so it keeps our encodings) with 0 errors, 0 warnings,
#      0 remarks;
#   3. the recompiled binary must equal ours byte for byte, except the checksum (byte 9) and
#      the creator id and revision (bytes 28-35), which iasl replaces with its own.
# iasl cannot disassemble an RSDP binary (20200925 refuses even its own), so the RSDP is
# written out in the data-table language with both checksums zeroed, compiled (the compiler
# computes the checksums) and must equal ours in every byte, checksums included.
#
# Any failure prints iasl's output and makes the case fail; all tables are checked regardless.
set -uo pipefail

dump=${1:?usage: acpi_iasl.sh path/to/acpi_dump CONFIG}
config=${2:?usage: acpi_iasl.sh path/to/acpi_dump CONFIG}
. "$(dirname "$0")/../../tools/lib/deps.sh"
deps_install acpica-tools || exit 1

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0

fail() {
	echo "FAIL $config $1"
	shift
	[ $# -gt 0 ] && printf '%s\n' "$@" | sed 's/^/    /'
	fails=$((fails + 1))
}

# hex_le FILE OFFSET SIZE: the little-endian field at OFFSET as upper-case hex, high byte first.
hex_le() {
	od -An -v -tx1 -j "$2" -N "$3" "$1" |
		awk '{ for (i = 1; i <= NF; i++) b[n++] = $i }
		     END { for (i = n - 1; i >= 0; i--) printf "%s", toupper(b[i]); print "" }'
}

# Byte offsets (cmp -l counts from 1) iasl rewrites in a table it compiles: checksum, creator.
header_rewritten() {
	[ "$1" -eq 10 ] || { [ "$1" -ge 29 ] && [ "$1" -le 36 ]; }
}

check_table() {
	local sig=$1 out rc diffs line off

	out=$(iasl -d "$sig.dat" 2>&1)
	rc=$?
	if [ $rc -ne 0 ] || grep -qiE 'error|warning' <<<"$out"; then
		fail "$sig: iasl -d exited $rc or complained" "$out"
		return
	fi
	if [ ! -s "$sig.dsl" ]; then
		fail "$sig: iasl -d wrote no $sig.dsl" "$out"
		return
	fi
	if grep -qiE 'incorrect|invalid|error|warning' "$sig.dsl"; then
		fail "$sig: the disassembly flags a problem" "$(grep -niE 'incorrect|invalid|error|warning' "$sig.dsl")"
		return
	fi
	rm -f "$sig.aml"
	out=$(iasl -oa "$sig.dsl" 2>&1)
	rc=$?
	if [ $rc -ne 0 ] || ! grep -q 'Compilation successful. 0 Errors, 0 Warnings, 0 Remarks' <<<"$out"; then
		fail "$sig: recompiling $sig.dsl exited $rc or was not clean" "$out" "--- $sig.dsl:" "$(cat "$sig.dsl")"
		return
	fi
	if [ "$(stat -c %s "$sig.aml")" -ne "$(stat -c %s "$sig.dat")" ]; then
		fail "$sig: recompiled to $(stat -c %s "$sig.aml") bytes, ours is $(stat -c %s "$sig.dat")" \
			"$(cat "$sig.dsl")"
		return
	fi
	diffs=()
	while read -r off line; do
		header_rewritten "$off" || diffs+=("byte $((off - 1)): ours/iasl's (octal) $line")
	done < <(cmp -l "$sig.dat" "$sig.aml")
	if [ ${#diffs[@]} -gt 0 ]; then
		fail "$sig: the recompiled table differs from ours" "${diffs[@]}" "--- $sig.dsl:" "$(cat "$sig.dsl")"
		return
	fi
	echo "ok $config $sig"
}

check_rsdp() {
	local f=RSDP.dat out rc

	cat >RSDP.dsl <<-EOF
	[0008]                          Signature : "$(head -c 8 $f)"
	[0001]                           Checksum : 00
	[0006]                             Oem ID : "$(tail -c +10 $f | head -c 6)"
	[0001]                           Revision : $(hex_le $f 15 1)
	[0004]                       RSDT Address : $(hex_le $f 16 4)
	[0004]                             Length : $(hex_le $f 20 4)
	[0008]                       XSDT Address : $(hex_le $f 24 8)
	[0001]                  Extended Checksum : 00
	[0003]                           Reserved : $(hex_le $f 33 3)
	EOF
	out=$(iasl RSDP.dsl 2>&1)
	rc=$?
	if [ $rc -ne 0 ] || ! grep -q 'Compilation successful. 0 Errors, 0 Warnings, 0 Remarks' <<<"$out"; then
		fail "RSDP: compiling its description exited $rc or was not clean" "$out" "$(cat RSDP.dsl)"
	elif ! out=$(cmp -l RSDP.dat RSDP.aml 2>&1); then
		fail "RSDP: iasl's RSDP (checksums its own) differs from ours" "$out" "$(cat RSDP.dsl)"
	else
		echo "ok $config RSDP"
	fi
}

if ! out=$("$dump" "$config" "$work" 2>&1); then
	echo "FAIL $config: acpi_dump: $out"
	exit 1
fi
cd "$work" || exit 1
for sig in XSDT FACP DSDT APIC SRAT SLIT; do
	if [ -f "$sig.dat" ]; then
		check_table "$sig"
	else
		fail "$sig: acpi_dump wrote no $sig.dat"
	fi
done
if [ -f RSDP.dat ]; then
	check_rsdp
else
	fail "RSDP: acpi_dump wrote no RSDP.dat"
fi
extra=$(ls | grep '\.dat$' | grep -vxE '(RSDP|XSDT|FACP|DSDT|APIC|SRAT|SLIT)\.dat')
[ -z "$extra" ] || fail "unexpected tables: $extra"
[ $fails -eq 0 ] || { echo "$fails check(s) failed"; exit 1; }
echo "all tables of '$config' pass iasl"
