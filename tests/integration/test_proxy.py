"""kafkatap proxy in front of a three-broker mock cluster, with real clients.

Each client (kcat, confluent-kafka with a consumer group of two members and
a rebalance, idempotent and transactional producers, kafka-python, kafkajs)
produces and consumes through the proxy; what was consumed must equal what
was produced.  Then two things must hold:

  * the recording shows Produce and Fetch exchanges for all three broker
    node ids (so the clients reached every broker, through the proxy);
  * no client connection reached a broker except through the proxy.  Sound
    method: dumpcap captures every SYN sent to a broker port on loopback
    for the whole test; the proxy (at --log-level debug) logs the local
    address of every upstream connection it opens.  Every SYN must come
    from one of those addresses.  A snapshot of `ss` could miss a
    short-lived direct connection; a capture cannot.

Helpers used by test_proxy_faults.py live here too (Proxy, SynCapture,
recorded_by_node).
"""

import atexit
import hashlib
import os
import re
import signal
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import urllib.request

import pytest

import rig

BUILDDIR = rig.BUILDDIR
ASAN_BUILDDIR = os.environ.get("KAFKATAP_ASAN_BUILDDIR")

API_PRODUCE = 0
API_FETCH = 1
API_METADATA = 3
API_FIND_COORDINATOR = 10


_TEMP_FILES = []


@atexit.register
def _remove_temp_files():
    for path in _TEMP_FILES:
        try:
            os.unlink(path)
        except OSError:
            pass


def kafkatap_binaries():
    """(id, path) of every kafkatap build to run the heavy tests against."""
    out = [("release", os.path.join(BUILDDIR, "kafkatap"))]
    if ASAN_BUILDDIR and os.access(os.path.join(ASAN_BUILDDIR, "kafkatap"), os.X_OK):
        out.append(("asan", os.path.join(ASAN_BUILDDIR, "kafkatap")))
    return out


class Proxy:
    """`kafkatap proxy` as a subprocess, listening on free loopback ports.

        with Proxy(cluster.bootstrap, record=path) as p:
            p.bootstrap       # "127.0.0.1:<listen port>"
            p.metrics()       # {"kafkatap_requests_total{...}": 3.0, ...}
    """

    def __init__(self, upstream, record=None, admin=True, extra=(), log_level="info",
                 output=None, binary=None, listen_port=None, port_base=None, env=None):
        self.upstream = upstream
        self.record = record
        self.admin = admin
        self.extra = list(extra)
        self.log_level = log_level
        self.output = output  # None, "-v", "-vv" or "--json"
        self.binary = binary or rig.kafkatap_path()
        self.listen_port = listen_port
        self.port_base = port_base
        self.env = env
        self.proc = None
        self.admin_port = None
        self._err = None
        self._out = None

    def argv(self):
        if self.listen_port is None:
            base = rig.free_port_range(8)
            self.listen_port = base
            if self.port_base is None:
                self.port_base = base + 1   # node N on base + 1 + N
        a = [self.binary, "proxy", "--listen", "127.0.0.1:%d" % self.listen_port,
             "--log-level", self.log_level]
        if self.upstream:
            a += ["--upstream", self.upstream]
        if self.port_base is not None and "--transparent" not in self.extra:
            a += ["--port-base", str(self.port_base)]
        if self.record:
            a += ["--record", self.record]
        if self.admin:
            a += ["--admin", "127.0.0.1:0"]
        if self.output:
            a.append(self.output)
        return a + self.extra

    def start(self, wait=True):
        if not os.access(self.binary, os.X_OK):
            raise rig.RigError("kafkatap not built at %s (set KAFKATAP_BUILDDIR)" % self.binary)
        self._err = tempfile.NamedTemporaryFile(prefix="kt-proxy-", suffix=".log", delete=False)
        self._out = tempfile.NamedTemporaryFile(prefix="kt-proxy-", suffix=".out", delete=False)
        _TEMP_FILES.extend([self._err.name, self._out.name])
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.update(self.env or {})
        self.proc = subprocess.Popen(self.argv(), stdout=self._out, stderr=self._err,
                                     stdin=subprocess.DEVNULL, env=env)
        if wait:
            rig.wait_until(lambda: self.proc.poll() is not None or
                           rig.port_open(self.listen_port), 15,
                           what="the proxy to listen")
            if self.proc.poll() is not None:
                raise rig.RigError("proxy exited %s: %s" % (self.proc.returncode, self.log()))
            if self.admin:
                m = rig.wait_until(lambda: re.search(
                    r"admin endpoint on http://127\.0\.0\.1:(\d+)/", self.log()), 10,
                    what="the admin endpoint")
                self.admin_port = int(m.group(1))
        return self

    def __enter__(self):
        if not self.proc:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    @property
    def bootstrap(self):
        return "127.0.0.1:%d" % self.listen_port

    @property
    def pid(self):
        return self.proc.pid

    def node_port(self, node_id):
        return self.port_base + node_id

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=30.0):
        """Signal and wait; returns the exit status (None if never started)."""
        if self.proc is None:
            return None
        if not rig.stop_process(self.proc, sig, timeout):
            raise rig.RigError("proxy did not exit within %ss of %s:\n%s" % (
                timeout, sig, self.log()[-3000:]))
        return self.proc.returncode

    def log(self):
        if not self._err:
            return ""
        with open(self._err.name, "rb") as f:
            return f.read().decode(errors="replace")

    def output_text(self):
        with open(self._out.name, "rb") as f:
            return f.read().decode(errors="replace")

    def http(self, path):
        """(status, body) of GET path on the admin endpoint."""
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.admin_port, path),
                                        timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def metrics(self):
        """The /metrics exposition as {"name{labels}": value}."""
        status, body = self.http("/metrics")
        assert status == 200, body
        out = {}
        for line in body.splitlines():
            if not line or line.startswith("#"):
                continue
            key, _, val = line.rpartition(" ")
            out[key] = float(val)
        return out

    def metric(self, name, **labels):
        """Sum of the samples of `name` whose labels include `labels`."""
        total = 0.0
        for key, v in self.metrics().items():
            n, _, lab = key.partition("{")
            if n != name:
                continue
            have = dict(re.findall(r'(\w+)="([^"]*)"', lab))
            if all(have.get(k) == str(val) for k, val in labels.items()):
                total += v
        return total

    def rss_kb(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def upstream_local_ports(self):
        """Local ports of every upstream connection the proxy made (needs
        --log-level debug)."""
        return {int(p) for p in re.findall(
            r"(?:connected client \S+ to broker \S+|broker discovery: connected to broker \S+)"
            r" from 127\.0\.0\.1:(\d+)", self.log())}


class SynCapture(rig.Dumpcap):
    """Every SYN sent to `ports` on loopback, captured by dumpcap."""

    def __init__(self, ports):
        super().__init__("tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn and (%s)" % " or ".join(
            "dst port %d" % p for p in ports), prefix="kt-syn-")

    @staticmethod
    def available():
        return rig.Dumpcap.available() and shutil.which("tshark") is not None

    def stop(self):
        """Stop and return [(src_port, dst_port)]."""
        super().stop()
        out = subprocess.run(["tshark", "-r", self.path, "-T", "fields", "-e", "tcp.srcport",
                              "-e", "tcp.dstport"], capture_output=True, text=True,
                             timeout=60).stdout
        self.cleanup()
        return [tuple(int(x) for x in l.split("\t")) for l in out.splitlines() if l.strip()]


def spread_topic(cluster, partitions=6):
    """A topic whose partition leaders cover every broker (partition i on
    broker i % N + 1): the mock's own choice may leave a broker out."""
    topic = cluster.create_topic(partitions)
    for i in range(partitions):
        cluster.ok("leader %s %d %d" % (topic, i, i % cluster.brokers + 1))
    return topic


def recorded_by_node(db):
    """{(broker_node_id, api_key): exchanges} of a recording."""
    con = sqlite3.connect(db)
    try:
        rows = con.execute(
            "SELECT c.broker_node_id, e.api_key, count(*) FROM exchanges e "
            "JOIN connections c ON e.connection_id = c.id GROUP BY 1, 2").fetchall()
    finally:
        con.close()
    return {(n, a): c for n, a, c in rows}


def assert_every_broker_used(db, brokers=(1, 2, 3)):
    rec = recorded_by_node(db)
    for api in (API_PRODUCE, API_FETCH):
        for node in brokers:
            assert rec.get((node, api), 0) > 0, \
                "no %s exchange recorded for broker %d: %s" % (
                    "Produce" if api == API_PRODUCE else "Fetch", node, rec)


@pytest.fixture
def proxied(request, cluster3):
    """(cluster, proxy, check) — a 3-broker cluster behind a recording proxy,
    with a SYN capture on the broker ports.  check() stops the proxy and
    asserts the recording and the capture."""
    tmp = tempfile.mkdtemp(prefix="kt-proxy-")
    db = os.path.join(tmp, "rec.db")
    cap = SynCapture(cluster3.ports).start() if SynCapture.available() else None
    p = Proxy(cluster3.bootstrap, record=db, log_level="debug").start()

    def check(brokers=(1, 2, 3)):
        rc = p.stop()
        syns = cap.stop() if cap else None
        assert rc == 0, p.log()[-3000:]
        if syns is not None:
            proxy_ports = p.upstream_local_ports()
            direct = [s for s in syns if s[0] not in proxy_ports]
            assert syns, "the capture saw no connection to the brokers at all"
            assert not direct, "connections to brokers not made by the proxy: %s" % direct
        assert_every_broker_used(db, brokers)
        return db

    def fin():
        if p.running():
            p.stop(signal.SIGKILL)
        if cap and cap.proc and cap.proc.poll() is None:
            cap.proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    request.addfinalizer(fin)
    return cluster3, p, check


# --------------------------------------------------------------------------
# Clients


def test_kcat_produce_consume(proxied):
    cluster, p, check = proxied
    topic = spread_topic(cluster)
    msgs = []
    for part in range(6):
        msgs += rig.make_messages(20, prefix="p%d" % part, partition=part, headers=False)
    # Two producer runs, so that each partition gets two batches, each
    # numbered from 0 by its producer, the second appended at offset 10.
    rig.kcat_produce(p.bootstrap, topic, [m for i, m in enumerate(msgs) if i % 20 < 10])
    rig.kcat_produce(p.bootstrap, topic, [m for i, m in enumerate(msgs) if i % 20 >= 10])
    got = rig.kcat_consume(p.bootstrap, topic, len(msgs))
    assert rig.by_key(got) == rig.by_key(msgs)
    # Metadata through the proxy names the proxy's listeners, not the brokers.
    md = rig.kcat_metadata(p.bootstrap)
    names = sorted(b["name"] for b in md["brokers"])
    assert names == ["127.0.0.1:%d" % p.node_port(n) for n in (1, 2, 3)]
    assert p.metric("kafkatap_responses_rewritten_total") > 0
    db = check()
    # Each produced record is recorded at the offset the broker gave it: the
    # one the consumer read it from.
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT partition, \"offset\", CAST(key AS TEXT) FROM records"
                           " WHERE direction = 'produce' AND topic = ?", (topic,)).fetchall()
    finally:
        con.close()
    assert len(rows) == len(msgs)
    assert sorted(rows) == sorted((m["partition"], m["offset"], m["key"]) for m in got)


def test_confluent_group_rebalance_idempotent_transactional(proxied):
    confluent_kafka = pytest.importorskip("confluent_kafka")
    cluster, p, check = proxied
    topic = spread_topic(cluster)
    group = rig.unique("group")
    consumed = {}
    assignments = {"a": [], "b": []}
    lock = threading.Lock()
    stop = threading.Event()
    errors = []

    def member(name):
        def on_assign(c, parts):
            with lock:
                assignments[name].append(sorted(x.partition for x in parts))
        c = confluent_kafka.Consumer({
            "bootstrap.servers": p.bootstrap, "group.id": group,
            "session.timeout.ms": rig.SESSION_TIMEOUT_MS, "heartbeat.interval.ms": 500,
            "fetch.wait.max.ms": rig.FETCH_WAIT_MS, "auto.offset.reset": "earliest",
            "enable.auto.commit": True, "auto.commit.interval.ms": 200})
        c.subscribe([topic], on_assign=on_assign)
        try:
            while not stop.is_set():
                m = c.poll(0.1)
                if m is None:
                    continue
                if m.error():
                    errors.append(str(m.error()))
                    continue
                with lock:
                    consumed.setdefault(m.key().decode(), m.value().decode())
        finally:
            c.close()

    ta = threading.Thread(target=member, args=("a",))
    ta.start()
    try:
        rig.wait_until(lambda: assignments["a"] and len(assignments["a"][-1]) == 6, 20,
                       what="member a to own all partitions")
        tb = threading.Thread(target=member, args=("b",))
        tb.start()
        # The second member joining makes the group rebalance.
        rig.wait_until(lambda: assignments["b"] and assignments["b"][-1] and
                       len(assignments["a"]) >= 2 and assignments["a"][-1], 30,
                       what="a rebalance giving both members partitions")
        plain = rig.make_messages(60, prefix="plain")
        idem = rig.make_messages(60, prefix="idem")
        txn = rig.make_messages(60, prefix="txn")
        r = rig.confluent_produce(p.bootstrap, topic, plain, {"acks": "all"})
        assert len(r["delivered"]) == 60 and not r["errors"], r
        r = rig.confluent_produce(p.bootstrap, topic, idem, {"enable.idempotence": True})
        assert len(r["delivered"]) == 60 and not r["errors"], r
        r = rig.confluent_produce(p.bootstrap, topic, txn,
                                  {"transactional.id": rig.unique("txn")})
        assert len(r["delivered"]) == 60 and not r["errors"], r
        want = {m["key"]: m["value"] for m in plain + idem + txn}
        rig.wait_until(lambda: len(consumed) >= len(want), 40,
                       what="the group to consume %d messages" % len(want))
    finally:
        stop.set()
        ta.join(30)
        if "tb" in locals():
            tb.join(30)
    assert consumed == want
    a_parts = set(assignments["a"][-1])
    b_parts = set(assignments["b"][-1])
    assert a_parts and b_parts and not a_parts & b_parts
    db = check()
    # The transactional flow went through the proxy: FindCoordinator (rewritten)
    # and the transaction apis were recorded.
    con = sqlite3.connect(db)
    apis = {r[0] for r in con.execute("SELECT DISTINCT api_key FROM exchanges")}
    flags = con.execute("SELECT count(*) FROM exchanges WHERE api_key = ? AND flags & 512",
                        (API_FIND_COORDINATOR,)).fetchone()[0]
    con.close()
    assert {22, 24, 26} <= apis, apis  # InitProducerId, AddPartitionsToTxn, EndTxn
    assert {11, 12, 14} <= apis, apis  # JoinGroup, Heartbeat, SyncGroup
    assert flags > 0, "no FindCoordinator response was rewritten"


def test_kafka_python_produce_consume(proxied):
    cluster, p, check = proxied
    topic = spread_topic(cluster)
    msgs = rig.make_messages(90, prefix="kp")
    r = rig.kafka_python_produce(p.bootstrap, topic, msgs)
    assert len(r["delivered"]) == 90 and not r["errors"], r
    got = rig.kafka_python_consume(p.bootstrap, topic, 90)
    assert not got["timed_out"], got
    assert rig.by_key(got["messages"]) == rig.by_key(msgs)
    check()


@pytest.mark.skipif(not rig.kafkajs_available(), reason="kafkajs not installed (tests/js)")
def test_kafkajs_produce_consume(proxied):
    cluster, p, check = proxied
    topic = spread_topic(cluster)
    msgs = rig.make_messages(90, prefix="js")
    r = rig.kafkajs_produce(p.bootstrap, topic, msgs)
    assert not r.get("error"), r
    got = rig.kafkajs_consume(p.bootstrap, topic, 90)
    assert not got.get("error"), got
    assert rig.by_key(got["messages"]) == rig.by_key(msgs)
    check()


@pytest.mark.parametrize("binary", [b[1] for b in kafkatap_binaries()],
                         ids=[b[0] for b in kafkatap_binaries()])
def test_recorded_connections_know_their_node(cluster3, binary):
    """Every recorded connection row ends with its broker's node id, also
    the bootstrap connections, which are opened before the proxy can know
    which node they reach.  The upstreams are given as localhost:PORT while
    the brokers advertise 127.0.0.1:PORT, so only the numeric address the
    proxy connected to (or a later Metadata) can tell the node; a
    connection row written with -1 at open must be updated."""
    topic = cluster3.create_topic(3)
    tmp = tempfile.mkdtemp(prefix="kt-node-")
    db = os.path.join(tmp, "rec.db")
    try:
        upstream = ",".join("localhost:%d" % port for port in cluster3.ports)
        with Proxy(upstream, record=db, binary=binary, log_level="debug") as p:
            rig.kcat_metadata(p.bootstrap)
            rig.kcat_produce(p.bootstrap, topic, rig.make_messages(6, prefix="n"))
            assert p.stop() == 0, p.log()[-3000:]
        con = sqlite3.connect(db)
        try:
            # Connections that carried exchanges: the rig's readiness probe
            # (Proxy.start) connects and closes at once, often before the
            # proxy's upstream connect completes, so it may never reach a
            # broker and rightly has no node id.
            rows = con.execute("SELECT conn_id, broker_addr, broker_node_id FROM connections c "
                               "WHERE EXISTS (SELECT 1 FROM exchanges e "
                               "WHERE e.connection_id = c.id) ORDER BY conn_id").fetchall()
            meta = con.execute(
                "SELECT count(*) FROM exchanges WHERE api_key = ?", (API_METADATA,)).fetchone()[0]
        finally:
            con.close()
        assert meta > 0, "no Metadata exchange recorded"
        # Two kcat runs: at least two bootstrap connections to localhost:PORT.
        boot = [r for r in rows if r[1].startswith("localhost:")]
        assert len(boot) >= 2, rows
        unknown = [r for r in rows if r[2] is None or r[2] < 0]
        assert not unknown, "connections recorded without a node id: %s" % unknown
        # The node id is the one that broker's port has in the cluster.
        for conn_id, addr, node in rows:
            port = int(addr.rsplit(":", 1)[1])
            assert cluster3.ports[node - 1] == port, (conn_id, addr, node, cluster3.ports)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_record_store_options(cluster3):
    """The proxy takes decode's --store-* options: without the records table
    and the raw bytes the exchanges are still recorded, with hashed values
    the records hold SHA-256 digests; block is refused (the loop never waits)."""
    topic = cluster3.create_topic(3)
    msgs = rig.make_messages(8, prefix="so", headers=False)
    tmp = tempfile.mkdtemp(prefix="kt-storeopt-")
    try:
        lean, hashed = os.path.join(tmp, "lean.db"), os.path.join(tmp, "hashed.db")
        with Proxy(cluster3.bootstrap, record=lean,
                   extra=("--store-no-records", "--store-no-raw")) as p:
            rig.kcat_produce(p.bootstrap, topic, msgs)
            assert p.stop() == 0, p.log()[-3000:]
        with Proxy(cluster3.bootstrap, record=hashed, extra=("--store-values", "hash")) as p:
            rig.kcat_produce(p.bootstrap, topic, msgs)
            assert p.stop() == 0, p.log()[-3000:]
        con = sqlite3.connect(lean)
        try:
            produce = con.execute("SELECT count(*), count(request_raw), count(request_json) "
                                  "FROM exchanges WHERE api_key = 0").fetchone()
            nrec = con.execute("SELECT count(*) FROM records").fetchone()[0]
        finally:
            con.close()
        assert produce[0] > 0 and produce[1] == 0 and produce[2] == produce[0], produce
        assert nrec == 0
        con = sqlite3.connect(hashed)
        try:
            values = [r[0] for r in con.execute(
                "SELECT value FROM records WHERE direction = 'produce'")]
        finally:
            con.close()
        assert len(values) == len(msgs), values
        want = {"sha256:" + hashlib.sha256(m["value"].encode()).hexdigest() for m in msgs}
        assert set(values) == want, values
        r = subprocess.run([rig.kafkatap_path(), "proxy", "-u", cluster3.bootstrap, "-l", "0",
                            "--record", os.path.join(tmp, "x.db"), "--store-when-full", "block"],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 2 and "would stop the event loop" in r.stderr, r.stderr
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_verbose_and_json_output(cluster3):
    """-v prints one line per exchange, --json one object, off the event loop."""
    topic = cluster3.create_topic(3)
    msgs = rig.make_messages(10, prefix="out", headers=False)
    for flag in ("-v", "--json"):
        with Proxy(cluster3.bootstrap, output=flag) as p:
            rig.kcat_produce(p.bootstrap, topic, msgs)
            assert p.stop() == 0
            out = p.output_text()
        lines = [l for l in out.splitlines() if l.strip()]
        assert lines, p.log()
        if flag == "--json":
            import json
            objs = [json.loads(l) for l in lines]
            assert any(o.get("api_key") == API_PRODUCE or o.get("api") == "Produce"
                       for o in objs), objs[:3]
        else:
            assert any("Produce" in l for l in lines)
            assert any("Metadata" in l and "rewritten" in l for l in lines)
