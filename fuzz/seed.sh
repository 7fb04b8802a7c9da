#!/usr/bin/env bash
# Seeds the fuzz corpora from the committed fixtures (nothing is duplicated in git).
#   reader:  every capture under fixtures/ as it is (good, bad and fuzz regressions), and
#            the small captures of ../shared/corpus when it is there.
#   decode:  each record of the pcap fixtures as a frame, prefixed by the two bytes the
#            target reads first: the link type's index and "nothing cut".
#   tracker: no seed files: its input is a structure, and libFuzzer grows it from empty.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p corpus/reader corpus/decode corpus/tracker
# Copies keep their base name; same-named fixtures in different folders get a prefix.
for f in $(find ../fixtures -type f ! -name '*.md'); do
  cp "$f" "corpus/reader/$(echo "${f#../fixtures/}" | tr / _)"
done
# The shared corpus of real captures beside the checkout, when present: small files only
# (libFuzzer mutates small inputs faster; -max_len caps the rest anyway).
if [ -d ../../shared/corpus ]; then
  find ../../shared/corpus -type f -size -64k ! -name '*.tsv' ! -name '*.md' \
    -exec cp {} corpus/reader/ \;
fi
python3 - <<'PY'
import os, struct
# Index of each link type in LINKS (fuzz_targets/decode.rs).
LINKS = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 147]
n = 0
for root, _, files in os.walk('../fixtures'):
    for name in files:
        data = open(os.path.join(root, name), 'rb').read()
        if len(data) < 24:
            continue
        magic = data[:4]
        if magic in (b'\xd4\xc3\xb2\xa1', b'\x4d\x3c\xb2\xa1'):
            e = '<'
        elif magic in (b'\xa1\xb2\xc3\xd4', b'\xa1\xb2\x3c\x4d'):
            e = '>'
        else:
            continue  # pcapng and non-captures: the reader target covers them
        link = struct.unpack(e + 'I', data[20:24])[0] & 0xffff
        if link not in LINKS:
            continue
        off = 24
        while off + 16 <= len(data):
            incl = struct.unpack(e + 'I', data[off + 8:off + 12])[0]
            frame = data[off + 16:off + 16 + incl]
            off += 16 + incl
            if len(frame) != incl:
                break
            # The link index, "nothing cut", then the frame (parse() in decode.rs).
            seed = bytes([LINKS.index(link), 0]) + frame
            with open('corpus/decode/%s-%d' % (name, off), 'wb') as out:
                out.write(seed)
            n += 1
print('decode seeds:', n)
PY
echo "reader seeds: $(ls corpus/reader | wc -l)"
