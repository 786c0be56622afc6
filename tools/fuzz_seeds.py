#!/usr/bin/env python3
"""fuzz_seeds.py: seed corpora for tests/fuzz/fuzz_capture.c and
tests/fuzz/fuzz_stream.c, cut from the bundled captures. Dev-time only; needs
tshark for the TCP payloads of fuzz_stream seeds.

fuzz_capture input: [dlt selector 0 = Ethernet][len u16 BE][packet]...
(the first 60 packets of each capture; the files are Ethernet pcapng).
fuzz_stream input: [ctl][len][bytes]... with ctl bit 0 = broker->client,
chunks of at most 255 bytes in capture order (the first TCP connection).

Usage: fuzz_seeds.py --out-capture DIR --out-stream DIR CAPTURE...
"""

import argparse
import os
import struct
import subprocess


def pcapng_packets(path):
    """Enhanced Packet Block payloads of a little-endian pcapng file."""
    data = open(path, "rb").read()
    i = 0
    while i + 12 <= len(data):
        btype, blen = struct.unpack_from("<II", data, i)
        if blen < 12 or i + blen > len(data):
            break
        if btype == 6:  # EPB: iface, ts hi, ts lo, caplen, len, data
            caplen = struct.unpack_from("<I", data, i + 20)[0]
            yield data[i + 28:i + 28 + caplen]
        i += blen


def capture_seed(path, limit=60):
    out = bytearray([0])
    for n, pkt in enumerate(pcapng_packets(path)):
        if n >= limit:
            break
        out += struct.pack(">H", len(pkt)) + pkt
    return bytes(out)


def stream_seed(path):
    cmd = ["tshark", "-r", path, "-Y", "tcp.len > 0 && tcp.stream == 0", "-T", "fields",
           "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "tcp.payload"]
    lines = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()
    out = bytearray()
    broker = None
    for line in lines:
        sport, dport, payload = (line.split("\t") + ["", "", ""])[:3]
        if not payload:
            continue
        if broker is None:
            broker = dport  # the first payload goes to the broker
        ctl = 1 if sport == broker else 0
        raw = bytes.fromhex(payload.replace(":", ""))
        for k in range(0, len(raw), 255):
            chunk = raw[k:k + 255]
            out += bytes([ctl, len(chunk)]) + chunk
        if len(out) > 16384:
            break
    return bytes(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out-capture", required=True)
    ap.add_argument("--out-stream", required=True)
    ap.add_argument("captures", nargs="+")
    a = ap.parse_args()
    os.makedirs(a.out_capture, exist_ok=True)
    os.makedirs(a.out_stream, exist_ok=True)
    for path in a.captures:
        name = os.path.splitext(os.path.basename(path))[0]
        with open(os.path.join(a.out_capture, name), "wb") as f:
            f.write(capture_seed(path))
        with open(os.path.join(a.out_stream, name), "wb") as f:
            f.write(stream_seed(path))


if __name__ == "__main__":
    main()
