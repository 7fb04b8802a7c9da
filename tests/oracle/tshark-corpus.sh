#!/usr/bin/env bash
# tshark-corpus.sh - regenerate the tshark oracle for the capture corpus.
#
# Usage:   bash tests/oracle/tshark-corpus.sh [CORPUS_DIR [OUT_DIR]]
#          CORPUS_DIR defaults to ../shared/corpus, OUT_DIR to the directory
#          holding this script (tests/oracle/).
# Writes:  OUT_DIR/files.tsv, OUT_DIR/streams.tsv, OUT_DIR/handshakes.tsv
# Needs:   tshark + capinfos (generated with TShark 4.0.17, Debian 12), python3.
#          CI does not need any of this: the TSVs are committed.
#
# tshark invocation (exactly one dissection pass per capture):
#   tshark -n -r FILE -o tcp.analyze_sequence_numbers:TRUE \
#          -T fields -E header=n -E separator=/t -E quote=n \
#          -E occurrence=a -E aggregator=, -e <FIELDS below>
#   * Preferences: tcp.analyze_sequence_numbers:TRUE (the default) is given
#     explicitly; everything else is tshark's built-in default, because the
#     run uses an empty personal configuration directory
#     (WIRESHARK_CONFIG_DIR=<empty temp dir>), so no user preferences,
#     disabled protocols or decode-as rules apply. Defaults that matter here:
#     tcp.relative_sequence_numbers TRUE (we only read tcp.seq_raw/ack_raw),
#     tcp.desegment_tcp_streams TRUE, tcp.reassemble_out_of_order FALSE,
#     tcp.track_bytes_in_flight TRUE, tcp.calculate_timestamps TRUE,
#     ip.defragment TRUE, ipv6.defragment TRUE, no -2 (single pass), no
#     display filter. -n only switches off name resolution (no DNS lookups;
#     field values are the same).
#   * occurrence=a: every occurrence of a field is printed, comma-joined.
#     Per frame we use
#       - tcp.*   : the LAST occurrence (innermost TCP header; in this corpus
#                   no frame carries two TCP headers, so first == last);
#       - address : the LAST occurrence of ip.src/ip.dst if the protocol
#                   layer directly below the last "tcp" in frame.protocols is
#                   "ip", of ipv6.src/ipv6.dst if it is "ipv6" (so for a
#                   tunnel the inner header that carries the TCP segment is
#                   used). If neither is found the first present family is
#                   used (never happens in this corpus).
#   * Flag-like expert fields (tcp.analysis.keep_alive, ...) print "1" when
#     present and nothing when absent; we test presence (non-empty).
#
# Every capture in CORPUS_DIR whose name ends in .pcap, .pcapng or .cap is
# processed (MANIFEST.md, manifest.tsv, SHA256SUMS are skipped); tshark runs
# with the corpus directory as working directory and the bare file name, so
# error messages contain only the base name. Output is sorted (files by byte
# order of the name, LC_ALL=C; streams by numeric tcp.stream).
#
# ---------------------------------------------------------------------------
# files.tsv - one row per capture
#   file              capture base name
#   packets           frames tshark dissected (rows printed before any error)
#   tcp_streams       distinct non-empty tcp.stream values
#   tcp_packets       frames whose frame.protocols contains the token "tcp"
#                     (includes frames whose TCP header is cut and get no
#                     tcp.stream)
#   udp_packets       frames whose frame.protocols contains "udp" (an ICMP
#                     error quoting a UDP header counts here AND in icmp)
#   icmp_packets      frames whose frame.protocols contains "icmp" or "icmpv6"
#   syn               TCP frames with SYN set and ACK clear   (flags & 0x12 == 0x02)
#   synack            TCP frames with SYN and ACK set          (flags & 0x12 == 0x12)
#                     NB: manifest.tsv's "syn" column is syn + synack here.
#   rst               TCP frames with RST set (any other flags)
#   fin               TCP frames with FIN set (any other flags)
#   keep_alive        TCP frames carrying tcp.analysis.keep_alive
#   tshark_exit_code  exit status of the tshark run
#   tshark_error      tshark's error message: its stderr lines other than
#                     the 'Running as user "root"' warning, joined with one
#                     space (tshark puts the reason "(pcap: ...)" on a second
#                     line), tabs/CR/LF collapsed; empty if none
#   capinfos_packets  "Number of packets" printed by `capinfos -c -M FILE`
#                     (capinfos prints it even when it exits 1 after a
#                     truncated last record); empty if it printed none
#   capinfos_exit_code exit status of capinfos
#
# streams.tsv - one row per (file, tcp.stream)
#   Packets of the stream in frame order; "a" is the source endpoint of the
#   stream's first packet, "b" its destination. A packet is a_to_b when its
#   (src addr, src port, dst addr, dst port) equals (a, port_a, b, port_b),
#   otherwise b_to_a.
#   file, stream
#   first_frame_time  frame.time_epoch of the stream's first packet (frame
#                     order, NOT minimum time), exactly as tshark prints it
#   last_frame_time   frame.time_epoch of the stream's last packet (frame order)
#   addr_a, port_a, addr_b, port_b
#   packets_a_to_b, packets_b_to_a
#   frame_bytes_a_to_b, frame_bytes_b_to_a      sum of frame.len
#   payload_bytes_a_to_b, payload_bytes_b_to_a  sum of tcp.len (absent = 0)
#   syn               packets with SYN and not ACK
#   synack            packets with SYN and ACK
#   rst_a_to_b, rst_b_to_a, fin_a_to_b, fin_b_to_a   RST / FIN flag set
#   keep_alive        packets with tcp.analysis.keep_alive
#   keep_alive_ack    packets with tcp.analysis.keep_alive_ack
#   zero_window_probe packets with tcp.analysis.zero_window_probe
#   retransmission    packets with tcp.analysis.retransmission
#   fast_retransmission, spurious_retransmission, out_of_order  likewise
#                     (tshark also sets tcp.analysis.retransmission on fast
#                     and spurious retransmissions; columns are independent)
#   initial_rtt       tcp.analysis.initial_rtt as printed (first non-empty
#                     value in the stream; tshark prints one value per
#                     stream); empty if tshark never printed one
#   reused_ports      packets with tcp.analysis.reused_ports
#
# handshakes.tsv - one row per stream that has at least one SYN or SYN/ACK
#   (SYN = SYN set, ACK clear; SYN/ACK = SYN and ACK set; all in frame order
#   within the tcp.stream; times are frame.time_epoch strings)
#   file, stream
#   first_syn_time          first SYN of the stream (empty if none)
#   last_syn_before_synack_time
#                           last SYN whose frame number is lower than the
#                           first SYN/ACK's (either direction; empty if there
#                           is no SYN/ACK or no SYN before it)
#   first_synack_time       first SYN/ACK of the stream (empty if none)
#   handshake_ack_time      first packet after the first SYN/ACK that is
#                           sent by the SYN/ACK's destination endpoint (= the
#                           SYN sender in a normal handshake; in a split
#                           handshake the SYN/ACK goes the other way), has
#                           ACK set, SYN clear, and tcp.ack_raw ==
#                           (SYN/ACK tcp.seq_raw + 1) mod 2^32
#                           (RST/ACK, FIN/ACK, data all qualify); empty if none
#   initial_rtt             tshark's tcp.analysis.initial_rtt (as in streams.tsv)
#   syn_retransmissions     SYNs after the first SYN, sent by the same
#                           endpoint with the same tcp.seq_raw (ISN)
#   synack_retransmissions  SYN/ACKs after the first SYN/ACK, same sender,
#                           same tcp.seq_raw
#   first_syn_frame, first_synack_frame, handshake_ack_frame
#                           frame.number of the packets above (empty if none)
# ---------------------------------------------------------------------------
set -euo pipefail
export LC_ALL=C TZ=UTC

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
corpus=$(cd "${1:-../shared/corpus}" && pwd)
out=$(mkdir -p "${2:-$here}" && cd "${2:-$here}" && pwd)

command -v tshark >/dev/null || { echo "tshark not found" >&2; exit 1; }
command -v capinfos >/dev/null || { echo "capinfos not found" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/wsconf" "$tmp/raw"
export WIRESHARK_CONFIG_DIR="$tmp/wsconf"

FIELDS=(
  frame.number frame.time_epoch frame.len frame.protocols
  ip.src ip.dst ipv6.src ipv6.dst
  tcp.srcport tcp.dstport tcp.stream tcp.flags tcp.len tcp.seq_raw tcp.ack_raw
  tcp.analysis.keep_alive tcp.analysis.keep_alive_ack
  tcp.analysis.zero_window_probe tcp.analysis.retransmission
  tcp.analysis.fast_retransmission tcp.analysis.spurious_retransmission
  tcp.analysis.out_of_order tcp.analysis.initial_rtt tcp.analysis.reused_ports
)
eargs=()
for f in "${FIELDS[@]}"; do eargs+=(-e "$f"); done

tshark --version 2>/dev/null | head -n1 > "$tmp/version"

cd "$corpus"
mapfile -t captures < <(ls -1 | grep -E '\.(pcap|pcapng|cap)$' | sort)
for f in "${captures[@]}"; do
  rc=0
  tshark -n -r "$f" -o tcp.analyze_sequence_numbers:TRUE \
    -T fields -E header=n -E separator=/t -E quote=n \
    -E occurrence=a -E aggregator=, "${eargs[@]}" \
    > "$tmp/raw/$f.fields" 2> "$tmp/raw/$f.stderr" || rc=$?
  echo "$rc" > "$tmp/raw/$f.rc"
  rc=0
  capinfos -c -M "$f" > "$tmp/raw/$f.capinfos" 2>&1 || rc=$?
  echo "$rc" > "$tmp/raw/$f.caprc"
done
printf '%s\n' "${captures[@]}" > "$tmp/list"

python3 - "$tmp" "$out" "${FIELDS[@]}" <<'PY'
import os, re, sys

tmp, out, fields = sys.argv[1], sys.argv[2], sys.argv[3:]
IX = {name: i for i, name in enumerate(fields)}
FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10

def occ(row, name):
    v = row[IX[name]]
    return v.split(',') if v != '' else []

def last(row, name):
    o = occ(row, name)
    return o[-1] if o else ''

def read(path):
    with open(path, encoding='utf-8', errors='replace') as fh:
        return fh.read()

def clean(s):
    return re.sub(r'[\t\r\n]+', ' ', s).strip()

with open(os.path.join(tmp, 'list')) as fh:
    captures = [l.rstrip('\n') for l in fh if l.strip()]

files_rows, stream_rows, hs_rows = [], [], []

for cap in captures:
    base = os.path.join(tmp, 'raw', cap)
    rc = int(read(base + '.rc').strip())
    # the error message proper (tshark prints it over 1-2 lines), joined
    err = clean(' '.join(l for l in read(base + '.stderr').splitlines()
                         if l.strip() and not l.startswith('Running as user')))
    caprc = int(read(base + '.caprc').strip())
    m = re.search(r'Number of packets:\s*(\d+)', read(base + '.capinfos'))
    cap_packets = m.group(1) if m else ''

    packets = tcp_packets = udp_packets = icmp_packets = 0
    n_syn = n_synack = n_rst = n_fin = n_ka = 0
    streams = {}  # stream -> list of packet dicts (frame order)

    for line in read(base + '.fields').split('\n'):
        if line == '':
            continue
        row = line.split('\t')
        if len(row) < len(fields):
            row += [''] * (len(fields) - len(row))
        packets += 1
        protos = row[IX['frame.protocols']].split(':')
        has_tcp = 'tcp' in protos
        if has_tcp:
            tcp_packets += 1
        if 'udp' in protos:
            udp_packets += 1
        if 'icmp' in protos or 'icmpv6' in protos:
            icmp_packets += 1
        if not has_tcp:
            continue
        fl = last(row, 'tcp.flags')
        flags = int(fl, 16) if fl else 0
        ka = last(row, 'tcp.analysis.keep_alive') != ''
        if fl:
            if flags & (SYN | ACK) == SYN: n_syn += 1
            if flags & (SYN | ACK) == SYN | ACK: n_synack += 1
            if flags & RST: n_rst += 1
            if flags & FIN: n_fin += 1
        if ka:
            n_ka += 1
        st = last(row, 'tcp.stream')
        if st == '':
            continue
        # address family of the IP header directly enclosing the last TCP
        ti = len(protos) - 1 - protos[::-1].index('tcp')
        fam = ''
        for p in reversed(protos[:ti]):
            if p in ('ip', 'ipv6'):
                fam = p
                break
        if not fam:
            fam = 'ip' if occ(row, 'ip.src') else 'ipv6'
        pk = {
            'frame': int(row[IX['frame.number']]),
            'time': row[IX['frame.time_epoch']],
            'flen': int(row[IX['frame.len']] or 0),
            'src': last(row, fam + '.src'), 'dst': last(row, fam + '.dst'),
            'sport': last(row, 'tcp.srcport'), 'dport': last(row, 'tcp.dstport'),
            'flags': flags, 'hasflags': fl != '',
            'len': int(last(row, 'tcp.len') or 0),
            'seq': last(row, 'tcp.seq_raw'), 'ack': last(row, 'tcp.ack_raw'),
            'ka': ka,
            'kaack': last(row, 'tcp.analysis.keep_alive_ack') != '',
            'zwp': last(row, 'tcp.analysis.zero_window_probe') != '',
            'rtx': last(row, 'tcp.analysis.retransmission') != '',
            'frtx': last(row, 'tcp.analysis.fast_retransmission') != '',
            'srtx': last(row, 'tcp.analysis.spurious_retransmission') != '',
            'ooo': last(row, 'tcp.analysis.out_of_order') != '',
            'irtt': last(row, 'tcp.analysis.initial_rtt'),
            'reuse': last(row, 'tcp.analysis.reused_ports') != '',
        }
        streams.setdefault(int(st), []).append(pk)

    files_rows.append([cap, packets, len(streams), tcp_packets, udp_packets,
                       icmp_packets, n_syn, n_synack, n_rst, n_fin, n_ka,
                       rc, err, cap_packets, caprc])

    for sid in sorted(streams):
        pkts = streams[sid]
        p0 = pkts[0]
        A = (p0['src'], p0['sport'], p0['dst'], p0['dport'])
        c = {k: 0 for k in ('pab', 'pba', 'fab', 'fba', 'yab', 'yba', 'syn',
                            'synack', 'rab', 'rba', 'nab', 'nba', 'ka',
                            'kaack', 'zwp', 'rtx', 'frtx', 'srtx', 'ooo',
                            'reuse')}
        irtt = ''
        for p in pkts:
            ab = (p['src'], p['sport'], p['dst'], p['dport']) == A
            d = 'ab' if ab else 'ba'
            c['p' + d] += 1
            c['f' + d] += p['flen']
            c['y' + d] += p['len']
            f = p['flags']
            if f & (SYN | ACK) == SYN: c['syn'] += 1
            if f & (SYN | ACK) == SYN | ACK: c['synack'] += 1
            if f & RST: c['r' + d] += 1
            if f & FIN: c['n' + d] += 1
            for k in ('ka', 'kaack', 'zwp', 'rtx', 'frtx', 'srtx', 'ooo', 'reuse'):
                if p[k]: c[k] += 1
            if p['irtt'] and not irtt:
                irtt = p['irtt']
        stream_rows.append([cap, sid, p0['time'], pkts[-1]['time'],
                            A[0], A[1], A[2], A[3],
                            c['pab'], c['pba'], c['fab'], c['fba'],
                            c['yab'], c['yba'], c['syn'], c['synack'],
                            c['rab'], c['rba'], c['nab'], c['nba'],
                            c['ka'], c['kaack'], c['zwp'], c['rtx'],
                            c['frtx'], c['srtx'], c['ooo'], irtt, c['reuse']])

        # handshake
        syns = [p for p in pkts if p['hasflags'] and p['flags'] & (SYN | ACK) == SYN]
        sas = [p for p in pkts if p['hasflags'] and p['flags'] & (SYN | ACK) == SYN | ACK]
        if not syns and not sas:
            continue
        fsyn = syns[0] if syns else None
        fsa = sas[0] if sas else None
        lsyn = None
        hack = None
        if fsa:
            before = [p for p in syns if p['frame'] < fsa['frame']]
            lsyn = before[-1] if before else None
            want = (int(fsa['seq']) + 1) % 2**32 if fsa['seq'] else None
            for p in pkts:
                if p['frame'] <= fsa['frame']:
                    continue
                if (p['src'], p['sport']) != (fsa['dst'], fsa['dport']):
                    continue
                if (p['dst'], p['dport']) != (fsa['src'], fsa['sport']):
                    continue
                if p['flags'] & (SYN | ACK) != ACK:
                    continue
                if want is not None and p['ack'] and int(p['ack']) == want:
                    hack = p
                    break
        def rtx(lst):
            if not lst:
                return 0
            f0 = lst[0]
            return sum(1 for p in lst[1:]
                       if p['seq'] == f0['seq'] and p['src'] == f0['src']
                       and p['sport'] == f0['sport'])
        t = lambda p: p['time'] if p else ''
        n = lambda p: p['frame'] if p else ''
        hs_rows.append([cap, sid, t(fsyn), t(lsyn), t(fsa), t(hack), irtt,
                        rtx(syns), rtx(sas), n(fsyn), n(fsa), n(hack)])

def write(name, header, rows):
    with open(os.path.join(out, name), 'w', encoding='utf-8', newline='\n') as fh:
        fh.write('\t'.join(header) + '\n')
        for r in rows:
            fh.write('\t'.join(str(x) for x in r) + '\n')

write('files.tsv',
      ['file', 'packets', 'tcp_streams', 'tcp_packets', 'udp_packets',
       'icmp_packets', 'syn', 'synack', 'rst', 'fin', 'keep_alive',
       'tshark_exit_code', 'tshark_error', 'capinfos_packets',
       'capinfos_exit_code'], files_rows)
write('streams.tsv',
      ['file', 'stream', 'first_frame_time', 'last_frame_time',
       'addr_a', 'port_a', 'addr_b', 'port_b',
       'packets_a_to_b', 'packets_b_to_a',
       'frame_bytes_a_to_b', 'frame_bytes_b_to_a',
       'payload_bytes_a_to_b', 'payload_bytes_b_to_a',
       'syn', 'synack', 'rst_a_to_b', 'rst_b_to_a', 'fin_a_to_b', 'fin_b_to_a',
       'keep_alive', 'keep_alive_ack', 'zero_window_probe', 'retransmission',
       'fast_retransmission', 'spurious_retransmission', 'out_of_order',
       'initial_rtt', 'reused_ports'], stream_rows)
write('handshakes.tsv',
      ['file', 'stream', 'first_syn_time', 'last_syn_before_synack_time',
       'first_synack_time', 'handshake_ack_time', 'initial_rtt',
       'syn_retransmissions', 'synack_retransmissions',
       'first_syn_frame', 'first_synack_frame', 'handshake_ack_frame'],
      hs_rows)
print('%s: %d files, %d streams, %d handshake rows -> %s'
      % (open(os.path.join(tmp, 'version')).read().strip(),
         len(files_rows), len(stream_rows), len(hs_rows), out), file=sys.stderr)
PY
