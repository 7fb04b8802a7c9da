#!/usr/bin/env python3
"""Ground truth for synack's retransmission / reordering / loss figures.

Real Linux TCP between two network namespaces, joined by a userspace forwarder
between two TAP devices (tc netem is not needed). The forwarder drops, delays,
reorders and duplicates frames from a seeded random generator and logs what it
did to each one; tcpdump captures inside the client's and the server's
namespace. From the log this script works out what a passive observer at each
capture point should count, and writes, per scenario:

    NAME.at-client.pcap   capture in the client's namespace
    NAME.at-server.pcap   capture in the server's namespace
    NAME.truth.json       what the link did and what each capture point should show

Needs root, ip(8), tcpdump and a kernel with TUN/TAP and network namespaces.
Traffic never leaves the namespaces it creates (truth20-c, -s, -l), which are
deleted afterwards. See contrib/truth/README.md for the definitions.

    sudo contrib/truth/mktruth.py fixtures/truth            # every scenario
    sudo contrib/truth/mktruth.py fixtures/truth loss3-ts-sack   # one
    contrib/truth/mktruth.py --table fixtures/truth   # the docs' truth-vs-tshark table
"""

import fcntl
import heapq
import json
import os
import random
import select
import signal
import socket
import struct
import subprocess
import sys
import time

NS_CLIENT, NS_SERVER, NS_LINK = "truth20-c", "truth20-s", "truth20-l"
TAP_CLIENT, TAP_SERVER = "tap-c", "tap-s"
CLIENT_IP, SERVER_IP = "10.20.0.1", "10.20.0.2"
CLIENT_MAC, SERVER_MAC = "02:00:0a:14:00:01", "02:00:0a:14:00:02"
SERVER_PORT = 5001
# Big enough for Ethernet + IPv4 + the longest TCP header (60 bytes): every
# header survives, the payload does not, so each capture stays small.
SNAPLEN = 96
ONE_WAY_DELAY_MS = 10.0

# Each scenario: sysctls of both hosts, and the link's impairments (the same
# both ways, each way drawing from its own generator). Reordering holds a frame
# back by reorder_ms so that the frames behind it pass it; a duplicate is
# delivered again dup_ms after the first copy.
SCENARIOS = {
    "loss1-ts-sack": dict(ts=1, sack=1, loss=0.01),
    "loss3-ts-sack": dict(ts=1, sack=1, loss=0.03),
    "loss5-ts-nosack": dict(ts=1, sack=0, loss=0.05),
    "loss3-nots-sack": dict(ts=0, sack=1, loss=0.03),
    "loss3-nots-nosack": dict(ts=0, sack=0, loss=0.03),
    "reorder-ts": dict(ts=1, sack=1, loss=0.01, reorder=0.03),
    "reorder-nots": dict(ts=0, sack=1, loss=0.01, reorder=0.03),
    "dup-ts": dict(ts=1, sack=1, loss=0.01, dup=0.02),
    "mixed-nots-nosack": dict(ts=0, sack=0, loss=0.02, reorder=0.02, dup=0.01),
}
# Bytes the client uploads, then the server sends back, in one connection.
UPLOAD, DOWNLOAD = 250_000, 600_000


# ---------------------------------------------------------------------------
# Frame parsing (Ethernet / IPv4 / TCP), shared by the forwarder and the
# capture reader.
# ---------------------------------------------------------------------------

def parse_tcp(frame):
    """The identifying fields of a TCP/IPv4 frame, or None for anything else."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00":
        return None
    ip = frame[14:]
    ihl = (ip[0] & 15) * 4
    if ip[9] != 6 or len(ip) < ihl + 20:
        return None
    total_len = struct.unpack("!H", ip[2:4])[0]
    ip_id = struct.unpack("!H", ip[4:6])[0]
    src = socket.inet_ntoa(ip[12:16])
    tcp = ip[ihl:]
    sport, dport, seq, ack = struct.unpack("!HHII", tcp[:12])
    doff = (tcp[12] >> 4) * 4
    flags = tcp[13]
    tsval = tsecr = None
    sack_blocks = 0
    opts = tcp[20:doff]
    i = 0
    while i < len(opts):
        kind = opts[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if i + 1 >= len(opts) or opts[i + 1] < 2:
            break
        olen = opts[i + 1]
        if kind == 8 and olen == 10:
            tsval, tsecr = struct.unpack("!II", opts[i + 2:i + 10])
        elif kind == 5:
            sack_blocks = (olen - 2) // 8
        i += olen
    return dict(
        src=src, sport=sport, dport=dport, seq=seq, ack=ack,
        len=total_len - ihl - doff, flags=flags, ip_id=ip_id,
        tsval=tsval, tsecr=tsecr, sack_blocks=sack_blocks,
    )


def identity(seg):
    # IP ID and TSval tell a resend from its original, and a network
    # duplicate carries both unchanged.
    return (seg["src"], seg["seq"], seg["len"], seg["flags"], seg["ip_id"], seg["tsval"])


# ---------------------------------------------------------------------------
# The forwarder (runs inside NS_LINK)
# ---------------------------------------------------------------------------

TUNSETIFF = 0x400454CA
IFF_TAP, IFF_NO_PI = 0x0002, 0x1000


def open_tap(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    return fd


def forward(config_json, log_path):
    cfg = json.loads(config_json)
    fds = {TAP_CLIENT: open_tap(TAP_CLIENT), TAP_SERVER: open_tap(TAP_SERVER)}
    subprocess.run(["ip", "link", "set", TAP_CLIENT, "netns", NS_CLIENT], check=True)
    subprocess.run(["ip", "link", "set", TAP_SERVER, "netns", NS_SERVER], check=True)
    # The other end of each direction, and a generator per direction so that
    # one direction's traffic does not shift the other's draws.
    out_of = {fds[TAP_CLIENT]: fds[TAP_SERVER], fds[TAP_SERVER]: fds[TAP_CLIENT]}
    direction = {fds[TAP_CLIENT]: "c2s", fds[TAP_SERVER]: "s2c"}
    rng = {"c2s": random.Random(cfg["seed"] * 2), "s2c": random.Random(cfg["seed"] * 2 + 1)}
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    print("ready", flush=True)

    delay = ONE_WAY_DELAY_MS / 1000.0
    pending = []  # (due monotonic, order, out fd, frame, log entry)
    order = 0
    log = []
    while not stop:
        timeout = max(0.0, pending[0][0] - time.monotonic()) if pending else 0.2
        try:
            ready, _, _ = select.select(list(out_of), [], [], timeout)
        except InterruptedError:
            continue
        now = time.monotonic()
        for fd in ready:
            frame = os.read(fd, 65536)
            seg = parse_tcp(frame)
            if seg is None:
                # Nothing but TCP is impaired or logged (no ARP or IPv6 is
                # expected: neighbours are static and IPv6 is off).
                heapq.heappush(pending, (now + delay, order, out_of[fd], frame, None))
                order += 1
                continue
            d = direction[fd]
            r = rng[d]
            entry = dict(seg, dir=d, sent=time.time(), action="deliver", delivered=[])
            log.append(entry)
            # Always draw all three so one impairment's rate does not shift
            # the others' sequence.
            u_loss, u_reorder, u_dup = r.random(), r.random(), r.random()
            if u_loss < cfg.get("loss", 0):
                entry["action"] = "drop"
                continue
            due = now + delay
            if u_reorder < cfg.get("reorder", 0):
                entry["action"] = "reorder"
                due += cfg.get("reorder_ms", 4.0) / 1000.0
            heapq.heappush(pending, (due, order, out_of[fd], frame, entry))
            order += 1
            if u_dup < cfg.get("dup", 0):
                entry["action"] = "duplicate" if entry["action"] == "deliver" else "reorder+duplicate"
                heapq.heappush(pending, (due + cfg.get("dup_ms", 0.5) / 1000.0, order, out_of[fd], frame, entry))
                order += 1
        now = time.monotonic()
        while pending and pending[0][0] <= now:
            _, _, fd, frame, entry = heapq.heappop(pending)
            os.write(fd, frame)
            if entry is not None:
                entry["delivered"].append(time.time())
    with open(log_path, "w") as f:
        json.dump(log, f)


# ---------------------------------------------------------------------------
# Orchestration
# ---------------------------------------------------------------------------

def sh(*args, check=True, **kw):
    return subprocess.run(list(args), check=check, **kw)


def in_ns(ns, *args, **kw):
    return sh("ip", "netns", "exec", ns, *args, **kw)


def cleanup():
    for ns in (NS_CLIENT, NS_SERVER, NS_LINK):
        sh("ip", "netns", "del", ns, check=False, stderr=subprocess.DEVNULL)


def snmp_counters(ns):
    """The namespace's TCP MIB (/proc/net/snmp Tcp:, /proc/net/netstat TcpExt:)."""
    out = {}
    for path, prefix in (("/proc/net/snmp", "Tcp:"), ("/proc/net/netstat", "TcpExt:")):
        lines = [l.split() for l in in_ns(ns, "cat", path, capture_output=True, text=True).stdout.splitlines()]
        rows = [l for l in lines if l and l[0] == prefix]
        for names, values in zip(rows[0::2], rows[1::2]):
            for n, v in zip(names[1:], values[1:]):
                out[prefix.rstrip(":") + n] = int(v)
    return out


KERNEL_COUNTERS = [
    "TcpOutSegs", "TcpRetransSegs", "TcpExtTCPFastRetrans", "TcpExtTCPSlowStartRetrans",
    "TcpExtTCPLossProbes", "TcpExtTCPLossProbeRecovery", "TcpExtTCPTimeouts", "TcpExtTCPSynRetrans",
    "TcpExtTCPSpuriousRTOs", "TcpExtTCPLostRetransmit", "TcpExtTCPDSACKRecv", "TcpExtTCPDSACKOldSent",
    "TcpExtTCPDSACKOfoSent", "TcpExtTCPSACKReorder", "TcpExtTCPTSReorder", "TcpExtTCPRenoReorder",
    "TcpExtTCPDSACKIgnoredNoUndo", "TcpExtTCPSackRecovery", "TcpExtTCPRenoRecovery",
]

# The applications, run with `python3 -c` inside each namespace. Each prints
# its socket's tcpi_total_retrans (struct tcp_info, u32 at offset 100) just
# before closing.
SERVER_APP = r"""
import socket, struct, sys
up, down = int(sys.argv[1]), int(sys.argv[2])
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("%s", %d)); l.listen(1); print("listening", flush=True)
c, _ = l.accept(); got = 0
while got < up:
    b = c.recv(65536)
    if not b: sys.exit("short upload")
    got += len(b)
c.sendall(bytes(i %% 251 for i in range(down)))
c.shutdown(socket.SHUT_WR)
while c.recv(65536): pass
info = c.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
print(struct.unpack_from("I", info, 100)[0]); c.close()
""" % (SERVER_IP, SERVER_PORT)

CLIENT_APP = r"""
import socket, struct, sys
up, down = int(sys.argv[1]), int(sys.argv[2])
c = socket.create_connection(("%s", %d))
c.sendall(bytes(i %% 241 for i in range(up))); got = 0
while True:
    b = c.recv(65536)
    if not b: break
    got += len(b)
if got != down: sys.exit("short download %%d" %% got)
info = c.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
print(struct.unpack_from("I", info, 100)[0]); c.close()
""" % (SERVER_IP, SERVER_PORT)


def wait_line(proc, want, stream):
    line = getattr(proc, stream).readline()
    if want not in line:
        raise SystemExit(f"expected {want!r}, got {line!r}")


def run_scenario(name, cfg, out_dir, seed):
    cleanup()
    for ns in (NS_CLIENT, NS_SERVER, NS_LINK):
        sh("ip", "netns", "add", ns)
    for ns, ip, peer_ip, peer_mac, tap in (
        (NS_CLIENT, CLIENT_IP, SERVER_IP, SERVER_MAC, TAP_CLIENT),
        (NS_SERVER, SERVER_IP, CLIENT_IP, CLIENT_MAC, TAP_SERVER),
    ):
        for key, value in (
            ("net.ipv6.conf.all.disable_ipv6", 1), ("net.ipv6.conf.default.disable_ipv6", 1),
            ("net.ipv4.tcp_timestamps", cfg["ts"]), ("net.ipv4.tcp_sack", cfg["sack"]),
            ("net.ipv4.tcp_no_metrics_save", 1),
        ):
            in_ns(ns, "sysctl", "-qw", f"{key}={value}")
    link_cfg = dict(cfg, seed=seed)
    log_path = os.path.join(out_dir, f".{name}.link.json")
    fwd = subprocess.Popen(
        ["ip", "netns", "exec", NS_LINK, sys.executable, os.path.abspath(__file__),
         "_forward", json.dumps(link_cfg), log_path],
        stdout=subprocess.PIPE, text=True)
    wait_line(fwd, "ready", "stdout")
    for ns, ip, peer_ip, peer_mac, mac, tap in (
        (NS_CLIENT, CLIENT_IP, SERVER_IP, SERVER_MAC, CLIENT_MAC, TAP_CLIENT),
        (NS_SERVER, SERVER_IP, CLIENT_IP, CLIENT_MAC, SERVER_MAC, TAP_SERVER),
    ):
        in_ns(ns, "ip", "link", "set", tap, "address", mac)
        in_ns(ns, "ip", "addr", "add", f"{ip}/24", "dev", tap)
        in_ns(ns, "ip", "link", "set", tap, "up")
        in_ns(ns, "ip", "neigh", "replace", peer_ip, "lladdr", peer_mac, "dev", tap, "nud", "permanent")
    pcaps = {}
    dumps = []
    for point, ns, tap in (("client", NS_CLIENT, TAP_CLIENT), ("server", NS_SERVER, TAP_SERVER)):
        pcaps[point] = os.path.join(out_dir, f"{name}.at-{point}.pcap")
        p = subprocess.Popen(
            ["ip", "netns", "exec", ns, "tcpdump", "-i", tap, "-s", str(SNAPLEN), "-U", "-n",
             "-w", pcaps[point], "tcp"],
            stderr=subprocess.PIPE, text=True)
        wait_line(p, "listening on", "stderr")
        dumps.append(p)
    before = {p: snmp_counters(ns) for p, ns in (("client", NS_CLIENT), ("server", NS_SERVER))}
    server = subprocess.Popen(
        ["ip", "netns", "exec", NS_SERVER, sys.executable, "-c", SERVER_APP, str(UPLOAD), str(DOWNLOAD)],
        stdout=subprocess.PIPE, text=True)
    wait_line(server, "listening", "stdout")
    client = subprocess.run(
        ["ip", "netns", "exec", NS_CLIENT, sys.executable, "-c", CLIENT_APP, str(UPLOAD), str(DOWNLOAD)],
        capture_output=True, text=True, timeout=120)
    if client.returncode != 0:
        raise SystemExit(f"{name}: client failed: {client.stderr}")
    server_out, _ = server.communicate(timeout=60)
    # Let the last FIN's ACK (and any resend of it) cross the link.
    time.sleep(1.5)
    after = {p: snmp_counters(ns) for p, ns in (("client", NS_CLIENT), ("server", NS_SERVER))}
    for p in dumps:
        p.send_signal(signal.SIGINT)
        p.wait(timeout=10)
    fwd.send_signal(signal.SIGTERM)
    fwd.wait(timeout=10)
    with open(log_path) as f:
        log = json.load(f)
    os.unlink(log_path)
    kernel = {
        side: {
            "tcpi_total_retrans_before_close": int(out.strip().splitlines()[-1]),
            **{k: after[side].get(k, 0) - before[side].get(k, 0) for k in KERNEL_COUNTERS},
        }
        for side, out in (("client", client.stdout), ("server", server_out))
    }
    cleanup()
    truth = make_truth(name, cfg, seed, log, kernel, pcaps)
    for side in ("client", "server"):
        # The link saw every segment each host sent, so its count of resends
        # must be the kernel's own.
        if truth["sent_by"][side]["retransmissions"] != kernel[side]["TcpRetransSegs"]:
            raise SystemExit(f"{name}: the {side} resent {truth['sent_by'][side]['retransmissions']} segments "
                             f"by the link's log, {kernel[side]['TcpRetransSegs']} by its kernel")
    with open(os.path.join(out_dir, f"{name}.truth.json"), "w") as f:
        json.dump(truth, f, indent=1, sort_keys=False)
        f.write("\n")
    return truth


# ---------------------------------------------------------------------------
# Truth: what each capture point should show
# ---------------------------------------------------------------------------

SYN, FIN, RST = 0x02, 0x01, 0x04


def seq_space(seg):
    return seg["len"] + (1 if seg["flags"] & SYN else 0) + (1 if seg["flags"] & FIN else 0)


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    nano = magic in (0xA1B23C4D, 0x4D3CB2A1)
    off, out = 24, []
    while off + 16 <= len(data):
        sec, frac, incl, _orig = struct.unpack(endian + "IIII", data[off:off + 16])
        frame = data[off + 16:off + 16 + incl]
        off += 16 + incl
        seg = parse_tcp(frame)
        if seg is not None:
            seg["time"] = sec + frac / (1e9 if nano else 1e6)
            out.append(seg)
    return out


def make_truth(name, cfg, seed, log, kernel, pcaps):
    sender_of = {CLIENT_IP: "client", SERVER_IP: "server"}
    # Per sender: every segment it emitted, in order (the forwarder sits right
    # after it, so it saw them all), marked original or retransmission by
    # whether it starts below the highest sequence number already sent.
    isn = {}
    for e in log:
        if e["flags"] & SYN:
            isn.setdefault(e["src"], e["seq"])
    highest = {}
    for e in log:
        e["rel"] = (e["seq"] - isn[e["src"]]) % 2**32
        space = seq_space(e)
        e["space"] = space
        top = highest.get(e["src"], 0)
        e["retransmission"] = space > 0 and e["rel"] < top
        highest[e["src"]] = max(top, e["rel"] + space)
    # When each sequence byte range first reached the receiver (per sender:
    # a list of (start, end, time)), to tell spurious resends.
    first_arrival = {}
    for e in log:
        if e["delivered"] and e["space"]:
            first_arrival.setdefault(e["src"], []).append((e["rel"], e["rel"] + e["space"], min(e["delivered"])))

    def all_arrived_before(e, t):
        """Had every byte of e reached the receiver before time t?"""
        need = [(e["rel"], e["rel"] + e["space"])]
        for s, end, at in sorted(first_arrival.get(e["src"], [])):
            if at >= t:
                continue
            need = [piece for a, b in need for piece in ((a, min(b, s)), (max(a, end), b)) if piece[0] < piece[1]]
            if not need:
                return True
        return not need

    for e in log:
        if e["retransmission"]:
            t = min(e["delivered"]) if e["delivered"] else e["sent"]
            e["spurious"] = all_arrived_before(e, t)

    def dropped_upstream(resend):
        """Did the link drop an earlier sending of any of this resend's bytes?"""
        lo, hi = resend["rel"], resend["rel"] + resend["space"]
        return any(e["src"] == resend["src"] and e["action"] == "drop" and e["space"] and e["sent"] < resend["sent"]
                   and e["rel"] < hi and lo < e["rel"] + e["space"] for e in log)

    # What each capture point saw, matched to the log by identity; a frame
    # seen twice at one point is a network duplicate.
    by_identity = {}
    for e in log:
        by_identity.setdefault(identity(e), []).append(e)
    points = {}
    for point, path in pcaps.items():
        seen = read_pcap(path)
        local_ip = CLIENT_IP if point == "client" else SERVER_IP
        counts = {
            side: dict(retransmissions=0, out_of_order=0, network_duplicates=0, spurious_retransmissions=0,
                       lost_before_capture=0, lost_after_capture=0, segments=0, pure_ack_duplicates=0,
                       pure_acks_lost_before_capture=0, retransmissions_in_sequence=0)
            for side in ("client", "server")
        }
        copies = {}
        covered = {}  # per sender: byte ranges seen here so far
        top_seen = {}
        unmatched = 0
        for s in seen:
            entries = by_identity.get(identity(s))
            if not entries:
                unmatched += 1
                continue
            e = entries[0]
            side = sender_of[e["src"]]
            c = counts[side]
            c["segments"] += 1
            n = copies.get(id(e), 0)
            copies[id(e)] = n + 1
            if n > 0:
                if e["space"]:
                    c["network_duplicates"] += 1
                else:
                    c["pure_ack_duplicates"] += 1
                continue
            if not e["space"]:
                continue
            rng_ = (e["rel"], e["rel"] + e["space"])
            ranges = covered.setdefault(e["src"], [])
            new_bytes = uncovered(rng_, ranges)
            out_of_sequence = e["rel"] < top_seen.get(e["src"], 0)
            if e["retransmission"] and not out_of_sequence:
                # Its earlier sendings, and everything sent after them, were
                # lost upstream: here it looks like an original, and no
                # observer can tell it from one.
                c["retransmissions_in_sequence"] += 1
            elif e["retransmission"]:
                c["retransmissions"] += 1
                if e["spurious"]:
                    c["spurious_retransmissions"] += 1
                if new_bytes and dropped_upstream(e):
                    # It fills a gap here that a drop upstream of this point
                    # left (not one a late original has yet to fill).
                    c["lost_before_capture"] += 1
            elif out_of_sequence:
                c["out_of_order"] += 1
            ranges.append(rng_)
            top_seen[e["src"]] = max(top_seen.get(e["src"], 0), rng_[1])
        # Frames that left this host and then were dropped by the link.
        for e in log:
            if e["src"] == local_ip and e["action"] == "drop" and e["space"]:
                counts[sender_of[e["src"]]]["lost_after_capture"] += 1
            if e["src"] != local_ip and e["action"] == "drop" and not e["space"]:
                counts[sender_of[e["src"]]]["pure_acks_lost_before_capture"] += 1
        expected = sum(1 for e in log if e["src"] == local_ip) + sum(
            len(e["delivered"]) for e in log if e["src"] != local_ip)
        if unmatched or len(seen) != expected:
            raise SystemExit(f"{name}: capture at {point}: {len(seen)} TCP frames, {unmatched} not in the link log, "
                             f"{expected} expected")
        points[point] = dict(file=os.path.basename(path), frames=len(seen), **counts)

    def events(src):
        out = []
        for e in log:
            if e["src"] != src or (e["action"] == "deliver" and not e["retransmission"]):
                continue
            ev = dict(seq=e["seq"], rel_seq=e["rel"], len=e["len"], flags=flag_names(e["flags"]),
                      ip_id=e["ip_id"], tsval=e["tsval"], sent=round(e["sent"], 6), action=e["action"],
                      delivered=[round(t, 6) for t in e["delivered"]])
            if e["retransmission"]:
                ev["retransmission"] = True
                ev["spurious"] = e["spurious"]
            out.append(ev)
        return out

    directions = {}
    for side, src in (("client", CLIENT_IP), ("server", SERVER_IP)):
        mine = [e for e in log if e["src"] == src]
        directions[side] = dict(
            sent=len(mine),
            sent_with_sequence_space=sum(1 for e in mine if e["space"]),
            retransmissions=sum(1 for e in mine if e["retransmission"]),
            spurious_retransmissions=sum(1 for e in mine if e["retransmission"] and e["spurious"]),
            dropped=sum(1 for e in mine if e["action"] == "drop"),
            dropped_with_sequence_space=sum(1 for e in mine if e["action"] == "drop" and e["space"]),
            reordered=sum(1 for e in mine if e["action"].startswith("reorder")),
            duplicated=sum(1 for e in mine if "duplicate" in e["action"]),
            events=events(src),
        )
    def one_way_delays(src):
        # Frames the link neither held back nor dropped: the path's own delay,
        # forwarder scheduling included (the floor of any RTT sample).
        d = sorted((min(e["delivered"]) - e["sent"]) * 1000 for e in log
                   if e["src"] == src and e["action"] in ("deliver", "duplicate"))
        return dict(min=round(d[0], 3), median=round(d[len(d) // 2], 3), max=round(d[-1], 3))

    conn = dict(
        client=f"{CLIENT_IP}:{next(e['sport'] for e in log if e['src'] == CLIENT_IP)}",
        server=f"{SERVER_IP}:{SERVER_PORT}",
        client_isn=isn[CLIENT_IP], server_isn=isn[SERVER_IP],
    )
    return dict(
        scenario=name,
        made_by="contrib/truth/mktruth.py",
        kernel_release=os.uname().release,
        hosts=dict(tcp_timestamps=cfg["ts"], tcp_sack=cfg["sack"]),
        # What tells a resend from a late original when both ends run Linux:
        # TSval when timestamps are on, else the per-connection IP ID.
        ordering_evidence="timestamps" if cfg["ts"] else "ip_id",
        link=dict(one_way_delay_ms=ONE_WAY_DELAY_MS,
                  measured_one_way_delay_ms=dict(client_to_server=one_way_delays(CLIENT_IP),
                                                 server_to_client=one_way_delays(SERVER_IP)), loss=cfg.get("loss", 0), reorder=cfg.get("reorder", 0),
                  reorder_ms=cfg.get("reorder_ms", 4.0) if cfg.get("reorder") else 0,
                  dup=cfg.get("dup", 0), dup_ms=cfg.get("dup_ms", 0.5) if cfg.get("dup") else 0, seed=seed),
        transfer=dict(upload=UPLOAD, download=DOWNLOAD),
        connection=conn,
        kernel=kernel,
        sent_by=directions,
        at=points,
    )


def uncovered(rng_, ranges):
    need = [rng_]
    for s, end in ranges:
        need = [p for a, b in need for p in ((a, min(b, s)), (max(a, end), b)) if p[0] < p[1]]
        if not need:
            return False
    return True


def flag_names(flags):
    return "".join(n for bit, n in ((SYN, "S"), (FIN, "F"), (RST, "R"), (0x08, "P"), (0x10, ".")) if flags & bit)


def tshark_counts(path):
    """tshark's retransmission / out-of-order / previous-segment-lost flags per sender."""
    out = subprocess.run(
        ["tshark", "-r", path, "-Y",
         "tcp.analysis.retransmission or tcp.analysis.out_of_order or tcp.analysis.lost_segment",
         "-T", "fields", "-e", "ip.src", "-e", "tcp.analysis.retransmission",
         "-e", "tcp.analysis.out_of_order", "-e", "tcp.analysis.lost_segment"],
        capture_output=True, text=True, check=True).stdout
    counts = {"client": [0, 0, 0], "server": [0, 0, 0]}
    for line in out.splitlines():
        fields = line.split("\t")
        side = "client" if fields[0] == CLIENT_IP else "server"
        for i in range(3):
            counts[side][i] += bool(fields[i + 1])
    return counts


def table(fixture_dir):
    """The markdown table of docs/metrics.md's "Ground truth": truth beside tshark."""
    print("| fixture | capture at | sender | resent (truth) | tshark retransmissions | "
          "reordered (truth) | tshark out-of-order | network duplicates (truth) | "
          "lost before capture (truth) | tshark previous segment not captured |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in SCENARIOS:
        path = os.path.join(fixture_dir, f"{name}.truth.json")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            truth = json.load(f)
        for point in ("client", "server"):
            shark = tshark_counts(os.path.join(fixture_dir, truth["at"][point]["file"]))
            for side in ("client", "server"):
                t = truth["at"][point][side]
                r, o, l = shark[side]
                print(f"| `{name}` | {point} | {side} | {t['retransmissions']} | {r} | {t['out_of_order']} | {o} | "
                      f"{t['network_duplicates']} | {t['lost_before_capture']} | {l} |")


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "_forward":
        forward(sys.argv[2], sys.argv[3])
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--table":
        table(sys.argv[2])
        return
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out_dir = sys.argv[1]
    names = sys.argv[2:] or list(SCENARIOS)
    os.makedirs(out_dir, exist_ok=True)
    try:
        for i, name in enumerate(SCENARIOS):
            if name not in names:
                continue
            t = run_scenario(name, SCENARIOS[name], out_dir, seed=2000 + i)
            k = t["kernel"]
            print(f"{name}: client resent {t['sent_by']['client']['retransmissions']} "
                  f"(kernel {k['client']['TcpRetransSegs']}), server resent "
                  f"{t['sent_by']['server']['retransmissions']} (kernel {k['server']['TcpRetransSegs']}); "
                  f"frames at client {t['at']['client']['frames']}, at server {t['at']['server']['frames']}")
    finally:
        cleanup()


if __name__ == "__main__":
    main()
