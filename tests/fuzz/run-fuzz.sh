#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# A timed libFuzzer run of every fuzz target (or those named), each for SECONDS (default 60),
# in a clang build with ASan and UBSan. New inputs go to a scratch corpus in the build
# directory; with MERGE=1 those reaching new edges are merged (-merge=1 -use_counters=0, so
# the corpus stays small) into tests/fuzz/corpus/<target>/, ready to commit. A crash leaves
# its input in BUILD/fuzz-artifacts/ and makes the script exit 1.
#
#   tests/fuzz/run-fuzz.sh [SECONDS [TARGET...]]
#   MERGE=1 tests/fuzz/run-fuzz.sh 300
#
# Needs clang and libclang-rt-14-dev (apt-get install clang libclang-rt-14-dev).
set -euo pipefail
cd "$(dirname "$0")/../.."
src=$PWD
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(config http render)
build=${RAWTPD_FUZZ_BUILD:-$src/build-fuzz}

if [ ! -f "$build/build.ninja" ]; then
	CC=clang meson setup "$build" -Dintegration_tests=false \
		-Db_sanitize=address,undefined -Db_lundef=false >"$build.setup.log" 2>&1 ||
		{ cat "$build.setup.log"; exit 1; }
fi
ninja -C "$build" "${targets[@]/#/tests/fuzz/fuzz-}"

declare -A max_len=([config]=4096 [http]=1024 [render]=8192)
status=0
mkdir -p "$build/fuzz-artifacts"
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1
for t in "${targets[@]}"; do
	work=$build/fuzz-corpus/$t
	mkdir -p "$work"
	echo "=== fuzz-$t for ${seconds}s"
	if ! "$build/tests/fuzz/fuzz-$t" -max_total_time="$seconds" -max_len="${max_len[$t]:-4096}" \
		-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$build/fuzz-artifacts/$t-" "$work" "tests/fuzz/corpus/$t" \
		2>"$build/fuzz-$t.log"; then
		status=1
		echo "=== fuzz-$t: FAILED, see $build/fuzz-$t.log and $build/fuzz-artifacts/"
	fi
	grep -E '^stat::(number_of_executed_units|new_units_added)|^Done ' "$build/fuzz-$t.log" || true
	if [ "${MERGE:-0}" = 1 ]; then
		# on edges only (no hit counters): a few dozen inputs per target, not hundreds
		"$build/tests/fuzz/fuzz-$t" -merge=1 -use_counters=0 -max_len="${max_len[$t]:-4096}" \
			"tests/fuzz/corpus/$t" "$work" 2>>"$build/fuzz-$t.log"
		echo "corpus/$t: $(ls "tests/fuzz/corpus/$t" | wc -l) files"
	fi
done
exit $status
