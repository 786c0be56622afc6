#!/bin/bash
# run.sh SECONDS [BUILDDIR]: build the fuzz targets (build.sh), then run each
# for SECONDS with its seed corpus tests/fuzz/corpus/<target>/ (read only: new
# inputs go to BUILDDIR/fuzz/corpus/<target>/, crashes to
# BUILDDIR/fuzz/artifacts/). Exits non-zero if any target found a crash.
# Extra libFuzzer options can be given in FUZZ_OPTS (e.g. "-jobs=2").
set -uo pipefail
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:?usage: run.sh SECONDS [BUILDDIR]}
builddir=${2:-${KAFKATAP_FUZZ_BUILDDIR:-$srcdir/build-fuzz}}
"$srcdir/tests/fuzz/build.sh" "$builddir" || exit 1
builddir=$(cd "$builddir" && pwd)
status=0
for t in "$srcdir"/tests/fuzz/fuzz_*.c; do
	name=$(basename "$t" .c)
	work=$builddir/fuzz/corpus/$name
	seeds=$srcdir/tests/fuzz/corpus/$name
	mkdir -p "$work" "$builddir/fuzz/artifacts"
	dirs=("$work")
	[[ -d $seeds ]] && dirs+=("$seeds")
	echo "run.sh: $name for ${secs}s"
	# rc is the fuzzer's own status, taken from PIPESTATUS right after the
	# pipeline. No `|| true` after it (there is no set -e): with pipefail a
	# crash fails the pipeline, `true` would then run and leave PIPESTATUS
	# as (0), so every crash read as a pass. grep matching nothing is fine.
	# shellcheck disable=SC2086
	"$builddir/fuzz/$name" -max_total_time="$secs" -print_final_stats=1 \
		-artifact_prefix="$builddir/fuzz/artifacts/$name-" ${FUZZ_OPTS:-} "${dirs[@]}" \
		2>&1 | tee "$builddir/fuzz/$name.log" | grep -E '^#[0-9]+.*(DONE|pulse)|stat::|ERROR|SUMMARY|==[0-9]+=='
	rc=${PIPESTATUS[0]}
	if [[ $rc -ne 0 ]]; then
		echo "run.sh: $name FAILED (exit $rc); see $builddir/fuzz/$name.log"
		echo "FUZZ FAIL $name"
		status=1
	else
		runs=$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$builddir/fuzz/$name.log" | grep -oE '[0-9]+$')
		echo "FUZZ PASS $name (${runs:-?} runs in ${secs}s, no crash)"
	fi
done
exit $status
