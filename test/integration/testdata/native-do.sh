#!/usr/bin/env bash
# native-do.sh — a stand-in for `runsc-cri do` that runs the command
# NATIVELY (chroot and namespaces, no sandbox). It exists to check the
# integration tests themselves: with
#
#	RUNSC_CRI=$PWD/test/integration/testdata/native-do.sh go test ./test/integration
#
# every comparison case must pass (two native runs agree after
# normalisation); the escape and limit cases are not expected to pass.
# Never use it for anything else: it isolates nothing.
set -euo pipefail

if [[ "${1:-}" == version ]]; then
	echo "native-do (not a sandbox)"
	exit 0
fi
[[ "${1:-}" == do ]] || { echo "native-do.sh: only 'do' and 'version'" >&2; exit 2; }
shift
rootfs= user= cwd= envs=()
while (($#)); do
	case "$1" in
	--rootfs) rootfs=$2; shift 2 ;;
	--user) user=$2; shift 2 ;;
	--cwd) cwd=$2; shift 2 ;;
	--env) envs+=("$2"); shift 2 ;;
	--platform | --memory-limit | --max-tasks) shift 2 ;;
	--debug) shift ;;
	--) shift; break ;;
	*) echo "native-do.sh: unknown flag $1" >&2; exit 2 ;;
	esac
done

inner=("$@")
if [[ -n "$cwd" ]]; then
	inner=(/bin/sh -c 'cd "$0" && exec "$@"' "$cwd" "$@")
fi
if [[ -z "$rootfs" ]]; then
	# Host root: private /tmp only.
	exec unshare --mount --pid --fork --mount-proc -- /bin/sh -c '
		mount -t tmpfs tmpfs /tmp; shift; exec "$@"' x x env -i "${envs[@]}" "${inner[@]}"
fi
setup='set -e
R=$1 U=$2; shift 2
mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"
mount -t tmpfs -o mode=755 tmpfs "$R/dev"
mknod -m 666 "$R/dev/null" c 1 3
mknod -m 666 "$R/dev/zero" c 1 5
mknod -m 666 "$R/dev/full" c 1 7
mknod -m 666 "$R/dev/random" c 1 8
mknod -m 666 "$R/dev/urandom" c 1 9
mknod -m 666 "$R/dev/tty" c 5 0
mkdir -m 1777 "$R/dev/shm"
ln -s /proc/self/fd "$R/dev/fd"
ln -s /proc/self/fd/0 "$R/dev/stdin"
ln -s /proc/self/fd/1 "$R/dev/stdout"
ln -s /proc/self/fd/2 "$R/dev/stderr"
set +e
spec=
if [ -n "$U" ]; then
	uid=${U%%:*}; gid=${U#*:}; [ "$gid" = "$U" ] && gid=$uid
	spec="--userspec=$uid:$gid --groups=$gid"
fi
exec chroot $spec "$R" /bin/env -i "$@"'
exec unshare --mount --pid --fork --mount-proc="$rootfs/proc" -- /bin/sh -c "$setup" native "$rootfs" "$user" "${envs[@]}" "${inner[@]}"
