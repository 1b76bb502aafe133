#!/usr/bin/env bash
# The Debian packages the tests need besides the Python environment, installed where possible.
#
#   bash tests/system_deps.sh PACKAGE...
#
# Root with apt-get: installs the missing packages. Otherwise: exits 1 with one line naming
# them. `make system-deps` calls it (see the Makefile for the list).
set -euo pipefail

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

missing=()
for package in "$@"; do
    installed "$package" || missing+=("$package")
done
((${#missing[@]} == 0)) && exit 0

if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "system_deps: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    exit 0
fi
echo "the tests need Debian packages that are missing; as root run: apt-get install ${missing[*]}" >&2
exit 1
