#!/usr/bin/env bash
# sandbox_stall.sh SANDBOX — ctest case sandbox.stall (label host): `tools/sandbox --stall S`
# must end a run whose nested host stopped beating with status 124 and a message saying so, S
# seconds after the last beat rather than when the command or --timeout would end it.
#
# The stop is made from inside: the command SIGSTOPs the nested host's heartbeat loop (the child
# of PID 1 that is not the command's own chroot'ed bash; tools/sandbox.d/init) and then sleeps
# 240 s. A live heartbeat would let it run to the 280 s --timeout (a different message); a
# watchdog that never fires gives 124 only after that timeout, long after the 90 s bound below.
# --force-nested: the nested path is what --stall watches, also on a machine with /dev/kvm.
set -uo pipefail

sb=$(readlink -f "${1:?usage: sandbox_stall.sh path/to/tools/sandbox}")
dir=$(mktemp -d "${TMPDIR:-/tmp}/sandbox-stall.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 1

# shellcheck disable=SC2016  # expanded inside the nested host
inside='for d in /proc/[0-9]*; do
	[ "$(awk "/^PPid:/ {print \$2}" "$d/status" 2>/dev/null)" = 1 ] || continue
	[ "$(cat "$d/comm")" = bash ] && continue
	kill -STOP "${d#/proc/}" && echo "stopped ${d#/proc/} ($(cat "$d/comm"))"
done
sleep 240'
start=$SECONDS
"$sb" --force-nested --cpus 1 --timeout 280 --stall 10 --rw "$dir" -- bash -c "$inside" \
	>"$dir/out" 2>"$dir/err"
rc=$? took=$((SECONDS - start))

fail() {
	echo "FAIL: $*"
	echo "---- stdout:"; cat "$dir/out"; echo "---- stderr:"; cat "$dir/err"
	exit 1
}
grep -q '^stopped [0-9]' "$dir/out" || fail "the command found no heartbeat loop to stop"
[ "$rc" -eq 124 ] || fail "exit $rc after $took s, expected 124"
grep -q 'sandbox: the nested host stopped: no heartbeat from it for 1[0-9] s' "$dir/err" ||
	fail "stderr lacks 'sandbox: the nested host stopped: no heartbeat from it for 1x s'"
[ "$took" -lt 90 ] || fail "took $took s: the stall was not noticed 10 s after the last beat"
echo "ok: 124 after $took s: $(cat "$dir/err")"
