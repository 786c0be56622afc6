#!/usr/bin/env python3
"""fuzz_pair_seeds.py: seeds for tests/fuzz/fuzz_extract.c, made from the
fuzz_codec seed corpus (sample frames per api and version, and frames cut
from the captures). Dev-time only.

fuzz_codec input: [flags][api:2][version:2][frame], flags bit 0 = response.
fuzz_extract input: [flags][request length:2][request frame][response frame].
A request is paired with the response of the same name (X-vN-request with
X-vN-response; capture-...-reqK with capture-...-respK) when both name the
same api and version.

usage: tools/fuzz_pair_seeds.py CODEC_CORPUS OUT_DIR
"""
import os
import sys


def main():
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    names = set(os.listdir(src))
    n = 0
    for name in sorted(names):
        if name.endswith('-request'):
            other = name[:-len('request')] + 'response'
        elif '-req' in name and name.rsplit('-', 1)[1].startswith('req'):
            base, last = name.rsplit('-', 1)
            other = base + '-resp' + last[3:]
        else:
            continue
        if other not in names:
            continue
        req = open(os.path.join(src, name), 'rb').read()
        resp = open(os.path.join(src, other), 'rb').read()
        if len(req) < 5 or len(resp) < 5 or req[1:5] != resp[1:5]:
            continue
        body = req[5:]
        if len(body) > 0xffff:
            continue
        seed = bytes([0]) + len(body).to_bytes(2, 'big') + body + resp[5:]
        open(os.path.join(out, name.replace('request', 'pair').replace('-req', '-pair')),
             'wb').write(seed)
        n += 1
    print(f'fuzz_pair_seeds.py: {n} seeds in {out}')


if __name__ == '__main__':
    main()
