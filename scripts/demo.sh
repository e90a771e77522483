#!/usr/bin/env bash
# demo.sh RUNSC ROOTFS — run a few commands in the sandbox and show what
# they print. Every command runs even if an earlier one fails; the exit
# status says whether all of them worked.
set -uo pipefail

runsc=${1:?usage: demo.sh RUNSC ROOTFS}
rootfs=${2:?usage: demo.sh RUNSC ROOTFS}
failed=0

# show prints a command line the way one would type it.
show() {
	local out= a
	for a in "$@"; do
		if [[ "$a" =~ ^[A-Za-z0-9_/.:=,+-]+$ ]]; then
			out+=" $a"
		else
			out+=" '${a//\'/\'\\\'\'}'"
		fi
	done
	printf '\n$%s\n' "$out"
}

run() {
	show "$@"
	timeout --kill-after=5 60 "$@"
	local rc=$?
	if ((rc != 0)); then
		echo "(exit status $rc)"
		failed=1
	fi
}

run "$runsc" version
run "$runsc" do --rootfs "$rootfs" -- /bin/sh -c 'echo "hello from $(uname -s) $(uname -r), pid $$"; id; ls /'
run "$runsc" do --rootfs "$rootfs" -- /bin/sh -c 'seq 1 100 | awk "{ s += \$1 } END { print \"sum of 1..100 =\", s }"; echo hi | sha256sum'
run "$runsc" do --rootfs "$rootfs" -- /bin/sh -c 'sleep 1 & ps -o pid,comm; wait; echo "background job done"'
run "$runsc" do --rootfs "$rootfs" -- /bin/sh -c 'cd /tmp && echo data > f && tar czf f.tgz f && tar tzvf f.tgz'
run "$runsc" do -- /bin/ls -l /usr

if ((failed)); then
	printf '\ndemo: some commands failed (see above)\n' >&2
	exit 1
fi
printf '\ndemo: all commands ran\n'
