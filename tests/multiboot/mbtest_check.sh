#!/usr/bin/env bash
# mbtest_check.sh — boot the multiboot test kernel (tests/multiboot/mbtest.c) with two module
# files and its command line, then check the exit status and its TAP report.
#
#   mbtest_check.sh qemu CASE IMAGE               under QEMU TCG (-kernel, SeaBIOS, pc-testdev)
#   mbtest_check.sh memvisor CASE IMAGE MEMVISOR  under `memvisor run` (needs /dev/kvm)
#
# Cases:
#   two_cpus    2 vCPUs: every check ok, exit code 0 (status 1)
#   one_cpu     1 vCPU, no AP to start: every check ok (status 1)
#   bochs       2 vCPUs, shutdown=bochs: every check ok, then "Shutdown" to 0x8900 (status 0;
#               memvisor only: QEMU's pc machine has no Bochs port)
#   wrong_cpus  the command line claims 3 CPUs on a 2-vCPU machine: exactly the fw_cfg CPU
#               count check fails (status 3), so a failed check does reach the exit status
#   wrong_module_args  mod1 is given "a x" while its file says "a b": exactly module 0's check
#               fails (status 3), so the module string is really compared
#
# The module files: mod1 ("a b" after its path, longer than a page, so the second module's
# page alignment shows) and mod2 ("c"); each says its name and arguments on its first line and
# ends with "END", as mbtest.c expects. Prints the report and what is wrong on failure; exit 1.
set -uo pipefail

mode=${1:-} case=${2:-} image=${3:-} memvisor=${4:-}
[[ ($mode == qemu || ($mode == memvisor && -n $memvisor)) && -n $case && -f $image ]] || {
    echo "usage: mbtest_check.sh qemu|memvisor CASE IMAGE [MEMVISOR]" >&2; exit 2; }

cpus=2 claim= status=1 extra= want_fail= mod1_args="a b"
# Every check the kernel makes (under QEMU it skips fw_cfg 0x11, which is not max RAM there).
want_checks=24
[[ $mode == qemu ]] && want_checks=23
case $case in
two_cpus) ;;
one_cpu) cpus=1 ;;
bochs) extra=shutdown=bochs status=0 ;;
wrong_cpus) claim=3 status=3 want_fail='fw_cfg 0x05 \(CPUs\)' ;;
wrong_module_args) mod1_args="a x" status=3 want_fail='module 0:' ;;
*) echo "mbtest_check.sh: unknown case '$case'" >&2; exit 2 ;;
esac
[[ $mode == qemu && $case == bochs ]] && { echo "mbtest_check.sh: bochs is memvisor only" >&2; exit 2; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/mbtest.XXXXXX") || exit 2
trap 'rm -rf "$dir"' EXIT
{ echo "mbtest-module mod1 a b"; for i in $(seq 200); do echo "filler line $i of module one"; done
  echo END; } >"$dir/mod1"
printf 'mbtest-module mod2 c\nEND\n' >"$dir/mod2"
initrd="$dir/mod1 $mod1_args,$dir/mod2 c"
append="expect_name=$image mods=2 cpus=${claim:-$cpus}${extra:+ $extra}"
out=$dir/out err=$dir/err

if [[ $mode == qemu ]]; then
    timeout 50 qemu-system-x86_64 -machine pc,accel=tcg -m 128M -smp "$cpus" -display none \
        -nodefaults -no-reboot -serial "file:$out" \
        -device isa-debug-exit,iobase=0xf4,iosize=4 -device pc-testdev \
        -kernel "$image" -initrd "$initrd" -append "$append loader=qemu" 2>"$err"
else
    timeout 100 "$memvisor" run "$image" --cpus "$cpus" --initrd "$initrd" --append "$append" \
        >"$out" 2>"$err"
fi
rc=$?

fail() {
    echo "FAIL ($mode $case): $*"
    echo "---- serial:"; cat "$out"; echo "---- stderr:"; cat "$err"
    exit 1
}
[[ $rc == "$status" ]] || fail "exit status $rc, expected $status"
grep -q '^Bail out!' "$out" && fail "the kernel bailed out"
grep -qx 'TAP version 13' "$out" || fail "no TAP header"

n=0 failed=0
while IFS= read -r line; do
    [[ $line =~ ^(not\ )?ok\ ([0-9]+)\ -\ (.*)$ ]] || continue
    n=$((n + 1))
    [[ ${BASH_REMATCH[2]} == "$n" ]] || fail "TAP line $n numbered ${BASH_REMATCH[2]}: '$line'"
    if [[ -n ${BASH_REMATCH[1]} ]]; then
        failed=$((failed + 1))
        [[ -n $want_fail && ${BASH_REMATCH[3]} =~ $want_fail ]] || fail "unexpected: '$line'"
    elif [[ -n $want_fail && ${BASH_REMATCH[3]} =~ $want_fail ]]; then
        fail "expected to fail: '$line'"
    fi
done <"$out"
grep -qx "1\\.\\.$n" "$out" || fail "no plan line 1..$n"
(( n == want_checks )) || fail "$n checks, expected $want_checks"
[[ -z $want_fail ]] || (( failed == 1 )) || fail "expected exactly one failed check, got $failed"
echo "ok: $mode $case: status $rc, $n checks, $failed failed as expected"
