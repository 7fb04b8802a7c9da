pub mod analyzer;
pub mod build_report;
pub mod ladder_builder;
pub mod parallel;
pub mod pipeline;
pub mod seq_builder;
pub mod tracer;
pub mod visuals;
