"""The --store-* options of `kafkatap decode -w` (docs/store.md): each one
changes what is recorded, checked against the default recording of the same
capture."""

import hashlib
import os
import sqlite3
import subprocess

import pytest

import rig

KT = rig.kafkatap_path()
CAPTURE = os.path.join(rig.SRCDIR, "captures", "kcat-codec-gzip.pcapng")


def record(tmp_path, name, *opts):
    db = str(tmp_path / name)
    p = subprocess.run([KT, "decode", "-q", "-p", "19092", "-w", db, *opts, CAPTURE],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert p.returncode == 0, p.stderr.decode()
    con = sqlite3.connect(db)
    try:
        ex = con.execute("select count(*), count(request_raw), count(response_raw) from exchanges").fetchone()
        recs = con.execute("select key, value from records order by rowid").fetchall()
    finally:
        con.close()
    return ex, recs


def test_default_keeps_raw_and_values(tmp_path):
    ex, recs = record(tmp_path, "default.db")
    assert ex[0] == 14 and ex[1] == 14
    assert len(recs) == 40  # 20 produced + 20 fetched, as the capture's README says
    assert all(v is not None for _, v in recs)


def test_no_raw(tmp_path):
    ex, recs = record(tmp_path, "noraw.db", "--store-no-raw")
    assert ex[0] == 14 and ex[1] == 0 and ex[2] == 0
    assert len(recs) == 40


def test_no_records(tmp_path):
    ex, recs = record(tmp_path, "norec.db", "--store-no-records")
    assert ex[0] == 14 and recs == []


def test_values_drop_and_hash(tmp_path):
    _, plain = record(tmp_path, "plain.db")
    _, dropped = record(tmp_path, "drop.db", "--store-values", "drop")
    _, hashed = record(tmp_path, "hash.db", "--store-values", "hash")
    assert all(v is None for _, v in dropped)
    assert [k for k, _ in dropped] == [k for k, _ in plain]
    # hash: the stored value is the sha256 of the value, never the value.
    for (_, v), (_, h) in zip(plain, hashed):
        assert h != v
        digest = hashlib.sha256(bytes(v)).hexdigest()
        assert digest in (h.decode() if isinstance(h, bytes) else str(h))


def test_max_value_bytes(tmp_path):
    _, plain = record(tmp_path, "plain.db")
    _, short = record(tmp_path, "short.db", "--store-max-value-bytes", "3")
    assert any(len(v) > 3 for _, v in plain)
    for (_, v), (_, s) in zip(plain, short):
        assert bytes(s) == bytes(v)[:3]


@pytest.mark.parametrize("opt", [["--store-values", "bogus"], ["--store-when-full", "later"],
                                 ["--store-when-full", "pause"], ["--store-queue", "1k"],
                                 ["--store-max-value-bytes", "-1"]])
def test_bad_values_are_usage_errors(tmp_path, opt):
    p = subprocess.run([KT, "decode", "-w", str(tmp_path / "x.db"), *opt, CAPTURE],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    assert p.returncode == 2
    assert opt[0] in p.stderr.decode()
