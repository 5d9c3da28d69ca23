#!/usr/bin/env bash
# boot_check.sh — run a command (memvisor run ...), then check its exit status and that each
# expected line appears in its stdout exactly (whole line), in the given order.
#
#   boot_check.sh --status N [--expect LINE]... [--expect-re REGEX]... [--file F] -- CMD ARGS...
#
# --file F checks F (e.g. the --serial output) instead of stdout. On failure prints the output,
# what was expected and what was missing, and exits 1.
set -uo pipefail

status= file= checks=()
while [[ $# -gt 0 ]]; do
    case $1 in
    --status) status=$2; shift 2 ;;
    --expect) checks+=("L$2"); shift 2 ;;
    --expect-re) checks+=("R$2"); shift 2 ;;
    --file) file=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "boot_check.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
[[ -n $status && $# -gt 0 ]] || { echo "boot_check.sh: need --status and a command" >&2; exit 2; }

out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
"$@" >"$out" 2>"$err"
rc=$?
[[ -n $file ]] && cp "$file" "$out"

fail() {
    echo "FAIL: $*"
    echo "---- command: $*"; echo "---- stdout/file:"; cat "$out"; echo "---- stderr:"; cat "$err"
    exit 1
}
[[ $rc == "$status" ]] || fail "exit status $rc, expected $status"

# In order: each check must match a line after the previous match.
line_no=0
mapfile -t lines <"$out"
for c in "${checks[@]}"; do
    kind=${c:0:1} want=${c:1} found=
    while (( line_no < ${#lines[@]} )); do
        l=${lines[line_no]}; line_no=$((line_no + 1))
        if [[ $kind == L && $l == "$want" ]] || [[ $kind == R && $l =~ $want ]]; then
            found=1; break
        fi
    done
    [[ -n $found ]] || fail "missing (in order): '$want'"
done
cat "$err" >&2
echo "ok: status $rc, ${#checks[@]} lines matched"
