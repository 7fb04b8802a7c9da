//! Live capture with libpcap: the only module that opens network interfaces. A thread of
//! its own reads packets into the capture ring (`ring.rs`), whose batches hand out the same
//! `Packet` views as the file source, so everything downstream is shared.

use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::capture::ring::RingWriter;
use crate::model::link::LinkType;
use crate::model::time::Timestamp;

/// How to open an interface, as tcpdump's options say it.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    pub interface: String,
    /// BPF filter expression, empty for none.
    pub filter: String,
    pub snaplen: i32,
    /// Kernel buffer size in KiB (tcpdump -B).
    pub buffer_kib: Option<i32>,
    pub promiscuous: bool,
    pub immediate: bool,
}

/// Why a capture could not start. Callers tell these apart to say how to fix them.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("no permission to capture on {interface}: {message}\n  run as root, or give the binary the capabilities: sudo setcap cap_net_raw,cap_net_admin=eip {binary}")]
    Permission {
        interface: String,
        message: String,
        binary: String,
    },
    #[error("no such interface '{interface}'; available: {available}")]
    NoSuchInterface {
        interface: String,
        available: String,
    },
    #[error("bad filter '{filter}': {message}")]
    BadFilter { filter: String, message: String },
    #[error("cannot capture on {interface}: {message}")]
    Other { interface: String, message: String },
}

/// Counts libpcap keeps, as tcpdump prints them at the end, and synack's own drops.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct LiveStats {
    pub received_by_filter: u64,
    pub dropped_by_kernel: u64,
    pub dropped_by_interface: u64,
    /// Read from libpcap, then dropped because the capture ring was full: the analysis
    /// fell behind by more than the ring holds.
    pub dropped_ring_full: u64,
}

/// How long the reading thread waits in poll(2) for packets before it looks whether it
/// was asked to stop.
const POLL_LIMIT: Duration = Duration::from_millis(100);
/// How often the reading thread reads libpcap's counts for the analysis thread (which
/// says when drops grow, once a second).
const STATS_EVERY: Duration = Duration::from_millis(100);
/// Packets between two looks at the clock for `STATS_EVERY` under load.
const STATS_CHECK_PACKETS: u32 = 1024;

pub struct LiveSource {
    capture: pcap::Capture<pcap::Active>,
    link_type: LinkType,
    nanosecond: bool,
}

/// Names and descriptions of the interfaces libpcap can open (tcpdump -D).
pub fn list_interfaces() -> Result<Vec<(String, Option<String>)>, String> {
    pcap::Device::list()
        .map(|devs| devs.into_iter().map(|d| (d.name, d.desc)).collect())
        .map_err(|e| e.to_string())
}

fn interface_names() -> String {
    match list_interfaces() {
        Ok(list) if !list.is_empty() => list
            .into_iter()
            .map(|(n, _)| n)
            .collect::<Vec<_>>()
            .join(", "),
        Ok(_) => "none".to_string(),
        Err(e) => format!("cannot list interfaces: {e}"),
    }
}

impl LiveSource {
    pub fn open(opts: &LiveOptions) -> Result<LiveSource, LiveError> {
        let classify = |e: pcap::Error| {
            let message = e.to_string();
            let lower = message.to_lowercase();
            if lower.contains("permission") || lower.contains("not permitted") {
                LiveError::Permission {
                    interface: opts.interface.clone(),
                    message,
                    binary: std::env::current_exe()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|_| "synack".to_string()),
                }
            } else if lower.contains("no such device") || lower.contains("doesn't exist") {
                LiveError::NoSuchInterface {
                    interface: opts.interface.clone(),
                    available: interface_names(),
                }
            } else {
                LiveError::Other {
                    interface: opts.interface.clone(),
                    message,
                }
            }
        };
        let open = |nanosecond: bool| {
            let mut inactive = pcap::Capture::from_device(opts.interface.as_str())
                .map_err(classify)?
                .snaplen(opts.snaplen)
                .promisc(opts.promiscuous)
                .immediate_mode(opts.immediate)
                // A read timeout lets the loop notice Ctrl-C and --duration when idle.
                .timeout(100);
            if let Some(kib) = opts.buffer_kib {
                inactive = inactive.buffer_size(kib.saturating_mul(1024));
            }
            if nanosecond {
                inactive = inactive.precision(pcap::Precision::Nano);
            }
            inactive.open().map_err(classify)
        };
        // Nanosecond timestamps where the platform has them; microseconds otherwise.
        let (mut capture, nanosecond) = match open(true) {
            Ok(c) => (c, true),
            Err(LiveError::Other { .. }) => (open(false)?, false),
            Err(e) => return Err(e),
        };
        if !opts.filter.trim().is_empty() {
            capture
                .filter(&opts.filter, true)
                .map_err(|e| LiveError::BadFilter {
                    filter: opts.filter.clone(),
                    message: e.to_string(),
                })?;
        }
        let link_type = LinkType(capture.get_datalink().0 as u16);
        // Non-blocking reads plus our own poll: with Linux's TPACKET_V3 ring a blocking
        // read never times out while no packet arrives, and Ctrl-C would go unnoticed.
        let capture = capture.setnonblock().map_err(|e| LiveError::Other {
            interface: opts.interface.clone(),
            message: e.to_string(),
        })?;
        Ok(LiveSource {
            capture,
            link_type,
            nanosecond,
        })
    }

    pub fn link_type(&self) -> LinkType {
        self.link_type
    }

    /// Starts the thread that reads this source into `ring` (and does nothing else, so
    /// that a stall of the analysis is absorbed by the ring, not by the kernel's buffer),
    /// until the ring's reader asks it to stop or libpcap fails.
    pub fn spawn_reader(self, ring: RingWriter) -> std::io::Result<CaptureThread> {
        let stats = Arc::new(Mutex::new(None));
        let shared = stats.clone();
        let handle = std::thread::Builder::new()
            .name("synack-capture".to_string())
            .spawn(move || self.read_into(ring, &shared))?;
        Ok(CaptureThread { handle, stats })
    }

    fn read_into(
        mut self,
        mut ring: RingWriter,
        shared: &Mutex<Option<LiveStats>>,
    ) -> (Option<String>, Option<LiveStats>) {
        let mut error = None;
        let mut stats_read = Instant::now();
        let mut unchecked = 0u32;
        let nanosecond = self.nanosecond;
        let publish_stats = |source: &mut LiveSource, ring: &RingWriter| {
            let stats = source.stats(ring.dropped());
            *shared.lock().unwrap_or_else(|e| e.into_inner()) = stats;
            stats
        };
        while !ring.stop_requested() {
            match self.capture.next_packet() {
                Ok(p) => {
                    let ts = timestamp(&p.header.ts, nanosecond);
                    ring.push(ts, p.header.len, p.data);
                    // The clock read every so many packets only.
                    unchecked += 1;
                    if unchecked >= STATS_CHECK_PACKETS {
                        unchecked = 0;
                        if stats_read.elapsed() >= STATS_EVERY {
                            publish_stats(&mut self, &ring);
                            stats_read = Instant::now();
                        }
                    }
                }
                Err(pcap::Error::TimeoutExpired) => {
                    // Nothing more for now: what was read goes to the analysis, unless
                    // it is still busy with earlier batches.
                    ring.idle();
                    if stats_read.elapsed() >= STATS_EVERY {
                        publish_stats(&mut self, &ring);
                        stats_read = Instant::now();
                    }
                    self.wait_readable(POLL_LIMIT);
                }
                Err(e) => {
                    error = Some(e.to_string());
                    break;
                }
            }
        }
        ring.publish();
        let stats = publish_stats(&mut self, &ring);
        (error, stats)
    }

    /// Waits until the capture has packets or `limit` passes (or a signal arrives).
    fn wait_readable(&self, limit: Duration) {
        let mut fd = libc::pollfd {
            fd: self.capture.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd that outlives the call. An error (EINTR) just
        // returns early, which is what the caller wants.
        unsafe {
            libc::poll(&mut fd, 1, limit.as_millis() as libc::c_int);
        }
    }

    fn stats(&mut self, dropped_ring_full: u64) -> Option<LiveStats> {
        self.capture.stats().ok().map(|s| LiveStats {
            received_by_filter: u64::from(s.received),
            dropped_by_kernel: u64::from(s.dropped),
            dropped_by_interface: u64::from(s.if_dropped),
            dropped_ring_full,
        })
    }
}

/// libpcap's time of a packet (`tv_usec` holds nanoseconds when `nanosecond`).
fn timestamp(ts: &libc::timeval, nanosecond: bool) -> Timestamp {
    // time_t and suseconds_t are 32-bit on some targets.
    #[allow(clippy::useless_conversion)]
    let secs = i64::from(ts.tv_sec);
    #[allow(clippy::useless_conversion)]
    let frac = i64::from(ts.tv_usec);
    let nanos = if nanosecond { frac } else { frac * 1000 };
    Timestamp::from_secs_nanos(secs, nanos)
}

/// A live capture's reading thread (`LiveSource::spawn_reader`).
pub struct CaptureThread {
    handle: std::thread::JoinHandle<(Option<String>, Option<LiveStats>)>,
    /// The counts as the thread last read them (every `STATS_EVERY` at most).
    stats: Arc<Mutex<Option<LiveStats>>>,
}

impl CaptureThread {
    /// The counts as of at most `STATS_EVERY` ago.
    pub fn stats(&self) -> Option<LiveStats> {
        *self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for the thread (stopped by the ring's reader): what ended its reading, if
    /// not the stop, and the final counts.
    pub fn join(self) -> (Option<String>, Option<LiveStats>) {
        self.handle
            .join()
            .unwrap_or_else(|_| (Some("the capture thread panicked".to_string()), None))
    }
}
