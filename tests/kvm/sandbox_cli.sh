#!/usr/bin/env bash
# sandbox_cli.sh SANDBOX — ctest case sandbox.cli (label host): tools/sandbox's command line,
# checked without booting anything. Every usage error must exit 125 (the sandbox's own failure
# status) with a message naming the problem, before any package, kernel or QEMU is touched;
# --help must exit 0 and describe the exit-status contract.
set -uo pipefail

sb=$(readlink -f "${1:?usage: sandbox_cli.sh path/to/tools/sandbox}")
fails=0

# expect NAME STATUS TEXT -- ARGS... : run the sandbox with ARGS, check status and output text;
# returns 1 on a mismatch (for callers in a subshell) after counting it in fails.
expect() {
	local name=$1 want_rc=$2 want_text=$3 out rc
	shift 4
	out=$(timeout 20 "$sb" "$@" 2>&1 </dev/null)
	rc=$?
	if [ "$rc" -ne "$want_rc" ]; then
		echo "FAIL $name: exit $rc, expected $want_rc; output: $out"
		fails=$((fails + 1))
		return 1
	elif [[ "$out" != *"$want_text"* ]]; then
		echo "FAIL $name: output lacks '$want_text': $out"
		fails=$((fails + 1))
		return 1
	else
		echo "ok $name"
	fi
}

expect no_command 125 "no command given" --
expect only_options 125 "no command given" -- --nodes 2
expect unknown_option 125 "unknown option '--bogus'" -- --bogus true
expect option_without_value 125 "--nodes needs a value" -- --nodes
expect nodes_zero 125 "--nodes needs an integer >= 1, got '0'" -- --nodes 0 true
expect nodes_not_a_number 125 "--nodes needs an integer >= 1, got 'two'" -- --nodes two true
expect cpus_zero 125 "--cpus needs an integer >= 1, got '0'" -- --cpus=0 true
expect timeout_negative 125 "--timeout needs an integer >= 1, got '-1'" -- --timeout -1 true
expect stall_too_short 125 "--stall needs an integer >= 10, got '5'" -- --stall=5 true
expect mem_too_small 125 "leaves under 128 MiB per node" -- --nodes 4 --mem 256 true
expect rw_missing 125 "--rw /nonexistent/sandbox-cli is not a directory" -- --rw /nonexistent/sandbox-cli true
expect rw_root 125 "--rw / would hide" -- --rw / true
(cd / && expect cwd_root 125 "the working directory / cannot be the rw export" -- true) || fails=$((fails + 1))
expect help 0 "Exit status: COMMAND's own status; 124 on timeout or stall; 125" -- --help
expect help_short 0 "usage: tools/sandbox [OPTIONS] [--] COMMAND" -- -h

if [ "$fails" -ne 0 ]; then
	echo "$fails failed"
	exit 1
fi
echo "all passed"
