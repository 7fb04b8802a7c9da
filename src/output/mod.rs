//! Printers. They read the [`crate::model::report::Report`] model only; none knows about packets.

pub mod community_id;
pub mod escape;
pub mod events;
pub mod fit;
pub mod html;
pub mod json;
pub mod junit;
pub mod ladder_svg;
pub mod ladder_text;
pub mod parquet;
pub mod record_files;
pub mod record_stream;
pub mod records;
pub mod seq_svg;
pub mod table;
pub mod verdict;
pub mod zeek;
