#!/usr/bin/env bash
# sandbox_direct.sh SANDBOX — kvm case kvm.sandbox.direct: tools/sandbox's direct path, i.e. the
# one taken where /dev/kvm exists. As a kvm case it runs where /dev/kvm exists (the nested host,
# or a KVM machine), so the sandbox must run the command in place, with the same contract:
# the command's own exit status, 124 on timeout, stdin /dev/null, same working directory, and
# MV_SANDBOX=direct.
set -uo pipefail

sb=$(readlink -f "${1:?usage: sandbox_direct.sh path/to/tools/sandbox}")
fails=0

check() {  # check NAME WANT GOT
	if [ "$2" = "$3" ]; then
		echo "ok $1"
	else
		echo "FAIL $1: expected '$2', got '$3'"
		fails=$((fails + 1))
	fi
}

[ -c /dev/kvm ] || { echo "FAIL: no /dev/kvm here; run this through tools/sandbox"; exit 1; }

# shellcheck disable=SC2016  # expanded by the inner shell
out=$("$sb" -- sh -c 'echo "$MV_SANDBOX"')
check mode direct "$out"
"$sb" -- sh -c 'exit 7'
check exit_status 7 "$?"
"$sb" --nodes 3 --mem 4096 -- true
check options_ignored_directly 0 "$?"
start=$SECONDS
"$sb" --timeout 1 -- sleep 30
check timeout_status 124 "$?"
check timeout_is_prompt 1 "$(( SECONDS - start < 10 ))"
out=$("$sb" -- sh -c 'cat; echo end' </dev/zero)
check stdin_is_dev_null end "$out"
out=$(cd / && "$sb" -- pwd)
check same_directory / "$out"
"$sb" -- /nonexistent/command 2>/dev/null
check missing_command_127 127 "$?"

if [ "$fails" -ne 0 ]; then
	echo "$fails failed"
	exit 1
fi
echo "all passed"
