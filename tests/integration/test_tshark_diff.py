"""Differential test: kafkatap decode against tshark, message by message.

For every capture in captures/ both tools decode the Kafka traffic:

    tshark -r F -o kafka.tcp.ports:PORTS -T json --no-duplicate-keys -J "tcp kafka"
    kafkatap decode -p PORT... --json --bytes=hex F

and each request and response is compared on what both claim to know: api
key, version, correlation id, client id, topic names, partition ids, error
codes, and record keys and values of record batches (magic 2). Messages are
matched by connection (client and broker address) and correlation id.

tshark 4.0 is not always right (shared TEST-RIG.md lists where); where it is
known wrong the schema is the truth, and the comparison leaves that part out,
saying why at the place it does (see KNOWN_TSHARK_WRONG and the skips below).

Run with /usr/bin/python3 -m pytest tests/integration/test_tshark_diff.py.
The binary is $KAFKATAP, else $KAFKATAP_BUILDDIR/kafkatap, else ./kafkatap.
"""

import collections
import glob
import json
import os
import shutil
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.dirname(os.path.dirname(HERE))
CAPTURES = sorted(glob.glob(os.path.join(SRCDIR, "captures", "*.pcapng")))
# The same traffic in other link layers and file formats
# (tests/golden/make-damaged.py): tshark must agree on those too.
CAPTURES += sorted(glob.glob(os.path.join(SRCDIR, "captures", "damaged", "link-*.pcap*")) +
                   glob.glob(os.path.join(SRCDIR, "captures", "damaged", "ipv6.pcapng")))
# The ports the captures use (captures/README.md): one broker on 19092,
# three on 19093-19095.
PORTS = [19092, 19093, 19094, 19095]

API_PRODUCE, API_FETCH, API_JOIN_GROUP, API_SYNC_GROUP, API_VERSIONS = 0, 1, 11, 14, 18

# Where tshark 4.0's Kafka dissector is wrong (TEST-RIG.md), so that the
# schema is the truth and the comparison leaves the part out:
KNOWN_TSHARK_WRONG = {
    # Member metadata / assignments in non-flexible JoinGroup and SyncGroup
    # are the consumer protocol's own encoding; tshark reads topic names and
    # partitions out of them that the Kafka schema keeps as opaque bytes.
    API_JOIN_GROUP: "member metadata (topics/partitions) misread",
    API_SYNC_GROUP: "member assignment (topics/partitions) misread",
}


def kafkatap_bin():
    if os.environ.get("KAFKATAP"):
        return os.environ["KAFKATAP"]
    build = os.environ.get("KAFKATAP_BUILDDIR", SRCDIR)
    return os.path.join(build, "kafkatap")


def norm_hex(s):
    """tshark writes bytes as 6e:6f:..., kafkatap (--bytes=hex) as 6e6f..."""
    if s is None:
        return None
    return s.replace(":", "").lower()


Message = collections.namedtuple(
    "Message", "kind api_key version corr client_id topics partitions errors records malformed")


# ---- tshark ----

def walk_tshark(node, out):
    """Collect the fields we compare from a tshark kafka message tree."""
    if isinstance(node, list):
        for x in node:
            walk_tshark(x, out)
        return
    if not isinstance(node, dict):
        return
    for key, val in node.items():
        vals = val if isinstance(val, list) else [val]
        if key == "kafka.topic_name":
            out["topics"] += [v for v in vals if isinstance(v, str)]
        elif key == "kafka.partition_id":
            out["partitions"] += [int(v) for v in vals if isinstance(v, str)]
        elif key == "kafka.error":
            out["errors"] += [int(v) for v in vals if isinstance(v, str)]
        elif key == "Record Batch":
            for batch in vals:
                if not isinstance(batch, dict):
                    continue
                if batch.get("kafka.message_magic") != "2":
                    out["legacy"] = True
                    continue
                recs = batch.get("Record", [])
                for rec in recs if isinstance(recs, list) else [recs]:
                    if isinstance(rec, dict):
                        out["records"].append((tshark_bytes(rec.get("kafka.message_key")),
                                               tshark_bytes(rec.get("kafka.message_value"))))
        elif isinstance(val, (dict, list)):
            # Legacy messages (magic 0/1) sit under "Message"; tshark
            # misreads them (TEST-RIG.md), see compare().
            if key == "Message":
                for v in vals:
                    if isinstance(v, dict) and v.get("kafka.message_magic") in ("0", "1"):
                        out["legacy"] = True
            walk_tshark(val, out)


def tshark_bytes(v):
    if v is None or v.startswith("[ Null ]") or v == "<MISSING>":
        return None
    return norm_hex(v)


def tshark_messages(path):
    ports = ",".join(str(p) for p in PORTS)
    res = subprocess.run(
        ["tshark", "-r", path, "-o", "kafka.tcp.ports:" + ports, "-T", "json",
         "--no-duplicate-keys", "-J", "tcp kafka"],
        capture_output=True, text=True, check=True)
    packets = json.loads(res.stdout or "[]")
    msgs = collections.defaultdict(list)
    for pkt in packets:
        layers = pkt["_source"]["layers"]
        kafka = layers.get("kafka")
        if kafka is None:
            continue
        tcp = layers["tcp"]
        if isinstance(tcp, list):
            tcp = tcp[0]
        sport, dport = int(tcp["tcp.srcport"]), int(tcp["tcp.dstport"])
        ip = layers.get("ip") or {}
        for k in kafka if isinstance(kafka, list) else [kafka]:
            if not isinstance(k, dict) or "kafka.correlation_id" not in k:
                continue
            request = "kafka.request_key" in k
            if request:
                api = int(k["kafka.request_key"])
                version = int(k["kafka.request.version"])
                client_port, broker_port = sport, dport
            elif "kafka.response_key" in k:
                api = int(k["kafka.response_key"])
                version = int(k["kafka.response.version"])
                client_port, broker_port = dport, sport
            else:
                continue  # a response whose request tshark did not see
            out = {"topics": [], "partitions": [], "errors": [], "records": [], "legacy": False}
            walk_tshark({kk: vv for kk, vv in k.items()}, out)
            msgs[(client_port, broker_port, int(k["kafka.correlation_id"]),
                  "request" if request else "response")].append(Message(
                "request" if request else "response", api, version,
                int(k["kafka.correlation_id"]), k.get("kafka.client_id") if request else None,
                sorted(out["topics"]), sorted(out["partitions"]), sorted(out["errors"]),
                None if out["legacy"] else sorted(out["records"], key=repr),
                "_ws.malformed" in k))
    return msgs


# ---- kafkatap ----

# Where the schemas keep topic names and partition ids.
TOPIC_KEYS = ("topic", "topicName")
TOPIC_ARRAYS = ("responses",)              # ProduceResponse: responses[].name
PARTITION_KEYS = ("partitionIndex", "partition", "partitionId")
PARTITION_ARRAYS = ("partitionData", "partitionResponses")  # Produce: [].index
INT_PARTITION_ARRAYS = ("partitions", "partitionIndexes")   # int32 arrays


def walk_kafkatap(node, out, in_topics=False, parent=None):
    if isinstance(node, list):
        for x in node:
            walk_kafkatap(x, out, in_topics, parent)
        return
    if not isinstance(node, dict):
        return
    for key, val in node.items():
        if key == "records" and isinstance(val, list):
            for batch in val:
                if not isinstance(batch, dict):
                    continue
                if batch.get("magic") != 2:
                    out["legacy"] = True
                    continue
                for rec in batch.get("records") or []:
                    out["records"].append((kt_bytes(rec.get("key")), kt_bytes(rec.get("value"))))
            continue
        if isinstance(val, str) and (key in TOPIC_KEYS or (key == "name" and in_topics)):
            out["topics"].append(val)
        elif isinstance(val, int) and not isinstance(val, bool) and (
                key in PARTITION_KEYS or (key == "index" and parent in PARTITION_ARRAYS)):
            out["partitions"].append(val)
        elif key in INT_PARTITION_ARRAYS and isinstance(val, list) and all(
                isinstance(x, int) for x in val):
            out["partitions"] += val
        elif key.endswith("rrorCode") and isinstance(val, int):
            out["errors"].append(val)
        elif isinstance(val, (dict, list)):
            walk_kafkatap(val, out, "opic" in key or key in TOPIC_ARRAYS, key)


def kt_bytes(v):
    if v is None:
        return None
    if isinstance(v, dict):  # {"base64": ...} is not used with --bytes=hex
        return None
    return norm_hex(v)


def kafkatap_messages(path):
    args = [kafkatap_bin(), "decode", "--json", "--bytes=hex"]
    for p in PORTS:
        args += ["-p", str(p)]
    res = subprocess.run(args + [path], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    msgs = collections.defaultdict(list)
    for line in res.stdout.splitlines():
        x = json.loads(line)
        if x["api_key"] is None:
            continue
        client_port = int(x["connection"]["client"].rsplit(":", 1)[1])
        broker_port = int(x["connection"]["broker"].rsplit(":", 1)[1])
        for kind in ("request", "response"):
            body = x[kind]
            if body is None and (kind + "_error") not in x:
                continue
            out = {"topics": [], "partitions": [], "errors": [], "records": [], "legacy": False}
            walk_kafkatap(body, out, False, None)
            msgs[(client_port, broker_port, x["correlation_id"], kind)].append(Message(
                kind, x["api_key"], x["api_version"], x["correlation_id"],
                x["client_id"] if kind == "request" else None,
                sorted(out["topics"]), sorted(out["partitions"]), sorted(out["errors"]),
                None if out["legacy"] else sorted(out["records"], key=repr),
                (kind + "_error") in x))
    return msgs


# ---- comparing ----

def compare(ts, kt):
    """Differences between one tshark message and one kafkatap message."""
    diffs = []
    for field in ("api_key", "version", "corr", "client_id"):
        if getattr(ts, field) != getattr(kt, field):
            diffs.append("%s: tshark %r, kafkatap %r" % (field, getattr(ts, field), getattr(kt, field)))
    if ts.api_key == API_VERSIONS and ts.kind == "response" and ts.malformed:
        # tshark decodes an ApiVersions error reply with the request's
        # version and calls it malformed (TEST-RIG.md); kafkatap must call it
        # malformed too, and the body is not compared.
        if not kt.malformed:
            diffs.append("ApiVersions error reply: tshark says malformed, kafkatap does not")
        return diffs
    if ts.api_key in KNOWN_TSHARK_WRONG:
        # Only the header is compared (see KNOWN_TSHARK_WRONG).
        return diffs
    for field in ("topics", "partitions", "errors"):
        if getattr(ts, field) != getattr(kt, field):
            diffs.append("%s: tshark %r, kafkatap %r" % (field, getattr(ts, field), getattr(kt, field)))
    # Legacy message sets (magic 0/1): tshark misreads them (TEST-RIG.md),
    # so records are compared for record batches (magic 2) only.
    if ts.records is not None and kt.records is not None and ts.records != kt.records:
        diffs.append("records: tshark %d %r..., kafkatap %d %r..." % (
            len(ts.records), ts.records[:2], len(kt.records), kt.records[:2]))
    return diffs


def have_tools():
    return shutil.which("tshark") and os.access(kafkatap_bin(), os.X_OK)


@pytest.mark.skipif(not CAPTURES, reason="no captures in captures/")
@pytest.mark.parametrize("path", CAPTURES, ids=[os.path.basename(p) for p in CAPTURES])
def test_same_as_tshark(path):
    if not have_tools():
        pytest.skip("needs tshark and a built kafkatap")
    ts = tshark_messages(path)
    kt = kafkatap_messages(path)
    problems = []
    compared = 0
    for key, ts_list in sorted(ts.items()):
        kt_list = kt.get(key, [])
        if len(ts_list) != len(kt_list):
            problems.append("%s: tshark has %d messages, kafkatap %d" % (key, len(ts_list), len(kt_list)))
            continue
        for a, b in zip(ts_list, kt_list):
            compared += 1
            for d in compare(a, b):
                problems.append("%s %s: %s" % (key, a.kind, d))
    # Every message kafkatap decoded that tshark also shows was compared;
    # messages only kafkatap has are the ones tshark leaves undecoded.
    for key in sorted(set(kt) - set(ts)):
        if key[3] == "request":
            problems.append("%s: kafkatap has a request tshark does not" % (key,))
    assert compared > 0, "nothing compared"
    assert not problems, "\n".join(problems[:40])
