"""kafkatap proxy: faults, bad and heavy input, byte-exactness, signals, admin.

The bad-input and heavy tests run against every kafkatap build given
(KAFKATAP_BUILDDIR, and KAFKATAP_ASAN_BUILDDIR when set), so that the ASan
build checks them for memory errors and, at exit, leaks (LeakSanitizer makes
the exit status non-zero, which stop() == 0 catches).
"""

import os
import random
import re
import selectors
import signal
import socket
import sqlite3
import struct
import tempfile
import threading
import time

import pytest

import rig
from test_proxy import (API_PRODUCE, Proxy, kafkatap_binaries, recorded_by_node,
                        spread_topic)

SRCDIR = rig.SRCDIR
BINARIES = kafkatap_binaries()
BIN_IDS = [b[0] for b in BINARIES]


def api_versions_v0(corr, client_id=b"kt-test"):
    body = struct.pack(">hhih", 18, 0, corr, len(client_id)) + client_id
    return struct.pack(">i", len(body)) + body


def read_frame(sock, timeout=10.0):
    """One size-prefixed frame (without the size), or None at EOF."""
    sock.settimeout(timeout)
    head = recv_exact(sock, 4)
    if head is None:
        return None
    (n,) = struct.unpack(">i", head)
    return recv_exact(sock, n)


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def closed_by_peer(sock, timeout=10.0):
    """True when the peer closes the connection (EOF or reset) in time."""
    sock.settimeout(timeout)
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def connect(port):
    return socket.create_connection(("127.0.0.1", port), timeout=10)


# --------------------------------------------------------------------------
# A scripted upstream: records every byte, answers each frame


class FakeBroker:
    """A TCP server standing in for a broker.  For each request frame it
    answers with a frame carrying the request's 4 bytes after the api
    key/version (the correlation id) and a random body, written in random
    pieces.  `delay` holds each answer; `answer=False` never answers;
    `big_every` N makes every Nth answer 200 KB to 1.3 MB (the sizes the
    proxy splices)."""

    def __init__(self, delay=0.0, answer=True, seed=1, big_every=0):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.delay = delay
        self.answer = answer
        self.big_every = big_every
        self.answers = 0
        self.rng = random.Random(seed)
        self.received = {}   # connection index -> bytes
        self.sent = {}
        self.conns = 0
        self.stopping = False
        self.threads = []
        self.t = threading.Thread(target=self._accept, daemon=True)
        self.t.start()

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            idx = self.conns
            self.conns += 1
            self.received[idx] = b""
            self.sent[idx] = b""
            th = threading.Thread(target=self._serve, args=(c, idx), daemon=True)
            th.start()
            self.threads.append(th)

    def _serve(self, c, idx):
        buf = b""
        c.settimeout(30)
        try:
            while True:
                chunk = c.recv(65536)
                if not chunk:
                    return
                self.received[idx] += chunk
                buf += chunk
                while len(buf) >= 4:
                    (n,) = struct.unpack(">i", buf[:4])
                    if len(buf) < 4 + n:
                        break
                    frame, buf = buf[4:4 + n], buf[4 + n:]
                    if not self.answer:
                        continue
                    if self.delay:
                        time.sleep(self.delay)
                    corr = frame[4:8] if len(frame) >= 8 else b"\0\0\0\0"
                    self.answers += 1
                    big = self.big_every and self.answers % self.big_every == 0
                    n = self.rng.randrange(200000, 1300000) if big else self.rng.randrange(0, 3000)
                    body = corr + self.rng.randbytes(n)
                    out = struct.pack(">i", len(body)) + body
                    self.sent[idx] += out
                    pos = 0
                    while pos < len(out):
                        step = self.rng.randrange(1, 70000 if big else 700)
                        c.sendall(out[pos:pos + step])
                        pos += step
        except OSError:
            return
        finally:
            c.close()

    def close(self):
        self.stopping = True
        self.sock.close()


# --------------------------------------------------------------------------
# Byte-exactness


def random_requests(rng, count):
    """Request frames the proxy must pass untouched: random api keys (known,
    unknown, and the address-bearing ones with bodies that do not decode),
    random versions, SASL-looking raw tokens, an ApiVersions v3 request,
    and one large frame."""
    frames = []
    for i in range(count):
        kind = rng.random()
        if kind < 0.1:
            body = bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 200)))  # raw token
        else:
            api = rng.choice([0, 1, 3, 10, 18, 36, 60, 999, 32767, -5])
            ver = rng.choice([0, 1, 3, 7, 12, 99])
            corr = 1000 + i
            cid = b"byte-exact"
            body = struct.pack(">hhih", api, ver, corr, len(cid)) + cid
            body += bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 2000)))
        frames.append(struct.pack(">i", len(body)) + body)
    big = struct.pack(">hhih", 0, 7, 99999, 0) + bytes(rng.getrandbits(8) for _ in range(600000))
    frames.append(struct.pack(">i", len(big)) + big)
    return frames


@pytest.mark.parametrize("mode", ["plain", "plain-no-splice", "recording", "recording-no-splice"])
def test_bytes_pass_through_unchanged(mode, tmp_path):
    """What the client sent is what the broker got, and what the broker sent
    is what the client got, for traffic the proxy does not rewrite:
    pipelined, split at random places, undecodable, unknown api keys, and
    large frames both ways. The client reads only once it has sent
    everything, so the large answers meet a full client socket: the proxy
    splices them (kernel to kernel; recording, it tees its copy into the
    frame's block), taking no more than the socket has room for and waiting
    for it to drain, and must queue in order whatever it still does not take.
    The no-splice variants take the read-and-write path; the recording ones
    also check that every frame was recorded byte for byte."""
    record = mode.startswith("recording")
    fake = FakeBroker(seed=7, big_every=25)
    rng = random.Random(11)
    frames = random_requests(rng, 300)
    want = b"".join(frames)
    db = str(tmp_path / "rec.db") if record else None
    env = dict(os.environ, KAFKATAP_NO_SPLICE="1") if mode.endswith("no-splice") else None
    with Proxy(fake.address, record=db, env=env) as p:
        # A small receive buffer, so that the proxy's writes to the client
        # hit a full socket and must queue the rest.
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        s.settimeout(10)
        s.connect(("127.0.0.1", p.listen_port))
        # Everything at once, in random pieces: the proxy sees pipelining and
        # frames split anywhere, including inside the size prefix.
        pos = 0
        while pos < len(want):
            step = rng.randrange(1, 5000)
            s.sendall(want[pos:pos + step])
            pos += step
        # The proxy's own broker discovery also connects to the fake: the
        # client's connection is the one that starts with the first frame.
        def client_conn():
            for i, data in list(fake.received.items()):
                if data[:len(frames[0])] == frames[0]:
                    return i
            return None
        idx = rig.wait_until(lambda: client_conn() is not None and (client_conn(),), 10,
                             what="the client's bytes at the broker")[0]
        # Read late: the answers pile up against the client's socket first.
        time.sleep(2)
        got = b""
        s.settimeout(5)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if len(fake.received[idx]) >= len(want) and len(got) >= len(fake.sent[idx]):
                break
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            got += chunk
        s.close()
        assert fake.received[idx] == want
        assert len(fake.sent[idx]) > 5 << 20
        assert got == fake.sent[idx]
        spliced = p.metric("kafkatap_spliced_bytes_total")
        waits = p.metric("kafkatap_splice_waits_total")
        if mode in ("plain", "recording"):
            # Recording: spliced on, and tee'd into the frame's block.
            assert spliced > 1 << 20, "the large frames were not spliced"
            # The client's full socket stopped the splicing until it had
            # room, rather than the rest being copied into a buffer.
            assert waits > 0, "splicing never waited for the client's socket"
        else:
            assert spliced == 0 and waits == 0
        assert p.stop() == 0
    fake.close()
    if record:
        # The recording holds every frame as it crossed, the large ones too
        # (which the recording proxy reads straight into the frame's block).
        con = sqlite3.connect(db)
        rows = con.execute("SELECT request_raw, response_raw FROM exchanges").fetchall()
        con.close()
        assert len(rows) >= 250
        sent_frames = []
        data = fake.sent[idx]
        while data:
            (n,) = struct.unpack(">i", data[:4])
            sent_frames.append(data[4:4 + n])
            data = data[4 + n:]
        # SASL exchanges (api 17, 36) are recorded redacted: left out.
        def sasl(f):
            return f[:2] in (struct.pack(">h", 17), struct.pack(">h", 36))
        sasl_corr = {f[8:12] for f in frames if sasl(f[4:])}
        assert sorted(r[0] for r in rows if r[0] is not None and not sasl(r[0])) == \
            sorted(f[4:] for f in frames if not sasl(f[4:]))
        assert sorted(r[1] for r in rows if r[1] is not None and not (r[0] and sasl(r[0]))) == \
            sorted(f for f in sent_frames if f[:4] not in sasl_corr)


def test_backpressure_bounds_memory():
    """A broker that stops reading, and a client that stops reading: the
    proxy stops reading the other side instead of buffering without bound."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    with Proxy("127.0.0.1:%d" % srv.getsockname()[1], admin=False) as p:
        # The proxy's own broker discovery connects first; it gets nothing.
        srv.settimeout(10)
        client = connect(p.listen_port)
        client.setblocking(False)
        conns = []
        frame = struct.pack(">ihhih", 1 << 20, 0, 7, 1, 0) + b"\0" * ((1 << 20) - 8)
        base = p.rss_kb()
        sent = 0
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                sent += client.send(frame[sent % len(frame):])
            except BlockingIOError:
                time.sleep(0.05)
            try:
                srv.setblocking(False)
                conns.append(srv.accept()[0])
            except BlockingIOError:
                pass
        grown_kb = p.rss_kb() - base
        # Kernel socket buffers hold some; the proxy holds at most ~1 MiB.
        assert sent < 64 << 20, "the client was never held back"
        assert grown_kb < 8 * 1024, "proxy grew by %d KiB" % grown_kb
        client.close()
        for c in conns:
            c.close()
        assert p.stop() == 0
    srv.close()


# --------------------------------------------------------------------------
# Faults


def test_broker_down_and_up_during_produce(cluster3):
    confluent_kafka = pytest.importorskip("confluent_kafka")
    topic = spread_topic(cluster3)
    with Proxy(cluster3.bootstrap) as p:
        prod = confluent_kafka.Producer({"bootstrap.servers": p.bootstrap, "linger.ms": 5,
                                         "acks": "all", "retry.backoff.ms": 100,
                                         "reconnect.backoff.max.ms": 500})
        delivered, errors = [], []

        def dr(err, msg):
            (errors if err else delivered).append(msg.key().decode())

        msgs = rig.make_messages(300, prefix="dn", headers=False)
        for i, m in enumerate(msgs):
            if i == 100:
                prod.flush(30)
                cluster3.ok("down 2")
            if i == 200:
                time.sleep(1.0)
                cluster3.ok("up 2")
            prod.produce(topic, key=m["key"].encode(), value=m["value"].encode(),
                         on_delivery=dr)
            prod.poll(0)
            if 100 <= i < 200:
                time.sleep(0.01)
        left = prod.flush(60)
        assert left == 0 and not errors, (left, errors)
        assert sorted(delivered) == sorted(m["key"] for m in msgs)
        got = rig.kcat_consume(p.bootstrap, topic, len(msgs))
        assert rig.by_key(got) == rig.by_key(msgs)
        log = p.log()
        down_port = cluster3.ports[1]
        # The broker going away was logged with its address.
        assert re.search(r"broker 127\.0\.0\.1:%d: .*closing client|cannot connect to broker "
                         r"127\.0\.0\.1:%d|broker 127\.0\.0\.1:%d closed the connection"
                         % (down_port, down_port, down_port), log), log[-3000:]
        assert p.running()
        assert p.stop() == 0


def test_injected_errors_pass_through_and_are_recorded(cluster3, tmp_path):
    topic = spread_topic(cluster3)
    db = str(tmp_path / "rec.db")
    with Proxy(cluster3.bootstrap, record=db) as p:
        # The next 2 Produce requests fail with NOT_LEADER_OR_FOLLOWER (6).
        cluster3.ok("error 0 6 2")
        msgs = rig.make_messages(30, prefix="err", headers=False)
        rig.kcat_produce(p.bootstrap, topic, msgs)
        got = rig.kcat_consume(p.bootstrap, topic, 30)
        assert rig.by_key(got) == rig.by_key(msgs)
        rig.wait_until(lambda: p.metric("kafkatap_response_errors_total", api="Produce",
                                        code="6") >= 1, 10,
                       what="the error to show in the metrics")
        assert p.stop() == 0
    con = sqlite3.connect(db)
    n = con.execute("SELECT count(*) FROM exchanges WHERE api_key = 0 AND error_code = 6"
                    ).fetchone()[0]
    con.close()
    assert n >= 1


@pytest.mark.parametrize("policy", ["drop", "pause"])
def test_store_when_full(policy, cluster3, tmp_path):
    """A recording queue far too small for the traffic (64 KiB, for 20 MB of
    Produce): with drop, large frames the queue has no room for are shed
    (forwarded unrecorded, their exchanges flagged with the header kept) and
    exchanges that still do not fit are dropped, all counted, while the
    traffic runs at full speed; with pause, the proxy stops reading until the
    recording catches up, and the recording holds every record produced."""
    topic = spread_topic(cluster3)
    db = str(tmp_path / "rec.db")
    n = 20000
    msgs = [{"key": "k%05d" % i, "value": "%05d" % i + "v" * 1000, "headers": []}
            for i in range(n)]
    with Proxy(cluster3.bootstrap, record=db,
               extra=["--store-when-full", policy, "--store-queue", "64k"]) as p:
        rig.kcat_produce(p.bootstrap, topic, msgs, timeout=120)
        got = rig.kcat_consume(p.bootstrap, topic, n, timeout=120)
        dropped = p.metric("kafkatap_recordings_dropped_total", sink="store")
        shed = p.metric("kafkatap_recording_shed_frames_total")
        pauses = p.metric("kafkatap_recording_pauses_total")
        assert p.stop(timeout=120) == 0
        log = p.log()
    assert sorted(m["value"] for m in got) == sorted(m["value"] for m in msgs)
    con = sqlite3.connect(db)
    recorded = con.execute("SELECT count(*) FROM records WHERE direction = 'produce'"
                           ).fetchone()[0]
    distinct = con.execute("SELECT count(DISTINCT key) FROM records WHERE direction = 'produce' "
                           "AND topic = ?", (topic,)).fetchone()[0]
    shed_rows = con.execute(
        "SELECT api_key, request_raw IS NULL, response_raw IS NULL, response_us IS NULL, "
        "(flags & 1) <> 0, request_size, response_size FROM exchanges "
        "WHERE flags & (SELECT bit FROM flags WHERE name = 'shed')"
    ).fetchall()
    con.close()
    if policy == "drop":
        assert shed > 0 and pauses == 0, (shed, dropped, pauses)
        assert recorded < n
        # A shed Produce keeps its header and pairs with its response; a shed
        # Fetch response keeps its request. Some shed exchanges may still be
        # dropped: one large exchange alone fills a 64 KiB queue.
        assert 0 < len(shed_rows) <= shed, (len(shed_rows), shed)
        assert all(r[0] in (0, 1) and r[1] != r[2] and r[3] == 0 and r[4] == 0
                   for r in shed_rows), shed_rows[:5]
        assert any(r[0] == 0 and r[1] == 1 and r[2] == 0 for r in shed_rows), shed_rows[:5]
        # The side not kept has the size its frame declared: a large one.
        assert all((r[5] if r[1] else r[6]) > 65536 for r in shed_rows), shed_rows[:5]
        assert "large frames go on unrecorded" in log
    else:
        assert dropped == 0 and shed == 0 and not shed_rows and pauses > 0, (dropped, shed, pauses)
        assert recorded >= n and distinct == n, (recorded, distinct)
        assert "reading from every connection pauses" in log
        assert re.search(r"reading was paused \d+ times", log), log[-2000:]


def main_thread_minflt(pid):
    """Minor page faults of a process's main thread so far."""
    with open("/proc/%d/task/%d/stat" % (pid, pid)) as f:
        return int(f.read().rsplit(")", 1)[1].split()[7])


def test_store_reserve_takes_the_queue_memory_at_start(cluster3, tmp_path):
    """--store-reserve: the recording queue's memory (a quarter over
    --store-queue) is the proxy's from its start, and recorded frames are
    gathered into it: the event loop takes no fresh pages for 20 MB of
    Produce, where without the option it takes about one per 4 KiB."""
    topic = spread_topic(cluster3)
    n = 20000
    msgs = [{"key": "k%05d" % i, "value": "%05d" % i + "v" * 1000, "headers": []}
            for i in range(n)]
    faults = {}
    for reserve in (False, True):
        db = str(tmp_path / ("rec-%s.db" % reserve))
        extra = ["--store-queue", "32M"] + (["--store-reserve"] if reserve else [])
        with Proxy(cluster3.bootstrap, record=db, extra=extra) as p:
            rss = p.rss_kb()
            assert (rss >= 40 * 1024) == reserve, (reserve, rss)
            f0 = main_thread_minflt(p.proc.pid)
            rig.kcat_produce(p.bootstrap, topic, msgs, timeout=120)
            faults[reserve] = main_thread_minflt(p.proc.pid) - f0
            assert p.stop(timeout=120) == 0
            log = p.log()
        assert ("holding 40 MiB for the recording's queue" in log) == reserve
        con = sqlite3.connect(db)
        recorded = con.execute("SELECT count(DISTINCT key) FROM records WHERE direction = "
                               "'produce' AND topic = ?", (topic,)).fetchone()[0]
        con.close()
        assert recorded == n, (reserve, recorded)
    pages = n * 1000 // 4096
    assert faults[False] > pages // 4, faults  # the cost the option removes
    assert faults[True] < pages // 20, faults


def test_client_killed_mid_request(cluster3):
    topic = spread_topic(cluster3)
    with Proxy(cluster3.bootstrap) as p:
        # Half a request, then a reset (SO_LINGER 0).
        for _ in range(5):
            s = connect(p.listen_port)
            s.sendall(struct.pack(">i", 1000) + b"\x00\x00\x00\x07partial")
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        # A real client killed while consuming.
        proc = rig.subprocess.Popen(
            [rig.KCAT, "-C", "-b", p.bootstrap, "-t", topic, "-o", "beginning",
             "-X", "fetch.wait.max.ms=100"],
            stdout=rig.subprocess.DEVNULL, stderr=rig.subprocess.DEVNULL)
        time.sleep(1.5)
        proc.kill()
        proc.wait(5)
        rig.wait_until(lambda: p.metric("kafkatap_connections_active") == 0, 15,
                       what="every connection to close")
        # The proxy carries on.
        msgs = rig.make_messages(10, prefix="after", headers=False)
        rig.kcat_produce(p.bootstrap, topic, msgs)
        assert rig.by_key(rig.kcat_consume(p.bootstrap, topic, 10)) == rig.by_key(msgs)
        assert p.http("/healthz") == (200, "ok\n")
        assert p.stop() == 0


def test_upstream_refusing_connections():
    dead = rig.free_port()
    with Proxy("127.0.0.1:%d" % dead) as p:
        for _ in range(3):
            s = connect(p.listen_port)
            s.sendall(api_versions_v0(1))
            assert closed_by_peer(s), "the proxy kept the client connection open"
            s.close()
        log = p.log()
        assert re.search(r"cannot connect to broker 127\.0\.0\.1:%d: Connection refused; "
                         r"closing the client connection" % dead, log), log
        assert p.metric("kafkatap_upstream_connect_failures_total") >= 3
        assert p.metric("kafkatap_connections_closed_total", reason="upstream_unreachable") >= 3
        # The broker comes up at that address: the same listener now works.
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", dead))
        srv.listen(8)
        s = connect(p.listen_port)
        s.sendall(api_versions_v0(5))
        srv.settimeout(10)
        b, _ = srv.accept()
        assert recv_exact(b, len(api_versions_v0(5))) == api_versions_v0(5)
        b.sendall(struct.pack(">ii", 4, 5))
        assert read_frame(s) == struct.pack(">i", 5)
        s.close()
        b.close()
        srv.close()
        assert p.stop() == 0


def test_bootstrap_list_skips_a_dead_upstream(cluster3):
    dead = rig.free_port()
    ups = "127.0.0.1:%d,%s" % (dead, cluster3.address(1))
    with Proxy(ups) as p:
        for corr in range(4):  # round robin: some start at the dead one
            s = connect(p.listen_port)
            s.sendall(api_versions_v0(corr))
            frame = read_frame(s)
            assert frame is not None and frame[:4] == struct.pack(">i", corr)
            s.close()
        assert "trying 127.0.0.1:%d" % cluster3.ports[0] in p.log()
        assert p.stop() == 0


# --------------------------------------------------------------------------
# Bad and heavy input (every build)


@pytest.mark.parametrize("binary", [b[1] for b in BINARIES], ids=BIN_IDS)
def test_bad_input(cluster3, binary):
    with Proxy(cluster3.bootstrap, binary=binary, extra=["--max-frame", "1M",
                                                         "--idle-timeout", "1"]) as p:
        # An oversized frame.
        s = connect(p.listen_port)
        s.sendall(struct.pack(">i", 2 * 1024 * 1024) + b"\0" * 100)
        assert closed_by_peer(s)
        s.close()
        # A negative size.
        s = connect(p.listen_port)
        s.sendall(b"\xff\xff\xff\xf0" + os.urandom(60))
        assert closed_by_peer(s)
        s.close()
        # Garbage with a plausible size: forwarded; the broker hangs up on it.
        rng = random.Random(3)
        for _ in range(20):
            s = connect(p.listen_port)
            junk = bytes(rng.getrandbits(8) for _ in range(200))
            s.sendall(struct.pack(">i", len(junk)) + junk)
            assert closed_by_peer(s, 15)
            s.close()
        # A client that connects and sends nothing: closed by --idle-timeout.
        t0 = time.monotonic()
        s = connect(p.listen_port)
        assert closed_by_peer(s, 10)
        assert time.monotonic() - t0 < 8
        s.close()
        log = p.log()
        assert re.search(r"client 127\.0\.0\.1:\d+ sent a frame of 2097152 bytes \(allowed: 0 "
                         r"to 1048576, --max-frame\)", log), log[-2000:]
        assert re.search(r"client 127\.0\.0\.1:\d+ sent a frame of -16 bytes", log)
        assert re.search(r"client 127\.0\.0\.1:\d+, broker 127\.0\.0\.1:\d+: no traffic for 1 s "
                         r"\(--idle-timeout\)", log)
        assert p.metric("kafkatap_connections_closed_total", reason="max_frame") >= 2
        # Still healthy, still forwarding.
        s = connect(p.listen_port)
        s.sendall(api_versions_v0(77))
        assert read_frame(s)[:4] == struct.pack(">i", 77)
        s.close()
        assert p.stop() == 0, p.log()[-3000:]


def quiet(p):
    """Wait until the proxy has no connection open (the start-up probe's)."""
    rig.wait_until(lambda: p.metric("kafkatap_connections_active") == 0, 10,
                   what="no connection open")


def open_many(port, n, timeout=30.0):
    """n connections opened at once; each sends ApiVersions v0 (corr = its
    index) and reads the answer. Returns (sockets, answered, closed)."""
    sel = selectors.DefaultSelector()
    socks = []
    for i in range(n):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        socks.append(s)
        sel.register(s, selectors.EVENT_WRITE, [i, b""])
    answered, closed, pending = 0, 0, n
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for key, ev in sel.select(0.5):
            s, st = key.fileobj, key.data
            if ev & selectors.EVENT_WRITE:
                try:
                    s.send(api_versions_v0(st[0]))
                    sel.modify(s, selectors.EVENT_READ, st)
                except OSError:
                    closed += 1
                    pending -= 1
                    sel.unregister(s)
                continue
            try:
                chunk = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                closed += 1
                pending -= 1
                sel.unregister(s)
                continue
            st[1] += chunk
            b = st[1]
            if len(b) >= 8:
                (size,) = struct.unpack(">i", b[:4])
                if len(b) >= 4 + size:
                    assert b[4:8] == struct.pack(">i", st[0])
                    answered += 1
                    pending -= 1
                    sel.unregister(s)
    sel.close()
    return socks, answered, closed


@pytest.mark.parametrize("binary", [b[1] for b in BINARIES], ids=BIN_IDS)
def test_thousand_connections_at_once(cluster3, binary):
    with Proxy(cluster3.bootstrap, binary=binary, extra=["--max-connections", "3000"]) as p:
        quiet(p)
        accepted = p.metric("kafkatap_connections_accepted_total")
        socks, answered, closed = open_many(p.listen_port, 1000)
        assert answered == 1000, (answered, closed, p.log()[-2000:])
        assert p.metric("kafkatap_connections_active") == 1000
        for s in socks:
            s.close()
        rig.wait_until(lambda: p.metric("kafkatap_connections_active") == 0, 20,
                       what="every connection to close")
        assert p.metric("kafkatap_connections_accepted_total") - accepted == 1000
        assert p.stop() == 0, p.log()[-3000:]


@pytest.mark.parametrize("binary", [b[1] for b in BINARIES], ids=BIN_IDS)
def test_max_connections_refusals_are_logged(cluster3, binary):
    with Proxy(cluster3.bootstrap, binary=binary, extra=["--max-connections", "100"]) as p:
        quiet(p)
        socks, answered, closed = open_many(p.listen_port, 300)
        assert answered == 100 and closed == 200, (answered, closed)
        log = p.log()
        refusals = re.findall(r"refused connection from 127\.0\.0\.1:\d+ on 127\.0\.0\.1:%d: "
                              r"--max-connections reached" % p.listen_port, log)
        assert len(refusals) == 200
        assert p.metric("kafkatap_connections_refused_total", reason="max_connections") == 200
        for s in socks:
            s.close()
        assert p.stop() == 0


def test_memory_per_idle_connection(cluster3):
    """≤ 64 KiB of proxy memory per idle connection (after one exchange)."""
    with Proxy(cluster3.bootstrap, extra=["--max-connections", "5000"]) as p:
        # Warm up allocator arenas and libevent's tables first.
        socks, answered, _ = open_many(p.listen_port, 200)
        assert answered == 200
        for s in socks:
            s.close()
        rig.wait_until(lambda: p.metric("kafkatap_connections_active") == 0, 20,
                       what="warm-up connections to close")
        before = p.rss_kb()
        socks, answered, _ = open_many(p.listen_port, 2000)
        assert answered == 2000
        time.sleep(0.5)
        after = p.rss_kb()
        per_conn = (after - before) * 1024 / 2000
        print("proxy memory per idle connection: %.0f bytes (RSS %d -> %d KiB)" % (
            per_conn, before, after))
        assert per_conn <= 64 * 1024
        for s in socks:
            s.close()
        assert p.stop() == 0


# --------------------------------------------------------------------------
# Signals


def test_sigterm_lets_in_flight_requests_finish(tmp_path):
    fake = FakeBroker(delay=1.0)
    db = str(tmp_path / "rec.db")
    p = Proxy(fake.address, record=db, admin=False, extra=["--grace", "10"]).start()
    try:
        idle = connect(p.listen_port)
        busy = connect(p.listen_port)
        busy.sendall(api_versions_v0(42))
        time.sleep(0.3)
        t0 = time.monotonic()
        p.proc.send_signal(signal.SIGTERM)
        frame = read_frame(busy)
        assert frame is not None and frame[:4] == struct.pack(">i", 42)
        assert closed_by_peer(busy)
        assert closed_by_peer(idle)
        assert p.proc.wait(10) == 0, p.log()
        assert time.monotonic() - t0 < 5
        # A new connection is refused: the listener is gone.
        assert not rig.port_open(p.listen_port)
        assert "SIGTERM: no longer accepting connections; draining 2 connections" in p.log()
    finally:
        p.stop(signal.SIGKILL)
        fake.close()
    con = sqlite3.connect(db)
    n = con.execute("SELECT count(*) FROM exchanges WHERE correlation_id = 42 "
                    "AND response_size > 0").fetchone()[0]
    con.close()
    assert n == 1


def test_grace_period_ends_the_wait():
    fake = FakeBroker(answer=False)
    p = Proxy(fake.address, admin=False, extra=["--grace", "1"]).start()
    try:
        s = connect(p.listen_port)
        s.sendall(api_versions_v0(1))
        time.sleep(0.3)
        t0 = time.monotonic()
        p.proc.send_signal(signal.SIGINT)
        assert p.proc.wait(10) == 0
        assert 0.8 < time.monotonic() - t0 < 5
        assert closed_by_peer(s)
        assert "grace period (1 s) over: closing 1 connections" in p.log()
    finally:
        p.stop(signal.SIGKILL)
        fake.close()


def test_sighup_reopens_the_recording(cluster3, tmp_path):
    topic = spread_topic(cluster3, 3)
    db = str(tmp_path / "rec.db")
    with Proxy(cluster3.bootstrap, record=db) as p:
        rig.kcat_produce(p.bootstrap, topic, rig.make_messages(5, prefix="a", headers=False))
        time.sleep(0.5)
        os.rename(db, db + ".1")
        for ext in ("-wal", "-shm"):
            if os.path.exists(db + ext):
                os.rename(db + ext, db + ".1" + ext)
        p.proc.send_signal(signal.SIGHUP)
        rig.wait_until(lambda: "SIGHUP: reopened the recording" in p.log(), 10,
                       what="the reopen")
        rig.kcat_produce(p.bootstrap, topic, rig.make_messages(5, prefix="b", headers=False))
        assert p.stop() == 0
    con = sqlite3.connect(db)
    n_new = con.execute("SELECT count(*) FROM exchanges WHERE api_key = 0").fetchone()[0]
    con.close()
    assert n_new >= 1


# --------------------------------------------------------------------------
# Admin endpoint


def test_admin_metrics_and_health(cluster3):
    with open(os.path.join(SRCDIR, "src", "net", "metrics.h")) as f:
        names = set(re.findall(r'"(kafkatap_[a-z_]+)"', f.read()))
    assert len(names) >= 15
    topic = spread_topic(cluster3, 3)
    with Proxy(cluster3.bootstrap) as p:
        rig.kcat_produce(p.bootstrap, topic, rig.make_messages(5, headers=False))
        status, body = p.http("/metrics")
        assert status == 200
        for n in names:
            assert "# HELP %s " % n in body and "# TYPE %s " % n in body, n
        assert p.metric("kafkatap_requests_total", api="Produce") >= 1
        assert p.metric("kafkatap_requests_total", api="Metadata") >= 1
        assert p.metric("kafkatap_request_duration_seconds_count", api="Produce") >= 1
        assert p.metric("kafkatap_bytes_total", direction="to_broker") > 0
        assert p.metric("kafkatap_brokers_known") == 3
        assert p.metric("kafkatap_listeners") == 4
        assert p.http("/healthz") == (200, "ok\n")
        assert p.http("/nothing")[0] == 404
        assert p.stop() == 0


# --------------------------------------------------------------------------
# Transparent mode: iptables REDIRECT in a private network namespace


def _can_redirect():
    import shutil
    return (os.geteuid() == 0 and shutil.which("unshare") and shutil.which("iptables")
            and shutil.which("setpriv") and shutil.which("ip") and
            rig.subprocess.run(["unshare", "-n", "true"]).returncode == 0)


def transparent_inner():
    """Runs inside `unshare -n`: a 3-broker cluster, the proxy in
    transparent mode, and kcat as user nobody, whose connections to the
    broker ports iptables redirects to the proxy. Prints a JSON result."""
    import json
    import shutil
    rig.subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    tmp = tempfile.mkdtemp(prefix="kt-tproxy-")
    os.chmod(tmp, 0o755)
    wrapper = os.path.join(tmp, "kcat-nobody")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\nexec setpriv --reuid=nobody --regid=nogroup --clear-groups "
                "%s \"$@\"\n" % shutil.which("kcat"))
    os.chmod(wrapper, 0o755)
    rig.KCAT = wrapper
    db = os.path.join(tmp, "rec.db")
    out = {}
    with rig.Broker(brokers=3) as b:
        topic = spread_topic(b)
        p = Proxy(None, record=db, admin=True, extra=["--transparent"],
                  log_level="debug").start()
        ports = ",".join(str(x) for x in b.ports)
        rig.subprocess.run(["iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-d",
                            "127.0.0.1", "-m", "multiport", "--dports", ports, "-m", "owner",
                            "--uid-owner", "nobody", "-j", "REDIRECT", "--to-ports",
                            str(p.listen_port)], check=True)
        msgs = rig.make_messages(60, prefix="tp", headers=False)
        rig.kcat_produce(b.bootstrap, topic, msgs)
        got = rig.kcat_consume(b.bootstrap, topic, 60)
        out["equal"] = rig.by_key(got) == rig.by_key(msgs)
        out["rewritten"] = p.metric("kafkatap_responses_rewritten_total")
        out["accepted"] = p.metric("kafkatap_connections_accepted_total")
        out["rc"] = p.stop()
        out["log"] = p.log()[-3000:]
        con = sqlite3.connect(db)
        out["recorded"] = {"%s,%s" % (a, k): n for a, k, n in con.execute(
            "SELECT c.broker_addr, e.api_key, count(*) FROM exchanges e "
            "JOIN connections c ON e.connection_id = c.id GROUP BY 1, 2")}
        con.close()
        out["broker_addrs"] = sorted(r[0] for r in sqlite3.connect(db).execute(
            "SELECT DISTINCT broker_addr FROM connections"))
        out["brokers"] = [b.address(i) for i in (1, 2, 3)]
    shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(out))


@pytest.mark.skipif(not _can_redirect(), reason="needs root, unshare -n, iptables and setpriv")
def test_transparent_redirect():
    import json
    p = rig.subprocess.run(["unshare", "-n", rig.SYSTEM_PYTHON, os.path.abspath(__file__),
                            "transparent-inner"], capture_output=True, text=True, timeout=120,
                           cwd=os.path.dirname(os.path.abspath(__file__)))
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    assert lines, p.stderr[-3000:]
    r = json.loads(lines[-1])
    assert r["rc"] == 0, r["log"]
    assert r["equal"]
    assert r["rewritten"] == 0          # transparent: nothing is rewritten
    assert r["accepted"] >= 3
    # Every broker was reached through the proxy, at its own address. (By
    # address: a client's first connection is recorded before the proxy has
    # seen a Metadata answer, so its node id is unknown.)
    assert sorted(r["broker_addrs"]) == sorted(r["brokers"])
    for addr in r["brokers"]:
        assert r["recorded"].get("%s,%d" % (addr, API_PRODUCE), 0) > 0, r["recorded"]
        assert r["recorded"].get("%s,1" % addr, 0) > 0, r["recorded"]


def test_transparent_without_redirect_falls_back_or_refuses(cluster3):
    """A connection that was not redirected: to --upstream when given,
    else refused and logged."""
    with Proxy(None, admin=False, extra=["--transparent"]) as p:
        s = connect(p.listen_port)
        assert closed_by_peer(s)
        s.close()
        assert re.search(r"refused connection from 127\.0\.0\.1:\d+ on 127\.0\.0\.1:%d: "
                         r"(the destination is the proxy itself|no original destination)"
                         % p.listen_port, p.log()), p.log()
        assert p.stop() == 0
    with Proxy(cluster3.address(1), admin=False, extra=["--transparent"]) as p:
        s = connect(p.listen_port)
        s.sendall(api_versions_v0(9))
        assert read_frame(s)[:4] == struct.pack(">i", 9)
        s.close()
        assert p.stop() == 0


if __name__ == "__main__":
    import sys
    if sys.argv[1:] == ["transparent-inner"]:
        transparent_inner()


# --------------------------------------------------------------------------
# Command line


@pytest.mark.parametrize("args,msg", [
    ([], "--listen is required"),
    (["--listen", "1"], "--upstream is required"),
    (["--listen", "1", "--upstream", "nohost"], "expected HOST:PORT"),
    (["--listen", "1", "--upstream", "h:99999"], "not a port number"),
    (["--listen", "1", "--upstream", "h:1", "--max-frame", "10"], "--max-frame"),
    (["--listen", "1", "--upstream", "h:1", "--max-frame", "3X"], "--max-frame"),
    (["--listen", "1", "--upstream", "h:1", "--broker-map", "x=1"], "not a node id"),
    (["--listen", "1", "--upstream", "h:1", "--broker-map", "1=2", "--broker-map", "1=3"],
     "given twice"),
    (["--listen", "1", "--upstream", "h:1", "-v", "--json"], "cannot be used together"),
    (["--listen", "1", "--upstream", "h:1", "--store-reserve"], "--store-reserve keeps memory"),
    (["--listen", "1", "--transparent", "--port-base", "5"], "do not apply"),
    (["--listen", "1", "--upstream", "h:1", "--log-level", "loud"], "--log-level"),
    (["--listen", "1", "--upstream", "h:1", "extra"], "unexpected argument"),
    (["--listen", "1", "--upstream", "h:1", "--store-when-full", "block"],
     "would stop the event loop"),
    (["--listen", "1", "--upstream", "h:1", "--store-when-full", "later"], "block, drop or pause"),
    (["--listen", "1", "--upstream", "h:1", "--store-queue", "1k"], "at least 64k"),
    (["--listen", "1", "--upstream", "h:1", "--store-queue", "12Q"], "--store-queue"),
])
def test_usage_errors(args, msg):
    p = rig.subprocess.run([rig.kafkatap_path(), "proxy"] + args, capture_output=True,
                           text=True, timeout=10)
    assert p.returncode == 2, p
    assert msg in p.stderr, p.stderr
    assert "usage: kafkatap proxy" in p.stderr


def test_help_lists_every_option_and_docs_cover_them():
    p = rig.subprocess.run([rig.kafkatap_path(), "proxy", "--help"], capture_output=True,
                           text=True, timeout=10)
    assert p.returncode == 0
    opts = set(re.findall(r"--[a-z][a-z-]+", p.stdout))
    assert {"--upstream", "--listen", "--record", "--admin", "--json", "--broker-map",
            "--port-base", "--transparent", "--max-frame", "--max-connections",
            "--idle-timeout", "--grace"} <= opts
    with open(os.path.join(SRCDIR, "docs", "proxy.md")) as f:
        doc = f.read()
    for o in opts:
        assert "`%s" % o in doc, "%s is not documented in docs/proxy.md" % o


def test_listen_address_in_use_is_an_error():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    p = rig.subprocess.run([rig.kafkatap_path(), "proxy", "--listen", str(port), "--upstream",
                            "127.0.0.1:1"], capture_output=True, text=True, timeout=10)
    s.close()
    assert p.returncode == 1
    assert "cannot listen on 127.0.0.1:%d" % port in p.stderr
