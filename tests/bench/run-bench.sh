#!/usr/bin/env bash
# run-bench.sh: `make bench`. Runs every benchmark in one go on this machine
# and writes docs/PERFORMANCE.md. Benchmarks report ratios against a baseline
# measured in the same run (direct connection, haproxy, tshark), never
# absolute pass/fail thresholds: they are not tests.
#
# usage: tests/bench/run-bench.sh BUILDDIR [OUT.md]
set -uo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
out=${2:-$top/docs/PERFORMANCE.md}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

section() { # title command...
	local title=$1
	shift
	echo "== $title: $*" >&2
	{
		echo
		echo "## $title"
		echo
		echo "Command: \`$*\`"
		echo
		if ! "$@" 2>"$tmp/err"; then
			echo
			echo "(this benchmark failed: $(tail -3 "$tmp/err" | tr '\n' ' '))"
		fi
	} >>"$tmp/body.md"
}

: >"$tmp/body.md"
# Each benchmark prints a markdown fragment (tables) on stdout.
[[ -x $build/tests/bench/bench_codec ]] && section "Codec: decoding messages" "$build/tests/bench/bench_codec"
[[ -x $build/tests/bench/bench_records ]] && section "Record batches: decoding per codec" "$build/tests/bench/bench_records"
[[ -x $build/tests/bench/bench_store ]] && section "Store: writing exchanges to SQLite" "$build/tests/bench/bench_store"
[[ -x $top/tests/bench/bench_decode.sh ]] && section "Capture decoding: kafkatap decode against tshark" "$top/tests/bench/bench_decode.sh" "$build"
[[ -x $top/tests/bench/bench_proxy.sh ]] && section "Proxy: throughput and latency against direct and haproxy" "$top/tests/bench/bench_proxy.sh" "$build"

{
	echo "# Performance"
	echo
	echo "Written by \`make bench\` (tests/bench/run-bench.sh) on $(date -u +%Y-%m-%d)."
	echo "Machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo),"
	echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')."
	echo "Every ratio compares against a baseline measured in the same run. Absolute rates"
	echo "(MB/s, exchanges/s) depend on the machine and, on a shared virtual machine, on the"
	echo "hour: the same build has measured up to 1.7 times apart on this one. Ratios move less,"
	echo "but they move: compare runs of one day, not of different machines."
	cat "$tmp/body.md"
} >"$out"
echo "wrote $out" >&2
