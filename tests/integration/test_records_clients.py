"""Record data from real clients, decoded from a capture.

Each client (kcat and confluent-kafka on librdkafka, kafka-python, kafkajs)
produces keys, values and headers with every codec it has to the mock broker
and consumes them again, while dumpcap captures the loopback traffic. Then
`kafkatap decode --json --bytes=hex` must show, in the Produce requests and in
the Fetch responses, exactly the messages the client produced and consumed,
every batch with a valid CRC, no `error`, and the codec the client was asked
for. kafka-python also writes the legacy formats: magic 0 (api_version 0.9,
including lz4 with the pre-0.10 header checksum, KAFKA-3160) and magic 1
(api_version 0.10); the mock refuses those Produce requests (it stores magic 2
only) but the requests on the wire are what is checked.

Needs root (dumpcap on lo), the mock broker launcher and the clients of
TEST-RIG.md; a missing client skips its test. Run with
/usr/bin/python3 -m pytest tests/integration/test_records_clients.py
"""

import json
import os
import subprocess

import pytest

import rig

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def kafkatap_bin():
    return os.environ.get("KAFKATAP") or rig.kafkatap_path()


pytestmark = pytest.mark.skipif(not rig.Dumpcap.available(),
                                reason="needs dumpcap and root to capture on lo")


class Capture(rig.Dumpcap):
    """dumpcap on lo for the broker's ports, as a context manager."""

    def __init__(self, ports):
        self.ports = list(ports)
        super().__init__(" or ".join("tcp port %d" % p for p in self.ports), prefix="kt-rec-")

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def decode(self):
        """The exchanges of the capture, as `kafkatap decode --json` prints them."""
        argv = [kafkatap_bin(), "decode", "--json", "--bytes=hex"]
        for p in self.ports:
            argv += ["-p", str(p)]
        p = subprocess.run(argv + [self.path], capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        return [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]


@pytest.fixture
def capture(broker):
    caps = []

    def make():
        c = Capture(broker.ports)
        caps.append(c)
        return c
    yield make
    for c in caps:
        c.cleanup()


# ---- reading the decoded records ----

def _text(hexstr):
    """A bytes value printed with --bytes=hex, as text (None stays None)."""
    if hexstr is None:
        return None
    assert isinstance(hexstr, str), hexstr
    return bytes.fromhex(hexstr).decode("utf-8", "surrogateescape")


def batches(exchanges, topic, api_key):
    """Every batch (or top-level legacy message) of `topic` in the Produce
    requests (api 0) or Fetch responses (api 1)."""
    for x in exchanges:
        if x.get("api_key") != api_key:
            continue
        if api_key == 0:
            parts = [pd for td in (x.get("request") or {}).get("topicData", [])
                     if td.get("name") == topic for pd in td.get("partitionData", [])]
        else:
            parts = [p for r in (x.get("response") or {}).get("responses", [])
                     if r.get("topic") == topic for p in r.get("partitions", [])]
        for p in parts:
            recs = p.get("records")
            if recs is None:
                continue
            assert isinstance(recs, list), "records not decoded: %r" % (recs,)
            for b in recs:
                yield b


def check_batch(b, codec=None, magic=None):
    """A batch decoded cleanly: CRC valid, no error; a cut-short last batch of a
    Fetch response is fine. Returns False for a partial batch."""
    if b.get("partial"):
        return False
    assert "error" not in b, b["error"]
    assert b.get("crcValid") is True, b
    if magic is not None:
        assert b["magic"] == magic, b
    if codec is not None:
        assert b["compression"] == codec, b
    for m in b.get("messages") or []:
        assert "error" not in m and m.get("crcValid") is True, m
    return True


def messages_of(bs):
    """The (key, value, headers) of every record in the batches."""
    out = []
    for b in bs:
        if b.get("partial"):
            continue
        if b["magic"] == 2:
            for r in b["records"]:
                out.append({"key": _text(r["key"]), "value": _text(r["value"]),
                            "headers": [[h["key"], _text(h["value"])] for h in r["headers"]]})
        else:
            for m in b.get("messages", [b]):
                out.append({"key": _text(m["key"]), "value": _text(m["value"]), "headers": []})
    return out


def dedup(msgs):
    """A retried request or a re-fetch shows a record twice: compare sets."""
    seen, out = set(), []
    for m in msgs:
        k = json.dumps(m, sort_keys=True)
        if k not in seen:
            seen.add(k)
            out.append(m)
    return out


def make_messages(prefix, n, headers=True, nulls=False):
    """Values long and repetitive enough that librdkafka's compression pays
    (it sends a batch uncompressed when compressing does not shrink it)."""
    out = []
    for i in range(n):
        out.append({"key": "%s-key-%04d" % (prefix, i),
                    "value": "%s-value-%04d %s" % (prefix, i, "lorem ipsum dolor " * 6),
                    "headers": [["idx", str(i)], ["src", prefix], ["nul", None]]
                    if headers else []})
    if nulls:
        out.append({"key": "%s-tombstone" % prefix, "value": None, "headers": []})
        out.append({"key": None, "value": "%s-no-key" % prefix, "headers": [["h", ""]]})
    return out


def check_topic(exchanges, topic, produced, consumed, codec):
    """Produce requests carry exactly `produced`, Fetch responses `consumed`."""
    pb = list(batches(exchanges, topic, 0))
    assert pb, "no Produce request for %s in the capture" % topic
    for b in pb:
        check_batch(b, magic=2, codec=codec if codec == "none" else None)
    if codec != "none":
        assert any(b["compression"] == codec for b in pb), \
            "no %s batch among %s" % (codec, [b["compression"] for b in pb])
    assert rig.by_key(dedup(messages_of(pb))) == rig.by_key(produced)
    fb = [b for b in batches(exchanges, topic, 1) if check_batch(b, magic=2)]
    assert rig.by_key(dedup(messages_of(fb))) == rig.by_key(consumed)


# ---- the clients ----

def test_kcat(broker, capture):
    """kcat: -H applies to a whole run, so every message has the same headers."""
    topics = {}
    with capture() as cap:
        for codec in CODECS:
            topic = broker.create_topic(1)
            msgs = make_messages("kcat-" + codec, 30, headers=False)
            for m in msgs:
                m["headers"] = [["codec", codec], ["run", "1"]]
            rig.kcat_produce(broker.bootstrap, topic, msgs,
                             config={"compression.codec": codec, "linger.ms": 50})
            got = rig.kcat_consume(broker.bootstrap, topic, len(msgs))
            assert rig.by_key(got) == rig.by_key(msgs)
            topics[codec] = (topic, msgs, got)
    ex = cap.decode()
    for codec, (topic, msgs, got) in topics.items():
        check_topic(ex, topic, msgs, got, codec)


def test_confluent(broker, capture):
    """confluent-kafka: per-message headers, a null header value, a tombstone
    and a null key."""
    topics = {}
    with capture() as cap:
        for codec in CODECS:
            topic = broker.create_topic(1)
            msgs = make_messages("ck-" + codec, 30, nulls=True)
            r = rig.confluent_produce(broker.bootstrap, topic, msgs,
                                      config={"compression.type": codec, "linger.ms": 50})
            assert not r.get("errors") and len(r["delivered"]) == len(msgs), r
            got = rig.confluent_consume(broker.bootstrap, topic, len(msgs))
            assert rig.by_key(got["messages"]) == rig.by_key(msgs)
            topics[codec] = (topic, msgs, got["messages"])
    ex = cap.decode()
    for codec, (topic, msgs, got) in topics.items():
        check_topic(ex, topic, msgs, got, codec)


def _python_has(modules):
    p = subprocess.run([rig.SYSTEM_PYTHON, "-c", "import " + modules], capture_output=True)
    return p.returncode == 0


def _kafka_python_ok():
    return _python_has("kafka, snappy, lz4, zstandard")


@pytest.mark.skipif(not _kafka_python_ok(), reason="kafka-python or its codecs missing")
def test_kafka_python(broker, capture):
    """kafka-python (pure Python): its own gzip, xerial snappy, lz4 and zstd."""
    topics = {}
    with capture() as cap:
        for codec in CODECS:
            topic = broker.create_topic(1)
            msgs = make_messages("kp-" + codec, 20, nulls=True)
            for m in msgs:  # kafka-python header values must be bytes
                m["headers"] = [[k, v if v is not None else ""] for k, v in m["headers"]]
            cfg = {"linger_ms": 50}
            if codec != "none":
                cfg["compression_type"] = codec
            r = rig.kafka_python_produce(broker.bootstrap, topic, msgs, config=cfg)
            assert not r.get("errors") and len(r.get("delivered", [])) == len(msgs), \
                (codec, {k: v for k, v in r.items() if k != "_stderr"}, r["_stderr"][-1500:])
            got = rig.kafka_python_consume(broker.bootstrap, topic, len(msgs))
            assert rig.by_key(got["messages"]) == rig.by_key(msgs)
            topics[codec] = (topic, msgs, got["messages"])
    ex = cap.decode()
    for codec, (topic, msgs, got) in topics.items():
        check_topic(ex, topic, msgs, got, codec)


def assert_old_lz4_checksum(frame):
    """The frame's header checksum is the KAFKA-3160 one (taken from the magic
    bytes on), so the decoder's fix-up was what made it decode."""
    try:
        import xxhash
    except ImportError:
        return
    flg = frame[4]
    hlen = 7 + (8 if flg & 0x08 else 0) + (4 if flg & 0x01 else 0)
    right = (xxhash.xxh32(frame[4:hlen - 1]).intdigest() >> 8) & 0xFF
    broken = (xxhash.xxh32(frame[0:hlen - 1]).intdigest() >> 8) & 0xFF
    assert frame[hlen - 1] == broken != right


@pytest.mark.skipif(not _kafka_python_ok(), reason="kafka-python or its codecs missing")
@pytest.mark.parametrize("magic,api_version", [(0, [0, 9]), (1, [0, 10, 1])])
def test_kafka_python_legacy(broker, capture, magic, api_version):
    """Legacy message sets: plain, and one compressed wrapper per codec.
    magic 0 lz4 uses the broken pre-0.10 header checksum (KAFKA-3160); kafka-python
    needs python3-xxhash to write it."""
    codecs = ["none", "gzip", "snappy", "lz4"]
    if magic == 0 and not _python_has("xxhash"):
        codecs.remove("lz4")  # kafka-python needs it for the old checksum
    topics = {}
    with capture() as cap:
        for codec in codecs:
            topic = broker.create_topic(1)
            msgs = make_messages("kp%d-%s" % (magic, codec), 5, headers=False)
            cfg = {"api_version": api_version, "linger_ms": 50, "retries": 0}
            if codec != "none":
                cfg["compression_type"] = codec
            # The mock stores magic 2 only and refuses these; the request is
            # what is checked.
            rig.kafka_python_produce(broker.bootstrap, topic, msgs, config=cfg, timeout=10)
            topics[codec] = (topic, msgs)
    ex = cap.decode()
    for codec, (topic, msgs) in topics.items():
        pb = list(batches(ex, topic, 0))
        assert pb, "no Produce request for %s" % topic
        for b in pb:
            check_batch(b, magic=magic, codec=codec)
            if codec != "none":
                inner = b["messages"]
                assert [m["magic"] for m in inner] == [magic] * len(inner)
                # a producer's wrapper has no offset yet: inner offsets as written
                assert [m["offset"] for m in inner] == list(range(len(inner)))
            if magic == 1:
                assert "timestamp" in b and b["timestampType"] == "CreateTime"
            if magic == 0 and codec == "lz4":
                assert_old_lz4_checksum(bytes.fromhex(b["value"]))
        assert rig.by_key(dedup(messages_of(pb))) == rig.by_key(msgs)


@pytest.mark.skipif(not rig.kafkajs_available(), reason="kafkajs not installed")
def test_kafkajs(broker, capture):
    """kafkajs (pure JS): its gzip, kafkajs-snappy (xerial) and kafkajs-lz4."""
    topics = {}
    with capture() as cap:
        for codec in ["none", "gzip", "snappy", "lz4"]:
            topic = broker.create_topic(1)
            msgs = make_messages("js-" + codec, 20)
            for m in msgs:  # kafkajs header values are strings or buffers
                m["headers"] = [[k, v if v is not None else ""] for k, v in m["headers"]]
            msgs.append({"key": "js-%s-tombstone" % codec, "value": None, "headers": []})
            r = rig.kafkajs_produce(broker.bootstrap, topic, msgs, compression=codec)
            assert "error" not in r, r
            got = rig.kafkajs_consume(broker.bootstrap, topic, len(msgs))
            assert rig.by_key(got["messages"]) == rig.by_key(msgs)
            topics[codec] = (topic, msgs, got["messages"])
    ex = cap.decode()
    for codec, (topic, msgs, got) in topics.items():
        check_topic(ex, topic, msgs, got, codec)
