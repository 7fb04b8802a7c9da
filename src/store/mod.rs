pub mod app_form;
pub mod codec;
pub mod dormant;
pub mod packed_records;
pub mod tracker_form;
pub mod zeek_form;
