//! The flow table: groups TCP segments into connections keyed by the bidirectional
//! 5-tuple, decides which side is the client, and starts a new connection when a SYN
//! reuses a 4-tuple (as tshark's tcp.stream does).

pub mod make_record;

use std::cell::Cell;
use std::mem::MaybeUninit;
use std::time::Duration;

use hashbrown::HashTable;

use crate::app::detector::AppDetector;
use crate::decode::key::FlowKey;
use crate::decode::TcpSegment;
use crate::model::connection_record::RoleBasis;
use crate::model::event::{Event, EventSink};
use crate::model::state::Side;
use crate::model::time::Timestamp;
use crate::store::dormant::Dormant;
use crate::tcp::connection::Connection;
use crate::tcp::tracker::{Quiet, TcpTracker};
use crate::tcp::zeek_observer::ZeekObserver;

impl FlowKey {
    /// A well-mixed 64-bit hash, also used to pick a shard in the parallel reader.
    #[inline]
    pub fn hash_with(&self, keys: &FlowHasher) -> u64 {
        let k = &keys.0;
        let (lo, hi) = (self.lo_ip, self.hi_ip);
        let a = fold(lo as u64 ^ k[0], (lo >> 64) as u64 ^ k[1]);
        let b = fold(hi as u64 ^ k[2], (hi >> 64) as u64 ^ k[3]);
        let ports = u64::from(self.lo_port) << 16 | u64::from(self.hi_port);
        let mixed = fold(a ^ ports ^ k[4], b ^ k[5]);
        // Without this last round, keys that differ only in their ports (one busy server)
        // fell unevenly on the shard bits for one random key in ten.
        fold(mixed ^ k[6], k[7])
    }
}

/// Random keys for `FlowKey::hash_with`, so that crafted 4-tuples cannot aim at one
/// bucket (or one shard). A key is five words, and hashing it as a `Hash` (a write per
/// field through a general hasher) was 7% of a run; this is four multiplications.
#[derive(Clone, Debug)]
pub struct FlowHasher([u64; 8]);

impl FlowHasher {
    pub fn new() -> FlowHasher {
        let seed = ahash::RandomState::new();
        // Odd, so never zero: a zero key would multiply a word of the key away.
        FlowHasher(std::array::from_fn(|i| seed.hash_one(i) | 1))
    }
}

impl Default for FlowHasher {
    fn default() -> Self {
        FlowHasher::new()
    }
}

/// The folded multiply of wyhash and foldhash: the full 128-bit product of two words,
/// its halves xored, mixes every input bit into every output bit.
#[inline]
fn fold(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    product as u64 ^ (product >> 64) as u64
}

/// How many connections ahead a loop that encodes or decodes them asks for their bytes.
const DORMANT_AHEAD: usize = 4;

/// Quiet time after which a connection goes dormant. Short, because waking is cheap and
/// rare: measured on the benchmark trace, 5 s cost 10% more memory and gained no speed.
pub const DORMANT_AFTER: Duration = Duration::from_secs(1);
// A dormant connection does not keep what its evidence forgets after a quiet
// `RECENT_FOR` (crate::store::tracker_form), which must then come first.
const _: () = assert!(crate::tcp::evidence::RECENT_FOR.as_nanos() <= DORMANT_AFTER.as_nanos());
/// Connection boxes kept for reuse: connections start, doze off and wake by the
/// thousand a second on a busy link, and a reused box saves a malloc and a free each
/// (about 3% of a run). At most this many (under 1 MiB).
const SPARE_BOXES: usize = 1024;

/// How many connections ahead `evict` loads a dormant one's header.
const EVICT_AHEAD: usize = 8;
/// `evict` keeps its list for the next time up to this many entries (24 bytes each).
const KEEP_BY_IDLE: usize = 1 << 20;

/// A connection as `evict` ranks it: by last packet, then id (unique, so the order is
/// total and the eighth evicted is the same whatever the table's order), and where it is:
/// its bucket, shifted left once, plus 1 if in the dormant table.
#[derive(Clone, Copy, Debug)]
struct Idle {
    last_seen: Timestamp,
    id: u64,
    place: u64,
}

impl Idle {
    fn of(last_seen: Timestamp, id: u64, bucket: usize, dormant: bool) -> Idle {
        Idle {
            last_seen,
            id,
            place: (bucket as u64) << 1 | u64::from(dormant),
        }
    }

    fn order(&self) -> (Timestamp, u64) {
        (self.last_seen, self.id)
    }
}

/// Connections in progress and finished.
pub struct FlowTable {
    /// Boxed: the table's spare capacity then costs a pointer per slot, not a connection.
    active: HashTable<Box<Connection>>,
    dormant: HashTable<Dormant>,
    /// Reused to encode connections going dormant.
    scratch: Vec<u8>,
    /// Reused to gather the connections going dormant in a sweep.
    #[allow(
        clippy::vec_box,
        reason = "the boxes come from the table and go after encoding: unboxing would copy"
    )]
    sleepy: Vec<Box<Connection>>,
    #[allow(clippy::vec_box, reason = "empty boxes for reuse (`SPARE_BOXES`)")]
    spare: Vec<Box<Connection>>,
    hasher: FlowHasher,
    finished: Vec<Connection>,
    /// Connections dropped by `evict`, as they were (whole or dormant), until
    /// `take_evicted` hands them out.
    #[allow(
        clippy::vec_box,
        reason = "the boxes come from the table, and go back to `spare`"
    )]
    evicted_awake: Vec<Box<Connection>>,
    evicted_dormant: Vec<Dormant>,
    /// Reused by `evict`.
    by_idle: Vec<Idle>,
    next_id: u64,
    /// Packets seen, to number each connection's first packet.
    packets: u64,
    /// Maximum segment lifetime; TIME_WAIT lasts 2·MSL (RFC 9293 §3.4.2).
    msl: Duration,
    limits: Limits,
    /// What `limits` and `msl` make of "over", worked out once, not per packet.
    expiry: Expiry,
    /// Header prediction in the trackers and the Zeek view (off only to test it against
    /// the general path).
    predict: bool,
    /// The Zeek view leaves bad-checksum segments out, as Zeek does without `-C`.
    zeek_checksums: bool,
    /// Connections retired because they closed or idled out.
    pub retired: u64,
    /// Connections dropped to stay under `Limits::max_connections`.
    pub evicted: u64,
}

/// What bounds the table in a long run (live capture, or a file with endless flows).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Let go of a connection with no packet for this long (Zeek's tcp_inactivity_timeout
    /// is 5 min). `None` keeps idle connections to the end (offline reports).
    pub idle_timeout: Option<Duration>,
    /// Let go of a closed connection once its close has played out (2·MSL after its last
    /// packet); a later segment on its 4-tuple then starts a new connection. `false` keeps
    /// it to the end, as tshark's tcp.stream does (offline reports).
    pub retire_closed: bool,
    /// Let go of an established or half-closed connection with no packet for this long;
    /// `idle_timeout` then applies only to those never synchronized, those whose peer
    /// answers no keep-alive, and closed ones. `None`: `idle_timeout` applies to all.
    pub established_timeout: Option<Duration>,
    /// Most connections tracked at once; beyond it the longest-idle are evicted.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            idle_timeout: None,
            retire_closed: false,
            established_timeout: None,
            max_connections: usize::MAX,
        }
    }
}

/// Events of one segment, buffered so the sink can see the connection they belong to
/// without a per-packet allocation, and without writing the whole array per packet (an
/// array of `Option`s cost 30 instructions a packet to set to `None`).
struct EventBuf {
    items: [MaybeUninit<Event>; 24],
    len: usize,
}

impl EventBuf {
    fn new() -> Self {
        EventBuf {
            items: [const { MaybeUninit::uninit() }; 24],
            len: 0,
        }
    }
    fn push(&mut self, e: Event) {
        // A segment causes at most a handful of events; the bound is generous.
        if let Some(slot) = self.items.get_mut(self.len) {
            slot.write(e);
            self.len += 1;
        }
    }
    fn iter(&self) -> impl Iterator<Item = Event> + '_ {
        // SAFETY: `push` wrote the first `len` items (and `Event` is `Copy`: nothing to
        // drop).
        self.items[..self.len]
            .iter()
            .map(|e| unsafe { e.assume_init() })
    }
}

/// When a connection is over though no packet said so (`FlowTable::retire`, and
/// `on_hashed_segment` for a packet of a connection that is over).
/// Times in nanoseconds, `NEVER` for none: two integers to compare per packet.
#[derive(Clone, Copy)]
struct Expiry {
    closed_after: i64,
    idle_after: i64,
    /// For a synchronized connection (`Quiet::Synchronized`), instead of `idle_after`.
    established_after: i64,
    /// The least of the three: a connection quiet for less is never over.
    soonest: i64,
}

impl Expiry {
    const NEVER: i64 = i64::MAX;

    fn of(limits: &Limits, msl: Duration) -> Expiry {
        let nanos = |d: Duration| i64::try_from(d.as_nanos()).unwrap_or(Self::NEVER);
        let closed_after = if limits.retire_closed {
            nanos(msl * 2)
        } else {
            Self::NEVER
        };
        let idle_after = limits.idle_timeout.map_or(Self::NEVER, nanos);
        let established_after = limits.established_timeout.map_or(idle_after, nanos);
        Expiry {
            closed_after,
            idle_after,
            established_after,
            soonest: closed_after.min(idle_after).min(established_after),
        }
    }

    /// Whether anything can expire: offline, nothing does.
    #[inline]
    fn applies(self) -> bool {
        self.soonest != Self::NEVER
    }

    /// `quiet` is asked only when it matters (it reads several of the connection's cache
    /// lines).
    #[inline]
    fn over(self, quiet: impl FnOnce() -> Quiet, last_seen: Timestamp, at: Timestamp) -> bool {
        if !self.applies() {
            return false;
        }
        // As `Timestamp::reached`: a backwards step is no time at all.
        let silent = at.as_nanos().saturating_sub(last_seen.as_nanos()).max(0);
        if silent < self.soonest {
            return false;
        }
        let past = |after: i64| after != Self::NEVER && silent >= after;
        match quiet() {
            Quiet::Closed => past(self.closed_after) || past(self.idle_after),
            Quiet::Synchronized => past(self.established_after),
            Quiet::Opening | Quiet::PeerDead => past(self.idle_after),
        }
    }
}

impl FlowTable {
    pub fn new(msl: Duration) -> Self {
        // Random keys: crafted 4-tuples cannot aim at one bucket.
        Self::with_hasher(msl, FlowHasher::new())
    }

    /// A table hashing keys with `hasher` (shared by the tables of several shards, so
    /// that one hash both picks a packet's shard and finds its connection).
    pub fn with_hasher(msl: Duration, hasher: FlowHasher) -> Self {
        FlowTable {
            active: HashTable::new(),
            dormant: HashTable::new(),
            scratch: Vec::new(),
            sleepy: Vec::new(),
            spare: Vec::new(),
            hasher,
            finished: Vec::new(),
            evicted_awake: Vec::new(),
            evicted_dormant: Vec::new(),
            by_idle: Vec::new(),
            next_id: 1,
            packets: 0,
            msl,
            limits: Limits::default(),
            expiry: Expiry::of(&Limits::default(), msl),
            predict: true,
            zeek_checksums: false,
            retired: 0,
            evicted: 0,
        }
    }

    pub fn set_limits(&mut self, limits: Limits) {
        self.expiry = Expiry::of(&limits, self.msl);
        self.limits = limits;
    }

    /// Turns header prediction off or on, in the trackers and the Zeek view
    /// (`TcpTracker::on_segment_unpredicted`, `ZeekObserver::on_segment_unpredicted`): for
    /// tests that hold the prediction to the general path.
    pub fn set_header_prediction(&mut self, on: bool) {
        self.predict = on;
    }

    /// Whether the Zeek view leaves segments with a bad TCP checksum out of its state and
    /// counts (writing `c`/`C`), as Zeek does unless run with `-C` (docs/records.md).
    /// synack's own figures count every segment either way.
    pub fn set_zeek_checksums(&mut self, verify: bool) {
        self.zeek_checksums = verify;
    }

    pub fn zeek_checksums(&self) -> bool {
        self.zeek_checksums
    }

    pub fn msl(&self) -> Duration {
        self.msl
    }

    /// Connections tracked whole right now (dormant ones are not listed).
    pub fn active(&self) -> impl Iterator<Item = &Connection> {
        self.active.iter().map(|c| &**c)
    }

    /// Calls `each` for every connection tracked, whole or dormant (a dormant one is
    /// decoded for the call: for a running summary, not for the packet path).
    pub fn for_each_tracked(&self, mut each: impl FnMut(&Connection)) {
        self.active.iter().for_each(|c| each(c));
        self.dormant.iter().for_each(|d| each(&d.wake()));
    }

    /// Connections tracked, whole or dormant.
    pub fn active_len(&self) -> usize {
        self.active.len() + self.dormant.len()
    }

    /// Connections `finish` hands over.
    pub fn held_len(&self) -> usize {
        self.active_len()
            + self.finished.len()
            + self.evicted_awake.len()
            + self.evicted_dormant.len()
    }

    /// Applies one segment; `sink` sees every event it caused, with its connection.
    pub fn on_segment(
        &mut self,
        seg: &TcpSegment<'_>,
        wire_len: u32,
        at: Timestamp,
        sink: &mut impl EventSink,
    ) {
        self.packets += 1;
        self.on_numbered_segment(seg, self.packets, wire_len, at, sink);
    }

    /// `on_segment` for a table that sees only some of the input's packets (one shard of
    /// several): `number` is the packet's place in the whole input, so that connections
    /// can later be numbered as one table would have.
    pub fn on_numbered_segment(
        &mut self,
        seg: &TcpSegment<'_>,
        number: u64,
        wire_len: u32,
        at: Timestamp,
        sink: &mut impl EventSink,
    ) {
        let (key, src_is_lo) = FlowKey::of(seg);
        let hash = self.hash(&key);
        self.on_hashed_segment(seg, (key, src_is_lo, hash), number, wire_len, at, sink);
    }

    /// The connection a segment belongs to, if it is tracked and awake (for tests and
    /// tools that look at the tracker's working state after a segment).
    pub fn connection_of(&self, seg: &TcpSegment<'_>) -> Option<&Connection> {
        let (key, _) = FlowKey::of(seg);
        self.active
            .find(self.hash(&key), |c| c.key == key)
            .map(|c| &**c)
    }

    /// The hash this table files `key` under.
    #[inline]
    pub fn hash(&self, key: &FlowKey) -> u64 {
        key.hash_with(&self.hasher)
    }

    /// `on_numbered_segment` for a segment whose key (`FlowKey::of`) and hash
    /// (`FlowTable::hash`) are already known.
    pub fn on_hashed_segment<S: EventSink>(
        &mut self,
        seg: &TcpSegment<'_>,
        (key, src_is_lo, hash): (FlowKey, bool, u64),
        number: u64,
        wire_len: u32,
        at: Timestamp,
        sink: &mut S,
    ) {
        let mut events = EventBuf::new();
        // Whether the sink listens to this connection (it lets most go after their
        // handshake): the others' events are not even kept.
        let wanted = Cell::new(true);
        let mut event = |e| {
            if S::WANTS_EVENTS && wanted.get() {
                events.push(e)
            }
        };
        let mut reused = false;
        let found = loop {
            // The common case: one lookup, one hash.
            match self.active.find_entry(hash, |c| c.key == key) {
                Ok(entry) => {
                    let conn = entry.get();
                    let sender = side_from(conn.client_is_lo, src_is_lo);
                    let over = self.expiry.over(|| conn.tcp.quiet(), conn.last_seen, at);
                    if over || conn.tcp.is_new_connection_syn(sender, seg) {
                        // The old connection is over: its close played out, it idled past
                        // the timeout, or a new SYN reuses its 4-tuple.
                        let (old, _) = entry.remove();
                        reused = seg.flags.syn_only() && in_time_wait(&old, at, self.msl);
                        self.retired += u64::from(over);
                        self.finished.push(*old);
                        break None;
                    }
                    break Some(entry.into_mut());
                }
                Err(_) => {
                    if !self.wake(hash, key) {
                        break None;
                    }
                }
            }
        };
        let conn = match found {
            Some(conn) => conn,
            None => {
                let id = self.next_id;
                self.next_id += 1;
                let conn = new_connection(id, number, seg, key, src_is_lo, at, reused);
                let conn = self.boxed(conn);
                let hasher = &self.hasher;
                event(Event::ConnectionStarted {
                    reused_time_wait: reused,
                });
                self.active
                    .insert_unique(hash, conn, |c| c.key.hash_with(hasher))
                    .into_mut()
            }
        };
        if S::WANTS_EVENTS {
            wanted.set(sink.wants(conn.id));
        }
        conn.last_seen = conn.last_seen.max(at);
        let sender = side_from(conn.client_is_lo, src_is_lo);
        let from_client = sender == Side::Client;
        if self.predict {
            conn.tcp.on_segment(sender, seg, wire_len, at, &mut event);
        } else {
            conn.tcp
                .on_segment_unpredicted(sender, seg, wire_len, at, &mut event);
        }
        conn.app.on_segment(sender, seg);
        if self.predict {
            conn.zeek
                .on_segment(from_client, seg, at, self.zeek_checksums);
        } else {
            conn.zeek
                .on_segment_unpredicted(from_client, seg, at, self.zeek_checksums);
        }
        if S::WANTS_EVENTS && wanted.get() {
            let view = conn.view();
            for e in events.iter() {
                sink.event(&view, at, e);
            }
            // The options are parsed only for those who listen (time-sequence graphs).
            let options = seg.scale_and_sack();
            if !options.is_empty() {
                sink.event(&view, at, Event::Options(options));
            }
        }
        if self.active_len() > self.limits.max_connections {
            self.evict();
        }
    }

    /// `conn` in a box, a reused one when there is one.
    fn boxed(&mut self, conn: Connection) -> Box<Connection> {
        match self.spare.pop() {
            Some(mut spare) => {
                *spare = conn;
                spare
            }
            None => Box::new(conn),
        }
    }

    /// Brings a dormant connection of this key back whole; false if there is none.
    fn wake(&mut self, hash: u64, key: FlowKey) -> bool {
        if self.dormant.is_empty() {
            return false;
        }
        let Ok(entry) = self
            .dormant
            .find_entry(hash, |d| d.hash == hash && d.key() == key)
        else {
            return false;
        };
        let (dormant, _) = entry.remove();
        let conn = self.boxed(dormant.wake());
        let hasher = &self.hasher;
        self.active
            .insert_unique(hash, conn, |c| c.key.hash_with(hasher));
        true
    }

    /// Drops the longest-idle eighth of the table at once, so that a flood of new
    /// 4-tuples costs O(1) per packet on average, not a scan each.
    ///
    /// Kept cheap, since the packets wait meanwhile (150–220 ms at a table of 100,000,
    /// most of them dormant, when it sorted them all and woke the evicted dormant ones
    /// here): each connection's (last seen, id) is read once, its header loaded a few
    /// ahead; the eighth is picked by selection, not a sort; only the evicted are then
    /// visited again, by their place in the table; and the dormant ones stay dormant until
    /// `take_evicted` hands them out, a few per packet.
    #[cold]
    #[inline(never)]
    fn evict(&mut self) {
        let excess = self.active_len() - self.limits.max_connections;
        let batch = (self.limits.max_connections / 8).max(excess).max(1);
        let mut by_idle = std::mem::take(&mut self.by_idle);
        by_idle.clear();
        by_idle.extend(self.active.iter_buckets().map(|at| {
            let c = self.active.get_bucket(at).expect("a full bucket");
            Idle::of(c.last_seen, c.id, at, false)
        }));
        // The dormant ones' headers are on the heap, one miss each: loaded a few ahead.
        let dormant = &self.dormant;
        let at = |at| dormant.get_bucket(at).expect("a full bucket");
        let mut ahead = dormant.iter_buckets().skip(EVICT_AHEAD);
        by_idle.extend(dormant.iter_buckets().map(|here| {
            if let Some(next) = ahead.next() {
                at(next).prefetch_header();
            }
            let d = at(here);
            Idle::of(d.last_seen(), d.id(), here, true)
        }));
        if batch >= by_idle.len() {
            by_idle.sort_unstable_by_key(Idle::order);
        } else {
            by_idle.select_nth_unstable_by_key(batch - 1, Idle::order);
        }
        let n = batch.min(by_idle.len());
        let victims = &mut by_idle[..n];
        // In the tables' order: their memory is walked forwards.
        victims.sort_unstable_by_key(|v| v.place);
        for v in victims.iter() {
            let at = (v.place >> 1) as usize;
            if v.place & 1 == 0 {
                let Ok(entry) = self.active.get_bucket_entry(at) else {
                    unreachable!("an evicted connection's bucket is full")
                };
                self.evicted_awake.push(entry.remove().0);
            } else {
                let Ok(entry) = self.dormant.get_bucket_entry(at) else {
                    unreachable!("an evicted connection's bucket is full")
                };
                self.evicted_dormant.push(entry.remove().0);
            }
        }
        self.evicted += victims.len() as u64;
        // Kept for the next eviction, unless large: a huge table's list is 24 bytes a
        // connection, allocated again when next needed.
        if by_idle.capacity() <= KEEP_BY_IDLE {
            self.by_idle = by_idle;
        }
    }

    /// As of capture time `now`: lets go of connections that are over (their close played
    /// out or they idled past the timeout, when the limits say so), and puts those quiet
    /// for `DORMANT_AFTER` to sleep. The rule for "over" is the one `on_segment` applies
    /// on its own, so when this runs changes memory, never a figure, with one exception:
    /// when capture time runs back, a connection put to sleep has forgotten the recent
    /// segments that one kept awake would still compare a copy stamped within
    /// `RECENT_FOR` of them with.
    /// Offline runs sweep at the same packets whatever the thread count
    /// (`analyzer::sweep_due`), so their figures stay the same on any number of threads.
    pub fn retire(&mut self, now: Timestamp) {
        let expiry = self.expiry;
        // Offline nothing expires: no pass over every connection for it.
        if expiry.applies() {
            let before = self.finished.len();
            self.finished.extend(
                self.active
                    .extract_if(|c| expiry.over(|| c.tcp.quiet(), c.last_seen, now))
                    .map(|c| *c),
            );
            self.finished.extend(
                self.dormant
                    .extract_if(|d| expiry.over(|| d.quiet(), d.last_seen(), now))
                    .map(|d| d.wake()),
            );
            self.retired += (self.finished.len() - before) as u64;
        }
        // Gathered first, then encoded a few behind: the next ones' memory loads
        // meanwhile (an encoding reads most of a connection's 900 bytes).
        let mut sleepy = std::mem::take(&mut self.sleepy);
        sleepy.extend(
            self.active
                .extract_if(|c| now.reached(c.last_seen, DORMANT_AFTER)),
        );
        let mut sleepy_iter = sleepy.drain(..);
        while let Some(conn) = sleepy_iter.next() {
            if let Some(next) = sleepy_iter.as_slice().get(DORMANT_AHEAD) {
                crate::store::codec::prefetch_object(&**next);
            }
            let hash = conn.key.hash_with(&self.hasher);
            let d = Dormant::of(&conn, hash, &mut self.scratch);
            self.dormant.insert_unique(hash, d, |d| d.hash);
            if self.spare.len() < SPARE_BOXES {
                self.spare.push(conn);
            }
        }
        drop(sleepy_iter);
        self.sleepy = sleepy;
    }

    /// Takes the connections finished so far (superseded, retired, evicted), in no
    /// particular order.
    pub fn drain_finished(&mut self) -> std::vec::Drain<'_, Connection> {
        self.finished.drain(..)
    }

    pub fn evicted_pending(&self) -> bool {
        !self.evicted_awake.is_empty() || !self.evicted_dormant.is_empty()
    }

    /// Hands `each` up to `most` of the connections evicted so far (see
    /// `Limits::max_connections`), in no particular order, waking the dormant ones one at
    /// a time (their bytes loaded a few ahead): never the whole eighth awake at once.
    pub fn take_evicted(&mut self, most: usize, mut each: impl FnMut(&Connection)) {
        let mut left = most;
        while left > 0 {
            let Some(conn) = self.evicted_awake.pop() else {
                break;
            };
            each(&conn);
            if self.spare.len() < SPARE_BOXES {
                self.spare.push(conn);
            }
            left -= 1;
        }
        let dormant = &mut self.evicted_dormant;
        let keep = dormant.len().saturating_sub(left);
        for (i, d) in dormant[keep..].iter().enumerate().rev() {
            if let Some(next) = i.checked_sub(DORMANT_AHEAD) {
                dormant[keep + next].prefetch();
            }
            each(&d.wake());
        }
        dormant.truncate(keep);
    }

    /// Hands every connection still held to `each`, one at a time (so that a caller that
    /// shrinks them never holds them all whole), in no particular order. A dormant one's
    /// bytes are freed as it wakes, before `each` sees it: what `each` keeps of it (a
    /// record) takes their place, on the thread that allocated them.
    pub fn finish(mut self, mut each: impl FnMut(Connection)) {
        for c in self.finished.drain(..) {
            each(c);
        }
        for c in self.active.drain().chain(self.evicted_awake.drain(..)) {
            each(*c);
        }
        let dormant = self.dormant.drain().chain(self.evicted_dormant.drain(..));
        wake_each(dormant, each);
    }
}

/// Wakes each dormant connection a few behind the iteration, whose order is the heap's
/// disorder: the next ones' bytes load meanwhile. An owned one is dropped as soon as it
/// is woken.
fn wake_each(dormant: impl Iterator<Item = Dormant>, mut each: impl FnMut(Connection)) {
    let mut ahead = std::collections::VecDeque::with_capacity(DORMANT_AHEAD);
    for d in dormant {
        d.prefetch();
        ahead.push_back(d);
        if ahead.len() == DORMANT_AHEAD {
            let d = ahead.pop_front().expect("full");
            let conn = d.wake();
            drop(d);
            each(conn);
        }
    }
    for d in ahead {
        let conn = d.wake();
        drop(d);
        each(conn);
    }
}

/// Each TCP segment of a capture file, as the tables of the tests take them; false if the
/// file is not a capture.
#[cfg(test)]
pub(crate) fn each_test_segment(
    file: &std::path::Path,
    mut each: impl FnMut(&TcpSegment<'_>, u32, Timestamp),
) -> bool {
    let Ok(mut reader) = crate::capture::file::CaptureReader::open(file) else {
        return false;
    };
    let _ = reader.for_each_packet(|p| {
        let cut = p.orig_len.saturating_sub(p.data.len() as u32);
        if let crate::decode::Decoded::Tcp(seg) = crate::decode::decode(p.link_type, p.data, cut) {
            each(&seg, p.orig_len, p.ts);
        }
    });
    true
}

/// An endpoint of `old` entered TIME_WAIT less than 2·MSL before `at`.
fn in_time_wait(old: &Connection, at: Timestamp, msl: Duration) -> bool {
    let (c, s) = old.tcp.time_wait_sides();
    match old.tcp.time_wait_entered {
        Some(entered) if c || s => at.saturating_since(entered) < msl * 2,
        _ => false,
    }
}

fn side_from(client_is_lo: bool, src_is_lo: bool) -> Side {
    if client_is_lo == src_is_lo {
        Side::Client
    } else {
        Side::Server
    }
}

fn new_connection(
    id: u64,
    first_packet: u64,
    seg: &TcpSegment<'_>,
    key: FlowKey,
    src_is_lo: bool,
    at: Timestamp,
    reused: bool,
) -> Connection {
    let (src, dst) = (seg.src(), seg.dst());
    let (client, server, roles) = if seg.flags.syn_only() {
        (src, dst, RoleBasis::Syn)
    } else if seg.flags.syn_ack() {
        (dst, src, RoleBasis::SynAck)
    } else if seg.src_port < seg.dst_port {
        // Mid-stream: services listen on the lower port; clients get ephemeral ones
        // (IANA 49152-65535, Linux 32768-60999). On a tie the receiver is the server.
        (dst, src, RoleBasis::Port)
    } else {
        (src, dst, RoleBasis::Port)
    };
    Connection {
        id,
        first_packet,
        client,
        server,
        roles,
        first_seen: at,
        last_seen: at,
        reused_time_wait: reused,
        tcp: TcpTracker::default(),
        key,
        client_is_lo: (client == src) == src_is_lo,
        app: AppDetector::default(),
        zeek: ZeekObserver::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::event::ConnectionView;
    use crate::model::event::NoEvents;
    use crate::model::flags::TcpFlags;
    use crate::model::seq::Seq;
    use std::net::SocketAddr;
    use std::net::{Ipv6Addr, SocketAddrV6};

    fn seg(src: &str, dst: &str, flags: u16, seq: u32) -> TcpSegment<'static> {
        TcpSegment {
            seq: Seq(seq),
            flags: TcpFlags(flags),
            window: 1000,
            ..TcpSegment::between(src.parse().unwrap(), dst.parse().unwrap())
        }
    }

    fn finish(t: FlowTable) -> Vec<Connection> {
        let mut all = Vec::new();
        t.finish(|c| all.push(c));
        all.sort_by_key(|c| c.id);
        all
    }

    fn feed(t: &mut FlowTable, s: &TcpSegment<'_>, secs: i64) {
        t.on_segment(s, 60, Timestamp::from_secs_nanos(secs, 0), &mut NoEvents);
    }

    /// The keys of a busy server: one address, a few clients, consecutive ports — what a
    /// weak hash puts in few buckets.
    fn similar_keys() -> Vec<FlowKey> {
        let mut keys = Vec::new();
        for client in 0..8 {
            for port in 0..4096_u16 {
                let s = seg(
                    &format!("10.0.0.{client}:{}", 32768 + port),
                    "192.0.2.1:443",
                    2,
                    0,
                );
                keys.push(FlowKey::of(&s).0);
            }
        }
        keys
    }

    #[test]
    fn flow_hash_spreads_similar_keys_over_every_bit_range() {
        // Several random keys: a weakness may show for one in ten.
        for _ in 0..16 {
            hash_spreads_similar_keys(&FlowHasher::new());
        }
    }

    fn hash_spreads_similar_keys(hasher: &FlowHasher) {
        let keys = similar_keys();
        // The table's bucket bits (low), its tag bits (top seven) and the shard's (32..56).
        for (shift, bits) in [(0, 10), (57, 7), (32, 10), (46, 10)] {
            let mut count = vec![0_u32; 1 << bits];
            for k in &keys {
                count[(k.hash_with(hasher) >> shift) as usize & ((1 << bits) - 1)] += 1;
            }
            let expect = keys.len() as f64 / count.len() as f64;
            let chi2: f64 = count
                .iter()
                .map(|&c| (f64::from(c) - expect).powi(2) / expect)
                .sum();
            // Degrees of freedom 2^bits − 1; a uniform spread stays near that.
            let df = (count.len() - 1) as f64;
            assert!(
                chi2 < df + 6.0 * (2.0 * df).sqrt(),
                "bits {shift}..: chi2 {chi2}"
            );
        }
    }

    #[test]
    fn flow_hash_depends_on_its_keys() {
        let key = similar_keys()[0];
        assert_ne!(
            key.hash_with(&FlowHasher::new()),
            key.hash_with(&FlowHasher::new())
        );
        let hasher = FlowHasher::new();
        assert_eq!(key.hash_with(&hasher), key.hash_with(&hasher.clone()));
    }

    const C: &str = "10.0.0.2:40000";
    const SRV: &str = "10.0.0.1:80";
    const C_PORT: u16 = 40000;

    #[test]
    fn both_directions_are_one_connection_with_syn_sender_as_client() {
        let mut t = FlowTable::new(Duration::from_secs(60));
        feed(&mut t, &seg(C, SRV, TcpFlags::SYN, 1), 0);
        feed(&mut t, &seg(SRV, C, TcpFlags::SYN | TcpFlags::ACK, 9), 0);
        let conns = finish(t);
        assert_eq!(conns.len(), 1);
        assert_eq!(conns[0].client.to_string(), C);
        assert_eq!(conns[0].roles, RoleBasis::Syn);
    }

    #[test]
    fn midstream_server_is_the_lower_port() {
        let mut t = FlowTable::new(Duration::from_secs(60));
        feed(&mut t, &seg(SRV, C, TcpFlags::ACK, 1), 0);
        let conns = finish(t);
        assert_eq!(conns[0].server.to_string(), SRV);
        assert_eq!(conns[0].roles, RoleBasis::Port);
    }

    #[test]
    fn syn_with_new_isn_after_close_starts_a_new_connection_and_counts_time_wait_reuse() {
        let mut t = FlowTable::new(Duration::from_secs(60));
        let a = TcpFlags::ACK;
        feed(&mut t, &seg(C, SRV, TcpFlags::SYN, 100), 0);
        let mut synack = seg(SRV, C, TcpFlags::SYN | a, 500);
        synack.ack = Seq(101);
        feed(&mut t, &synack, 0);
        let mut ack = seg(C, SRV, a, 101);
        ack.ack = Seq(501);
        feed(&mut t, &ack, 0);
        let mut fin = seg(C, SRV, TcpFlags::FIN | a, 101);
        fin.ack = Seq(501);
        feed(&mut t, &fin, 1);
        let mut fin2 = seg(SRV, C, TcpFlags::FIN | a, 501);
        fin2.ack = Seq(102);
        feed(&mut t, &fin2, 1);
        feed(&mut t, &seg(C, SRV, TcpFlags::SYN, 9999), 5);
        // A retransmission of that SYN is the same new connection.
        feed(&mut t, &seg(C, SRV, TcpFlags::SYN, 9999), 6);
        let conns = finish(t);
        assert_eq!(conns.len(), 2);
        assert!(conns[1].reused_time_wait);
        assert_eq!(conns[1].tcp.handshake.syn_count, 2);
    }

    #[test]
    fn a_dormant_connection_wakes_whole_for_a_late_segment() {
        let mut t = FlowTable::new(Duration::from_secs(60));
        let mut rst = seg(SRV, C, TcpFlags::RST | TcpFlags::ACK, 0);
        rst.ack = Seq(2);
        feed(&mut t, &seg(C, SRV, TcpFlags::SYN, 1), 0);
        feed(&mut t, &rst, 0);
        t.retire(Timestamp::from_secs_nanos(30, 0));
        assert_eq!((t.active().count(), t.active_len()), (0, 1));
        // Still tracked for a running summary, decoded whole.
        let mut seen = Vec::new();
        t.for_each_tracked(|c| seen.push((c.id, c.tcp.client.packets)));
        assert_eq!(seen, vec![(1, 1)]);
        // tshark keeps a late segment in the same stream; so does the woken connection.
        feed(&mut t, &seg(C, SRV, TcpFlags::ACK, 2), 31);
        assert_eq!(t.active().count(), 1);
        let conns = finish(t);
        assert_eq!(conns.len(), 1);
        assert_eq!(conns[0].tcp.client.packets, 2);
        assert_eq!(conns[0].tcp.anomalies().count(), 1);
    }

    /// Dormant and back, compared field by field (through `Debug`, which shows them all),
    /// but for what the tracker forgets after a quiet second anyway (`forget_recent`).
    fn assert_round_trip(c: &Connection) {
        let mut scratch = Vec::new();
        let d = Dormant::of(c, 0, &mut scratch);
        let mut quiet = c.clone();
        quiet.tcp.forget_recent();
        assert_eq!(format!("{:?}", d.wake()), format!("{quiet:?}"));
        assert_eq!((d.key(), d.id(), d.last_seen()), (c.key, c.id, c.last_seen));
        let quiet = match c.tcp.quiet() {
            Quiet::PeerDead => Quiet::Opening,
            q => q,
        };
        assert_eq!(d.quiet(), quiet);
        // And its record, packed and unpacked.
        let r = crate::model::connection_record::ConnectionRecord::of(c);
        let packed = crate::store::packed_records::PackedRecord::pack(&r);
        assert_eq!(format!("{:?}", packed.unpack()), format!("{r:?}"));
    }

    #[test]
    fn every_fixture_connection_wakes_as_it_slept() {
        let dirs = [
            "fixtures/tcp",
            "fixtures/app",
            "fixtures/decode",
            "fixtures/linktypes",
        ];
        let mut files = vec![std::path::PathBuf::from("fixtures/sample.pcap")];
        for dir in dirs {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
            files.extend(std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()));
        }
        let mut checked = 0;
        for file in files {
            let mut t = FlowTable::new(Duration::from_secs(60));
            // After every event: connections in every state they pass through.
            each_test_segment(&file, |seg, orig_len, ts| {
                t.on_segment(seg, orig_len, ts, &mut NoEvents);
                if let Some(c) = t.connection_of(seg) {
                    assert_round_trip(c);
                    checked += 1;
                }
            });
        }
        // One check per segment of the fixtures read (649 of them).
        assert!(checked > 600, "{checked}");
    }

    #[test]
    fn a_table_that_makes_no_events_tracks_what_one_that_does_tracks() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tcp");
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.push(std::path::PathBuf::from("fixtures/sample.pcap"));
        let (mut quiet, mut told) = (Vec::new(), Vec::new());
        let mut events = 0;
        for file in files {
            let mut a = FlowTable::new(Duration::from_secs(60));
            let mut b = FlowTable::new(Duration::from_secs(60));
            each_test_segment(&file, |seg, orig_len, ts| {
                a.on_segment(seg, orig_len, ts, &mut NoEvents);
                b.on_segment(seg, orig_len, ts, &mut |_: &ConnectionView, _, _| {
                    events += 1
                });
            });
            a.finish(|c| quiet.push(format!("{c:?}")));
            b.finish(|c| told.push(format!("{c:?}")));
        }
        assert!(events > 500 && quiet.len() > 20, "{events} {}", quiet.len());
        // Each table finishes in its own hash order.
        quiet.sort_unstable();
        told.sort_unstable();
        assert!(quiet == told, "the tables differ");
    }

    #[test]
    fn extreme_connections_wake_as_they_slept() {
        let mut t = FlowTable::new(Duration::from_secs(60));
        let v6c = "[2001:db8::2]:40000";
        let v6s = "[2001:db8::1]:443";
        feed(&mut t, &seg(v6c, v6s, TcpFlags::SYN, 1), 0);
        feed(&mut t, &seg(C, SRV, TcpFlags::ACK, 1), 0);
        feed(
            &mut t,
            &seg(
                "[::ffff:10.0.0.9]:80",
                "[::ffff:10.0.0.8]:5000",
                TcpFlags::ACK,
                1,
            ),
            0,
        );
        let mut conns = finish(t);
        for c in &conns {
            assert_round_trip(c);
        }
        let c = &mut conns[0];
        // An address the key does not give back whole.
        c.client = SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 40000, 7, 3));
        c.last_seen = Timestamp::from_nanos(i64::MAX);
        c.tcp.handshake.synack = Some(Timestamp::from_nanos(i64::MIN));
        c.tcp.client.bytes = u64::MAX;
        c.tcp.server.window = u16::MAX;
        let k = &mut c.tcp.server.keepalive;
        k.probes = 70;
        k.intervals = (0..64)
            .map(|n| Duration::new(n * 1000, 999_999_999))
            .collect();
        k.idle_before_first = Some(Duration::MAX);
        k.first_probe = Some(Timestamp::from_nanos(1));
        c.tcp.first_fin = Some((Side::Server, Timestamp::from_nanos(-5)));
        c.tcp.reset = Some(crate::model::state::ResetFacts {
            by: Side::Server,
            sender_state: crate::model::state::TcpState::TimeWait,
            at: Timestamp::from_nanos(3),
            after_close: true,
        });
        c.tcp.closer = Some(crate::model::state::Closer::Both);
        c.roles = RoleBasis::Port;
        c.reused_time_wait = true;
        assert_round_trip(c);
        // Evidence that lapsed every way it can: every hole and retransmission it keeps.
        use crate::tcp::evidence::{Context, Recovery, Stamp, HOLES, RESENT};
        let ev = &mut c.tcp.server.evidence;
        for i in 0..HOLES as u32 + 4 {
            let stamp = Stamp {
                tsval: (i % 2 == 0).then_some(i * 1000),
                ip_id: i as u16 * 700,
            };
            let at = Timestamp::from_nanos(i64::from(i) * 1_000_003);
            ev.on_jump(Seq(i * 200), Seq(i * 200 + 100), at, stamp, None);
        }
        let cx = Context {
            next: Seq(9000),
            next_at: None,
            peer_ack: Some(Seq(0)),
            peer_dup_acks: 3,
            peer_sack_high: Some(Seq(u32::MAX)),
            rtt: None,
            default_rtt: Duration::from_millis(3),
        };
        let stamp = Stamp {
            tsval: Some(5),
            ip_id: 9,
        };
        for i in 0..RESENT as u32 + 4 {
            let at = Timestamp::from_nanos(7);
            ev.classify(Seq(5000 + i * 10), 10, 10, false, stamp, at, &cx);
        }
        ev.on_sack(Seq(1), &[(Seq(1), Seq(2)), (Seq(5), Seq(90))], None);
        ev.last_sent_at = Some(Timestamp::from_nanos(-9));
        let l = ev.lapses.as_deref().expect("lapses");
        assert_eq!((l.holes().len(), l.resent().len()), (HOLES, RESENT));
        assert_ne!(l.recovery, Recovery::None);
        assert_round_trip(c);
    }

    fn limited(max_connections: usize) -> FlowTable {
        let mut t = FlowTable::new(Duration::from_secs(60));
        t.set_limits(Limits {
            max_connections,
            ..Limits::default()
        });
        t
    }

    #[test]
    fn max_connections_evicts_the_longest_idle() {
        let mut t = limited(16);
        for port in 0..1000u16 {
            let client = format!("10.0.0.2:{}", 20000 + port);
            feed(
                &mut t,
                &seg(&client, SRV, TcpFlags::SYN, 1),
                i64::from(port),
            );
            assert!(t.active_len() <= 16);
        }
        assert_eq!(t.evicted, 1000 - t.active_len() as u64);
        let conns = finish(t);
        assert_eq!(conns.len(), 1000);
        // The survivors are the most recent.
        assert!(conns[999].client.port() == 20999);
    }

    #[test]
    fn eviction_takes_the_longest_idle_eighth_whole_or_dormant() {
        use crate::model::connection_record::ConnectionRecord;
        let row = |c: &Connection| (c.last_seen, c.id, format!("{:?}", ConnectionRecord::of(c)));
        let mut t = limited(80);
        // Half go dormant (even seconds, then a sweep long after); the other half come
        // after the sweep at odd seconds in between (capture time may step back), so they
        // are awake and as old; ties within a second leave it to the id.
        let at = |i: u16| i64::from(i * 37 % 40) / 4 * 2;
        for i in 0..40u16 {
            feed(
                &mut t,
                &seg(&format!("10.0.0.2:{}", 1000 + i), SRV, 2, 1),
                at(i),
            );
        }
        t.retire(Timestamp::from_secs_nanos(100, 0));
        assert_eq!((t.active().count(), t.active_len()), (0, 40));
        for i in 0..40u16 {
            feed(
                &mut t,
                &seg(&format!("10.0.0.3:{}", 1000 + i), SRV, 2, 1),
                at(i) + 1,
            );
        }
        assert_eq!((t.active().count(), t.active_len()), (40, 80));
        let mut before = Vec::new();
        t.for_each_tracked(|c| before.push(row(c)));
        before.sort();
        // One more: 81 > 80 evicts an eighth, 10, the longest idle by (last packet, id).
        feed(&mut t, &seg("10.0.0.4:1", SRV, 2, 1), 99);
        assert_eq!((t.evicted, t.active_len()), (10, 71));
        let mut evicted = Vec::new();
        t.take_evicted(3, |c| evicted.push(row(c)));
        assert_eq!(evicted.len(), 3);
        assert!(t.evicted_pending());
        t.take_evicted(usize::MAX, |c| evicted.push(row(c)));
        assert!(!t.evicted_pending());
        evicted.sort();
        assert_eq!(evicted, before[..10]);
        // Both kinds among them: seconds 0 (dormant) and 1 (awake) hold the oldest.
        assert!(evicted.iter().any(|e| e.0.as_nanos() == 0));
        assert!(evicted.iter().any(|e| e.0.as_nanos() == 1_000_000_000));
        let left: Vec<u64> = finish(t).iter().map(|c| c.id).collect();
        assert_eq!(left.len(), 71);
        assert!(evicted.iter().all(|e| !left.contains(&e.1)));
    }

    #[test]
    fn closed_and_idle_connections_are_retired() {
        let mut t = FlowTable::new(Duration::from_secs(60));
        t.set_limits(Limits {
            idle_timeout: Some(Duration::from_secs(300)),
            retire_closed: true,
            ..Limits::default()
        });
        let mut rst = seg(SRV, C, TcpFlags::RST | TcpFlags::ACK, 0);
        rst.ack = Seq(2);
        feed(&mut t, &seg(C, SRV, TcpFlags::SYN, 1), 0);
        feed(&mut t, &rst, 0);
        feed(&mut t, &seg("10.0.0.3:1234", SRV, TcpFlags::SYN, 1), 0);
        t.retire(Timestamp::from_secs_nanos(119, 0));
        assert_eq!(t.active_len(), 2);
        // Both went dormant (quiet for 5 s): still tracked, listed no more.
        assert_eq!(t.active().count(), 0);
        t.retire(Timestamp::from_secs_nanos(120, 0));
        assert_eq!((t.active_len(), t.retired), (1, 1));
        t.retire(Timestamp::from_secs_nanos(300, 0));
        assert_eq!((t.active_len(), t.retired), (0, 2));
        assert_eq!(t.drain_finished().count(), 2);
    }

    /// Live: a synchronized connection outlasts the idle timeout (a keep-alive's two
    /// hours of silence), one never synchronized does not, and one whose keep-alive
    /// probes go unanswered goes after the short timeout from its last probe.
    #[test]
    fn established_connections_are_kept_through_keepalive_silence() {
        let mut t = FlowTable::new(Duration::from_secs(60));
        t.set_limits(Limits {
            idle_timeout: Some(Duration::from_secs(300)),
            retire_closed: true,
            established_timeout: Some(Duration::from_secs(8100)),
            ..Limits::default()
        });
        let (a, sa) = (TcpFlags::ACK, TcpFlags::SYN | TcpFlags::ACK);
        let at = |secs: i64| Timestamp::from_secs_nanos(secs, 0);
        // An established connection, and a SYN that is never answered.
        feed(&mut t, &seg(C, SRV, TcpFlags::SYN, 1), 0);
        let mut synack = seg(SRV, C, sa, 9);
        synack.ack = Seq(2);
        feed(&mut t, &synack, 0);
        let mut ack = seg(C, SRV, a, 2);
        ack.ack = Seq(10);
        feed(&mut t, &ack, 0);
        feed(&mut t, &seg("10.0.0.3:1234", SRV, TcpFlags::SYN, 1), 0);
        t.retire(at(301));
        assert_eq!(
            (t.active_len(), t.retired),
            (1, 1),
            "the SYN went, the other stays"
        );
        t.retire(at(7200));
        assert_eq!(t.active_len(), 1, "two hours of silence are a keep-alive's");
        // Three probes (seq = next - 1) 75 s apart, none answered: the peer is dead.
        for n in 0..3 {
            let mut probe = seg(C, SRV, a, 1);
            probe.ack = Seq(10);
            feed(&mut t, &probe, 7200 + 75 * n);
        }
        t.retire(at(7350 + 299));
        assert_eq!(t.active_len(), 1);
        t.retire(at(7350 + 300));
        assert_eq!((t.active_len(), t.retired), (0, 2));
        // The kept connection, woken, has all three probes.
        let conn = t.drain_finished().find(|c| c.client.port() == C_PORT);
        assert_eq!(conn.expect("retired").tcp.client.keepalive.probes, 3);
    }
}
