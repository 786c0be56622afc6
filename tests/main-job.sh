#!/usr/bin/env bash
# main-job.sh: what `./quickstart` shows a newcomer, on embedded defaults:
#   1. decode a bundled capture (captures/kcat-codec-gzip.pcapng);
#   2. start a local three-broker test cluster (tests/launcher/kt-mockbroker),
#      put `kafkatap proxy` in front of it with a recording, produce and
#      consume through it with kcat, and show what was recorded.
# usage: tests/main-job.sh BUILDDIR
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
kt=$build/kafkatap
launcher=$build/tests/launcher/kt-mockbroker
work=$(mktemp -d /tmp/kafkatap-main.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
built() { ! "$kt" help 2>/dev/null | grep -qE "^  $1 .*not built yet"; }

capture=$top/captures/kcat-codec-gzip.pcapng
say "kafkatap decode -p 19092 $(basename "$capture")   (kcat producing and consuming gzip batches)"
if built decode; then
	"$kt" decode -p 19092 "$capture" | head -40
else
	echo "(decode is not built in this version)"
fi

if ! built proxy; then
	say "proxy is not built in this version: skipping the proxied produce/consume"
	exit 0
fi

say "starting a local 3-broker test cluster"
"$launcher" --brokers 3 --topic demo:3 --no-stdin >"$work/broker.out" 2>"$work/broker.err" &
pids+=($!)
for _ in $(seq 100); do [[ -s $work/broker.out ]] && break; sleep 0.1; done
bootstrap=$(head -1 "$work/broker.out")
[[ -n $bootstrap ]] || { cat "$work/broker.err"; exit 1; }
echo "brokers: $bootstrap"

# A free port base for the proxy: the listener on BASE, node N on BASE+N.
base=$(/usr/bin/python3 -c 'import random; print(random.randrange(20000, 30000, 10))')
listen=127.0.0.1:$base
say "kafkatap proxy --upstream $bootstrap --listen $listen --port-base $((base)) --record $work/session.db"
"$kt" proxy --upstream "$bootstrap" --listen "$listen" --port-base "$base" \
	--record "$work/session.db" >"$work/proxy.out" 2>"$work/proxy.err" &
proxy=$!
pids+=($proxy)
for _ in $(seq 100); do
	(exec 3<>/dev/tcp/127.0.0.1/$base) 2>/dev/null && break
	sleep 0.1
done

say "kcat: produce 10 messages through the proxy, then consume them"
seq 1 10 | sed 's/^/hello-/' | kcat -P -b "$listen" -t demo -X topic.metadata.refresh.interval.ms=1000
kcat -C -b "$listen" -t demo -o beginning -e -q -f '%p:%o %s\n' | sort

kill -TERM "$proxy"
wait "$proxy" || true
say "kafkatap stats (what the proxy recorded)"
"$kt" stats "$work/session.db" | head -30
say "kafkatap show --api Produce"
"$kt" show "$work/session.db" --api Produce | head -10
