# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=bash
#
# Sourced by fetch-kernels.sh and tests/trixie/root-lib.sh: the host's Debian mirror.

# The URI of the host's main Debian archive (not -security), from deb822 or one-line sources;
# RAWTPD_VM_MIRROR overrides it.
debian_mirror() {
	local f uri=${RAWTPD_VM_MIRROR:-}
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -z "$uri" ] || break
		[ -r "$f" ] || continue
		uri=$(awk '
			BEGIN { RS = ""; FS = "\n" }
			{
				u = ""; s = ""
				for (i = 1; i <= NF; i++) {
					if ($i ~ /^URIs:/) { u = $i; sub(/^URIs:[ \t]*/, "", u); sub(/[ \t].*/, "", u) }
					if ($i ~ /^Suites:/) s = $i
				}
				if (u != "" && s ~ /(bookworm|bullseye|trixie|stable)([ \t]|$)/ && u !~ /security/) { print u; exit }
			}' "$f")
	done
	if [ -z "$uri" ]; then
		uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
			awk '$1 == "deb" && $0 !~ /security/ {
				for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit }
			}')
	fi
	printf '%s\n' "${uri:-http://deb.debian.org/debian}"
}

