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

#[test]
fn a_capture_drops_to_nobody_rotates_and_answers_sigusr1() {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        assert!(!in_ci(), "CI=true but not root: -Z cannot be tested");
        eprintln!("skipping -Z test: not root");
        return;
    }
    let Some((uid, gid)) = nobody() else {
        assert!(!in_ci(), "CI=true but no user `nobody`");
        eprintln!("skipping -Z test: no user `nobody`");
        return;
    };
    let dir = std::env::temp_dir().join(format!("synack-livefiles-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // Only nobody may create files here once the capture has dropped root.
    std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
    let mut perms = std::fs::metadata(&dir).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o700);
    std::fs::set_permissions(&dir, perms).unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let w = dir.join("live.pcap");
    let filter = format!("tcp port {port}");
    let Some((child, stderr)) = start_capture(&[
        "-i",
        "lo",
        "-w",
        w.to_str().unwrap(),
        "-C",
        "100k",
        "-Z",
        "nobody",
        "--json",
        &filter,
    ]) else {
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
