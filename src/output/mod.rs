//! Printers. They read the [`crate::report::Report`] model only; none knows about packets.

pub mod json;
pub mod table;
