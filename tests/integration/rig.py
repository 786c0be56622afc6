"""Test rig for kafkatap's integration tests.

Starts the mock Kafka cluster (tests/launcher/kt-mockbroker, librdkafka's
mock broker) and drives real Kafka clients against it:

  * kcat                      -- subprocess, librdkafka
  * confluent-kafka (Python)  -- subprocess running /usr/bin/python3 on this
                                 file (``python3 rig.py confluent produce``)
  * kafka-python              -- same, ``python3 rig.py kafka-python ...``
  * kafkajs (Node)            -- ``node tests/js/{produce,consume}.js``

so the test runner itself can be any Python 3.  Every client takes and returns
plain messages::

    {"key": str|None, "value": str|None, "headers": [[k, v], ...],
     "partition": int|None}

and consumers return the same keys plus "topic", "offset" and "timestamp".
Compare with ``strip()`` (keeps key, value, headers).

Binaries come from $KAFKATAP_BUILDDIR (default: the repository root):
``$KAFKATAP_BUILDDIR/tests/launcher/kt-mockbroker`` and
``$KAFKATAP_BUILDDIR/kafkatap``.

Speed (see shared TEST-RIG.md): session timeout 6000 ms, a unique group id per
consumer (``unique()``), low fetch max wait, pre-created topics, and
``wait_until()`` instead of sleeps.
"""

import itertools
import json
import os
import random
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.dirname(os.path.dirname(HERE))
BUILDDIR = os.path.abspath(os.environ.get("KAFKATAP_BUILDDIR", SRCDIR))
JSDIR = os.path.join(SRCDIR, "tests", "js")
SYSTEM_PYTHON = os.environ.get("KAFKATAP_PYTHON", "/usr/bin/python3")

# Defaults that keep group tests fast against the mock.
SESSION_TIMEOUT_MS = 6000
FETCH_WAIT_MS = 100


class RigError(Exception):
    """A helper process failed or did not answer in time."""


def launcher_path():
    return os.path.join(BUILDDIR, "tests", "launcher", "kt-mockbroker")


def kafkatap_path():
    return os.path.join(BUILDDIR, "kafkatap")


_counter = itertools.count()


def unique(prefix="kt"):
    """A name no other test in this run (or a concurrent run) uses."""
    return "%s-%d-%d-%d" % (prefix, os.getpid(), int(time.time() * 1000) % 10**7,
                            next(_counter))


def free_port(host="127.0.0.1"):
    """A TCP port that was free a moment ago (the kernel's ephemeral pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def free_port_range(count, host="127.0.0.1", start=20000, end=60000):
    """A base port P such that P..P+count-1 are all free right now."""
    rng = random.Random(os.getpid() ^ int(time.time()))
    for _ in range(200):
        base = rng.randrange(start, end - count)
        socks = []
        try:
            for p in range(base, base + count):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.bind((host, p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RigError("no %d consecutive free ports found" % count)


def wait_until(pred, timeout=10.0, interval=0.05, what="condition"):
    """Poll pred() until it returns a true value; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise RigError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_port(port, host="127.0.0.1", timeout=10.0):
    return wait_until(lambda: port_open(port, host), timeout,
                      what="%s:%d to accept connections" % (host, port))


def strip(messages):
    """Only what a producer controls: key, value and headers."""
    return [{"key": m.get("key"), "value": m.get("value"),
             "headers": [list(h) for h in (m.get("headers") or [])]}
            for m in messages]


def by_key(messages):
    """Consumed order is only kept per partition: sort for comparisons."""
    return sorted(strip(messages), key=lambda m: (m["key"] or "", m["value"] or ""))


def stop_process(proc, sig=signal.SIGTERM, timeout=10.0):
    """Send `sig` to a running process and wait up to `timeout` s; kill it
    past that. Returns True when it exited by itself."""
    if proc.poll() is not None:
        return True
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
        return True
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
        return False


class Dumpcap:
    """dumpcap capturing loopback through a BPF filter into a temporary
    pcapng file (needs root): start(), stop(), then read `path`."""

    def __init__(self, bpf, prefix="kt-cap-"):
        self.bpf = bpf
        self.dir = tempfile.mkdtemp(prefix=prefix)
        self.path = os.path.join(self.dir, "capture.pcapng")
        self.proc = None

    @staticmethod
    def available():
        return shutil.which("dumpcap") is not None and os.geteuid() == 0

    def start(self):
        self.err = open(os.path.join(self.dir, "dumpcap.err"), "w+")
        self.proc = subprocess.Popen(["dumpcap", "-q", "-i", "lo", "-f", self.bpf,
                                      "-w", self.path],
                                     stdout=subprocess.DEVNULL, stderr=self.err)
        # dumpcap writes the pcapng header once it captures.
        wait_until(lambda: os.path.exists(self.path) and os.path.getsize(self.path) > 0,
                   10, what="dumpcap to start")
        time.sleep(0.2)
        return self

    def stop(self):
        time.sleep(0.3)  # let the last packets reach the capture
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(10)
        self.err.close()

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def make_messages(n, prefix="m", headers=True, partition=None):
    """n messages with distinct keys, values and headers."""
    out = []
    for i in range(n):
        m = {"key": "%s-key-%04d" % (prefix, i),
             "value": "%s-value-%04d-%s" % (prefix, i, "x" * (i % 7)),
             "headers": [["idx", str(i)], ["src", prefix]] if headers else []}
        if partition is not None:
            m["partition"] = partition
        out.append(m)
    return out


# --------------------------------------------------------------------------
# Line reading with a deadline from a subprocess pipe


class _LineReader:
    def __init__(self, fileobj):
        self.fd = fileobj.fileno()
        self.buf = b""

    def readline(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RigError("no line within %.1fs" % timeout)
            r, _, _ = select.select([self.fd], [], [], left)
            if not r:
                continue
            chunk = os.read(self.fd, 65536)
            if not chunk:
                if self.buf:
                    line, self.buf = self.buf, b""
                    return line.decode()
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()


# --------------------------------------------------------------------------
# The broker


class Broker:
    """kt-mockbroker as a subprocess.

        with Broker(brokers=3, topics=["t:6"]) as b:
            b.bootstrap          # "127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3"
            b.command("down 2")  # "ok"
    """

    def __init__(self, brokers=1, port_base=None, ports=None, topics=(),
                 no_stdin=False, extra_args=(), path=None, start_timeout=15.0):
        self.brokers = len(ports) if ports else brokers
        self.port_base = port_base
        self.req_ports = list(ports) if ports else None
        self.topics = list(topics)
        self.no_stdin = no_stdin
        self.extra_args = list(extra_args)
        self.path = path or os.environ.get("KT_MOCKBROKER") or launcher_path()
        self.start_timeout = start_timeout
        self.proc = None
        self.bootstrap = None
        self.ports = []
        self._reader = None
        self._stderr = None

    def argv(self):
        a = [self.path, "--brokers", str(self.brokers)]
        if self.req_ports:
            a += ["--ports", ",".join(str(p) for p in self.req_ports)]
        elif self.port_base:
            a += ["--port-base", str(self.port_base)]
        for t in self.topics:
            a += ["--topic", t]
        if self.no_stdin:
            a.append("--no-stdin")
        return a + self.extra_args

    def start(self):
        if not os.access(self.path, os.X_OK):
            raise RigError("launcher %s not found or not executable (build it, "
                           "or set KAFKATAP_BUILDDIR)" % self.path)
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            self.argv(), stdin=subprocess.DEVNULL if self.no_stdin else subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self._stderr)
        self._reader = _LineReader(self.proc.stdout)
        try:
            line = self._reader.readline(self.start_timeout)
        except RigError:
            self.kill()
            raise RigError("launcher printed no bootstrap line: %s" % self.log())
        if not line:
            rc = self.proc.wait(5)
            raise RigError("launcher exited %s before printing its bootstrap "
                           "line: %s" % (rc, self.log()))
        self.bootstrap = line.strip()
        self.ports = [int(hp.rsplit(":", 1)[1]) for hp in self.bootstrap.split(",")]
        return self

    def __enter__(self):
        if not self.proc:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    @property
    def pid(self):
        return self.proc.pid

    def address(self, broker_id):
        """host:port of broker broker_id (1-based)."""
        return "127.0.0.1:%d" % self.ports[broker_id - 1]

    def command(self, line, timeout=10.0):
        """Send one command, return the launcher's one-line reply."""
        if self.no_stdin:
            raise RigError("broker was started with --no-stdin")
        self.proc.stdin.write((line.rstrip("\n") + "\n").encode())
        self.proc.stdin.flush()
        reply = self._reader.readline(timeout)
        if reply is None:
            raise RigError("launcher closed stdout after %r: %s" % (line, self.log()))
        return reply

    def ok(self, line, timeout=10.0):
        """command() that must answer "ok"."""
        reply = self.command(line, timeout)
        if reply != "ok":
            raise RigError("%r answered %r" % (line, reply))
        return reply

    def create_topic(self, partitions=3, name=None, replication=1):
        """Pre-create a topic (the mock has no CreateTopics); returns its name."""
        name = name or unique("topic")
        self.ok("topic %s %d %d" % (name, partitions, replication))
        return name

    def close_stdin(self):
        self.proc.stdin.close()

    def wait(self, timeout=10.0):
        return self.proc.wait(timeout)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Signal the launcher and wait; returns its exit code."""
        if self.proc is None:
            return None
        stop_process(self.proc, sig, timeout)
        for f in (self.proc.stdin, self.proc.stdout):
            if f:
                try:
                    f.close()
                except OSError:
                    pass
        return self.proc.returncode

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def log(self):
        """What the launcher wrote on stderr so far."""
        if not self._stderr:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")


# --------------------------------------------------------------------------
# kcat

KCAT = os.environ.get("KCAT", "kcat")
# Field and message delimiters unlikely to appear in test data.
_KDELIM = "\x1f"
_MDELIM = "\x1e"


def _xargs(config):
    out = []
    for k, v in (config or {}).items():
        out += ["-X", "%s=%s" % (k, v)]
    return out


def kcat(args, input=None, timeout=30.0, check=True):
    """Run kcat with args; returns CompletedProcess (text)."""
    p = subprocess.run([KCAT] + list(args), input=input, capture_output=True,
                       text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RigError("kcat %s exited %d: %s" % (" ".join(args), p.returncode,
                                                  p.stderr[-2000:]))
    return p


def kcat_produce(bootstrap, topic, messages, config=None, timeout=30.0, check=True):
    """Produce messages with kcat (-P).  kcat applies -H and -p to a whole
    run, so consecutive messages with the same headers and partition go in one
    run.  Keys and values must not contain \\x1e or \\x1f.  Returns the list
    of CompletedProcess (one per run)."""
    runs = []
    for (hdrs, part), group in itertools.groupby(
            messages, key=lambda m: (tuple(tuple(h) for h in m.get("headers") or []),
                                     m.get("partition"))):
        group = list(group)
        args = ["-P", "-b", bootstrap, "-t", topic, "-K", _KDELIM, "-D", _MDELIM]
        if part is not None:
            args += ["-p", str(part)]
        for k, v in hdrs:
            args += ["-H", "%s=%s" % (k, v)]
        args += _xargs(config)
        data = "".join("%s%s%s%s" % (m.get("key") or "", _KDELIM, m.get("value") or "",
                                     _MDELIM) for m in group)
        runs.append(kcat(args, input=data, timeout=timeout, check=check))
    return runs


def _kcat_json(line):
    d = json.loads(line)
    h = d.get("headers") or []
    return {"topic": d["topic"], "partition": d["partition"], "offset": d["offset"],
            "key": d.get("key"), "value": d.get("payload"),
            "headers": [[h[i], h[i + 1]] for i in range(0, len(h), 2)],
            "timestamp": d.get("ts")}


def kcat_consume(bootstrap, topic, count, group=None, config=None, offset="beginning",
                 partition=None, timeout=30.0):
    """Consume exactly count messages with kcat -C -J (or a group with -G).
    Without a group kcat assigns all partitions from offset."""
    cfg = {"fetch.wait.max.ms": FETCH_WAIT_MS}
    if group:
        cfg.update({"session.timeout.ms": SESSION_TIMEOUT_MS,
                    "auto.offset.reset": "earliest"})
    cfg.update(config or {})
    args = ["-b", bootstrap, "-J", "-c", str(count), "-q"]
    if group:
        args += ["-G", group, topic]
    else:
        args += ["-C", "-t", topic, "-o", str(offset)]
        if partition is not None:
            args += ["-p", str(partition)]
    args += _xargs(cfg)
    p = kcat(args, timeout=timeout)
    return [_kcat_json(l) for l in p.stdout.splitlines() if l.startswith("{")]


def kcat_metadata(bootstrap, topic=None, timeout=15.0):
    """kcat -L -J as a dict."""
    args = ["-L", "-J", "-b", bootstrap]
    if topic:
        args += ["-t", topic]
    return json.loads(kcat(args, timeout=timeout).stdout)


# --------------------------------------------------------------------------
# Python clients in a /usr/bin/python3 subprocess


def _run_json(argv, args, timeout, cwd=None, env=None):
    try:
        p = subprocess.run(argv, input=json.dumps(args), capture_output=True, text=True,
                           timeout=timeout, cwd=cwd, env=env)
    except subprocess.TimeoutExpired as e:
        raise RigError("%s timed out after %ss; stdout: %r; stderr: %r" % (
            " ".join(argv), timeout, (e.stdout or b"")[-1000:], (e.stderr or b"")[-2000:]))
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    if not lines:
        raise RigError("%s exited %d without a result; stderr: %s" % (
            " ".join(argv), p.returncode, p.stderr[-3000:]))
    res = json.loads(lines[-1])
    res["_stderr"] = p.stderr
    res["_rc"] = p.returncode
    return res


def pyclient(client, action, args, timeout=60.0):
    """Run `client` ("confluent" or "kafka-python") `action` ("produce",
    "consume") in Debian's python3; returns the result dict."""
    return _run_json([SYSTEM_PYTHON, os.path.abspath(__file__), client, action],
                     args, timeout)


def confluent_produce(bootstrap, topic, messages, config=None, timeout=60.0, flush=30.0):
    """Result: {"delivered": [{"partition", "offset", "key"}], "errors": [...]}."""
    return pyclient("confluent", "produce", {
        "bootstrap": bootstrap, "topic": topic, "messages": messages,
        "config": config or {}, "flush": flush}, timeout)


def confluent_consume(bootstrap, topic, count, group=None, config=None, timeout=30.0):
    """Group consumer when group is given, else assign() from the beginning.
    Result: {"messages": [...], "timed_out": bool}."""
    return pyclient("confluent", "consume", {
        "bootstrap": bootstrap, "topic": topic, "count": count, "group": group,
        "config": config or {}, "timeout": timeout}, timeout + 30)


def kafka_python_produce(bootstrap, topic, messages, config=None, timeout=60.0):
    """config: KafkaProducer keyword arguments (api_version as a list)."""
    return pyclient("kafka-python", "produce", {
        "bootstrap": bootstrap, "topic": topic, "messages": messages,
        "config": config or {}, "timeout": timeout}, timeout + 30)


def kafka_python_consume(bootstrap, topic, count, group=None, config=None, timeout=30.0):
    return pyclient("kafka-python", "consume", {
        "bootstrap": bootstrap, "topic": topic, "count": count, "group": group,
        "config": config or {}, "timeout": timeout}, timeout + 30)


# --------------------------------------------------------------------------
# kafkajs


NODE = os.environ.get("NODE", "node")


def kafkajs_available():
    return os.path.isdir(os.path.join(JSDIR, "node_modules", "kafkajs"))


def kafkajs(script, args, timeout=60.0):
    """Run tests/js/<script>.js with JSON args; returns its JSON result."""
    if not kafkajs_available():
        raise RigError("kafkajs not installed: run npm install --prefix tests/js")
    env = dict(os.environ)
    env["NODE_PATH"] = os.path.join(JSDIR, "node_modules")
    return _run_json([NODE, os.path.join(JSDIR, script + ".js")], args, timeout,
                     cwd=JSDIR, env=env)


def kafkajs_produce(bootstrap, topic, messages, compression="none", acks=-1, timeout=60.0,
                    **extra):
    args = {"bootstrap": bootstrap, "topic": topic, "messages": messages,
            "compression": compression, "acks": acks}
    args.update(extra)
    return kafkajs("produce", args, timeout)


def kafkajs_consume(bootstrap, topic, count, group=None, timeout=30.0, **extra):
    args = {"bootstrap": bootstrap, "topic": topic, "count": count,
            "groupId": group or unique("kafkajs"), "timeout": int(timeout * 1000),
            "sessionTimeout": SESSION_TIMEOUT_MS, "maxWaitTimeInMs": FETCH_WAIT_MS}
    args.update(extra)
    return kafkajs("consume", args, timeout + 30)


# --------------------------------------------------------------------------
# Client side of pyclient(): runs inside /usr/bin/python3


def _dec(b):
    if b is None:
        return None
    return b.decode("utf-8", "surrogateescape") if isinstance(b, bytes) else str(b)


def _enc(s):
    return None if s is None else s.encode("utf-8", "surrogateescape")


def _hdrs_out(headers):
    return [[k, _dec(v)] for k, v in (headers or [])]


def _confluent_produce(a):
    from confluent_kafka import Producer
    conf = {"bootstrap.servers": a["bootstrap"], "linger.ms": 5}
    conf.update(a.get("config") or {})
    p = Producer(conf)
    delivered, errors = [], []

    def dr(err, msg):
        if err:
            errors.append({"key": _dec(msg.key()), "error": err.name(), "code": err.code(),
                           "str": err.str()})
        else:
            delivered.append({"key": _dec(msg.key()), "partition": msg.partition(),
                              "offset": msg.offset()})

    transactional = "transactional.id" in conf
    if transactional:
        p.init_transactions(30)
        p.begin_transaction()
    for m in a["messages"]:
        kw = {"key": _enc(m.get("key")), "value": _enc(m.get("value")), "on_delivery": dr}
        if m.get("headers"):
            kw["headers"] = [(k, _enc(v)) for k, v in m["headers"]]
        if m.get("partition") is not None:
            kw["partition"] = m["partition"]
        while True:
            try:
                p.produce(a["topic"], **kw)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    if transactional:
        if a.get("abort"):
            p.abort_transaction(30)
        else:
            p.commit_transaction(30)
    left = p.flush(a.get("flush", 30))
    return {"delivered": delivered, "errors": errors, "unflushed": left}


def _confluent_consume(a):
    from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
    group = a.get("group")
    conf = {"bootstrap.servers": a["bootstrap"],
            "group.id": group or unique("assign"),
            "session.timeout.ms": SESSION_TIMEOUT_MS,
            "fetch.wait.max.ms": FETCH_WAIT_MS,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": bool(group)}
    conf.update(a.get("config") or {})
    c = Consumer(conf)
    deadline = time.monotonic() + a.get("timeout", 30)
    if group:
        c.subscribe([a["topic"]])
    else:
        md = c.list_topics(a["topic"], timeout=10)
        parts = md.topics[a["topic"]].partitions
        c.assign([TopicPartition(a["topic"], p, OFFSET_BEGINNING) for p in sorted(parts)])
    out, errors = [], []
    while len(out) < a["count"] and time.monotonic() < deadline:
        msg = c.poll(0.2)
        if msg is None:
            continue
        if msg.error():
            errors.append(msg.error().name())
            continue
        out.append({"topic": msg.topic(), "partition": msg.partition(),
                    "offset": msg.offset(), "key": _dec(msg.key()),
                    "value": _dec(msg.value()), "headers": _hdrs_out(msg.headers()),
                    "timestamp": msg.timestamp()[1]})
    if group and a.get("commit", True):
        try:
            c.commit(asynchronous=False)
        except Exception as e:  # nothing to commit is fine
            errors.append("commit: %s" % e)
    c.close()
    return {"messages": out, "errors": errors, "timed_out": len(out) < a["count"]}


def _kp_config(cfg):
    cfg = dict(cfg or {})
    if isinstance(cfg.get("api_version"), list):
        cfg["api_version"] = tuple(cfg["api_version"])
    return cfg


def _kafka_python_produce(a):
    from kafka import KafkaProducer
    cfg = {"linger_ms": 5}
    cfg.update(_kp_config(a.get("config")))
    p = KafkaProducer(bootstrap_servers=a["bootstrap"].split(","), **cfg)
    futures = []
    for m in a["messages"]:
        kw = {"key": _enc(m.get("key")), "value": _enc(m.get("value"))}
        if m.get("headers"):
            kw["headers"] = [(k, _enc(v)) for k, v in m["headers"]]
        if m.get("partition") is not None:
            kw["partition"] = m["partition"]
        futures.append((m.get("key"), p.send(a["topic"], **kw)))
    p.flush(a.get("timeout", 30))
    delivered, errors = [], []
    for key, f in futures:
        try:
            md = f.get(timeout=max(1, a.get("timeout", 30)))
            delivered.append({"key": key, "partition": md.partition, "offset": md.offset})
        except Exception as e:
            errors.append({"key": key, "error": type(e).__name__, "str": str(e)})
    p.close(5)
    return {"delivered": delivered, "errors": errors}


def _kafka_python_consume(a):
    from kafka import KafkaConsumer, TopicPartition
    group = a.get("group")
    cfg = {"group_id": group, "auto_offset_reset": "earliest",
           "session_timeout_ms": SESSION_TIMEOUT_MS, "heartbeat_interval_ms": 1000,
           "fetch_max_wait_ms": FETCH_WAIT_MS, "enable_auto_commit": bool(group)}
    cfg.update(_kp_config(a.get("config")))
    c = KafkaConsumer(bootstrap_servers=a["bootstrap"].split(","), **cfg)
    deadline = time.monotonic() + a.get("timeout", 30)
    topic = a["topic"]
    if group:
        c.subscribe([topic])
    else:
        parts = None
        while not parts and time.monotonic() < deadline:
            parts = c.partitions_for_topic(topic)
            if not parts:
                time.sleep(0.1)
        tps = [TopicPartition(topic, p) for p in sorted(parts or [])]
        c.assign(tps)
        c.seek_to_beginning(*tps)
    out = []
    while len(out) < a["count"] and time.monotonic() < deadline:
        for _tp, recs in c.poll(timeout_ms=200).items():
            for r in recs:
                out.append({"topic": r.topic, "partition": r.partition, "offset": r.offset,
                            "key": _dec(r.key), "value": _dec(r.value),
                            "headers": _hdrs_out(r.headers), "timestamp": r.timestamp})
    if group and a.get("commit", True):
        c.commit()
    c.close()
    return {"messages": out, "timed_out": len(out) < a["count"]}


_CLIENT_ACTIONS = {
    ("confluent", "produce"): _confluent_produce,
    ("confluent", "consume"): _confluent_consume,
    ("kafka-python", "produce"): _kafka_python_produce,
    ("kafka-python", "consume"): _kafka_python_consume,
}


def _main(argv):
    if len(argv) != 3 or (argv[1], argv[2]) not in _CLIENT_ACTIONS:
        sys.stderr.write("usage: rig.py {confluent|kafka-python} {produce|consume} "
                         "< args.json\n")
        return 2
    args = json.load(sys.stdin)
    try:
        res = _CLIENT_ACTIONS[(argv[1], argv[2])](args)
        rc = 0
    except Exception as e:
        import traceback
        traceback.print_exc()
        res = {"error": "%s: %s" % (type(e).__name__, e)}
        rc = 1
    sys.stdout.write(json.dumps(res) + "\n")
    sys.stdout.flush()
    return rc


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
