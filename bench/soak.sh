#!/usr/bin/env bash
# Soak and load test of `synack capture` (issue 22, docs/live.md "Soak test").
#
#   sudo bench/soak.sh                      # 10 minutes on the default trace
#   SOAK_SECONDS=25 SOAK_TRACE=t.pcap sudo -E bench/soak.sh
#
# The default trace: 500,000 packets of examples/mktrace.rs (seed 1, each packet cut to
# 96 bytes: small frames, the most packets a second), made once.
#
# In a network namespace of its own, a veth pair: tcpreplay sends a trace in a loop
# (--unique-ip: new addresses each loop, so every loop's connections are new ones) into
# one end at the highest rate it reaches (--topspeed, preloaded; or SOAK_PPS packets a
# second), and synack captures on the other end with -w rotating (-C), Parquet records
# rotating with the capture files, and -q (no event lines). At the same time, on the same
# end, `tcpdump -w /dev/null` captures the same packets (SOAK_TCPDUMP=0: not), so that
# both see the same replay at the same rate on the same loaded machine.
#
# Says, and writes as JSON to $SOAK_DIR/summary.json:
#   - resident memory every $SOAK_SAMPLE seconds (rss.tsv), and its range after warm-up
#     (the first third of the run);
#   - packets replayed (tcpreplay), received by the veth end (and dropped there), captured,
#     received by filter and dropped by the kernel (libpcap's counts);
#   - packets in the rotated files (each counted when closed, by a -z command that also
#     deletes it unless the files are kept), which must equal the packets captured;
#   - records in the Parquet files, which must equal the connections the capture saw, and
#     with the files kept (SOAK_KEEP=1, the default for runs of a minute or less) the
#     connections `synack report` finds in them;
#   - tcpdump's captured and dropped at the same time, and whether synack dropped (kernel
#     and ring together) no more than tcpdump (the verdict line; not a failure: a loaded
#     machine decides it).
# Exit 0 when the checks hold, 1 when one fails, 77 when it cannot run here (not root, no
# tcpreplay, no network namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_TO_RUN=${SOAK_SECONDS:-600}
TRACE=${SOAK_TRACE:-target/bench/soak-500k-snap96.pcap}
SYNACK=${SYNACK:-target/release/synack}
DIR=${SOAK_DIR:-target/soak}
SAMPLE=${SOAK_SAMPLE:-5}
# 1: tcpdump -w /dev/null on the same veth end during the whole run; 0: synack alone.
TCPDUMP=${SOAK_TCPDUMP:-1}
# Packets a second for tcpreplay (--pps); empty: --topspeed.
PPS=${SOAK_PPS:-}
MAX_CONNECTIONS=${SOAK_MAX_CONNECTIONS:-100000}
FILE_MB=${SOAK_FILE_MB:-200}
KEEP=${SOAK_KEEP:-$(( SECONDS_TO_RUN <= 60 ? 1 : 0 ))}
# -B for synack and tcpdump alike (KiB; empty: libpcap's default, 2 MiB).
BUFFER_KIB=${SOAK_BUFFER_KIB:-}
BUFFER=()
[ -n "$BUFFER_KIB" ] && BUFFER=(-B "$BUFFER_KIB")

skip() { echo "soak: skipped: $*" >&2; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (network namespace, capture)"
command -v tcpreplay >/dev/null || skip "needs tcpreplay (apt-get install tcpreplay)"
[ "$TCPDUMP" = 0 ] || command -v tcpdump >/dev/null || skip "needs tcpdump"
command -v python3 >/dev/null || skip "needs python3"
if [ ! -s "$TRACE" ] && [ -z "${SOAK_TRACE:-}" ]; then
    cargo build --release --quiet --example mktrace
    mkdir -p "$(dirname "$TRACE")"
    target/release/examples/mktrace --packets 500000 --seed 1 --snaplen 96 --out "$TRACE" >&2
fi
[ -s "$TRACE" ] || { echo "soak: no trace $TRACE" >&2; exit 2; }
[ -x "$SYNACK" ] || { echo "soak: no $SYNACK (cargo build --release)" >&2; exit 2; }
SYNACK=$(realpath "$SYNACK")

NS=synack-soak-$$
TX=sk-tx-$$
RX=sk-rx-$$
ip netns add "$NS" 2>/dev/null || skip "cannot make a network namespace"
cleanup() {
    ip link del "$TX" 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
}
trap cleanup EXIT
ip link add "$TX" type veth peer name "$RX" netns "$NS"
# No IPv6 on the pair: the kernel's own neighbour discovery would add packets that were
# not replayed.
sysctl -qw "net.ipv6.conf.$TX.disable_ipv6=1"
ip netns exec "$NS" sysctl -qw "net.ipv6.conf.$RX.disable_ipv6=1"
ip link set "$TX" up
ip -n "$NS" link set "$RX" up
ip -n "$NS" link set lo up

rm -rf "$DIR"
mkdir -p "$DIR/files"
DIR=$(realpath "$DIR")
# -z: count each closed file's packets into counts.tsv (name, packets, whether the file
# ends on a whole record), then delete the file when SOAK_DELETE_COUNTED=1 (not kept).
# capinfos when there is one (C, several times faster); else Python reads the record
# headers (classic pcap: a 24-byte header, then 16-byte record headers).
cat > "$DIR/count.py" <<'EOF'
import os, struct, sys
path = sys.argv[1]
n = 0
with open(path, "rb") as f:
    head = f.read(24)
    endian = "<" if head[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    size = os.path.getsize(path)
    pos = 24
    while pos + 16 <= size:
        f.seek(pos + 8)
        caplen = struct.unpack(endian + "I", f.read(4))[0]
        pos += 16 + caplen
        n += 1
print(f"{os.path.basename(path)}\t{n}\t{pos == size}")
EOF
cat > "$DIR/count.sh" <<EOF
#!/bin/sh
if command -v capinfos >/dev/null; then
    # capinfos fails on a file cut short.
    if line=\$(capinfos -c -M -T -r "\$1"); then whole=True; else whole=False; fi
    printf '%s\t%s\t%s\n' "\$(basename "\$1")" "\$(echo "\$line" | cut -f2)" "\$whole" \
        >> "$DIR/counts.tsv"
else
    python3 "$DIR/count.py" "\$1" >> "$DIR/counts.tsv"
fi
[ "\${SOAK_DELETE_COUNTED:-0}" = 1 ] && rm -f "\$1"
exit 0
EOF
chmod +x "$DIR/count.sh"
if [ "$KEEP" = 1 ]; then export SOAK_DELETE_COUNTED=0; else export SOAK_DELETE_COUNTED=1; fi

load() { cut -d' ' -f1-3 /proc/loadavg; }
LOAD_START=$(load)

# tcpreplay's figures: "Actual: N packets … sent in S seconds" and "Rated: … P pps".
RATE=(--topspeed)
[ -n "$PPS" ] && RATE=(--pps="$PPS")
replay() { # seconds, output file
    tcpreplay -i "$TX" "${RATE[@]}" --preload-pcap --loop=0 --unique-ip \
        --duration="$1" --no-flow-stats "$TRACE" > "$2" 2>&1 || true
}
listening() { # pid, stderr file
    for _ in $(seq 100); do
        grep -q "listening on" "$2" 2>/dev/null && return 0
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    grep -q "listening on" "$2" 2>/dev/null || { cat "$2" >&2; exit 1; }
}
cpu() { # pid: user and system seconds (clock ticks), the process and its threads
    awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0
}
veth_rx() { # packets dropped (RX of the namespace's end)
    ip -n "$NS" -s -j link show "$RX" | python3 -c \
        'import json,sys; s=json.load(sys.stdin)[0]["stats64"]["rx"]; print(s["packets"], s["dropped"])'
}

echo "soak: $SECONDS_TO_RUN s of $TRACE at ${PPS:-top speed}${PPS:+ packets/s} into synack capture$([ "$TCPDUMP" = 0 ] || echo " and tcpdump") (load $LOAD_START)" >&2
read -r RX0 RXDROP0 < <(veth_rx)
ip netns exec "$NS" "$SYNACK" capture -i "$RX" "${BUFFER[@]}" -q --json \
    -w "$DIR/files/soak.pcap" -C "$FILE_MB" -z "$DIR/count.sh" \
    --records-rotate capture --records-format parquet \
    --max-connections "$MAX_CONNECTIONS" \
    > "$DIR/capture.out" 2> "$DIR/capture.err" &
PID=$!
listening "$PID" "$DIR/capture.err"
TPID=
: > "$DIR/tcpdump.err"
if [ "$TCPDUMP" != 0 ]; then
    ip netns exec "$NS" tcpdump -i "$RX" "${BUFFER[@]}" -w /dev/null > /dev/null 2> "$DIR/tcpdump.err" &
    TPID=$!
    listening "$TPID" "$DIR/tcpdump.err"
fi
sleep 1

START=$(date +%s)
printf 'seconds\trss_kb\tload1\n' > "$DIR/rss.tsv"
(
    while kill -0 "$PID" 2>/dev/null; do
        rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$PID/status" 2>/dev/null || true)
        [ -n "$rss" ] && printf '%s\t%s\t%s\n' $(( $(date +%s) - START )) "$rss" \
            "$(cut -d' ' -f1 /proc/loadavg)" >> "$DIR/rss.tsv"
        sleep "$SAMPLE"
    done
) &
SAMPLER=$!
replay "$SECONDS_TO_RUN" "$DIR/tcpreplay.out"
sleep 2
LOAD_END=$(load)
# Memory while capturing, not while the final report is built.
kill "$SAMPLER" 2>/dev/null || true
wait "$SAMPLER" 2>/dev/null || true
# CPU time while capturing (clock ticks): the capture thread's apart, by its name.
CPU_SYNACK=$(cpu "$PID")
CPU_CAPTURE=0
for t in /proc/"$PID"/task/*; do
    [ "$(cat "$t/comm" 2>/dev/null)" = synack-capture ] && CPU_CAPTURE=$(cpu "$PID/task/${t##*/}")
done
CPU_TCPDUMP=0
if [ -n "$TPID" ]; then
    # tcpdump's own pid is ip netns exec's (it execs).
    CPU_TCPDUMP=$(cpu "$TPID")
    kill -INT "$TPID"
    wait "$TPID" || true
fi
kill -INT "$PID"
wait "$PID" || { echo "soak: synack capture failed" >&2; cat "$DIR/capture.err" >&2; exit 1; }
read -r RX1 RXDROP1 < <(veth_rx)

# With the files kept: what `synack report` finds in them, read together.
REPORTED=null
if [ "$KEEP" = 1 ]; then
    # (report's exit status 1 says what its warnings say: not a failure here.)
    REPORTED=$( ("$SYNACK" report --json "$DIR"/files/soak.pcap[0-9]* "$DIR"/files/soak.pcap 2>/dev/null || true) | python3 -c \
        'import json,sys; r=json.load(sys.stdin); print(r["summary"]["connections"])')
fi
# The records in the Parquet files, read back by pyarrow or DuckDB (neither: null).
cat > "$DIR/records.py" <<'EOF'
import glob, sys
files = sorted(glob.glob(sys.argv[1] + "/*.conn.parquet"))
try:
    import pyarrow.parquet as pq
    print(sum(pq.read_metadata(f).num_rows for f in files))
except ImportError:
    try:
        import duckdb
        print(duckdb.sql(f"select count(*) from read_parquet({files!r})").fetchone()[0])
    except ImportError:
        print("null")
EOF
RECORDS=$(python3 "$DIR/records.py" "$DIR/files")
RECORD_FILES=$(ls "$DIR"/files/*.conn.parquet | wc -l)

python3 - "$DIR" "$SECONDS_TO_RUN" "$LOAD_START" "$LOAD_END" "$RX1" "$RX0" "$RXDROP1" \
    "$RXDROP0" "$RECORDS" "$RECORD_FILES" "$REPORTED" "$TCPDUMP" "$MAX_CONNECTIONS" "$PPS" \
    "$CPU_SYNACK" "$CPU_CAPTURE" "$CPU_TCPDUMP" "$(getconf CLK_TCK)" <<'EOF'
import json, re, sys
(d, seconds, load_start, load_end, rx1, rx0, rxdrop1, rxdrop0, records, record_files,
 reported, tcpdump, max_connections, pps, cpu_synack, cpu_capture, cpu_tcpdump,
 tick) = sys.argv[1:]
cpu = lambda ticks: round(int(ticks) / int(tick), 2)

def replayed(path):
    text = open(path).read()
    sent = re.search(r"Actual: (\d+) packets .* sent in ([\d.]+) seconds", text)
    pps = re.search(r"Rated: .*?([\d.]+) pps", text)
    failed = re.search(r"Failed packets:\s+(\d+)", text)
    if not sent:
        sys.exit(f"soak: no tcpreplay figures in {path}: {text}")
    return {"packets": int(sent.group(1)), "seconds": float(sent.group(2)),
            "pps": float(pps.group(1)) if pps else None,
            "failed": int(failed.group(1)) if failed else 0}

def counts(text, ring=False):
    get = lambda what: int(re.search(r"(\d+) packets " + what, text).group(1))
    c = {"captured": get("captured"), "received_by_filter": get("received by filter"),
         "dropped_by_kernel": get("dropped by kernel")}
    if ring:
        # Read by synack's capture thread, then dropped: its ring was full (null from a
        # synack older than the ring).
        m = re.search(r"(\d+) packets dropped by synack \(capture ring full\)", text)
        c["dropped_ring_full"] = int(m.group(1)) if m else None
    return c

err = open(f"{d}/capture.err").read()
report = json.loads(open(f"{d}/capture.out").read().splitlines()[-1])["report"]
files = [l.split("\t") for l in open(f"{d}/counts.tsv").read().splitlines()]
samples = [l.split("\t") for l in open(f"{d}/rss.tsv").read().splitlines()[1:]]
rss = [(int(t), int(kb)) for t, kb, _ in samples]
loads = [float(l) for _, _, l in samples]
warm = [kb for t, kb in rss if t >= int(seconds) / 3]
s = {
    "seconds": int(seconds),
    "load_average_start": load_start, "load_average_end": load_end,
    "load_average_1min_during": [min(loads), max(loads)] if loads else None,
    "max_connections": int(max_connections),
    "pps_asked": int(pps) if pps else None,
    "replayed": replayed(f"{d}/tcpreplay.out"),
    "veth_received": int(rx1) - int(rx0), "veth_dropped": int(rxdrop1) - int(rxdrop0),
    "synack": counts(err, ring=True),
    "files": len(files),
    "packets_in_files": sum(int(f[1]) for f in files),
    "files_whole": all(f[2] == "True" for f in files),
    "connections_seen": report["summary"]["connections"],
    "evicted": report.get("capture", {}).get("evicted"),
    "records": None if records == "null" else int(records),
    "record_files": int(record_files),
    "connections_in_files": None if reported == "null" else int(reported),
    "rss_kb_first": rss[0][1] if rss else None,
    "rss_kb_after_warmup_min": min(warm) if warm else None,
    "rss_kb_after_warmup_max": max(warm) if warm else None,
    "rss_kb_max": max(kb for _, kb in rss) if rss else None,
    "rss_samples": len(rss),
    "cpu_seconds": {"synack": cpu(cpu_synack), "synack_capture_thread": cpu(cpu_capture),
                    "tcpdump": cpu(cpu_tcpdump) if tcpdump != "0" else None},
    # At the same time, on the same veth end: the same packets at the same rate.
    "tcpdump": counts(open(f"{d}/tcpdump.err").read()) if tcpdump != "0" else None,
}
c = s["synack"]
s["synack"]["dropped"] = c["dropped_by_kernel"] + (c["dropped_ring_full"] or 0)
if s["tcpdump"]:
    s["synack_dropped_no_more_than_tcpdump"] = s["synack"]["dropped"] <= s["tcpdump"]["dropped_by_kernel"]
json.dump(s, open(f"{d}/summary.json", "w"), indent=1)
r, c = s["replayed"], s["synack"]
print(f"replayed   {r['packets']} packets in {r['seconds']:.0f} s ({r['pps']:.0f} pps), {r['failed']} failed to send")
print(f"veth       {s['veth_received']} received, {s['veth_dropped']} dropped")
print(f"synack     {c['captured']} captured, {c['received_by_filter']} received by filter, {c['dropped_by_kernel']} dropped by kernel, {c['dropped_ring_full']} dropped by synack (ring full)")
print(f"files      {s['files']} files, {s['packets_in_files']} packets, each whole: {s['files_whole']}")
print(f"records    {s['records']} in {s['record_files']} Parquet files; {s['connections_seen']} connections seen ({s['evicted']} evicted); in the files: {s['connections_in_files']}")
print(f"rss        first {s['rss_kb_first']} KiB, after warm-up {s['rss_kb_after_warmup_min']}-{s['rss_kb_after_warmup_max']} KiB, max {s['rss_kb_max']} KiB ({s['rss_samples']} samples)")
t = s["tcpdump"]
if t:
    print(f"tcpdump    {t['captured']} captured, {t['received_by_filter']} received by filter, {t['dropped_by_kernel']} dropped by kernel (at the same time, same veth end)")
u = s["cpu_seconds"]
print(f"cpu        synack {u['synack']} s (its capture thread {u['synack_capture_thread']} s), tcpdump {u['tcpdump']} s")
print(f"load       {load_start} at the start, {load_end} at the end, 1-min {s['load_average_1min_during']} during")
if t:
    verdict = "no more than" if s["synack_dropped_no_more_than_tcpdump"] else "MORE than"
    print(f"verdict    synack dropped {c['dropped']} (kernel {c['dropped_by_kernel']} + ring {c['dropped_ring_full']}), {verdict} tcpdump's {t['dropped_by_kernel']}")
ok = (s["packets_in_files"] == c["captured"] and s["files_whole"]
      and s["records"] == s["connections_seen"]
      and s["connections_in_files"] in (None, s["connections_seen"]))
if not ok:
    print("soak: FAILED: the files must hold the packets captured, the records the connections seen")
sys.exit(0 if ok else 1)
EOF
