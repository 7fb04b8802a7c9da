#!/usr/bin/env python3
"""A passive classifier written from the rules docs/metrics.md ("Ground truth") states,
run over the truth captures alone and compared with their truth logs: evidence that the
truth's `retransmissions`, `out_of_order` and `network_duplicates` are what an observer
at each capture point can know, not only what the link knew.

    contrib/truth/observe.py fixtures/truth     # exit status 1 if any figure differs

Rules, per sender, over segments that occupy sequence space:
- the same sequence number, length, flags, IP ID and TSval as a segment already seen:
  a network duplicate;
- in sequence (at or above the highest sequence number seen): an original;
- every byte already seen here: a resend;
- else newer than at least one segment of higher sequence number already seen (TSval,
  and the IP ID when the TSvals are equal or absent): a resend; older than all of them:
  a late original.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mktruth as m  # noqa: E402


def id_newer(a, b):
    # IP IDs are 16-bit serial numbers.
    return a != b and (a - b) % 65536 < 32768


def classify(segments, isn, use_timestamps):
    counts = dict(retransmissions=0, out_of_order=0, network_duplicates=0)
    identities = set()
    above_candidates = []  # (rel seq, tsval, ip id) of seen segments, SYNs excepted
    covered = []
    top = 0
    for s in segments:
        space = m.seq_space(s)
        key = (s["seq"], s["len"], s["flags"], s["ip_id"], s["tsval"])
        if key in identities:
            counts["network_duplicates"] += bool(space)
            continue
        identities.add(key)
        if not space:
            continue
        rel = (s["seq"] - isn) % 2**32
        if rel < top:
            if not m.uncovered((rel, rel + space), covered):
                counts["retransmissions"] += 1
            else:
                def sent_after(other):
                    if use_timestamps and s["tsval"] != other[1]:
                        return s["tsval"] > other[1]
                    return id_newer(s["ip_id"], other[2])

                if any(sent_after(o) for o in above_candidates if o[0] > rel):
                    counts["retransmissions"] += 1
                else:
                    counts["out_of_order"] += 1
        covered.append((rel, rel + space))
        if not s["flags"] & m.SYN:
            # The SYN/ACK's IP ID is 0, outside the connection's count.
            above_candidates.append((rel, s["tsval"], s["ip_id"]))
        top = max(top, rel + space)
    return counts


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    fixture_dir = sys.argv[1]
    differ = 0
    for name in m.SCENARIOS:
        with open(os.path.join(fixture_dir, f"{name}.truth.json")) as f:
            truth = json.load(f)
        use_ts = truth["ordering_evidence"] == "timestamps"
        for point in ("client", "server"):
            frames = m.read_pcap(os.path.join(fixture_dir, truth["at"][point]["file"]))
            for side, ip in (("client", m.CLIENT_IP), ("server", m.SERVER_IP)):
                got = classify([s for s in frames if s["src"] == ip], truth["connection"][f"{side}_isn"], use_ts)
                want = {k: truth["at"][point][side][k] for k in got}
                mark = "" if got == want else "   <-- differs"
                differ += got != want
                print(f"{name:18} at {point:6} {side:6} truth {want} observer {got}{mark}")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
