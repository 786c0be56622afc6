#!/usr/bin/env bash
# bench_decode.sh: how fast `kafkatap decode` reads a large capture, against
# tshark extracting the same fields, measured in the same run. Not a test:
# it prints a markdown fragment (run-bench.sh collects it into
# docs/PERFORMANCE.md).
#
#   tests/bench/bench_decode.sh BUILDDIR [MB]
#
# 1. Starts the mock broker (BUILDDIR/tests/launcher/kt-mockbroker) on a fixed
#    port and captures loopback traffic on that port with dumpcap.
# 2. kcat produces 100-byte records while a second kcat consumes them, until
#    the capture holds at least MB megabytes (default 200).
# 3. Times `kafkatap decode --json` (the headline: every exchange decoded to
#    JSON, record batches included), `kafkatap decode -q` (every record expanded
#    into tree nodes, no output) and `tshark -T fields` extracting api key, correlation id,
#    client id, topic, partition, error code and record key/value, all to
#    /dev/null, and prints wall and CPU time, MB/s for each and the ratio.
# Needs root (or capture rights) for dumpcap on lo; kcat, tshark, dumpcap,
# GNU time (/usr/bin/time).
# Keep the capture with BENCH_KEEP=1 (its path is printed on stderr); time
# an existing one instead with BENCH_PCAP=FILE (and BENCH_PORT=its port).
set -uo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
want_mb=${2:-200}
port=${BENCH_PORT:-29092}
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	if [[ ${BENCH_KEEP:-0} == 1 ]]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
die() { echo "bench_decode: $*" >&2; exit 1; }

kt=$build/kafkatap
mock=$build/tests/launcher/kt-mockbroker
[[ -x $kt ]] || die "no $kt (build first)"
if [[ -z ${BENCH_PCAP:-} ]]; then
	[[ -x $mock ]] || die "no $mock (make tests/launcher/kt-mockbroker)"
	for t in kcat dumpcap; do command -v $t >/dev/null || die "needs $t"; done
fi
command -v tshark >/dev/null || die "needs tshark"

if [[ -n ${BENCH_PCAP:-} ]]; then
	# A capture made before (BENCH_KEEP=1), with BENCH_PORT its broker port.
	pcap=$BENCH_PCAP
	[[ -s $pcap ]] || die "no capture '$pcap'"
else
	# The broker.
	mkfifo "$tmp/mock.in"
	"$mock" --brokers 1 --port-base "$port" --topic bench:8 <"$tmp/mock.in" >"$tmp/mock.out" 2>"$tmp/mock.err" &
	pids+=($!)
	exec 7>"$tmp/mock.in" # keeps its stdin open
	for _ in $(seq 50); do [[ -s $tmp/mock.out ]] && break; sleep 0.1; done
	bootstrap=$(head -1 "$tmp/mock.out")
	[[ -n $bootstrap ]] || die "the mock broker did not start: $(cat "$tmp/mock.err")"

	# The capture.
	pcap=$tmp/bench.pcapng
	dumpcap -q -i lo -B 512 -s 262144 -f "tcp port $port" -w "$pcap" 2>"$tmp/dumpcap.err" &
	dumpcap_pid=$!
	pids+=($dumpcap_pid)
	for _ in $(seq 50); do [[ -s $pcap ]] && break; sleep 0.1; done
	[[ -s $pcap ]] || die "dumpcap did not start: $(cat "$tmp/dumpcap.err")"

	# 100-byte records: "NNNNNNNNNN " + padding, keyed, so record keys/values exist.
	/usr/bin/python3 - "$tmp/records.txt" <<-'EOF'
	import sys
	with open(sys.argv[1], "w") as f:
	    for i in range(200000):
	        v = "%010d " % i
	        f.write("k%07d\t%s\n" % (i, v + "x" * (100 - len(v))))
	EOF
	rounds=0
	while :; do
		size_mb=$(($(stat -c %s "$pcap") / 1000000))
		((size_mb >= want_mb)) && break
		((rounds++ > 60)) && die "the capture stays at $size_mb MB"
		# The consumer follows the producer (the mock keeps only 5 MiB per partition).
		timeout 120 kcat -C -b "$bootstrap" -t bench -o end -q -X fetch.wait.max.ms=50 \
			-X queued.min.messages=1000000 >/dev/null 2>&1 &
		cons=$!
		kcat -P -b "$bootstrap" -t bench -K $'\t' -X linger.ms=5 -X sticky.partitioning.linger.ms=0 \
			-X batch.num.messages=1000 -l "$tmp/records.txt" 2>/dev/null || die "kcat produce failed"
		sleep 1
		kill $cons 2>/dev/null
		wait $cons 2>/dev/null
	done
	sleep 0.5
	kill -INT $dumpcap_pid
	wait $dumpcap_pid 2>/dev/null
fi
bytes=$(stat -c %s "$pcap")
mb=$(awk -v b="$bytes" 'BEGIN{printf "%.1f", b/1e6}')
echo "capture: $mb MB in $pcap" >&2

# Warm the page cache so both tools read from memory.
cat "$pcap" >/dev/null

# Each command runs to /dev/null. CPU time (user + system, from
# /usr/bin/time) is what "one core" means: kafkatap decode is
# single-threaded. tshark is slow and runs once, for 15-20 s. A shared
# virtual machine's speed drifts over seconds, and a best-of-a-few short
# kafkatap runs would catch its fast moments while tshark's one long run
# averages them: so each kafkatap mode runs BENCH_RUNS times (default 10)
# before tshark and as many times after it, and the median of those runs is
# what is compared.
runs=${BENCH_RUNS:-10}
timeit() { # command... : prints "wall cpu" seconds (or "fail fail")
	if /usr/bin/time -f '%e %U %S' -o "$tmp/time.out" "$@" >/dev/null 2>"$tmp/last.err"; then
		awk '{printf "%.3f %.3f", $1, $2 + $3}' "$tmp/time.out"
	else
		echo "failed: $* ($(tail -2 "$tmp/last.err"))" >&2
		echo "fail fail"
	fi
}
runs_to() { # file runs command... : appends "wall cpu" lines, one per run
	local f=$1 n=$2
	shift 2
	for _ in $(seq "$n"); do timeit "$@" >>"$f" && echo >>"$f"; done
}
median_of() { # file column: the median of that column (or "fail")
	grep -q fail "$1" && { echo fail; return; }
	awk -v c="$2" '{print $c}' "$1" | sort -g | awk '{a[NR]=$1} END {print (NR ? a[int((NR+1)/2)] : "fail")}'
}
[[ -x /usr/bin/time ]] || die "needs /usr/bin/time (GNU time) for CPU times"
: >"$tmp/json.t"
: >"$tmp/q.t"
runs_to "$tmp/json.t" "$runs" "$kt" decode -p "$port" --json "$pcap"
runs_to "$tmp/q.t" "$runs" "$kt" decode -p "$port" -q "$pcap"
read -r ts_s ts_cpu < <(timeit tshark -r "$pcap" -o "kafka.tcp.ports:$port" -T fields -e kafka.api_key \
	-e kafka.correlation_id -e kafka.client_id -e kafka.topic_name -e kafka.partition_id \
	-e kafka.error -e kafka.message_key -e kafka.message_value)
runs_to "$tmp/q.t" "$runs" "$kt" decode -p "$port" -q "$pcap"
runs_to "$tmp/json.t" "$runs" "$kt" decode -p "$port" --json "$pcap"
kt_s=$(median_of "$tmp/json.t" 1)
kt_cpu=$(median_of "$tmp/json.t" 2)
kt_q=$(median_of "$tmp/q.t" 1)
kt_qcpu=$(median_of "$tmp/q.t" 2)
exchanges=$("$kt" decode -p "$port" -q "$pcap" 2>&1 | grep -o '[0-9]* exchanges' | head -1)
rate() { awk -v b="$bytes" -v s="$1" 'BEGIN{if (s > 0) printf "%.0f", b/1e6/s; else print "-"}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{if (b > 0) printf "%.1f", a/b; else print "-"}'; }

echo "Capture: $mb MB (pcapng, loopback), $exchanges; kcat producing 100-byte records"
echo "with a kcat consumer running, through librdkafka's mock broker. Every command"
echo "writes to /dev/null; MB/s is capture bytes per second. kafkatap: the median of"
echo "$((2 * runs)) runs, half before tshark and half after (wall and CPU separately);"
echo "tshark: one run. CPU = user + system time."
echo "JSON (and line) output write the records of a sound batch straight from its bytes;"
echo "-q builds the tree nodes of every record, the cost every other consumer pays"
echo "(docs/records.md, \"Lazy records\")."
echo
echo "| mode | command | wall s | MB/s (wall) | CPU s | MB/s (CPU) |"
echo "|---|---|---:|---:|---:|---:|"
echo "| **JSON, records decoded (headline)** | \`kafkatap decode -p $port --json\` | $kt_s | $(rate "$kt_s") | $kt_cpu | $(rate "$kt_cpu") |"
echo "| every record expanded into tree nodes, no output | \`kafkatap decode -p $port -q\` | $kt_q | $(rate "$kt_q") | $kt_qcpu | $(rate "$kt_qcpu") |"
echo "| tshark, the same fields | \`tshark -T fields -e kafka.api_key ... -e kafka.message_value\` | $ts_s | $(rate "$ts_s") | $ts_cpu | $(rate "$ts_cpu") |"
echo
echo "kafkatap decode --json is $(ratio "$ts_s" "$kt_s")x faster than tshark -T fields in wall time," \
	"$(ratio "$ts_cpu" "$kt_cpu")x in CPU time."
