#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# man-tbl.sh SCDOC - SCDOC (stdin to stdout), with the line that tells man(1) to run tbl(1)
# first. rawtpd(8) has tables, and scdoc (1.11.3 and older) does not write that line: groff 1.23
# (Debian 13) then warns "tbl preprocessor failed, or it or soelim was not run" and lintian
# reports it (groff-message).
cat <<'LINE'
'\" t
LINE
exec "$1"
