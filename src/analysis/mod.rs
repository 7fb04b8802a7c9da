pub mod analyzer;
pub mod ladder;
pub mod parallel;
pub mod pipeline;
pub mod report;
