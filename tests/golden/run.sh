#!/usr/bin/env bash
# run.sh: golden tests of `kafkatap decode`, tcpdump style. Each line of
# TESTLIST is
#
#     name  capture-file  expected-file  [options...]
#
# (paths relative to the top of the source tree; '#' starts a comment;
# options are shell words, so quotes group them). The
# test runs `kafkatap decode OPTIONS CAPTURE` from the top of the source
# tree, with standard output and standard error together, then a last line
# "exit: STATUS", and compares that with the expected file. Output is
# deterministic: times are UTC, nothing depends on the clock or the machine.
#
# A line whose name starts with '=' is an equivalence check instead:
#
#     =name  capture-file  original-capture  [options...]
#
# both captures are decoded with the options, and the outputs must be the
# same but for the packet count of the summary line (a re-encoding of a
# capture, e.g. into IP fragments or other link types, must decode to the
# same exchanges). Nothing is written for these when regenerating.
#
# Prints PASS/FAIL per line and exits non-zero when any line failed.
# `make check` runs it with srcdir/top_srcdir and KAFKATAP set; by hand:
#     KAFKATAP=build/kafkatap tests/golden/run.sh [NAME...]
# tests/golden/regen.sh rewrites the expected files (check them by hand,
# against tshark, before committing).
set -u
top=$(cd "${top_srcdir:-${srcdir:-$(dirname "$0")/../..}}" && pwd)
bin=${KAFKATAP:-$top/kafkatap}
[[ -x $bin ]] || { echo "run.sh: no kafkatap binary at $bin (set KAFKATAP)"; exit 99; }
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
regen=${GOLDEN_REGEN:-0}
only=("$@")
cd "$top" || exit 99
export TZ=UTC LC_ALL=C

pass=0
fail=0
# judge STATUS NAME FAIL-TEXT DIFF-FILE: count a case from its diff's exit
# status; a failure shows the head of the diff, a pass removes it.
judge() {
	if [[ $1 == 0 ]]; then
		echo "PASS: $2"
		pass=$((pass + 1))
		rm -f "$4"
	else
		echo "FAIL: $3"
		head -40 "$4"
		fail=$((fail + 1))
	fi
}
while read -r name capture expected opts; do
	[[ -z ${name:-} || $name == \#* ]] && continue
	if ((${#only[@]})); then
		want=0
		for o in "${only[@]}"; do [[ $o == "$name" ]] && want=1; done
		((want)) || continue
	fi
	# Options are shell words: quotes group them ("-f 'tcp port 1'").
	eval "args=(${opts:-})"
	if [[ $name == =* ]]; then
		[[ $regen == 1 ]] && continue
		# `expected` is the original capture here.
		norm() { "$bin" decode "${args[@]}" "$1" 2>&1 </dev/null | sed -E 's/^(kafkatap decode: )[0-9]+ packets,/\1N packets,/'; echo "exit: ${PIPESTATUS[0]}"; }
		d=${TMPDIR:-/tmp}/golden-${name#=}.diff
		diff -u <(norm "$expected") <(norm "$capture") >"$d"
		judge $? "$name" "$name ($capture decodes differently from $expected)" "$d"
		continue
	fi
	actual=$("$bin" decode "${args[@]}" "$capture" 2>&1 </dev/null; echo "exit: $?")
	if [[ $regen == 1 ]]; then
		printf '%s\n' "$actual" >"$expected"
		echo "WROTE: $name ($expected)"
		continue
	fi
	if [[ ! -f $expected ]]; then
		echo "FAIL: $name (no expected file $expected)"
		fail=$((fail + 1))
		continue
	fi
	d=${TMPDIR:-/tmp}/golden-$name.diff
	diff -u "$expected" <(printf '%s\n' "$actual") >"$d"
	judge $? "$name" "$name" "$d"
done <"$top/tests/golden/TESTLIST"
[[ $regen == 1 ]] && exit 0
echo "golden: $pass passed, $fail failed"
((fail == 0))
