#!/usr/bin/env python3
"""pcap_frames.py: cut the Kafka frames out of captures, for fuzz seeds and
the codec benchmark. Dev-time only; needs tshark for TCP payloads.

Each frame is written as one file in the input format of
tests/fuzz/fuzz_codec.c: [flags:1][api key:2 BE][api version:2 BE][frame],
flags bit 0 set for a response. A response gets the api key and version of
the request with the same correlation id on its connection. Streams are
reassembled naively (payloads in sequence-number order, no retransmissions),
which holds for loopback captures like those in captures/.

Usage: pcap_frames.py --ports 19092,19093 --out DIR CAPTURE...
"""

import argparse
import os
import struct
import subprocess
import sys


def tcp_payloads(path, ports):
    cmd = ["tshark", "-r", path, "-Y", "tcp.len > 0", "-T", "fields",
           "-e", "tcp.stream", "-e", "tcp.srcport", "-e", "tcp.dstport",
           "-e", "tcp.seq_raw", "-e", "tcp.payload"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    streams = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) < 5 or not parts[4]:
            continue
        stream, sport, dport, seq, payload = parts[:5]
        sport, dport = int(sport), int(dport)
        if sport not in ports and dport not in ports:
            continue
        to_server = dport in ports
        data = bytes.fromhex(payload.replace(":", ""))
        streams.setdefault((int(stream), to_server), {})[int(seq)] = data
    result = {}
    for key, segs in streams.items():
        result[key] = b"".join(segs[s] for s in sorted(segs))
    return result


def frames(data):
    pos = 0
    while pos + 4 <= len(data):
        (n,) = struct.unpack(">i", data[pos:pos + 4])
        if n < 0 or pos + 4 + n > len(data):
            break
        yield data[pos + 4:pos + 4 + n]
        pos += 4 + n


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ports", required=True, help="broker ports, comma-separated")
    ap.add_argument("--out", required=True, help="folder for the frame files")
    ap.add_argument("captures", nargs="+")
    a = ap.parse_args(argv)
    ports = {int(p) for p in a.ports.split(",")}
    os.makedirs(a.out, exist_ok=True)
    n = 0
    for cap in a.captures:
        base = os.path.splitext(os.path.basename(cap))[0]
        streams = tcp_payloads(cap, ports)
        for (stream, to_server), data in sorted(streams.items()):
            if not to_server:
                continue
            pending = {}
            for i, fr in enumerate(frames(data)):
                if len(fr) < 8:
                    continue
                api, ver, corr = struct.unpack(">hhi", fr[:8])
                pending[corr] = (api, ver)
                name = "%s-s%d-req%d" % (base, stream, i)
                with open(os.path.join(a.out, name), "wb") as fh:
                    fh.write(struct.pack(">Bhh", 0, api, ver) + fr)
                n += 1
            for i, fr in enumerate(frames(streams.get((stream, False), b""))):
                if len(fr) < 4:
                    continue
                (corr,) = struct.unpack(">i", fr[:4])
                if corr not in pending:
                    continue
                api, ver = pending[corr]
                name = "%s-s%d-resp%d" % (base, stream, i)
                with open(os.path.join(a.out, name), "wb") as fh:
                    fh.write(struct.pack(">Bhh", 1, api, ver) + fr)
                n += 1
    print("pcap_frames.py: %d frames -> %s" % (n, a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
