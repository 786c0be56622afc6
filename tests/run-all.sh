#!/usr/bin/env bash
# run-all.sh: the whole test suite, as `./quickstart test` runs it after the
# build. Parts, in order:
#   1. make check in build/       (C unit tests, golden tests, script checks)
#   2. make check in build-asan/  (the same under AddressSanitizer + UBSan)
#   3. fuzz targets, a short run each (libFuzzer via clang)
#   4. integration tests (pytest with /usr/bin/python3, real clients and the
#      test broker), against build/
# Each part's results are counted; the last line is "N passed, N failed".
# Exit status is non-zero when anything failed.
set -uo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"
jobs=$(nproc 2>/dev/null || echo 2)
passed=0
failed=0
skipped=0
failures=()

say() { printf '\033[1m== %s\033[0m\n' "$*"; }

# Count automake test results from the .trs files of a build dir.
automake_part() { # name dir
	local name=$1 dir=$2
	say "$name: make check in $dir"
	make -s -C "$dir" -j"$jobs" check >"$dir/check.out" 2>&1
	local rc=$?
	local p f s
	p=$(grep -rh '^:test-result: \(PASS\|XFAIL\)' --include='*.trs' "$dir" 2>/dev/null | wc -l)
	f=$(grep -rh '^:test-result: \(FAIL\|XPASS\|ERROR\)' --include='*.trs' "$dir" 2>/dev/null | wc -l)
	s=$(grep -rh '^:test-result: SKIP' --include='*.trs' "$dir" 2>/dev/null | wc -l)
	if ((rc != 0 && f == 0)); then
		# The build of the tests itself failed: show why and count it.
		tail -30 "$dir/check.out"
		f=1
	fi
	grep -E '^(FAIL|ERROR|XPASS|SKIP):' "$dir/check.out" || true
	if ((f > 0)); then
		for log in $(grep -rl '^:test-result: \(FAIL\|XPASS\|ERROR\)' --include='*.trs' "$dir" 2>/dev/null); do
			echo "--- ${log%.trs}.log"
			tail -40 "${log%.trs}.log"
		done
		failures+=("$name")
	fi
	echo "$name: $p passed, $f failed, $s skipped"
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
}

automake_part unit+golden build
automake_part unit+golden-asan build-asan

# Fuzz: each target runs briefly from its seed corpus; a crash fails it.
if [[ -x tests/fuzz/run.sh ]] && ls tests/fuzz/fuzz_*.c >/dev/null 2>&1; then
	say "fuzz: short runs"
	fuzz_out=build/fuzz.out
	if tests/fuzz/run.sh "${KAFKATAP_FUZZ_SECONDS:-20}" >"$fuzz_out" 2>&1; then :; fi
	fp=$(grep -c '^FUZZ PASS' "$fuzz_out" || true)
	ff=$(grep -c '^FUZZ FAIL' "$fuzz_out" || true)
	grep '^FUZZ ' "$fuzz_out" || tail -20 "$fuzz_out"
	if ((fp + ff == 0)); then
		tail -20 "$fuzz_out"
		ff=1
	fi
	((ff > 0)) && failures+=(fuzz)
	passed=$((passed + fp))
	failed=$((failed + ff))
fi

# Integration tests: real clients, the real binary, the test broker.
if ls tests/integration/test_*.py >/dev/null 2>&1; then
	say "integration: pytest"
	xml=build/pytest.xml
	rm -f "$xml"
	KAFKATAP_BUILDDIR="$top/build" KAFKATAP_ASAN_BUILDDIR="$top/build-asan" \
		/usr/bin/python3 -m pytest tests/integration -q -p no:cacheprovider \
		--junitxml="$xml" -o junit_family=xunit2
	rc=$?
	if [[ -f $xml ]]; then
		read -r t f e s < <(/usr/bin/python3 - "$xml" <<'EOF'
import sys, xml.etree.ElementTree as ET
r = ET.parse(sys.argv[1]).getroot()
suites = [r] if r.tag == "testsuite" else list(r)
tot = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
print(tot["tests"], tot["failures"], tot["errors"], tot["skipped"])
EOF
		)
		pf=$((f + e))
		pp=$((t - f - e - s))
		if ((rc != 0 && rc != 5 && pf == 0)); then pf=1; fi
	else
		pp=0
		pf=1
	fi
	((pf > 0)) && failures+=(integration)
	echo "integration: $pp passed, $pf failed, ${s:-0} skipped"
	passed=$((passed + pp))
	failed=$((failed + pf))
	skipped=$((skipped + ${s:-0}))
fi

echo
if ((${#failures[@]})); then
	echo "failed parts: ${failures[*]}"
fi
echo "skipped: $skipped"
echo "$passed passed, $failed failed"
((failed == 0))
