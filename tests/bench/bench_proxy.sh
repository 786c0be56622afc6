#!/usr/bin/env bash
# bench_proxy.sh: throughput and latency of `kafkatap proxy` against a direct
# connection and against haproxy (TCP mode) forced into the path. Not a test:
# it prints markdown tables (run-bench.sh puts them in docs/PERFORMANCE.md).
#
# usage: tests/bench/bench_proxy.sh BUILDDIR
#   env: KT_BENCH_N100 (messages at 100 B, default 4000000),
#        KT_BENCH_N1K (messages at 1 KB, default 600000),
#        KT_BENCH_REPS (runs per cell, the median is shown; default 5),
#        KT_BENCH_RTT (round trips for the latency test, default 20000),
#        KT_BENCH_PATHS (paths to measure, default all; direct is always
#        measured first), KT_BENCH_SIZES (default "100 1024")
#
# Set-up, one single-broker mock cluster (tests/launcher/kt-mockbroker) per
# run, a librdkafka producer then consumer (tests/bench/kt-load.c):
#   direct      client -> broker
#   splice-relay  client -> tests/bench/splice-relay.c -> broker: the floor,
#               a relay that only moves bytes with splice(2) and looks at
#               none of them. What it costs is what any relay in the path
#               costs at the least ("vs floor" compares with it). It is
#               put in the path as haproxy is.
#   splice-relay+copy  the same, also tee(2)ing every byte and reading it
#               into one buffer: the least a relay that records must do
#               (see every byte once), without framing, decoding, keeping
#               or writing anything. The recording paths' floor.
#   splice-relay+idle  the floor relay with two threads beside it that only
#               compute, at the lowest priority (SCHED_IDLE, nice 19), as
#               the recording's threads run: what using only idle CPU still
#               costs the clients on this machine. Its CPU figures include
#               those threads.
#   haproxy     client -> haproxy -> broker. The broker must advertise
#               haproxy's address or clients would go around it: a small
#               LD_PRELOAD shim makes the broker listen on 127.0.0.2:P while
#               it advertises 127.0.0.1:P, where haproxy listens.
#   kafkatap    client -> kafkatap proxy (cluster mode: it rewrites the
#               advertised address itself) -> broker
#   kafkatap+record   the same, recording every exchange to SQLite
#   kafkatap+record-lean   recording with --store-no-records (exchanges, raw
#               frames and JSON, but no row per record in the records table)
#   kafkatap+record-reserve  recording with --store-reserve (the queue's
#               memory taken at start, docs/proxy.md "The queue's size")
#   kafkatap+record-pause  a complete recording (--store-when-full pause):
#               when the queue is full the proxy stops reading, so the
#               clients run at the recording's pace and nothing is dropped
# Latency: one connection, one ApiVersions v0 at a time; "added" is the
# relay's percentile minus the direct one. Memory: RSS growth of the proxy
# per idle connection (after one exchange each), 2000 connections.
#
# CPU: on a small machine the clients and the broker take every core, so a
# relay's throughput ratio is mostly its CPU cost in disguise. For each relay
# the table gives its CPU time (user + system, all threads) per MB of
# message payload produced and consumed, twice: while the clients ran, and
# over its whole life up to exit after SIGTERM, which includes writing out
# what a recording still had queued. "flush s" is that SIGTERM-to-exit time:
# a recording that cannot keep up looks fast while the clients run and then
# spends this long catching up (or drops: the last column).
set -uo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
# 400 and 600 MB: at 200 MB a 1 KB produce took a third of a second, and the
# ratio of one run to the direct run beside it ranged from 0.65 to 2.35.
N100=${KT_BENCH_N100:-4000000}
N1K=${KT_BENCH_N1K:-600000}
# Five: on the 2-core benchmark VM the median of three runs moved by up to
# 0.4x between two make bench runs (haproxy, 100 B produce: 0.92x, 1.31x).
REPS=${KT_BENCH_REPS:-5}
RTT_N=${KT_BENCH_RTT:-20000}
PARTS=256
kafkatap=$build/kafkatap
launcher=$build/tests/launcher/kt-mockbroker
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

die() { echo "bench_proxy: $*" >&2; exit 1; }
[[ -x $kafkatap ]] || die "no kafkatap in $build"
[[ -x $launcher ]] || die "no $launcher (build it: make tests/launcher/kt-mockbroker)"
command -v haproxy >/dev/null || die "haproxy not installed (Debian: haproxy)"
cc -O2 -o "$tmp/kt-load" "$top/tests/bench/kt-load.c" -lrdkafka || die "cannot build kt-load"
cc -O2 -pthread -o "$tmp/splice-relay" "$top/tests/bench/splice-relay.c" || die "cannot build splice-relay"
cat >"$tmp/shim.c" <<'EOF'
/* Listen on 127.0.0.2 but report (and so advertise) 127.0.0.1. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
int bind(int fd, const struct sockaddr *a, socklen_t l)
{
	int (*real)(int, const struct sockaddr *, socklen_t) = dlsym(RTLD_NEXT, "bind");
	struct sockaddr_in s;
	if (a && a->sa_family == AF_INET && l >= sizeof s) {
		memcpy(&s, a, sizeof s);
		if (s.sin_addr.s_addr == htonl(INADDR_LOOPBACK)) {
			s.sin_addr.s_addr = htonl(0x7f000002);
			return real(fd, (struct sockaddr *)&s, sizeof s);
		}
	}
	return real(fd, a, l);
}
int getsockname(int fd, struct sockaddr *a, socklen_t *l)
{
	int (*real)(int, struct sockaddr *, socklen_t *) = dlsym(RTLD_NEXT, "getsockname");
	int r = real(fd, a, l);
	struct sockaddr_in *s = (struct sockaddr_in *)a;
	if (r == 0 && a->sa_family == AF_INET && s->sin_addr.s_addr == htonl(0x7f000002))
		s->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return r;
}
EOF
cc -shared -fPIC -O2 -o "$tmp/shim.so" "$tmp/shim.c" -ldl || die "cannot build the shim"

free_base() { # a port P with P..P+9 free
	/usr/bin/python3 -c '
import random, socket
for _ in range(200):
    b = random.randrange(20000, 60000); ss = []
    try:
        for p in range(b, b + 10):
            s = socket.socket(); ss.append(s); s.bind(("127.0.0.1", p))
        print(b); break
    except OSError: pass
    finally:
        for s in ss: s.close()'
}
wait_port() { # host port
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
		sleep 0.05
	done
	die "nothing listens on $1:$2"
}
stop() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

# start_path PATH PORT -> sets BS (bootstrap) and RELAY_PID, starts the broker
start_path() {
	local path=$1 p=$2
	RELAY_PID=
	local pre=
	[[ $path == haproxy || $path == splice-relay* ]] && pre=$tmp/shim.so
	LD_PRELOAD=$pre "$launcher" --no-stdin --brokers 1 --ports "$p" --topic "bench:$PARTS" \
		>"$tmp/broker.out" 2>"$tmp/broker.err" &
	BROKER_PID=$!
	pids+=("$BROKER_PID")
	case $path in
	direct)
		wait_port 127.0.0.1 "$p"
		BS=127.0.0.1:$p ;;
	splice-relay*)
		wait_port 127.0.0.2 "$p"
		local copy=()
		[[ $path == splice-relay+copy ]] && copy=(copy)
		[[ $path == splice-relay+idle ]] && copy=(idle)
		"$tmp/splice-relay" 127.0.0.1 "$p" 127.0.0.2 "${copy[@]}" &
		RELAY_PID=$!
		pids+=("$RELAY_PID")
		wait_port 127.0.0.1 "$p"
		BS=127.0.0.1:$p ;;
	haproxy)
		wait_port 127.0.0.2 "$p"
		cat >"$tmp/haproxy.cfg" <<EOF
global
  maxconn 4000
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
listen broker
  bind 127.0.0.1:$p
  server b1 127.0.0.2:$p
EOF
		haproxy -q -f "$tmp/haproxy.cfg" &
		RELAY_PID=$!
		pids+=("$RELAY_PID")
		wait_port 127.0.0.1 "$p"
		BS=127.0.0.1:$p ;;
	kafkatap | kafkatap+record*)
		wait_port 127.0.0.1 "$p"
		local rec=()
		[[ $path == kafkatap+record* ]] && rm -f "$tmp/rec.db"* && rec=(--record "$tmp/rec.db")
		[[ $path == kafkatap+record-lean ]] && rec+=(--store-no-records)
		[[ $path == kafkatap+record-pause ]] && rec+=(--store-when-full pause)
		[[ $path == kafkatap+record-reserve ]] && rec+=(--store-reserve)
		"$kafkatap" proxy --upstream "127.0.0.1:$p" --listen "127.0.0.1:$((p + 2))" \
			--port-base "$((p + 3))" --admin "127.0.0.1:$((p + 9))" --log-level warn "${rec[@]}" \
			2>>"$tmp/kafkatap.err" &
		RELAY_PID=$!
		pids+=("$RELAY_PID")
		wait_port 127.0.0.1 "$((p + 2))"
		BS=127.0.0.1:$((p + 2)) ;;
	esac
}
stop_path() {
	[[ -n $RELAY_PID ]] && stop "$RELAY_PID"
	stop "$BROKER_PID"
}

median() { grep -v nan | sort -g | awk '{a[NR]=$1} END {print (NR ? a[int((NR+1)/2)] : "nan")}'; }
range() { grep -v nan | sort -g | awk '{a[NR]=$1} END {if (NR) printf "%.2f-%.2f\n", a[1], a[NR]; else print "n/a"}'; }
hz=$(getconf CLK_TCK)
# CPU seconds (user + system, all threads, live and exited) of process $1.
proc_cpu() { awk -v hz="$hz" '{printf "%.3f\n", ($14 + $15) / hz}' "/proc/$1/stat" 2>/dev/null || echo nan; }
# CPU seconds of this shell's waited-for children (a relay's whole life is
# added here when it is reaped).
children_cpu() { awk -v hz="$hz" '{printf "%.3f\n", ($16 + $17) / hz}' /proc/$$/stat; }
now() { date +%s.%N; }
metric() { # port name-regex: the sum of the matching samples on /metrics
	/usr/bin/python3 -c 'import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
		"http://127.0.0.1:$1/metrics" | awk -v re="^$2" '$0 ~ re {s += $2} END {print s + 0}'
}

paths=(direct splice-relay splice-relay+copy splice-relay+idle haproxy kafkatap kafkatap+record kafkatap+record-lean
	kafkatap+record-reserve kafkatap+record-pause)
if [[ -n ${KT_BENCH_PATHS:-} ]]; then
	read -ra paths <<<"direct ${KT_BENCH_PATHS//direct/}"
fi
sizes=(${KT_BENCH_SIZES:-100 1024})
declare -A prod_rate prod_mb cons_rate cons_mb dropped shed cpu_run cpu_life flush_s prod_ratio cons_ratio hwm
declare -A prod_range cons_range prod_floor cons_floor
# One run of PATH at SIZE: appends "msgs/s MB/s s" to $tmp/p.PATH and
# $tmp/c.PATH, the relay's CPU figures to $tmp/cpu.PATH, "dropped shed" to
# $tmp/drops.PATH.
run_one() {
	local path=$1 size=$2 n=$3
	port=$(free_base)
	start_path "$path" "$port"
	local c0=nan
	[[ -n $RELAY_PID ]] && c0=$(proc_cpu "$RELAY_PID")
	if "$tmp/kt-load" produce -b "$BS" -t bench -n "$n" -s "$size" >"$tmp/p1" 2>>"$tmp/load.err" &&
		"$tmp/kt-load" consume -b "$BS" -t bench -n "$n" >"$tmp/c1" 2>>"$tmp/load.err"; then
		cat "$tmp/p1" >>"$tmp/p.$path"
		cat "$tmp/c1" >>"$tmp/c.$path"
		if [[ -n $RELAY_PID ]]; then
			local c1 d=0 sh=0 mb l0 l1 t0 t1
			c1=$(proc_cpu "$RELAY_PID")
			if [[ $path == kafkatap* ]]; then
				d=$(metric $((port + 9)) 'kafkatap_recordings_dropped_total')
				sh=$(metric $((port + 9)) 'kafkatap_recording_shed_frames_total')
			fi
			echo "${d:-0} ${sh:-0}" >>"$tmp/drops.$path"
			# Payload MB through the relay: produced + consumed.
			mb=$(cat "$tmp/p1" "$tmp/c1" | awk '{s += $2 * $3} END {print s}')
			awk '/^VmHWM:/ {printf "%.0f\n", $2 / 1024}' "/proc/$RELAY_PID/status" \
				>>"$tmp/hwm.$path" 2>/dev/null
			l0=$(children_cpu)
			t0=$(now)
			stop "$RELAY_PID"
			t1=$(now)
			l1=$(children_cpu)
			RELAY_PID=
			echo "$c0 $c1 $l0 $l1 $t0 $t1 $mb" |
				awk '{printf "%.2f %.2f %.2f\n", ($2 - $1) * 1000 / $7, ($4 - $3) * 1000 / $7, $6 - $5}' \
				>>"$tmp/cpu.$path"
		fi
	else
		echo "nan nan nan" >>"$tmp/p.$path"
		echo "nan nan nan" >>"$tmp/c.$path"
		echo "bench_proxy: $path at $size B failed: $(tail -2 "$tmp/load.err")" >&2
	fi
	stop_path
}
# The machine's speed drifts (a shared VM: up to 1.7x within a day), so the
# paths take turns within each repetition, the first one rotating, and each
# ratio is the median of per-repetition ratios against the direct run of the
# same repetition, minutes apart at most, not against a median measured at
# another time.
for size in "${sizes[@]}"; do
	n=$N100
	[[ $size == 1024 ]] && n=$N1K
	for path in "${paths[@]}"; do
		: >"$tmp/p.$path" && : >"$tmp/c.$path" && : >"$tmp/cpu.$path" && : >"$tmp/drops.$path" &&
			: >"$tmp/hwm.$path"
	done
	np=${#paths[@]}
	for ((r = 0; r < REPS; r++)); do
		for ((k = 0; k < np; k++)); do
			run_one "${paths[(k + r) % np]}" "$size" "$n"
		done
	done
	for path in "${paths[@]}"; do
		prod_rate[$path,$size]=$(awk '{print $1}' "$tmp/p.$path" | median)
		prod_mb[$path,$size]=$(awk '{print $2}' "$tmp/p.$path" | median)
		cons_rate[$path,$size]=$(awk '{print $1}' "$tmp/c.$path" | median)
		cons_mb[$path,$size]=$(awk '{print $2}' "$tmp/c.$path" | median)
		prod_ratio[$path,$size]=$(paste "$tmp/p.$path" "$tmp/p.direct" |
			awk '$1 != "nan" && $4 != "nan" && $4 > 0 {printf "%.4f\n", $1 / $4}' | median)
		cons_ratio[$path,$size]=$(paste "$tmp/c.$path" "$tmp/c.direct" |
			awk '$1 != "nan" && $4 != "nan" && $4 > 0 {printf "%.4f\n", $1 / $4}' | median)
		# The spread of the per-repetition ratios: the noise behind the median.
		prod_range[$path,$size]=$(paste "$tmp/p.$path" "$tmp/p.direct" |
			awk '$1 != "nan" && $4 != "nan" && $4 > 0 {print $1 / $4}' | range)
		cons_range[$path,$size]=$(paste "$tmp/c.$path" "$tmp/c.direct" |
			awk '$1 != "nan" && $4 != "nan" && $4 > 0 {print $1 / $4}' | range)
		floor=splice-relay
		[[ $path == kafkatap+record* ]] && floor=splice-relay+copy
		if [[ -s $tmp/p.$floor ]]; then
			prod_floor[$path,$size]=$(paste "$tmp/p.$path" "$tmp/p.$floor" |
				awk '$1 != "nan" && $4 != "nan" && $4 > 0 {printf "%.4f\n", $1 / $4}' | median)
			cons_floor[$path,$size]=$(paste "$tmp/c.$path" "$tmp/c.$floor" |
				awk '$1 != "nan" && $4 != "nan" && $4 > 0 {printf "%.4f\n", $1 / $4}' | median)
		fi
		cpu_run[$path,$size]=$(awk '{print $1}' "$tmp/cpu.$path" | median)
		cpu_life[$path,$size]=$(awk '{print $2}' "$tmp/cpu.$path" | median)
		flush_s[$path,$size]=$(awk '{print $3}' "$tmp/cpu.$path" | median)
		dropped[$path,$size]=$(awk '{s += $1} END {print s + 0}' "$tmp/drops.$path")
		shed[$path,$size]=$(awk '{s += $2} END {print s + 0}' "$tmp/drops.$path")
		hwm[$path,$size]=$(median <"$tmp/hwm.$path")
		echo "== $path $size B: produce ${prod_rate[$path,$size]} msgs/s (${prod_ratio[$path,$size]}x)," \
			"consume ${cons_rate[$path,$size]} msgs/s (${cons_ratio[$path,$size]}x)" >&2
	done
done

fmt_ratio() { awk -v a="$1" 'BEGIN { if (a == a && a != "nan") printf "%.2fx", a; else print "n/a" }'; }

echo "Throughput: librdkafka producer then consumer, one broker, $PARTS partitions, $REPS runs per path"
echo "($N100 messages at 100 B, $N1K at 1 KB). The paths take turns within each repetition; rates are"
echo "medians over the runs, and \"vs direct\" is the median of the ratios to the direct run of the same"
echo "repetition (in brackets: the lowest and highest of those ratios, the noise behind the median);"
echo "\"vs floor\" is the same against splice-relay, the least any relay costs, and for the recording"
echo "paths against splice-relay+copy, the least a relay that sees every byte costs. splice-relay+idle"
echo "is the floor relay with two idle-priority threads that only compute beside it: what CPU that"
echo "takes only what is idle still costs the clients (its \"vs floor\" is against splice-relay)."
echo
echo "| path | record | produce msgs/s | produce MB/s | vs direct | vs floor | consume msgs/s | consume MB/s | vs direct | vs floor |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for size in "${sizes[@]}"; do
	for path in "${paths[@]}"; do
		printf '| %s | %s B | %.0f | %.1f | %s (%s) | %s | %.0f | %.1f | %s (%s) | %s |\n' \
			"$path" "$size" "${prod_rate[$path,$size]}" "${prod_mb[$path,$size]}" \
			"$(fmt_ratio "${prod_ratio[$path,$size]}")" "${prod_range[$path,$size]}" \
			"$(fmt_ratio "${prod_floor[$path,$size]:-nan}")" \
			"${cons_rate[$path,$size]}" "${cons_mb[$path,$size]}" \
			"$(fmt_ratio "${cons_ratio[$path,$size]}")" "${cons_range[$path,$size]}" \
			"$(fmt_ratio "${cons_floor[$path,$size]:-nan}")"
	done
done
echo
echo "Relay CPU (user + system, all threads) per MB of payload produced and consumed, median of $REPS runs:"
echo "while the clients ran, and over the relay's whole life up to its exit after SIGTERM (for a"
echo "recording: until everything queued is written). Exchanges dropped: recording and output queues"
echo "full (kafkatap_recordings_dropped_total), over all runs. Frames shed: large frames forwarded"
echo "unrecorded because the recording's queue had no room, their exchanges kept with the header"
echo "(kafkatap_recording_shed_frames_total, docs/proxy.md), over all runs. Peak RSS: the relay's"
echo "VmHWM when the clients are done (median). splice-relay+idle's CPU is mostly its spinning threads."
echo
echo "| path | record | CPU ms/MB during the run | CPU ms/MB to exit | flush s (SIGTERM to exit) | exchanges dropped | frames shed | peak RSS MiB |"
echo "|---|---|---|---|---|---|---|---|"
for size in "${sizes[@]}"; do
	for path in "${paths[@]}"; do
		[[ $path == direct ]] && continue
		printf '| %s | %s B | %s | %s | %s | %s | %s | %s |\n' "$path" "$size" "${cpu_run[$path,$size]}" \
			"${cpu_life[$path,$size]}" "${flush_s[$path,$size]}" "${dropped[$path,$size]:-0}" \
			"${shed[$path,$size]:-0}" "${hwm[$path,$size]}"
	done
done

# Latency: one small request at a time. REPS runs per path, taking turns as
# above: one run's p99 is one hiccup of the VM away from ten times another's
# (kafkatap 40 us, then 260 us, the same build a day apart), so the table
# gives the median of the runs' percentiles, and "added" is the median of
# the differences to the direct run of the same repetition.
declare -A p50 p99 add50 add99 rng99
lat_paths=(direct splice-relay haproxy kafkatap)
for path in "${lat_paths[@]}"; do
	: >"$tmp/lat.$path"
done
nl=${#lat_paths[@]}
for ((r = 0; r < REPS; r++)); do
	for ((k = 0; k < nl; k++)); do
		path=${lat_paths[(k + r) % nl]}
		port=$(free_base)
		start_path "$path" "$port"
		read -r a b _ < <("$tmp/kt-load" rtt -a "$BS" -n "$RTT_N" 2>>"$tmp/load.err")
		echo "${a:-nan} ${b:-nan}" >>"$tmp/lat.$path"
		stop_path
	done
done
for path in "${lat_paths[@]}"; do
	p50[$path]=$(awk '{print $1}' "$tmp/lat.$path" | median)
	p99[$path]=$(awk '{print $2}' "$tmp/lat.$path" | median)
	add50[$path]=$(paste "$tmp/lat.$path" "$tmp/lat.direct" |
		awk '$1 != "nan" && $3 != "nan" {printf "%.1f\n", $1 - $3}' | median)
	add99[$path]=$(paste "$tmp/lat.$path" "$tmp/lat.direct" |
		awk '$2 != "nan" && $4 != "nan" {printf "%.1f\n", $2 - $4}' | median)
	rng99[$path]=$(awk '{print $2}' "$tmp/lat.$path" | range)
done
echo
echo "Round trip, one ApiVersions v0 at a time on one connection ($RTT_N requests), $REPS runs per path:"
echo "the median of the runs' percentiles (and the lowest and highest p99); \"added\" is the median"
echo "of the differences to the direct run of the same repetition."
echo
echo "| path | p50 µs | p99 µs (range) | added p50 µs | added p99 µs |"
echo "|---|---|---|---|---|"
for path in "${lat_paths[@]}"; do
	printf '| %s | %s | %s (%s) | %s | %s |\n' "$path" "${p50[$path]}" "${p99[$path]}" \
		"${rng99[$path]}" "${add50[$path]}" "${add99[$path]}"
done

# Memory per idle connection.
port=$(free_base)
start_path kafkatap "$port"
per=$("$tmp/kt-load" idle -a "$BS" -n 2000 -p "$RELAY_PID" 2>>"$tmp/load.err")
stop_path
echo
echo "Memory of kafkatap per idle connection (RSS growth over 2000 connections, one exchange each):" \
	"$(awk -v b="${per:-nan}" 'BEGIN { printf "%.1f KiB", b / 1024 }')."
if [[ -s $tmp/kafkatap.err ]]; then
	echo "kafkatap warnings during the runs:" >&2
	tail -20 "$tmp/kafkatap.err" >&2
fi
