#!/usr/bin/env bash
# deps.sh PACKAGE... — make sure the given Debian packages are installed.
#
# Installs only what is missing, runs `apt-get update` only when something
# is missing, and does nothing (and needs no network) when all are present.
# Meant for Debian bookworm as root (CI, fresh machines); as non-root it
# says what to install and fails.
set -euo pipefail

missing=()
for pkg in "$@"; do
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	if [[ "$status" != "install ok installed" ]]; then
		missing+=("$pkg")
	fi
done

if ((${#missing[@]} == 0)); then
	exit 0
fi

echo "deps: installing missing Debian packages: ${missing[*]}"
if [[ "$(id -u)" != 0 ]]; then
	echo "deps: not root; run as root or: apt-get install ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
