//! Prints the in-memory size of the per-connection types (docs/performance.md, "Memory
//! per connection"): what each live connection costs the flow table.

use std::mem::size_of;

use synack::app::detector::AppDetector;
use synack::model::connection_record::ConnectionRecord;
use synack::store::packed_records::PackedRecord;
use synack::tcp::connection::Connection;
use synack::tcp::evidence::Evidence;
use synack::tcp::tracker::{Endpoint, KeepaliveStats, TcpTracker};
use synack::tcp::zeek_observer::{ZeekEndpoint, ZeekObserver};

fn main() {
    for (name, size) in [
        (
            "Connection (the boxed table entry)",
            size_of::<Connection>(),
        ),
        ("TcpTracker", size_of::<TcpTracker>()),
        ("Endpoint", size_of::<Endpoint>()),
        ("Evidence", size_of::<Evidence>()),
        ("KeepaliveStats", size_of::<KeepaliveStats>()),
        ("AppDetector", size_of::<AppDetector>()),
        ("ZeekObserver", size_of::<ZeekObserver>()),
        ("ZeekEndpoint", size_of::<ZeekEndpoint>()),
        ("ConnectionRecord", size_of::<ConnectionRecord>()),
        (
            "PackedRecord (without its bytes)",
            size_of::<PackedRecord>(),
        ),
    ] {
        println!("{size:6} {name}");
    }
}
