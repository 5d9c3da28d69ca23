# stats_run.sh — sourced by the kvm checks that hold memvisor's --stats against the guest
# (memtest_check.sh, hostagree_check.sh). Before sourcing, set `stats` (the JSON path) and leave
# the memvisor command in "$@". It runs the command with stdout in $out (the guest's serial
# lines, CR stripped) and stderr in $err, then requires: exit status 1 (guest exit code 0), the
# statistics file, and memvisor's end-of-run consistency check. It defines fail MESSAGE (prints
# everything and exits 1) and field NAME LINE (the number after "NAME": in a one-line JSON
# object). $tmp is a scratch file. No process substitution: the sandbox has no /dev/fd.
out=$(mktemp) err=$(mktemp) tmp=$(mktemp)
trap 'rm -f "$out" "$err" "$tmp"' EXIT
rm -f "$stats"
"$@" >"$out" 2>"$err"
rc=$?
sed -i 's/\r$//' "$out"          # the guest's serial lines end in CR LF

fail() {
    echo "FAIL: $*"
    echo "---- stdout:"; cat "$out"; echo "---- stderr:"; cat "$err"
    [[ -f $stats ]] && { echo "---- $stats:"; cat "$stats"; }
    exit 1
}

field() { sed -n "s/.*\"$1\": \([0-9]*\).*/\1/p" <<<"$2"; }

[[ $rc == 1 ]] || fail "exit status $rc, expected 1 (guest exit code 0)"
[[ -f $stats ]] || fail "no statistics written to $stats"
grep -qx "memvisor: guest memory consistency check: ok" "$err" \
    || fail "memvisor's end-of-run consistency check (stage 2, pools, swap, host mappings) did not pass"
