//! A live capture on loopback that writes rotating files, drops root with `-Z nobody` and
//! answers SIGUSR1: the running process holds no root ids after the drop (read from
//! /proc/PID/status), still captures and rotates into a directory only `nobody` may
//! write, and the files hold exactly the packets captured. Needs root (as CI runs it):
//! skips with a message otherwise, fails under CI=true.

use std::ffi::CString;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::thread;
use std::time::{Duration, Instant};

mod common;
use common::live::{in_ci, start_capture, stop};
use common::{packets_captured, packets_in};

/// `nobody`'s user and group ids.
fn nobody() -> Option<(u32, u32)> {
    let name = CString::new("nobody").unwrap();
    // SAFETY: getpwnam returns null or a pointer to static storage, read at once.
    unsafe {
        let pw = libc::getpwnam(name.as_ptr());
        (!pw.is_null()).then(|| ((*pw).pw_uid, (*pw).pw_gid))
    }
}

/// The ids of a `Uid:`/`Gid:` line of /proc/PID/status (real, effective, saved, fs).
fn ids(pid: u32, line: &str) -> Vec<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(line))
        .map(|rest| {
            rest.split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// A directory only `nobody` may write (so that a capture that has dropped root to it
/// must create its later files as `nobody`), with nobody's user and group ids. `None`
/// (the test skips) when not root or there is no `nobody`; under CI=true that fails.
fn nobodys_dir(test: &str) -> Option<(std::path::PathBuf, u32, u32)> {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        assert!(!in_ci(), "CI=true but not root: -Z cannot be tested");
        eprintln!("skipping {test}: not root");
        return None;
    }
    let Some((uid, gid)) = nobody() else {
        assert!(!in_ci(), "CI=true but no user `nobody`");
        eprintln!("skipping {test}: no user `nobody`");
        return None;
    };
    let dir = std::env::temp_dir().join(format!("synack-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
    let mut perms = std::fs::metadata(&dir).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o700);
    std::fs::set_permissions(&dir, perms).unwrap();
    Some((dir, uid, gid))
}

/// `synack capture` on loopback for `port`, to `DIR/live.pcap` with `extra` (its
/// rotation), dropping to nobody, with NDJSON events.
fn capture_as_nobody(
    dir: &std::path::Path,
    port: u16,
    extra: &[&str],
) -> Option<(std::process::Child, std::sync::mpsc::Receiver<String>)> {
    let w = dir.join("live.pcap");
    let filter = format!("tcp port {port}");
    let mut args = vec![
        "-i",
        "lo",
        "-w",
        w.to_str().unwrap(),
        "-Z",
        "nobody",
        "--json",
    ];
    args.extend(extra);
    args.push(&filter);
    start_capture(&args)
}

#[test]
fn a_capture_drops_to_nobody_rotates_and_answers_sigusr1() {
    let Some((dir, uid, gid)) = nobodys_dir("livefiles") else {
        return;
    };

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let Some((child, stderr)) = capture_as_nobody(&dir, port, &["-C", "100k"]) else {
        return;
    };
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(5);
    while ids(pid, "Uid:") != [uid; 4] && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(ids(pid, "Uid:"), [uid; 4], "user ids after -Z nobody");
    assert_eq!(ids(pid, "Gid:"), [gid; 4], "group ids after -Z nobody");
    assert!(!ids(pid, "Groups:").contains(&0), "still in group root");

    // About 1 MB over loopback: several 100 kB files.
    let server = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut sink = Vec::new();
        s.read_to_end(&mut sink).unwrap();
        sink.len()
    });
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    for _ in 0..64 {
        c.write_all(&[7u8; 16 << 10]).unwrap();
    }
    drop(c);
    assert_eq!(server.join().unwrap(), 64 << 14);
    thread::sleep(Duration::from_millis(500));

    // SAFETY: kill(2) on the child we started.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGUSR1);
    }
    let mut asked = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        match stderr.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                let last = line.ends_with("packets dropped by interface");
                asked.push(line);
                if last {
                    break;
                }
            }
            Err(_) => continue,
        }
    }
    let asked = asked.join("\n");
    assert!(asked.contains("summary: "), "{asked}");
    assert!(asked.contains("1 seen"), "{asked}");
    for part in [
        "packets captured",
        "packets received by filter",
        "packets dropped by kernel",
    ] {
        assert!(asked.contains(part), "no `{part}` after SIGUSR1: {asked}");
    }

    let (out, err, code) = stop(child, stderr);
    assert_eq!(code, 0, "{err}");
    assert!(out
        .lines()
        .last()
        .unwrap_or("")
        .contains("\"event\":\"report\""));
    let n = packets_captured(&err);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 3, "no rotation: {files:?}");
    let mut total = 0;
    for f in &files {
        assert_eq!(
            std::fs::metadata(f).unwrap().uid(),
            uid,
            "{} not nobody's",
            f.display()
        );
        total += packets_in(f);
    }
    assert_eq!(total, n, "the files hold the packets captured");
    // Loopback carries up to 64 KiB a segment: tens of packets, not hundreds.
    assert!(n > 16, "{n} packets");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--records-rotate capture --records-format parquet` live: a Parquet records file
/// beside each rotated capture file, every one complete once closed (the last by
/// SIGINT), given to `-Z nobody` like the capture files; together they hold one row per
/// connection the capture saw and `synack report` finds in the capture files, the
/// connection still open at SIGINT among them as open (Zeek's `S1`).
#[test]
fn parquet_records_rotate_with_the_capture_files_and_sigint_writes_the_open_ones() {
    let Some((dir, uid, _)) = nobodys_dir("liverecords") else {
        return;
    };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Headers only, so that the kernel's ring holds every packet of the bursts; files of
    // about a dozen packets.
    let rotation = ["-s", "128", "-C", "2k", "--records-rotate", "capture"];
    let parquet = ["--records-format", "parquet"];
    let Some((child, stderr)) = capture_as_nobody(&dir, port, &[&rotation[..], &parquet].concat())
    else {
        return;
    };
    // Ten connections of 128 KiB each, closed by both ends; then one left open over
    // SIGINT.
    let server = thread::spawn(move || {
        for _ in 0..10 {
            let (mut s, _) = listener.accept().unwrap();
            let mut sink = Vec::new();
            s.read_to_end(&mut sink).unwrap();
        }
        let (mut s, _) = listener.accept().unwrap();
        let mut sink = vec![0u8; 8 << 14];
        s.read_exact(&mut sink).unwrap();
        s
    });
    for _ in 0..10 {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        for _ in 0..8 {
            c.write_all(&[7u8; 16 << 10]).unwrap();
        }
    }
    let mut open = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let open_port = open.local_addr().unwrap().port();
    for _ in 0..8 {
        open.write_all(&[1u8; 16 << 10]).unwrap();
    }
    let kept = server.join().unwrap();
    thread::sleep(Duration::from_millis(500));

    let (out, err, code) = stop(child, stderr);
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(out.lines().last().unwrap_or("")).unwrap();
    let seen = report["report"]["summary"]["connections"].as_u64().unwrap();
    assert_eq!(seen, 11, "{err}\n{}", report["report"]["summary"]);
    drop((open, kept));

    let mut captures = Vec::new();
    let mut records = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.to_string_lossy().ends_with(".conn.parquet") {
            records.push(p);
        } else {
            captures.push(p);
        }
    }
    captures.sort();
    records.sort();
    assert!(captures.len() >= 3, "no rotation: {captures:?}");
    let beside: Vec<_> = captures
        .iter()
        .map(|c| std::path::PathBuf::from(format!("{}.conn.parquet", c.display())))
        .collect();
    assert_eq!(records, beside);
    let mut rows = Vec::new();
    for r in &records {
        assert_eq!(std::fs::metadata(r).unwrap().uid(), uid, "{}", r.display());
        rows.extend(common::parquet_rows::rows(r));
    }
    assert_eq!(rows.len() as u64, seen, "one record per connection seen");
    let found = common::synack()
        .args(["report", "--json"])
        .args(&captures)
        .output();
    found.success();
    assert_eq!(found.json()["summary"]["connections"].as_u64(), Some(seen));
    // ts uid id_orig_h id_orig_p id_resp_h id_resp_p proto service duration orig_bytes
    // resp_bytes conn_state…
    let states: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            let cells: Vec<&str> = r.split('\t').collect();
            (cells[3].to_string(), cells[11].to_string())
        })
        .collect();
    let open_state = states
        .iter()
        .find(|(p, _)| *p == open_port.to_string())
        .map(|(_, s)| s.as_str());
    assert_eq!(open_state, Some("S1"), "{states:?}");
    assert_eq!(
        states.iter().filter(|(_, s)| s == "SF").count(),
        10,
        "{states:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
