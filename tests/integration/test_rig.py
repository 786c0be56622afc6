"""Tests of the test rig itself: kt-mockbroker (the mock Kafka cluster
launcher) and the client wrappers in rig.py, run directly against the
launcher with no kafkatap in the path.  Every later integration test relies
on what is proven here: each client gets back exactly what it produced, fault
commands take effect, fixed ports hold, and the launcher exits cleanly."""

import signal
import socket
import subprocess
import time
from collections import defaultdict

import pytest

import rig

N = 24


def assert_partition_order(consumed):
    """Offsets in each partition are 0..n-1 and arrive in order."""
    per = defaultdict(list)
    for m in consumed:
        per[m["partition"]].append(m["offset"])
    for part, offs in per.items():
        assert offs == list(range(len(offs))), "partition %d offsets %r" % (part, offs)


def rich_messages(prefix):
    """Distinct keys, values and headers, plus a null key, an empty value and
    UTF-8 text."""
    msgs = rig.make_messages(N, prefix)
    msgs.append({"key": None, "value": prefix + "-null-key \u00fc\u20ac",
                 "headers": [["utf8", "\u00e9t\u00e9"]]})
    msgs.append({"key": prefix + "-empty-value", "value": "",
                 "headers": [["a", "1"], ["b", ""]]})
    return msgs


# --- launcher basics ---------------------------------------------------------


def test_bootstrap_line_and_commands(broker):
    assert broker.bootstrap == "127.0.0.1:%d" % broker.ports[0]
    assert rig.port_open(broker.ports[0])
    assert broker.command("bootstraps") == broker.bootstrap
    assert broker.command("frobnicate 1").startswith("error: unknown command")
    assert broker.command("down 7").startswith("error: bad broker id")
    assert broker.command("error x 1").startswith("error: bad api key")
    assert broker.command("coordinator cluster k 1").startswith("error:")
    assert broker.command("") == "error: empty command"
    assert broker.command("rtt 1 0") == "ok"
    assert broker.command("topic kt-t1 5") == "ok"
    md = rig.kcat_metadata(broker.bootstrap, "kt-t1")
    (t,) = [t for t in md["topics"] if t["topic"] == "kt-t1"]
    assert len(t["partitions"]) == 5


def test_cluster3_metadata_and_leaders(cluster3):
    assert len(cluster3.ports) == 3
    topic = cluster3.create_topic(6)
    assert cluster3.command("leader %s 0 3" % topic) == "ok"
    md = rig.kcat_metadata(cluster3.bootstrap, topic)
    brokers = {b["id"]: b["name"] for b in md["brokers"]}
    # Broker i listens on the i-th port of the bootstrap list.
    assert brokers == {i: cluster3.address(i) for i in (1, 2, 3)}
    (t,) = md["topics"]
    leaders = {p["partition"]: p["leader"] for p in t["partitions"]}
    assert leaders[0] == 3
    assert set(leaders.values()) <= {1, 2, 3}


def test_fixed_ports_and_restart():
    base = rig.free_port_range(3)
    with rig.Broker(brokers=3, port_base=base, topics=["fixed:3"]) as b:
        assert b.ports == [base, base + 1, base + 2]
        md = rig.kcat_metadata(b.bootstrap)
        assert {x["id"]: x["name"] for x in md["brokers"]} == {
            1: "127.0.0.1:%d" % base, 2: "127.0.0.1:%d" % (base + 1),
            3: "127.0.0.1:%d" % (base + 2)}
        # down closes the listener; up listens on the same port again.
        assert b.command("down 2") == "ok"
        rig.wait_until(lambda: not rig.port_open(base + 1), 5, what="port to close")
        assert b.command("up 2") == "ok"
        rig.wait_port(base + 1, timeout=5)
        assert b.stop() == 0
    # The same ports can be taken again right away (SO_REUSEADDR).
    with rig.Broker(ports=[base + 2, base], topics=["fixed:3"]) as b:
        assert b.bootstrap == "127.0.0.1:%d,127.0.0.1:%d" % (base + 2, base)
        msgs = rig.make_messages(4, "fx", partition=1)
        rig.kcat_produce(b.bootstrap, "fixed", msgs)
        assert rig.strip(rig.kcat_consume(b.bootstrap, "fixed", 4, partition=1)) == \
            rig.strip(msgs)


def test_port_in_use_is_an_error_not_a_crash():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = s.getsockname()[1]
        p = subprocess.run([rig.launcher_path(), "--ports", str(taken)],
                           input=b"", capture_output=True, timeout=10)
    assert p.returncode == 1
    assert p.stdout == b""
    assert b"127.0.0.1:%d" % taken in p.stderr


def test_bad_option_exits_2():
    p = subprocess.run([rig.launcher_path(), "--topic", "no-partitions"],
                       capture_output=True, timeout=10)
    assert p.returncode == 2
    assert b"--topic" in p.stderr


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "eof", "quit"])
def test_clean_exit(how):
    b = rig.Broker(topics=["x:1"]).start()
    rig.kcat_produce(b.bootstrap, "x", rig.make_messages(2, "exit"))
    if how == "eof":
        b.close_stdin()
    elif how == "quit":
        assert b.command("quit") == "ok"
    else:
        b.proc.send_signal(getattr(signal, how))
    assert b.wait(10) == 0, b.log()
    assert not rig.port_open(b.ports[0])
    b.stop()


def test_no_stdin_runs_until_signal():
    b = rig.Broker(no_stdin=True).start()
    time.sleep(0.3)  # stdin is /dev/null: it must not take EOF as quit
    assert b.running()
    assert rig.port_open(b.ports[0])
    assert b.stop(signal.SIGTERM) == 0


# --- clients: produce N, consume exactly those N back ----------------------------


def test_kcat_roundtrip(broker):
    topic = broker.create_topic(3)
    # kcat sets headers and the partition per run; give each partition its own
    # run so offsets and order can be checked exactly.
    msgs = []
    for i in range(N):
        msgs.append({"key": "kc-key-%03d" % i, "value": "kc-value-%03d" % i,
                     "headers": [["part", str(i % 3)], ["run", "kcat"]],
                     "partition": i % 3})
    msgs.sort(key=lambda m: m["partition"])
    rig.kcat_produce(broker.bootstrap, topic, msgs)
    got = rig.kcat_consume(broker.bootstrap, topic, N)
    assert len(got) == N
    assert_partition_order(got)
    for part in range(3):
        want = [m for m in msgs if m["partition"] == part]
        have = sorted((m for m in got if m["partition"] == part), key=lambda m: m["offset"])
        assert rig.strip(have) == rig.strip(want)


@pytest.mark.parametrize("codec", ["gzip", "zstd"])
def test_kcat_codec_roundtrip(broker, codec):
    topic = broker.create_topic(1)
    msgs = rig.make_messages(10, codec, headers=False)
    rig.kcat_produce(broker.bootstrap, topic, msgs, config={"compression.codec": codec})
    assert rig.strip(rig.kcat_consume(broker.bootstrap, topic, 10)) == rig.strip(msgs)


def test_confluent_roundtrip(broker):
    topic = broker.create_topic(3)
    msgs = rich_messages("cf")
    res = rig.confluent_produce(broker.bootstrap, topic, msgs,
                                config={"compression.type": "lz4"})
    assert res["errors"] == []
    assert len(res["delivered"]) == len(msgs)
    got = rig.confluent_consume(broker.bootstrap, topic, len(msgs))
    assert not got["timed_out"], got["_stderr"][-2000:]
    assert rig.by_key(got["messages"]) == rig.by_key(msgs)
    assert_partition_order(got["messages"])


def test_kafka_python_roundtrip_with_group(broker):
    topic = broker.create_topic(3)
    msgs = rich_messages("kp")
    res = rig.kafka_python_produce(broker.bootstrap, topic, msgs,
                                   config={"compression_type": "snappy"})
    assert "error" not in res, res["_stderr"][-2000:]
    assert res["errors"] == []
    assert len(res["delivered"]) == len(msgs)
    got = rig.kafka_python_consume(broker.bootstrap, topic, len(msgs),
                                   group=rig.unique("kp"))
    assert not got["timed_out"], got["_stderr"][-2000:]
    assert rig.by_key(got["messages"]) == rig.by_key(msgs)
    assert_partition_order(got["messages"])


@pytest.mark.skipif(not rig.kafkajs_available(),
                    reason="npm install --prefix tests/js has not been run")
def test_kafkajs_roundtrip_with_group(broker):
    topic = broker.create_topic(3)
    msgs = rich_messages("js")
    res = rig.kafkajs_produce(broker.bootstrap, topic, msgs, compression="lz4")
    assert "error" not in res, res
    assert res["count"] == len(msgs)
    assert all(r["error"] == 0 for r in res["records"])
    got = rig.kafkajs_consume(broker.bootstrap, topic, len(msgs))
    assert "error" not in got, got
    assert not got["timedOut"]
    assert rig.by_key(got["messages"]) == rig.by_key(msgs)
    assert_partition_order(got["messages"])


def test_cross_client_three_brokers(cluster3):
    """confluent-kafka produces across 3 brokers, kcat reads it back."""
    topic = cluster3.create_topic(6)
    msgs = rig.make_messages(30, "x3")
    res = rig.confluent_produce(cluster3.bootstrap, topic, msgs)
    assert res["errors"] == []
    assert {d["partition"] for d in res["delivered"]} == set(range(6))
    got = rig.kcat_consume(cluster3.bootstrap, topic, 30)
    assert rig.by_key(got) == rig.by_key(msgs)
    assert {m["partition"] for m in got} == set(range(6))


# --- faults ---------------------------------------------------------------


def test_down_refuses_and_up_restores(broker):
    topic = broker.create_topic(1)
    # Connections first, so that "down" closes some (TIME_WAIT on the
    # broker's port) and "up" has to bind the port again despite them.
    first = rig.make_messages(2, "before")
    rig.kcat_produce(broker.bootstrap, topic, first)
    assert broker.command("down 1") == "ok"
    (run,) = rig.kcat_produce(broker.bootstrap, topic, rig.make_messages(1, "down"),
                              config={"message.timeout.ms": 1500}, check=False)
    assert run.returncode != 0
    assert "Connection refused" in run.stderr
    assert broker.command("up 1") == "ok"
    rig.wait_port(broker.ports[0], timeout=5)
    msgs = rig.make_messages(3, "up")
    rig.kcat_produce(broker.bootstrap, topic, msgs, config={"message.timeout.ms": 5000})
    assert rig.strip(rig.kcat_consume(broker.bootstrap, topic, 5)) == rig.strip(first + msgs)


def test_injected_errors_reach_the_client(broker):
    topic = broker.create_topic(1)
    # Produce (api key 0): first request fails with MESSAGE_TOO_LARGE (10, not
    # retriable), the next one with -195 (the mock drops the connection).
    assert broker.command("error 0 10 1") == "ok"
    one_at_a_time = {"retries": 0, "linger.ms": 0, "batch.num.messages": 1,
                     "max.in.flight": 1}
    res = rig.confluent_produce(broker.bootstrap, topic, rig.make_messages(2, "e1"),
                                config=one_at_a_time)
    assert [e["error"] for e in res["errors"]] == ["MSG_SIZE_TOO_LARGE"]
    assert [d["key"] for d in res["delivered"]] == ["e1-key-0001"]
    assert broker.command("error 0 -195 1") == "ok"
    res = rig.confluent_produce(broker.bootstrap, topic, rig.make_messages(1, "e2"),
                                config=one_at_a_time)
    assert [e["code"] for e in res["errors"]] == [-195]
    assert res["delivered"] == []


def test_broker_error_rtt_delays_the_reply(broker):
    topic = broker.create_topic(1)
    rig.kcat_produce(broker.bootstrap, topic, rig.make_messages(1, "warm"))
    assert broker.command("broker-error 1 0 0 800") == "ok"
    t0 = time.monotonic()
    rig.kcat_produce(broker.bootstrap, topic, rig.make_messages(1, "slow"))
    assert time.monotonic() - t0 >= 0.75
    assert len(rig.kcat_consume(broker.bootstrap, topic, 2)) == 2


def test_apiversion_limit_is_enforced(broker):
    """Metadata (3) disabled: kcat -L gets no answer and fails."""
    assert broker.command("apiversion 3 -1 -1") == "ok"
    p = rig.kcat(["-L", "-b", broker.bootstrap, "-m", "2"], timeout=20, check=False)
    assert p.returncode != 0
