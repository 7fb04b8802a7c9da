//! One module per subcommand: its arguments and how it runs.

pub mod capture;
pub mod check;
pub mod inputs;
pub mod ladder;
pub mod report;
pub mod term;
pub mod values;
