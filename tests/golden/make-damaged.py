#!/usr/bin/python3
"""make-damaged.py: damaged and re-encoded copies of real captures, for the
golden tests of `kafkatap decode` (tests/golden/TESTLIST).

    tests/golden/make-damaged.py [--captures DIR] [--out DIR]

Reads captures/*.pcapng (loopback captures: Ethernet, IPv4, TCP) and writes
into captures/damaged/:

  damage (what a decoder must survive)
    truncated.pcapng          the file cut in the middle of a packet record
    dropped-segments.pcapng   re-segmented to 200 bytes, two segments dropped
    reordered.pcapng          re-segmented, neighbouring segments swapped
    midstream.pcapng          re-segmented, starting inside a Produce request
    retransmit.pcapng         segments sent twice, one copy with other bytes
    garbage-port.pcapng       the real traffic plus two connections of random
                              bytes on the Kafka port (one with a handshake,
                              one without)
    snaplen.pcapng            every packet cut to 128 bytes (caplen < len)
    ip-fragments.pcapng       two packets split into IPv4 fragments
    not-a-capture.txt         a text file
    mixed-linktypes.pcapng    two interfaces with different link types (libpcap
                              refuses those; kafkatap's pcapng reader must not)
  encodings (must decode exactly like the original)
    link-sll.pcapng           Linux cooked capture v1
    link-sll2.pcapng          Linux cooked capture v2
    link-raw.pcap             classic pcap, LINKTYPE_RAW (raw IPv4)
    link-ipv4.pcapng          LINKTYPE_IPV4
    link-null.pcap            classic pcap (nanosecond), BSD loopback, host order
    link-loop.pcapng          OpenBSD loopback (network order)
    link-qinq.pcapng          Ethernet with 802.1ad + 802.1Q tags
    ipv6.pcapng               IPv6 (::1) with a hop-by-hop options header
    ip-frag3.pcapng           every IPv4 packet with >= 600 bytes of TCP payload
                              as three fragments
    ip-frag3-reordered.pcapng the same, fragments out of order (last first)
    ipv6-fragments.pcapng     ipv6.pcapng with the same packets as three IPv6
                              fragments (behind the hop-by-hop header), every
                              other one out of order
    link-mixed-sections.pcapng
                              two sections (little- then big-endian), each with
                              an Ethernet and a raw IPv4 interface: requests on
                              one, responses on the other
  damaged fragments
    ip-frag-damaged.pcapng    a conflicting copy of a fragment (first kept), a
                              lost fragment (incomplete datagram), a refused one

Everything is deterministic (fixed seed, no clock), so running it again gives
the same files. No scapy: pcapng and pcap are read and written here, IP and
TCP headers rebuilt with checksums recomputed.
"""

import argparse
import os
import random
import struct

SRC = "kcat-codec-none.pcapng"
BIG = "confluent-group-rebalance.pcapng"


# ---- pcapng / pcap ----

def read_pcapng(path):
    """(linktype, [(ts_ns, data, origlen)]) of a single-interface pcapng."""
    data = open(path, "rb").read()
    pos = 0
    endian = "<"
    linktype = None
    tsres = [1000]  # ns per tick for each interface; default microseconds
    packets = []
    while pos + 12 <= len(data):
        btype, blen = struct.unpack_from(endian + "II", data, pos)
        if btype == 0x0A0D0D0A:
            magic = struct.unpack_from("<I", data, pos + 8)[0]
            endian = "<" if magic == 0x1A2B3C4D else ">"
            btype, blen = struct.unpack_from(endian + "II", data, pos)
            tsres = []
        body = data[pos + 8:pos + blen - 4]
        if btype == 1:  # IDB
            lt, _, _snap = struct.unpack_from(endian + "HHI", body, 0)
            if linktype is None:
                linktype = lt
            res = 1000
            opos = 8
            while opos + 4 <= len(body):
                code, olen = struct.unpack_from(endian + "HH", body, opos)
                if code == 0:
                    break
                if code == 9:
                    v = body[opos + 4]
                    res = 10 ** (9 - v) if not v & 0x80 else max(1, int(1e9 / (2 ** (v & 0x7f))))
                opos += 4 + ((olen + 3) & ~3)
            tsres.append(res)
        elif btype == 6:  # EPB
            iface, hi, lo, cap, orig = struct.unpack_from(endian + "IIIII", body, 0)
            ts = ((hi << 32) | lo) * tsres[iface]
            packets.append((ts, body[20:20 + cap], orig))
        pos += blen
    return linktype, packets


def write_pcapng(path, linktype, packets, snaplen=262144):
    out = bytearray()

    def block(btype, body):
        body = bytes(body) + b"\0" * ((4 - len(body) % 4) % 4)
        n = len(body) + 12
        out.extend(struct.pack("<II", btype, n) + body + struct.pack("<I", n))

    block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + b"\0\0\0\0")
    # if_tsresol = 9: nanoseconds.
    block(1, struct.pack("<HHI", linktype, 0, snaplen) + struct.pack("<HHB3x", 9, 1, 9) + b"\0\0\0\0")
    for ts, data, orig in packets:
        body = struct.pack("<IIIII", 0, ts >> 32, ts & 0xffffffff, len(data), orig) + data
        block(6, body)
    open(path, "wb").write(out)


def write_pcapng_two(path, lt0, pk0, lt1, pk1):
    """A pcapng with two interfaces of different link types, packets of
    both in time order."""
    out = bytearray()

    def block(btype, body):
        body = bytes(body) + b"\0" * ((4 - len(body) % 4) % 4)
        n = len(body) + 12
        out.extend(struct.pack("<II", btype, n) + body + struct.pack("<I", n))

    block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + b"\0\0\0\0")
    for lt in (lt0, lt1):
        block(1, struct.pack("<HHI", lt, 0, 262144) + struct.pack("<HHB3x", 9, 1, 9) + b"\0\0\0\0")
    both = sorted([(ts, 0, d, o) for ts, d, o in pk0] + [(ts, 1, d, o) for ts, d, o in pk1])
    for ts, iface, data, orig in both:
        block(6, struct.pack("<IIIII", iface, ts >> 32, ts & 0xffffffff, len(data), orig) + data)
    open(path, "wb").write(out)


def write_pcap(path, linktype, packets, nanosecond=False):
    magic = 0xA1B23C4D if nanosecond else 0xA1B2C3D4
    out = bytearray(struct.pack("<IHHiIII", magic, 2, 4, 0, 0, 262144, linktype))
    for ts, data, orig in packets:
        sec, frac = divmod(ts, 10 ** 9)
        if not nanosecond:
            frac //= 1000
        out += struct.pack("<IIII", sec, frac, len(data), orig) + data
    open(path, "wb").write(out)


# ---- Ethernet / IPv4 / TCP ----

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


class Pkt:
    """An Ethernet/IPv4/TCP packet taken apart."""

    def __init__(self, frame):
        self.eth = frame[:14]
        ip = frame[14:]
        ihl = (ip[0] & 15) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        self.ip = ip[:ihl]
        tcp = ip[ihl:total]
        doff = (tcp[12] >> 4) * 4
        self.tcp = tcp[:doff]
        self.payload = tcp[doff:]
        self.src = ip[12:16]
        self.dst = ip[16:20]
        self.sport, self.dport, self.seq, self.ack = struct.unpack("!HHII", tcp[:12])
        self.flags = tcp[13]

    def clone(self, payload=None, seq=None, flags=None):
        p = Pkt.__new__(Pkt)
        p.__dict__.update(self.__dict__)
        if payload is not None:
            p.payload = payload
        if seq is not None:
            p.seq = seq & 0xffffffff
        if flags is not None:
            p.flags = flags
        return p

    def tcp_bytes(self, src, dst, proto_pseudo):
        tcp = bytearray(self.tcp)
        struct.pack_into("!HHII", tcp, 0, self.sport, self.dport, self.seq, self.ack)
        tcp[13] = self.flags
        tcp[16:18] = b"\0\0"
        seg = bytes(tcp) + self.payload
        pseudo = proto_pseudo(src, dst, len(seg))
        c = csum(pseudo + seg)
        tcp[16:18] = struct.pack("!H", c)
        return bytes(tcp) + self.payload

    def ipv4(self):
        tcp = self.tcp_bytes(self.src, self.dst,
                             lambda s, d, n: s + d + struct.pack("!BBH", 0, 6, n))
        ip = bytearray(self.ip)
        struct.pack_into("!H", ip, 2, len(ip) + len(tcp))
        ip[10:12] = b"\0\0"
        ip[10:12] = struct.pack("!H", csum(bytes(ip)))
        return bytes(ip) + tcp

    def frame(self):
        return self.eth + self.ipv4()

    def ipv6(self, hop_by_hop=False):
        src = b"\0" * 15 + b"\1"
        dst = src
        tcp = self.tcp_bytes(src, dst, lambda s, d, n: s + d + struct.pack("!I3xB", n, 6))
        ext = b""
        nh = 6
        if hop_by_hop:
            # next header TCP, length 0 (8 bytes), a PadN option of 4 bytes.
            ext = struct.pack("!BB", 6, 0) + b"\x01\x04\0\0\0\0"
            nh = 0
        hdr = struct.pack("!IHBB", 6 << 28, len(ext) + len(tcp), nh, 64) + src + dst
        return hdr + ext + tcp


def packets_of(path):
    lt, pkts = read_pcapng(path)
    assert lt == 1, "%s: expected Ethernet captures" % path
    return [(ts, Pkt(data), orig) for ts, data, orig in pkts]


def frames(pkts):
    out = []
    for ts, p, _ in pkts:
        f = p.frame()
        out.append((ts, f, len(f)))
    return out


def resegment(pkts, size):
    """Cut every payload into segments of at most `size` bytes."""
    out = []
    for ts, p, orig in pkts:
        if len(p.payload) <= size:
            out.append((ts, p, orig))
            continue
        fin = p.flags & 0x01
        for i in range(0, len(p.payload), size):
            last = i + size >= len(p.payload)
            flags = p.flags if last else (p.flags & ~0x09)  # FIN and PSH on the last only
            out.append((ts + i // size, p.clone(p.payload[i:i + size], p.seq + i, flags), 0))
        del fin
    return out


def is_data(p, port=19092):
    return len(p.payload) > 0 and port in (p.sport, p.dport)


# ---- the damaged files ----

def truncated(src, out):
    data = open(src, "rb").read()
    lt, pkts = read_pcapng(src)
    # Cut inside the record of the largest packet (a Fetch response).
    big = max(range(len(pkts)), key=lambda i: len(pkts[i][1]))
    pos, n = 0, -1
    while pos < len(data):
        btype, blen = struct.unpack_from("<II", data, pos)
        if btype == 6:
            n += 1
            if n == big:
                open(out, "wb").write(data[:pos + blen // 2])
                return
        pos += blen
    raise SystemExit("truncated: no record to cut")


def dropped(pkts, out):
    seg = resegment(pkts, 200)
    data_idx = [i for i, (_, p, _) in enumerate(seg) if is_data(p)]
    # A middle segment of the first Produce request (client to broker) and
    # of the first big response (broker to client).
    produce = [i for i in data_idx if seg[i][1].dport == 19092 and len(seg[i][1].payload) == 200]
    response = [i for i in data_idx if seg[i][1].sport == 19092 and len(seg[i][1].payload) == 200]
    drop = {produce[2], response[3]}
    write_pcapng(out, 1, frames([x for i, x in enumerate(seg) if i not in drop]))


def reordered(pkts, out):
    seg = resegment(pkts, 200)
    rnd = random.Random(7)
    i = 0
    while i + 1 < len(seg):
        a, b = seg[i][1], seg[i + 1][1]
        same_dir = (a.sport, a.dport) == (b.sport, b.dport)
        if same_dir and is_data(a) and is_data(b) and rnd.random() < 0.5:
            seg[i], seg[i + 1] = (seg[i][0], b, 0), (seg[i + 1][0], a, 0)
            i += 2
        else:
            i += 1
    write_pcapng(out, 1, frames(seg))


def midstream(pkts, out):
    seg = resegment(pkts, 200)
    # Start at the third segment of the second Produce request of the
    # first connection: inside a frame, after the handshake.
    starts = [i for i, (_, p, _) in enumerate(seg)
              if p.dport == 19092 and len(p.payload) == 200 and p.payload[4:6] == b"\0\0"]
    first = starts[1] + 2
    write_pcapng(out, 1, frames(seg[first:]))


def retransmit(pkts, out):
    seg = resegment(pkts, 300)
    res = []
    done = 0
    for ts, p, orig in seg:
        res.append((ts, p, orig))
        if is_data(p) and len(p.payload) == 300:
            done += 1
            if done in (2, 5):  # the same bytes again
                res.append((ts + 1, p.clone(), 0))
            elif done == 8:     # the same sequence numbers, other bytes
                bad = bytes(b ^ 0x55 for b in p.payload)
                res.append((ts + 1, p.clone(bad), 0))
    write_pcapng(out, 1, frames(res))


def garbage_port(pkts, out):
    rnd = random.Random(11)
    res = list(pkts)
    t0 = pkts[-1][0] + 1000000
    tmpl = pkts[0][1]  # a SYN of the real capture, as a header template

    def mk(ts, from_client, seq, ack, flags, payload, cport):
        p = tmpl.clone(payload, seq, flags)
        p.ack = ack
        p.sport, p.dport = (cport, 19092) if from_client else (19092, cport)
        return (ts, p, 0)

    # With a handshake: the client sends 3000 random bytes, the server 2000.
    c, s = 1000, 5000
    res.append(mk(t0, True, c, 0, 0x02, b"", 40001))
    res.append(mk(t0 + 1, False, s, c + 1, 0x12, b"", 40001))
    res.append(mk(t0 + 2, True, c + 1, s + 1, 0x10, b"", 40001))
    cs, ss = c + 1, s + 1
    for k in range(6):
        blob = bytes(rnd.getrandbits(8) for _ in range(500))
        res.append(mk(t0 + 10 + k, True, cs, ss, 0x18, blob, 40001))
        cs += 500
        if k % 2:
            blob = bytes(rnd.getrandbits(8) for _ in range(1000))
            res.append(mk(t0 + 20 + k, False, ss, cs, 0x18, blob, 40001))
            ss += 1000
    res.append(mk(t0 + 40, True, cs, ss, 0x11, b"", 40001))
    res.append(mk(t0 + 41, False, ss, cs + 1, 0x11, b"", 40001))
    # Without a handshake, bytes that look a little like frames (small
    # big-endian sizes) between the random ones.
    cs = 777
    for k in range(5):
        blob = bytearray(rnd.getrandbits(8) for _ in range(400))
        for j in range(0, 400, 37):
            blob[j:j + 4] = struct.pack("!I", rnd.randrange(8, 300))
        res.append(mk(t0 + 100 + k, True, cs, 1, 0x18, bytes(blob), 40002))
        cs += 400
    res.append(mk(t0 + 200, True, cs, 1, 0x04, b"", 40002))
    write_pcapng(out, 1, frames(res))


def snaplen(pkts, out):
    res = []
    for ts, p, _ in pkts:
        f = p.frame()
        res.append((ts, f[:128], len(f)))
    write_pcapng(out, 1, res, snaplen=128)


def ip_fragments(pkts, out):
    res = []
    done = 0
    for ts, p, _ in pkts:
        f = p.frame()
        if is_data(p) and len(p.payload) > 1000 and done < 2:
            done += 1
            ip = p.ipv4()
            ihl = (ip[0] & 15) * 4
            body = ip[ihl:]
            # Two fragments: 8-byte aligned split.
            cut = (len(body) // 2) & ~7
            for off, part, more in ((0, body[:cut], True), (cut, body[cut:], False)):
                h = bytearray(ip[:ihl])
                struct.pack_into("!H", h, 2, ihl + len(part))
                struct.pack_into("!H", h, 6, (0x2000 if more else 0) | (off // 8))
                h[10:12] = b"\0\0"
                h[10:12] = struct.pack("!H", csum(bytes(h)))
                fr = p.eth + bytes(h) + part
                res.append((ts + off, fr, len(fr)))
            continue
        res.append((ts, f, len(f)))
    write_pcapng(out, 1, res)


def fragment_body(body, parts):
    """Cut an IP payload into `parts` pieces at 8-byte aligned offsets:
    [(offset, bytes, more)]."""
    cuts = [0] + [(len(body) * i // parts) & ~7 for i in range(1, parts)] + [len(body)]
    return [(cuts[i], body[cuts[i]:cuts[i + 1]], i < parts - 1) for i in range(parts)]


def v4_fragments(p, parts, ident):
    """The IPv4 packet of p as `parts` fragments (Ethernet frames)."""
    ip = p.ipv4()
    ihl = (ip[0] & 15) * 4
    out = []
    for off, part, more in fragment_body(ip[ihl:], parts):
        h = bytearray(ip[:ihl])
        struct.pack_into("!H", h, 2, ihl + len(part))
        struct.pack_into("!H", h, 4, ident)
        struct.pack_into("!H", h, 6, (0x2000 if more else 0) | (off // 8))
        h[10:12] = b"\0\0"
        h[10:12] = struct.pack("!H", csum(bytes(h)))
        out.append(p.eth + bytes(h) + part)
    return out


# Fragment orders: in order, and out of order (last first, then the first,
# then the middle one).
IN_ORDER = (0, 1, 2)
OUT_OF_ORDER = (2, 0, 1)


def frag3(pkts, out, order, min_payload=600):
    """Every IPv4 packet with at least min_payload bytes of TCP payload as
    three fragments, all with the original packet's timestamp (so that the
    reassembled datagram, timed by its last fragment, keeps it)."""
    res = []
    for i, (ts, p, _) in enumerate(pkts):
        if len(p.payload) >= min_payload:
            frs = v4_fragments(p, 3, 0x4000 + i)
            for k in order:
                res.append((ts, frs[k], len(frs[k])))
            continue
        f = p.frame()
        res.append((ts, f, len(f)))
    write_pcapng(out, 1, res)


def frag_damaged(pkts, out):
    """Fragments that disagree, go missing and break the rules: the first
    big packet has its middle fragment sent again with other bytes (the
    first copy is kept, so it decodes as before), the second loses its middle
    fragment (incomplete at the end, a gap in its stream), the third gets an
    extra fragment that is not a multiple of 8 bytes (refused)."""
    res = []
    n = 0
    for i, (ts, p, _) in enumerate(pkts):
        if len(p.payload) >= 600 and n < 3:
            frs = v4_fragments(p, 3, 0x5000 + i)
            if n == 0:
                frs.insert(2, frs[1][:14 + 20 + 8] + bytes(len(frs[1]) - 14 - 20 - 8))
            elif n == 1:
                del frs[1]
            else:
                bad = bytearray(frs[1][:14 + 20 + 13])
                struct.pack_into("!H", bad, 14 + 2, 20 + 13)
                frs.insert(0, bytes(bad))
            n += 1
            for f in frs:
                res.append((ts, f, len(f)))
            continue
        f = p.frame()
        res.append((ts, f, len(f)))
    write_pcapng(out, 1, res)


def ipv6_fragments(pkts, out, min_payload=600):
    """ipv6.pcapng's packets (a hop-by-hop header, then TCP), those with at
    least min_payload bytes of TCP payload as three fragments behind the
    hop-by-hop header, every other one out of order."""
    res = []
    big = 0
    for i, (ts, p, _) in enumerate(pkts):
        ip = p.ipv6(hop_by_hop=True)
        eth = p.eth[:12] + b"\x86\xdd"
        if len(p.payload) < min_payload:
            res.append((ts, eth + ip, len(eth + ip)))
            continue
        fixed, hbh, tcp = ip[:40], bytearray(ip[40:48]), ip[48:]
        hbh[0] = 44  # the hop-by-hop header now names the fragment header
        frs = []
        for off, part, more in fragment_body(tcp, 3):
            fh = struct.pack("!BBHI", 6, 0, off | (1 if more else 0), 0x60000 + i)
            h = bytearray(fixed)
            struct.pack_into("!H", h, 4, len(hbh) + len(fh) + len(part))
            f = eth + bytes(h) + bytes(hbh) + fh + part
            frs.append(f)
        for k in (OUT_OF_ORDER if big % 2 else IN_ORDER):
            res.append((ts, frs[k], len(frs[k])))
        big += 1
    write_pcapng(out, 1, res)


def linktypes_split(pkts, out, port=19092):
    """The same packets in a pcapng of two sections, each with two
    interfaces of different link types: client-to-broker packets on an
    Ethernet interface (nanosecond timestamps), broker-to-client ones on a
    raw IPv4 interface (LINKTYPE_RAW, microseconds: no if_tsresol). The
    first section is little-endian with the Ethernet interface first, the
    second big-endian with the raw one first and its timestamps offset by
    if_tsoffset."""
    out_b = bytearray()

    def block(e, btype, body):
        body = bytes(body) + b"\0" * ((4 - len(body) % 4) % 4)
        n = len(body) + 12
        out_b.extend(struct.pack(e + "II", btype, n) + body + struct.pack(e + "I", n))

    half = len(pkts) // 2
    for e, chunk, order in (("<", pkts[:half], (1, 101)), (">", pkts[half:], (101, 1))):
        block(e, 0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1) + b"\0\0\0\0")
        offset = 0 if e == "<" else 1000
        for lt in order:
            opts = b""
            if lt == 1:
                opts += struct.pack(e + "HHB3x", 9, 1, 9)
            if offset:
                opts += struct.pack(e + "HHq", 14, 8, offset)
            block(e, 1, struct.pack(e + "HHI", lt, 0, 262144) + opts + b"\0\0\0\0")
        for ts, p, _ in chunk:
            to_broker = p.dport == port
            lt = 1 if to_broker else 101
            iface = order.index(lt)
            data = p.frame() if lt == 1 else p.ipv4()
            t = ts - offset * 10 ** 9
            t = t if lt == 1 else t // 1000
            block(e, 6, struct.pack(e + "IIIII", iface, t >> 32, t & 0xffffffff, len(data), len(data)) + data)
    open(out, "wb").write(out_b)


# ---- re-encodings ----

def relink(pkts, out, kind):
    res = []
    for ts, p, _ in pkts:
        ip = p.ipv4()
        if kind == "sll":
            hdr = struct.pack("!HHH8sH", 0, 772, 6, b"\0" * 8, 0x0800)
        elif kind == "sll2":
            hdr = struct.pack("!HHIHBB8s", 0x0800, 0, 1, 772, 0, 6, b"\0" * 8)
        elif kind in ("raw", "ipv4"):
            hdr = b""
        elif kind == "null":
            hdr = struct.pack("<I", 2)
        elif kind == "loop":
            hdr = struct.pack("!I", 2)
        elif kind == "qinq":
            hdr = p.eth[:12] + struct.pack("!HHHH", 0x88a8, 100, 0x8100, 200) + b"\x08\x00"
        elif kind == "ipv6":
            ip = p.ipv6(hop_by_hop=True)
            hdr = p.eth[:12] + b"\x86\xdd"
        f = hdr + ip
        res.append((ts, f, len(f)))
    lt = {"sll": 113, "sll2": 276, "raw": 101, "ipv4": 228, "null": 0, "loop": 108,
          "qinq": 1, "ipv6": 1}[kind]
    if out.endswith(".pcap"):
        write_pcap(out, lt, res, nanosecond=(kind == "null"))
    else:
        write_pcapng(out, lt, res)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    top = os.path.dirname(os.path.dirname(here))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--captures", default=os.path.join(top, "captures"))
    ap.add_argument("--out", default=os.path.join(top, "captures", "damaged"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    src = os.path.join(a.captures, SRC)
    big = os.path.join(a.captures, BIG)
    pkts = packets_of(src)
    o = lambda name: os.path.join(a.out, name)  # noqa: E731
    truncated(src, o("truncated.pcapng"))
    dropped(pkts, o("dropped-segments.pcapng"))
    reordered(pkts, o("reordered.pcapng"))
    midstream(packets_of(big), o("midstream.pcapng"))
    retransmit(pkts, o("retransmit.pcapng"))
    garbage_port(pkts, o("garbage-port.pcapng"))
    snaplen(pkts, o("snaplen.pcapng"))
    ip_fragments(pkts, o("ip-fragments.pcapng"))
    with open(o("not-a-capture.txt"), "w") as f:
        f.write("This is not a capture file.\n")
    meta = packets_of(os.path.join(a.captures, "kcat-metadata.pcapng"))
    sll = []
    for ts, p, _ in meta:
        f = struct.pack("!HHH8sH", 0, 772, 6, b"\0" * 8, 0x0800) + p.ipv4()
        sll.append((ts, f, len(f)))
    write_pcapng_two(o("mixed-linktypes.pcapng"), 113, sll, 1, frames(pkts))
    for kind, name in (("sll", "link-sll.pcapng"), ("sll2", "link-sll2.pcapng"),
                       ("raw", "link-raw.pcap"), ("ipv4", "link-ipv4.pcapng"),
                       ("null", "link-null.pcap"), ("loop", "link-loop.pcapng"),
                       ("qinq", "link-qinq.pcapng"), ("ipv6", "ipv6.pcapng")):
        relink(pkts, o(name), kind)
    frag3(pkts, o("ip-frag3.pcapng"), IN_ORDER)
    frag3(pkts, o("ip-frag3-reordered.pcapng"), OUT_OF_ORDER)
    frag_damaged(pkts, o("ip-frag-damaged.pcapng"))
    ipv6_fragments(pkts, o("ipv6-fragments.pcapng"))
    linktypes_split(pkts, o("link-mixed-sections.pcapng"))


if __name__ == "__main__":
    main()
