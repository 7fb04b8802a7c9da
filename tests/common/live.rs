//! Live captures for the tests: start `synack capture`, wait until it listens (or skip
//! when capture is not permitted here, except under CI=true), stop it with SIGINT.

use std::io::{BufRead, BufReader, Read};
use std::process::Child;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::synack;

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Starts `synack capture` and waits for its "listening on" line. `None` when capture is
/// not permitted here.
pub fn start_capture(args: &[&str]) -> Option<(Child, mpsc::Receiver<String>)> {
    let mut child = synack().arg("capture").args(args).spawn();
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains("listening on") => break,
            Ok(line) if line.contains("no permission") => {
                let _ = child.wait();
                assert!(!in_ci(), "CI=true but capture is not permitted: {line}");
                eprintln!("skipping live capture test: {line}");
                return None;
            }
            Ok(_) => {}
            Err(_) => {
                let _ = child.kill();
                panic!("synack capture did not start listening");
            }
        }
    }
    // Let the kernel ring settle before traffic starts.
    thread::sleep(Duration::from_millis(300));
    Some((child, rx))
}

/// Sends SIGINT and collects stdout and the rest of stderr.
pub fn stop(mut child: Child, stderr: mpsc::Receiver<String>) -> (String, String, i32) {
    thread::sleep(Duration::from_millis(500));
    // SAFETY: plain kill(2) on the child we started.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("read stdout");
    let status = child.wait().expect("wait");
    // Every line, up to the end of the stream: the reading thread may lag behind the exit.
    let err: Vec<String> = stderr.iter().collect();
    (out, err.join("\n"), status.code().unwrap_or(-1))
}
