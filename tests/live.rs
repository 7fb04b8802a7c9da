//! Live capture on the loopback interface: real connections made with std sockets, seen
//! by `synack capture`, stopped with SIGINT. Traffic goes only to 127.0.0.1, on ports this
//! test owns. Without permission to capture the test says so and skips, except under
//! CI=true, where it must run.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::thread;
use std::time::Duration;

mod common;
use common::live::{in_ci, start_capture, stop};
use common::synack;

fn keepalive(stream: &TcpStream, idle_s: i32, interval_s: i32) {
    let fd = stream.as_raw_fd();
    let set = |level, name, value: i32| {
        // SAFETY: setsockopt with a pointer to a live i32 and its size.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                level,
                name,
                (&value as *const i32).cast(),
                std::mem::size_of::<i32>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "setsockopt");
    };
    set(libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1);
    set(libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, idle_s);
    set(libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, interval_s);
}

fn abort_on_close(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt with a pointer to a live linger struct and its size.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_LINGER");
}

/// A port nothing listens on: bound once, then released.
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn events(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

fn count(events: &[serde_json::Value], name: &str, field: &str, value: &str) -> usize {
    events
        .iter()
        .filter(|e| e["event"] == name && (field.is_empty() || e[field] == value))
        .count()
}

#[test]
fn live_capture_on_loopback_sees_every_kind_of_close() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let refused_port = closed_port();
    let pcap_path = std::env::temp_dir().join(format!("synack-live-{}.pcap", std::process::id()));
    let filter = format!("tcp port {port} or tcp port {refused_port}");
    let pcap_arg = pcap_path.display().to_string();
    let Some((child, stderr)) = start_capture(&[
        "-i",
        "lo",
        "--json",
        "--immediate-mode",
        "-w",
        &pcap_arg,
        &filter,
    ]) else {
        return;
    };

    // 1. The client closes first.
    let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let (mut s, _) = listener.accept().expect("accept");
    c.write_all(b"ping").expect("write");
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).expect("read");
    c.shutdown(Shutdown::Both).expect("shutdown");
    thread::sleep(Duration::from_millis(50));
    drop(s);
    drop(c);

    // 2. The server closes first.
    let c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let (s, _) = listener.accept().expect("accept");
    s.shutdown(Shutdown::Both).expect("shutdown");
    thread::sleep(Duration::from_millis(50));
    drop(c);
    drop(s);

    // 3. Refused: nothing listens on that port.
    assert!(TcpStream::connect(("127.0.0.1", refused_port)).is_err());

    // 4. Abortive close: SO_LINGER 0 sends a RST.
    let c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let (s, _) = listener.accept().expect("accept");
    abort_on_close(&c);
    drop(c);
    thread::sleep(Duration::from_millis(50));
    drop(s);

    // 5. Keep-alive every second after one idle second.
    let c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let (s, _) = listener.accept().expect("accept");
    keepalive(&c, 1, 1);
    thread::sleep(Duration::from_millis(3500));
    drop(c);
    thread::sleep(Duration::from_millis(50));
    drop(s);

    let (out, err, code) = stop(child, stderr);
    assert_eq!(code, 0, "stderr: {err}");
    let ev = events(&out);
    let report_line = ev.last().expect("a final report line");
    assert_eq!(report_line["event"], "report", "{out}");
    let report = &report_line["report"];

    assert_eq!(count(&ev, "handshake_completed", "", ""), 4, "{out}");
    assert_eq!(count(&ev, "refused", "", ""), 1, "{out}");
    assert_eq!(count(&ev, "reset", "by", "client"), 1, "{out}");
    assert_eq!(count(&ev, "time_wait", "side", "client"), 2, "{out}");
    assert_eq!(count(&ev, "time_wait", "side", "server"), 1, "{out}");
    let probes = count(&ev, "keepalive_probe", "by", "client");
    assert!((2..=4).contains(&probes), "{probes} probes: {out}");
    assert_eq!(count(&ev, "keepalive_ack", "by", "server"), probes, "{out}");

    let s = &report["summary"];
    assert_eq!(s["connections"], 5);
    assert_eq!(s["closes"]["fin"], 3);
    assert_eq!(s["closes"]["refused"], 1);
    assert_eq!(s["closes"]["reset"], 1);
    assert_eq!(s["rst"]["from_client"], 1);
    assert_eq!(s["rst"]["answering_syn"], 1);
    assert_eq!(s["time_wait"]["client"], 2);
    assert_eq!(s["time_wait"]["server"], 1);
    assert_eq!(s["keepalive"]["unanswered"], 0);
    assert_eq!(s["handshakes"]["completed"], 4);
    let captured = report["capture"]["packets_captured"]
        .as_u64()
        .expect("packets_captured");
    assert!(
        err.contains(&format!("{captured} packets captured")),
        "{err}"
    );
    assert!(err.contains("packets dropped by kernel"), "{err}");

    // The -w file opens and holds the same packets.
    assert_file_holds(&pcap_path, captured, 5);
}

/// The -w file reads back with `packets` packets and `connections` connections (then is
/// removed).
fn assert_file_holds(pcap_path: &std::path::Path, packets: u64, connections: u64) {
    let reread = synack()
        .args(["report", "--format", "json"])
        .arg(pcap_path)
        .output();
    reread.success();
    let j: serde_json::Value = serde_json::from_slice(&reread.stdout).expect("JSON");
    assert_eq!(j["packets"]["total"], packets);
    assert_eq!(j["summary"]["connections"], connections);
    let _ = std::fs::remove_file(pcap_path);
}

#[test]
fn unknown_interface_lists_the_available_ones() {
    let out = synack()
        .args(["capture", "-i", "synack-no-such-if0"])
        .output();
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("no permission") {
        assert!(!in_ci(), "CI=true but capture is not permitted: {err}");
        eprintln!("skipping: {err}");
        return;
    }
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("no such interface 'synack-no-such-if0'"),
        "{err}"
    );
    assert!(
        err.contains("lo"),
        "the list names the loopback interface: {err}"
    );
}

#[test]
fn bad_live_filter_shows_the_filter_and_libpcap_message() {
    let out = synack()
        .args(["capture", "-i", "lo", "tcp", "port"])
        .output();
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("no permission") {
        assert!(!in_ci(), "CI=true but capture is not permitted: {err}");
        return;
    }
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("bad filter 'tcp port'"), "{err}");
}

#[test]
fn replaying_a_file_prints_its_events() {
    let out = synack()
        .args(["capture", "--utc", "-r"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/sample.pcap"))
        .output();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(
        "00:00:08.000900 #4 10.0.0.2:51003 > 10.0.0.1:8081: refused: the server answered the SYN with RST"
    ));
    assert!(text.contains(
        "00:00:01.001260 #1 10.0.0.2:51001 > 10.0.0.1:80: handshake completed, rtt 1.260 ms"
    ));
    assert!(text.contains("#1 10.0.0.2:51001 > 10.0.0.1:80: client enters TIME_WAIT"));
    assert!(text.contains("#7 10.0.0.2:51006 > 10.0.0.1:9000: reset by server in ESTABLISHED"));
    assert_eq!(text.matches("keep-alive ACK from server").count(), 3);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("79 packets captured"), "{err}");
}

#[test]
fn verbose_lines_carry_segments_and_state_changes() {
    let out = synack()
        .args(["capture", "--utc", "-v", "-r"])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/tcp/close-client.pcap"
        ))
        .output();
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().expect("a line");
    assert!(first.contains("Flags [S], seq 0, win"), "{first}");
    assert!(first.contains("[client CLOSED → SYN_SENT]"), "{first}");
    assert!(text.contains("[client FIN_WAIT_2 → TIME_WAIT]"), "{text}");
}

/// The analysis falls behind: its standard output is not read until the end, so the pipe
/// fills and each event line waits, while the reading thread goes on filling the capture
/// ring. SIGINT then stops the reading, and every packet read is still analysed, written
/// and reported (a loop that stopped at the signal would leave most connections unseen).
#[test]
fn a_backlog_in_the_capture_ring_is_analysed_after_sigint() {
    const CONNECTIONS: u64 = 500;
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let pcap_path =
        std::env::temp_dir().join(format!("synack-backlog-{}.pcap", std::process::id()));
    let pcap_arg = pcap_path.display().to_string();
    let filter = format!("tcp port {port}");
    // Small frames in a large kernel buffer: whatever the machine's load, the kernel
    // keeps every packet until the reading thread takes it, so all are read.
    let Some((child, stderr)) = start_capture(&[
        "-i", "lo", "--json", "-v", "-s", "128", "-B", "65536", "-w", &pcap_arg, &filter,
    ]) else {
        return;
    };
    for _ in 0..CONNECTIONS {
        let c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let (s, _) = listener.accept().expect("accept");
        drop(c);
        drop(s);
    }
    let (out, err, code) = stop(child, stderr);
    assert_eq!(code, 0, "stderr: {err}");
    let ev = events(&out);
    let (report_line, lines) = ev.split_last().expect("a final report line");
    // Far more event lines than the pipe (64 KiB) and the printer's buffer (8 KiB) hold:
    // most were written after the signal, as the backlog was analysed.
    let event_bytes: usize = out.lines().rev().skip(1).map(|l| l.len() + 1).sum();
    assert!(
        event_bytes > 2 * (72 << 10),
        "{event_bytes} bytes of events"
    );
    assert!(!lines.is_empty());
    let report = &report_line["report"];
    assert_eq!(report["summary"]["connections"], CONNECTIONS, "{err}");
    assert_eq!(report["summary"]["handshakes"]["completed"], CONNECTIONS);
    assert_eq!(report["capture"]["dropped_by_kernel"], 0, "{err}");
    assert_eq!(report["capture"]["dropped_ring_full"], 0, "{err}");
    let captured = report["capture"]["packets_captured"]
        .as_u64()
        .expect("packets_captured");
    assert!(captured >= 6 * CONNECTIONS, "{captured} packets");
    assert!(
        err.contains(&format!("{captured} packets captured")),
        "{err}"
    );
    assert!(
        err.contains("0 packets dropped by synack (capture ring full)"),
        "{err}"
    );
    assert_file_holds(&pcap_path, captured, CONNECTIONS);
}
