"""The SQLite store (docs/store.md) through the real binary.

  * every bundled capture (captures/*.pcapng) recorded with `kafkatap decode
    -w` and read back: `show` prints exactly what `decode` printed (line,
    verbose, JSON, and with the same filters); the stored raw frames decode to
    the stored JSON; the records table holds the records the JSON shows;
    `stats` adds up;
  * several `decode -w` processes writing one file at once, with a reader;
  * `kill -9` in the middle of a large recording: the file passes
    `PRAGMA integrity_check` and every committed exchange is whole;
  * a full disk (a small tmpfs, when mounting is allowed) and bad files give
    clear errors, not crashes.

Large inputs are generated here as pcap streams (one TCP connection of
Heartbeat and Produce exchanges) and fed to `kafkatap decode -` on stdin.
"""

import glob
import json
import os
import signal
import sqlite3
import struct
import subprocess
import tempfile
import threading
import time

import pytest

import rig

CAPTURES = sorted(glob.glob(os.path.join(rig.SRCDIR, "captures", "*.pcapng")))
PORTS = ["-p", "19092", "-p", "19093", "-p", "19094", "-p", "19095"]
KT = rig.kafkatap_path()


def kt(*args, check=True, input=None, timeout=120):
    p = subprocess.run([KT] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       input=input, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError("kafkatap %s exited %d:\n%s" % (" ".join(args), p.returncode,
                                                             p.stderr.decode(errors="replace")))
    return p


def name_of(path):
    return os.path.basename(path).rsplit(".", 1)[0]


@pytest.fixture(scope="module")
def tmp():
    with tempfile.TemporaryDirectory(prefix="kt-store-") as d:
        yield d


@pytest.fixture(scope="module")
def recorded(tmp):
    """capture path -> the database `decode -w` wrote for it."""
    if not os.access(KT, os.X_OK):
        pytest.skip("kafkatap not built at %s (set KAFKATAP_BUILDDIR)" % KT)
    out = {}
    for cap in CAPTURES:
        db = os.path.join(tmp, name_of(cap) + ".db")
        kt("decode", "-q", *PORTS, "-w", db, cap)
        out[cap] = db
    return out


def query(db, sql, args=()):
    c = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        return c.execute(sql, args).fetchall()
    finally:
        c.close()


def test_captures_are_there():
    assert len(CAPTURES) >= 10, "captures/*.pcapng missing"


# ---- show equals decode ----

@pytest.mark.parametrize("cap", CAPTURES, ids=name_of)
@pytest.mark.parametrize("fmt", [[], ["-V"], ["--json"]], ids=["line", "verbose", "json"])
def test_show_equals_decode(recorded, cap, fmt):
    dec = kt("decode", *PORTS, *fmt, cap).stdout
    shown = kt("show", *fmt, recorded[cap]).stdout
    assert dec, "decode printed nothing for %s" % cap
    assert shown == dec


FILTERS = [
    ["--api", "Produce"],
    ["--api", "Fetch", "--api", "3"],
    ["--errors"],
    ["--client-id", "rdkafka"],
    ["--slower-than", "1"],
    ["--topic", "kt-group"],
    ["--json", "--bytes", "hex", "--max-bytes", "8"],
    ["--json", "--no-records"],
    ["-V", "--bytes", "base64"],
]


@pytest.mark.parametrize("cap", CAPTURES, ids=name_of)
def test_show_filters_equal_decode_filters(recorded, cap):
    for f in FILTERS:
        dec = kt("decode", *PORTS, *f, cap).stdout
        shown = kt("show", *f, recorded[cap]).stdout
        assert shown == dec, "filter %s" % f


# ---- what is stored ----

def store_form(body):
    """What the store keeps of a Produce request / Fetch response body kept raw:
    the body as decode --json prints it, but for the records arrays of the
    record batches (not of control batches, nor legacy messages), which are
    rows of the records table (docs/store.md)."""
    if isinstance(body, list):
        return [store_form(v) for v in body]
    if not isinstance(body, dict):
        return body
    out = {}
    for k, v in body.items():
        if k == "records" and isinstance(v, list):
            out[k] = [{kk: vv for kk, vv in e.items()
                       if not (kk == "records" and isinstance(vv, list) and not e.get("isControl")
                               and not (e.get("attributes", 0) & 0x20))}
                      if isinstance(e, dict) else e for e in v]
        else:
            out[k] = store_form(v)
    return out


def stored_form(api, response, body):
    """The stored JSON of one side kept raw, from decode's JSON of it."""
    return store_form(body) if body and (api, response) in ((0, False), (1, True)) else body


@pytest.mark.parametrize("cap", CAPTURES, ids=name_of)
def test_stored_raw_decodes_to_stored_json(recorded, cap):
    db = recorded[cap]
    rows = query(db, "SELECT api_key, request_json, response_json, request_raw IS NOT NULL,"
                     " response_raw IS NOT NULL, request_size, length(request_raw),"
                     " response_size, length(response_raw) FROM exchanges ORDER BY id")
    shown = [json.loads(l) for l in kt("show", "--json", db).stdout.splitlines()]
    assert len(rows) == len(shown) > 0
    for (api, rq, rs, has_rq, has_rs, rq_size, rq_len, rs_size, rs_len), obj in zip(rows, shown):
        # Nothing in the bundled captures is redacted: frames are kept whole.
        assert rq_size == rq_len and rs_size == rs_len
        if has_rq:
            assert (json.loads(rq) if rq else None) == stored_form(api, False, obj["request"])
        if has_rs:
            assert (json.loads(rs) if rs else None) == stored_form(api, True, obj["response"])


def test_stored_json_leaves_out_batch_records(recorded):
    """Record data is stored twice (frame, records row), not a third time in JSON."""
    batches = 0
    for cap in CAPTURES:
        for (api, rq, rs) in query(recorded[cap],
                                   "SELECT api_key, request_json, response_json FROM exchanges"
                                   " WHERE api_key IN (0, 1) AND request_raw IS NOT NULL"
                                   " AND response_raw IS NOT NULL"):
            text = rq if api == 0 else rs
            body = json.loads(text) if text else {}
            topics = body.get("topicData" if api == 0 else "responses") or []
            for t in topics:
                for p in t.get("partitionData" if api == 0 else "partitions") or []:
                    for e in p.get("records") if isinstance(p.get("records"), list) else []:
                        if "recordCount" in e and not e.get("isControl"):
                            batches += 1
                            assert "records" not in e, cap
    assert batches > 10


def json_records(body, batches_key_path):
    """Records in a Produce request / Fetch response body, as the JSON shows them."""
    out = []
    topics_key, name_key, parts_key, part_key = batches_key_path
    for t in body.get(topics_key) or []:
        for p in t.get(parts_key) or []:
            recs = p.get("records")
            if not isinstance(recs, list):
                continue
            for entry in recs:
                out.extend(entry_records(entry, t.get(name_key), p.get(part_key)))
    return out


def entry_records(entry, topic, part):
    if "records" in entry:  # a RecordBatch
        if entry.get("isControl"):
            return []
        return [(topic, part, r["offset"], r.get("key"), r.get("value")) for r in entry["records"]]
    if entry.get("messages"):  # a compressed legacy wrapper
        out = []
        for m in entry["messages"]:
            out.extend(entry_records(m, topic, part))
        return out
    if "value" in entry:
        return [(topic, part, entry["offset"], entry.get("key"), entry.get("value"))]
    return []


def assigned(recs, resp):
    """Produced records at the offsets the response gave them: the partition's
    baseOffset, then one more per record in order; None without an answer."""
    base = {}
    for t in (resp or {}).get("responses") or []:
        for p in t.get("partitionResponses") or []:
            if p.get("errorCode") == 0 and p.get("baseOffset", -1) >= 0:
                base.setdefault((t.get("name"), p.get("index")), p["baseOffset"])
    seen = {}
    out = []
    for (topic, part, _, k, v) in recs:
        i = seen.get((topic, part), 0)
        seen[(topic, part)] = i + 1
        b = base.get((topic, part))
        out.append((topic, part, None if b is None else b + i, k, v))
    return out


def as_text(v):
    if v is None:
        return None
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace")
    return v


@pytest.mark.parametrize("cap", CAPTURES, ids=name_of)
def test_records_table_matches_the_json(recorded, cap):
    db = recorded[cap]
    want = {"produce": [], "fetch": []}
    # decode's JSON, rebuilt from the raw frames (the stored JSON leaves them out).
    for line in kt("show", "--json", "--api", "Produce", "--api", "Fetch", db).stdout.splitlines():
        o = json.loads(line)
        rq, rs = o["request"], o["response"]
        if o["api_key"] == 0 and rq:
            want["produce"] += assigned(json_records(rq, ("topicData", "name", "partitionData",
                                                          "index")), rs)
        if o["api_key"] == 1 and rs:
            want["fetch"] += json_records(rs, ("responses", "topic", "partitions", "partitionIndex"))
    for d in ("produce", "fetch"):
        got = query(db, "SELECT topic, partition, \"offset\", key, value FROM records r"
                        " JOIN exchanges e ON e.id = r.exchange_id WHERE direction = ?"
                        " ORDER BY e.id, r.id", (d,))
        got = [(t, p, o, as_text(k), as_text(v)) for (t, p, o, k, v) in got]
        # Printable values are JSON strings; others are {"base64": ...} objects.
        def norm(x):
            return x if isinstance(x, str) or x is None else None
        assert [(t, p, o) for (t, p, o, _, _) in got] == [(t, p, o) for (t, p, o, _, _) in want[d]]
        for g, w in zip(got, want[d]):
            if norm(w[3]) is not None:
                assert g[3] == w[3]
            if norm(w[4]) is not None:
                assert g[4] == w[4]


def test_some_capture_has_records(recorded):
    total = sum(query(db, "SELECT count(*) FROM records")[0][0] for db in recorded.values())
    assert total > 100
    # ... and produced records at the offsets their responses assigned.
    assigned = sum(query(db, "SELECT count(*) FROM records WHERE direction = 'produce'"
                             " AND \"offset\" IS NOT NULL")[0][0] for db in recorded.values())
    assert assigned > 100


@pytest.mark.parametrize("cap", CAPTURES, ids=name_of)
def test_stats_add_up(recorded, cap):
    db = recorded[cap]
    st = json.loads(kt("stats", "--json", db).stdout)
    n = query(db, "SELECT count(*) FROM exchanges")[0][0]
    assert st["exchanges"] == n
    assert sum(a["count"] for a in st["apis"]) == n
    assert sum(c["exchanges"] for c in st["clients"]) == n
    assert sum(b["exchanges"] for b in st["rate"]["buckets"]) == n
    assert st["errors"] == query(db, "SELECT count(*) FROM exchanges WHERE has_error")[0][0]
    for d, key in (("produce", "produced_records"), ("fetch", "fetched_records")):
        assert sum(t[key] for t in st["topics"]) == \
            query(db, "SELECT count(*) FROM records WHERE direction = ?", (d,))[0][0]
    for a in st["apis"]:
        lat = a["latency_ms"]
        if a["latency_count"]:
            assert lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
            mx = query(db, "SELECT max(latency_us) FROM exchanges WHERE api_key IS ?",
                       (a["api_key"],))[0][0]
            assert abs(lat["max"] - mx / 1000.0) < 0.001
        assert sum(a["errors_by_name"].values()) == a["errors"]
    text = kt("stats", db).stdout.decode()
    for a in st["apis"]:
        if a["api_name"]:
            assert a["api_name"] in text


def test_show_selection(recorded):
    db = recorded[[c for c in CAPTURES if "group-rebalance" in c][0]]
    times = [t for (t,) in query(db, "SELECT coalesce(request_us, response_us) FROM exchanges ORDER BY 1")]
    mid = times[len(times) // 2]
    since = "%d.%06d" % (mid // 1000000, mid % 1000000)
    want = sum(1 for t in times if t >= mid)
    assert len(kt("show", "--since", since, db).stdout.splitlines()) == want
    assert len(kt("show", "--until", since, db).stdout.splitlines()) == len(times) - want
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(mid // 1000000)) + ".%06dZ" % (mid % 1000000)
    assert len(kt("show", "--since", iso, db).stdout.splitlines()) == want
    assert len(kt("show", "--limit", "3", db).stdout.splitlines()) == 3
    assert len(kt("show", "--session", "1", db).stdout.splitlines()) == len(times)
    assert kt("show", "--session", "2", db).stdout == b""
    conn, n = query(db, "SELECT connection_id, count(*) FROM exchanges GROUP BY 1 ORDER BY 2 DESC")[0]
    assert len(kt("show", "--connection", str(conn), db).stdout.splitlines()) == n


def test_show_and_stats_errors(tmp):
    missing = os.path.join(tmp, "missing.db")
    for cmd in ("show", "stats"):
        p = kt(cmd, missing, check=False)
        assert p.returncode == 1
        assert missing.encode() in p.stderr and b"No such file" in p.stderr
    text = os.path.join(tmp, "text.db")
    with open(text, "w") as f:
        f.write("not a database\n" * 100)
    p = kt("show", text, check=False)
    assert p.returncode == 1 and b"not a database" in p.stderr
    other = os.path.join(tmp, "other.db")
    c = sqlite3.connect(other)
    c.execute("CREATE TABLE t(x)")
    c.commit()
    c.close()
    p = kt("stats", other, check=False)
    assert p.returncode == 1 and b"not a kafkatap database" in p.stderr
    assert kt("show", "--bogus", other, check=False).returncode == 2
    assert kt("show", check=False).returncode == 2
    assert kt("show", "--since", "yesterday", other, check=False).returncode == 2


# ---- generated traffic ----

def _crc32c_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


_CRC_TABLE = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def varint(v):
    z = (v << 1) ^ (v >> 63)
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def kstr(s):
    if s is None:
        return struct.pack(">h", -1)
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def record_batch(n=5):
    recs = b""
    for i in range(n):
        k, v = b"key-%d" % i, b"generated value %d " % i + b"x" * 40
        body = b"\0" + varint(i) + varint(i) + varint(len(k)) + k + varint(len(v)) + v + varint(0)
        recs += varint(len(body)) + body
    after_crc = struct.pack(">hiqqqhii", 0, n - 1, 1700000000000, 1700000000000 + n, -1, -1, -1, n) + recs
    head = struct.pack(">qii", 0, 4 + 1 + 4 + len(after_crc), 0)
    return head + b"\x02" + struct.pack(">I", crc32c(after_crc)) + after_crc


def gen_frames(n, produce_every=10):
    """(request frame, response frame) pairs, each with its size prefix."""
    batch = record_batch()
    for i in range(n):
        if i % produce_every == produce_every - 1:
            req = struct.pack(">hhi", 0, 3, i) + kstr("gen-client") + kstr(None) + \
                struct.pack(">hi", -1, 30000) + struct.pack(">i", 1) + kstr("gen-topic") + \
                struct.pack(">ii", 1, 0) + struct.pack(">i", len(batch)) + batch
            resp = struct.pack(">i", i) + struct.pack(">i", 1) + kstr("gen-topic") + \
                struct.pack(">iihqq", 1, 0, 0, i * 5, -1) + struct.pack(">i", 0)
        else:
            req = struct.pack(">hhi", 12, 0, i) + kstr("gen-client") + kstr("gen-group") + \
                struct.pack(">i", 7) + kstr("member-%d" % (i % 3))
            resp = struct.pack(">ih", i, 27 if i % 50 == 0 else 0)
        yield struct.pack(">i", len(req)) + req, struct.pack(">i", len(resp)) + resp


def ip_checksum(h):
    s = sum(struct.unpack(">%dH" % (len(h) // 2), h))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


class PcapWriter:
    """A classic pcap stream of one TCP connection 127.0.0.1:40000 -> :19092."""

    def __init__(self, out):
        self.out = out
        self.t = 1700000000.0
        self.seq = {0: 1000, 1: 5000}
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))

    def packet(self, d, payload=b"", flags=0x18):
        src, dst = (40000, 19092) if d == 0 else (19092, 40000)
        tcp = struct.pack(">HHIIBBHHH", src, dst, self.seq[d], self.seq[1 - d], 5 << 4, flags,
                          65535, 0, 0)
        ipl = 20 + len(tcp) + len(payload)
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, ipl, 1, 0x4000, 64, 6, 0,
                         bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
        ip = ip[:10] + struct.pack(">H", ip_checksum(ip)) + ip[12:]
        frame = b"\0" * 12 + b"\x08\x00" + ip + tcp + payload
        self.t += 0.00002
        sec = int(self.t)
        self.out.write(struct.pack("<IIII", sec, int((self.t - sec) * 1e6), len(frame), len(frame)) + frame)
        self.seq[d] = (self.seq[d] + len(payload) + (1 if flags & 0x03 else 0)) & 0xFFFFFFFF

    def handshake(self):
        self.packet(0, flags=0x02)
        self.packet(1, flags=0x12)
        self.packet(0, flags=0x10)

    def close(self):
        self.packet(0, flags=0x11)
        self.packet(1, flags=0x11)


def write_pcap(out, n):
    w = PcapWriter(out)
    w.handshake()
    for req, resp in gen_frames(n):
        w.packet(0, req)
        w.packet(1, resp)
    w.close()


@pytest.fixture(scope="module")
def big_pcap(tmp):
    path = os.path.join(tmp, "big.pcap")
    with open(path, "wb") as f:
        write_pcap(f, 60000)
    return path


def test_generated_capture_round_trip(tmp, big_pcap):
    db = os.path.join(tmp, "big.db")
    kt("decode", "-q", "-p", "19092", "-w", db, big_pcap)
    assert query(db, "SELECT count(*), sum(has_error), count(DISTINCT client_id) FROM exchanges") == \
        [(60000, 1200, 1)]
    assert query(db, "SELECT count(*) FROM records WHERE direction = 'produce' AND topic = 'gen-topic'")[0][0] == 6000 * 5
    assert kt("show", "--json", "--limit", "50", db).stdout == \
        b"".join(kt("decode", "--json", "-p", "19092", big_pcap).stdout.splitlines(True)[:50])


def test_concurrent_writers_and_a_reader(tmp, big_pcap, recorded):
    """Four recorders into one file (SQLite's write lock takes turns), while
    show and stats read it."""
    db = os.path.join(tmp, "shared.db")
    caps = CAPTURES[:3]
    procs = [subprocess.Popen([KT, "decode", "-q", "-p", "19092", "-w", db, big_pcap],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)]
    for cap in caps:
        procs.append(subprocess.Popen([KT, "decode", "-q"] + PORTS + ["-w", db, cap],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    reads = 0
    while any(p.poll() is None for p in procs):
        if os.path.exists(db):
            r = subprocess.run([KT, "stats", "--json", db], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
            if r.returncode == 0:
                json.loads(r.stdout)
                reads += 1
        time.sleep(0.05)
    for p in procs:
        err = p.stderr.read().decode(errors="replace")
        assert p.wait() == 0, err
    want = 60000 + sum(query(recorded[c], "SELECT count(*) FROM exchanges")[0][0] for c in caps)
    assert query(db, "SELECT count(*) FROM exchanges")[0][0] == want
    assert query(db, "SELECT count(*) FROM sessions WHERE ended_us IS NOT NULL")[0][0] == 4
    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    # Each session's exchanges are whole: per connection, seq has no holes.
    for (sess, conn, lo, hi, n) in query(db, "SELECT session_id, connection_id, min(seq), max(seq),"
                                             " count(*) FROM exchanges GROUP BY 1, 2"):
        assert hi - lo + 1 == n, (sess, conn)


def test_kill9_during_a_large_write(tmp):
    """kill -9 while recording: committed batches survive, whole."""
    db = os.path.join(tmp, "killed.db")
    p = subprocess.Popen([KT, "decode", "-q", "-p", "19092", "-w", db, "-"], stdin=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def feed():
        try:
            write_pcap(p.stdin, 2000000)
            p.stdin.close()
        except (BrokenPipeError, ValueError, OSError):
            pass

    th = threading.Thread(target=feed, daemon=True)
    th.start()
    seen = 0
    deadline = time.time() + 60
    while time.time() < deadline and seen < 20000:
        time.sleep(0.2)
        try:
            seen = query(db, "SELECT count(*) FROM exchanges")[0][0]
        except sqlite3.Error:
            pass
    assert p.poll() is None, "the recorder ended early: %s" % p.stderr.read()
    p.send_signal(signal.SIGKILL)
    p.wait()
    th.join(30)
    assert seen >= 20000, "only %d exchanges recorded in 60 s" % seen
    c = sqlite3.connect(db)  # read-write: recovers the WAL like any next reader
    try:
        assert c.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        n, lo, hi = c.execute("SELECT count(*), min(seq), max(seq) FROM exchanges").fetchone()
        assert n >= seen and hi - lo + 1 == n  # a prefix of the stream, no holes
        bad = c.execute("SELECT count(*) FROM exchanges WHERE request_raw IS NULL OR response_raw IS NULL"
                        " OR length(request_raw) <> request_size OR length(response_raw) <> response_size"
                        " OR NOT json_valid(request_json) OR NOT json_valid(response_json)").fetchone()[0]
        assert bad == 0
        nprod = c.execute("SELECT count(*) FROM exchanges WHERE api_key = 0").fetchone()[0]
        assert c.execute("SELECT count(*) FROM records").fetchone()[0] == nprod * 5
    finally:
        c.close()
    # Every committed exchange reads back: raw frames decode to the stored JSON.
    shown = kt("show", "--json", db).stdout.splitlines()
    assert len(shown) == n
    stored = query(db, "SELECT request_json, response_json FROM exchanges ORDER BY id")
    for line, (rq, rs) in zip(shown[::97], stored[::97]):
        o = json.loads(line)
        api = o["api_key"]
        assert stored_form(api, False, o["request"]) == json.loads(rq)
        assert stored_form(api, True, o["response"]) == json.loads(rs)
    # decode -w builds its indexes at the end; killed, it left them to the
    # next recorder that opens the file.
    def indexes():
        return {n for (n,) in query(db, "SELECT name FROM sqlite_schema WHERE type = 'index'"
                                        " AND name NOT LIKE 'sqlite_%'")}
    assert "exchanges_api" not in indexes()
    kt("decode", "-q", *PORTS, "-w", db, CAPTURES[0])
    assert {"exchanges_api", "exchanges_error", "exchanges_time", "exchanges_client",
            "records_topic", "records_exchange"} <= indexes()
    assert query(db, "PRAGMA integrity_check") == [("ok",)]


def mount_tmpfs(path, size):
    os.makedirs(path, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size, "tmpfs", path],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return r.returncode == 0


def test_disk_full_is_a_clear_error(tmp, big_pcap):
    mnt = os.path.join(tmp, "small")
    if not mount_tmpfs(mnt, "2m"):
        pytest.skip("cannot mount a tmpfs here (not root, or no CAP_SYS_ADMIN)")
    try:
        db = os.path.join(mnt, "full.db")
        p = kt("decode", "-q", "-p", "19092", "-w", db, big_pcap, check=False, timeout=300)
        err = p.stderr.decode(errors="replace")
        assert p.returncode == 1, err      # not a crash (negative: a signal)
        assert db in err and "full" in err, err
        assert "could not be recorded" in err, err
        c = sqlite3.connect(db)
        try:
            assert c.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert c.execute("SELECT count(*) FROM exchanges").fetchone()[0] > 0
        finally:
            c.close()
    finally:
        subprocess.run(["umount", "-l", mnt])


def test_doc_queries_run(recorded):
    """Every ```sql block of docs/store.md runs and finds something."""
    import re
    with open(os.path.join(rig.SRCDIR, "docs", "store.md")) as f:
        queries = re.findall(r"```sql\n(.*?)```", f.read(), re.S)
    assert len(queries) >= 6
    db = recorded[[c for c in CAPTURES if "group-rebalance" in c][0]]
    for q in queries:
        assert query(db, q), "no rows from:\n" + q


def test_store_file_mode_is_0600(tmp, recorded):
    for db in list(recorded.values())[:3]:
        assert os.stat(db).st_mode & 0o777 == 0o600
